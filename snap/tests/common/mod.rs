//! Helpers shared by the integration tests: a simulated disk, deterministic snapshots, and a
//! way to see which snapshots a directory can load.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use stele_snap::{
    snapshot_marker, ConfState, SnapOptions, SnapshotId, SnapshotMarker, Snapshotter,
};
use stele_wal::fs::sim::SimFs;
use stele_wal::fs::FileSystem;

/// The directory the simulated-disk tests use.
pub const DIR: &str = "/data/snap";

pub fn dir() -> &'static Path {
    Path::new(DIR)
}

/// Options over a simulated disk.
pub fn sim_opts(fs: &SimFs) -> SnapOptions {
    SnapOptions {
        fs: Arc::new(fs.clone()),
        ..SnapOptions::default()
    }
}

pub fn open_sim(fs: &SimFs) -> Snapshotter {
    Snapshotter::open(DIR, sim_opts(fs)).expect("open snapshot dir")
}

/// Metadata with a non-trivial configuration.
pub fn meta(index: u64, term: u64) -> SnapshotMarker {
    let conf = ConfState {
        voters: vec![1, 2, 3],
        learners: vec![4],
        voters_outgoing: vec![],
        learners_next: vec![],
        auto_leave: false,
    };
    snapshot_marker(index, term, conf)
}

/// Deterministic data of `len` bytes that differs per snapshot index.
pub fn data_for(index: u64, len: usize) -> Vec<u8> {
    let mut x = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The data length used for the snapshot at `index` in these tests.
pub fn len_for(index: u64) -> usize {
    300 + (index as usize * 37) % 700
}

/// Saves the snapshot at (`index`, `term`) with its deterministic data.
pub fn save(snaps: &Snapshotter, index: u64, term: u64) -> SnapshotId {
    snaps
        .save_bytes(&meta(index, term), &data_for(index, len_for(index)))
        .expect("save")
}

/// Every snapshot that loads, newest first, each checked against its deterministic data and
/// metadata. Panics on any error other than damage (damaged files are quarantined by `load`).
pub fn loadable(snaps: &Snapshotter) -> Vec<SnapshotId> {
    let mut ok = Vec::new();
    for id in snaps.list().expect("list") {
        match snaps.load(id) {
            Ok(s) => {
                assert_eq!(s.metadata(), &meta(id.index, id.term), "metadata of {id}");
                let data = s.read_to_vec().expect("read data");
                assert_eq!(data, data_for(id.index, len_for(id.index)), "data of {id}");
                ok.push(id);
            }
            Err(e) if e.is_damage() => {}
            Err(e) => panic!("loading {id}: {e}"),
        }
    }
    ok
}

/// The file names in the directory (one `list` step on the simulated disk).
pub fn names(fs: &dyn FileSystem, dir: &Path) -> Vec<String> {
    let mut n = fs.list(dir).expect("list");
    n.sort();
    n
}

/// Replaces (or creates) a file with `bytes`, durably, through the file-system seam.
pub fn put_file(fs: &dyn FileSystem, path: &Path, bytes: &[u8]) {
    let _ = fs.remove(path);
    let f = fs.create(path).expect("create");
    f.write_at(bytes, 0).expect("write");
    f.sync_all().expect("sync");
    fs.sync_dir(path.parent().expect("parent"))
        .expect("sync dir");
}
