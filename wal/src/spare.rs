//! The spare: the next segment's file, preallocated before a cut needs it, so that a cut never
//! zero-fills on the append path.
//!
//! A spare is a file of `segment_size` bytes, preallocated as [`Preallocate`] says and synced,
//! named `{seq:016x}.spare` once complete. It is not part of the log: nothing in it is trusted
//! (a batch's checksum binds its segment's sequence number and salt, which a spare's zeros or
//! stale bytes cannot match), and opening keeps one spare for later use. A cut takes it, writes
//! the new segment's header and head batch into it, and renames it into place exactly as it
//! does a recycled file (`writer.rs`).
//!
//! Protocol (the reasons are in `docs/DURABILITY.md`): create `{seq:016x}.spare.tmp`,
//! preallocate, `fdatasync`, rename to `{seq:016x}.spare`. No directory sync: a spare's name
//! need not survive a crash (a lost rename leaves a temporary file, which opening removes).
//!
//! Who prepares it: with [`WalOptions::background_prepare`] (the default) a thread of the WAL's
//! own, asked after every cut that used the spare, so the preallocation overlaps appends to the
//! new segment; a cut that finds the spare still being prepared waits for it (counted in
//! [`WalStats::spare_waits`](crate::WalStats::spare_waits)) rather than starting a second one.
//! Without it, the appending thread prepares the spare right after the cut (deterministic I/O
//! order, for the crash tests and for embedders that want no extra thread).
//!
//! Invariants: at most one spare exists (plus at most one `.spare.tmp` being written); a spare
//! handed to a cut is never handed out again; a failed preparation removes its file, is
//! logged and leaves no spare, so the next cut prepares its segment itself (and fails the
//! append, not the WAL, if that fails too). The failure is remembered until a preparation
//! succeeds: [`Spare::failure`] is what `Wal::check_room` reports, and it asks for a new
//! attempt at most once per retry interval.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fs::{DynFs, FileHandle};
use crate::options::{Preallocate, WalOptions};

/// Suffix of a complete spare.
pub(crate) const SPARE_SUFFIX: &str = ".spare";

/// A complete, synced spare file.
#[derive(Debug)]
pub(crate) struct SpareFile {
    pub path: PathBuf,
    pub file: Arc<dyn FileHandle>,
    pub size: u64,
}

/// What preparing a spare needs.
#[derive(Debug, Clone)]
struct Job {
    fs: DynFs,
    dir: PathBuf,
    size: u64,
    preallocate: Preallocate,
}

#[derive(Debug, Default)]
struct State {
    ready: Option<SpareFile>,
    /// A spare is asked for (for the segment with this sequence number).
    wanted: Option<u64>,
    busy: bool,
    stop: bool,
    waits: u64,
    waited: Duration,
    /// The last preparation's failure (file and error) and when it ended; cleared by a
    /// preparation that succeeds.
    failed: Option<(String, Instant)>,
    /// A cut waits for the spare being zero-filled: allocate the rest at once instead.
    hurry: bool,
    /// Spares whose zero-fill was cut short by a waiting cut.
    hurried: u64,
}

/// The spare slot, shared with the preparing thread.
#[derive(Debug)]
struct Slot {
    state: Mutex<State>,
    cond: Condvar,
}

