//! Purging: keeping the newest N snapshots and removing the older ones durably.
//!
//! Removal goes oldest first, one file at a time, each removal made durable by a directory fsync
//! before the next. So after a crash at any point the snapshots left are the newest K for some K
//! between N and the number before the purge: never a hole, never fewer than N. Temporary,
//! `.broken` and unknown files are not touched.
//!
//! Purging counts snapshots by name without verifying them; call it after a save succeeded (the
//! new snapshot is then known good) and after the WAL holds that snapshot's marker, so the log
//! never depends on a snapshot that is gone.

use crate::error::{io_err, Result};
use crate::name::SnapshotId;
use crate::snapshotter::Snapshotter;

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// The snapshots removed, oldest first.
    pub removed: Vec<SnapshotId>,
    /// How many snapshots remain.
    pub kept: usize,
}

impl Snapshotter {
    /// Keeps the newest [`keep`](crate::SnapOptions::keep) snapshots and removes the rest.
    pub fn purge(&self) -> Result<Purged> {
        self.purge_keep(self.shared.opts.keep)
    }

    /// Keeps the newest `keep` snapshots (at least 1) and removes the rest, oldest first, each
    /// removal made durable before the next.
    pub fn purge_keep(&self, keep: usize) -> Result<Purged> {
        let ids = self.list()?;
        let keep = keep.max(1);
        let mut purged = Purged {
            removed: Vec::new(),
            kept: ids.len().min(keep),
        };
        for &id in ids.iter().skip(keep).rev() {
            self.remove(id)?;
            purged.removed.push(id);
        }
        Ok(purged)
    }

    /// Removes one snapshot file, durably (directory fsync before returning), for callers that
    /// choose what to keep themselves (stele-storage keeps the snapshots its log has markers for).
    pub fn remove(&self, id: SnapshotId) -> Result<()> {
        let path = self.path_of(id);
        self.shared
            .fs()
            .remove(&path)
            .map_err(io_err("remove", &path))?;
        self.shared.sync_dir()?;
        log::info!("stele-snap: purged {}", path.display());
        Ok(())
    }
}
