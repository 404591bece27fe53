//! [`Inspection`]: what a walk found, and the logical log it rebuilt, read back batch by batch.

use std::path::PathBuf;

use super::{problem_of, Problem, SegmentStats};
use crate::index::LogIndex;
use crate::read::read_live;
use crate::records::LogState;

/// The result of [`inspect`](super::inspect): per-segment statistics, the cumulative state, and
/// the logical log (entries with overwrites, resets and compactions applied).
#[derive(Debug)]
pub struct Inspection {
    dir: PathBuf,
    index: LogIndex,
    /// The cumulative state (newest HardState, ConfState, snapshot markers, log start).
    pub state: LogState,
    /// One entry per segment file, in sequence order.
    pub segments: Vec<SegmentStats>,
    /// How many problems the walk reported.
    pub problems: u64,
}

/// A live entry of the logical log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveEntry<'a> {
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
    /// The `eraftpb.Entry` bytes.
    pub payload: &'a [u8],
    /// Segment file name.
    pub segment: &'a str,
    /// Byte offset of the entry's record in the segment.
    pub offset: u64,
}

/// What [`Inspection::read_entries`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem<'a> {
    /// The next entry.
    Entry(LiveEntry<'a>),
    /// A batch that could not be read back (the file changed or fails now); reading goes on
    /// with the next batch.
    Problem(Problem),
}

impl Inspection {
    pub(super) fn new(
        dir: PathBuf,
        index: LogIndex,
        state: LogState,
        segments: Vec<SegmentStats>,
        problems: u64,
    ) -> Self {
        Inspection {
            dir,
            index,
            state,
            segments,
            problems,
        }
    }

    /// The WAL directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// First index of the logical log.
    pub fn first_index(&self) -> u64 {
        self.index.first_index()
    }

    /// Last index of the logical log (`first_index() - 1` when it is empty).
    pub fn last_index(&self) -> u64 {
        self.index.last_index()
    }

    /// Number of live entries.
    pub fn entry_count(&self) -> u64 {
        (self.last_index() + 1).saturating_sub(self.first_index())
    }

    /// The term of `index`, for live entries and for `first_index() - 1` when known.
    pub fn term(&self, index: u64) -> Option<u64> {
        self.index.term(index)
    }

    /// Calls `f` for every live entry in `[lo, hi)` in index order, reading each batch again
    /// (and checking it again); `f` returns `false` to stop.
    pub fn read_entries(&self, lo: u64, hi: u64, f: &mut dyn FnMut(LogItem<'_>) -> bool) {
        let end = hi.min(self.last_index().saturating_add(1));
        let mut i = lo.max(self.first_index());
        while i < end {
            let Some(loc) = self.index.locate(i) else {
                let msg = format!("entry {i} is missing from the rebuilt index");
                f(LogItem::Problem(Problem::new("", None, msg)));
                return;
            };
            let next = loc.first + loc.count;
            let name = loc
                .seg
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let read = read_live(&loc, i, end, |e| {
                f(LogItem::Entry(LiveEntry {
                    index: e.index,
                    term: e.term,
                    payload: e.data,
                    segment: &name,
                    offset: e.offset,
                }))
            });
            match read {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    if !f(LogItem::Problem(problem_of(&name, e))) {
                        return;
                    }
                }
            }
            i = next;
        }
    }
}
