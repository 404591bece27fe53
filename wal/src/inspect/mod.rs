//! Read-only inspection of a WAL directory, for tools (`wal-dump`): no lock, no writes, no
//! repairs.
//!
//! [`Wal::open`](crate::Wal::open) is the wrong way to look at a damaged or live log: it takes the
//! directory lock, removes temporary files, zeroes and syncs a torn tail, and refuses damage.
//! This module reads the same bytes through the same decoders without any of that. Every file is
//! opened read-only through [`StdFs`], behind a handle that refuses writes, syncs and memory maps;
//! no lock is taken and nothing is created, renamed or removed. So it works on the directory of a
//! running node and never changes a byte.
//!
//! [`inspect`] walks every segment in sequence order and every batch of each in file order,
//! sealed segments included (their batches are read and checksummed, not only their seals). It
//! reports what it reads as [`Event`]s: segment headers, batches, records with their byte
//! offsets, seals and ends. Damage does not stop the walk. It becomes a [`Problem`] naming the
//! file and offset, and the rest of the segment is searched at every 8-byte offset for the next
//! batch that validates, where the walk carries on.
//!
//! The walk is opening's replayer (`wal/src/replay`) under its reporting policy: the same file
//! listing, segment checks, batch walk and chain rules, so the logical log it gives (entries
//! with overwrites, resets and compactions applied) is the one [`Wal::open`](crate::Wal::open)
//! recovers. Like opening, it rebuilds a sealed segment from its seal; its batches are still
//! read, in a scratch replay, to check them and the seal against each other.
//! [`Inspection::read_entries`] reads the log back. `tests/replay_agreement.rs` shows opening
//! and inspection agree on thousands of damaged copies of a real log.
//!
//! Checks, each a [`Problem`] when it fails:
//! - file names parse, sequence numbers are consecutive, headers match names, each segment's
//!   first index continues the log;
//! - every batch's header and body checksum, bounds and record rules, in every segment;
//! - every segment starts with its head batch, and a state record appears nowhere else;
//! - every segment but the last is sealed, the seal's footer sits where the batches end, and it
//!   agrees with the batches (live batches, term runs, cumulative state);
//! - damage followed by a valid batch (corruption in the middle of the log), and damage at the
//!   end of the last segment (a torn tail, which opening would truncate).
//!
//! Memory: the index keeps a few bytes per batch; every allocation is bounded by the size of the
//! file being read (the decoders check lengths against the file before allocating).

mod batches;
mod log;
#[cfg(test)]
mod tests;
mod walk;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use crate::format::{kind, BatchHeader};
use crate::fs::{FileHandle, FileSystem, StdFs};
pub use crate::records::{ConfState, HardState, LogStart, LogState, SegmentFooter, SnapshotMarker};
use crate::replay::listing::classify;

pub use log::{Inspection, LiveEntry, LogItem};

/// A problem found: the file (a name inside the WAL directory; empty for the directory itself),
/// the byte offset when there is one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File name inside the WAL directory (empty: the directory).
    pub file: String,
    /// Byte offset of the damage, if it has one.
    pub offset: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(file: &str, offset: Option<u64>, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_string(),
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at offset {o}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// A problem from an error of the WAL's own reading code in `file`.
pub(crate) fn problem_of(file: &str, e: crate::Error) -> Problem {
    match e {
        crate::Error::Corrupt { offset, damage, .. } => {
            Problem::new(file, Some(offset), damage.to_string())
        }
        crate::Error::Io { op, source, .. } => {
            Problem::new(file, None, format!("{op} failed: {source}"))
        }
        other => Problem::new(file, None, other.to_string()),
    }
}

/// A segment file found by [`list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// File name.
    pub name: String,
    /// Sequence number from the name.
    pub seq: u64,
    /// First index from the name.
    pub first_index: u64,
    /// File length (0 if it could not be read).
    pub size: u64,
}

pub use crate::replay::listing::OtherKind;

/// The files of a WAL directory, sorted out.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Segments by sequence number (then name).
    pub segments: Vec<SegmentFile>,
    /// Other files, by name.
    pub others: Vec<(String, OtherKind)>,
}

impl Listing {
    /// Total bytes of the segment files.
    pub fn total_size(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }
}

/// Lists a WAL directory without changing it.
pub fn list(dir: &Path) -> io::Result<Listing> {
    let fs = StdFs;
    let mut out = Listing::default();
    for name in fs.list(dir)? {
        match classify(&name) {
            Ok((seq, first_index)) => {
                let size = open_read_only(&dir.join(&name))
                    .and_then(|f| f.len())
                    .unwrap_or(0);
                out.segments.push(SegmentFile {
                    name,
                    seq,
                    first_index,
                    size,
                });
            }
            Err(kind) => out.others.push((name, kind)),
        }
    }
    out.segments
        .sort_by(|a, b| (a.seq, &a.name).cmp(&(b.seq, &b.name)));
    out.others.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A segment's header, as read (reported before its batches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// File name.
    pub name: String,
    /// Sequence number.
    pub seq: u64,
    /// First index.
    pub first_index: u64,
    /// The salt that binds its checksums.
    pub salt: u64,
    /// File length.
    pub size: u64,
    /// Where the trailer says the footer is: (offset, length), if the trailer is valid.
    pub trailer: Option<(u64, u64)>,
    /// True if the seal (trailer and footer) is valid.
    pub sealed: bool,
}

/// A valid batch (header and body checksum good).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEvent<'a> {
    /// Segment file name.
    pub segment: &'a str,
    /// Byte offset of the batch header.
    pub offset: u64,
    /// The header.
    pub header: BatchHeader,
}

