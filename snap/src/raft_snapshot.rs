//! Saving and loading `raft::eraftpb::Snapshot` directly.
//!
//! [`SnapshotMetadata`] mirrors `eraftpb.SnapshotMetadata` field for field, so the conversion
//! goes through protobuf bytes: raft-rs encodes, prost decodes (and back). The two types can
//! therefore never disagree on a field.

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb;

use crate::error::Result;
use crate::file::SnapshotFile;
use crate::meta::SnapshotMetadata;
use crate::name::SnapshotId;
use crate::snapshotter::Snapshotter;

/// Converts raft's snapshot metadata to stele's mirror.
pub fn metadata_from_raft(m: &eraftpb::SnapshotMetadata) -> SnapshotMetadata {
    let bytes = m
        .write_to_bytes()
        .expect("encoding an in-memory SnapshotMetadata cannot fail");
    SnapshotMetadata::decode(bytes.as_slice()).expect("the mirror decodes eraftpb bytes")
}

/// Converts stele's snapshot metadata to raft's type.
pub fn metadata_to_raft(m: &SnapshotMetadata) -> eraftpb::SnapshotMetadata {
    eraftpb::SnapshotMetadata::parse_from_bytes(&m.encode_to_vec())
        .expect("eraftpb decodes the mirror's bytes")
}

impl Snapshotter {
    /// Saves a raft snapshot (its metadata and data) atomically, like
    /// [`save_bytes`](Snapshotter::save_bytes).
    pub fn save_raft(&self, snapshot: &eraftpb::Snapshot) -> Result<SnapshotId> {
        self.save_bytes(
            &metadata_from_raft(snapshot.get_metadata()),
            snapshot.get_data(),
        )
    }
}

impl SnapshotFile {
    /// The whole snapshot as raft's type, its data read into memory (raft sends snapshots in
    /// one message, so it needs them whole).
    pub fn to_raft(&self) -> Result<eraftpb::Snapshot> {
        let mut s = eraftpb::Snapshot::default();
        s.set_metadata(metadata_to_raft(self.metadata()));
        s.set_data(self.read_to_vec()?.into());
        Ok(s)
    }
}
