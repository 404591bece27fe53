//! Read-only inspection of a snapshot directory, for tools (`wal-dump`): no lock, no
//! quarantine, no removal of temporary files.
//!
//! Opening a [`Snapshotter`](crate::Snapshotter) locks the directory and removes temporary
//! files, and loading renames a damaged file `.broken`. This module only reads: files are opened
//! read-only through [`StdFs`] and never memory-mapped, so it works on the directory of a running
//! node and never changes a byte. Every length read from a file is bounded by the file's length
//! before it is used (the same checks as loading, `verify.rs`).

use std::cmp::Ordering;
use std::io;
use std::path::Path;

use stele_wal::fs::{FileSystem, StdFs};
use stele_wal::SnapshotMarker;

use crate::error::{Error, Result};
use crate::format::HEADER_LEN;
use crate::name::{is_temp_name, SnapshotId, BROKEN_SUFFIX, LOCK_NAME, SNAP_SUFFIX};
use crate::verify::{decode_metadata, open_verified};

/// What a file in a snapshot directory is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `{term:016x}-{index:016x}.snap`.
    Snapshot(SnapshotId),
    /// `<snapshot name>.<n>.tmp`: a save in progress, or left by a crash (opening removes it).
    Temp,
    /// `<snapshot name>.broken[.<n>]`: a file loading found damaged and set aside.
    Broken,
    /// The lock file.
    Lock,
    /// Anything else (not stele's; ignored).
    Other,
}

/// A file of a snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// File name.
    pub name: String,
    /// What it is.
    pub kind: FileKind,
    /// Its length, if it could be read.
    pub size: Option<u64>,
}

/// Lists a snapshot directory: snapshots first, oldest (lowest index, then term) first, then the
/// other files by name.
pub fn list(dir: &Path) -> io::Result<Vec<DirEntry>> {
    let fs = StdFs;
    let mut out: Vec<DirEntry> = fs
        .list(dir)?
        .into_iter()
        .map(|name| {
            let kind = if let Some(id) = SnapshotId::from_file_name(&name) {
                FileKind::Snapshot(id)
            } else if is_temp_name(&name) {
                FileKind::Temp
            } else if name == LOCK_NAME {
                FileKind::Lock
            } else if name.contains(&format!("{SNAP_SUFFIX}{BROKEN_SUFFIX}")) {
                FileKind::Broken
            } else {
                FileKind::Other
            };
            let size = fs.open(&dir.join(&name), false).and_then(|f| f.len()).ok();
            DirEntry { name, kind, size }
        })
        .collect();
    out.sort_by(|a, b| match (a.kind, b.kind) {
        (FileKind::Snapshot(x), FileKind::Snapshot(y)) => x.cmp(&y),
        (FileKind::Snapshot(_), _) => Ordering::Less,
        (_, FileKind::Snapshot(_)) => Ordering::Greater,
        _ => a.name.cmp(&b.name),
    });
    Ok(out)
}

/// What a check of a snapshot file found valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The metadata inside (its index and term equal the name's).
    pub metadata: SnapshotMarker,
    /// The length of the state machine's data.
    pub data_len: u64,
    /// The length of the file.
    pub file_len: u64,
}

/// What is wrong with a snapshot file: the byte offset where there is one, and a message
/// (without the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// Byte offset of the bad field (for a truncated file: its length).
    pub offset: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl From<Error> for FileProblem {
    fn from(e: Error) -> Self {
        let (offset, message) = match e {
            Error::ChecksumMismatch {
                offset,
                stored,
                computed,
                ..
            } => (
                Some(offset),
                format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
            ),
            Error::Truncated { len, reason, .. } => {
                (Some(len), format!("truncated ({len} bytes; {reason})"))
            }
            Error::Malformed { offset, reason, .. } => {
                (Some(offset), format!("malformed: {reason}"))
            }
            Error::NameMismatch {
                name_index,
                name_term,
                index,
                term,
                ..
            } => (
                Some(HEADER_LEN),
                format!(
                    "the name says index {name_index} term {name_term}, \
                     the metadata says index {index} term {term}"
                ),
            ),
            Error::Io { op, source, .. } => (None, format!("{op} failed: {source}")),
            other => (None, other.to_string()),
        };
        FileProblem { offset, message }
    }
}

/// Checks the snapshot file at `path`, named for snapshot `id`, read-only. With `full`, every
/// byte is read and checksummed, exactly as loading does; without, only the header, trailer and
/// metadata are read and checked (the lengths add up, the metadata decodes and matches the name),
/// which is cheap whatever the data size.
pub fn check(path: &Path, id: SnapshotId, full: bool) -> std::result::Result<Checked, FileProblem> {
    let fs = StdFs;
    let checked = check_frame(&fs, path, id)?;
    if full {
        open_verified(&fs, path, id, false)?;
    }
    Ok(checked)
}

fn check_frame(fs: &dyn FileSystem, path: &Path, id: SnapshotId) -> Result<Checked> {
    let frame = crate::verify::read_frame(fs, path)?;
    let metadata = decode_metadata(path, &frame.meta_bytes, id)?;
    Ok(Checked {
        metadata,
        data_len: frame.layout.data_len,
        file_len: frame.file_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{snapshot_marker, SnapOptions, Snapshotter};
    use stele_wal::ConfState;

    #[test]
    fn checks_read_only_and_name_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshotter::open(dir.path(), SnapOptions::default()).unwrap();
        let meta = snapshot_marker(42, 7, ConfState::default());
        let id = snaps.save_bytes(&meta, b"some state machine data").unwrap();
        drop(snaps);
        std::fs::write(dir.path().join("other.txt"), b"x").unwrap();
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed[0].kind, FileKind::Snapshot(id));
        assert!(listed.iter().any(|e| e.kind == FileKind::Other));
        let path = dir.path().join(id.file_name());
        for full in [false, true] {
            let c = check(&path, id, full).unwrap();
            assert_eq!((c.metadata, c.data_len), (meta.clone(), 23));
        }
        // A flipped data bit: only the full check reads the data.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[30] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(check(&path, id, false).is_ok());
        let p = check(&path, id, true).unwrap_err();
        assert_eq!(p.offset, Some(bytes.len() as u64 - 8), "{}", p.message);
        // Truncated: the offset is the length; the file is left alone (never quarantined).
        bytes.truncate(50);
        std::fs::write(&path, &bytes).unwrap();
        let p = check(&path, id, false).unwrap_err();
        assert_eq!(p.offset, Some(50));
        assert!(p.message.starts_with("truncated"), "{}", p.message);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
