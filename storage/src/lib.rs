//! `stele-storage`: [`DiskStorage`], a persistent `raft::Storage` for raft-rs 0.7, backed by
//! `stele-wal` (entries, HardState, ConfState) and `stele-snap` (snapshot files).
//!
//! It is a drop-in replacement for `MemStorage`: clone the handle, give one clone to
//! `RawNode::new`, and write through another from the Ready loop:
//!
//! ```no_run
//! # use stele_storage::{DiskStorage, StorageOptions};
//! # fn ready_loop(rd: &mut raft::Ready, storage: &DiskStorage) -> stele_storage::Result<()> {
//! // Entries and HardState of one Ready: one atomic batch, durable before persisted messages go.
//! storage.append(rd.entries(), rd.hs(), rd.must_sync())?;
//! # Ok(()) }
//! ```
//!
//! Guarantees: the contract of `docs/RAFT.md` (term of `first_index - 1`, `max_size`
//! with at least one entry, no short reads, `Compacted`/`Unavailable`/
//! `SnapshotTemporarilyUnavailable` where raft expects them); entries readable as soon as
//! `append` returns and durable after `sync`; memory bounded by the entry cache (default 64 MiB)
//! plus the WAL's index; restart invariants checked on open, with the same rules
//! ([`check_agreement`]) that `wal-dump --verify` applies to a directory.
#![deny(missing_docs)]

mod agreement;
mod cache;
mod convert;
mod disk;
mod error;
mod options;
mod purge;
mod raft_storage;
mod recover;
mod scrub;
mod write;

pub use agreement::{check_agreement, Agreement, Disagreement, Finding, LogFacts, SnapshotFacts};
pub use disk::{DiskStorage, OpenReport};
pub use error::{Error, Result};
pub use options::{StorageOptions, DEFAULT_KEEP_SNAPSHOTS};
pub use scrub::{ScrubOptions, ScrubStatus, Scrubber, CHUNK as SCRUB_CHUNK};
