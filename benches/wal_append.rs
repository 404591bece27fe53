//! `stele-wal` appends against the raw limit of the disk.
//!
//! Each criterion group pairs stele with a raw baseline built from `pwrite`
//! (`FileExt::write_all_at`) and `fdatasync` (`File::sync_data`), as functions of one group, so
//! criterion measures them back to back in one run. After a group's criterion runs, an
//! interleaved check runs the group's routines alternately (A B A B ..., the order reversed every
//! round) and prints to stderr each routine's median rate and its median per-round ratio to the
//! group's first (raw) routine: alternating keeps the ratio meaningful on a machine whose speed
//! drifts. `STELE_BENCH_INTERLEAVE=0` skips it.
//!
//! The raw baselines write exactly the bytes stele writes for the same batch: a 32-byte batch
//! header, per entry a 16-byte record header and the payload padded to 8 bytes, and a 32-byte end
//! marker that the next write overwrites (the position advances by the frame length minus 32).
//! One 1 KiB entry is a 1104-byte write advancing 1072 bytes; 64 x 1 KiB is 66,624 bytes; 64 x 4
//! KiB is 263,232 bytes. Raw files are 64 MiB, like a segment; a raw writer wraps to offset 0
//! before it would run off the end and never extends a file.
//!
//! Groups (time is per append; stele's time includes building the [`Batch`], raw's does not):
//! - `synced_1k`: one 1 KiB entry per append, synced. raw: `pwrite` 1104 bytes + `fdatasync` into
//!   a zero-filled, synced file. stele: `append(batch, true)`, 64 MiB `ZeroFill` segments.
//! - `synced_64x1k`: 64 x 1 KiB per append, synced; same raw, with 66,624-byte writes.
//! - `unsynced_64x4k`: 64 x 4 KiB per append, not synced. raw: `pwrite` 263,232 bytes without
//!   sync, cycling through a 64 MiB zero-filled file (so it measures copying into the page cache);
//!   raw_pwrite_fdatasync_per_64MiB: the same plus one `fdatasync` each time it wraps, which is
//!   what sealing costs stele. stele: 64 MiB segments, `recycle: 2`; segment cuts are timed (the
//!   cut seals the full segment with an `fdatasync` of its 64 MiB and starts a recycled one), the
//!   purge after each cut that hands the old segment to the recycle pool is not.
//! - `group_commit_8threads`: 8 threads appending 1 KiB synced entries; time per append, all
//!   threads together. stele: each thread, holding a mutex over the next raft index, builds a
//!   one-entry batch and calls `append(batch, false)` (so indices reach the log in order), then
//!   releases it and calls `Wal::sync` (group commit). raw: the 8 threads queue their 1072 bytes
//!   (Mutex + Condvar) and wait for an acknowledgement; one writer thread takes everything queued,
//!   writes it with one `pwrite`, calls `fdatasync` once, and acknowledges those appends.
//! - `prealloc`: synced 1 KiB appends by how the space was prepared: raw into a zero-filled file
//!   and into a `fallocate`d (unwritten) one, stele with `ZeroFill`, with `Fallocate`, and into
//!   recycled segments (4 MiB segments first prepared with `Fallocate`, filled once, purged and
//!   reused with `recycle: 2`: every measured append lands in a reused file).
//!
//! Except in `unsynced_64x4k`, segment cuts are kept out of the timed region: each routine
//! computes how many batches surely fit in the active segment, and when none is left it performs
//! the cutting append untimed, then purges (removing the old segment, or keeping it for reuse).
//! A cut inside a timed stretch fails the benchmark. Files live in temporary directories under
//! `std::env::temp_dir()`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stele_wal::format::{align8, BATCH_HEADER_LEN, END_MARKER_LEN, RECORD_HEADER_LEN};
use stele_wal::fs::{FileSystem, StdFs};
use stele_wal::{Batch, Preallocate, Wal, WalOptions};
use tempfile::TempDir;

#[path = "support/mod.rs"]
mod support;

use support::{bench, interleave, selected, Measure, Routine};

