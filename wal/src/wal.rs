//! [`Wal`]: the write-ahead log handle, its shared state and its small read-only API.
//!
//! Concurrency: one mutex guards the in-memory log (index, state, active segment, sync
//! bookkeeping). Writes into the page cache happen under it; `fdatasync` happens outside it, so
//! appenders that arrive during a sync queue their writes and are all covered by the next one
//! (group commit). Reads locate batches under the mutex and read them outside it.
//!
//! Cuts complete lazily: a cut seals the old segment without syncing it and leaves the new
//! segment's file under its prepared name; the next sync (`writer.rs`) makes the sealed
//! segments durable, then the active one, then renames the new segments into place in order.
//! So a segment is under its own name only once every segment before it is sealed and
//! durable, and dropping the handle completes what is pending.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::footer::SegStats;
use crate::fs::LockGuard;
use crate::index::LogIndex;
use crate::options::WalOptions;
use crate::records::LogState;
use crate::segment::Segment;
use crate::spare::Spare;

/// The segment being written.
#[derive(Debug)]
pub(crate) struct Active {
    pub seg: Arc<Segment>,
    /// Where the next batch goes (the end marker of the last one sits here).
    pub pos: u64,
    pub stats: SegStats,
}

/// A cut not completed yet: its new segment's file is still under the name it was prepared
/// under (`from`: a spare, a recycled file or a `.wal.tmp`); the sync that completes the cut
/// renames it to its segment name (`seg.path`) once every segment before it is durable.
#[derive(Debug, Clone)]
pub(crate) struct Unnamed {
    pub seg: Arc<Segment>,
    pub from: PathBuf,
}

/// A purged segment file kept for reuse.
#[derive(Debug)]
pub(crate) struct Recyclable {
    pub path: PathBuf,
    /// The segment it was; reused only once no reader holds it.
    pub old: Weak<Segment>,
}

/// The mutable state behind the WAL mutex.
#[derive(Debug)]
pub(crate) struct Inner {
    pub index: LogIndex,
    pub state: LogState,
    pub active: Option<Active>,
    pub next_seq: u64,
    /// Batches written so far, and how many of them are durable.
    pub written: u64,
    pub synced: u64,
    /// The last index as of the newest durable batch.
    pub durable_last: u64,
    pub syncing: bool,
    pub poisoned: Option<String>,
    pub recycle: Vec<Recyclable>,
    /// Sealed segments (footer written) not yet synced since, oldest first.
    pub unsynced: Vec<Arc<Segment>>,
    /// Cuts not completed yet, oldest first (see [`Unnamed`]).
    pub unnamed: Vec<Unnamed>,
    pub bytes_written: u64,
    pub entries_appended: u64,
    pub syncs: u64,
}

impl Inner {
    /// The state of a log just recovered by opening: nothing written since, everything
    /// recovered durable (opening syncs it).
    pub fn recovered(
        index: LogIndex,
        state: LogState,
        active: Option<Active>,
        next_seq: u64,
        recycle: Vec<Recyclable>,
    ) -> Self {
        let durable_last = index.last_index();
        Inner {
            index,
            state,
            active,
            next_seq,
            written: 0,
            synced: 0,
            durable_last,
            syncing: false,
            poisoned: None,
            recycle,
            unsynced: Vec::new(),
            unnamed: Vec::new(),
            bytes_written: 0,
            entries_appended: 0,
            syncs: 0,
        }
    }
}

/// What opening the log found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Segment files found.
    pub segments: usize,
    /// Of which sealed (recovered from their footers without reading their batches).
    pub sealed: usize,
    /// Bytes of the active segment that were scanned.
    pub scanned_bytes: u64,
    /// A torn tail that was truncated: the segment and the offset of the torn batch.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Leftover temporary files removed.
    pub removed_temp_files: Vec<PathBuf>,
    /// Files in the directory that are not the WAL's and were left alone.
    pub ignored_files: Vec<PathBuf>,
    /// First and last index of the recovered log.
    pub first_index: u64,
    /// Last index of the recovered log.
    pub last_index: u64,
    /// How long opening took.
    pub elapsed: Duration,
}

/// Counters of a running WAL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Segment files in the log.
    pub segments: usize,
    /// Batches in the in-memory index.
    pub indexed_batches: usize,
    /// Heap bytes held by the in-memory index (8 bytes per batch plus term runs).
    pub index_bytes: usize,
    /// Batches appended since open.
    pub appends: u64,
    /// Entries appended since open (an overwrite counts its entries again).
    pub entries_appended: u64,
    /// Bytes written since open.
    pub bytes_written: u64,
    /// `fdatasync` calls on segments since open (group commit makes this less than the number
    /// of synced appends).
    pub syncs: u64,
    /// Purged segments kept for reuse.
    pub recyclable: usize,
    /// True if the next segment's file (the spare) is prepared.
    pub spare_ready: bool,
    /// True while the spare is being prepared in the background: the WAL directory may change
    /// (a `.spare.tmp` file appears, then is renamed) although nothing is being appended.
    pub spare_preparing: bool,
    /// Cuts that had to wait for the spare to be prepared.
    pub spare_waits: u64,
    /// Total wait of those cuts, in microseconds.
    pub spare_wait_micros: u64,
    /// Spares whose zero-fill a waiting cut cut short: the rest was allocated with
    /// `fallocate` (the writer outpaced the fill; see `docs/DURABILITY.md` §5a).
    pub spare_hurried: u64,
}

