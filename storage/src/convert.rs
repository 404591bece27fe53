//! Conversions between raft's protobuf types and stele-wal's prost mirrors.
//!
//! The mirrors have the same field numbers and types, so the conversion goes through protobuf
//! bytes (rust-protobuf encodes, prost decodes, and back): the two can never disagree on a field.

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb;

/// raft's HardState as the WAL's record.
pub fn hard_state_to_wal(hs: &eraftpb::HardState) -> stele_wal::HardState {
    stele_wal::HardState {
        term: hs.term,
        vote: hs.vote,
        commit: hs.commit,
    }
}

/// The WAL's HardState record as raft's type.
pub fn hard_state_from_wal(hs: &stele_wal::HardState) -> eraftpb::HardState {
    let mut out = eraftpb::HardState::default();
    out.set_term(hs.term);
    out.set_vote(hs.vote);
    out.set_commit(hs.commit);
    out
}

/// raft's ConfState as the WAL's record.
pub fn conf_state_to_wal(cs: &eraftpb::ConfState) -> stele_wal::ConfState {
    let bytes = cs.write_to_bytes().expect("an in-memory ConfState encodes");
    stele_wal::ConfState::decode(bytes.as_slice()).expect("the mirror decodes eraftpb bytes")
}

/// The WAL's ConfState record as raft's type.
pub fn conf_state_from_wal(cs: &stele_wal::ConfState) -> eraftpb::ConfState {
    eraftpb::ConfState::parse_from_bytes(&cs.encode_to_vec()).expect("eraftpb decodes the mirror")
}

/// A snapshot marker for raft snapshot metadata.
pub fn marker_of(meta: &eraftpb::SnapshotMetadata) -> stele_wal::SnapshotMarker {
    stele_wal::SnapshotMarker {
        conf_state: Some(conf_state_to_wal(meta.get_conf_state())),
        index: meta.index,
        term: meta.term,
    }
}