const KIB: usize = 1024;
const MIB: u64 = 1 << 20;
/// Size of a raw file and of a stele segment.
const SEGMENT: u64 = 64 * MIB;
/// Segment size of the recycling lane of `prealloc`, so that priming it is quick.
const SMALL_SEGMENT: u64 = 4 * MIB;
const TERM: u64 = 1;
const THREADS: usize = 8;
/// Footer room a one-term batch adds to a segment's reserve: 22 bytes per batch and per run,
/// and a batch of one term counts two runs (`footer_reserve`, `stats_after` in the writer).
const FOOTER_PER_BATCH: u64 = 66;
/// Room of a segment not available to batches, generously: segment header, head batch, the
/// footer's fixed part and the cumulative state, end marker and trailer (about 400 bytes).
const SEGMENT_OVERHEAD: u64 = 2048;

/// Bytes stele writes for one batch of `entries` entries of `entry_len` bytes, end marker included.
fn frame_len(entries: usize, entry_len: usize) -> u64 {
    let per_entry = RECORD_HEADER_LEN as u64 + align8(entry_len as u64);
    (BATCH_HEADER_LEN + END_MARKER_LEN) as u64 + entries as u64 * per_entry
}

/// Non-zero bytes, so nothing can treat a payload as a hole.
fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(131) % 251) as u8 + 1)
        .collect()
}

fn build_batch(first: u64, entries: usize, data: &[u8]) -> Batch {
    let mut b = Batch::with_capacity(entries * (RECORD_HEADER_LEN + data.len()));
    for i in 0..entries {
        b.add_entry(first + i as u64, TERM, data)
            .expect("valid entry");
    }
    b
}

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("stele-wal-bench-")
        .tempdir_in(std::env::temp_dir())
        .expect("create a temporary directory")
}

fn wal_options(segment_size: u64, preallocate: Preallocate, recycle: usize) -> WalOptions {
    WalOptions {
        segment_size,
        preallocate,
        recycle,
        ..WalOptions::default()
    }
}

/// Splits `total` appends over `parts` threads.
fn share(total: u64, parts: usize, i: usize) -> u64 {
    total / parts as u64 + u64::from((i as u64) < total % parts as u64)
}

// ---------------------------------------------------------------------------------------------
// Raw baselines

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawPrep {
    /// Zeros written over the whole file, then `fsync`.
    ZeroFill,
    /// `fallocate` (blocks reserved, unwritten), then `fsync`; replaced by a fresh file (untimed)
    /// whenever the writer wraps, so every write lands in unwritten space.
    Fallocate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawSync {
    EveryWrite,
    /// Once per pass over the file (timed).
    AtWrap,
    Never,
}

/// Creates a `size`-byte file at `path` prepared as `prep`, replacing any file there.
fn raw_file(path: &Path, size: u64, prep: RawPrep) -> File {
    let _ = std::fs::remove_file(path);
    match prep {
        RawPrep::ZeroFill => {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .unwrap();
            let zeros = vec![0u8; MIB as usize];
            let mut at = 0;
            while at < size {
                let n = (size - at).min(MIB);
                f.write_all_at(&zeros[..n as usize], at).unwrap();
                at += n;
            }
            f.sync_all().unwrap();
            f
        }
        RawPrep::Fallocate => {
            // Through stele's file seam only because std has no safe `fallocate`.
            let h = StdFs.create(path).unwrap();
            h.allocate(size).unwrap();
            h.sync_all().unwrap();
            drop(h);
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap()
        }
    }
}

/// A raw log: fixed-size frames written at an advancing offset of one preallocated file.
struct RawLog {
    name: &'static str,
    file: File,
    path: PathBuf,
    _dir: TempDir,
    size: u64,
    pos: u64,
    prep: RawPrep,
    sync: RawSync,
    /// The bytes of one write: a frame as stele would write it, its last 32 bytes zero.
    frame: Vec<u8>,
    advance: u64,
}

impl RawLog {
    fn new(name: &'static str, prep: RawPrep, sync: RawSync, entries: usize, len: usize) -> Self {
        let dir = temp_dir();
        let path = dir.path().join("raw.log");
        let file = raw_file(&path, SEGMENT, prep);
        let frame_len = frame_len(entries, len) as usize;
        let mut frame = payload(frame_len);
        frame[frame_len - END_MARKER_LEN..].fill(0);
        let advance = (frame_len - END_MARKER_LEN) as u64;
        RawLog {
            name,
            file,
            path,
            _dir: dir,
            size: SEGMENT,
            pos: 0,
            prep,
            sync,
            frame,
            advance,
        }
    }

    /// Frames that fit before the writer must wrap.
    fn room(&self) -> u64 {
        let len = self.frame.len() as u64;
        if self.pos + len > self.size {
            0
        } else {
            (self.size - len - self.pos) / self.advance + 1
        }
    }

    /// Goes back to offset 0; returns the time of the part that counts (the `AtWrap` sync).
    fn wrap(&mut self) -> Duration {
        let mut timed = Duration::ZERO;
        if self.sync == RawSync::AtWrap {
            let t = Instant::now();
            self.file.sync_data().unwrap();
            timed = t.elapsed();
        }
        if self.prep == RawPrep::Fallocate {
            self.file = raw_file(&self.path, self.size, self.prep);
        }
        self.pos = 0;
        timed
    }

    /// Writes `buf` and syncs, wrapping first if needed (zero-filled files only).
    fn write_synced(&mut self, buf: &[u8], advance: u64) {
        debug_assert_eq!(self.prep, RawPrep::ZeroFill);
        if self.pos + buf.len() as u64 > self.size {
            self.pos = 0;
        }
        self.file.write_all_at(buf, self.pos).unwrap();
        self.file.sync_data().unwrap();
        self.pos += advance;
    }
}

impl Routine for RawLog {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&mut self, iters: u64) -> Duration {
        let mut spent = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let room = self.room();
            if room == 0 {
                spent += self.wrap();
                continue;
            }
            let n = left.min(room);
            let every = self.sync == RawSync::EveryWrite;
            let t = Instant::now();
            for _ in 0..n {
                self.file.write_all_at(&self.frame, self.pos).unwrap();
                if every {
                    self.file.sync_data().unwrap();
                }
                self.pos += self.advance;
            }
            spent += t.elapsed();
            left -= n;
        }
        spent
    }
}

