//! `stele-kv`: a replicated key-value node (being built).
fn main() {}