/// One record of a valid batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordEvent<'a> {
    /// Segment file name.
    pub segment: &'a str,
    /// Byte offset of the record header in the file.
    pub offset: u64,
    /// Record kind (`kind` in `docs/FORMAT.md`).
    pub kind: u8,
    /// The term in the record header (entries; 0 otherwise).
    pub term: u64,
    /// The raft index, for entry records.
    pub index: Option<u64>,
    /// The payload (an `eraftpb.Entry` for entries, else a message).
    pub payload: &'a [u8],
}

/// The decoded contents of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordValue {
    /// An entry (its payload is the `eraftpb.Entry` bytes).
    Entry,
    /// A HardState.
    HardState(HardState),
    /// A ConfState.
    ConfState(ConfState),
    /// A snapshot marker.
    SnapshotMarker(SnapshotMarker),
    /// A reset: the log restarts after this point.
    Reset(LogStart),
    /// A compaction: entries up to this point are dropped.
    Compact(LogStart),
    /// The cumulative state (a segment's head batch).
    State(LogState),
    /// A record of a kind this version does not know.
    Unknown,
    /// A message that does not decode.
    Undecodable,
}

impl RecordEvent<'_> {
    /// Decodes the record's message.
    pub fn value(&self) -> RecordValue {
        fn de<M: prost::Message + Default>(
            b: &[u8],
            f: impl FnOnce(M) -> RecordValue,
        ) -> RecordValue {
            M::decode(b).map_or(RecordValue::Undecodable, f)
        }
        let p = self.payload;
        match self.kind {
            kind::ENTRY => RecordValue::Entry,
            kind::HARD_STATE => de(p, RecordValue::HardState),
            kind::CONF_STATE => de(p, RecordValue::ConfState),
            kind::SNAPSHOT_MARKER => de(p, RecordValue::SnapshotMarker),
            kind::RESET => de(p, RecordValue::Reset),
            kind::COMPACT => de(p, RecordValue::Compact),
            kind::STATE => de(p, RecordValue::State),
            _ => RecordValue::Unknown,
        }
    }
}

/// How the batches of a segment end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    /// 32 zero bytes.
    EndMarker,
    /// A footer header (the segment's seal).
    Footer,
    /// Too little room left for a batch header (and the rest is zero).
    EndOfSpace,
    /// Damage with nothing valid after it.
    Damage,
    /// The walk stopped on a read error.
    Unreadable,
}

/// Everything [`inspect`] reports, in file order.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A segment whose header is valid; its batches follow.
    Segment(&'a SegmentHeader),
    /// A valid batch; its records follow.
    Batch(&'a BatchEvent<'a>),
    /// A record of the last batch.
    Record(&'a RecordEvent<'a>),
    /// A valid footer at `offset` of `segment`.
    Footer {
        /// Segment file name.
        segment: &'a str,
        /// Byte offset of the footer header.
        offset: u64,
        /// Its decoded message.
        footer: &'a SegmentFooter,
    },
    /// Where the batches of `segment` end and how.
    End {
        /// Segment file name.
        segment: &'a str,
        /// Byte offset.
        offset: u64,
        /// How.
        kind: EndKind,
    },
    /// A problem, reported where it is found.
    Problem(&'a Problem),
    /// A segment is done (also for segments that could not be read).
    SegmentDone(&'a SegmentStats),
}

/// What one segment holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// File name.
    pub name: String,
    /// Sequence number (from the name).
    pub seq: u64,
    /// File length.
    pub size: u64,
    /// True if the seal is valid.
    pub sealed: bool,
    /// Valid batches, the head batch included.
    pub batches: u64,
    /// Entry records (overwritten ones included).
    pub entries: u64,
    /// Lowest and highest index of the entry records, if any.
    pub index_range: Option<(u64, u64)>,
    /// Bytes in use: header, batches, and footer and trailer if sealed.
    pub bytes_used: u64,
    /// Problems found in this segment.
    pub problems: u64,
}

/// Walks the WAL in `dir` read-only (see the module docs), calling `visit` for every event in
/// file order; `visit` returns `false` to stop early. Fails only if the directory cannot be
/// listed; everything else is reported as a [`Problem`].
pub fn inspect(dir: &Path, visit: &mut dyn FnMut(Event<'_>) -> bool) -> io::Result<Inspection> {
    let listing = list(dir)?;
    Ok(inspect_listing(dir, &listing, visit))
}

/// Like [`inspect`] on a listing made earlier by [`list`].
pub fn inspect_listing(
    dir: &Path,
    listing: &Listing,
    visit: &mut dyn FnMut(Event<'_>) -> bool,
) -> Inspection {
    walk::Walker::new(dir, listing, visit).run(listing)
}

/// Opens `path` for reading only, behind a handle that refuses writes, syncs and maps.
pub(crate) fn open_read_only(path: &Path) -> io::Result<Arc<dyn FileHandle>> {
    Ok(Arc::new(ReadOnly(StdFs.open(path, false)?)))
}

/// A file handle that can only read: the inspection can never change a byte, and never maps a
/// file that a live writer may truncate or recycle under it.
#[derive(Debug)]
struct ReadOnly(Arc<dyn FileHandle>);

fn refused() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "read-only inspection",
    ))
}

impl FileHandle for ReadOnly {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
        refused()
    }
    fn sync_data(&self) -> io::Result<()> {
        refused()
    }
    fn sync_all(&self) -> io::Result<()> {
        refused()
    }
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn set_len(&self, _: u64) -> io::Result<()> {
        refused()
    }
    fn allocate(&self, _: u64) -> io::Result<()> {
        refused()
    }
    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        Ok(None)
    }
}
