//! Reading entries: locate batches under the lock, read and verify them outside it.
//!
//! Every read verifies the batch's header (bound to its segment) and body checksum; sealed
//! segments are read through a memory map, the active one with positional reads.

use crate::batch::for_each_entry;
use crate::error::{Error, Result};
use crate::index::BatchLoc;
use crate::wal::Wal;

/// An entry as stored: its index, term and `eraftpb.Entry` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryData {
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
    /// The `eraftpb.Entry` protobuf encoding.
    pub data: Vec<u8>,
}

impl Wal {
    /// Calls `f(index, term, bytes)` for the entries in `[lo, hi)` in order, stopping early at
    /// the byte limit: the first entry always comes, then entries while the total size of
    /// `bytes` stays within `max_bytes` (raft's `limit_size` rule, since `bytes.len()` is the
    /// entry's protobuf size). Returns how many entries were passed to `f`.
    pub fn read_with(
        &self,
        lo: u64,
        hi: u64,
        max_bytes: Option<u64>,
        mut f: impl FnMut(u64, u64, &[u8]),
    ) -> Result<usize> {
        let batches = self.locate_range(lo, hi)?;
        let limit = max_bytes.unwrap_or(u64::MAX);
        let (mut total, mut n) = (0u64, 0usize);
        for BatchLoc {
            seg,
            offset: off,
            first: live_first,
            count: live_count,
        } in batches
        {
            let (header, body) = seg.read_batch(off)?;
            let (from, to) = (lo.max(live_first), hi.min(live_first + live_count));
            let mut stop = false;
            for_each_entry(&body, header.first_index, |index, term, bytes| {
                if index < from {
                    return true;
                }
                if index >= to {
                    return false;
                }
                total = total.saturating_add(bytes.len() as u64);
                if n > 0 && total > limit {
                    stop = true;
                    return false;
                }
                f(index, term, bytes);
                n += 1;
                true
            })
            .map_err(|d| Error::corrupt(&seg.path, off, d))?;
            if stop {
                break;
            }
        }
        Ok(n)
    }

    /// The entries in `[lo, hi)`, limited by `max_bytes` as in [`read_with`](Self::read_with).
    pub fn entries(&self, lo: u64, hi: u64, max_bytes: Option<u64>) -> Result<Vec<EntryData>> {
        let mut out = Vec::new();
        self.read_with(lo, hi, max_bytes, |index, term, data| {
            out.push(EntryData {
                index,
                term,
                data: data.to_vec(),
            })
        })?;
        Ok(out)
    }

    /// Iterates every entry from `from` (at least the first index) to the last, in order, with
    /// truncations and resets applied: what a restart replays above the snapshot index.
    pub fn replay(&self, from: u64) -> Result<Replay<'_>> {
        let first = self.first_index()?;
        Ok(Replay {
            wal: self,
            next: from.max(first),
            buf: Vec::new().into_iter(),
        })
    }

    /// The batches covering `[lo, hi)`, in order.
    fn locate_range(&self, lo: u64, hi: u64) -> Result<Vec<BatchLoc>> {
        let inner = self.live()?;
        let (first, last) = (inner.index.first_index(), inner.index.last_index());
        if lo < first {
            return Err(Error::Compacted { index: lo, first });
        }
        if hi > last + 1 {
            return Err(Error::Unavailable {
                index: hi - 1,
                last,
            });
        }
        let mut out = Vec::new();
        let mut i = lo;
        while i < hi {
            let Some(loc) = inner.index.locate(i) else {
                return Err(Error::Unavailable { index: i, last });
            };
            i = loc.first + loc.count;
            out.push(loc);
        }
        Ok(out)
    }
}

/// Iterator returned by [`Wal::replay`]; reads the log in chunks of a few MiB.
#[derive(Debug)]
pub struct Replay<'a> {
    wal: &'a Wal,
    next: u64,
    buf: std::vec::IntoIter<EntryData>,
}

impl Iterator for Replay<'_> {
    type Item = Result<EntryData>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.buf.next() {
            return Some(Ok(e));
        }
        let last = match self.wal.last_index() {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        if self.next > last {
            return None;
        }
        match self.wal.entries(self.next, last + 1, Some(4 << 20)) {
            Ok(v) => {
                self.next = v.last().map_or(last + 1, |e| e.index + 1);
                self.buf = v.into_iter();
                self.buf.next().map(Ok)
            }
            Err(e) => Some(Err(e)),
        }
    }
}
