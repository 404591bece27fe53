//! [`Error`]: the one error type of stele-raft.
//!
//! Proposal outcomes fall into three groups, and the variants say which:
//! - definitely not applied: [`Error::Dropped`], [`Error::ConfChangeRejected`];
//! - outcome unknown (the entry may still be, or may already have been, applied):
//!   [`Error::Timeout`], [`Error::LeaderChanged`], [`Error::Unknown`], [`Error::Stopped`];
//! - the node itself failed: [`Error::Storage`], [`Error::Raft`], [`Error::Io`],
//!   [`Error::Codec`], [`Error::Panicked`], [`Error::StorageRead`], [`Error::PanickedWith`],
//!   [`Error::Invalid`];
//! - the node was not started: [`Error::InvalidConfig`] (a bad [`NodeConfig`](crate::NodeConfig)).
//!
//! `Display` is this error's own message only; the error it wraps (storage, raft, I/O,
//! protobuf) is its [`source`](std::error::Error::source), so a printer that walks the chain
//! shows each message once.

use std::sync::Arc;

/// Every error stele-raft returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage failed; the node stops (a failed write or sync is never retried).
    #[error("storage failed")]
    Storage(#[from] stele_storage::Error),
    /// raft refused a call (for example an invalid configuration).
    #[error("raft refused the call")]
    Raft(#[from] raft::Error),
    /// An I/O error (state machine snapshot or restore, transport, thread start).
    #[error("i/o failed")]
    Io(#[from] std::io::Error),
    /// A protobuf message did not encode or decode.
    #[error("protobuf encoding or decoding failed")]
    Codec(#[from] protobuf::ProtobufError),
    /// The proposal was not appended to the log, or its log slot was taken by another entry:
    /// it is definitely not applied. The text says why (no leader, leadership transfer in
    /// progress, overwritten by a new leader...).
    #[error("proposal dropped: {0}")]
    Dropped(String),
    /// The membership change was refused by raft (another change pending, must leave a joint
    /// configuration first, invalid change): it is definitely not applied.
    #[error("membership change rejected: {0}")]
    ConfChangeRejected(String),
    /// No outcome within the deadline; the entry may still be applied.
    #[error("timed out; the outcome is unknown")]
    Timeout,
    /// The proposal was forwarded to a leader that lost its leadership before the outcome was
    /// known; the entry may still be applied.
    #[error("the leader changed; the outcome is unknown")]
    LeaderChanged,
    /// The log has no room to grow (the disk is full: the WAL could not prepare its next
    /// segment's file; the text says which file and why): the proposal was refused before it
    /// reached raft, so it is definitely not applied. Writes are taken again once the WAL
    /// finds room (it retries on its own; see `WalOptions::room_retry`).
    #[error("the disk is full ({0})")]
    DiskFull(String),
    /// The outcome cannot be known any more (for example the entry's index was covered by an
    /// installed snapshot).
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The node stopped (shut down, or failed) before the outcome was known.
    #[error("the node is stopped")]
    Stopped,
    /// The node thread panicked.
    #[error("the node thread panicked")]
    Panicked,
    /// raft panicked on an error of the storage's (damage found while reading entries, a
    /// poisoned WAL): the driver caught the panic and stops the node with the storage's error
    /// (its source), which names the file and byte offset where there is one. The same
    /// storage error may be shared with [`DiskStorage::failure`](stele_storage::DiskStorage::failure).
    #[error("storage failed")]
    StorageRead(#[source] Arc<stele_storage::Error>),
    /// The background scrubber found damage in the node's files (and
    /// [`ScrubConfig::stop_on_damage`](crate::ScrubConfig::stop_on_damage) is set): the source
    /// names the file and byte offset.
    #[error("scrubbing found damage")]
    Scrub(#[source] Arc<stele_storage::Error>),
    /// raft (or the state machine) panicked for a reason that is not a storage error; the text
    /// is the panic's message and location.
    #[error("the node thread panicked: {0}")]
    PanickedWith(String),
    /// The transport can no longer carry messages (one of its threads ended while the node was
    /// running: a panic, or a loop that returned); the node stops rather than run cut off from
    /// its peers. The text names the thread and why it ended.
    #[error("the transport failed: {0}")]
    TransportFailed(String),
    /// An invalid argument, or on-disk state the driver cannot start from.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A [`NodeConfig`](crate::NodeConfig) that does not pass
    /// [`validate`](crate::NodeConfig::validate); the node is not started.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Which rule the configuration breaks.
        reason: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// True if the entry is definitely not applied ([`Error::Dropped`],
    /// [`Error::ConfChangeRejected`], [`Error::DiskFull`]): the caller may retry without risk
    /// of a duplicate.
    pub fn is_definitely_not_applied(&self) -> bool {
        matches!(
            self,
            Error::Dropped(_) | Error::ConfChangeRejected(_) | Error::DiskFull(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// A wrapping error prints its own message only; the wrapped one is its source.
    #[test]
    fn display_leaves_the_source_to_source() {
        let e = Error::from(std::io::Error::other("disk on fire"));
        assert_eq!(e.to_string(), "i/o failed");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("disk on fire")
        );
    }
}
