//! Removing old snapshot files: the policy is the log's, not the file names'.
//!
//! A crash between a snapshot file becoming durable and its WAL marker leaves an *orphan*: a
//! file newer by name than the snapshot the log agrees with, which opening never serves. Keeping
//! "the newest N by name" could then delete the snapshot being served. So: the served snapshot
//! is never removed, nor is any file newer than it (it may be a save in flight); of the others,
//! the newest `keep_snapshots - 1` the WAL has markers for stay, and the rest (orphans included)
//! go, oldest first, each removal durable before the next (`Snapshotter::remove`). This is the
//! only snapshot removal policy in stele: `stele-snap` has none of its own.

use stele_snap::SnapshotId;

use crate::disk::DiskStorage;
use crate::error::Result;

impl DiskStorage {
    /// Removes snapshot files the log no longer needs (see the module docs).
    pub(crate) fn purge_snapshots(&self) -> Result<()> {
        let served = self.snapshot_metadata();
        let served = SnapshotId::new(served.index, served.term);
        let markers = self.core.wal.state()?.markers;
        let agreed = |id: SnapshotId| {
            markers
                .iter()
                .any(|m| m.index == id.index && m.term == id.term)
        };
        let keep = self.core.keep_snapshots;
        let mut kept = 0;
        let mut victims = Vec::new();
        for id in self.core.snaps.list()? {
            if id == served {
                kept += 1;
            } else if id.index > served.index || (id.index == served.index && id.term > served.term)
            {
                // Newer than what the log serves: a save in flight, or an orphan that a later
                // purge removes once a newer snapshot is served.
            } else if agreed(id) && kept < keep {
                kept += 1;
            } else {
                victims.push(id);
            }
        }
        for id in victims.into_iter().rev() {
            self.core.snaps.remove(id)?;
        }
        Ok(())
    }
}
