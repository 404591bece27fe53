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
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use raft::Storage;
use stele::storage::{DiskStorage, StorageOptions};
use tempfile::TempDir;

#[path = "support/disk.rs"]
mod disk;
#[path = "support/logs.rs"]
mod logs;
#[path = "support/mod.rs"]
mod support;

use disk::{dir_bytes, drop_dir_cache};
use logs::{build_raft_engine, build_stele, entry_count, raft_engine_config, temp_dir, REGION};
use support::{bench, interleave, selected, Measure, Routine};

const LOG_BYTES: u64 = 1 << 30;

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
}

impl Routine for Reopen {
    fn name(&self) -> &'static str {
        match self.engine {
            Engine::Stele => "stele",
            Engine::RaftEngine => "raft_engine",
        }
    }

    fn run(&mut self, iters: u64) -> Duration {
        (0..iters).map(|_| self.once()).sum()
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
    let count = entry_count(LOG_BYTES);
    let stele = temp_dir("stele-reopen-bench-");
    let raft_engine = temp_dir("stele-reopen-bench-re-");
    let t = Instant::now();
    build_stele(stele.path(), count, StorageOptions::default());
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
    let mut re = routine(Engine::RaftEngine, &logs.raft_engine);
    let mut stele = routine(Engine::Stele, &logs.stele);
    if cold && !(drop_dir_cache(&re.dir) && drop_dir_cache(&stele.dir)) {
        eprintln!("{group}: skipped: cannot drop files from the page cache here");
        return;
    }
    let mut g = c.benchmark_group(group);
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    bench(&mut g, &mut re);
    bench(&mut g, &mut stele);
    g.finish();
    let ms = |t: f64| format!("{:>9.1} ms", t * 1e3);
    interleave(group, Measure::Time, 12, ms, &mut [&mut re, &mut stele]);
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
