//! The write path through the public API: stele's `DiskStorage::append` (what a raft-rs user
//! calls) and `Wal::append`, against raw `pwrite` + `fdatasync` into written (zero-filled)
//! space and tikv `raft-engine` 0.4 (`LogBatch::add_entries` + `write(sync)`), interleaved in
//! one process.
//!
//! ```text
//! cargo run --release --example append_compare -- [--rounds N] [--segment-mib M]
//!     [--scale F] [--dir DIR] [--prealloc zero|fallocate|setlen]
//!     [--lanes raw,raft-engine,storage,wal] [--compact] [WORKLOAD...]
//! ```
//!
//! Workloads (default: all), each long enough for at least 4 segment cuts at the default 64 MiB
//! segments (`--scale` multiplies the amounts, e.g. 0.1 for a quick look):
//! - `sync64`: 64 x 1 KiB entries per synced append, 4,200 appends (about 275 MB); MB/s;
//! - `sync1`: 1 x 1 KiB synced, 15,000 appends; appends/s and per-append p50, p99, max;
//! - `bulk`: 4 KiB entries in batches of 64, unsynced (one sync at the end), 1 GiB; entries/s;
//! - `threads8`: 8 threads, 1 KiB synced each, one log, 2,000 writes per thread; writes/s
//!   (stele: index taken under a mutex, `append` unsynced, `sync` outside it: group commit;
//!   raft-engine: one region per thread, `write(sync)`, as it would be used);
//! - `first`: open a new log and time the first synced 1 KiB append.
//!
//! `--compact` (single-writer workloads): every lane also compacts behind itself, as a raft log in service does (a
//! snapshot and `compact`): each time a segment's worth of bytes was appended, the log is
//! compacted to keep one segment's worth of entries (`DiskStorage`: `create_snapshot` of empty
//! data then `compact`; `Wal`: `purge`; raft-engine: `compact_to` then `purge_expired_files`;
//! raw writes into its written file as always). Purged segments are then recycled and cuts
//! need no zero-fill: the steady state of a log that does not only grow.
//!
//! Every round builds each lane in a fresh directory under DIR (default the system's temporary
//! directory) and runs the lanes in an order that alternates from round to round; it prints each
//! round, then per workload the median of each lane and the ratios of stele's lanes to raw and to
//! raft-engine. A lane's time includes building its batch from the entries (encoding), as the
//! user's would. Raw writes the bytes stele's WAL would write for the same append.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use stele::storage::{DiskStorage, StorageOptions};
use stele_wal::{Batch, Preallocate, Wal, WalOptions};

#[path = "../benches/support/stats.rs"]
mod stats;

use stats::median;

const KIB: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lane {
    Raw,
    RaftEngine,
    Storage,
    Wal,
}

const LANES: [Lane; 4] = [Lane::Raw, Lane::RaftEngine, Lane::Storage, Lane::Wal];

impl Lane {
    fn name(self) -> &'static str {
        match self {
            Lane::Raw => "raw",
            Lane::RaftEngine => "raft-engine",
            Lane::Storage => "stele DiskStorage",
            Lane::Wal => "stele Wal",
        }
    }
}

/// One workload: entries per append, entry size, appends, synced, threads.
#[derive(Clone, Copy, Debug)]
struct Work {
    name: &'static str,
    per_append: usize,
    entry: usize,
    appends: usize,
    sync: bool,
    threads: usize,
}

/// What a lane did in one round.
#[derive(Default, Clone)]
struct Run {
    elapsed: Duration,
    bytes: u64,
    entries: u64,
    appends: u64,
    lat: Vec<Duration>,
}

impl Run {
    fn figure(&self, w: &Work) -> f64 {
        let s = self.elapsed.as_secs_f64();
        match w.name {
            "sync64" => self.bytes as f64 / s / 1e6,
            "bulk" => self.entries as f64 / s,
            "first" => self.lat.first().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            _ => self.appends as f64 / s,
        }
    }
}

fn unit(w: &Work) -> &'static str {
    match w.name {
        "sync64" => "MB/s",
        "bulk" => "entries/s",
        "first" => "ms (first synced append)",
        "threads8" => "writes/s",
        _ => "appends/s",
    }
}

