//! [`Shared`]: an open, locked snapshot directory, the state a [`Snapshotter`](crate::Snapshotter)
//! and the writers it hands out have in common.
//!
//! This module is a leaf of the crate's module graph: the snapshotter and the writer both
//! depend on it, it depends on neither, so dependencies inside the crate flow one way.
//!
//! Invariants while a `Shared` is alive:
//! - the directory is locked (`snap.lock`), so no other opener removes a temporary file that a
//!   writer of ours is still filling (each writer holds an `Arc<Shared>`, so the lock outlives
//!   the snapshotter if a writer does);
//! - the temporary files a crash left behind were removed, durably, when it was opened;
//! - the options are normalised: `write_buffer` is at least 1.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stele_wal::fs::{FileSystem, LockGuard};

use crate::error::{Error, Result};
use crate::name::{is_temp_name, LOCK_NAME};
use crate::options::SnapOptions;

/// An open, locked snapshot directory.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub opts: SnapOptions,
    next_temp: AtomicU64,
    _lock: LockGuard,
}

impl Shared {
    /// Opens (creating if needed) `dir`, makes its creation durable, locks it and removes the
    /// temporary files of interrupted saves.
    pub fn open(dir: &Path, mut opts: SnapOptions) -> Result<Shared> {
        let dir = dir.to_path_buf();
        opts.write_buffer = opts.write_buffer.max(1);
        let fs = Arc::clone(&opts.fs);
        fs.create_dir_all(&dir)
            .map_err(|e| Error::io("create_dir", &dir, e))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // A directory we may just have created must survive a crash with its files.
            fs.sync_dir(parent)
                .map_err(|e| Error::io("sync_dir", parent, e))?;
        }
        let lock = take_lock(&*fs, &dir)?;
        let shared = Shared {
            dir,
            opts,
            next_temp: AtomicU64::new(0),
            _lock: lock,
        };
        shared.remove_temp_files()?;
        Ok(shared)
    }

    pub fn fs(&self) -> &dyn FileSystem {
        &*self.opts.fs
    }

    /// A fresh temporary-file number (unique within this open directory).
    pub fn next_temp(&self) -> u64 {
        self.next_temp.fetch_add(1, Ordering::Relaxed)
    }

    pub fn sync_dir(&self) -> Result<()> {
        self.fs()
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("sync_dir", &self.dir, e))
    }

    /// Removes `*.snap.<n>.tmp` files, then fsyncs the directory if it removed any, so that a
    /// crash cannot bring them back (harmless, but they would cost space until the next open).
    fn remove_temp_files(&self) -> Result<()> {
        let dir = &self.dir;
        let fs = self.fs();
        let mut removed = false;
        for name in fs.list(dir).map_err(|e| Error::io("list", dir, e))? {
            if is_temp_name(&name) {
                let path = dir.join(&name);
                fs.remove(&path)
                    .map_err(|e| Error::io("remove", &path, e))?;
                log::info!(
                    "stele-snap: removed {} (left by an interrupted save)",
                    path.display()
                );
                removed = true;
            }
        }
        if removed {
            self.sync_dir()?;
        }
        Ok(())
    }
}

fn take_lock(fs: &dyn FileSystem, dir: &Path) -> Result<LockGuard> {
    let path = dir.join(LOCK_NAME);
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { path: path.clone() },
        _ => Error::io("lock", &path, e),
    })
}
