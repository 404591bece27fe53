//! WAL fsync timing and the Prometheus text of `GET /metrics`.
//!
//! [`TimedFs`] wraps the WAL's file system (the `FileSystem` seam of stele-wal) and times every
//! `fdatasync`/`fsync` of a WAL file into a [`Histogram`] with etcd's buckets for
//! `wal_fsync_duration_seconds` (1 ms doubling to 8.192 s): the real system call, measured
//! where it is made, nothing estimated.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stele_wal::fs::{DynFs, FileHandle, FileSystem, LockGuard};

/// Upper bounds of the buckets, in seconds (etcd: `ExponentialBuckets(0.001, 2, 14)`).
pub const BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192,
];

/// A latency histogram (lock-free; cumulative only when rendered).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Appends the histogram in Prometheus text format as `name`.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.counts[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cum}");
    }
}

/// A file system that times file syncs into a histogram (see the module docs).
#[derive(Debug)]
pub struct TimedFs {
    inner: DynFs,
    hist: Arc<Histogram>,
}

impl TimedFs {
    /// Wraps `inner`.
    pub fn new(inner: DynFs, hist: Arc<Histogram>) -> Self {
        TimedFs { inner, hist }
    }

    fn wrap(&self, f: Arc<dyn FileHandle>) -> Arc<dyn FileHandle> {
        Arc::new(TimedFile {
            inner: f,
            hist: self.hist.clone(),
        })
    }
}

impl FileSystem for TimedFs {
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileHandle>> {
        self.inner.create(path).map(|f| self.wrap(f))
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileHandle>> {
        self.inner.open(path, writable).map(|f| self.wrap(f))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        self.inner.lock(path)
    }
}

#[derive(Debug)]
struct TimedFile {
    inner: Arc<dyn FileHandle>,
    hist: Arc<Histogram>,
}

impl TimedFile {
    fn timed(&self, f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let t0 = Instant::now();
        let r = f();
        self.hist.observe(t0.elapsed());
        r
    }
}

impl FileHandle for TimedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.timed(|| self.inner.sync_data())
    }
    fn sync_all(&self) -> io::Result<()> {
        self.timed(|| self.inner.sync_all())
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        self.inner.allocate(len)
    }
    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        self.inner.map()
    }
}

/// Appends a counter or gauge.
pub fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let mut s = String::new();
        h.render(&mut s, "x", "help");
        assert!(s.contains("x_bucket{le=\"0.001\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"0.004\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"8.192\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_count 3\n"), "{s}");
    }
}