/// What the raw group-commit producers and writer share.
#[derive(Default)]
struct Queue {
    /// Queued bytes, to be written with one `pwrite`.
    buf: Vec<u8>,
    /// Appends queued so far, and how many of them are durable.
    queued: u64,
    durable: u64,
    stop: bool,
}

/// Raw group commit: producers queue, one writer thread writes and syncs whatever is queued.
struct RawGroupCommit {
    log: RawLog,
    threads: usize,
    appends: u64,
    syncs: u64,
}

fn raw_writer(log: &mut RawLog, queue: &Mutex<Queue>, work: &Condvar, done: &Condvar) -> u64 {
    let mut spare = Vec::new();
    let mut syncs = 0;
    loop {
        let target = {
            let mut q = queue.lock().unwrap();
            while q.buf.is_empty() && !q.stop {
                q = work.wait(q).unwrap();
            }
            if q.buf.is_empty() {
                return syncs;
            }
            std::mem::swap(&mut q.buf, &mut spare);
            q.queued
        };
        let advance = spare.len() as u64;
        spare.extend_from_slice(&[0; END_MARKER_LEN]);
        log.write_synced(&spare, advance);
        syncs += 1;
        spare.clear();
        queue.lock().unwrap().durable = target;
        done.notify_all();
    }
}

impl Routine for RawGroupCommit {
    fn name(&self) -> &'static str {
        self.log.name
    }

    fn run(&mut self, iters: u64) -> Duration {
        let threads = self.threads;
        let chunk = self.log.frame[..self.log.advance as usize].to_vec();
        let queue = Mutex::new(Queue::default());
        let (work, done) = (Condvar::new(), Condvar::new());
        let barrier = Barrier::new(threads + 1);
        let log = &mut self.log;
        let (queue, work, done, barrier, chunk) = (&queue, &work, &done, &barrier, &chunk[..]);
        let (elapsed, syncs) = thread::scope(|s| {
            let writer = s.spawn(move || raw_writer(log, queue, work, done));
            let producers: Vec<_> = (0..threads)
                .map(|i| {
                    let n = share(iters, threads, i);
                    s.spawn(move || {
                        barrier.wait();
                        for _ in 0..n {
                            let mut q = queue.lock().unwrap();
                            q.buf.extend_from_slice(chunk);
                            q.queued += 1;
                            let ticket = q.queued;
                            work.notify_one();
                            while q.durable < ticket {
                                q = done.wait(q).unwrap();
                            }
                        }
                    })
                })
                .collect();
            barrier.wait();
            let t = Instant::now();
            for p in producers {
                p.join().unwrap();
            }
            let elapsed = t.elapsed();
            queue.lock().unwrap().stop = true;
            work.notify_one();
            (elapsed, writer.join().unwrap())
        });
        self.appends += iters;
        self.syncs += syncs;
        elapsed
    }
}

