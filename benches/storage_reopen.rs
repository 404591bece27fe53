//! Reopening a 1 GiB log: `DiskStorage::open` against tikv `raft-engine` 0.4 `Engine::open` of
//! the same entries, in the same run.
//!
//! Built once, outside the measurement: 1 GiB of entries (protobuf size summed; each entry term 1
//! with 1 KiB of incompressible data, about 1.04 M entries), in batches of 64 entries with a
//! HardState, written unsynced and synced once at the end:
//! - stele: `DiskStorage::append(entries, Some(&hs), false)` with the default options (64 MiB
//!   segments; every segment but the last is sealed with a footer);
//! - raft-engine: one region, `LogBatch::add_entries` + `put_message` of the HardState,
//!   `Engine::write(&mut batch, false)`, `Engine::sync`, with the default config (128 MiB files,
//!   LZ4 above 8 KiB, `recovery_threads` 4 although the machine may have fewer cores).
//!
//! Each iteration opens the log and reads its last index (`raft::Storage::last_index` /
//! `Engine::last_index`); the handle is dropped outside the timed part.
//!
//! Groups:
//! - `reopen_1gib`: the files are in the page cache (they were just written), so this measures
//!   the CPU work of recovery.
//! - `reopen_1gib_cold`: every file of the engine being opened is dropped from the page cache
//!   before each iteration (GNU `dd iflag=nocache count=0`, untimed), as raft-engine's own
//!   `bench_recovery` does with `fadvise(DONTNEED)`; skipped where that does not work.
//!
//! After each group's criterion runs, an interleaved check opens each engine alternately
//! (reversing the order every round) and prints median times and the median per-round ratio to
//! raft-engine to stderr; `STELE_BENCH_INTERLEAVE=0` skips it. Peak memory is not measured here
//! (one process cannot measure it fairly for two engines): see `examples/reopen_compare.rs`.
//!
//! ```text
//! cargo bench --bench storage_reopen
//! ```

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use raft::Storage;
use stele::storage::{DiskStorage, StorageOptions};
use tempfile::TempDir;

const DATA_LEN: usize = 1024;
const BATCH: u64 = 64;
const LOG_BYTES: u64 = 1 << 30;
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

/// Entries making `LOG_BYTES` of protobuf-encoded entries, rounded up to whole batches.
fn entry_count() -> u64 {
    let per_batch: u64 = (1..=BATCH)
        .map(|i| entry(i << 19).compute_size() as u64)
        .sum();
    LOG_BYTES.div_ceil(per_batch) * BATCH
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(std::env::temp_dir())
        .expect("create a temporary directory")
}