/// 256 incompressible payloads of `len` bytes, made once per size: generating bytes is not
/// what a user's append costs, copying them into the entry is.
fn payloads(len: usize) -> Arc<Vec<Vec<u8>>> {
    type Table = Arc<Vec<Vec<u8>>>;
    static TABLES: Mutex<Vec<(usize, Table)>> = Mutex::new(Vec::new());
    let mut t = TABLES.lock().unwrap();
    if let Some((_, v)) = t.iter().find(|(l, _)| *l == len) {
        return v.clone();
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let v: Vec<Vec<u8>> = (0..256)
        .map(|_| {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        })
        .collect();
    let v = Arc::new(v);
    t.push((len, v.clone()));
    v
}

fn entries(first: u64, n: usize, len: usize) -> Vec<Entry> {
    let table = payloads(len);
    (first..first + n as u64)
        .map(|index| Entry {
            index,
            term: 1,
            data: table[(index % 256) as usize].clone().into(),
            ..Entry::default()
        })
        .collect()
}

fn hard_state(commit: u64) -> HardState {
    HardState {
        term: 1,
        vote: 1,
        commit,
        ..HardState::default()
    }
}

/// `--compact`: compact behind the writer (see the module docs).
static COMPACT: Mutex<bool> = Mutex::new(false);

/// `--prealloc`: how stele's segment files are preallocated (default: the WAL's default).
static PREALLOC: Mutex<Option<Preallocate>> = Mutex::new(None);

fn wal_opts(segment: u64) -> WalOptions {
    let d = WalOptions::default();
    WalOptions {
        segment_size: segment,
        preallocate: PREALLOC.lock().unwrap().unwrap_or(d.preallocate),
        ..d
    }
}

/// The bytes stele's WAL writes for one append of `ents`: 32-byte batch header, per entry a
/// 16-byte record header and its protobuf bytes padded to 8, the 32-byte end marker.
fn frame_len(ents: &[Entry]) -> usize {
    32 + ents
        .iter()
        .map(|e| 16 + (e.compute_size() as usize).div_ceil(8) * 8)
        .sum::<usize>()
        + 32
}

fn run_lane(lane: Lane, w: &Work, dir: &Path, segment: u64) -> Run {
    if w.threads > 1 {
        return run_threads(lane, w, dir, segment);
    }
    let mut run = Run::default();
    let t_open = Instant::now();
    let mut sink = Sink::open(lane, w, dir, segment);
    let opened = t_open.elapsed();
    let t0 = Instant::now();
    let mut next = 1u64;
    let per_segment = (segment / frame_len(&entries(1, 1, w.entry)) as u64).max(1);
    let mut since_compact = 0u64;
    let compact = *COMPACT.lock().unwrap();
    for _ in 0..w.appends {
        let ents = entries(next, w.per_append, w.entry);
        let t = Instant::now();
        let bytes = sink.append(&ents, hard_state(next), w.sync);
        run.bytes += bytes;
        since_compact += bytes;
        if compact && since_compact >= segment {
            let last = next + w.per_append as u64 - 1;
            if last > per_segment {
                sink.compact(last - per_segment);
            }
            since_compact = 0;
        }
        if w.name != "bulk" {
            run.lat.push(t.elapsed());
        }
        next += w.per_append as u64;
        run.entries += w.per_append as u64;
        run.appends += 1;
    }
    if !w.sync {
        sink.sync();
    }
    run.elapsed = t0.elapsed();
    if w.name == "first" {
        run.lat.push(opened);
    }
    run
}

/// One lane's log (one value per run: the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum Sink {
    Raw { file: File, at: u64, frame: Vec<u8> },
    RaftEngine(raft_engine::Engine),
    Storage(DiskStorage),
    Wal(Box<Wal>),
}

