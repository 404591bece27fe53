//! Loading: the newest valid snapshot, optionally restricted to the ones the caller accepts.
//!
//! Snapshots are tried newest first (highest index, then term). Each is verified completely
//! before it is returned (`verify.rs`). A file that fails verification is *quarantined*: renamed
//! to `<name>.broken` (or `<name>.broken.<n>` if that exists), the rename made durable with a
//! directory fsync, and a warning logged; loading then moves on to the next older snapshot.
//! Renaming, not removing, keeps the bytes for a post-mortem and makes the decision stick: a
//! damaged file is judged once. An I/O error is not damage: it stops the load and leaves the
//! file alone.
//!
//! [`Snapshotter::metadata_of`] reads only a file's frame and metadata (for checks that need
//! every file's configuration but not its data); it quarantines nothing.

use std::path::PathBuf;

use stele_wal::SnapshotMarker;

use crate::error::{Error, Result};
use crate::file::SnapshotFile;
use crate::name::{SnapshotId, BROKEN_SUFFIX};
use crate::snapshotter::Snapshotter;
use crate::verify::{decode_metadata, open_verified, read_frame, verify_paced, Verified};

impl Snapshotter {
    /// Loads snapshot `id` after verifying it. A damaged file is quarantined (see the module
    /// docs) and its damage returned.
    pub fn load(&self, id: SnapshotId) -> Result<SnapshotFile> {
        let path = self.path_of(id);
        match open_verified(self.shared.fs(), &path, id, self.shared.opts.use_mmap) {
            Err(e) if e.is_damage() => {
                self.quarantine(id, &e)?;
                Err(e)
            }
            other => other,
        }
    }

    /// The metadata of snapshot `id`, after checking the file's header, trailer and metadata
    /// (the lengths add up, the metadata decodes and matches the name) but not its data: cheap
    /// whatever the data size. Nothing is quarantined; a damaged frame is returned as damage.
    pub fn metadata_of(&self, id: SnapshotId) -> Result<SnapshotMarker> {
        let path = self.path_of(id);
        let frame = read_frame(self.shared.fs(), &path)?;
        decode_metadata(&path, &frame.meta_bytes, id)
    }

    /// Verifies snapshot `id` completely, as a load would (every byte's checksum, the metadata
    /// against the name), for scrubbing: the data is streamed in 1 MiB positional reads (no
    /// memory map, so a scrub does not pin the file in memory), `pace` is called with the
    /// bytes of each read (return false to stop), and a damaged file is returned as damage,
    /// not quarantined: the caller decides. A file removed meanwhile is [`Verified::Gone`].
    pub fn verify_paced(
        &self,
        id: SnapshotId,
        pace: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Verified> {
        verify_paced(self.shared.fs(), &self.path_of(id), id, pace)
    }

    /// Loads the newest valid snapshot; [`Error::NoSnapshot`] if there is none.
    pub fn load_newest(&self) -> Result<SnapshotFile> {
        self.load_newest_where(|_| true)
    }

    /// Loads the newest valid snapshot whose index is at most `max_index` (for example the
    /// HardState's commit index, or the newest snapshot marker the WAL holds).
    pub fn load_newest_at_or_below(&self, max_index: u64) -> Result<SnapshotFile> {
        self.load_newest_where(|id| id.index <= max_index)
    }

    /// Loads the newest valid snapshot among those `accept` approves: for example the ones the
    /// WAL has snapshot markers for, `|id| markers.contains(&(id.index, id.term))`, so the
    /// snapshot chosen is one the log agrees with. Snapshots `accept` rejects are not read.
    pub fn load_newest_where(
        &self,
        mut accept: impl FnMut(SnapshotId) -> bool,
    ) -> Result<SnapshotFile> {
        for id in self.list()? {
            if !accept(id) {
                continue;
            }
            match self.load(id) {
                Ok(snap) => return Ok(snap),
                Err(e) if e.is_damage() => continue,
                // Purged (or quarantined) by another thread since the listing.
                Err(Error::Io {
                    op: "open", source, ..
                }) if source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoSnapshot {
            dir: self.dir().to_path_buf(),
        })
    }

    /// Renames a damaged snapshot file out of the way, durably.
    fn quarantine(&self, id: SnapshotId, damage: &Error) -> Result<PathBuf> {
        let from = self.path_of(id);
        let to = self.dir().join(self.free_broken_name(id)?);
        self.shared
            .fs()
            .rename(&from, &to)
            .map_err(|e| Error::io("rename", &from, e))?;
        self.shared.sync_dir()?;
        log::warn!(
            "stele-snap: {damage}; renamed to {} and skipped",
            to.display()
        );
        Ok(to)
    }

    /// `<name>.broken`, or `<name>.broken.<n>` with the smallest free `n`: never overwrite the
    /// evidence of an earlier failure.
    fn free_broken_name(&self, id: SnapshotId) -> Result<String> {
        let dir = self.dir();
        let names = self
            .shared
            .fs()
            .list(dir)
            .map_err(|e| Error::io("list", dir, e))?;
        let base = format!("{}{BROKEN_SUFFIX}", id.file_name());
        let mut candidate = base.clone();
        let mut n = 0u64;
        while names.contains(&candidate) {
            n += 1;
            candidate = format!("{base}.{n}");
        }
        Ok(candidate)
    }
}
