//! The metadata of a snapshot: a prost mirror of `eraftpb.SnapshotMetadata`.
//!
//! Field numbers and types match eraftpb (`conf_state = 1`, `index = 2`, `term = 3`; the
//! ConfState is [`stele_wal::ConfState`], whose repeated fields are unpacked as rust-protobuf
//! writes them), so the stored bytes are the bytes raft-rs produces for the same metadata and any
//! protobuf tool can decode them.

use prost::Message;
use stele_wal::{ConfState, SnapshotMarker};

use crate::name::SnapshotId;

/// Mirror of `eraftpb.SnapshotMetadata`: where a snapshot was taken and the configuration then.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct SnapshotMetadata {
    /// The configuration at `index`.
    #[prost(message, optional, tag = "1")]
    pub conf_state: Option<ConfState>,
    /// The index of the last entry the snapshot covers.
    #[prost(uint64, tag = "2")]
    pub index: u64,
    /// The term of that entry.
    #[prost(uint64, tag = "3")]
    pub term: u64,
}

impl SnapshotMetadata {
    /// Metadata for a snapshot at `index` and `term` with configuration `conf_state`.
    pub fn new(index: u64, term: u64, conf_state: ConfState) -> Self {
        SnapshotMetadata {
            conf_state: Some(conf_state),
            index,
            term,
        }
    }

    /// The snapshot's identity (and so its file name).
    pub fn id(&self) -> SnapshotId {
        SnapshotId::new(self.index, self.term)
    }
}

impl From<SnapshotMarker> for SnapshotMetadata {
    fn from(m: SnapshotMarker) -> Self {
        SnapshotMetadata {
            conf_state: m.conf_state,
            index: m.index,
            term: m.term,
        }
    }
}

impl From<SnapshotMetadata> for SnapshotMarker {
    fn from(m: SnapshotMetadata) -> Self {
        SnapshotMarker {
            conf_state: m.conf_state,
            index: m.index,
            term: m.term,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_match_eraftpb() {
        let cs = ConfState {
            voters: vec![1, 2],
            learners: vec![3],
            ..ConfState::default()
        };
        let m = SnapshotMetadata::new(5, 2, cs);
        // conf_state (field 1, len 6: voters 1, 2 unpacked, learners 3), index 5, term 2.
        let want = [0x0a, 6, 0x08, 1, 0x08, 2, 0x10, 3, 0x10, 5, 0x18, 2];
        assert_eq!(m.encode_to_vec(), want);
        assert_eq!(SnapshotMetadata::decode(&want[..]).unwrap(), m);
    }
}
