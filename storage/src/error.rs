//! The one error type of stele-storage, and how it maps onto `raft::StorageError`.

use std::path::PathBuf;

/// Every error stele-storage returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The write-ahead log failed (I/O, corruption, poisoned after a failed sync, locked).
    #[error("wal: {0}")]
    Wal(#[from] stele_wal::Error),
    /// The snapshot files failed (I/O, corruption, locked).
    #[error("snapshot: {0}")]
    Snap(#[from] stele_snap::Error),
    /// Entries or metadata did not encode or decode as protobuf.
    #[error("protobuf: {0}")]
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
    /// The state on disk breaks raft's restart invariants; `RawNode::new` would panic on it.
    #[error("{dir}: restart invariant broken: {reason}")]
    RestartInvariant {
        /// The storage directory.
        dir: PathBuf,
        /// Which invariant, with the values found.
        reason: String,
    },
    /// The caller broke an API rule (appending with a gap, compacting past a snapshot...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The caller's code writing a snapshot's data failed (not the storage: nothing was saved,
    /// and the storage is as before).
    #[error("the snapshot data could not be produced: {0}")]
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
