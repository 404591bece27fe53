//! `wal-dump`: inspect and verify a stele data directory (being built).
fn main() {}
