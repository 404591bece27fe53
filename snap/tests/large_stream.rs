//! A 256 MiB snapshot streamed through save and load on the real file system, with memory
//! measured honestly:
//! - heap: a counting global allocator (this test binary only) tracks live bytes and their
//!   peak; each phase must peak far below the snapshot size (a few MiB of buffers);
//! - resident memory: `VmHWM` (peak RSS, reset through `/proc/self/clear_refs`) must not grow by
//!   anything near the snapshot size in the phases that do not map the file. A memory map's
//!   pages do count in RSS (they are the page cache, reclaimable, not heap), so the mapped
//!   phase checks the heap only.
//!
//! This file holds one test, so no other test's allocations run concurrently.
#![allow(unsafe_code)] // Only for the counting allocator: `GlobalAlloc` is an unsafe trait.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use stele_snap::{
    snapshot_marker, ConfState, SnapOptions, SnapshotId, SnapshotMarker, Snapshotter,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics
// and never affect what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1 << 20;
const CHUNKS: usize = 256;
const SIZE: u64 = (CHUNKS * MIB) as u64;
/// Heap a phase may use at its peak: the 1 MiB write or read buffer plus small change.
const HEAP_LIMIT: usize = 4 * MIB;
/// Growth of peak RSS a non-mapped phase may show (allocator slack, page tables, the harness).
const RSS_LIMIT: u64 = 48 * MIB as u64;

/// Heap and RSS at the start of a phase.
struct Phase {
    name: &'static str,
    heap: usize,
    rss: Option<u64>,
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Phase {
    fn start(name: &'static str) -> Phase {
        let heap = LIVE.load(Relaxed);
        PEAK.store(heap, Relaxed);
        // Writing 5 resets VmHWM to the current RSS; without it, skip the RSS check.
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let rss = status_kib("VmRSS:").filter(|_| reset).map(|k| k * 1024);
        Phase { name, heap, rss }
    }

    fn end(self, check_rss: bool) {
        let heap_peak = PEAK.load(Relaxed) - self.heap;
        let hwm = status_kib("VmHWM:").map(|k| k * 1024);
        let rss_growth = self.rss.zip(hwm).map(|(r, h)| h.saturating_sub(r));
        println!(
            "{}: peak heap +{} KiB, peak RSS +{} KiB (snapshot {} MiB)",
            self.name,
            heap_peak / 1024,
            rss_growth.map_or("?".into(), |g| (g / 1024).to_string()),
            SIZE >> 20
        );
        assert!(
            heap_peak < HEAP_LIMIT,
            "{}: heap peaked {heap_peak} bytes above the start",
            self.name
        );
        if let (true, Some(g)) = (check_rss, rss_growth) {
            assert!(g < RSS_LIMIT, "{}: peak RSS grew by {g} bytes", self.name);
        }
    }
}

/// Fills `out` with chunk `i`: a fixed pseudo-random MiB, stamped with `i` at both ends.
fn chunk(base: &[u8], i: usize, out: &mut [u8]) {
    out.copy_from_slice(base);
    out[..8].copy_from_slice(&(i as u64).to_le_bytes());
    out[MIB - 8..].copy_from_slice(&(!(i as u64)).to_le_bytes());
}

fn meta() -> SnapshotMarker {
    snapshot_marker(
        1 << 40,
        9,
        ConfState {
            voters: vec![1, 2, 3],
            ..ConfState::default()
        },
    )
}

#[test]
fn a_256_mib_snapshot_streams_with_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let base: Vec<u8> = (0..MIB / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    let mut buf = vec![0u8; MIB];
    let mut expect = vec![0u8; MIB];

    let opts = SnapOptions::default();
    let snaps = Snapshotter::open(tmp.path(), opts.clone()).unwrap();
    let phase = Phase::start("save (streamed, 1 MiB writes)");
    let mut w = snaps.writer(meta()).unwrap();
    for i in 0..CHUNKS {
        chunk(&base, i, &mut buf);
        w.write_all(&buf).unwrap();
    }
    assert_eq!(w.finish().unwrap(), SnapshotId::of(&meta()));
    phase.end(true);
    drop(snaps);

    let snaps = Snapshotter::open(
        tmp.path(),
        SnapOptions {
            use_mmap: false,
            ..opts.clone()
        },
    )
    .unwrap();
    let phase = Phase::start("load + read (positional reads)");
    let snap = snaps.load_newest().unwrap();
    assert_eq!(
        (snap.metadata(), snap.data_len(), snap.data()),
        (&meta(), SIZE, None)
    );
    let mut r = snap.reader();
    for i in 0..CHUNKS {
        r.read_exact(&mut buf).unwrap(); // the last read re-checks the checksum
        chunk(&base, i, &mut expect);
        assert!(buf == expect, "chunk {i} differs");
    }
    assert_eq!(r.read(&mut buf).unwrap(), 0);
    drop((r, snap));
    phase.end(true);
    drop(snaps);

    let snaps = Snapshotter::open(tmp.path(), opts).unwrap();
    let phase = Phase::start("load + read (memory map)");
    let snap = snaps.load_newest().unwrap();
    let data = snap.data().expect("the real file system maps files");
    for (i, got) in data.chunks(MIB).enumerate() {
        chunk(&base, i, &mut expect);
        assert!(got == expect, "chunk {i} differs");
    }
    let streamed = std::io::copy(&mut snap.reader(), &mut std::io::sink()).unwrap();
    assert_eq!(streamed, SIZE);
    drop(snap);
    phase.end(false);
}
