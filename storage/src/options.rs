//! [`StorageOptions`]: where and how `DiskStorage` keeps its files and cache.

use stele_snap::SnapOptions;
use stele_wal::WalOptions;

/// Options of [`DiskStorage::open`](crate::DiskStorage::open).
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Byte limit of the cache of recent entries (default 64 MiB). Older entries are read from
    /// the WAL.
    pub cache_bytes: usize,
    /// Options of the WAL in `<dir>/wal`.
    pub wal: WalOptions,
    /// Options of the snapshot files in `<dir>/snap` (how many to keep, file system).
    pub snap: SnapOptions,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            cache_bytes: 64 << 20,
            wal: WalOptions::default(),
            snap: SnapOptions::default(),
        }
    }
}

impl StorageOptions {
    /// Options whose WAL and snapshots both use the file system `fs` (tests pass a `SimFs`).
    pub fn with_fs(fs: stele_wal::fs::DynFs) -> Self {
        let mut o = Self::default();
        o.wal.fs = fs.clone();
        o.snap.fs = fs;
        o
    }
}
