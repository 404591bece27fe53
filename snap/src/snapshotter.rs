//! [`Snapshotter`]: a locked snapshot directory (see [`Shared`] for what opening does and the
//! invariants it keeps): save, list, load and remove snapshot files.
//!
//! Invariants while a `Snapshotter` (or a writer it made) is alive:
//! - a name `{term:016x}-{index:016x}.snap` only ever appears, durably or not, for a complete,
//!   synced file (saves rename into place after `fsync`), so every such file that fails
//!   verification was damaged after it was written;
//! - a snapshot file is removed only when the caller names it ([`Snapshotter::remove`]): which
//!   snapshots may go depends on the log (the snapshot it serves, its markers), which this crate
//!   does not know;
//! - `.broken` files and files with names this crate does not know are never touched.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stele_wal::SnapshotMarker;

use crate::error::{Error, Result};
use crate::name::SnapshotId;
use crate::options::SnapOptions;
use crate::shared::Shared;
use crate::writer::SnapshotWriter;

/// An open snapshot directory: save, list, load and remove snapshot files.
///
/// Cheap to share by reference across threads; every method takes `&self`.
#[derive(Debug)]
pub struct Snapshotter {
    pub(crate) shared: Arc<Shared>,
}

impl Snapshotter {
    /// Opens (creating if needed) the snapshot directory `dir` and locks it. Temporary files left
    /// by an interrupted save are removed, durably.
    pub fn open(dir: impl AsRef<Path>, opts: SnapOptions) -> Result<Snapshotter> {
        let shared = Shared::open(dir.as_ref(), opts)?;
        Ok(Snapshotter {
            shared: Arc::new(shared),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options the directory was opened with (`write_buffer` at least 1).
    pub fn options(&self) -> &SnapOptions {
        &self.shared.opts
    }

    /// The snapshots in the directory by name, newest (highest index, then term) first. Nothing
    /// is read or verified; loading does that.
    pub fn list(&self) -> Result<Vec<SnapshotId>> {
        let dir = &self.shared.dir;
        let names = self
            .shared
            .fs()
            .list(dir)
            .map_err(|e| Error::io("list", dir, e))?;
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
    pub fn writer(&self, meta: SnapshotMarker) -> Result<SnapshotWriter> {
        SnapshotWriter::create(Arc::clone(&self.shared), meta)
    }

    /// Saves a snapshot whose data is in memory.
    pub fn save_bytes(&self, meta: &SnapshotMarker, data: &[u8]) -> Result<SnapshotId> {
        let mut w = self.writer(meta.clone())?;
        w.write_data(data)?;
        w.finish()
    }

    /// Saves a snapshot whose data is read from `src` to its end, streaming.
    pub fn save_from(&self, meta: &SnapshotMarker, src: &mut dyn Read) -> Result<SnapshotId> {
        let mut w = self.writer(meta.clone())?;
        w.copy_from(src)?;
        w.finish()
    }

    /// Removes one snapshot file, durably (the directory is fsynced before this returns). The
    /// caller chooses what goes: stele-storage keeps the snapshot it serves and the newest ones
    /// its log has markers for, removing the others oldest first, so a crash between two
    /// removals never leaves a hole.
    pub fn remove(&self, id: SnapshotId) -> Result<()> {
        let path = self.path_of(id);
        self.shared
            .fs()
            .remove(&path)
            .map_err(|e| Error::io("remove", &path, e))?;
        self.shared.sync_dir()?;
        log::info!("stele-snap: removed {}", path.display());
        Ok(())
    }
}
