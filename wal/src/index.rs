//! [`LogIndex`]: the in-memory map from raft index to (segment, batch offset) and term.
//!
//! Invariants:
//! - live entries are exactly `[first_index(), last_index()]`, contiguous, and each belongs to one
//!   batch of one segment; segments are kept in sequence order, including segments whose entries
//!   were all overwritten (they still hold metadata until purged);
//! - per batch the index keeps 8 bytes (index relative to the segment's base, offset); terms are
//!   kept as runs of equal terms, so memory is a few bytes per batch and no entry payload;
//! - `prev` is the position just before the first live entry, with its term when known.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::segment::Segment;

/// Where a batch holding live entries is: its segment, byte offset, and live range.
#[derive(Debug, Clone)]
pub(crate) struct BatchLoc {
    pub seg: Arc<Segment>,
    pub offset: u64,
    /// First live index of the batch (above its first index if it was partly compacted).
    pub first: u64,
    /// Number of live entries from `first`.
    pub count: u64,
}

/// The live batches of one segment.
#[derive(Debug)]
pub(crate) struct SegIndex {
    pub seg: Arc<Segment>,
    /// First live index of the segment's first live batch.
    base: u64,
    /// One past the segment's last live index (== base when it has none).
    end: u64,
    /// (first live index - base, byte offset) of each live batch.
    batches: Vec<(u32, u32)>,
}

impl SegIndex {
    fn new(seg: Arc<Segment>) -> Self {
        SegIndex {
            seg,
            base: 0,
            end: 0,
            batches: Vec::new(),
        }
    }

    /// True if the segment holds live entries.
    pub fn has_entries(&self) -> bool {
        !self.batches.is_empty()
    }

    /// One past the last live index (meaningful only with entries).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Live batches as (first live index, offset).
    pub fn batches(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.batches
            .iter()
            .map(|&(rel, off)| (self.base + u64::from(rel), u64::from(off)))
    }

    fn truncate(&mut self, from: u64) {
        if !self.has_entries() || self.end <= from {
            return;
        }
        while let Some(&(rel, _)) = self.batches.last() {
            if self.base + u64::from(rel) >= from {
                self.batches.pop();
            } else {
                break;
            }
        }
        self.end = if self.batches.is_empty() {
            self.base
        } else {
            from
        };
    }

    /// Drops live entries up to `upto`, keeping a partly compacted batch with a raised start.
    fn compact(&mut self, upto: u64) {
        if !self.has_entries() || self.base > upto {
            return;
        }
        if self.end <= upto + 1 {
            self.batches.clear();
            self.end = self.base;
            return;
        }
        // Keep the batch holding `upto + 1` (it starts at or below it) and every later one.
        let first_kept = self
            .batches
            .partition_point(|&(rel, _)| self.base + u64::from(rel) <= upto + 1)
            - 1;
        let kept: Vec<(u64, u32)> = self.batches[first_kept..]
            .iter()
            .map(|&(r, o)| (self.base + u64::from(r), o))
            .collect();
        self.base = upto + 1;
        self.batches = kept
            .into_iter()
            .map(|(first, off)| ((first.max(upto + 1) - self.base) as u32, off))
            .collect();
    }
}

/// The live log.
#[derive(Debug)]
pub(crate) struct LogIndex {
    segs: VecDeque<SegIndex>,
    /// (first index, term) runs covering the live entries.
    terms: Vec<(u64, u64)>,
    /// The index before the first live entry and its term, if known.
    prev: (u64, Option<u64>),
    /// False until the replay has seen where the log starts.
    anchored: bool,
    /// True while the start was only inferred from the first batch a replay met (the segments
    /// before it were purged): a later batch may then overwrite below it or start above it.
    soft: bool,
}

impl LogIndex {
    /// An empty log that starts at index 1 (`prev` = (0, term 0)).
    pub fn new() -> Self {
        LogIndex {
            segs: VecDeque::new(),
            terms: Vec::new(),
            prev: (0, Some(0)),
            anchored: true,
            soft: false,
        }
    }

