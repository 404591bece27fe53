//! File names: `{term:016x}-{index:016x}.snap` for snapshots, `<that>.<n>.tmp` for files being
//! written, `<that>.broken[.<n>]` for files found damaged.
//!
//! Parsing is strict: exactly 16 lower-case hexadecimal digits for each number, nothing else,
//! so every snapshot has exactly one name and no stray file is mistaken for a snapshot.

use std::fmt;

use stele_wal::SnapshotMarker;

use crate::error::{Error, Result};

/// Suffix of a snapshot file.
pub const SNAP_SUFFIX: &str = ".snap";
/// Suffix of a snapshot file being written (after a `.<n>` counter).
pub const TMP_SUFFIX: &str = ".tmp";
/// Suffix of a snapshot file found damaged (possibly followed by `.<n>`).
pub const BROKEN_SUFFIX: &str = ".broken";
/// The lock file of a snapshot directory.
pub const LOCK_NAME: &str = "snap.lock";

/// The identity of a snapshot: the raft index and term it was taken at.
///
/// Ordered by index, then term: the order "newest first" lists use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotId {
    /// The index of the last entry the snapshot covers.
    pub index: u64,
    /// The term of that entry.
    pub term: u64,
}

impl SnapshotId {
    /// A snapshot identity.
    pub fn new(index: u64, term: u64) -> Self {
        SnapshotId { index, term }
    }

    /// The identity of the snapshot `meta` describes (and so its file name).
    pub fn of(meta: &SnapshotMarker) -> Self {
        SnapshotId::new(meta.index, meta.term)
    }

    /// The file name: `{term:016x}-{index:016x}.snap`.
    pub fn file_name(&self) -> String {
        format!("{:016x}-{:016x}{SNAP_SUFFIX}", self.term, self.index)
    }

    /// Parses a snapshot file name strictly (see the module docs).
    pub fn parse(name: &str) -> Result<Self> {
        Self::from_file_name(name).ok_or_else(|| Error::BadName {
            name: name.to_string(),
        })
    }

    /// Like [`parse`](Self::parse), `None` for a name that is not a snapshot file name.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(SNAP_SUFFIX)?;
        let (term, index) = stem.split_once('-')?;
        Some(SnapshotId {
            index: hex16(index)?,
            term: hex16(term)?,
        })
    }

    /// The name of the `n`th temporary file for this snapshot: `<file name>.<n>.tmp`.
    pub(crate) fn temp_name(&self, n: u64) -> String {
        format!("{}.{n}{TMP_SUFFIX}", self.file_name())
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "index {} term {}", self.index, self.term)
    }
}

/// Exactly 16 lower-case hex digits (`from_str_radix` alone would accept `+`, upper case and
/// other lengths).
fn hex16(s: &str) -> Option<u64> {
    let ok = s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        u64::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// True for `<snapshot file name>.<decimal n>.tmp`: a file a save was writing.
pub(crate) fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(TMP_SUFFIX) else {
        return false;
    };
    let Some((stem, n)) = rest.rsplit_once('.') else {
        return false;
    };
    !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && SnapshotId::from_file_name(stem).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_parse_strictly() {
        let id = SnapshotId::new(0x2a, 7);
        assert_eq!(id.file_name(), "0000000000000007-000000000000002a.snap");
        assert_eq!(SnapshotId::parse(&id.file_name()).unwrap(), id);
        let max = SnapshotId::new(u64::MAX, u64::MAX);
        assert_eq!(SnapshotId::parse(&max.file_name()).unwrap(), max);
        for bad in [
            "0000000000000007-000000000000002A.snap",
            "000000000000007-000000000000002a.snap",
            "+000000000000007-000000000000002a.snap",
            "0000000000000007-000000000000002a.snap.broken",
            "0000000000000007_000000000000002a.snap",
            "0000000000000007-000000000000002a-.snap",
            "0000000000000007-000000000000002a",
            "",
        ] {
            assert!(
                matches!(SnapshotId::parse(bad), Err(Error::BadName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn temp_names_are_recognised() {
        let id = SnapshotId::new(1, 2);
        assert!(is_temp_name(&id.temp_name(0)));
        assert!(is_temp_name(&id.temp_name(123)));
        for not in [
            "x.1.tmp",
            "0000000000000002-0000000000000001.snap.tmp",
            "a.tmp",
            ".tmp",
        ] {
            assert!(!is_temp_name(not), "{not}");
        }
    }
}
