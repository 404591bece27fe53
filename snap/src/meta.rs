//! The metadata of a snapshot is [`SnapshotMarker`], the WAL's record type: one prost mirror of
//! `eraftpb.SnapshotMetadata`, whatever stores it (a snapshot file's metadata, a WAL marker).
//!
//! Field numbers and types match eraftpb (`conf_state = 1`, `index = 2`, `term = 3`; the
//! ConfState is [`stele_wal::ConfState`], whose repeated fields are unpacked as rust-protobuf
//! writes them), so the stored bytes are the bytes raft-rs produces for the same metadata and any
//! protobuf tool can decode them. Conversions from and to raft's own types live in
//! `stele-storage`, the one crate that speaks both.

use stele_wal::{ConfState, SnapshotMarker};

/// The metadata of a snapshot at `index` and `term` with configuration `conf_state`.
pub fn snapshot_marker(index: u64, term: u64, conf_state: ConfState) -> SnapshotMarker {
    SnapshotMarker {
        conf_state: Some(conf_state),
        index,
        term,
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn bytes_match_eraftpb() {
        let cs = ConfState {
            voters: vec![1, 2],
            learners: vec![3],
            ..ConfState::default()
        };
        let m = snapshot_marker(5, 2, cs);
        // conf_state (field 1, len 6: voters 1, 2 unpacked, learners 3), index 5, term 2.
        let want = [0x0a, 6, 0x08, 1, 0x08, 2, 0x10, 3, 0x10, 5, 0x18, 2];
        assert_eq!(m.encode_to_vec(), want);
        assert_eq!(SnapshotMarker::decode(&want[..]).unwrap(), m);
    }
}
