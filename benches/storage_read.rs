//! `DiskStorage::entries` (through `raft::Storage`) against its baselines, in the same run.
//!
//! Entries carry 1 KiB of incompressible data (xorshift), term 1, and are written in batches of
//! 64 with a HardState, as a Ready loop would (`DiskStorage::append(entries, Some(&hs), false)`,
//! one `sync` at the end). Every read is `entries(lo, lo + n, None, GetEntriesContext::empty(false))`
//! with `lo` drawn from the same pseudo-random sequence by every routine of a group, so all of
//! them read the same ranges in the same order. Throughput counts the 1 KiB payloads (decimal
//! units: criterion prints GB/s), a lower bound on the entry bytes delivered.
//!
//! Groups:
//! - `entries_cached`: 64 entries (64 KiB) per read from a log of 32,768 entries (about 33 MB).
//!   `mem_storage`: raft-rs's `MemStorage` holding the same entries. `stele`: a `DiskStorage`
//!   with the default 64 MiB cache, which holds the whole log (checked before measuring). Target:
//!   stele at least 0.8x `mem_storage`.
//! - `entries_uncached`: 1,024 entries (1 MiB) per read from a log of 262,144 entries (about
//!   277 MB written into five 64 MiB segment files: four sealed, one active), reopened with
//!   `cache_bytes: 0` so that every entry comes from the WAL: checksum of each batch touched,
//!   protobuf decode of each entry. Every file is read once before measuring, so reads come from
//!   the page cache (sealed segments through stele's memory maps, the active one with `pread`).
//!   Baselines: `raw_pread` copies the same number of bytes (1,024 entries' share of the WAL's
//!   bytes, headers included) with one `pread` from the segment files, at the position of the
//!   same range; `raw_pread_crc32` also checksums them (crc32fast, like stele). Peer:
//!   `raft_engine`, raft-engine 0.4 (default config: LZ4 above 8 KiB, 128 MiB files) holding the
//!   same batches in one region, read with `fetch_entries_to`. Target: stele at least 1 GB/s.
//!
//! After each group's criterion runs, an interleaved check runs the routines alternately (A B A
//! B .., reversed every round) and prints to stderr each routine's median rate and its median
//! per-round ratio to the group's first routine. `STELE_BENCH_INTERLEAVE=0` skips it.
//!
//! ```text
//! cargo bench --bench storage_read
//! ```

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use protobuf::Message as _;
use raft::eraftpb::Entry;
use raft::storage::MemStorage;
use raft::{GetEntriesContext, Storage};
use stele::storage::{DiskStorage, StorageOptions};

#[path = "support/logs.rs"]
mod logs;
#[path = "support/mod.rs"]
mod support;

use logs::{
    batch, build_raft_engine, build_stele, entry, temp_dir, xorshift, EntryExt, BATCH, DATA_LEN,
    REGION,
};
use support::{bench, interleave, selected, Measure, Routine};

const CACHED_ENTRIES: u64 = 32 * 1024;
const CACHED_READ: u64 = 64;
const UNCACHED_ENTRIES: u64 = 256 * 1024;
const UNCACHED_READ: u64 = 1024;

// ---------------------------------------------------------------------------------------------
// Files

/// Regular files of `dir` (not recursive), sorted by name.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Reads every file of `dir` once, so that its pages are in the page cache.
fn warm(dir: &Path) -> u64 {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    for p in files(dir) {
        let f = File::open(&p).expect("open for warming");
        let mut at = 0;
        loop {
            let n = f.read_at(&mut buf, at).expect("read for warming");
            if n == 0 {
                break;
            }
            at += n as u64;
        }
        total += at;
    }
    total
}

// ---------------------------------------------------------------------------------------------
// Routines

/// The first index of each read: the same pseudo-random sequence for every routine of a group.
struct Offsets {
    x: u64,
    /// Reads start in `[1, span]`.
    span: u64,
}

impl Offsets {
    fn new(entries: u64, per_read: u64) -> Self {
        Offsets {
            x: 0x2545_F491_4F6C_DD1D,
            span: entries - per_read + 1,
        }
    }

    fn next(&mut self) -> u64 {
        1 + xorshift(&mut self.x) % self.span
    }
}

