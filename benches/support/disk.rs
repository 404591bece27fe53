//! Files of a log directory and the page cache, for `storage_reopen`, `snap_save_load` and
//! `examples/reopen_compare.rs` (each includes this file with `#[path]`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Regular files under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("list directory") {
        let p = e.expect("directory entry").path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// Bytes of the regular files under `dir`.
#[allow(dead_code)] // snap_save_load does not use it
pub fn dir_bytes(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum()
}

/// Drops a (synced) file's pages from the page cache (GNU `dd iflag=nocache count=0`); false if
/// that is not possible here.
pub fn drop_cache(path: &Path) -> bool {
    Command::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Drops every (synced) file under `dir` from the page cache; false if that is not possible.
#[allow(dead_code)] // snap_save_load does not use it
pub fn drop_dir_cache(dir: &Path) -> bool {
    files(dir).iter().all(|p| drop_cache(p))
}
