//! The one error type of stele-snap.
//!
//! Variants that describe a damaged file ([`Error::is_damage`]) carry the file's path and, where
//! one exists, the byte offset of the bad field. A damaged file is never loaded; the load
//! functions rename it `.broken` and move on. I/O errors are never mistaken for damage: a read
//! that fails is reported as [`Error::Io`] and leaves the file where it is.
//!
//! `Display` states this error's own facts only; the cause (the operating system's error) is
//! its [`source`](std::error::Error::source), so walking the chain prints each fact once.
//! [`Error::io`] is the one way this crate builds an I/O error.

use std::io;
use std::path::PathBuf;

/// Every error stele-snap returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No valid snapshot (that the caller accepts) exists in the directory.
    #[error("no valid snapshot in {dir}")]
    NoSnapshot {
        /// The snapshot directory.
        dir: PathBuf,
    },
    /// The stored checksum does not match the bytes of the file.
    #[error("{path}: checksum mismatch (stored {stored:#010x} at offset {offset}, computed {computed:#010x})")]
    ChecksumMismatch {
        /// The snapshot file.
        path: PathBuf,
        /// The byte offset of the stored checksum.
        offset: u64,
        /// The checksum stored in the trailer.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The file ends before its trailer: it is shorter than the smallest snapshot file, shorter
    /// than its header and trailer say, or its last bytes are not a trailer.
    #[error("{path}: truncated ({len} bytes; {reason})")]
    Truncated {
        /// The snapshot file.
        path: PathBuf,
        /// The length of the file.
        len: u64,
        /// What shows the truncation.
        reason: &'static str,
    },
    /// The header or trailer is malformed: bad magic, unknown version, non-zero reserved bits,
    /// impossible lengths, or metadata that does not decode.
    #[error("{path} at offset {offset}: malformed snapshot file: {reason}")]
    Malformed {
        /// The snapshot file.
        path: PathBuf,
        /// The byte offset of the bad field.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The metadata inside a file disagrees with the index and term in its name.
    #[error("{path}: the name says index {name_index} term {name_term}, the metadata says index {index} term {term}")]
    NameMismatch {
        /// The snapshot file.
        path: PathBuf,
        /// The index in the file name.
        name_index: u64,
        /// The term in the file name.
        name_term: u64,
        /// The index in the metadata.
        index: u64,
        /// The term in the metadata.
        term: u64,
    },
    /// A file name is not `{term:016x}-{index:016x}.snap` (16 lower-case hex digits each).
    #[error("{name:?} is not a snapshot file name")]
    BadName {
        /// The offending name.
        name: String,
    },
    /// A file-system call failed; the operating system's error is the source.
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
    /// The caller asked for something larger than a limit: metadata over
    /// [`MAX_METADATA_LEN`](crate::format::MAX_METADATA_LEN) bytes, or data larger than this
    /// machine's address space read into one buffer.
    #[error("{path}: {what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The snapshot file.
        path: PathBuf,
        /// What is too large.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// Another handle, in this process or another, has the snapshot directory open.
    #[error("{path} is locked by another open snapshot directory")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error of call `op` on `path`: the one way this crate builds one.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True if the error says a snapshot file is damaged (checksum, truncation, malformed
    /// header or metadata, name disagreeing with the metadata), as opposed to an I/O failure.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            Error::ChecksumMismatch { .. }
                | Error::Truncated { .. }
                | Error::Malformed { .. }
                | Error::NameMismatch { .. }
        )
    }

    /// True if the error is a full disk (`ENOSPC`: [`io::ErrorKind::StorageFull`]).
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_the_source_to_the_chain() {
        let full = || io::Error::new(io::ErrorKind::StorageFull, "disk full");
        let e = Error::io("open", "/d/x.snap", full());
        assert_eq!(e.to_string(), "open /d/x.snap");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source, Some(full().to_string()));
        assert!(e.is_no_space());
        let other = Error::io("open", "/d/x.snap", io::Error::other("disk on fire"));
        assert!(!other.is_no_space());
    }
}