    /// An index whose start is not known yet: the first batch or start record anchors it.
    pub fn unanchored() -> Self {
        LogIndex {
            anchored: false,
            soft: true,
            ..Self::new()
        }
    }

    pub fn add_segment(&mut self, seg: Arc<Segment>) {
        self.segs.push_back(SegIndex::new(seg));
    }

    pub fn segments(&self) -> &VecDeque<SegIndex> {
        &self.segs
    }

    pub fn first_index(&self) -> u64 {
        self.prev.0 + 1
    }

    pub fn last_index(&self) -> u64 {
        self.segs
            .iter()
            .rev()
            .find(|s| s.has_entries())
            .map_or(self.prev.0, |s| s.end - 1)
    }

    pub fn prev(&self) -> (u64, Option<u64>) {
        self.prev
    }

    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.prev.0 {
            return self.prev.1;
        }
        if index < self.first_index() || index > self.last_index() {
            return None;
        }
        let i = self.terms.partition_point(|r| r.0 <= index);
        self.terms.get(i.checked_sub(1)?).map(|r| r.1)
    }

    /// Term runs that overlap `[lo, hi)` clipped to the live entries (empty if none is in the
    /// range); the first starts at `lo` or at the first live entry, whichever is later.
    pub fn term_runs(&self, lo: u64, hi: u64) -> Vec<(u64, u64)> {
        let lo = lo.max(self.first_index());
        let hi = hi.min(self.last_index().saturating_add(1));
        if lo >= hi {
            return Vec::new();
        }
        let start = self.terms.partition_point(|r| r.0 <= lo).saturating_sub(1);
        self.terms[start..]
            .iter()
            .take_while(|r| r.0 < hi)
            .map(|&(i, t)| (i.max(lo), t))
            .collect()
    }

    /// Drops every live entry at or above `from`.
    pub fn truncate(&mut self, from: u64) {
        let from = from.max(self.first_index());
        for s in self.segs.iter_mut().rev() {
            s.truncate(from);
        }
        let keep = self.terms.partition_point(|r| r.0 < from);
        self.terms.truncate(keep);
    }

    /// Drops every live entry; the log restarts after `index`.
    pub fn reset(&mut self, index: u64, term: u64) {
        for s in self.segs.iter_mut() {
            s.batches.clear();
            s.end = s.base;
        }
        self.terms.clear();
        self.prev = (index, Some(term));
        self.anchored = true;
        self.soft = false;
    }

    /// Drops live entries up to `index` (whose term is `term`).
    pub fn compact(&mut self, index: u64, term: u64) {
        if self.anchored && index <= self.prev.0 {
            return;
        }
        if index >= self.last_index() {
            let soft = self.soft || !self.anchored;
            self.reset(index, term);
            // Entries after `index` may have lived in purged segments: the start stays soft.
            self.soft = soft;
            return;
        }
        for s in self.segs.iter_mut() {
            s.compact(index);
        }
        // Keep the run holding `index + 1`, the new first entry, and every later one.
        let keep = self
            .terms
            .partition_point(|r| r.0 <= index + 1)
            .saturating_sub(1);
        self.terms.drain(..keep);
        if let Some(r) = self.terms.first_mut() {
            r.0 = r.0.max(index + 1);
        }
        self.prev = (index, Some(term));
        self.anchored = true;
    }

    /// Appends a batch of `count` entries at `first` in the last segment, after the caller has
    /// truncated the log to `first`. `runs` are the batch's term runs.
    pub fn push(&mut self, offset: u64, first: u64, count: u32, runs: &[(u64, u64)]) {
        if !self.anchored {
            self.prev = (first - 1, None);
            self.anchored = true;
        }
        debug_assert_eq!(first, self.last_index() + 1, "push must continue the log");
        let seg = self.segs.back_mut().expect("a segment to push into");
        if !seg.has_entries() {
            seg.base = first;
        }
        let rel = u32::try_from(first - seg.base).expect("a segment holds < 2^32 entries");
        let off = u32::try_from(offset).expect("segments are smaller than 4 GiB");
        seg.batches.push((rel, off));
        seg.end = first + u64::from(count);
        for &(i, t) in runs {
            if self.terms.last().map(|r| r.1) != Some(t) {
                self.terms.push((i, t));
            }
        }
    }

    /// Records the term of `prev` if it is `index` and its term was not known.
    pub fn learn_prev_term(&mut self, index: u64, term: u64) {
        if self.anchored && self.prev.0 == index && self.prev.1.is_none() {
            self.prev.1 = Some(term);
        }
    }

    /// Anchors an empty, unanchored index after `index`.
    pub fn anchor_at(&mut self, index: u64, term: Option<u64>) {
        debug_assert!(!self.anchored);
        self.prev = (index, term);
        self.anchored = true;
    }

    /// True while the log's start is only inferred (see the `soft` field).
    pub fn is_soft(&self) -> bool {
        self.soft || !self.anchored
    }

    /// Restarts an inferred log after `index`: what a replay that began mid-history does when a
    /// batch overwrites below, or starts above, the entries it has seen.
    pub fn reanchor(&mut self, index: u64) {
        let soft = self.is_soft();
        for s in self.segs.iter_mut() {
            s.batches.clear();
            s.end = s.base;
        }
        self.terms.clear();
        self.prev = (index, None);
        self.anchored = true;
        self.soft = soft;
    }

    /// Ends a replay: from now on the start is fixed and batches must continue the log.
    pub fn harden(&mut self) {
        self.soft = false;
    }

    /// True once the replay knows where the log starts.
    pub fn is_anchored(&self) -> bool {
        self.anchored
    }

    /// The batch holding `index`.
    pub fn locate(&self, index: u64) -> Option<BatchLoc> {
        let s = self
            .segs
            .iter()
            .rev()
            .find(|s| s.has_entries() && s.base <= index && index < s.end)?;
        let i = s
            .batches
            .partition_point(|&(rel, _)| s.base + u64::from(rel) <= index)
            - 1;
        let (rel, off) = s.batches[i];
        let first = s.base + u64::from(rel);
        let next = s
            .batches
            .get(i + 1)
            .map_or(s.end, |&(r, _)| s.base + u64::from(r));
        Some(BatchLoc {
            seg: s.seg.clone(),
            offset: u64::from(off),
            first,
            count: next - first,
        })
    }

    /// Removes the oldest segment from the index (its entries must all be below what stays).
    pub fn pop_front(&mut self) -> Option<SegIndex> {
        let front = self.segs.front()?;
        let new_first = front.has_entries().then_some(front.end);
        // The term of the new `prev` must be read while its entry is still indexed.
        let t = new_first.and_then(|f| self.term(f - 1));
        let front = self.segs.pop_front()?;
        if let Some(new_first) = new_first {
            // Keep the run holding `new_first` and every later one.
            let keep = self
                .terms
                .partition_point(|r| r.0 <= new_first)
                .saturating_sub(1);
            self.terms.drain(..keep);
            if let Some(r) = self.terms.first_mut() {
                r.0 = r.0.max(new_first);
            }
            self.prev = (new_first - 1, t);
        }
        Some(front)
    }

    /// Heap bytes the index holds (capacities of its vectors), for memory reports.
    pub fn heap_bytes(&self) -> usize {
        let batches: usize = self.segs.iter().map(|s| s.batches.capacity() * 8).sum();
        batches
            + self.terms.capacity() * 16
            + self.segs.capacity() * std::mem::size_of::<SegIndex>()
    }

    /// Number of batches indexed (for memory reports).
    pub fn batch_count(&self) -> usize {
        self.segs.iter().map(|s| s.batches.len()).sum()
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