/// `raft::Storage::entries` of `per_read` entries at a time.
struct StorageReader<S: Storage> {
    name: &'static str,
    store: S,
    offs: Offsets,
    per_read: u64,
}

impl<S: Storage> StorageReader<S> {
    fn new(name: &'static str, store: S, entries: u64, per_read: u64) -> Self {
        let offs = Offsets::new(entries, per_read);
        StorageReader {
            name,
            store,
            offs,
            per_read,
        }
    }

    fn read(&self, lo: u64) -> Vec<Entry> {
        let ctx = GetEntriesContext::empty(false);
        let v = self
            .store
            .entries(lo, lo + self.per_read, None, ctx)
            .expect("entries");
        assert_eq!(v.len() as u64, self.per_read, "{}: short read", self.name);
        v
    }
}

impl<S: Storage> Routine for StorageReader<S> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&mut self, iters: u64) -> Duration {
        let t = Instant::now();
        for _ in 0..iters {
            let lo = self.offs.next();
            black_box(self.read(lo));
        }
        t.elapsed()
    }
}

/// raft-engine's `fetch_entries_to`.
struct EngineReader {
    engine: raft_engine::Engine,
    offs: Offsets,
    per_read: u64,
}

impl EngineReader {
    fn read(&self, lo: u64) -> Vec<Entry> {
        let mut v = Vec::with_capacity(self.per_read as usize);
        let n = self
            .engine
            .fetch_entries_to::<EntryExt>(REGION, lo, lo + self.per_read, None, &mut v)
            .expect("fetch_entries_to");
        assert_eq!(n as u64, self.per_read, "raft_engine: short read");
        v
    }
}

impl Routine for EngineReader {
    fn name(&self) -> &'static str {
        "raft_engine"
    }

    fn run(&mut self, iters: u64) -> Duration {
        let t = Instant::now();
        for _ in 0..iters {
            let lo = self.offs.next();
            black_box(self.read(lo));
        }
        t.elapsed()
    }
}

/// One `pread` of a read's share of the WAL bytes, from the segment files, at the position of the
/// range (segments taken back to back, each `seg_len` bytes of data), optionally checksummed.
struct RawPread {
    name: &'static str,
    segments: Vec<File>,
    seg_len: u64,
    bytes_per_entry: f64,
    buf: Vec<u8>,
    offs: Offsets,
    crc: bool,
}

impl Routine for RawPread {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&mut self, iters: u64) -> Duration {
        let len = self.buf.len() as u64;
        let t = Instant::now();
        for _ in 0..iters {
            let lo = self.offs.next();
            let pos = ((lo - 1) as f64 * self.bytes_per_entry) as u64;
            let seg = ((pos / self.seg_len) as usize).min(self.segments.len() - 1);
            let off = (pos % self.seg_len).min(self.seg_len - len) + 64;
            self.segments[seg]
                .read_exact_at(&mut self.buf, off)
                .expect("pread");
            if self.crc {
                black_box(crc32fast::hash(&self.buf));
            }
            black_box(&self.buf);
        }
        t.elapsed()
    }
}

