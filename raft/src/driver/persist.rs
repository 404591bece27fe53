//! The persister: a thread that makes appended Readies durable off the node thread (the
//! pipelined mode of `docs/RAFT.md` §4), so that the node keeps stepping messages,
//! taking proposals and applying while an fsync is under way, and one fsync covers every Ready
//! handed over meanwhile.
//!
//! Invariants:
//! - the node thread hands Readies over in number order, each after its entries and HardState
//!   were written (readable through `raft::Storage`, not yet durable);
//! - a number is reported done only after a `sync` that began after its hand-over, so "done
//!   through n" means every Ready numbered n or less is durable (`on_persist_ready(n)` claims
//!   exactly that);
//! - Readies that need no fsync (a commit-only HardState, or nothing written) are reported in
//!   order behind the ones before them, never ahead;
//! - a failed sync is reported once and ends the thread: the WAL is poisoned, nothing written
//!   later can become durable either.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use stele_storage::DiskStorage;

use crate::error::{Error, Result};

/// One Ready handed over.
struct Job {
    number: u64,
    sync: bool,
}

/// What the thread reports.
#[derive(Default)]
struct Progress {
    /// Every Ready numbered this or less is durable.
    done: u64,
    /// The sync that failed (taken by the node thread).
    failed: Option<stele_storage::Error>,
    /// The thread has ended (after a failure, or when the node dropped the persister).
    ended: bool,
}

#[derive(Default)]
struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The node thread's end of the persister.
pub(super) struct Persister {
    jobs: Option<Sender<Job>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The highest Ready number handed over.
    submitted: u64,
    /// The highest number already passed on by [`poll`](Self::poll) or [`drain`](Self::drain).
    reported: u64,
}

impl Persister {
    /// Starts the thread; `wake` is called after each report (it wakes the node thread).
    pub fn start(
        id: u64,
        storage: DiskStorage,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Persister> {
        let (tx, rx) = channel();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("stele-sync-{id}"))
            .spawn(move || run(rx, &storage, &s, &wake))?;
        Ok(Persister {
            jobs: Some(tx),
            shared,
            thread: Some(thread),
            submitted: 0,
            reported: 0,
        })
    }

    /// True while some handed-over Ready is not reported durable yet.
    pub fn in_flight(&self) -> bool {
        self.submitted > self.reported
    }

    /// Hands over Ready `number` (written, not yet durable); `sync`: it needs an fsync.
    pub fn submit(&mut self, number: u64, sync: bool) -> Result<()> {
        debug_assert!(number > self.submitted, "Readies are handed over in order");
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|tx| tx.send(Job { number, sync }).is_ok());
        if !sent {
            return Err(self.failure());
        }
        self.submitted = number;
        Ok(())
    }

    /// The highest newly durable Ready number, if any progress was made since the last call.
    pub fn poll(&mut self) -> Result<Option<u64>> {
        let done = {
            let mut p = self.shared.lock();
            if let Some(e) = p.failed.take() {
                return Err(Error::Storage(e));
            }
            p.done
        };
        Ok(self.advance(done))
    }

    /// Waits until everything handed over is durable; the highest newly durable number.
    pub fn drain(&mut self) -> Result<Option<u64>> {
        let done = {
            let shared = &*self.shared;
            let mut p = shared.lock();
            while p.done < self.submitted && p.failed.is_none() && !p.ended {
                p = shared.changed.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            if let Some(e) = p.failed.take() {
                return Err(Error::Storage(e));
            }
            if p.done < self.submitted {
                return Err(Error::Invalid("the persister thread ended early".into()));
            }
            p.done
        };
        Ok(self.advance(done))
    }

    fn advance(&mut self, done: u64) -> Option<u64> {
        (done > self.reported).then(|| {
            self.reported = done;
            done
        })
    }

    fn failure(&mut self) -> Error {
        match self.shared.lock().failed.take() {
            Some(e) => Error::Storage(e),
            None => Error::Invalid("the persister thread has stopped".into()),
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.jobs = None; // the thread ends when the channel closes
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread: takes every queued Ready, syncs once if any needs it, reports the highest.
fn run(rx: Receiver<Job>, storage: &DiskStorage, shared: &Shared, wake: &dyn Fn()) {
    while let Ok(first) = rx.recv() {
        let (mut number, mut sync) = (first.number, first.sync);
        for job in rx.try_iter() {
            number = job.number;
            sync |= job.sync;
        }
        let outcome = if sync {
            storage.sync().map(|_| ())
        } else {
            Ok(())
        };
        let failed = outcome.is_err();
        {
            let mut p = shared.lock();
            match outcome {
                Ok(()) => p.done = number,
                Err(e) => p.failed = Some(e),
            }
            p.ended = failed;
        }
        shared.changed.notify_all();
        wake();
        if failed {
            return;
        }
    }
    shared.lock().ended = true;
    shared.changed.notify_all();
}
