//! `stele-tools`: the project's tools.
//!
//! [`dump`] is `wal-dump`, which inspects and verifies a stele data directory read-only (the
//! binary `src/bin/wal-dump.rs` only calls [`dump::run`]). `stele-kv` (a replicated key-value
//! node) lives in [`kv`]; its binary `src/bin/stele-kv.rs` only calls [`kv::main_with_args`].
//! [`lincheck`] checks recorded client histories for linearizability (the nemesis test uses it).
//! Errors print through [`error::ErrorChain`] (each message of the chain once).
#![deny(missing_docs)]

pub mod dump;
pub mod error;
pub mod kv;
pub mod lincheck;
