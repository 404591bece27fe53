//! The batches of one segment: walked in file order past damage, each checked and replayed;
//! and the seal checked against them.

use super::walk::{Seal, Walker};
use super::{BatchEvent, EndKind, Event, RecordEvent, SegmentStats};
use crate::apply::apply;
use crate::batch::{decode_body, Records};
use crate::error::Error;
use crate::footer::{self, SegStats};
use crate::format::{
    self, kind, BatchHeader, BATCH_HEADER_LEN, FOOTER_MAGIC, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::records::SegmentFooter;
use crate::scan::find_valid_batch;
use crate::segment::Segment;

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
        let mut pos = SEGMENT_HEADER_LEN;
        loop {
            let (end, damage) = loop {
                if self.stopped {
                    return pos;
                }
                match seg.try_read_batch(pos) {
                    Ok(Ok(Some((h, body)))) => {
                        self.batch(seg, name, pos, &h, &body, stats, st);
                        pos += h.total_len();
                        st.bytes_used = pos;
                    }
                    Ok(Ok(None)) => break (pos, None),
                    Ok(Err(d)) => break (pos, Some(d)),
                    Err(e) => return self.unreadable(name, pos, e),
                }
            };
            let next = match find_valid_batch(seg, end + 8) {
                Ok(next) => next,
                Err(e) => return self.unreadable(name, end, e),
            };
            if let Some(valid_at) = next {
                let what = damage.map_or_else(
                    || "zeroed or missing bytes where a batch should be".to_string(),
                    |d| d.to_string(),
                );
                let msg = format!(
                    "{what}; a valid batch follows at offset {valid_at}: \
                     damage in the middle of the log ({})",
                    consequence(seg)
                );
                self.problem(name, Some(end), msg);
                pos = valid_at;
                continue;
            }
            let kind = match damage {
                Some(d) => {
                    let msg = if seg.is_sealed() {
                        format!("{d} ({})", consequence(seg))
                    } else if is_last {
                        format!(
                            "{d}: torn tail, nothing valid follows (opening truncates it, \
                             or refuses it in AbsoluteConsistency mode)"
                        )
                    } else {
                        d.to_string()
                    };
                    self.problem(name, Some(end), msg);
                    EndKind::Damage
                }
                None => end_kind(seg, end),
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
            return end;
        }
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

    /// Reports a valid batch and its records, checks it, and replays it.
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &mut self,
        seg: &Segment,
        name: &str,
        off: u64,
        h: &BatchHeader,
        body: &[u8],
        stats: &mut SegStats,
        st: &mut SegmentStats,
    ) {
        st.batches += 1;
        let ev = BatchEvent {
            segment: name,
            offset: off,
            header: *h,
        };
        self.emit(Event::Batch(&ev));
        let (mut rel, mut n) = (BATCH_HEADER_LEN as u64, 0u64);
        for rec in Records::new(body).map_while(Result::ok) {
            let index = (rec.kind == kind::ENTRY).then(|| h.first_index.saturating_add(n));
            if let Some(i) = index {
                n += 1;
                st.entries += 1;
                st.index_range = Some(st.index_range.map_or((i, i), |(a, b)| (a.min(i), b.max(i))));
            }
            let ev = RecordEvent {
                segment: name,
                offset: off + rel,
                kind: rec.kind,
                term: rec.term,
                index,
                payload: rec.payload,
            };
            self.emit(Event::Record(&ev));
            rel += RECORD_HEADER_LEN as u64 + format::align8(rec.payload.len() as u64);
        }
        let decoded = match decode_body(body, h.first_index, h.count) {
            Ok(b) => b,
            Err(d) => return self.problem(name, Some(off), d.to_string()),
        };
        let is_head = off == SEGMENT_HEADER_LEN;
        if is_head && (decoded.state.is_none() || h.first_index != seg.id.first_index) {
            let msg = "the segment does not start with its head batch (the state at the cut)";
            self.problem(name, Some(off), msg);
        } else if !is_head && decoded.state.is_some() {
            self.problem(name, Some(off), "a state record outside the head batch");
        }
        if h.first_index == 0 {
            return self.problem(name, Some(off), "batch starts at index 0");
        }
        if let Err(d) = apply(
            &mut self.index,
            &mut self.state,
            stats,
            off,
            h.first_index,
            decoded,
        ) {
            self.problem(name, Some(off), format!("{d}; the log view restarts here"));
            self.index.reanchor(h.first_index - 1);
            if let Ok(again) = decode_body(body, h.first_index, h.count) {
                let _ = apply(
                    &mut self.index,
                    &mut self.state,
                    stats,
                    off,
                    h.first_index,
                    again,
                );
            }
        }
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
        let Some(seg_idx) = self.index.segments().back() else {
            return;
        };
        let runs = match seg_idx.batches().next() {
            Some((first, _)) if seg_idx.has_entries() => self.index.term_runs(first, seg_idx.end()),
            _ => Vec::new(),
        };
        let want = footer::build(seg_idx, stats, &self.state, runs);
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
