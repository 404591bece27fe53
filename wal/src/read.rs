//! Reading entries: locate batches under the lock, read and verify them outside it.
//!
//! Every read verifies the batch's header (bound to its segment) and body checksum; sealed
//! segments are read through a memory map, the active one with positional reads.

use crate::batch::for_each_entry;
use crate::error::{Error, Result};
use crate::index::BatchLoc;
use crate::wal::Wal;

/// An entry read back from its batch.
pub(crate) struct EntryAt<'a> {
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
    /// The entry's bytes.
    pub data: &'a [u8],
    /// Byte offset of the entry's record in its segment.
    pub offset: u64,
}

/// Reads and verifies the batch at `loc` and calls `f` for its live entries in `[lo, hi)`, in
/// order, until `f` returns `false`; returns `Ok(false)` if `f` stopped. The one batch reader
/// of [`Wal::read_with`] and of inspection's [`read_entries`](crate::inspect::Inspection::read_entries).
pub(crate) fn read_live(
    loc: &BatchLoc,
    lo: u64,
    hi: u64,
    mut f: impl FnMut(EntryAt<'_>) -> bool,
) -> Result<bool> {
    let (header, body) = loc.seg.read_batch(loc.offset)?;
    let (from, to) = (lo.max(loc.first), hi.min(loc.first + loc.count));
    let mut stopped = false;
    for_each_entry(&body, header.first_index, |index, term, data, rel| {
        if index < from {
            return true;
        }
        if index >= to {
            return false;
        }
        let offset = loc.offset + rel;
        stopped = !f(EntryAt {
            index,
            term,
            data,
            offset,
        });
        !stopped
    })
    .map_err(|d| Error::corrupt(&loc.seg.path, loc.offset, d))?;
    Ok(!stopped)
}

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
        for loc in &batches {
            let more = read_live(loc, lo, hi, |e| {
                total = total.saturating_add(e.data.len() as u64);
                if n > 0 && total > limit {
                    return false;
                }
                f(e.index, e.term, e.data);
                n += 1;
                true
            })?;
            if !more {
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