/// A segmented, checksummed, fsync-aware write-ahead log for one raft group. `Send + Sync`: share
/// it with an `Arc`.
#[derive(Debug)]
pub struct Wal {
    pub(crate) dir: PathBuf,
    pub(crate) opts: WalOptions,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) cond: Condvar,
    pub(crate) purge_lock: Mutex<()>,
    pub(crate) report: RecoveryReport,
    pub(crate) salt_counter: AtomicU64,
    /// The next segment's file; dropped (its thread stopped) before the lock is released.
    pub(crate) spare: Spare,
    pub(crate) _lock: LockGuard,
}

impl Wal {
    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening found.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.report
    }

    pub(crate) fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the state, failing if the WAL is poisoned.
    pub(crate) fn live(&self) -> Result<MutexGuard<'_, Inner>> {
        let inner = self.lock_inner();
        match &inner.poisoned {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(inner),
        }
    }

    /// Records the first failure; every later call reports it.
    pub(crate) fn poison(&self, inner: &mut Inner, err: &Error) {
        if inner.poisoned.is_none() {
            log::error!("stele-wal {}: poisoned: {err}", self.dir.display());
            inner.poisoned = Some(err.to_string());
        }
        self.cond.notify_all();
    }

    /// True if `seg` is sealed but not yet synced, or its cut is not completed: it must stay
    /// (a purge stops at it).
    pub(crate) fn is_pending(inner: &Inner, seg: &Arc<Segment>) -> bool {
        inner.unsynced.iter().any(|s| Arc::ptr_eq(s, seg))
            || inner.unnamed.iter().any(|u| Arc::ptr_eq(&u.seg, seg))
    }

    /// The index of the first entry in the log.
    pub fn first_index(&self) -> Result<u64> {
        Ok(self.live()?.index.first_index())
    }

    /// The index of the last entry in the log (`first_index() - 1` when it is empty).
    pub fn last_index(&self) -> Result<u64> {
        Ok(self.live()?.index.last_index())
    }

    /// The term of entry `index`. Also answers for `first_index() - 1` when the log knows it
    /// (after a reset or compaction record, or a purge in this process).
    pub fn term(&self, index: u64) -> Result<u64> {
        let inner = self.live()?;
        if let Some(t) = inner.index.term(index) {
            return Ok(t);
        }
        let (first, last) = (inner.index.first_index(), inner.index.last_index());
        if index < first {
            Err(Error::Compacted { index, first })
        } else {
            Err(Error::Unavailable { index, last })
        }
    }

    /// The newest HardState, ConfState, snapshot markers and start point.
    pub fn state(&self) -> Result<LogState> {
        Ok(self.live()?.state.clone())
    }

    /// Whether the log can grow past its active segment.
    ///
    /// `Err(`[`Error::NoRoom`]`)` when preparing the next segment's file failed (the disk is
    /// full, say) and no recycled file is free: the active segment still takes appends into its
    /// preallocated space, but the cut after it would fail, so a caller should stop taking new
    /// writes (stele-raft rejects proposals) until this is `Ok` again. At most once per
    /// [`WalOptions::room_retry`] it asks for another attempt (inline or on the preparing
    /// thread, as [`WalOptions::background_prepare`] says), so room freed on the disk is
    /// noticed without a restart. `Err(`[`Error::Poisoned`]`)` if the WAL is poisoned.
    pub fn check_room(&self) -> Result<()> {
        let inner = self.live()?;
        if inner.recycle.iter().any(|r| r.old.strong_count() == 0) {
            return Ok(());
        }
        let seq = inner.next_seq;
        drop(inner);
        match self.spare.failure(seq, self.opts.room_retry) {
            Some(reason) => Err(Error::NoRoom { reason }),
            None => Ok(()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> WalStats {
        let inner = self.lock_inner();
        let (spare_waits, spare_waited, spare_hurried) = self.spare.waits();
        WalStats {
            segments: inner.index.segments().len(),
            indexed_batches: inner.index.batch_count(),
            index_bytes: inner.index.heap_bytes(),
            appends: inner.written,
            entries_appended: inner.entries_appended,
            bytes_written: inner.bytes_written,
            syncs: inner.syncs,
            recyclable: inner.recycle.len(),
            spare_ready: self.spare.is_ready(),
            spare_preparing: self.spare.is_preparing(),
            spare_waits,
            spare_wait_micros: spare_waited.as_micros() as u64,
            spare_hurried,
        }
    }

    /// A fresh salt for segment `seq`.
    pub(crate) fn new_salt(&self, seq: u64) -> u64 {
        let n = self.salt_counter.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "testing")]
        if let Some(seed) = self.opts.salt_seed {
            return splitmix(seed ^ seq.rotate_left(17));
        }
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(seq);
        h.write_u64(n);
        h.write_u32(std::process::id());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        h.write_u128(now.map(|d| d.as_nanos()).unwrap_or(0));
        h.finish()
    }
}

#[cfg(feature = "testing")]
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Drop for Wal {
    /// Completes pending cuts (syncing what they need), so a clean close leaves every segment
    /// under its own name; a failure is logged (the next open recovers from the disk).
    fn drop(&mut self) {
        if let Err(e) = self.complete_cuts() {
            log::warn!("stele-wal {}: closing: {e}", self.dir.display());
        }
    }
}