// ---------------------------------------------------------------------------------------------
// stele

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cuts {
    /// The cutting append is performed outside the timed region.
    Untimed,
    /// The cutting append is timed (the purge after it is not).
    Timed,
}

/// A WAL kept open across iterations, appending identical batches of `entries` entries.
struct Lane {
    name: &'static str,
    wal: Wal,
    _dir: TempDir,
    next: u64,
    entries: usize,
    data: Vec<u8>,
    sync: bool,
    cuts: Cuts,
    /// Batches that surely fit in a fresh segment, and in what is left of the active one.
    cap: u64,
    room: u64,
    /// Segments in the log after the last cut and purge.
    segments: usize,
    /// Cuts (since priming) that reused a purged segment, and that prepared a new file.
    recycled_cuts: u64,
    fresh_cuts: u64,
}

impl Lane {
    fn new(name: &'static str, opts: WalOptions, entries: usize, len: usize, sync: bool) -> Self {
        let cuts = Cuts::Untimed;
        let dir = temp_dir();
        let advance = frame_len(entries, len) - END_MARKER_LEN as u64;
        let cap = (opts.segment_size - SEGMENT_OVERHEAD) / (advance + FOOTER_PER_BATCH);
        let wal = Wal::open(dir.path().join("wal"), opts).expect("open the WAL");
        let data = payload(len);
        let (room, segments, recycled_cuts, fresh_cuts) = (0, 0, 0, 0);
        let mut lane = Lane {
            name,
            wal,
            _dir: dir,
            next: 1,
            entries,
            data,
            sync,
            cuts,
            cap,
            room,
            segments,
            recycled_cuts,
            fresh_cuts,
        };
        // The first append creates the first segment, untimed.
        lane.append(true);
        let stats = lane.wal.stats();
        assert_eq!(
            stats.bytes_written,
            frame_len(entries, len),
            "raw frames must match stele's"
        );
        lane.segments = stats.segments;
        lane.room = cap - 1;
        lane
    }

    fn with_timed_cuts(mut self) -> Self {
        self.cuts = Cuts::Timed;
        self
    }

    fn append(&mut self, sync: bool) {
        let batch = build_batch(self.next, self.entries, &self.data);
        self.wal.append(batch, sync).expect("append");
        self.next += self.entries as u64;
        self.room = self.room.saturating_sub(1);
    }

    /// After the append that cut: count it, purge the old segment, reset the room.
    fn after_cut(&mut self, recyclable_before: usize) {
        if self.wal.stats().recyclable < recyclable_before {
            self.recycled_cuts += 1;
        } else {
            self.fresh_cuts += 1;
        }
        self.wal.purge(self.next).expect("purge");
        self.segments = self.wal.stats().segments;
        self.room = self.cap - 1;
    }

    /// Appends (untimed) until the log cuts a new segment.
    fn cut_untimed(&mut self, sync: bool) {
        loop {
            let before = self.wal.stats();
            self.append(sync);
            if self.wal.stats().segments > before.segments {
                self.after_cut(before.recyclable);
                return;
            }
        }
    }

    /// Fills and cuts `cuts` segments with unsynced appends, then forgets the cut counts.
    fn prime(mut self, cuts: usize) -> Self {
        for _ in 0..cuts {
            self.cut_untimed(false);
        }
        self.recycled_cuts = 0;
        self.fresh_cuts = 0;
        self
    }

    fn check_no_cut(&self) {
        let segments = self.wal.stats().segments;
        assert_eq!(
            segments, self.segments,
            "{}: a segment cut inside a timed stretch",
            self.name
        );
    }

    fn report_cuts(&self, group: &str) {
        let (r, f) = (self.recycled_cuts, self.fresh_cuts);
        eprintln!(
            "{group}/{}: segment cuts since priming: {r} into recycled files, {f} new",
            self.name
        );
    }
}

impl Routine for Lane {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&mut self, iters: u64) -> Duration {
        let mut spent = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.room == 0 {
                match self.cuts {
                    Cuts::Untimed => self.cut_untimed(self.sync),
                    Cuts::Timed => {
                        let before = self.wal.stats();
                        let t = Instant::now();
                        self.append(self.sync);
                        spent += t.elapsed();
                        left -= 1;
                        if self.wal.stats().segments > before.segments {
                            self.after_cut(before.recyclable);
                        }
                    }
                }
                continue;
            }
            let n = left.min(self.room);
            let t = Instant::now();
            for _ in 0..n {
                self.append(self.sync);
            }
            spent += t.elapsed();
            left -= n;
            self.check_no_cut();
        }
        spent
    }
}

