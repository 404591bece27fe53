//! The log of the storage benches (`storage_read`, `storage_reopen`) and of
//! `examples/reopen_compare.rs` (each includes this file with `#[path]`): entries of term 1 with
//! 1 KiB of incompressible data, written in batches of 64 entries with a HardState, unsynced,
//! and synced once at the end, into a stele `DiskStorage` and into a tikv `raft-engine` 0.4
//! (one region, the HardState as a message).

use std::path::Path;

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use stele::storage::{DiskStorage, StorageOptions};
use tempfile::TempDir;

/// Data bytes of an entry.
pub const DATA_LEN: usize = 1024;
/// Entries per write.
pub const BATCH: u64 = 64;
/// The raft-engine region holding the log.
pub const REGION: u64 = 1;

pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Entry `index`: term 1 and 1 KiB of incompressible bytes seeded by the index.
pub fn entry(index: u64) -> Entry {
    let mut x = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<u8> = (0..DATA_LEN / 8)
        .flat_map(|_| xorshift(&mut x).to_le_bytes())
        .collect();
    Entry {
        index,
        term: 1,
        data: data.into(),
        ..Entry::default()
    }
}

/// The batch starting at `first`, and the HardState written with it.
pub fn batch(first: u64) -> (Vec<Entry>, HardState) {
    let entries: Vec<Entry> = (first..first + BATCH).map(entry).collect();
    let hs = HardState {
        term: 1,
        vote: 1,
        commit: first + BATCH - 1,
        ..HardState::default()
    };
    (entries, hs)
}

/// Entries making `bytes` of protobuf-encoded entries, rounded up to whole batches.
#[allow(dead_code)] // storage_read does not use it
pub fn entry_count(bytes: u64) -> u64 {
    let per_batch: u64 = (1..=BATCH)
        .map(|i| entry(i << 19).compute_size() as u64)
        .sum();
    bytes.div_ceil(per_batch) * BATCH
}

/// A new temporary directory under `std::env::temp_dir()`, removed when dropped.
pub fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(std::env::temp_dir())
        .expect("create a temporary directory")
}

/// Writes `count` entries into a new `DiskStorage` in `dir`; returns it and the WAL bytes written.
pub fn build_stele(dir: &Path, count: u64, opts: StorageOptions) -> (DiskStorage, u64) {
    let s = DiskStorage::open(dir, opts).expect("open DiskStorage");
    for first in (1..=count).step_by(BATCH as usize) {
        let (entries, hs) = batch(first);
        s.append(&entries, Some(&hs), false).expect("append");
    }
    s.sync().expect("sync");
    let written = s.wal().stats().bytes_written;
    (s, written)
}

#[derive(Clone)]
pub struct EntryExt;

impl raft_engine::MessageExt for EntryExt {
    type Entry = Entry;

    fn index(e: &Entry) -> u64 {
        e.index
    }
}

/// raft-engine's default config (128 MiB files, LZ4 above 8 KiB, `recovery_threads` 4) in `dir`.
pub fn raft_engine_config(dir: &Path) -> raft_engine::Config {
    raft_engine::Config {
        dir: dir.to_str().expect("UTF-8 path").to_owned(),
        ..raft_engine::Config::default()
    }
}

/// Writes the same batches into a new raft-engine in `dir` (default config); returns it.
pub fn build_raft_engine(dir: &Path, count: u64) -> raft_engine::Engine {
    let engine = raft_engine::Engine::open(raft_engine_config(dir)).expect("open raft-engine");
    for first in (1..=count).step_by(BATCH as usize) {
        let (entries, hs) = batch(first);
        let mut b = raft_engine::LogBatch::default();
        b.add_entries::<EntryExt>(REGION, &entries)
            .expect("add entries");
        b.put_message(REGION, b"hard_state".to_vec(), &hs)
            .expect("put hard state");
        engine.write(&mut b, false).expect("write");
    }
    engine.sync().expect("sync");
    engine
}
