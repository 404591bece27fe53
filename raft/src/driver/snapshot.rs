//! The snapshot and compaction policy, and the stream from the state machine to the snapshot
//! file.
//!
//! Policy: a snapshot is taken at the applied index when `snapshot_interval` entries were
//! applied since the newest one, when raft asked the storage for a snapshot it did not have
//! (`snapshot_wanted`), or when the newest snapshot cannot serve a peer (it predates the peer's
//! membership). After each snapshot the log is compacted to `snapshot index -
//! compaction_tail`; the storage then purges WAL segments and snapshot files behind it.
//!
//! A machine that offers a [`SnapshotSource`](crate::SnapshotSource) is snapshotted in the
//! background: the source (a point-in-time copy) is taken on the node thread and written by a
//! thread of its own while the node goes on; the node compacts when it learns the snapshot is
//! durable. One snapshot at a time; a received snapshot is installed, and the node stops, only
//! after the one being written has ended. Otherwise the machine writes on the node thread.
//!
//! Either way the machine writes straight into the snapshot file (buffered, streamed: the
//! snapshot never has to fit in memory). A writer that fails or unwinds leaves no snapshot: the
//! file is completed only after the machine returned `Ok`. A snapshot file that cannot be
//! written (ENOSPC) is not fatal either: nothing was saved, the WAL is untouched, the failure
//! is counted (`Status::snapshot_failures`) and the snapshot retried `snapshot_interval`
//! entries later. A failure of the WAL marker that publishes a written file stops the node.

use std::io::{self, Write};
use std::thread::JoinHandle;

use raft::eraftpb::{ConfState, SnapshotMetadata};
use raft::Storage as _;
use stele_storage::DiskStorage;

use super::Driver;
use crate::error::{Error, Result};
use crate::types::Command;

/// A snapshot being written on a thread of its own.
pub(super) struct Background {
    index: u64,
    thread: JoinHandle<Written>,
}

/// How writing a snapshot ended.
enum Written {
    /// The file and its WAL marker are durable.
    Saved(SnapshotMetadata),
    /// The state machine could not write (not the storage's fault: try again later).
    MachineFailed(io::Error),
    /// The snapshot file could not be written (the disk full, say). Nothing was saved (the
    /// temporary file is removed) and the WAL is untouched: try again later.
    FileFailed(stele_storage::Error),
    /// The storage failed: the node stops.
    StorageFailed(Error),
}

impl Driver {
    /// Takes a snapshot and compacts if the policy says so.
    pub(super) fn maybe_snapshot(&mut self) -> Result<()> {
        if self
            .snapshot_job
            .as_ref()
            .is_some_and(|b| b.thread.is_finished())
        {
            self.wait_snapshot()?;
        }
        if self.snapshot_job.is_some()
            || self.applied <= self.snapshot_index
            || self.applied < self.snapshot_retry_at
        {
            return Ok(());
        }
        let interval = self.cfg.snapshot_interval;
        let periodic = interval > 0 && self.applied >= self.snapshot_index + interval;
        let wanted = self.storage.snapshot_wanted();
        let wanted = wanted > self.snapshot_index && self.applied >= wanted;
        if periodic || wanted || self.snapshot_needed {
            self.snapshot_needed = false;
            self.create_snapshot()?;
        }
        Ok(())
    }

    fn create_snapshot(&mut self) -> Result<()> {
        let (index, cs) = (self.applied, self.conf_state.clone());
        let storage = self.storage.clone();
        let Some(source) = self.sm.snapshot_source() else {
            let sm = &mut self.sm;
            let written = write_snapshot(&storage, index, &cs, |w| sm.snapshot(w));
            return self.snapshot_written(index, written);
        };
        let wake = self.wake.clone();
        let thread = std::thread::Builder::new()
            .name(format!("stele-snap-{}", self.cfg.id))
            .spawn(move || {
                let written = write_snapshot(&storage, index, &cs, source);
                let _ = wake.send(Command::SnapshotWritten);
                written
            })?;
        self.snapshot_job = Some(Background { index, thread });
        Ok(())
    }

    /// Waits for the snapshot being written, if any, and takes its outcome.
    pub(super) fn wait_snapshot(&mut self) -> Result<()> {
        let Some(job) = self.snapshot_job.take() else {
            return Ok(());
        };
        let written = job.thread.join().map_err(|_| Error::Panicked)?;
        self.snapshot_written(job.index, written)
    }

    /// Takes a snapshot's outcome: on success it is what the node serves, and the log is
    /// compacted behind it.
    fn snapshot_written(&mut self, index: u64, written: Written) -> Result<()> {
        let meta = match written {
            Written::Saved(meta) => meta,
            Written::StorageFailed(e) => return Err(e),
            Written::MachineFailed(e) => {
                log::warn!(
                    "stele-raft node {}: state machine snapshot failed: {e}",
                    self.cfg.id
                );
                self.snapshot_failures += 1;
                self.snapshot_retry_at = index + self.cfg.snapshot_interval.max(1);
                return Ok(());
            }
            Written::FileFailed(e) => {
                let e = crate::ErrorChain(&e);
                log::warn!(
                    "stele-raft node {}: snapshot at {index} not written: {e}",
                    self.cfg.id
                );
                self.snapshot_failures += 1;
                self.snapshot_retry_at = index + self.cfg.snapshot_interval.max(1);
                return Ok(());
            }
        };
        self.snapshot_index = self.snapshot_index.max(meta.index);
        self.snapshots_created += 1;
        let compact_to = meta
            .index
            .min(self.storage.snapshot_metadata().index)
            .saturating_sub(self.cfg.compaction_tail);
        if compact_to >= self.storage.first_index()? {
            self.storage.compact(compact_to)?;
        }
        log::info!(
            "stele-raft node {}: snapshot at {} (term {}), log compacted to {compact_to}",
            self.cfg.id,
            meta.index,
            meta.term
        );
        Ok(())
    }
}

/// Writes what `write` produces straight into a new snapshot file at `index`.
fn write_snapshot(
    storage: &DiskStorage,
    index: u64,
    cs: &ConfState,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Written {
    match storage.create_snapshot_with(index, cs, write) {
        Ok(meta) => Written::Saved(meta),
        Err(stele_storage::Error::SnapshotData(e)) => Written::MachineFailed(e),
        Err(e @ stele_storage::Error::Snap(_)) => Written::FileFailed(e),
        Err(e) => Written::StorageFailed(e.into()),
    }
}
