//! The batches of one segment: walked by the shared walker ([`walk_batches`]) past damage,
//! each reported with its records and replayed; and the seal checked against them.

use super::walk::{Seal, Walker};
use super::{BatchEvent, EndKind, Event, RecordEvent, SegmentStats};
use crate::batch::{Body, Records};
use crate::error::{Damage, Error, Result};
use crate::footer::{self, SegStats};
use crate::format::{self, kind, BatchHeader, BATCH_HEADER_LEN, FOOTER_MAGIC, RECORD_HEADER_LEN};
use crate::records::SegmentFooter;
use crate::replay::walk::{walk_batches, End, Visitor};
use crate::replay::Policy;
use crate::segment::Segment;

/// The walker's view of one segment while its batches are walked.
struct SegmentVisit<'w, 'v, 's> {
    w: &'w mut Walker<'v>,
    seg: &'s Segment,
    name: &'s str,
    stats: &'s mut SegStats,
    st: &'s mut SegmentStats,
    /// Where the batches read so far end.
    next: u64,
}

impl Visitor for SegmentVisit<'_, '_, '_> {
    fn batch(&mut self, off: u64, h: &BatchHeader, raw: &[u8], body: Body) -> Result<bool> {
        if self.w.stopped {
            return Ok(false);
        }
        self.records(off, h, raw);
        let (w, name) = (&mut *self.w, self.name);
        let mut found = Vec::new();
        let applied = w
            .replaying()
            .batch(self.seg, off, h, raw, body, self.stats, &mut |f| {
                found.push(f)
            });
        debug_assert!(applied.is_ok(), "a reporting replay carries on");
        for f in found {
            w.finding(name, off, f);
        }
        self.next = off + h.total_len();
        self.st.bytes_used = self.next;
        Ok(true)
    }

    fn skipped(&mut self, at: u64, damage: Option<Damage>, valid_at: u64) {
        let what = damage.map_or_else(|| Damage::MissingBatch.to_string(), |d| d.to_string());
        let msg = format!(
            "{what}; a valid batch follows at offset {valid_at}: \
             damage in the middle of the log ({})",
            consequence(self.seg)
        );
        self.w.problem(self.name, Some(at), msg);
    }
}

impl SegmentVisit<'_, '_, '_> {
    /// Reports a valid batch and its records.
    fn records(&mut self, off: u64, h: &BatchHeader, raw: &[u8]) {
        self.st.batches += 1;
        let ev = BatchEvent {
            segment: self.name,
            offset: off,
            header: *h,
        };
        self.w.emit(Event::Batch(&ev));
        let (mut rel, mut n) = (BATCH_HEADER_LEN as u64, 0u64);
        for rec in Records::new(raw).map_while(std::result::Result::ok) {
            let index = (rec.kind == kind::ENTRY).then(|| h.first_index.saturating_add(n));
            if let Some(i) = index {
                n += 1;
                self.st.entries += 1;
                let range = self
                    .st
                    .index_range
                    .map_or((i, i), |(a, b)| (a.min(i), b.max(i)));
                self.st.index_range = Some(range);
            }
            let ev = RecordEvent {
                segment: self.name,
                offset: off + rel,
                kind: rec.kind,
                term: rec.term,
                index,
                payload: rec.payload,
            };
            self.w.emit(Event::Record(&ev));
            rel += RECORD_HEADER_LEN as u64 + format::align8(rec.payload.len() as u64);
        }
    }
}

