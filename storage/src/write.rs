//! The write API a Ready loop needs: append, hard and conf state, snapshot install and
//! creation, compaction, sync.
//!
//! Each write goes to the WAL (unsynced) and updates memory under the state lock, so raft's
//! reads see it at once; durability comes from `sync` (or the `sync` flag), after the lock is
//! released, so raft's reads never wait for an fsync. Crash order of each protocol is in
//! `docs/DURABILITY.md` §10.

use std::io::{Read, Write};

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use stele_wal::Batch;

use crate::convert::{conf_state_to_wal, hard_state_to_wal, marker_from_raft};
use crate::disk::DiskStorage;
use crate::error::{Error, Result};

/// The largest batch buffer kept for the next append: a rare huge append does not pin its
/// buffer for the life of the storage.
const KEEP_BATCH_BUFFER: usize = 8 << 20;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DiskStorage {
    /// Appends `entries` and `hs` (one raft `Ready`) as one atomic batch. A first entry at or
    /// below the last index overwrites the log from there (the raft conflict rule). The entries
    /// are readable through `raft::Storage` when this returns; with `sync` they are also durable.
    pub fn append(&self, entries: &[Entry], hs: Option<&HardState>, sync: bool) -> Result<()> {
        if entries.is_empty() && hs.is_none() {
            return match sync {
                true => self.sync().map(|_| ()),
                false => Ok(()),
            };
        }
        // `compute_size` caches each entry's size; the entry is then encoded straight into the
        // batch with that cached size (no intermediate buffer, no second size computation).
        let sizes: Vec<u64> = entries
            .iter()
            .map(|e| u64::from(e.compute_size()))
            .collect();
        // One buffer serves append after append (no allocation, no page faults per append);
        // a concurrent appender finds none and makes its own.
        let need: usize = sizes.iter().map(|&n| n as usize + 24).sum();
        let mut batch = lock(&self.core.spare_batch).take().unwrap_or_default();
        batch.reserve(need);
        for (e, &size) in entries.iter().zip(&sizes) {
            batch
                .add_entry_with(e.index, e.term, size as usize, |buf| {
                    let mut out = protobuf::CodedOutputStream::vec(buf);
                    e.write_to_with_cached_sizes(&mut out)?;
                    out.flush()
                })
                .map_err(Error::Wal)?;
        }
        if let Some(hs) = hs {
            batch.set_hard_state(hard_state_to_wal(hs));
        }
        {
            let mut st = self.write_state();
            self.core.wal.append_reusing(&mut batch, false)?;
            st.cache.append(entries, &sizes);
            if let Some(hs) = hs {
                st.hard_state = hs.clone();
            }
        }
        if batch.capacity() <= KEEP_BATCH_BUFFER {
            *lock(&self.core.spare_batch) = Some(batch);
        }
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes everything written so far durable; returns the last index of the durable log.
    pub fn sync(&self) -> Result<u64> {
        Ok(self.core.wal.sync()?)
    }

    /// Stores a new HardState (not synced: call [`sync`](Self::sync) when it must be durable).
    pub fn set_hard_state(&self, hs: &HardState) -> Result<()> {
        let mut batch = Batch::new();
        batch.set_hard_state(hard_state_to_wal(hs));
        let mut st = self.write_state();
        self.core.wal.append(batch, false)?;
        st.hard_state = hs.clone();
        Ok(())
    }

    /// Records the commit index from `LightReady::commit_index` (raft never repeats it in a later
    /// `Ready.hs`). Not synced; a lower or equal commit is ignored.
    pub fn set_commit(&self, commit: u64) -> Result<()> {
        let mut hs = self.hard_state();
        if commit <= hs.commit {
            return Ok(());
        }
        hs.commit = commit;
        self.set_hard_state(&hs)
    }

    /// Sets the initial configuration of a new node (like `MemStorage::initialize_with_conf_state`),
    /// durably. Fails if the storage already holds a configuration, entries or a HardState.
    pub fn initialize_with_conf_state(&self, cs: &ConfState) -> Result<()> {
        let fresh = self.conf_state() == ConfState::default()
            && self.hard_state() == HardState::default()
            && self.core.wal.last_index()? == 0;
        if !fresh {
            return Err(Error::InvalidArgument(format!(
                "{} is already initialized",
                self.core.dir.display()
            )));
        }
        self.set_conf_state(cs)?;
        self.sync().map(|_| ())
    }

    /// Stores the ConfState returned by `apply_conf_change` (not synced).
    pub fn set_conf_state(&self, cs: &ConfState) -> Result<()> {
        let mut batch = Batch::new();
        batch.set_conf_state(conf_state_to_wal(cs));
        let mut st = self.write_state();
        self.core.wal.append(batch, false)?;
        st.conf_state = cs.clone();
        Ok(())
    }

    /// Installs a snapshot received from the leader: saves the snapshot file (durably), then
    /// resets the log to its index and term, with `hs.term = max(term, snap.term)`,
    /// `hs.commit = max(commit, snap.index)` and the snapshot's ConfState, in one synced batch.
    /// A crash before the batch is durable leaves the old state (the new file is ignored on
    /// open, because the log has no marker for it).
    pub fn apply_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let meta = snapshot.get_metadata();
        if meta.index == 0 {
            return Err(Error::InvalidArgument(
                "cannot install an empty snapshot".into(),
            ));
        }
        let mut hs = self.hard_state();
        // Refuse a snapshot below T (first_index - 1) or below the commit index, as MemStorage
        // refuses one below its first index (`SnapshotOutOfDate`): raft never hands one over
        // (`Raft::restore` requires `snap.index >= committed`), and installing it would leave
        // `hs.commit > last_index`, a state that `open` rejects and `RawNode::new` panics on.
        // `index == T` (a reinstall) stays allowed.
        let first = self.core.wal.first_index()?;
        if meta.index + 1 < first || meta.index < hs.commit {
            return Err(Error::InvalidArgument(format!(
                "snapshot at {} is out of date: the log starts after {} and commit is {}",
                meta.index,
                first - 1,
                hs.commit
            )));
        }
        let file_meta = marker_from_raft(meta);
        self.core
            .snaps
            .save_bytes(&file_meta, snapshot.get_data())?;
        hs.term = hs.term.max(meta.term);
        hs.commit = hs.commit.max(meta.index);
        let mut batch = Batch::new();
        batch.reset(meta.index, meta.term).map_err(Error::Wal)?;
        batch.set_hard_state(hard_state_to_wal(&hs));
        batch.set_conf_state(conf_state_to_wal(meta.get_conf_state()));
        batch.add_snapshot_marker(file_meta);
        {
            let mut st = self.write_state();
            self.core.wal.append(batch, false)?;
            st.cache.clear();
            st.hard_state = hs;
            st.conf_state = meta.get_conf_state().clone();
            st.snapshot = meta.clone();
        }
        self.sync()?;
        self.clear_wanted(meta.index);
        self.purge_behind(meta.index)
    }

    /// Creates a snapshot of the application's state at `index` (its applied index) with the
    /// configuration `cs` applied there; `data` is streamed into the file. The snapshot file and
    /// its WAL marker are durable when this returns, and it becomes what `snapshot()` serves.
    pub fn create_snapshot(
        &self,
        index: u64,
        cs: &ConfState,
        data: &mut dyn Read,
    ) -> Result<SnapshotMetadata> {
        let meta = self.new_snapshot_metadata(index, cs)?;
        self.core.snaps.save_from(&marker_from_raft(&meta), data)?;
        self.publish_snapshot(meta)
    }

    /// [`create_snapshot`](Self::create_snapshot) with the data written by `write` straight
    /// into the file (no reader in between). An error `write` returns of its own is
    /// [`Error::SnapshotData`]; one from the file is [`Error::Snap`]; either way nothing is
    /// saved (the temporary file is removed).
    pub fn create_snapshot_with(
        &self,
        index: u64,
        cs: &ConfState,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<SnapshotMetadata> {
        let meta = self.new_snapshot_metadata(index, cs)?;
        let mut file = self.core.snaps.writer(marker_from_raft(&meta))?;
        let mut sink = FileSink {
            file: &mut file,
            failed: None,
        };
        if let Err(e) = write(&mut sink) {
            return Err(match sink.failed.take() {
                Some(file_error) => Error::Snap(file_error),
                None => Error::SnapshotData(e),
            });
        }
        file.finish()?;
        self.publish_snapshot(meta)
    }

    /// The metadata of a new snapshot at `index`: its term, and `cs`. Refused below the served
    /// snapshot and above the commit index.
    fn new_snapshot_metadata(&self, index: u64, cs: &ConfState) -> Result<SnapshotMetadata> {
        let term = self.term_impl(index).map_err(|e| match e {
            Error::Compacted { .. } | Error::Unavailable { .. } => Error::InvalidArgument(format!(
                "cannot snapshot at {index}: its term is not in the log"
            )),
            other => other,
        })?;
        let served = self.snapshot_metadata().index;
        if index < served {
            // The WAL keeps the newest 16 markers; older snapshots would push out the served
            // one's, and raft never needs a snapshot older than the one it can already get.
            return Err(Error::InvalidArgument(format!(
                "cannot snapshot at {index}: a newer snapshot ({served}) is already served"
            )));
        }
        if index == 0 || index > self.hard_state().commit {
            return Err(Error::InvalidArgument(format!(
                "cannot snapshot at {index}: not committed"
            )));
        }
        let mut meta = SnapshotMetadata::default();
        meta.set_index(index);
        meta.set_term(term);
        meta.set_conf_state(cs.clone());
        Ok(meta)
    }

    /// A saved snapshot file becomes usable: its WAL marker, synced.
    fn publish_snapshot(&self, meta: SnapshotMetadata) -> Result<SnapshotMetadata> {
        let mut batch = Batch::new();
        batch.add_snapshot_marker(marker_from_raft(&meta));
        {
            let mut st = self.write_state();
            self.core.wal.append(batch, false)?;
            if meta.index >= st.snapshot.index {
                st.snapshot = meta.clone();
            }
        }
        // The marker must be durable before the log is compacted behind this snapshot.
        self.sync()?;
        self.clear_wanted(meta.index);
        Ok(meta)
    }

    /// Compacts the log up to `index` (entries `<= index` are dropped; `term(index)` stays
    /// answerable), never beyond the newest snapshot that can be served, then removes WAL
    /// segments and snapshot files no longer needed. A no-op at or below the first index - 1.
    pub fn compact(&self, index: u64) -> Result<()> {
        let (first, last) = (self.core.wal.first_index()?, self.core.wal.last_index()?);
        if index < first {
            return Ok(());
        }
        let snapshot = self.snapshot_metadata().index;
        if index > snapshot || index > last {
            return Err(Error::InvalidArgument(format!(
                "cannot compact to {index}: the newest snapshot is at {snapshot}, the last index is {last}"
            )));
        }
        let term = self.core.wal.term(index)?;
        let mut batch = Batch::new();
        batch.compact(index, term).map_err(Error::Wal)?;
        {
            let mut st = self.write_state();
            self.core.wal.append(batch, false)?;
            st.cache.compact_to(index);
        }
        self.purge_behind(index)
    }

    /// Removes WAL segments holding only entries up to `index`, and old snapshot files.
    fn purge_behind(&self, index: u64) -> Result<()> {
        self.core.wal.purge(index + 1)?;
        self.purge_snapshots()?;
        Ok(())
    }

    fn clear_wanted(&self, index: u64) {
        let wanted = &self.core.snapshot_wanted;
        let _ = wanted.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |w| (w != 0 && w <= index).then_some(0),
        );
    }
}

/// The snapshot file as the caller's writer sees it; remembers a failure of the file itself, to
/// tell it from a failure of the caller.
struct FileSink<'a> {
    file: &'a mut stele_snap::SnapshotWriter,
    failed: Option<stele_snap::Error>,
}

impl Write for FileSink<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.file.write_data(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                let err = std::io::Error::other(e.to_string());
                self.failed.get_or_insert(e);
                Err(err)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
