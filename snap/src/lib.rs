//! `stele-snap`: durable, checksummed snapshot files for raft state machines.
//!
//! A snapshot directory holds files `{term:016x}-{index:016x}.snap`: a header, the snapshot's
//! metadata (a [`SnapshotMarker`], the prost mirror of `eraftpb.SnapshotMetadata` that the WAL's
//! snapshot markers use too), the state machine's data, and a trailer with a CRC-32 over
//! everything before it (`docs/FORMAT.md`, section "Snapshot files"). It is the counterpart of
//! etcd's `snap` package, made safe against crashes at any point.
//!
//! Guarantees (`docs/DURABILITY.md`, section "Snapshots", gives the protocols step by step):
//! - **Atomic saves.** A snapshot is streamed into a temporary file, which is fsynced, renamed
//!   to its final name, and the directory fsynced. A crash at any point leaves the old set of
//!   snapshots, or the old set plus the complete new one; never a partial file under a final
//!   name. When [`SnapshotWriter::finish`] returns `Ok`, the snapshot survives a crash.
//! - **Streaming.** Data is written through [`std::io::Write`] and read through
//!   [`std::io::Read`] (or a memory map); memory use is one buffer, whatever the data size.
//! - **Verified loads.** Every byte of a file is checked before any of it is handed out. A file
//!   that fails is renamed `.broken`, logged, and skipped; the next older one is tried.
//!   Temporary files left by a crash are removed on open.
//! - **Hostile files are harmless.** Every length read from disk is bounded by the file length
//!   before it is used; a damaged file gives an [`Error`], never a panic or a huge allocation.
//! - **Removal only on request.** No file is removed by a policy of this crate:
//!   [`Snapshotter::remove`] removes the one the caller names, durably. Which snapshots may go
//!   depends on the log (stele-storage keeps the one it serves and those its WAL has markers
//!   for).
//!
//! All file access goes through [`stele_wal::fs::FileSystem`], so the simulated disk
//! (`SimFs`, with stele-wal's `testing` feature) can crash a save, load or removal at any step in tests.
//!
//! Neither raft-rs nor its protobuf library is a dependency: `stele-storage` converts a
//! `raft::eraftpb::Snapshot`'s metadata into a [`SnapshotMarker`] and saves its data with
//! [`Snapshotter::save_bytes`] or streams it with [`Snapshotter::writer`].
//!
//! ```
//! use std::io::{Read, Write};
//! use stele_snap::{snapshot_marker, ConfState, SnapOptions, Snapshotter};
//! # let dir = tempfile::tempdir().unwrap();
//! let snaps = Snapshotter::open(dir.path(), SnapOptions::default()).unwrap();
//! let conf = ConfState { voters: vec![1, 2, 3], ..ConfState::default() };
//! let mut w = snaps.writer(snapshot_marker(42, 3, conf)).unwrap();
//! for chunk in 0..4u8 {
//!     w.write_all(&[chunk; 1000]).unwrap(); // a stream: never all in memory at once
//! }
//! w.finish().unwrap();
//!
//! let snap = snaps.load_newest().unwrap();
//! assert_eq!((snap.metadata().index, snap.metadata().term), (42, 3));
//! let mut data = Vec::new();
//! snap.reader().read_to_end(&mut data).unwrap();
//! assert_eq!(data.len(), 4000);
//! ```
#![deny(missing_docs)]

mod error;
mod file;
pub mod format;
pub mod inspect;
mod load;
mod meta;
mod name;
mod options;
mod shared;
mod snapshotter;
mod verify;
mod writer;

pub use error::{Error, Result};
pub use file::{SnapshotFile, SnapshotReader};
pub use meta::snapshot_marker;
pub use name::{SnapshotId, BROKEN_SUFFIX, LOCK_NAME, SNAP_SUFFIX, TMP_SUFFIX};
pub use options::{SnapOptions, DEFAULT_WRITE_BUFFER};
pub use snapshotter::Snapshotter;
pub use stele_wal::fs::FileSystem;
pub use stele_wal::{ConfState, SnapshotMarker};
pub use verify::Verified;
pub use writer::SnapshotWriter;
