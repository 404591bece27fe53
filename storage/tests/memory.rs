//! Bounded memory: appending far more entry bytes than the cache holds keeps the process's
//! resident memory near the cache limit plus the WAL's index (a few bytes per entry), not the
//! data volume. The 4 GiB run is `cargo run --release --example storage_rss`.
//!
//! What is measured: `VmRSS` and `VmHWM` from `/proc/self/status` before and after appending
//! 256 MiB of 4 KiB entries in batches of 64 (unsynced, then one sync), on a real directory, with
//! an 8 MiB entry cache. Page cache holding the written segments is not part of RSS. Sealed
//! segments are memory-mapped when *read*, and mapped pages that are touched count as RSS, so
//! the measurement reads only the newest entries (served from the cache); reading old entries is
//! checked after the measurement.

use raft::eraftpb::{ConfState, Entry, HardState};
use raft::{GetEntriesContext, Storage};
use stele_storage::{DiskStorage, StorageOptions};

const ENTRY: usize = 4 << 10;
const BATCH: u64 = 64;
const VOLUME: u64 = 256 << 20;
const CACHE: usize = 8 << 20;
/// Allowed growth of resident memory (and of its peak) over the baseline: the cache plus 24 MiB
/// of slack for the allocator and the test's own buffers, an eighth of the data volume (measured
/// growth: about 10 MiB).
const BOUND: u64 = CACHE as u64 + (24 << 20);

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
        * 1024
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn entry(index: u64, template: &[u8]) -> Entry {
    let mut data = template.to_vec();
    data[..8].copy_from_slice(&index.to_le_bytes());
    Entry {
        index,
        term: 1,
        data: data.into(),
        ..Entry::default()
    }
}

#[test]
fn resident_memory_stays_bounded_while_appending() {
    let t0 = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let opts = StorageOptions {
        cache_bytes: CACHE,
        ..StorageOptions::default()
    };
    let storage = DiskStorage::open(dir.path(), opts).unwrap();
    let mut cs = ConfState::default();
    cs.set_voters(vec![1]);
    storage.initialize_with_conf_state(&cs).unwrap();
    let template = vec![0x5a_u8; ENTRY];
    let (rss0, hwm0) = (status("VmRSS"), status("VmHWM"));

    let entries = VOLUME / ENTRY as u64;
    let mut hs = HardState {
        term: 1,
        vote: 1,
        ..HardState::default()
    };
    let mut next = 1;
    let mut peak_cache = 0;
    while next <= entries {
        let batch: Vec<Entry> = (next..next + BATCH).map(|i| entry(i, &template)).collect();
        next += BATCH;
        hs.commit = next - 1 - BATCH / 2;
        storage.append(&batch, Some(&hs), false).unwrap();
        peak_cache = peak_cache.max(storage.cache_bytes());
    }
    storage.sync().unwrap();
    let last = next - 1;
    assert_eq!(storage.last_index().unwrap(), last);
    // The newest entries come from the cache (no map of a sealed segment is touched).
    let tail = storage
        .entries(last - 9, last + 1, None, GetEntriesContext::empty(false))
        .unwrap();
    assert_eq!(tail.len(), 10);
    assert_eq!(tail[9].data[..8], last.to_le_bytes());
    let (rss1, hwm1) = (status("VmRSS"), status("VmHWM"));
    let wal = storage.wal().stats();
    let elapsed = t0.elapsed();

    println!(
        "appended {:.0} MiB ({entries} entries of {ENTRY} B, batches of {BATCH}) in {elapsed:.1?}; \
         VmRSS {:.1} -> {:.1} MiB (+{:.1}), VmHWM {:.1} -> {:.1} MiB; cache {:.1} MiB \
         (limit {:.0}, peak {:.1}); WAL index {} B for {} batches ({:.2} B/entry), {} segments",
        mib(VOLUME),
        mib(rss0),
        mib(rss1),
        mib(rss1.saturating_sub(rss0)),
        mib(hwm0),
        mib(hwm1),
        mib(storage.cache_bytes()),
        mib(CACHE as u64),
        mib(peak_cache),
        wal.index_bytes,
        wal.indexed_batches,
        wal.index_bytes as f64 / entries as f64,
        wal.segments,
    );
    assert!(peak_cache <= CACHE as u64, "cache grew to {peak_cache} B");
    assert!(storage.cache_bytes() <= CACHE as u64);
    assert!(
        rss1 < rss0 + BOUND,
        "resident memory grew by {:.1} MiB appending {:.0} MiB",
        mib(rss1 - rss0),
        mib(VOLUME)
    );
    assert!(
        hwm1 < rss0 + BOUND,
        "peak resident memory {:.1} MiB over a baseline of {:.1} MiB",
        mib(hwm1),
        mib(rss0)
    );
    // The index is a few bytes per entry (here per batch of 64): far below 1 MiB.
    assert!(wal.index_bytes < 1 << 20, "WAL index {} B", wal.index_bytes);

    // Old entries, long evicted from the cache, are read back from the WAL.
    let old = storage
        .entries(1, 3, None, GetEntriesContext::empty(false))
        .unwrap();
    assert_eq!(old.len(), 2);
    assert_eq!(old[1].data[..8], 2u64.to_le_bytes());
    assert_eq!(old[1].data.len(), ENTRY);
}
