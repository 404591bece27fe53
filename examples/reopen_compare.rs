//! Reopen time and peak memory: stele's `DiskStorage` against tikv `raft-engine` 0.4 on the same
//! 1 GiB of entries, each open in a fresh child process so that peak memory (`VmHWM`) belongs to
//! one engine only.
//!
//! ```text
//! cargo run --release --example reopen_compare -- [--rounds N] [--mib N] [--no-cold]
//!     [--dirs STELE_DIR RAFT_ENGINE_DIR]
//! ```
//!
//! Without `--dirs` it builds both logs in temporary directories (removed at the end): `--mib`
//! MiB (default 1024) of protobuf-encoded entries, each term 1 with 1 KiB of incompressible data,
//! in batches of 64 entries with a HardState, written unsynced and synced once at the end, with
//! default options on both sides (stele: 64 MiB segments; raft-engine: 128 MiB files, LZ4 above
//! 8 KiB). With `--dirs` it opens logs built earlier by this tool (and leaves them there).
//!
//! Then, for each round (default 5), it runs one child per lane, alternating the order every
//! round: `stele`, `raft-engine` (default config, `recovery_threads` 4) and `raft-engine-t2`
//! (`recovery_threads` 2, the number of cores of the machine the figures were taken on). A child
//! (`--child stele DIR` or `--child raft-engine DIR THREADS`) reads its `VmRSS`, opens the log,
//! reads the last index, and prints the time that took and its `VmHWM` and `VmRSS` from
//! `/proc/self/status`. The parent prints medians and ratios to `raft-engine`. Warm rounds
//! (files in the page cache) come first; cold rounds drop each file of the log about to be opened
//! from the page cache first (GNU `dd iflag=nocache count=0`); `--no-cold` skips them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use raft::Storage;
use stele::storage::{DiskStorage, StorageOptions};

#[path = "../benches/support/disk.rs"]
mod disk;
#[path = "../benches/support/logs.rs"]
mod logs;
#[path = "../benches/support/stats.rs"]
mod stats;

use disk::{dir_bytes, drop_dir_cache};
use logs::{build_raft_engine, build_stele, entry_count, temp_dir, REGION};
use stats::median;

const MIB: f64 = (1 << 20) as f64;

/// raft-engine's default config in `dir`, but with `threads` recovery threads.
fn raft_engine_config(dir: &Path, threads: usize) -> raft_engine::Config {
    raft_engine::Config {
        recovery_threads: threads,
        ..logs::raft_engine_config(dir)
    }
}

/// Builds the log (`bytes` of entries) in both directories; returns the number of entries.
fn build(stele_dir: &Path, re_dir: &Path, bytes: u64) -> u64 {
    let count = entry_count(bytes);
    build_stele(stele_dir, count, StorageOptions::default());
    build_raft_engine(re_dir, count);
    count
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

// ---------------------------------------------------------------------------------------------
// Child

fn child(args: &[String]) {
    let engine = args.first().expect("engine name").as_str();
    let dir = PathBuf::from(args.get(1).expect("directory"));
    let before = status_kib("VmRSS");
    let t = Instant::now();
    let (last, note, keep): (u64, String, Box<dyn std::any::Any>) = match engine {
        "stele" => {
            let s = DiskStorage::open(&dir, StorageOptions::default()).expect("open");
            let last = s.last_index().expect("last_index");
            let r = s.wal().recovery();
            let note = format!(
                "segments={} sealed={} scanned={} index_bytes={}",
                r.segments,
                r.sealed,
                r.scanned_bytes,
                s.wal().stats().index_bytes
            );
            (last, note, Box::new(s))
        }
        "raft-engine" => {
            let threads = args.get(2).map_or(4, |t| t.parse().expect("threads"));
            let e = raft_engine::Engine::open(raft_engine_config(&dir, threads)).expect("open");
            let last = e.last_index(REGION).expect("region 1");
            (last, format!("recovery_threads={threads}"), Box::new(e))
        }
        other => panic!("unknown engine {other}"),
    };
    let elapsed = t.elapsed();
    let (hwm, rss) = (status_kib("VmHWM"), status_kib("VmRSS"));
    println!(
        "elapsed_us={} hwm_kib={hwm} rss_kib={rss} rss_before_kib={before} last_index={last} {note}",
        elapsed.as_micros()
    );
    drop(keep);
}

// ---------------------------------------------------------------------------------------------
// Parent

struct Lane {
    name: &'static str,
    args: Vec<String>,
    dir: PathBuf,
}

#[derive(Default, Clone)]
struct Sample {
    ms: f64,
    hwm_mib: f64,
    rss_mib: f64,
    before_mib: f64,
}

fn run_child(lane: &Lane, expect_last: Option<u64>) -> (Sample, String) {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .arg("--child")
        .args(&lane.args)
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn child");
    assert!(out.status.success(), "{}: child failed", lane.name);
    let line = String::from_utf8(out.stdout).expect("UTF-8");
    let field = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{}: no {k} in {line:?}", lane.name))
    };
    if let Some(last) = expect_last {
        assert_eq!(
            field("last_index") as u64,
            last,
            "{}: last index",
            lane.name
        );
    }
    let s = Sample {
        ms: field("elapsed_us") / 1e3,
        hwm_mib: field("hwm_kib") / 1024.0,
        rss_mib: field("rss_kib") / 1024.0,
        before_mib: field("rss_before_kib") / 1024.0,
    };
    (s, line.trim().to_owned())
}

