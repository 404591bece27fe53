//! `stele-snap`: durable snapshot files for raft state machines.
//!
//! Not built yet: the snapshot-files issue fills this crate (streaming save through a temporary
//! file, fsync, rename and directory fsync; loading the newest valid snapshot; purging). It will do
//! all of its file access through [`stele_wal::fs::FileSystem`], the same seam the WAL uses, so
//! that crash tests cover both.
#![deny(missing_docs)]

pub use stele_wal::fs::FileSystem;
