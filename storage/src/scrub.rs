//! Scrubbing a node's files: every sealed WAL segment ([`stele_wal::Wal::scrub_step`]) and
//! every snapshot file ([`stele_snap::Snapshotter::verify_paced`]) read back and checked, in
//! the background at a bounded rate ([`DiskStorage::start_scrubber`]) or all at once
//! ([`DiskStorage::scrub_now`], e.g. before a node starts serving).
//!
//! Why: opening reads a sealed segment's seal and a snapshot file's frame, not every byte (fast
//! reopen), and raft reads old entries only when a follower lags. Without a scrub, a bit that
//! rots in cold data is found the day a read needs it, perhaps when no other copy is left.
//!
//! Invariants:
//! - a pass covers the sealed segments in sequence order, then the snapshot files the node may
//!   serve (the served one and those the WAL has markers for), newest first; the active segment is not scrubbed (its batches were checked when written and are
//!   read back by every restart);
//! - the background scrubber reads at most `bytes_per_sec` on average (it sleeps after each
//!   read of at most [`CHUNK`] bytes until its budget allows the next), and stops within one
//!   chunk's time when its [`Scrubber`] is dropped;
//! - the first damage (or read error) found ends the background scrub: it is kept, with the
//!   file and byte offset, in [`ScrubStatus::damage`] and [`Scrubber::damage`]; what to do
//!   about it (stop the node, or only report) is the owner's choice. Files removed under the
//!   scrub (a purge) are skipped, never reported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stele_snap::Verified;
use stele_wal::ScrubCursor;

use crate::disk::DiskStorage;
use crate::error::{Error, Result};

/// The most bytes read between two pacing decisions.
pub const CHUNK: u64 = 1 << 20;

/// How the background scrubber runs.
#[derive(Debug, Clone)]
pub struct ScrubOptions {
    /// Average read rate, in bytes per second (at least 1).
    pub bytes_per_sec: u64,
    /// Pause between two passes (default: none, the next pass starts at once, still paced).
    pub pass_interval: Duration,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        ScrubOptions {
            bytes_per_sec: 8 << 20,
            pass_interval: Duration::ZERO,
        }
    }
}

/// What scrubbing has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubStatus {
    /// Bytes read and verified (batches of sealed segments, snapshot data).
    pub bytes_verified: u64,
    /// Sealed segments verified whole.
    pub segments_verified: u64,
    /// Snapshot files verified whole.
    pub snapshots_verified: u64,
    /// Passes over every file completed.
    pub passes: u64,
    /// The damage (or read error) that ended the scrub, with its file and byte offset.
    pub damage: Option<String>,
    /// True while the background scrubber runs.
    pub running: bool,
}