fn compare(lanes: &[Lane], rounds: usize, cold: bool, expect_last: Option<u64>) {
    let mode = if cold { "cold" } else { "warm" };
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); lanes.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..lanes.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            if cold && !drop_dir_cache(&lanes[i].dir) {
                println!("{mode}: skipped: cannot drop files from the page cache here");
                return;
            }
            let (s, line) = run_child(&lanes[i], expect_last);
            if round == 0 {
                println!("  {mode} {:<15} {line}", lanes[i].name);
            }
            samples[i].push(s);
        }
    }
    // Ratios to raft-engine with its default config (lane 1).
    let base = 1;
    println!(
        "{mode} page cache, {rounds} rounds, medians (ratios: median per-round ratio to {}):",
        lanes[base].name
    );
    println!(
        "  {:<15} {:>10} {:>8} {:>11} {:>8} {:>11} {:>13}",
        "engine", "open ms", "ratio", "VmHWM MiB", "ratio", "VmRSS MiB", "RSS before"
    );
    for (i, lane) in lanes.iter().enumerate() {
        let m = |f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
        let r = |f: fn(&Sample) -> f64| {
            median(
                (0..rounds)
                    .map(|k| f(&samples[i][k]) / f(&samples[base][k]))
                    .collect(),
            )
        };
        println!(
            "  {:<15} {:>10.1} {:>7.3}x {:>11.1} {:>7.3}x {:>11.1} {:>13.1}",
            lane.name,
            m(|s| s.ms),
            r(|s| s.ms),
            m(|s| s.hwm_mib),
            r(|s| s.hwm_mib),
            m(|s| s.rss_mib),
            m(|s| s.before_mib)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let (mut rounds, mut mib, mut cold, mut dirs) = (5usize, 1024u64, true, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| panic!("{a} needs a value"))
                .clone()
        };
        match a.as_str() {
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--mib" => mib = value().parse().expect("--mib N"),
            "--no-cold" => cold = false,
            "--dirs" => dirs = Some((PathBuf::from(value()), PathBuf::from(value()))),
            other => panic!("unknown argument {other}"),
        }
    }
    let mut temp = Vec::new();
    let (stele_dir, re_dir, expect_last) = match dirs {
        Some((s, r)) => (s, r, None),
        None => {
            let (s, r) = (
                temp_dir("stele-reopen-cmp-"),
                temp_dir("stele-reopen-cmp-re-"),
            );
            let t = Instant::now();
            let count = build(s.path(), r.path(), mib << 20);
            println!(
                "built {count} entries ({mib} MiB of entries) in {:.1?}: stele {:.1} MiB, raft-engine {:.1} MiB",
                t.elapsed(),
                dir_bytes(s.path()) as f64 / MIB,
                dir_bytes(r.path()) as f64 / MIB
            );
            let paths = (s.path().to_path_buf(), r.path().to_path_buf());
            temp.push(s);
            temp.push(r);
            (paths.0, paths.1, Some(count))
        }
    };
    let lane = |name, engine: &str, dir: &Path, extra: &[&str]| Lane {
        name,
        args: [engine, dir.to_str().expect("UTF-8 path")]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect(),
        dir: dir.to_path_buf(),
    };
    let lanes = [
        lane("stele", "stele", &stele_dir, &[]),
        lane("raft-engine", "raft-engine", &re_dir, &["4"]),
        lane("raft-engine-t2", "raft-engine", &re_dir, &["2"]),
    ];
    compare(&lanes, rounds, false, expect_last);
    if cold {
        compare(&lanes, rounds, true, expect_last);
    }
    drop(temp);
}
