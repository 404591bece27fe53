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
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, Storage};
use stele::storage::{DiskStorage, StorageOptions};
use tempfile::TempDir;

const DATA_LEN: usize = 1024;
const BATCH: u64 = 64;
const CACHED_ENTRIES: u64 = 32 * 1024;
const CACHED_READ: u64 = 64;
const UNCACHED_ENTRIES: u64 = 256 * 1024;
const UNCACHED_READ: u64 = 1024;
const REGION: u64 = 1;

// ---------------------------------------------------------------------------------------------
// Data

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Entry `index`: term 1 and 1 KiB of incompressible bytes seeded by the index.
fn entry(index: u64) -> Entry {
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

fn batch(first: u64) -> (Vec<Entry>, HardState) {
    let entries: Vec<Entry> = (first..first + BATCH).map(entry).collect();
    let hs = HardState {
        term: 1,
        vote: 1,
        commit: first + BATCH - 1,
        ..HardState::default()
    };
    (entries, hs)
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(std::env::temp_dir())
        .expect("create a temporary directory")
}

/// Writes `count` entries into a new `DiskStorage` in `dir`; returns the WAL bytes written.
fn build_stele(dir: &Path, count: u64, opts: StorageOptions) -> (DiskStorage, u64) {
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
struct EntryExt;

impl raft_engine::MessageExt for EntryExt {
    type Entry = Entry;

    fn index(e: &Entry) -> u64 {
        e.index
    }
}

fn raft_engine_config(dir: &Path) -> raft_engine::Config {
    raft_engine::Config {
        dir: dir.to_str().expect("UTF-8 path").to_owned(),
        ..raft_engine::Config::default()
    }
}

/// Writes the same batches into a raft-engine in `dir`, one region, HardState as a message.
fn build_raft_engine(dir: &Path, count: u64) -> raft_engine::Engine {
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

/// Something criterion (and the interleaved check) can time: `run(n)` performs `n` reads.
trait Routine {
    fn name(&self) -> &'static str;
    fn run(&mut self, iters: u64) -> Duration;
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

// ---------------------------------------------------------------------------------------------
// Command line, interleaved check

struct Settings {
    filter: Option<String>,
    interleave: bool,
}

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        // criterion's options that take a value, so that the value is not taken for the filter.
        const WITH_VALUE: &[&str] = &[
            "-c",
            "--color",
            "--colour",
            "-s",
            "--save-baseline",
            "-b",
            "--baseline",
            "--baseline-lenient",
            "--format",
            "--profile-time",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--plotting-backend",
            "--output-format",
        ];
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut filter = None;
        let mut skip = false;
        for a in &args {
            if std::mem::take(&mut skip) {
                continue;
            }
            if WITH_VALUE.contains(&a.as_str()) {
                skip = true;
            } else if !a.starts_with('-') && filter.is_none() {
                filter = Some(a.clone());
            }
        }
        let has = |flag: &str| {
            args.iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        let measuring =
            has("--bench") && !has("--test") && !has("--list") && !has("--profile-time");
        let wanted = std::env::var("STELE_BENCH_INTERLEAVE").map_or(true, |v| v != "0");
        Settings {
            filter,
            interleave: measuring && wanted,
        }
    })
}

/// Whether criterion's filter may select one of the group's functions (a regular expression
/// filter is assumed to select everything), so that unselected groups skip their setup.
fn selected(group: &str, functions: &[&str]) -> bool {
    match &settings().filter {
        None => true,
        Some(f) if f.contains(|c: char| "^$.*+?()[]{}|\\".contains(c)) => true,
        Some(f) => functions
            .iter()
            .any(|name| format!("{group}/{name}").contains(f.as_str())),
    }
}

fn bench(g: &mut BenchmarkGroup<'_, WallTime>, r: &mut dyn Routine) {
    g.bench_function(r.name(), |b| b.iter_custom(|n| r.run(n)));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Runs the routines alternately and prints median rates (GB/s of `bytes` per read) and ratios
/// to the first routine.
fn interleave(group: &str, bytes: u64, routines: &mut [&mut dyn Routine]) {
    const ROUNDS: usize = 6;
    const TARGET: Duration = Duration::from_millis(150);
    if !settings().interleave {
        return;
    }
    let iters: Vec<u64> = routines
        .iter_mut()
        .map(|r| {
            let mut n = 1;
            loop {
                let d = r.run(n);
                if d >= Duration::from_millis(20) || n >= 1 << 24 {
                    let scaled = n as f64 * TARGET.as_secs_f64() / d.as_secs_f64().max(1e-9);
                    break (scaled as u64).max(1);
                }
                n *= 4;
            }
        })
        .collect();
    let mut rates = vec![Vec::with_capacity(ROUNDS); routines.len()];
    for round in 0..ROUNDS {
        let mut order: Vec<usize> = (0..routines.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let d = routines[i].run(iters[i]);
            rates[i].push(iters[i] as f64 / d.as_secs_f64());
        }
    }
    eprintln!("interleaved {group} ({ROUNDS} rounds, median rate and median per-round ratio):");
    for (i, r) in routines.iter().enumerate() {
        let rate = median(rates[i].clone());
        let ratio = median((0..ROUNDS).map(|k| rates[i][k] / rates[0][k]).collect());
        let gbs = rate * bytes as f64 / 1e9;
        eprintln!(
            "  {:<20} {gbs:>8.3} GB/s {:>10.0} reads/s  {ratio:.3}x {}",
            r.name(),
            rate,
            routines[0].name()
        );
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
    interleave(GROUP, bytes, &mut [&mut mem, &mut stele]);
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
    interleave(
        GROUP,
        bytes,
        &mut [&mut raw_pread, &mut raw_crc, &mut stele, &mut re],
    );
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
