//! [`EntryCache`]: the most recent entries in memory, up to a byte limit.
//!
//! Invariant: the cache holds a contiguous run of entries `[first(), first() + len())` that is a
//! suffix of what the log held when each entry was appended; whoever changes the log (an
//! overwrite, a reset, a compaction) updates the cache in the same critical section. Entries are
//! evicted oldest first once their encoded size passes the limit; the newest entry always stays.

use std::collections::VecDeque;

use raft::eraftpb::Entry;

/// Recent entries, with their protobuf sizes.
#[derive(Debug, Default)]
pub(crate) struct EntryCache {
    entries: VecDeque<(Entry, u64)>,
    bytes: u64,
    limit: u64,
}

impl EntryCache {
    /// An empty cache holding at most about `limit` bytes of entries.
    pub fn new(limit: usize) -> Self {
        EntryCache {
            entries: VecDeque::new(),
            bytes: 0,
            limit: limit as u64,
        }
    }

    /// Index of the oldest cached entry, if any.
    pub fn first(&self) -> Option<u64> {
        self.entries.front().map(|e| e.0.index)
    }

    /// Bytes cached.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends entries that start at or below the cached last index + 1 (dropping a conflicting
    /// cached tail); entries that do not join the cached run replace it.
    pub fn append(&mut self, entries: &[Entry], sizes: &[u64]) {
        let Some(first) = entries.first() else { return };
        self.truncate_from(first.index);
        if self
            .entries
            .back()
            .is_some_and(|b| b.0.index + 1 != first.index)
        {
            self.clear();
        }
        for (e, &size) in entries.iter().zip(sizes) {
            self.entries.push_back((e.clone(), size));
            self.bytes += size;
        }
        while self.bytes > self.limit && self.entries.len() > 1 {
            let (_, size) = self.entries.pop_front().expect("non-empty");
            self.bytes -= size;
        }
    }

    /// Drops cached entries at or above `index`.
    pub fn truncate_from(&mut self, index: u64) {
        while self.entries.back().is_some_and(|b| b.0.index >= index) {
            let (_, size) = self.entries.pop_back().expect("non-empty");
            self.bytes -= size;
        }
    }

    /// Drops cached entries at or below `index`.
    pub fn compact_to(&mut self, index: u64) {
        while self.entries.front().is_some_and(|f| f.0.index <= index) {
            let (_, size) = self.entries.pop_front().expect("non-empty");
            self.bytes -= size;
        }
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The term of cached entry `index`.
    pub fn term(&self, index: u64) -> Option<u64> {
        let first = self.first()?;
        let i = index.checked_sub(first)?;
        self.entries.get(i as usize).map(|e| e.0.term)
    }

    /// Appends to `out` the cached entries from `lo` (which must be cached) up to `hi`, within the
    /// size budget `(total, max)` following raft's `limit_size` rule. Returns false once the
    /// budget stopped it.
    pub fn read(&self, lo: u64, hi: u64, total: &mut u64, max: u64, out: &mut Vec<Entry>) -> bool {
        let Some(first) = self.first() else {
            return true;
        };
        let start = (lo - first) as usize;
        for (e, size) in self.entries.iter().skip(start) {
            if e.index >= hi {
                break;
            }
            *total = total.saturating_add(*size);
            if !out.is_empty() && *total > max {
                return false;
            }
            out.push(e.clone());
        }
        true
    }
}
