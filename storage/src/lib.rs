//! `stele-storage`: `DiskStorage`, the persistent `raft::Storage` over `stele-wal` and
//! `stele-snap`.
//!
//! Not built yet: the storage issue fills this crate. The WAL API it will sit on is
//! [`stele_wal::Wal`]: atomic batches of entries and metadata, reads visible as soon as `append`
//! returns, an explicit `sync` that reports how far the log is durable, and replay from an index.
#![deny(missing_docs)]

pub use stele_wal::Wal;
