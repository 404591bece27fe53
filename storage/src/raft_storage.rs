//! `raft::Storage` for [`DiskStorage`], exactly as `docs/RAFT.md` §1 says:
//! - `entries` returns at least one entry for a non-empty range and is short only because of
//!   `max_size`; `Compacted` below the first index, `Unavailable` above the last;
//! - `term` answers for `first_index - 1` (the snapshot or compaction point);
//! - `snapshot` returns a real snapshot at or above `request_index`, or
//!   `SnapshotTemporarilyUnavailable` (and records the request), never a faked index.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use protobuf::Message as _;
use raft::eraftpb::{Entry, Snapshot};
use raft::{GetEntriesContext, RaftState};

use crate::convert::snapshot_to_raft;
use crate::disk::DiskStorage;
use crate::error::{Error, Result};

impl DiskStorage {
    fn entries_impl(&self, low: u64, high: u64, max: u64) -> Result<Vec<Entry>> {
        let st = self.read_state();
        let wal = &self.core.wal;
        let (first, last) = (wal.first_index()?, wal.last_index()?);
        if low < first {
            return Err(Error::Compacted { index: low, first });
        }
        if high > last + 1 {
            return Err(Error::Unavailable {
                index: high - 1,
                last,
            });
        }
        let mut out = Vec::with_capacity((high.saturating_sub(low)).min(1024) as usize);
        if low >= high {
            return Ok(out);
        }
        let cached_from = st.cache.first().map_or(high, |f| f.clamp(low, high));
        let mut total = 0u64;
        if low < cached_from {
            let mut err = None;
            wal.read_with(low, cached_from, Some(max), |_, _, bytes| {
                total += bytes.len() as u64;
                match Entry::parse_from_bytes(bytes) {
                    Ok(e) => out.push(e),
                    Err(e) => err = err.take().or(Some(e)),
                }
            })?;
            if let Some(e) = err {
                return Err(e.into());
            }
            if (out.len() as u64) < cached_from - low {
                return Ok(out); // stopped by the size limit
            }
        }
        // Only when the cache holds part of the range: with the whole range below the cache
        // (`cached_from == high < cache first`), `read` would compute `high - cache first` and
        // underflow (a panic in debug builds).
        if cached_from < high {
            st.cache.read(cached_from, high, &mut total, max, &mut out);
        }
        Ok(out)
    }

    pub(crate) fn term_impl(&self, idx: u64) -> Result<u64> {
        let st = self.read_state();
        let wal = &self.core.wal;
        let (first, last) = (wal.first_index()?, wal.last_index()?);
        if idx + 1 < first {
            return Err(Error::Compacted { index: idx, first });
        }
        if idx > last {
            return Err(Error::Unavailable { index: idx, last });
        }
        if let Some(t) = st.cache.term(idx) {
            return Ok(t);
        }
        match wal.term(idx) {
            Ok(t) => Ok(t),
            // The WAL may not know the term of its start after a purge; the snapshot does.
            Err(stele_wal::Error::Compacted { .. }) if idx == st.snapshot.index => {
                Ok(st.snapshot.term)
            }
            Err(stele_wal::Error::Compacted { .. }) => Err(Error::Compacted { index: idx, first }),
            Err(e) => Err(e.into()),
        }
    }

    fn snapshot_impl(&self, request_index: u64) -> Result<Snapshot> {
        let meta = self.snapshot_metadata();
        if meta.index == 0 || meta.index < request_index {
            self.core
                .snapshot_wanted
                .fetch_max(request_index.max(1), Ordering::AcqRel);
            return Err(Error::SnapshotTemporarilyUnavailable {
                requested: request_index,
                newest: meta.index,
            });
        }
        let id = stele_snap::SnapshotId::new(meta.index, meta.term);
        snapshot_to_raft(&self.core.snaps.load(id)?)
    }
}

impl DiskStorage {
    /// The error raft gets; one it treats as fatal is also kept as [`DiskStorage::failure`]
    /// (the first only), shared with raft's copy (whose `Debug`, in raft's panic, is the same).
    fn to_raft(&self, e: Error) -> raft::Error {
        use raft::StorageError as S;
        match e {
            Error::Compacted { .. }
            | Error::Unavailable { .. }
            | Error::SnapshotTemporarilyUnavailable { .. } => e.into(),
            fatal => {
                let shared = Arc::new(fatal);
                let mut kept = self.core.failure.lock().unwrap_or_else(|p| p.into_inner());
                kept.get_or_insert_with(|| shared.clone());
                raft::Error::Store(S::Other(Box::new(shared)))
            }
        }
    }
}

impl raft::Storage for DiskStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let st = self.read_state();
        Ok(RaftState::new(st.hard_state.clone(), st.conf_state.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max = max_size.into().unwrap_or(raft::NO_LIMIT);
        self.entries_impl(low, high, max)
            .map_err(|e| self.to_raft(e))
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.term_impl(idx).map_err(|e| self.to_raft(e))
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.core
            .wal
            .first_index()
            .map_err(|e| self.to_raft(e.into()))
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.core
            .wal
            .last_index()
            .map_err(|e| self.to_raft(e.into()))
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        self.snapshot_impl(request_index)
            .map_err(|e| self.to_raft(e))
    }
}
