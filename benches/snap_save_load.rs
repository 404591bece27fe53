//! Saving and loading a 256 MiB snapshot against the raw-I/O limit, in the same run.
//!
//! - `save/stele`: `Snapshotter::writer`, 1 MiB `write_all`s, `finish` (trailer, fsync, rename,
//!   directory fsync). `save/raw`: create a file, the same 1 MiB writes, `sync_all`.
//! - `load/raw`: open the file and `read` it in 1 MiB chunks. `load/stele_mmap` and
//!   `load/stele_pread`: `load_newest` (which verifies every byte's checksum before handing out
//!   anything) and then stream the data through `SnapshotReader` into a 1 MiB buffer (which
//!   re-checks the checksum at the end), reading through the memory map or through positional
//!   reads. `load/stele_zero_copy`: `load_newest`, then walk `SnapshotFile::data()` (the map) in
//!   1 MiB slices without copying.
//! - `load` reads from the page cache (the files were just written), so it measures CPU and memory
//!   bandwidth. `load_cold` drops each file from the page cache before every iteration (GNU
//!   `dd iflag=nocache count=0`, outside the timed part), so it measures the disk; it is skipped
//!   where that does not work.
//!
//! Throughput is reported in bytes; compare the medians of `stele*` and `raw` within one run.
//!
//! ```text
//! cargo bench --bench snap_save_load
//! ```

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use stele_snap::{
    snapshot_marker, ConfState, SnapOptions, SnapshotId, SnapshotMarker, Snapshotter,
};

#[path = "support/disk.rs"]
mod disk;

use disk::drop_cache;

const MIB: usize = 1 << 20;
const CHUNKS: usize = 256;
const SIZE: u64 = (CHUNKS * MIB) as u64;

fn chunk_source() -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..MIB / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

fn meta() -> SnapshotMarker {
    snapshot_marker(
        1000,
        3,
        ConfState {
            voters: vec![1, 2, 3],
            ..ConfState::default()
        },
    )
}

fn save_stele(snaps: &Snapshotter, chunk: &[u8]) {
    let mut w = snaps.writer(meta()).unwrap();
    for _ in 0..CHUNKS {
        w.write_all(chunk).unwrap();
    }
    w.finish().unwrap();
}

fn save_raw(path: &Path, chunk: &[u8]) {
    let _ = std::fs::remove_file(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap();
    for _ in 0..CHUNKS {
        f.write_all(chunk).unwrap();
    }
    f.sync_all().unwrap();
}

fn drain(mut src: impl Read, buf: &mut [u8]) {
    let mut total = 0u64;
    loop {
        let n = src.read(buf).unwrap();
        if n == 0 {
            break;
        }
        total += black_box(&buf[..n]).len() as u64;
    }
    assert_eq!(total, SIZE);
}

fn load_stele(snaps: &Snapshotter, buf: &mut [u8]) {
    drain(snaps.load_newest().unwrap().reader(), buf);
}

fn load_zero_copy(snaps: &Snapshotter) {
    let snap = snaps.load_newest().unwrap();
    let data = snap.data().expect("the real file system maps files");
    let total: usize = data.chunks(MIB).map(|c| black_box(c).len()).sum();
    assert_eq!(total as u64, SIZE);
}

fn load_raw(path: &Path, buf: &mut [u8]) {
    drain(File::open(path).unwrap(), buf);
}

fn configure(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, secs: u64) {
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Bytes(SIZE));
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(secs));
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let chunk = chunk_source();
    let raw = tmp.path().join("raw.bin");
    let snaps = Snapshotter::open(tmp.path().join("snap"), SnapOptions::default()).unwrap();
    let nomap = SnapOptions {
        use_mmap: false,
        ..SnapOptions::default()
    };
    let snaps_nomap = Snapshotter::open(tmp.path().join("snap-nomap"), nomap).unwrap();
    // The load benches need the files even when a filter skips the save benches.
    save_raw(&raw, &chunk);
    save_stele(&snaps, &chunk);
    save_stele(&snaps_nomap, &chunk);

    let mut g = c.benchmark_group("save");
    configure(&mut g, 8);
    g.bench_function("raw", |b| b.iter(|| save_raw(&raw, &chunk)));
    g.bench_function("stele", |b| b.iter(|| save_stele(&snaps, &chunk)));
    g.finish();

    let mut buf = vec![0u8; MIB];
    let mut g = c.benchmark_group("load");
    configure(&mut g, 4);
    g.bench_function("raw", |b| b.iter(|| load_raw(&raw, &mut buf)));
    g.bench_function("stele_mmap", |b| b.iter(|| load_stele(&snaps, &mut buf)));
    g.bench_function("stele_pread", |b| {
        b.iter(|| load_stele(&snaps_nomap, &mut buf))
    });
    g.bench_function("stele_zero_copy", |b| b.iter(|| load_zero_copy(&snaps)));
    g.finish();

    let stele_file = snaps.path_of(SnapshotId::of(&meta()));
    let nomap_file = snaps_nomap.path_of(SnapshotId::of(&meta()));
    if !(drop_cache(&raw) && drop_cache(&stele_file) && drop_cache(&nomap_file)) {
        eprintln!("load_cold skipped: cannot drop files from the page cache here");
        return;
    }
    let mut g = c.benchmark_group("load_cold");
    configure(&mut g, 8);
    let per = BatchSize::PerIteration;
    g.bench_function("raw", |b| {
        b.iter_batched(|| drop_cache(&raw), |_| load_raw(&raw, &mut buf), per)
    });
    g.bench_function("stele_mmap", |b| {
        b.iter_batched(
            || drop_cache(&stele_file),
            |_| load_stele(&snaps, &mut buf),
            per,
        )
    });
    g.bench_function("stele_pread", |b| {
        b.iter_batched(
            || drop_cache(&nomap_file),
            |_| load_stele(&snaps_nomap, &mut buf),
            per,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