/// State shared by a [`Scrubber`] and its thread.
#[derive(Debug, Default)]
struct Shared {
    status: Mutex<ScrubStatus>,
    changed: Condvar,
    damage: Mutex<Option<Arc<Error>>>,
    stop: AtomicBool,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, ScrubStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps until `until` or a stop; false on a stop.
    fn sleep_until(&self, until: Instant) -> bool {
        let mut st = self.status();
        loop {
            if self.stop.load(Ordering::Acquire) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            st = self
                .changed
                .wait_timeout(st, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The background scrubber of one storage: stops (joining its thread) when dropped.
#[derive(Debug)]
pub struct Scrubber {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Scrubber {
    /// What it has done so far.
    pub fn status(&self) -> ScrubStatus {
        self.shared.status().clone()
    }

    /// The damage that ended the scrub, if any.
    pub fn damage(&self) -> Option<Arc<Error>> {
        self.shared
            .damage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits up to `timeout` until `passes` passes are complete or the scrub ended; returns the
    /// status then.
    pub fn wait_passes(&self, passes: u64, timeout: Duration) -> ScrubStatus {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.status();
        while st.passes < passes && st.running {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st.clone()
    }
}

impl Drop for Scrubber {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Holds a read rate: after each read, how long to wait before the next.
#[derive(Debug)]
struct Pacer {
    start: Instant,
    bytes: u64,
    rate: u64,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            start: Instant::now(),
            bytes: 0,
            rate: rate.max(1),
        }
    }

    /// The instant by which `n` more bytes are within the rate.
    fn after(&mut self, n: u64) -> Instant {
        self.bytes += n;
        let secs = self.bytes as f64 / self.rate as f64;
        self.start + Duration::from_secs_f64(secs)
    }
}

impl DiskStorage {
    /// Verifies every sealed segment and snapshot file once, now, as fast as the disk reads;
    /// the first damage is the error (with file and byte offset). For a check before a node
    /// starts serving; the background scrubber ([`start_scrubber`](Self::start_scrubber)) is
    /// the paced one.
    pub fn scrub_now(&self) -> Result<ScrubStatus> {
        let mut st = ScrubStatus::default();
        self.scrub_pass(&mut ScrubCursor::default(), &mut st, &mut |_| true)?;
        Ok(st)
    }

    /// Starts the background scrubber (see the module docs).
    pub fn start_scrubber(&self, opts: ScrubOptions) -> Scrubber {
        let shared = Arc::new(Shared::default());
        shared.status().running = true;
        let storage = self.clone();
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("stele-scrub".into())
            .spawn(move || storage.scrub_loop(&sh, &opts))
            .expect("spawn the scrub thread");
        Scrubber {
            shared,
            thread: Some(thread),
        }
    }

    /// The background scrubber's thread.
    fn scrub_loop(&self, shared: &Shared, opts: &ScrubOptions) {
        let mut pacer = Pacer::new(opts.bytes_per_sec);
        let mut cursor = ScrubCursor::default();
        let result = loop {
            let mut local = ScrubStatus::default();
            let mut pace = |n: u64| {
                {
                    let mut st = shared.status();
                    st.bytes_verified += n;
                }
                let until = pacer.after(n);
                shared.sleep_until(until)
            };
            match self.scrub_pass(&mut cursor, &mut local, &mut pace) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
            {
                // (Bytes were counted as they were read, by `pace`.)
                let mut st = shared.status();
                st.segments_verified += local.segments_verified;
                st.snapshots_verified += local.snapshots_verified;
                st.passes += local.passes;
            }
            shared.changed.notify_all();
            if !shared.sleep_until(Instant::now() + opts.pass_interval) {
                break Ok(());
            }
            pacer = Pacer::new(opts.bytes_per_sec);
        };
        let mut st = shared.status();
        if let Err(e) = result {
            log::error!("stele-storage {}: scrub: {e}", self.core.dir.display());
            st.damage = Some(e.to_string());
            *shared.damage.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(e));
        }
        st.running = false;
        drop(st);
        shared.changed.notify_all();
    }

    /// The snapshot files the node may serve: the served one and those the WAL has markers
    /// for. An orphan (a file newer than its marker, or one recovery found damaged and ignored
    /// with a warning) is never served, so its bytes are not the node's to vouch for.
    fn snapshots_to_scrub(&self) -> Result<Vec<stele_snap::SnapshotId>> {
        let served = self.snapshot_metadata();
        let markers = self.core.wal.state()?.markers;
        let mut ids = self.core.snaps.list()?;
        ids.retain(|id| {
            (id.index == served.index && id.term == served.term)
                || markers
                    .iter()
                    .any(|m| m.index == id.index && m.term == id.term)
        });
        Ok(ids)
    }

    /// One pass; `pace` is called after each read with its bytes (false: stop, and the pass
    /// returns `Ok(false)`). Counts what it verified in `st` (a stopped pass counts its
    /// bytes but not the pass).
    fn scrub_pass(
        &self,
        cursor: &mut ScrubCursor,
        st: &mut ScrubStatus,
        pace: &mut dyn FnMut(u64) -> bool,
    ) -> Result<bool> {
        loop {
            let step = self.core.wal.scrub_step(cursor, CHUNK)?;
            st.segments_verified += step.segments;
            st.bytes_verified += step.bytes;
            if step.bytes > 0 && !pace(step.bytes) {
                return Ok(false);
            }
            if step.pass_done {
                break;
            }
        }
        for id in self.snapshots_to_scrub()? {
            let mut bytes = 0;
            let verified = self.core.snaps.verify_paced(id, &mut |n| {
                bytes += n;
                pace(n)
            });
            st.bytes_verified += bytes;
            match verified? {
                Verified::Whole { .. } => st.snapshots_verified += 1,
                Verified::Stopped => return Ok(false),
                Verified::Gone => {}
            }
        }
        st.passes += 1;
        Ok(true)
    }
}