impl State {
    /// Takes a preparation's outcome.
    fn settle(&mut self, made: Result<SpareFile, String>) {
        match made {
            Ok(f) => {
                self.ready = Some(f);
                self.failed = None;
            }
            Err(why) => self.failed = Some((why, Instant::now())),
        }
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The spare of one WAL and, with background preparation, the thread that makes it.
#[derive(Debug)]
pub(crate) struct Spare {
    slot: Arc<Slot>,
    job: Job,
    thread: Option<JoinHandle<()>>,
}

impl Spare {
    /// A spare slot holding `leftover` (a spare found by opening), with its preparing thread
    /// started if the options ask for one.
    pub fn start(dir: PathBuf, opts: &WalOptions, leftover: Option<SpareFile>) -> Spare {
        let slot = Arc::new(Slot {
            state: Mutex::new(State {
                ready: leftover,
                ..State::default()
            }),
            cond: Condvar::new(),
        });
        let job = Job {
            fs: opts.fs.clone(),
            dir,
            size: opts.segment_size,
            preallocate: opts.preallocate,
        };
        let thread = opts.background_prepare.then(|| {
            let (slot, job) = (slot.clone(), job.clone());
            std::thread::Builder::new()
                .name("stele-wal-spare".into())
                .spawn(move || run(&slot, &job))
        });
        let thread = match thread {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                log::warn!("stele-wal: no spare-preparing thread ({e}); cuts prepare inline");
                None
            }
            None => None,
        };
        Spare { slot, job, thread }
    }

    /// Asks for a spare for segment `seq` if there is none: prepared by the thread, or right
    /// now without one.
    pub fn request(&self, seq: u64) {
        let mut st = self.slot.lock();
        if st.ready.is_some() || st.busy || st.wanted.is_some() {
            return;
        }
        if self.thread.is_some() {
            st.wanted = Some(seq);
            self.slot.cond.notify_all();
            return;
        }
        st.busy = true; // a cut meanwhile waits for this spare rather than make a second one
        drop(st);
        let made = prepare(&self.job, seq, &|| false);
        let mut st = self.slot.lock();
        st.busy = false;
        st.settle(made);
        self.slot.cond.notify_all();
    }

    /// Why the next cut may find no spare: the last preparation's failure, until one succeeds
    /// (a retry under way does not clear it). Asks for another attempt (for segment `seq`)
    /// once `retry` has passed since that failure, so room freed on the disk is noticed; an
    /// inline attempt is made here, and its outcome is the answer.
    pub fn failure(&self, seq: u64, retry: Duration) -> Option<String> {
        let st = self.slot.lock();
        if st.ready.is_some() {
            return None;
        }
        let (why, at) = st.failed.clone()?;
        let idle = !st.busy && st.wanted.is_none();
        drop(st);
        if !(idle && at.elapsed() >= retry) {
            return Some(why);
        }
        self.request(seq);
        let st = self.slot.lock();
        match &st.ready {
            Some(_) => None,
            None => st.failed.as_ref().map(|f| f.0.clone()),
        }
    }

    /// Takes the spare if it has at least `size` bytes, waiting for one being prepared.
    /// `None`: there is none (or it is too small, or its preparation failed); the caller
    /// prepares its segment itself.
    pub fn take(&self, size: u64) -> Option<SpareFile> {
        let mut st = self.slot.lock();
        if st.busy || st.wanted.is_some() && self.thread.is_some() {
            // Without a thread `wanted` is never set; `busy` is then an inline preparation
            // (asked for by `Wal::check_room`) on another thread.
            let t0 = Instant::now();
            st.waits += 1;
            st.hurry = true; // the preparer allocates what it has not zero-filled yet
            while st.busy || st.wanted.is_some() {
                st = self.slot.cond.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.waited += t0.elapsed();
        }
        match st.ready.take() {
            Some(f) if f.size >= size => Some(f),
            other => {
                st.ready = other;
                None
            }
        }
    }

    /// Cuts that waited for the spare, the total time they waited, and how many spares were
    /// allocated in a hurry because a cut waited.
    pub fn waits(&self) -> (u64, Duration, u64) {
        let st = self.slot.lock();
        (st.waits, st.waited, st.hurried)
    }

    /// True if a spare is ready.
    pub fn is_ready(&self) -> bool {
        self.slot.lock().ready.is_some()
    }

    /// True while a spare is asked for or being prepared (the directory may change).
    pub fn is_preparing(&self) -> bool {
        let st = self.slot.lock();
        st.busy || st.wanted.is_some()
    }
}

impl Drop for Spare {
    /// Stops the thread after the preparation it was asked for, so the spare outlives the WAL
    /// handle (opening picks it up) and the directory is left in a state that depends only on
    /// the calls made, not on timing.
    fn drop(&mut self) {
        self.slot.lock().stop = true;
        self.slot.cond.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread: prepares a spare whenever one is asked for; exits once stopped with no request
/// left.
fn run(slot: &Slot, job: &Job) {
    let mut st = slot.lock();
    loop {
        if let (Some(seq), None) = (st.wanted, &st.ready) {
            st.busy = true;
            drop(st);
            let hurry = || slot.lock().hurry;
            let made = prepare(job, seq, &hurry);
            st = slot.lock();
            st.busy = false;
            st.wanted = None;
            if std::mem::take(&mut st.hurry) {
                st.hurried += 1;
            }
            st.settle(made);
            slot.cond.notify_all();
            continue;
        }
        st.wanted = None;
        if st.stop {
            return;
        }
        st = slot.cond.wait(st).unwrap_or_else(|e| e.into_inner());
    }
}

/// Makes `{seq:016x}.spare`: create under a temporary name, preallocate, sync, rename. On
/// failure the temporary file is removed (best effort) and the failure logged and returned
/// (naming the file); the cut that needed it then prepares its own file and reports the error
/// to its caller.
fn prepare(job: &Job, seq: u64, hurry: &dyn Fn() -> bool) -> Result<SpareFile, String> {
    let path = job.dir.join(format!("{seq:016x}{SPARE_SUFFIX}"));
    let tmp = job.dir.join(format!("{seq:016x}{SPARE_SUFFIX}.tmp"));
    let made = (|| {
        let _ = job.fs.remove(&tmp);
        let file = job.fs.create(&tmp)?;
        match job.preallocate {
            Preallocate::ZeroFill => zero_fill_paced(&*file, job.size, hurry)?,
            mode => preallocate(&*file, job.size, mode)?,
        }
        file.sync_data()?;
        job.fs.rename(&tmp, &path)?;
        Ok::<_, std::io::Error>(file)
    })();
    match made {
        Ok(file) => Ok(SpareFile {
            path,
            file,
            size: job.size,
        }),
        Err(e) => {
            let why = format!("preparing {}: {e}", tmp.display());
            log::warn!("stele-wal: {why}");
            let _ = job.fs.remove(&tmp);
            Err(why)
        }
    }
}

/// Zero-fills a spare 1 MiB at a time, each chunk synced before the next is written: the
/// device queue then never holds more than 1 MiB of the spare, so a synced append that runs
/// meanwhile waits behind at most one chunk instead of the whole file (measured: the slowest
/// 1 KiB synced append fell from ~35 ms to a few ms, see `docs/DURABILITY.md` §5a). Once
/// `hurry` says a cut is waiting (the writer outpaced the fill), the rest is allocated at once
/// with `fallocate` (unwritten extents: no data written) and the spare is ready.
fn zero_fill_paced(
    file: &dyn FileHandle,
    size: u64,
    hurry: &dyn Fn() -> bool,
) -> std::io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < size {
        if hurry() {
            return file.allocate(size);
        }
        let n = (size - at).min(zeros.len() as u64);
        file.write_at(&zeros[..n as usize], at)?;
        file.sync_data()?;
        at += n;
    }
    Ok(())
}

/// Gives `file` its `size` bytes as `mode` says.
pub(crate) fn preallocate(
    file: &dyn FileHandle,
    size: u64,
    mode: Preallocate,
) -> std::io::Result<()> {
    match mode {
        Preallocate::ZeroFill => {
            let zeros = vec![0u8; 1 << 20];
            let mut at = 0;
            while at < size {
                let n = (size - at).min(zeros.len() as u64);
                file.write_at(&zeros[..n as usize], at)?;
                at += n;
            }
            Ok(())
        }
        Preallocate::Fallocate => file.allocate(size),
        Preallocate::SetLen => file.set_len(size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::sim::SimFs;
    use crate::fs::FileSystem;
    use std::cell::Cell;
    use std::path::Path;

    const SIZE: u64 = 8 << 20;

    /// Zero-fills a fresh file with `hurry` turning true after `after` checks; returns the
    /// file's length and the I/O steps taken.
    fn fill(after: u32) -> (u64, u64) {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/s")).unwrap();
        let file = fs.create(Path::new("/s/x.spare.tmp")).unwrap();
        let checks = Cell::new(0u32);
        let hurry = || {
            checks.set(checks.get() + 1);
            checks.get() > after
        };
        let before = fs.steps();
        zero_fill_paced(&*file, SIZE, &hurry).unwrap();
        let steps = fs.steps() - before;
        (file.len().unwrap(), steps)
    }

    #[test]
    fn a_waiting_cut_cuts_the_zero_fill_short_with_an_allocation() {
        let (len, steps) = fill(u32::MAX);
        assert_eq!(len, SIZE);
        assert_eq!(steps, 2 * (SIZE >> 20), "a write and a sync per MiB");
        let (len, hurried) = fill(2);
        assert_eq!(len, SIZE, "the whole spare is allocated");
        assert_eq!(hurried, 2 * 2 + 1, "two MiB filled, then one allocation");
    }
}
