//! `stele-tools`: the project's tools.
//!
//! [`dump`] is `wal-dump`, which inspects and verifies a stele data directory read-only (the
//! binary `src/bin/wal-dump.rs` only calls [`dump::run`]). `stele-kv` (a replicated key-value
//! node) arrives with its issue.
#![deny(missing_docs)]

pub mod dump;
