//! The one place where raft's protobuf types and stele's prost mirrors meet: HardState,
//! ConfState and snapshot metadata ([`SnapshotMarker`], which is both a WAL marker and a
//! snapshot file's metadata). stele-storage is the only crate that speaks both raft-rs and
//! stele, so the conversions live here and nowhere else, crate-private.
//!
//! Invariants: the mirrors have the same field numbers and types as eraftpb, so a converted
//! value encodes to the bytes raft-rs writes for the original (tested below). ConfState goes
//! through protobuf bytes (rust-protobuf encodes, prost decodes, and back), so the two can never
//! disagree on a field; HardState and the snapshot metadata's scalars are copied field by field.
//! A snapshot's ConfState is always present in the mirror (an unset eraftpb field reads as the
//! default, as protobuf defines), which is what WAL markers have always stored.

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb;
use stele_snap::SnapshotFile;
use stele_wal::SnapshotMarker;

use crate::error::Result;

/// raft's HardState as the WAL's record.
pub(crate) fn hard_state_to_wal(hs: &eraftpb::HardState) -> stele_wal::HardState {
    stele_wal::HardState {
        term: hs.term,
        vote: hs.vote,
        commit: hs.commit,
    }
}

/// The WAL's HardState record as raft's type.
pub(crate) fn hard_state_from_wal(hs: &stele_wal::HardState) -> eraftpb::HardState {
    let mut out = eraftpb::HardState::default();
    out.set_term(hs.term);
    out.set_vote(hs.vote);
    out.set_commit(hs.commit);
    out
}

/// raft's ConfState as the WAL's record.
pub(crate) fn conf_state_to_wal(cs: &eraftpb::ConfState) -> stele_wal::ConfState {
    let bytes = cs.write_to_bytes().expect("an in-memory ConfState encodes");
    stele_wal::ConfState::decode(bytes.as_slice()).expect("the mirror decodes eraftpb bytes")
}

/// The WAL's ConfState record as raft's type.
pub(crate) fn conf_state_from_wal(cs: &stele_wal::ConfState) -> eraftpb::ConfState {
    eraftpb::ConfState::parse_from_bytes(&cs.encode_to_vec()).expect("eraftpb decodes the mirror")
}

/// raft's snapshot metadata as stele's (for a WAL marker and a snapshot file alike).
pub(crate) fn marker_from_raft(meta: &eraftpb::SnapshotMetadata) -> SnapshotMarker {
    SnapshotMarker {
        conf_state: Some(conf_state_to_wal(meta.get_conf_state())),
        index: meta.index,
        term: meta.term,
    }
}

/// stele's snapshot metadata as raft's.
pub(crate) fn marker_to_raft(m: &SnapshotMarker) -> eraftpb::SnapshotMetadata {
    let mut out = eraftpb::SnapshotMetadata::default();
    out.set_index(m.index);
    out.set_term(m.term);
    out.set_conf_state(conf_state_from_wal(
        &m.conf_state.clone().unwrap_or_default(),
    ));
    out
}

/// A loaded snapshot file as raft's snapshot, its data read into memory (raft sends snapshots
/// in one message, so it needs them whole).
pub(crate) fn snapshot_to_raft(file: &SnapshotFile) -> Result<eraftpb::Snapshot> {
    let mut s = eraftpb::Snapshot::default();
    s.set_metadata(marker_to_raft(file.metadata()));
    s.set_data(file.read_to_vec()?.into());
    Ok(s)
}

#[cfg(test)]
mod tests {
    use stele_snap::{SnapOptions, Snapshotter};

    use super::*;

    fn raft_snapshot(index: u64, term: u64, data: &[u8]) -> eraftpb::Snapshot {
        let mut cs = eraftpb::ConfState::default();
        cs.set_voters(vec![1, 2, 3]);
        cs.set_learners(vec![4]);
        cs.set_voters_outgoing(vec![1, 2]);
        cs.set_auto_leave(true);
        let mut s = eraftpb::Snapshot::default();
        s.mut_metadata().set_index(index);
        s.mut_metadata().set_term(term);
        s.mut_metadata().set_conf_state(cs);
        s.set_data(data.to_vec().into());
        s
    }

    #[test]
    fn snapshot_metadata_bytes_are_eraftpb_bytes() {
        let original = raft_snapshot(42, 7, b"");
        let mirror = marker_from_raft(original.get_metadata());
        assert_eq!(
            mirror.encode_to_vec(),
            original.get_metadata().write_to_bytes().unwrap()
        );
        assert_eq!(&marker_to_raft(&mirror), original.get_metadata());
    }

    #[test]
    fn a_raft_snapshot_round_trips_through_a_file_field_for_field() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshotter::open(dir.path(), SnapOptions::default()).unwrap();
        for (index, data) in [(42, &b"state machine bytes"[..]), (43, b"")] {
            let original = raft_snapshot(index, 7, data);
            let id = snaps
                .save_bytes(&marker_from_raft(original.get_metadata()), data)
                .unwrap();
            assert_eq!((id.index, id.term), (index, 7));
            let loaded = snapshot_to_raft(&snaps.load(id).unwrap()).unwrap();
            assert_eq!(loaded, original);
        }
    }

    #[test]
    fn hard_and_conf_states_round_trip() {
        let mut hs = eraftpb::HardState::default();
        hs.set_term(3);
        hs.set_vote(2);
        hs.set_commit(9);
        assert_eq!(hard_state_from_wal(&hard_state_to_wal(&hs)), hs);
        let cs = raft_snapshot(1, 1, b"")
            .get_metadata()
            .get_conf_state()
            .clone();
        let mirror = conf_state_to_wal(&cs);
        assert_eq!(mirror.encode_to_vec(), cs.write_to_bytes().unwrap());
        assert_eq!(conf_state_from_wal(&mirror), cs);
    }
}
