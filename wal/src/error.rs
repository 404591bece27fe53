//! The one error type of stele-wal.

use std::io;
use std::path::PathBuf;

/// What is wrong with bytes read from a segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Damage {
    /// The segment header's magic, version, length or checksum is wrong.
    #[error("bad segment header: {0}")]
    BadHeader(&'static str),
    /// The header's sequence number or first index disagrees with the file name.
    #[error("header says seq {header_seq:#x} first index {header_first}, the name says seq {name_seq:#x} first index {name_first}")]
    NameMismatch {
        /// Sequence number in the header.
        header_seq: u64,
        /// First index in the header.
        header_first: u64,
        /// Sequence number in the file name.
        name_seq: u64,
        /// First index in the file name.
        name_first: u64,
    },
    /// Zero bytes (an end marker) where the index or a later batch says a batch must be.
    #[error("zeroed or missing bytes where a batch should be")]
    MissingBatch,
    /// A batch header fails its checksum, has a bad magic, or belongs to another segment.
    #[error("batch header does not check out")]
    BadBatchHeader,
    /// A batch claims more bytes than the segment holds.
    #[error("batch of {len} bytes runs past the end of the segment")]
    BatchOutOfBounds {
        /// The length the header claims.
        len: u64,
    },
    /// A batch body fails its checksum.
    #[error("batch body checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BodyChecksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A batch body is malformed (bad record kind, length, order or count).
    #[error("malformed batch body: {0}")]
    BadBody(&'static str),
    /// A protobuf record or footer does not decode.
    #[error("undecodable {0}")]
    BadMessage(&'static str),
    /// A valid batch was found after damaged or missing bytes: corruption in the middle of the
    /// log, which is never truncated away.
    #[error("valid batch at offset {valid_at} follows damage ({first})")]
    DamageBeforeValid {
        /// Where the next valid batch starts.
        valid_at: u64,
        /// What was wrong at the damaged offset.
        first: Box<Damage>,
    },
    /// A torn (partially written) last batch, refused in `AbsoluteConsistency` mode.
    #[error("torn last batch ({0})")]
    TornTail(Box<Damage>),
    /// The seal (trailer and footer) of a segment that is not the last is missing or damaged.
    #[error("sealed segment lacks a valid seal (truncated or damaged)")]
    BadSeal,
    /// A batch's first index does not continue the log.
    #[error("batch starts at index {found}, the log expects at most {expected}")]
    IndexGap {
        /// The highest first index that would continue the log.
        expected: u64,
        /// The first index found.
        found: u64,
    },
    /// A batch overwrites entries below the log's first index.
    #[error("batch starts at index {found}, below the log's first index {first}")]
    BelowStart {
        /// The log's first index.
        first: u64,
        /// The first index found.
        found: u64,
    },
    /// A batch is where no batch of its kind may be: a segment that does not start with its
    /// head batch, or a state record outside one.
    #[error("{0}")]
    Misplaced(&'static str),
    /// A batch belongs to a raft group this version does not know.
    #[error("unknown group id {0}")]
    UnknownGroup(u32),
}

/// Every error stele-wal returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("{op} {path}")]
    Io {
        /// The call that failed.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another handle, in this process or another, has the directory open.
    #[error("{path} is locked by another open WAL")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An earlier write or sync failed; nothing more is written, read or acknowledged.
    #[error("the WAL is poisoned by an earlier failure ({cause}); reopen it to recover")]
    Poisoned {
        /// What failed first.
        cause: String,
    },
    /// Bytes on disk are damaged or inconsistent.
    #[error("{path} at offset {offset}: {damage}")]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// The byte offset of the damage.
        offset: u64,
        /// What is wrong.
        damage: Damage,
    },
    /// The segment files do not form one log (a missing middle segment, a bad name).
    #[error("{path}: {reason}")]
    BadDirectory {
        /// The offending file (or directory).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The log cannot grow past its active segment: preparing the next segment's file failed
    /// (typically ENOSPC, the disk is full) and no recycled file is free. Nothing is damaged or
    /// poisoned: appends still go into the active segment's preallocated space, and the
    /// condition clears once a preparation succeeds (see [`Wal::check_room`](crate::Wal::check_room)).
    #[error("no room for the next WAL segment: {reason}")]
    NoRoom {
        /// The failed preparation: the file and the system's error.
        reason: String,
    },
    /// The options passed to [`Wal::open`](crate::Wal::open) are out of range.
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// Which option, and its allowed range.
        reason: String,
    },
    /// The caller's batch breaks the log's rules (non-consecutive indices, a gap, an overwrite
    /// of compacted entries, too large).
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// The requested index lies below the first index of the log.
    #[error("index {index} is compacted (first index is {first})")]
    Compacted {
        /// The index asked for.
        index: u64,
        /// The log's first index.
        first: u64,
    },
    /// The requested index lies above the last index of the log.
    #[error("index {index} is unavailable (last index is {last})")]
    Unavailable {
        /// The index asked for.
        index: u64,
        /// The log's last index.
        last: u64,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, damage: Damage) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            damage,
        }
    }

    /// True if the error is a full disk (ENOSPC).
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}