impl Sink {
    fn open(lane: Lane, w: &Work, dir: &Path, segment: u64) -> Sink {
        match lane {
            Lane::Raw => {
                let size = (frame_len(&entries(1, w.per_append, w.entry)) * w.appends) as u64;
                let file = File::create(dir.join("raw.log")).expect("create raw");
                let zeros = vec![0u8; 1 << 20];
                let mut at = 0;
                while at < size + (1 << 20) {
                    file.write_all_at(&zeros, at).expect("zero-fill raw");
                    at += zeros.len() as u64;
                }
                file.sync_all().expect("sync raw");
                Sink::Raw {
                    file,
                    at: 0,
                    frame: Vec::new(),
                }
            }
            Lane::RaftEngine => Sink::RaftEngine(
                raft_engine::Engine::open(raft_engine::Config {
                    dir: dir.to_str().expect("UTF-8 path").to_owned(),
                    ..raft_engine::Config::default()
                })
                .expect("open raft-engine"),
            ),
            Lane::Storage => {
                let o = StorageOptions {
                    wal: wal_opts(segment),
                    ..StorageOptions::default()
                };
                Sink::Storage(DiskStorage::open(dir, o).expect("open DiskStorage"))
            }
            Lane::Wal => Sink::Wal(Box::new(
                Wal::open(dir, wal_opts(segment)).expect("open Wal"),
            )),
        }
    }

    /// Appends; returns the entry bytes (protobuf) appended.
    fn append(&mut self, ents: &[Entry], hs: HardState, sync: bool) -> u64 {
        let bytes: u64 = ents.iter().map(|e| e.compute_size() as u64).sum();
        match self {
            Sink::Raw { file, at, frame } => {
                // The same bytes stele writes, built the same way (encoded into one buffer).
                frame.clear();
                frame.resize(32, 0);
                for e in ents {
                    let b = e.write_to_bytes().expect("encode");
                    frame.extend_from_slice(&[0u8; 16]);
                    frame.extend_from_slice(&b);
                    frame.resize(frame.len().div_ceil(8) * 8, 0);
                }
                frame.extend_from_slice(&[0u8; 32]);
                file.write_all_at(frame, *at).expect("raw write");
                *at += frame.len() as u64 - 32;
                if sync {
                    file.sync_data().expect("raw fdatasync");
                }
            }
            Sink::RaftEngine(e) => {
                let mut b = raft_engine::LogBatch::default();
                b.add_entries::<EntryExt>(1, ents).expect("add entries");
                b.put_message(1, b"hard_state".to_vec(), &hs)
                    .expect("put hard state");
                e.write(&mut b, sync).expect("raft-engine write");
            }
            Sink::Storage(s) => s.append(ents, Some(&hs), sync).expect("append"),
            Sink::Wal(wal) => {
                wal.append(wal_batch(ents, hs), sync).expect("append");
            }
        }
        bytes
    }

    /// Compacts the log to `index` (see `--compact`).
    fn compact(&mut self, index: u64) {
        match self {
            Sink::Raw { .. } => {}
            Sink::RaftEngine(e) => {
                e.compact_to(1, index);
                e.purge_expired_files().expect("raft-engine purge");
            }
            Sink::Storage(s) => {
                let cs = raft::eraftpb::ConfState::default();
                s.create_snapshot(index, &cs, &mut &b""[..])
                    .expect("snapshot");
                s.compact(index).expect("compact");
            }
            Sink::Wal(w) => {
                w.purge(index + 1).expect("purge");
            }
        }
    }

    fn sync(&mut self) {
        match self {
            Sink::Raw { file, .. } => file.sync_data().expect("raw fdatasync"),
            Sink::RaftEngine(e) => {
                e.sync().expect("raft-engine sync");
            }
            Sink::Storage(s) => {
                s.sync().expect("sync");
            }
            Sink::Wal(w) => {
                w.sync().expect("sync");
            }
        }
    }
}

#[derive(Clone)]
struct EntryExt;

impl raft_engine::MessageExt for EntryExt {
    type Entry = Entry;

    fn index(e: &Entry) -> u64 {
        e.index
    }
}

/// The log the `threads8` writers share (one value per run).
#[allow(clippy::large_enum_variant)]
enum Shared {
    RaftEngine(raft_engine::Engine),
    Storage(DiskStorage),
    Wal(Box<Wal>),
}

