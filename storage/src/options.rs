//! [`StorageOptions`]: where and how `DiskStorage` keeps its files and cache.

use stele_snap::SnapOptions;
use stele_wal::WalOptions;

/// How many snapshot files are kept by default (the served one included).
pub const DEFAULT_KEEP_SNAPSHOTS: usize = 5;

/// Options of [`DiskStorage::open`](crate::DiskStorage::open).
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Byte limit of the cache of recent entries (default 64 MiB). Older entries are read from
    /// the WAL.
    pub cache_bytes: usize,
    /// Options of the WAL in `<dir>/wal`.
    pub wal: WalOptions,
    /// Options of the snapshot files in `<dir>/snap` (file system, buffering, maps).
    pub snap: SnapOptions,
    /// How many snapshot files to keep, the served one included (default 5; at least 1). The
    /// others the WAL has markers for are the newest older ones; see `purge.rs`.
    pub keep_snapshots: usize,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            cache_bytes: 64 << 20,
            wal: WalOptions::default(),
            snap: SnapOptions::default(),
            keep_snapshots: DEFAULT_KEEP_SNAPSHOTS,
        }
    }
}

impl StorageOptions {
    /// Options whose WAL and snapshots both use the file system `fs` (tests pass a `SimFs`),
    /// with the WAL's next segment prepared on the appending thread
    /// ([`background_prepare`](stele_wal::WalOptions::background_prepare) off): the order of
    /// file-system calls then depends only on the calls made, which a simulated disk that
    /// crashes or fails at its n-th call needs.
    pub fn with_fs(fs: stele_wal::fs::DynFs) -> Self {
        let mut o = Self::default();
        o.wal.background_prepare = false;
        o.wal.fs = fs.clone();
        o.snap.fs = fs;
        o
    }
}
