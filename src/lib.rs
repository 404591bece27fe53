//! stele: a durable write-ahead log and snapshot storage engine for raft-rs.
//!
//! This facade re-exports the workspace crates so that users depend on one crate:
//! [`wal`] (the segmented, checksummed write-ahead log), [`snap`] (snapshot files),
//! [`storage`] (`DiskStorage`, the persistent `raft::Storage`) and [`node`] (the node driver
//! around `raft::RawNode<DiskStorage>`: Ready loop, transport, state machine).
//!
//! raft-rs itself stays `raft`: `stele::node::Error` is stele's driver error, `raft::Error` is
//! raft-rs's. `docs/RAFT.md` states the contract with raft-rs that these crates implement.
#![deny(missing_docs)]

pub use stele_raft as node;
pub use stele_snap as snap;
pub use stele_storage as storage;
pub use stele_wal as wal;

/// The code blocks of `README.md`, compiled and run by `cargo test --doc -p stele`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
