//! `stele-raft`: the node driver around `raft::RawNode<DiskStorage>`.
//!
//! Not built yet: the driver issue fills this crate (the Ready loop in the order of
//! `raft-rs-contract.md` section 3.2, a transport trait with a TCP transport, a state-machine trait,
//! snapshot and compaction policy).
#![deny(missing_docs)]
