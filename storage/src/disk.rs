//! [`DiskStorage`]: the handle, its shared state, and recovery on open.
//!
//! Layout: `<dir>/wal` (the write-ahead log) and `<dir>/snap` (snapshot files).
//!
//! Invariants:
//! - the WAL is the source of truth for entries, HardState, ConfState and where the log starts:
//!   `first_index() - 1` is the WAL's last reset or compaction point, and `term(first_index() - 1)`
//!   is answered from it;
//! - the snapshot that can be served is the newest snapshot file the WAL has a marker for; the log
//!   is never compacted beyond it; on open, the log and the snapshot files are checked to agree
//!   (`recover.rs`, with the rules of `agreement.rs`);
//! - the cache and the in-memory HardState/ConfState change only together with the WAL, under
//!   the state lock, so raft's reads see one consistent log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use raft::eraftpb::{ConfState, HardState, SnapshotMetadata};
use stele_snap::Snapshotter;
use stele_wal::Wal;

use crate::cache::EntryCache;
use crate::convert::{conf_state_from_wal, hard_state_from_wal};
use crate::error::Result;
use crate::options::StorageOptions;
use crate::recover::served_snapshot;

/// What the storage keeps in memory besides the WAL's own index.
#[derive(Debug)]
pub(crate) struct State {
    pub hard_state: HardState,
    pub conf_state: ConfState,
    /// The newest snapshot that can be served (index 0: none).
    pub snapshot: SnapshotMetadata,
    pub cache: EntryCache,
}

#[derive(Debug)]
pub(crate) struct Core {
    pub dir: PathBuf,
    pub wal: Wal,
    pub snaps: Snapshotter,
    pub state: RwLock<State>,
    pub report: OpenReport,
    /// How many snapshot files to keep (at least 1).
    pub keep_snapshots: usize,
    /// The highest index raft asked a snapshot for that could not be served yet (0: none).
    pub snapshot_wanted: AtomicU64,
    /// The first error handed to raft as fatal (`StorageError::Other`), kept for the owner:
    /// raft panics on it and the panic's text is all raft keeps.
    pub failure: Mutex<Option<Arc<crate::Error>>>,
    /// The batch buffer of the last append, kept for the next one (see `write.rs`).
    pub spare_batch: Mutex<Option<stele_wal::Batch>>,
}

/// What [`DiskStorage::open`] recovered.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Index and term of the snapshot loaded (0, 0: none).
    pub snapshot: (u64, u64),
    /// First and last index of the log.
    pub entries: (u64, u64),
    /// The durable HardState (term, vote, commit).
    pub hard_state: (u64, u64, u64),
    /// Segments found and whether a torn tail was truncated.
    pub wal: stele_wal::RecoveryReport,
    /// How long opening took.
    pub elapsed: Duration,
}

/// A persistent `raft::Storage`: a drop-in replacement for raft-rs's `MemStorage`.
///
/// Clone it freely: clones share one storage, so a driver can write through one handle while
/// raft reads through another (`RawNode::store()`).
#[derive(Debug, Clone)]
pub struct DiskStorage {
    pub(crate) core: Arc<Core>,
}

impl DiskStorage {
    /// Opens (creating if needed) the storage in `dir`: replays the WAL, loads the newest
    /// snapshot the WAL has a marker for, and checks that the log and the snapshot files agree
    /// (raft's restart invariant `first_index - 1 <= commit <= last_index`, the log covered by
    /// the snapshot, each marked snapshot's ConfState and term; see [`check_agreement`]),
    /// reporting a violation as [`Error::Disagreement`] naming the file instead of letting raft
    /// panic later.
    ///
    /// [`check_agreement`]: crate::check_agreement
    /// [`Error::Disagreement`]: crate::Error::Disagreement
    pub fn open(dir: impl AsRef<Path>, opts: StorageOptions) -> Result<DiskStorage> {
        let t0 = Instant::now();
        let dir = dir.as_ref().to_path_buf();
        let wal = Wal::open(dir.join("wal"), opts.wal.clone())?;
        let snaps = Snapshotter::open(dir.join("snap"), opts.snap.clone())?;
        let log_state = wal.state()?;
        let hard_state = log_state
            .hard_state
            .as_ref()
            .map(hard_state_from_wal)
            .unwrap_or_default();
        let conf_state = log_state
            .conf_state
            .as_ref()
            .map(conf_state_from_wal)
            .unwrap_or_default();
        let snapshot = served_snapshot(&dir.join("wal"), &wal, &snaps, &log_state)?;
        let (first, last) = (wal.first_index()?, wal.last_index()?);
        let report = OpenReport {
            snapshot: (snapshot.index, snapshot.term),
            entries: (first, last),
            hard_state: (hard_state.term, hard_state.vote, hard_state.commit),
            wal: wal.recovery().clone(),
            elapsed: t0.elapsed(),
        };
        log::info!(
            "stele-storage {}: recovered snapshot {:?}, entries {first}..={last}, hard state {:?} in {:?}",
            dir.display(),
            report.snapshot,
            report.hard_state,
            report.elapsed
        );
        let state = State {
            hard_state,
            conf_state,
            snapshot,
            cache: EntryCache::new(opts.cache_bytes),
        };
        let core = Core {
            dir,
            wal,
            snaps,
            state: RwLock::new(state),
            report,
            keep_snapshots: opts.keep_snapshots.max(1),
            snapshot_wanted: AtomicU64::new(0),
            failure: Mutex::new(None),
            spare_batch: Mutex::new(None),
        };
        Ok(DiskStorage {
            core: Arc::new(core),
        })
    }

    /// What opening recovered.
    pub fn recovery(&self) -> &OpenReport {
        &self.core.report
    }

    /// The storage directory.
    pub fn dir(&self) -> &Path {
        &self.core.dir
    }

    /// The underlying WAL (for stats and inspection).
    pub fn wal(&self) -> &Wal {
        &self.core.wal
    }

    /// The current HardState (as raft last asked to store it).
    pub fn hard_state(&self) -> HardState {
        self.read_state().hard_state.clone()
    }

    /// The current ConfState.
    pub fn conf_state(&self) -> ConfState {
        self.read_state().conf_state.clone()
    }

    /// Metadata of the newest snapshot that can be served (index 0: none).
    pub fn snapshot_metadata(&self) -> SnapshotMetadata {
        self.read_state().snapshot.clone()
    }

    /// The first error this storage answered one of raft's `Storage` calls with that raft
    /// treats as fatal (damage found on a read, a poisoned WAL): raft panics on such an error
    /// and keeps only its text, so the driver that catches the panic reports this instead.
    /// `None` while every answer was one raft tolerates.
    pub fn failure(&self) -> Option<Arc<crate::Error>> {
        self.core
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The highest index raft asked a snapshot for that could not be served yet (0: none): a
    /// hint for the driver to create a snapshot.
    pub fn snapshot_wanted(&self) -> u64 {
        self.core.snapshot_wanted.load(Ordering::Acquire)
    }

    /// Bytes held by the entry cache.
    pub fn cache_bytes(&self) -> u64 {
        self.read_state().cache.bytes()
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.core.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.core.state.write().unwrap_or_else(|e| e.into_inner())
    }
}
