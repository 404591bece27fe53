//! Saving a `raft::eraftpb::Snapshot` and loading it back as one.

use protobuf::Message;
use raft::eraftpb::{ConfState, Snapshot};
use stele_snap::{metadata_from_raft, SnapOptions, Snapshotter};

fn raft_snapshot(index: u64, term: u64, data: &[u8]) -> Snapshot {
    let mut cs = ConfState::default();
    cs.set_voters(vec![1, 2, 3]);
    cs.set_learners(vec![4]);
    cs.set_voters_outgoing(vec![1, 2]);
    cs.set_auto_leave(true);
    let mut s = Snapshot::default();
    s.mut_metadata().set_index(index);
    s.mut_metadata().set_term(term);
    s.mut_metadata().set_conf_state(cs);
    s.set_data(data.to_vec().into());
    s
}

#[test]
fn a_raft_snapshot_round_trips_field_for_field() {
    let dir = tempfile::tempdir().unwrap();
    let snap = Snapshotter::open(dir.path(), SnapOptions::default()).unwrap();
    let original = raft_snapshot(42, 7, b"state machine bytes");
    let id = snap.save_raft(&original).unwrap();
    assert_eq!((id.index, id.term), (42, 7));
    let loaded = snap.load_newest().unwrap().to_raft().unwrap();
    assert_eq!(loaded, original);
    // The stored metadata is byte-for-byte what raft-rs encodes.
    let mirror = metadata_from_raft(original.get_metadata());
    assert_eq!(
        prost::Message::encode_to_vec(&mirror),
        original.get_metadata().write_to_bytes().unwrap()
    );
}

#[test]
fn an_empty_raft_snapshot_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let snap = Snapshotter::open(dir.path(), SnapOptions::default()).unwrap();
    let original = raft_snapshot(1, 1, b"");
    snap.save_raft(&original).unwrap();
    assert_eq!(snap.load_newest().unwrap().to_raft().unwrap(), original);
}