/// The interleaved check's display of a rate of reads of `bytes` payload bytes each: GB/s and
/// reads/s.
fn per_read(bytes: u64) -> impl Fn(f64) -> String {
    move |rate| {
        format!(
            "{:>8.3} GB/s {rate:>10.0} reads/s",
            rate * bytes as f64 / 1e9
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

fn entries_cached(c: &mut Criterion) {
    const GROUP: &str = "entries_cached";
    if !selected(GROUP, &["mem_storage", "stele"]) {
        return;
    }
    let mem = MemStorage::new();
    let dir = temp_dir("stele-read-bench-");
    let (disk, _) = build_stele(dir.path(), CACHED_ENTRIES, StorageOptions::default());
    for first in (1..=CACHED_ENTRIES).step_by(BATCH as usize) {
        mem.wl().append(&batch(first).0).expect("MemStorage append");
    }
    let sizes: u64 = (1..=CACHED_ENTRIES)
        .map(|i| entry(i).compute_size() as u64)
        .sum();
    assert_eq!(disk.cache_bytes(), sizes, "the whole log must be cached");
    let mut mem = StorageReader::new("mem_storage", mem, CACHED_ENTRIES, CACHED_READ);
    let mut stele = StorageReader::new("stele", disk, CACHED_ENTRIES, CACHED_READ);
    for lo in [1, CACHED_ENTRIES / 2, CACHED_ENTRIES - CACHED_READ + 1] {
        assert_eq!(mem.read(lo), stele.read(lo), "same entries at {lo}");
    }
    let bytes = CACHED_READ * DATA_LEN as u64;
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::BytesDecimal(bytes));
    bench(&mut g, &mut mem);
    bench(&mut g, &mut stele);
    g.finish();
    let show = per_read(bytes);
    interleave(GROUP, Measure::Rate, 20, show, &mut [&mut mem, &mut stele]);
}

fn entries_uncached(c: &mut Criterion) {
    const GROUP: &str = "entries_uncached";
    let names = ["raw_pread", "raw_pread_crc32", "stele", "raft_engine"];
    if !selected(GROUP, &names) {
        return;
    }
    let dir = temp_dir("stele-read-bench-");
    let (disk, written) = build_stele(dir.path(), UNCACHED_ENTRIES, StorageOptions::default());
    let segments = disk.wal().stats().segments;
    drop(disk);
    let uncached = StorageOptions {
        cache_bytes: 0,
        ..StorageOptions::default()
    };
    let disk = DiskStorage::open(dir.path(), uncached).expect("reopen DiskStorage");
    assert_eq!(disk.cache_bytes(), 0);
    let report = disk.wal().recovery().clone();
    let re_dir = temp_dir("stele-read-bench-re-");
    let engine = build_raft_engine(re_dir.path(), UNCACHED_ENTRIES);

    let wal_dir = dir.path().join("wal");
    let seg_paths: Vec<PathBuf> = files(&wal_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    assert_eq!(seg_paths.len(), segments);
    let wal_bytes = warm(&wal_dir);
    let re_bytes = warm(re_dir.path());
    let bytes_per_entry = written as f64 / UNCACHED_ENTRIES as f64;
    let raw_len = (bytes_per_entry * UNCACHED_READ as f64) as usize;
    let data_len = StorageOptions::default().wal.segment_size - 64 - 32;
    let raw = |name, crc| RawPread {
        name,
        segments: seg_paths
            .iter()
            .map(|p| File::open(p).expect("open segment"))
            .collect(),
        seg_len: data_len,
        bytes_per_entry,
        buf: vec![0u8; raw_len],
        offs: Offsets::new(UNCACHED_ENTRIES, UNCACHED_READ),
        crc,
    };
    let mut raw_pread = raw(names[0], false);
    let mut raw_crc = raw(names[1], true);
    let mut stele = StorageReader::new(names[2], disk, UNCACHED_ENTRIES, UNCACHED_READ);
    let mut re = EngineReader {
        engine,
        offs: Offsets::new(UNCACHED_ENTRIES, UNCACHED_READ),
        per_read: UNCACHED_READ,
    };
    // One pass over the whole log through each engine (maps the sealed segments), and a check
    // that both return the same entries.
    for lo in (1..=UNCACHED_ENTRIES - UNCACHED_READ + 1).step_by(UNCACHED_READ as usize) {
        let (a, b) = (stele.read(lo), re.read(lo));
        assert!(a == b, "stele and raft-engine differ at {lo}");
    }
    eprintln!(
        "{GROUP}: stele WAL {} segments ({} sealed), {:.1} MB of files ({:.1} bytes per entry written, \
         raw reads {raw_len} bytes); raft-engine {:.1} MB of files",
        report.segments,
        report.sealed,
        wal_bytes as f64 / 1e6,
        bytes_per_entry,
        re_bytes as f64 / 1e6
    );
    let bytes = UNCACHED_READ * DATA_LEN as u64;
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::BytesDecimal(bytes));
    bench(&mut g, &mut raw_pread);
    bench(&mut g, &mut raw_crc);
    bench(&mut g, &mut stele);
    bench(&mut g, &mut re);
    g.finish();
    let routines: &mut [&mut dyn Routine] =
        &mut [&mut raw_pread, &mut raw_crc, &mut stele, &mut re];
    interleave(GROUP, Measure::Rate, 20, per_read(bytes), routines);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = entries_cached, entries_uncached
}
criterion_main!(benches);
