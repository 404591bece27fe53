//! The walk: every segment in sequence order, every batch in file order, carrying on past damage,
//! replaying valid batches into a [`LogIndex`] with the writer's rules.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    open_read_only, problem_of, Event, Inspection, Listing, OtherKind, Problem, SegmentFile,
    SegmentHeader, SegmentStats,
};
use crate::error::{Damage, Error};
use crate::footer::{self, SegStats};
use crate::format::{self, SegmentId, Trailer, SEGMENT_HEADER_LEN, TRAILER_LEN};
use crate::index::LogIndex;
use crate::records::{LogState, SegmentFooter};
use crate::segment::Segment;

pub(super) struct Walker<'v> {
    dir: PathBuf,
    visit: &'v mut dyn FnMut(Event<'_>) -> bool,
    pub(super) index: LogIndex,
    pub(super) state: LogState,
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
    pub fn new(dir: &Path, visit: &'v mut dyn FnMut(Event<'_>) -> bool) -> Self {
        Walker {
            dir: dir.to_path_buf(),
            visit,
            index: LogIndex::new(),
            state: LogState::default(),
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

    /// Reports a segment that cannot be walked.
    fn refuse(
        &mut self,
        file: &str,
        offset: Option<u64>,
        message: impl Into<String>,
    ) -> Option<Arc<Segment>> {
        self.problem(file, offset, message);
        None
    }

    /// Reports an error of the WAL's own reading code as a problem of `file`.
    pub(super) fn error(&mut self, file: &str, e: Error) {
        let p = problem_of(file, e);
        self.problem(file, p.offset, p.message);
    }

    pub fn run(mut self, listing: &Listing) -> Inspection {
        for (name, kind) in &listing.others {
            if *kind == OtherKind::BadSegmentName {
                let msg = "ends in .wal but is not a segment name \
                    ({seq:016x}-{first_index:016x}.wal): opening refuses the directory";
                self.problem(name, None, msg);
            }
        }
        if listing.segments.first().is_some_and(|s| s.seq != 0) {
            // Older segments were purged: the replay learns where the log starts as it goes.
            self.index = LogIndex::unanchored();
        }
        let n = listing.segments.len();
        for (i, sf) in listing.segments.iter().enumerate() {
            if self.stopped {
                break;
            }
            self.seg_problems = 0;
            if let Some(prev) = i.checked_sub(1).map(|p| listing.segments[p].seq) {
                if sf.seq == prev {
                    self.problem(
                        &sf.name,
                        None,
                        format!("duplicate sequence number {prev:#x}"),
                    );
                } else if sf.seq != prev + 1 {
                    let msg = format!(
                        "segment sequence jumps from {prev:#x} to {:#x}: {} segment(s) missing",
                        sf.seq,
                        sf.seq - prev - 1
                    );
                    self.problem(&sf.name, None, msg);
                }
            }
            let mut stats = SegmentStats {
                name: sf.name.clone(),
                seq: sf.seq,
                size: sf.size,
                ..SegmentStats::default()
            };
            if let Some(seg) = self.open(sf) {
                self.segment(i, i + 1 == n, seg, &mut stats);
            }
            stats.problems = self.seg_problems;
            self.emit(Event::SegmentDone(&stats));
            self.segments.push(stats);
        }
        if let (false, Some(first)) = (self.index.is_anchored(), listing.segments.first()) {
            // No entry survives: the log is empty and starts where the oldest segment was cut.
            let prev = first.first_index.saturating_sub(1);
            let term = self.state.start.filter(|s| s.index == prev).map(|s| s.term);
            self.index.anchor_at(prev, term);
        }
        self.index.harden();
        Inspection::new(
            self.dir,
            self.index,
            self.state,
            self.segments,
            self.problems,
        )
    }

    /// Opens a segment and checks its header against its name.
    fn open(&mut self, sf: &SegmentFile) -> Option<Arc<Segment>> {
        let path = self.dir.join(&sf.name);
        let name = sf.name.as_str();
        let file = match open_read_only(&path) {
            Ok(f) => f,
            Err(e) => return self.refuse(name, None, format!("cannot open: {e}")),
        };
        let size = match file.len() {
            Ok(s) => s,
            Err(e) => return self.refuse(name, None, format!("cannot stat: {e}")),
        };
        if size < SEGMENT_HEADER_LEN + TRAILER_LEN {
            let msg =
                format!("the file is {size} bytes, shorter than a segment header and trailer");
            return self.refuse(name, Some(size), msg);
        }
        if size > format::MAX_SEGMENT_SIZE {
            let msg = "larger than 4 GiB, the largest segment there can be";
            return self.refuse(name, Some(0), msg);
        }
        let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
        if let Err(e) = file.read_at(&mut h, 0) {
            return self.refuse(name, None, format!("read failed: {e}"));
        }
        let id = match SegmentId::decode_header(&h) {
            Ok(id) => id,
            Err(d) => return self.refuse(name, Some(0), d.to_string()),
        };
        if id.seq != sf.seq || id.first_index != sf.first_index {
            let d = Damage::NameMismatch {
                header_seq: id.seq,
                header_first: id.first_index,
                name_seq: sf.seq,
                name_first: sf.first_index,
            };
            return self.refuse(name, Some(0), d.to_string());
        }
        if id.first_index == 0 || id.first_index >= format::MAX_INDEX {
            let msg = format!("first index {} is out of range", id.first_index);
            return self.refuse(name, Some(24), msg);
        }
        Some(Arc::new(Segment::new(id, path, file, size)))
    }

    fn segment(&mut self, i: usize, is_last: bool, seg: Arc<Segment>, st: &mut SegmentStats) {
        let name = st.name.clone();
        let first = seg.id.first_index;
        if self.index.is_soft()
            && self.index.last_index() + 1 != first
            && (!self.index.is_anchored() || self.index.last_index() < self.index.first_index())
        {
            // As opening does: after purged segments the name says where the log stood.
            self.index.reanchor(first - 1);
        }
        if i > 0 && self.index.last_index() + 1 != first {
            let d = Damage::IndexGap {
                expected: self.index.last_index() + 1,
                found: first,
            };
            self.problem(&name, Some(0), format!("{d}; the log view restarts here"));
            self.index.reanchor(first - 1);
        }
        self.index.add_segment(seg.clone());
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
            first_index: first,
            salt: seg.id.salt,
            size: seg.size,
            trailer: seal.trailer.map(|t| (t.footer_offset, t.footer_len)),
            sealed: st.sealed,
        };
        self.emit(Event::Segment(&header));
        let soft_at_start = self.index.is_soft();
        let mut stats = SegStats::default();
        st.bytes_used = SEGMENT_HEADER_LEN;
        let end = self.batches(&seg, &name, is_last, &mut stats, st, &seal);
        if let (Some(f), Some(t)) = (&seal.footer, seal.trailer) {
            if self.seg_problems == 0 {
                self.check_seal(&name, end, t.footer_offset, f, &stats, soft_at_start);
            }
            st.bytes_used = st.bytes_used.max(t.footer_offset + t.footer_len) + TRAILER_LEN;
        }
        if let Some(s) = self.state.start {
            self.index.learn_prev_term(s.index, s.term);
        }
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
