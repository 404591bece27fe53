//! `stele-tools`: the project's binaries.
//!
//! `wal-dump` (inspect and verify what is on disk) and `stele-kv` (a replicated key-value node)
//! arrive with their issues. Until then the runnable demonstration is the root package's
//! `wal_demo` example.
#![deny(missing_docs)]
