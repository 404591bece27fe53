//! What each name in a WAL directory is, and the rules the segment sequence must follow.
//!
//! One classifier serves opening (which removes temporaries, keeps recyclable files, refuses a
//! bad segment name and ignores the rest) and inspection (which reports the same facts).

use std::fmt;

use crate::format::{self, LOCK_NAME, RECYCLE_SUFFIX, TMP_SUFFIX};
use crate::spare::SPARE_SUFFIX;

/// What a file that is not a segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    /// `*.wal.tmp` or `*.spare.tmp`: a segment or spare being prepared; opening removes it.
    Temp,
    /// `*.recycle`: a purged segment kept for reuse.
    Recycle,
    /// `*.spare`: the next segment's file, preallocated ahead of a cut; never part of the log.
    Spare,
    /// The lock file.
    Lock,
    /// A name ending in `.wal` that does not parse: opening refuses the directory.
    BadSegmentName,
    /// Anything else: ignored by opening.
    Ignored,
}

/// Sorts a directory entry: `Ok((seq, first_index))` for a segment, else what it is.
pub(crate) fn classify(name: &str) -> Result<(u64, u64), OtherKind> {
    if let Some(parsed) = format::parse_segment_name(name) {
        return Ok(parsed);
    }
    Err(
        if name.ends_with(TMP_SUFFIX) && (name.contains(".wal") || name.contains(SPARE_SUFFIX)) {
            OtherKind::Temp
        } else if name.ends_with(RECYCLE_SUFFIX) {
            OtherKind::Recycle
        } else if name.ends_with(SPARE_SUFFIX) {
            OtherKind::Spare
        } else if name == LOCK_NAME {
            OtherKind::Lock
        } else if name.ends_with(".wal") {
            OtherKind::BadSegmentName
        } else {
            OtherKind::Ignored
        },
    )
}

/// Why a name is refused, in words.
pub(crate) const BAD_SEGMENT_NAME: &str =
    "ends in .wal but is not a segment name ({seq:016x}-{first_index:016x}.wal)";

/// A break in the sequence of segment numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainBreak {
    /// Two segments carry the same sequence number.
    Duplicate(u64),
    /// Sequence numbers jump: segments between them are missing.
    Jump {
        /// The sequence number before the jump.
        from: u64,
        /// The one after it.
        to: u64,
    },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChainBreak::Duplicate(seq) => write!(f, "duplicate sequence number {seq:#x}"),
            ChainBreak::Jump { from, to } => write!(
                f,
                "segment sequence jumps from {from:#x} to {to:#x}: {} segment(s) missing",
                to - from - 1
            ),
        }
    }
}

/// The break, if any, between the segment numbered `prev` and the next one, `seq` (the
/// sequence is sorted, so `seq >= prev`).
pub(crate) fn chain_break(prev: u64, seq: u64) -> Option<ChainBreak> {
    match seq.checked_sub(prev) {
        Some(1) => None,
        Some(0) | None => Some(ChainBreak::Duplicate(seq)),
        Some(_) => Some(ChainBreak::Jump {
            from: prev,
            to: seq,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_out() {
        assert_eq!(classify(&format::segment_name(3, 9)), Ok((3, 9)));
        assert_eq!(
            classify("0000000000000003-0000000000000009.wal.tmp"),
            Err(OtherKind::Temp)
        );
        assert_eq!(
            classify("0000000000000003.recycle"),
            Err(OtherKind::Recycle)
        );
        assert_eq!(classify("0000000000000004.spare"), Err(OtherKind::Spare));
        assert_eq!(classify("0000000000000004.spare.tmp"), Err(OtherKind::Temp));
        assert_eq!(classify("notes.tmp"), Err(OtherKind::Ignored));
        assert_eq!(classify(LOCK_NAME), Err(OtherKind::Lock));
        assert_eq!(classify("3-9.wal"), Err(OtherKind::BadSegmentName));
        assert_eq!(classify("notes.txt"), Err(OtherKind::Ignored));
    }

    #[test]
    fn chain_breaks_are_named() {
        assert_eq!(chain_break(4, 5), None);
        assert_eq!(chain_break(4, 4), Some(ChainBreak::Duplicate(4)));
        let jump = chain_break(4, 7).unwrap();
        assert_eq!(jump, ChainBreak::Jump { from: 4, to: 7 });
        assert!(jump.to_string().contains("2 segment(s) missing"));
    }
}
