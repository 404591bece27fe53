//! `stele-kv`: a replicated key-value node (see `stele_tools::kv`).
fn main() {
    std::process::exit(stele_tools::kv::main_with_args());
}
