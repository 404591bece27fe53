//! stele: a durable write-ahead log and snapshot storage engine for raft-rs.
//!
//! This facade re-exports the workspace crates so that users depend on one crate:
//! [`wal`] (the segmented, checksummed write-ahead log), [`snap`] (snapshot files),
//! [`storage`] (the persistent `raft::Storage`) and [`raft`] (the node driver).
#![deny(missing_docs)]

pub use stele_raft as raft;
pub use stele_snap as snap;
pub use stele_storage as storage;
pub use stele_wal as wal;