/// stele under 8 appending threads: ordered `append(batch, false)`, then `Wal::sync`.
struct SteleGroupCommit {
    lane: Lane,
    threads: usize,
    appends: u64,
    syncs: u64,
}

impl SteleGroupCommit {
    /// `n` appends spread over the threads; the time from their start to the last one's return.
    fn chunk(&self, n: u64) -> Duration {
        let threads = self.threads;
        let next = Mutex::new(self.lane.next);
        let barrier = Barrier::new(threads + 1);
        let (wal, data, next, barrier) = (&self.lane.wal, &self.lane.data[..], &next, &barrier);
        let start = thread::scope(|s| {
            for i in 0..threads {
                let n = share(n, threads, i);
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..n {
                        {
                            let mut at = next.lock().unwrap();
                            wal.append(build_batch(*at, 1, data), false)
                                .expect("append");
                            *at += 1;
                        }
                        wal.sync().expect("sync");
                    }
                });
            }
            barrier.wait();
            Instant::now()
        });
        start.elapsed()
    }
}

impl Routine for SteleGroupCommit {
    fn name(&self) -> &'static str {
        self.lane.name
    }

    fn run(&mut self, iters: u64) -> Duration {
        let mut spent = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.lane.room == 0 {
                self.lane.cut_untimed(true);
                continue;
            }
            let n = left.min(self.lane.room);
            let syncs = self.lane.wal.stats().syncs;
            spent += self.chunk(n);
            self.syncs += self.lane.wal.stats().syncs - syncs;
            self.appends += n;
            self.lane.next += n;
            self.lane.room -= n;
            left -= n;
            self.lane.check_no_cut();
        }
        spent
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

/// What the interleaved check shows of a rate of appends.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Appends,
    /// Payload bytes per append.
    Bytes(u64),
}

impl Unit {
    fn show(self, rate: f64) -> String {
        let shown = match self {
            Unit::Appends => format!("{rate:.0} appends/s"),
            Unit::Bytes(b) => format!("{:.1} MiB/s", rate * b as f64 / MIB as f64),
        };
        format!("{shown:>18}")
    }
}

/// The interleaved check of a group: rates of appends, shown in `unit`.
fn interleave_appends(group: &str, unit: Unit, routines: &mut [&mut dyn Routine]) {
    interleave(group, Measure::Rate, 32, |rate| unit.show(rate), routines);
}

fn synced_1k(c: &mut Criterion) {
    const GROUP: &str = "synced_1k";
    if !selected(GROUP, &["raw", "stele"]) {
        return;
    }
    let mut raw = RawLog::new("raw", RawPrep::ZeroFill, RawSync::EveryWrite, 1, KIB);
    let opts = wal_options(SEGMENT, Preallocate::ZeroFill, 0);
    let mut stele = Lane::new("stele", opts, 1, KIB, true);
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::Elements(1));
    bench(&mut g, &mut raw);
    bench(&mut g, &mut stele);
    g.finish();
    interleave_appends(GROUP, Unit::Appends, &mut [&mut raw, &mut stele]);
}

fn synced_64x1k(c: &mut Criterion) {
    const GROUP: &str = "synced_64x1k";
    if !selected(GROUP, &["raw", "stele"]) {
        return;
    }
    let mut raw = RawLog::new("raw", RawPrep::ZeroFill, RawSync::EveryWrite, 64, KIB);
    let opts = wal_options(SEGMENT, Preallocate::ZeroFill, 0);
    let mut stele = Lane::new("stele", opts, 64, KIB, true);
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::Bytes(64 * KIB as u64));
    bench(&mut g, &mut raw);
    bench(&mut g, &mut stele);
    g.finish();
    interleave_appends(
        GROUP,
        Unit::Bytes(64 * KIB as u64),
        &mut [&mut raw, &mut stele],
    );
}

