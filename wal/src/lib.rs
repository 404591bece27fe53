//! `stele-wal`: a segmented, checksummed, fsync-aware write-ahead log for raft.
//!
//! The log is a directory of preallocated segment files `{seq:016x}-{first_index:016x}.wal`.
//! The unit of writing is a [`Batch`]: raft entries (their `eraftpb.Entry` bytes) plus optional
//! HardState, ConfState, snapshot markers and a reset or compaction point, appended atomically
//! with [`Wal::append`]. Each batch's checksum is bound to its segment's identity, so bytes from
//! a reused or preallocated file can never be mistaken for data.
//!
//! Guarantees (see `docs/DURABILITY.md` for the protocols and `docs/FORMAT.md` for the bytes):
//! - when `append(batch, true)` or [`Wal::sync`] returns `Ok`, the batch (and every one before
//!   it) survives a crash; concurrent synced appends share one `fdatasync` (group commit);
//! - a batch is all there after a crash or not at all; entries overwritten by a conflicting
//!   append never come back;
//! - after any failed write or sync the WAL is poisoned: every later call fails;
//! - on open, a torn last batch of the last segment is truncated (or refused, in strict mode);
//!   any other damage is an error naming the file and byte offset;
//! - opening reads the seals of sealed segments, not their batches; memory holds an index of a
//!   few bytes per batch, never entry payloads;
//! - a directory is locked while open: a second opener gets [`Error::Locked`].
//!
//! Opening ([`Wal::open`]) and read-only inspection ([`inspect`], what `wal-dump` prints) share
//! one replayer (`src/replay/`), so they cannot describe the same bytes differently.
//!
//! Cargo feature `testing` (off by default; this crate's own tests and benches turn it on):
//! the simulated disk `fs::sim::SimFs`, deterministic salts `WalOptions::salt_seed` and the byte
//! layout module `format`, none of which a user of the log needs.
//!
//! ```
//! use stele_wal::{Batch, Wal, WalOptions, HardState};
//! # let dir = tempfile::tempdir().unwrap();
//! let opts = WalOptions { segment_size: 1 << 20, ..WalOptions::default() };
//! let wal = Wal::open(dir.path(), opts.clone()).unwrap();
//! let mut batch = Batch::new();
//! batch.add_entry(1, 1, b"entry one").unwrap();
//! batch.add_entry(2, 1, b"entry two").unwrap();
//! batch.set_hard_state(HardState { term: 1, vote: 1, commit: 1 });
//! wal.append(batch, true).unwrap();
//! drop(wal);
//!
//! let wal = Wal::open(dir.path(), opts).unwrap();
//! let entries: Vec<_> = wal.replay(1).unwrap().map(|e| e.unwrap().data).collect();
//! assert_eq!(entries, vec![b"entry one".to_vec(), b"entry two".to_vec()]);
//! assert_eq!(wal.state().unwrap().hard_state.unwrap().commit, 1);
//! ```
#![deny(missing_docs)]

mod apply;
mod batch;
mod error;
mod footer;
/// The byte layout (see `docs/FORMAT.md`); public only with the `testing` feature, for tests
/// and benches that build or measure raw bytes.
#[cfg(feature = "testing")]
pub mod format;
#[cfg(not(feature = "testing"))]
mod format;
pub mod fs;
/// Entry points for the fuzz targets (`fuzz/`); only with the `testing` feature.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod fuzzing;
mod index;
pub mod inspect;
mod open;
mod options;
mod purge;
mod read;
mod records;
mod replay;
mod scrub;
mod segment;
mod spare;
mod wal;
mod writer;

pub use batch::Batch;
pub use error::{Damage, Error, Result};
pub use options::{Preallocate, RecoveryMode, WalOptions};
pub use purge::Purged;
pub use read::{EntryData, Replay};
pub use records::{
    ConfState, HardState, LogStart, LogState, SegmentFooter, SnapshotMarker, MAX_MARKERS,
};
pub use scrub::{ScrubCursor, ScrubStep};
pub use wal::{RecoveryReport, Wal, WalStats};
pub use writer::Appended;
