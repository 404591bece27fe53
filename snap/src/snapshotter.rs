//! [`Snapshotter`]: a locked snapshot directory. Opening it removes the temporary files a crash
//! left behind; listing it parses names strictly.
//!
//! Invariants while a `Snapshotter` (or a writer it made) is alive:
//! - the directory is locked (`snap.lock`), so no other opener removes a temporary file that a
//!   writer of ours is still filling;
//! - a name `{term:016x}-{index:016x}.snap` only ever appears, durably or not, for a complete,
//!   synced file (saves rename into place after `fsync`), so every such file that fails
//!   verification was damaged after it was written;
//! - `.broken` files and files with names this crate does not know are never touched.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stele_wal::fs::{FileSystem, LockGuard};

use crate::error::{io_err, Error, Result};
use crate::meta::SnapshotMetadata;
use crate::name::{is_temp_name, SnapshotId, LOCK_NAME};
use crate::options::SnapOptions;
use crate::writer::SnapshotWriter;

/// State shared by a [`Snapshotter`] and the writers it hands out (which keep the lock alive).
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub opts: SnapOptions,
    next_temp: AtomicU64,
    _lock: LockGuard,
}

impl Shared {
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
            .map_err(io_err("sync_dir", &self.dir))
    }
}

/// An open snapshot directory: save, list, load and purge snapshot files.
///
/// Cheap to share by reference across threads; every method takes `&self`.
#[derive(Debug)]
pub struct Snapshotter {
    pub(crate) shared: Arc<Shared>,
}

impl Snapshotter {
    /// Opens (creating if needed) the snapshot directory `dir` and locks it. Temporary files left
    /// by an interrupted save are removed, durably.
    pub fn open(dir: impl AsRef<Path>, mut opts: SnapOptions) -> Result<Snapshotter> {
        let dir = dir.as_ref().to_path_buf();
        opts.keep = opts.keep.max(1);
        opts.write_buffer = opts.write_buffer.max(1);
        let fs = Arc::clone(&opts.fs);
        fs.create_dir_all(&dir)
            .map_err(io_err("create_dir", &dir))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // A directory we may just have created must survive a crash with its files.
            fs.sync_dir(parent).map_err(io_err("sync_dir", parent))?;
        }
        let lock = take_lock(&*fs, &dir)?;
        let shared = Shared {
            dir,
            opts,
            next_temp: AtomicU64::new(0),
            _lock: lock,
        };
        remove_temp_files(&shared)?;
        Ok(Snapshotter {
            shared: Arc::new(shared),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options the directory was opened with (`keep` and `write_buffer` at least 1).
    pub fn options(&self) -> &SnapOptions {
        &self.shared.opts
    }

    /// The snapshots in the directory by name, newest (highest index, then term) first. Nothing
    /// is read or verified; loading does that.
    pub fn list(&self) -> Result<Vec<SnapshotId>> {
        let dir = &self.shared.dir;
        let names = self.shared.fs().list(dir).map_err(io_err("list", dir))?;
        let mut ids: Vec<SnapshotId> = names
            .iter()
            .filter_map(|n| SnapshotId::from_file_name(n))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }

    /// The path of a snapshot's file (which may not exist).
    pub fn path_of(&self, id: SnapshotId) -> PathBuf {
        self.shared.dir.join(id.file_name())
    }

    /// Starts saving a snapshot: write its data into the returned writer, then call
    /// [`SnapshotWriter::finish`]. Until `finish` returns `Ok`, the directory's set of
    /// snapshots is unchanged, whatever happens.
    pub fn writer(&self, meta: SnapshotMetadata) -> Result<SnapshotWriter> {
        SnapshotWriter::create(Arc::clone(&self.shared), meta)
    }

    /// Saves a snapshot whose data is in memory. `stele-storage` wraps this (and
    /// [`writer`](Self::writer)) to save a `raft::eraftpb::Snapshot`: its metadata converts
    /// field for field into [`SnapshotMetadata`] and its `data` is the data.
    pub fn save_bytes(&self, meta: &SnapshotMetadata, data: &[u8]) -> Result<SnapshotId> {
        let mut w = self.writer(meta.clone())?;
        w.write_data(data)?;
        w.finish()
    }

    /// Saves a snapshot whose data is read from `src` to its end, streaming.
    pub fn save_from(&self, meta: &SnapshotMetadata, src: &mut dyn Read) -> Result<SnapshotId> {
        let mut w = self.writer(meta.clone())?;
        w.copy_from(src)?;
        w.finish()
    }
}

fn take_lock(fs: &dyn FileSystem, dir: &Path) -> Result<LockGuard> {
    let path = dir.join(LOCK_NAME);
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { path: path.clone() },
        _ => Error::io("lock", &path, e),
    })
}

/// Removes `*.snap.<n>.tmp` files, then fsyncs the directory if it removed any, so that a crash
/// cannot bring them back (harmless, but they would cost space until the next open).
fn remove_temp_files(shared: &Shared) -> Result<()> {
    let dir = &shared.dir;
    let fs = shared.fs();
    let mut removed = false;
    for name in fs.list(dir).map_err(io_err("list", dir))? {
        if is_temp_name(&name) {
            let path = dir.join(&name);
            fs.remove(&path).map_err(io_err("remove", &path))?;
            log::info!(
                "stele-snap: removed {} (left by an interrupted save)",
                path.display()
            );
            removed = true;
        }
    }
    if removed {
        shared.sync_dir()?;
    }
    Ok(())
}
