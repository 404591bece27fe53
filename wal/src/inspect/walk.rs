//! The walk: every segment in sequence order, every batch in file order, carrying on past
//! damage, replayed by the shared replayer ([`crate::replay`]) under [`Policy::Report`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    open_read_only, problem_of, Event, Inspection, Listing, OtherKind, Problem, SegmentFile,
    SegmentHeader, SegmentStats,
};
use crate::error::Error;
use crate::footer::{self, SegStats};
use crate::format::{Trailer, SEGMENT_HEADER_LEN, TRAILER_LEN};
use crate::records::SegmentFooter;
use crate::replay::chain::{Chain, Finding};
use crate::replay::listing::{chain_break, BAD_SEGMENT_NAME};
use crate::replay::seal::apply_seal;
use crate::replay::segment_file::open_segment;
use crate::replay::Policy;
use crate::segment::Segment;

pub(super) struct Walker<'v> {
    dir: PathBuf,
    visit: &'v mut dyn FnMut(Event<'_>) -> bool,
    pub(super) chain: Chain,
    /// While the batches of a sealed segment are walked: the replay they go to (the log is
    /// rebuilt from the seal afterwards, as opening does).
    scratch: Option<Chain>,
    segments: Vec<SegmentStats>,
    problems: u64,
    /// Problems in the segment being walked.
    pub(super) seg_problems: u64,
    pub(super) stopped: bool,
}

/// The seal of a segment as found.
pub(super) struct Seal {
    pub trailer: Option<Trailer>,
    pub footer: Option<SegmentFooter>,
}

impl<'v> Walker<'v> {
    pub fn new(dir: &Path, listing: &Listing, visit: &'v mut dyn FnMut(Event<'_>) -> bool) -> Self {
        Walker {
            dir: dir.to_path_buf(),
            visit,
            chain: Chain::new(Policy::Report, listing.segments.first().map(|s| s.seq)),
            scratch: None,
            segments: Vec::new(),
            problems: 0,
            seg_problems: 0,
            stopped: false,
        }
    }

    pub(super) fn emit(&mut self, ev: Event<'_>) {
        if !self.stopped && !(self.visit)(ev) {
            self.stopped = true;
        }
    }

    pub(super) fn problem(&mut self, file: &str, offset: Option<u64>, message: impl Into<String>) {
        self.problems += 1;
        self.seg_problems += 1;
        let p = Problem::new(file, offset, message);
        self.emit(Event::Problem(&p));
    }

    /// The replay the batches being walked go to.
    pub(super) fn replaying(&mut self) -> &mut Chain {
        self.scratch.as_mut().unwrap_or(&mut self.chain)
    }

    /// Reports a finding of the replayer.
    pub(super) fn finding(&mut self, file: &str, offset: u64, f: Finding) {
        let msg = match f.restarted {
            true => format!("{}; the log view restarts here", f.damage),
            false => f.damage.to_string(),
        };
        self.problem(file, Some(offset), msg);
    }

    /// Reports an error of the WAL's own reading code as a problem of `file`.
    pub(super) fn error(&mut self, file: &str, e: Error) {
        let p = problem_of(file, e);
        self.problem(file, p.offset, p.message);
    }

    pub fn run(mut self, listing: &Listing) -> Inspection {
        for (name, kind) in &listing.others {
            if *kind == OtherKind::BadSegmentName {
                let msg = format!("{BAD_SEGMENT_NAME}: opening refuses the directory");
                self.problem(name, None, msg);
            }
        }
        let n = listing.segments.len();
        for (i, sf) in listing.segments.iter().enumerate() {
            if self.stopped {
                break;
            }
            self.seg_problems = 0;
            if let Some(prev) = i.checked_sub(1).map(|p| listing.segments[p].seq) {
                if let Some(b) = chain_break(prev, sf.seq) {
                    self.problem(&sf.name, None, b.to_string());
                }
            }
            let mut stats = SegmentStats {
                name: sf.name.clone(),
                seq: sf.seq,
                size: sf.size,
                ..SegmentStats::default()
            };
            if let Some(seg) = self.open(sf) {
                self.segment(i + 1 == n, seg, &mut stats);
            }
            stats.problems = self.seg_problems;
            self.emit(Event::SegmentDone(&stats));
            self.segments.push(stats);
        }
        let (index, state) = self.chain.finish();
        Inspection::new(self.dir, index, state, self.segments, self.problems)
    }

    /// Opens a segment with the checks opening applies.
    fn open(&mut self, sf: &SegmentFile) -> Option<Arc<Segment>> {
        let path = self.dir.join(&sf.name);
        let opened = open_read_only(&path)
            .map_err(|e| Error::io("open", &path, e))
            .and_then(|file| open_segment(file, path, sf.seq, sf.first_index));
        match opened {
            Ok(seg) => Some(Arc::new(seg)),
            Err(e) => {
                self.error(&sf.name, e);
                None
            }
        }
    }

    fn segment(&mut self, is_last: bool, seg: Arc<Segment>, st: &mut SegmentStats) {
        let name = st.name.clone();
        if let Err(f) = self.chain.enter(&seg) {
            self.finding(&name, 0, f);
        }
        let seal = self.read_seal(&seg, &name);
        if seal.trailer.is_some() {
            seg.mark_sealed();
        } else if !is_last {
            let msg =
                "not the last segment but not sealed (no valid trailer): truncated or damaged";
            self.problem(&name, Some(seg.size - TRAILER_LEN), msg);
        }
        st.sealed = seal.footer.is_some();
        let header = SegmentHeader {
            name: name.clone(),
            seq: seg.id.seq,
            first_index: seg.id.first_index,
            salt: seg.id.salt,
            size: seg.size,
            trailer: seal.trailer.map(|t| (t.footer_offset, t.footer_len)),
            sealed: st.sealed,
        };
        self.emit(Event::Segment(&header));
        if st.sealed {
            let mut scratch = Chain::scratch(seg.id.seq, self.chain.state.clone());
            let _ = scratch.enter(&seg); // a soft start: it only reanchors
            self.scratch = Some(scratch);
        }
        let soft_at_start = self.replaying().index.is_soft();
        let mut stats = SegStats::default();
        st.bytes_used = SEGMENT_HEADER_LEN;
        let end = self.batches(&seg, &name, is_last, &mut stats, st, &seal);
        if let (Some(f), Some(t)) = (&seal.footer, seal.trailer) {
            if self.seg_problems == 0 {
                self.check_seal(&name, end, t.footer_offset, f, &stats, soft_at_start);
            }
            self.scratch = None;
            st.bytes_used = st.bytes_used.max(t.footer_offset + t.footer_len) + TRAILER_LEN;
            if let Err(d) = apply_seal(&mut self.chain, f, seg.size) {
                let msg = format!("{d} (opening refuses the seal)");
                self.problem(&name, Some(seg.size - TRAILER_LEN), msg);
            }
        }
        self.chain.leave();
    }

    fn read_seal(&mut self, seg: &Segment, name: &str) -> Seal {
        let trailer = seg
            .read(seg.size - TRAILER_LEN, TRAILER_LEN)
            .ok()
            .and_then(|t| Trailer::decode(&seg.id, &t));
        let footer = match trailer.map(|_| footer::read(seg)) {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                self.error(name, e);
                None
            }
            None => None,
        };
        Seal { trailer, footer }
    }
}