impl Walker<'_> {
    /// Walks the batches of `seg` from its head to the end, past damage; returns where the
    /// batches end.
    pub(super) fn batches(
        &mut self,
        seg: &Segment,
        name: &str,
        is_last: bool,
        stats: &mut SegStats,
        st: &mut SegmentStats,
        seal: &Seal,
    ) -> u64 {
        let mut v = SegmentVisit {
            w: self,
            seg,
            name,
            stats,
            st,
            next: format::SEGMENT_HEADER_LEN,
        };
        let walked = walk_batches(seg, Policy::Report, &mut v);
        let next = v.next;
        let (end, kind) = match walked {
            Ok(End::Stopped(at)) => return at,
            Ok(End::Clean(at)) => (at, end_kind(seg, at)),
            Ok(End::Torn(at, d)) => {
                let msg = if is_last {
                    format!(
                        "{d}: torn tail, nothing valid follows (opening truncates it, \
                         or refuses it in AbsoluteConsistency mode)"
                    )
                } else {
                    d.to_string()
                };
                self.problem(name, Some(at), msg);
                (at, EndKind::Damage)
            }
            Ok(End::Damaged(at, d)) => {
                let msg = format!("{d} ({})", consequence_at(seg, at));
                self.problem(name, Some(at), msg);
                (at, EndKind::Damage)
            }
            Err(e) => return self.unreadable(name, next, e),
        };
        if let (Some(footer), Some(t)) = (&seal.footer, seal.trailer) {
            let ev = Event::Footer {
                segment: name,
                offset: t.footer_offset,
                footer,
            };
            self.emit(ev);
        }
        let ev = Event::End {
            segment: name,
            offset: end,
            kind,
        };
        self.emit(ev);
        end
    }

    fn unreadable(&mut self, name: &str, at: u64, e: Error) -> u64 {
        self.error(name, e);
        let ev = Event::End {
            segment: name,
            offset: at,
            kind: EndKind::Unreadable,
        };
        self.emit(ev);
        at
    }

    /// Checks a seal against the batches just walked (`end`: where they ended).
    pub(super) fn check_seal(
        &mut self,
        name: &str,
        end: u64,
        footer_offset: u64,
        f: &SegmentFooter,
        stats: &SegStats,
        soft: bool,
    ) {
        if end != footer_offset {
            let msg = format!("the batches end at offset {end} but the seal's footer is here");
            self.problem(name, Some(footer_offset), msg);
        }
        let chain = self.replaying();
        let Some(seg_idx) = chain.index.segments().back() else {
            return;
        };
        let runs = match seg_idx.batches().next() {
            Some((first, _)) if seg_idx.has_entries() => {
                chain.index.term_runs(first, seg_idx.end())
            }
            _ => Vec::new(),
        };
        let want = footer::build(seg_idx, stats, &chain.state, runs);
        let mut diffs = Vec::new();
        if (&want.batch_first, &want.batch_offset) != (&f.batch_first, &f.batch_offset) {
            diffs.push("live batches".to_string());
        }
        if want.end_index != f.end_index {
            diffs.push(format!(
                "end index: seal {}, batches {}",
                f.end_index, want.end_index
            ));
        }
        if (&want.run_first, &want.run_term) != (&f.run_first, &f.run_term) {
            diffs.push("term runs".to_string());
        }
        if want.had_reset != f.had_reset || (!soft && want.truncate_from != f.truncate_from) {
            diffs.push("reset or truncation point".to_string());
        }
        if want.state != f.state {
            diffs.push("cumulative state".to_string());
        }
        if !diffs.is_empty() {
            let msg = format!(
                "the seal disagrees with the segment's batches ({}); opening trusts the seal",
                diffs.join("; ")
            );
            self.problem(name, Some(footer_offset), msg);
        }
    }
}

/// What opening a WAL does about damage at `at` of `seg`, with nothing valid after it, where
/// no write can tear.
fn consequence_at(seg: &Segment, at: u64) -> &'static str {
    if seg.is_sealed() {
        consequence(seg)
    } else {
        debug_assert_eq!(at, format::SEGMENT_HEADER_LEN);
        "the head batch is synced before the segment is named, so this is not a torn write: \
         opening refuses it"
    }
}

/// What opening a WAL does about damage in `seg`.
fn consequence(seg: &Segment) -> &'static str {
    if seg.is_sealed() {
        "a sealed segment: opening trusts its seal, reading these entries fails"
    } else {
        "opening refuses it"
    }
}

/// What a clean end at `at` is: an end marker, a footer, or too little room for a header.
fn end_kind(seg: &Segment, at: u64) -> EndKind {
    if at + BATCH_HEADER_LEN as u64 > seg.data_limit() {
        return EndKind::EndOfSpace;
    }
    match seg.read(at, 4) {
        Ok(m) if m[..] == FOOTER_MAGIC.to_le_bytes() => EndKind::Footer,
        _ => EndKind::EndMarker,
    }
}
