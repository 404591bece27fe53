//! The one error type of stele-storage, and how it maps onto `raft::StorageError`.
//!
//! `Display` states each error's own facts only, never its source's: the WAL's and the
//! snapshot files' errors are passed through transparently (their own `Display` and source),
//! the others name their cause as [`source`](std::error::Error::source), so walking the chain
//! prints each fact once. stele-storage builds no I/O error of its own.

/// Every error stele-storage returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The write-ahead log failed (I/O, corruption, poisoned after a failed sync, locked).
    #[error(transparent)]
    Wal(#[from] stele_wal::Error),
    /// The snapshot files failed (I/O, corruption, locked).
    #[error(transparent)]
    Snap(#[from] stele_snap::Error),
    /// Entries or metadata did not encode or decode as protobuf; the codec's error is the
    /// source.
    #[error("an entry or snapshot metadata did not encode or decode as protobuf")]
    Codec(#[from] protobuf::ProtobufError),
    /// The requested index is below the first index (compacted or covered by a snapshot).
    #[error("index {index} is compacted (first index {first})")]
    Compacted {
        /// Requested index.
        index: u64,
        /// First index of the log.
        first: u64,
    },
    /// The requested index is above the last index.
    #[error("index {index} is unavailable (last index {last})")]
    Unavailable {
        /// Requested index.
        index: u64,
        /// Last index of the log.
        last: u64,
    },
    /// No snapshot at or above the requested index exists yet.
    #[error("no snapshot at or above index {requested} yet (newest: {newest})")]
    SnapshotTemporarilyUnavailable {
        /// The index raft asked for.
        requested: u64,
        /// The newest snapshot index (0: none).
        newest: u64,
    },
    /// The log and the snapshot files on disk disagree (raft's restart invariants broken, a
    /// snapshot's ConfState or term differs from the log's...): `RawNode::new` would panic on
    /// it, or raft would run on a configuration it never agreed to. Names the file.
    #[error(transparent)]
    Disagreement(crate::agreement::Disagreement),
    /// The caller broke an API rule (appending with a gap, compacting past a snapshot...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The caller's code writing a snapshot's data failed (not the storage: nothing was saved,
    /// and the storage is as before).
    #[error("the snapshot data could not be produced")]
    SnapshotData(#[source] std::io::Error),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for raft::Error {
    /// Maps onto the storage errors raft understands: `Compacted`, `Unavailable` and
    /// `SnapshotTemporarilyUnavailable` keep their meaning (raft tolerates them where the contract
    /// says so); anything else becomes `StorageError::Other`, which raft treats as fatal.
    fn from(e: Error) -> raft::Error {
        use raft::StorageError as S;
        let store = match e {
            Error::Compacted { .. } => S::Compacted,
            Error::Unavailable { .. } => S::Unavailable,
            Error::SnapshotTemporarilyUnavailable { .. } => S::SnapshotTemporarilyUnavailable,
            other => S::Other(Box::new(other)),
        };
        raft::Error::Store(store)
    }
}
