//! The metadata records stored in batches and footers: prost messages (derive only, no protoc).
//!
//! `HardState` and `ConfState` mirror `eraftpb` field for field (same numbers and types, repeated
//! fields unpacked as rust-protobuf writes them), so their bytes are the bytes raft-rs produces.

use prost::Message;

/// Mirror of `eraftpb.HardState`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct HardState {
    /// Current term.
    #[prost(uint64, tag = "1")]
    pub term: u64,
    /// Vote in the current term (0: none).
    #[prost(uint64, tag = "2")]
    pub vote: u64,
    /// Highest index known committed.
    #[prost(uint64, tag = "3")]
    pub commit: u64,
}

/// Mirror of `eraftpb.ConfState`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ConfState {
    /// Voters.
    #[prost(uint64, repeated, packed = "false", tag = "1")]
    pub voters: Vec<u64>,
    /// Learners.
    #[prost(uint64, repeated, packed = "false", tag = "2")]
    pub learners: Vec<u64>,
    /// Voters of the outgoing configuration (joint consensus).
    #[prost(uint64, repeated, packed = "false", tag = "3")]
    pub voters_outgoing: Vec<u64>,
    /// Learners to add when leaving the joint configuration.
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub learners_next: Vec<u64>,
    /// Leave the joint configuration automatically.
    #[prost(bool, tag = "5")]
    pub auto_leave: bool,
}

/// A snapshot exists at (index, term) with this configuration. Mirrors
/// `eraftpb.SnapshotMetadata` field numbers. Informational: it changes no entries.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct SnapshotMarker {
    /// Configuration at the snapshot index.
    #[prost(message, optional, tag = "1")]
    pub conf_state: Option<ConfState>,
    /// Snapshot index.
    #[prost(uint64, tag = "2")]
    pub index: u64,
    /// Term of the snapshot index.
    #[prost(uint64, tag = "3")]
    pub term: u64,
}

/// The point the log starts after: entries up to `index` are gone and `term(index) == term`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct LogStart {
    /// The last index no longer in the log.
    #[prost(uint64, tag = "1")]
    pub index: u64,
    /// The term of that index.
    #[prost(uint64, tag = "2")]
    pub term: u64,
}

/// How many snapshot markers the cumulative state keeps (the newest ones).
pub const MAX_MARKERS: usize = 16;

/// The cumulative metadata of the log: the newest of each record. Written at the head of every
/// segment and in every seal, so older segments can be purged without losing it.
#[derive(Clone, PartialEq, Message)]
pub struct LogState {
    /// Newest HardState.
    #[prost(message, optional, tag = "1")]
    pub hard_state: Option<HardState>,
    /// Newest ConfState.
    #[prost(message, optional, tag = "2")]
    pub conf_state: Option<ConfState>,
    /// Newest snapshot markers, oldest first, at most [`MAX_MARKERS`].
    #[prost(message, repeated, tag = "3")]
    pub markers: Vec<SnapshotMarker>,
    /// Where the log starts: the newest reset, or the highest compaction point since it (a
    /// compaction below the current start is a no-op and does not move it back).
    #[prost(message, optional, tag = "4")]
    pub start: Option<LogStart>,
}

impl LogState {
    pub(crate) fn push_marker(&mut self, m: SnapshotMarker) {
        self.markers.push(m);
        if self.markers.len() > MAX_MARKERS {
            let extra = self.markers.len() - MAX_MARKERS;
            self.markers.drain(..extra);
        }
    }
}

/// The seal of a segment: enough to rebuild the in-memory index without reading any batch.
#[derive(Clone, PartialEq, Message)]
pub struct SegmentFooter {
    /// The cumulative state when the segment was sealed.
    #[prost(message, optional, tag = "1")]
    pub state: Option<LogState>,
    /// A reset happened in this segment (everything before it is gone).
    #[prost(bool, tag = "2")]
    pub had_reset: bool,
    /// The lowest index a batch of this segment overwrote from (0: none).
    #[prost(uint64, tag = "3")]
    pub truncate_from: u64,
    /// First live index of each live batch, ascending.
    #[prost(uint64, repeated, tag = "4")]
    pub batch_first: Vec<u64>,
    /// Byte offset of each live batch.
    #[prost(uint64, repeated, tag = "5")]
    pub batch_offset: Vec<u64>,
    /// One past the last live index of this segment.
    #[prost(uint64, tag = "6")]
    pub end_index: u64,
    /// First index of each run of equal terms among the live entries.
    #[prost(uint64, repeated, tag = "7")]
    pub run_first: Vec<u64>,
    /// The term of each run.
    #[prost(uint64, repeated, tag = "8")]
    pub run_term: Vec<u64>,
}
