//! WAL fsync timing and the metrics of `GET /metrics`, encoded by `prometheus-client` (the
//! OpenMetrics text format, which Prometheus scrapes).
//!
//! [`TimedFs`] wraps the WAL's file system (the `FileSystem` seam of stele-wal) and times every
//! `fdatasync`/`fsync` of a WAL file into a [`Histogram`] with etcd's buckets for
//! `wal_fsync_duration_seconds` (1 ms doubling to 8.192 s): the real system call, measured
//! where it is made, nothing estimated. [`Metrics`] collects one scrape: the histogram plus
//! counters and gauges read from the node's status at scrape time.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram;
use prometheus_client::registry::Registry;
use stele_wal::fs::{DynFs, FileHandle, FileSystem, LockGuard};

/// Upper bounds of the buckets, in seconds (etcd: `ExponentialBuckets(0.001, 2, 14)`).
pub const BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192,
];

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A latency histogram in seconds with [`BUCKETS`] (clones share the counts).
#[derive(Debug, Clone)]
pub struct Histogram(histogram::Histogram);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(histogram::Histogram::new(BUCKETS.into_iter()))
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

/// The metrics of one scrape, in registration order.
#[derive(Debug, Default)]
pub struct Metrics(Registry);

impl Metrics {
    /// Adds `h` as `name` (`help` without a final period: the encoder adds one).
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.0.register(name, help, h.0.clone());
    }

    /// Adds a counter read at scrape time; the text names it `{name}_total`.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.0.register(name, help, ConstCounter::new(value));
    }

    /// Adds a gauge read at scrape time (values above `i64::MAX` are shown as `i64::MAX`).
    pub fn gauge(&mut self, name: &str, help: &str, value: u64) {
        let v = i64::try_from(value).unwrap_or(i64::MAX);
        self.0.register(name, help, ConstGauge::new(v));
    }

    /// The OpenMetrics text of everything added, ending in `# EOF`. (Writing to a `String`
    /// cannot fail; an error would mean a metric the encoder rejects, such as a bad name.)
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.0)?;
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counters_get_total() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let mut m = Metrics::default();
        m.histogram("x", "help", &h);
        m.counter("c", "a counter", 7);
        m.gauge("g", "a gauge", u64::MAX);
        let s = m.encode().unwrap();
        assert!(s.contains("x_bucket{le=\"0.001\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"0.004\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"8.192\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_count 3\n"), "{s}");
        assert!(
            s.contains("# HELP c a counter.\n# TYPE c counter\nc_total 7\n"),
            "{s}"
        );
        assert!(s.contains(&format!("g {}\n", i64::MAX)), "{s}");
        assert!(s.ends_with("# EOF\n"), "{s}");
    }
}