/// `threads8`: stele lanes share one log (index taken under a mutex, append unsynced, `sync`
/// outside it: group commit); raft-engine gives each thread a region and writes synced; raw is
/// left out (no one-file model of eight writers exists that is not itself a group commit).
fn run_threads(lane: Lane, w: &Work, dir: &Path, segment: u64) -> Run {
    let shared = Arc::new(match Sink::open(lane, w, dir, segment) {
        Sink::RaftEngine(e) => Shared::RaftEngine(e),
        Sink::Storage(s) => Shared::Storage(s),
        Sink::Wal(wal) => Shared::Wal(wal),
        Sink::Raw { .. } => unreachable!("raw is not run with threads"),
    });
    let next = Arc::new(Mutex::new(1u64));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..w.threads)
        .map(|t| {
            let (shared, next, w) = (shared.clone(), next.clone(), *w);
            std::thread::spawn(move || {
                let region = t as u64 + 1;
                for i in 1..=w.appends as u64 {
                    match &*shared {
                        Shared::RaftEngine(e) => {
                            let mut b = raft_engine::LogBatch::default();
                            b.add_entries::<EntryExt>(region, &entries(i, 1, w.entry))
                                .expect("add entries");
                            b.put_message(region, b"hard_state".to_vec(), &hard_state(i))
                                .expect("put hard state");
                            e.write(&mut b, true).expect("raft-engine write");
                        }
                        Shared::Storage(s) => {
                            {
                                let mut n = next.lock().unwrap();
                                let ents = entries(*n, 1, w.entry);
                                s.append(&ents, Some(&hard_state(*n)), false)
                                    .expect("append");
                                *n += 1;
                            }
                            s.sync().expect("sync");
                        }
                        Shared::Wal(wal) => {
                            {
                                let mut n = next.lock().unwrap();
                                let ents = entries(*n, 1, w.entry);
                                wal.append(wal_batch(&ents, hard_state(*n)), false)
                                    .expect("append");
                                *n += 1;
                            }
                            wal.sync().expect("sync");
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
    let n = (w.appends * w.threads) as u64;
    Run {
        elapsed: t0.elapsed(),
        bytes: n * w.entry as u64,
        entries: n,
        appends: n,
        lat: Vec::new(),
    }
}

/// A WAL batch of `ents` (their protobuf bytes, as `DiskStorage` stores them) and `hs`.
fn wal_batch(ents: &[Entry], hs: HardState) -> Batch {
    let mut b = Batch::new();
    for e in ents {
        b.add_entry_with(e.index, e.term, e.compute_size() as usize, |buf| {
            e.write_to_vec(buf).map_err(|e| e.to_string())
        })
        .expect("add entry");
    }
    b.set_hard_state(stele_wal::HardState {
        term: hs.term,
        vote: hs.vote,
        commit: hs.commit,
    });
    b
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let mut rounds = 3;
    let mut segment_mib = 64u64;
    let mut scale = 1.0f64;
    let mut base: PathBuf = std::env::temp_dir();
    let mut wanted: Vec<String> = Vec::new();
    let mut only: Option<Vec<Lane>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("a value after the flag");
        match a.as_str() {
            "--rounds" => rounds = val().parse().expect("--rounds N"),
            "--segment-mib" => segment_mib = val().parse().expect("--segment-mib M"),
            "--scale" => scale = val().parse().expect("--scale F"),
            "--dir" => base = PathBuf::from(val()),
            "--prealloc" => {
                let p = match val().as_str() {
                    "zero" => Preallocate::ZeroFill,
                    "fallocate" => Preallocate::Fallocate,
                    "setlen" => Preallocate::SetLen,
                    other => panic!("--prealloc zero|fallocate|setlen, not {other}"),
                };
                *PREALLOC.lock().unwrap() = Some(p);
            }
            "--compact" => *COMPACT.lock().unwrap() = true,
            "--lanes" => {
                let names = val();
                let pick = |n: &str| match n {
                    "raw" => Lane::Raw,
                    "raft-engine" => Lane::RaftEngine,
                    "storage" => Lane::Storage,
                    "wal" => Lane::Wal,
                    other => panic!("--lanes takes raw,raft-engine,storage,wal, not {other}"),
                };
                only = Some(names.split(',').map(pick).collect());
            }
            other => wanted.push(other.to_string()),
        }
    }
    let segment = segment_mib << 20;
    let n = |x: usize| ((x as f64 * scale).ceil() as usize).max(1);
    let all = [
        Work {
            name: "sync64",
            per_append: 64,
            entry: KIB,
            appends: n(4200),
            sync: true,
            threads: 1,
        },
        Work {
            name: "sync1",
            per_append: 1,
            entry: KIB,
            appends: n(15000),
            sync: true,
            threads: 1,
        },
        Work {
            name: "bulk",
            per_append: 64,
            entry: 4 * KIB,
            appends: n(4096),
            sync: false,
            threads: 1,
        },
        Work {
            name: "threads8",
            per_append: 1,
            entry: KIB,
            appends: n(2000),
            sync: true,
            threads: 8,
        },
        Work {
            name: "first",
            per_append: 1,
            entry: KIB,
            appends: 1,
            sync: true,
            threads: 1,
        },
    ];
    let prealloc = wal_opts(segment).preallocate;
    let compact = if *COMPACT.lock().unwrap() {
        ", compacting behind"
    } else {
        ""
    };
    println!(
        "append_compare: {rounds} rounds, {segment_mib} MiB segments ({prealloc:?}), scale \
         {scale}{compact}"
    );
    for w in all
        .iter()
        .filter(|w| wanted.is_empty() || wanted.iter().any(|x| x == w.name))
    {
        let lanes: Vec<Lane> = LANES
            .iter()
            .copied()
            .filter(|l| !(w.threads > 1 && *l == Lane::Raw))
            .filter(|l| only.as_ref().is_none_or(|o| o.contains(l)))
            .collect();
        let mut figs: Vec<Vec<f64>> = vec![Vec::new(); lanes.len()];
        let mut lats: Vec<Vec<Duration>> = vec![Vec::new(); lanes.len()];
        let mut maxes: Vec<Vec<f64>> = vec![Vec::new(); lanes.len()];
        for r in 0..rounds {
            let mut order: Vec<usize> = (0..lanes.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            let mut line = format!("{} round {}:", w.name, r + 1);
            for &i in &order {
                let dir = tempfile::Builder::new()
                    .prefix("append-compare-")
                    .tempdir_in(&base)
                    .expect("temporary directory");
                let mut run = run_lane(lanes[i], w, dir.path(), segment);
                let f = run.figure(w);
                figs[i].push(f);
                line.push_str(&format!(" {} {:.1};", lanes[i].name(), f));
                if w.name == "sync1" {
                    let mx = run.lat.iter().max().copied().unwrap_or_default();
                    maxes[i].push(mx.as_secs_f64() * 1e3);
                    lats[i].append(&mut run.lat);
                }
            }
            println!("{line}");
        }
        println!("{} ({}), medians of {rounds}:", w.name, unit(w));
        let med: Vec<f64> = figs.iter().map(|f| median(f.clone())).collect();
        let of = |l: Lane| lanes.iter().position(|x| *x == l).map(|i| med[i]);
        for (i, l) in lanes.iter().enumerate() {
            let mut s = format!("  {:<18} {:>12.1}", l.name(), med[i]);
            if matches!(l, Lane::Storage | Lane::Wal) {
                let lower_is_better = w.name == "first";
                for base in [Lane::Raw, Lane::RaftEngine] {
                    if let Some(b) = of(base).filter(|b| *b > 0.0) {
                        let ratio = if lower_is_better {
                            b / med[i]
                        } else {
                            med[i] / b
                        };
                        s.push_str(&format!("  {:.2}x {}", ratio, base.name()));
                    }
                }
            }
            if w.name == "sync1" {
                let v = &mut lats[i];
                let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
                s.push_str(&format!(
                    "  p50 {:.3} ms p99 {:.3} ms max(median of rounds) {:.2} ms",
                    p50.as_secs_f64() * 1e3,
                    p99.as_secs_f64() * 1e3,
                    median(maxes[i].clone())
                ));
            }
            println!("{s}");
        }
    }
}