fn build_stele(dir: &Path, count: u64) {
    let s = DiskStorage::open(dir, StorageOptions::default()).expect("open DiskStorage");
    for first in (1..=count).step_by(BATCH as usize) {
        let (entries, hs) = batch(first);
        s.append(&entries, Some(&hs), false).expect("append");
    }
    s.sync().expect("sync");
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

fn build_raft_engine(dir: &Path, count: u64) {
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
}

/// Regular files under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
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

fn dir_bytes(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum()
}

/// Drops a (synced) file's pages from the page cache; false if that is not possible here.
fn drop_cache(path: &Path) -> bool {
    Command::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn drop_dir_cache(dir: &Path) -> bool {
    files(dir).iter().all(|p| drop_cache(p))
}

// ---------------------------------------------------------------------------------------------
// Routines

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Stele,
    RaftEngine,
}

struct Reopen {
    engine: Engine,
    dir: PathBuf,
    cold: bool,
    expect_last: u64,
}

impl Reopen {
    fn name(&self) -> &'static str {
        match self.engine {
            Engine::Stele => "stele",
            Engine::RaftEngine => "raft_engine",
        }
    }

    /// One timed open + last index; the drop is not timed.
    fn once(&self) -> Duration {
        if self.cold {
            assert!(drop_dir_cache(&self.dir), "dropping the page cache failed");
        }
        match self.engine {
            Engine::Stele => {
                let t = Instant::now();
                let s = DiskStorage::open(&self.dir, StorageOptions::default()).expect("open");
                let last = black_box(s.last_index().expect("last_index"));
                let d = t.elapsed();
                assert_eq!(last, self.expect_last);
                drop(s);
                d
            }
            Engine::RaftEngine => {
                let t = Instant::now();
                let e = raft_engine::Engine::open(raft_engine_config(&self.dir)).expect("open");
                let last = black_box(e.last_index(REGION));
                let d = t.elapsed();
                assert_eq!(last, Some(self.expect_last));
                drop(e);
                d
            }
        }
    }

    fn run(&self, iters: u64) -> Duration {
        (0..iters).map(|_| self.once()).sum()
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
/// filter is assumed to select everything).
fn selected(group: &str, functions: &[&str]) -> bool {
    match &settings().filter {
        None => true,
        Some(f) if f.contains(|c: char| "^$.*+?()[]{}|\\".contains(c)) => true,
        Some(f) => functions
            .iter()
            .any(|name| format!("{group}/{name}").contains(f.as_str())),
    }
}

fn bench(g: &mut BenchmarkGroup<'_, WallTime>, r: &Reopen) {
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

/// Opens each engine once per round, alternately, and prints median times and the median
/// per-round ratio of each time to the first routine's.
fn interleave(group: &str, routines: &[&Reopen]) {
    const ROUNDS: usize = 6;
    if !settings().interleave {
        return;
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); routines.len()];
    for round in 0..ROUNDS {
        let mut order: Vec<usize> = (0..routines.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            times[i].push(routines[i].once().as_secs_f64());
        }
    }
    eprintln!(
        "interleaved {group} ({ROUNDS} rounds, median time and median per-round time ratio):"
    );
    for (i, r) in routines.iter().enumerate() {
        let t = median(times[i].clone());
        let ratio = median((0..ROUNDS).map(|k| times[i][k] / times[0][k]).collect());
        eprintln!(
            "  {:<12} {:>9.1} ms  {ratio:.3}x {}",
            r.name(),
            t * 1e3,
            routines[0].name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

struct Logs {
    stele: TempDir,
    raft_engine: TempDir,
    last: u64,
}

/// Builds the two logs on first use; they are removed when `main` returns.
fn build_logs() -> Logs {
    let count = entry_count();
    let stele = temp_dir("stele-reopen-bench-");
    let raft_engine = temp_dir("stele-reopen-bench-re-");
    let t = Instant::now();
    build_stele(stele.path(), count);
    let t_stele = t.elapsed();
    let t = Instant::now();
    build_raft_engine(raft_engine.path(), count);
    let t_re = t.elapsed();
    let s = DiskStorage::open(stele.path(), StorageOptions::default()).expect("open");
    let r = s.wal().recovery().clone();
    let index_bytes = s.wal().stats().index_bytes;
    drop(s);
    eprintln!(
        "built {count} entries ({LOG_BYTES} bytes of entries): stele {:.1} MB in {} segments \
         ({} sealed, {:.1} MB of the active one scanned on open, index {index_bytes} bytes) in \
         {t_stele:.1?}; raft-engine {:.1} MB in {t_re:.1?}",
        dir_bytes(stele.path()) as f64 / 1e6,
        r.segments,
        r.sealed,
        r.scanned_bytes as f64 / 1e6,
        dir_bytes(raft_engine.path()) as f64 / 1e6,
    );
    Logs {
        stele,
        raft_engine,
        last: count,
    }
}

fn reopen_group(c: &mut Criterion, logs: &OnceCell<Logs>, group: &str, cold: bool) {
    if !selected(group, &["raft_engine", "stele"]) {
        return;
    }
    let logs = logs.get_or_init(build_logs);
    let routine = |engine, dir: &TempDir| Reopen {
        engine,
        dir: dir.path().to_path_buf(),
        cold,
        expect_last: logs.last,
    };
    let re = routine(Engine::RaftEngine, &logs.raft_engine);
    let stele = routine(Engine::Stele, &logs.stele);
    if cold && !(drop_dir_cache(&re.dir) && drop_dir_cache(&stele.dir)) {
        eprintln!("{group}: skipped: cannot drop files from the page cache here");
        return;
    }
    let mut g = c.benchmark_group(group);
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    bench(&mut g, &re);
    bench(&mut g, &stele);
    g.finish();
    interleave(group, &[&re, &stele]);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

// `criterion_main!` without statics, so that the logs' temporary directories are removed.
fn main() {
    let logs = OnceCell::new();
    let mut c = config().configure_from_args();
    reopen_group(&mut c, &logs, "reopen_1gib", false);
    reopen_group(&mut c, &logs, "reopen_1gib_cold", true);
    c.final_summary();
}