fn unsynced_64x4k(c: &mut Criterion) {
    const GROUP: &str = "unsynced_64x4k";
    const PER_64MIB: &str = "raw_pwrite_fdatasync_per_64MiB";
    if !selected(GROUP, &["raw_pwrite", PER_64MIB, "stele"]) {
        return;
    }
    let mut raw = RawLog::new("raw_pwrite", RawPrep::ZeroFill, RawSync::Never, 64, 4 * KIB);
    let mut raw_synced = RawLog::new(PER_64MIB, RawPrep::ZeroFill, RawSync::AtWrap, 64, 4 * KIB);
    // Two cuts before measuring, so that the recycle pool is never empty at a measured cut.
    let opts = wal_options(SEGMENT, Preallocate::ZeroFill, 2);
    let mut stele = Lane::new("stele", opts, 64, 4 * KIB, false)
        .with_timed_cuts()
        .prime(2);
    let bytes = 64 * 4 * KIB as u64;
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::Bytes(bytes));
    bench(&mut g, &mut raw);
    bench(&mut g, &mut raw_synced);
    bench(&mut g, &mut stele);
    g.finish();
    interleave_appends(
        GROUP,
        Unit::Bytes(bytes),
        &mut [&mut raw, &mut raw_synced, &mut stele],
    );
    stele.report_cuts(GROUP);
}

fn group_commit_8threads(c: &mut Criterion) {
    const GROUP: &str = "group_commit_8threads";
    if !selected(GROUP, &["raw", "stele"]) {
        return;
    }
    let log = RawLog::new("raw", RawPrep::ZeroFill, RawSync::EveryWrite, 1, KIB);
    let mut raw = RawGroupCommit {
        log,
        threads: THREADS,
        appends: 0,
        syncs: 0,
    };
    let opts = wal_options(SEGMENT, Preallocate::ZeroFill, 0);
    let lane = Lane::new("stele", opts, 1, KIB, true);
    let mut stele = SteleGroupCommit {
        lane,
        threads: THREADS,
        appends: 0,
        syncs: 0,
    };
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::Elements(1));
    bench(&mut g, &mut raw);
    bench(&mut g, &mut stele);
    g.finish();
    interleave_appends(GROUP, Unit::Appends, &mut [&mut raw, &mut stele]);
    for (name, appends, syncs) in [
        ("raw", raw.appends, raw.syncs),
        ("stele", stele.appends, stele.syncs),
    ] {
        let per_sync = appends as f64 / syncs.max(1) as f64;
        eprintln!(
            "{GROUP}/{name}: {appends} appends, {syncs} fdatasyncs: {per_sync:.2} appends per fdatasync"
        );
    }
}

fn prealloc(c: &mut Criterion) {
    const GROUP: &str = "prealloc";
    let names = [
        "raw_zerofilled",
        "raw_fallocated",
        "stele_zerofill",
        "stele_fallocate",
    ];
    if !selected(GROUP, &[&names[..], &["stele_recycled"]].concat()) {
        return;
    }
    let sync = RawSync::EveryWrite;
    let mut raw_zero = RawLog::new(names[0], RawPrep::ZeroFill, sync, 1, KIB);
    let mut raw_falloc = RawLog::new(names[1], RawPrep::Fallocate, sync, 1, KIB);
    let opts = wal_options(SEGMENT, Preallocate::ZeroFill, 0);
    let mut zero = Lane::new(names[2], opts, 1, KIB, true);
    let opts = wal_options(SEGMENT, Preallocate::Fallocate, 0);
    let mut falloc = Lane::new(names[3], opts, 1, KIB, true);
    // First segment fallocated and filled; the second also new (the pool is empty at that cut);
    // from the third on every segment is a purged one reused.
    let opts = wal_options(SMALL_SEGMENT, Preallocate::Fallocate, 2);
    let mut recycled = Lane::new("stele_recycled", opts, 1, KIB, true).prime(2);
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::Elements(1));
    bench(&mut g, &mut raw_zero);
    bench(&mut g, &mut raw_falloc);
    bench(&mut g, &mut zero);
    bench(&mut g, &mut falloc);
    bench(&mut g, &mut recycled);
    g.finish();
    let routines: &mut [&mut dyn Routine] = &mut [
        &mut raw_zero,
        &mut raw_falloc,
        &mut zero,
        &mut falloc,
        &mut recycled,
    ];
    interleave_appends(GROUP, Unit::Appends, routines);
    recycled.report_cuts(GROUP);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = synced_1k, synced_64x1k, unsynced_64x4k, group_commit_8threads, prealloc
}
criterion_main!(benches);
