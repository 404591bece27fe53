//! The types the node's public face (module `node`), its driver (module `driver`) and the
//! table of pending requests (module `pending`) all use: [`Applied`], [`Status`] and the
//! status cell the node thread publishes it through, and [`Command`], a request to the node
//! thread. A leaf below those three: it imports none of them.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use raft::eraftpb::{ConfChangeV2, ConfState};
use raft::StateRole;

use crate::callback::Callback;
use crate::error::Error;
use crate::transport::Inbound;

/// The outcome of an applied proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied<T> {
    /// The log index the entry was applied at.
    pub index: u64,
    /// The state machine's result (for a membership change: the configuration after it).
    pub result: T,
}

/// A snapshot of a node's state, published by its thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// This node's id.
    pub id: u64,
    /// The leader this node knows of (0: none).
    pub leader_id: u64,
    /// The current term.
    pub term: u64,
    /// The node's role.
    pub role: StateRole,
    /// The commit index.
    pub commit: u64,
    /// The state machine's applied index.
    pub applied: u64,
    /// The first index in the log.
    pub first_index: u64,
    /// The last index in the log.
    pub last_index: u64,
    /// The index of the newest snapshot the node can serve (0: none).
    pub snapshot_index: u64,
    /// The configuration as of the applied index.
    pub conf_state: ConfState,
    /// Snapshots this node created from its state machine.
    pub snapshots_created: u64,
    /// Snapshots received from a leader and installed.
    pub snapshots_installed: u64,
    /// Snapshots this node tried to create but could not write (the disk full, say); each is
    /// retried later, and the log keeps what it would have compacted meanwhile.
    pub snapshot_failures: u64,
    /// Why the log cannot grow, while it cannot (the WAL's `NoRoom`: no file for the next
    /// segment, typically a full disk): proposals are refused with [`Error::DiskFull`](crate::Error::DiskFull)
    /// and a follower drops appends from its leader. `None` while there is room.
    pub no_room: Option<String>,
    /// What the background scrubber has verified, and the damage it found (`None`: scrubbing
    /// is off).
    pub scrub: Option<stele_storage::ScrubStatus>,
    /// False once the node thread has stopped.
    pub running: bool,
}

/// How the node thread ended: `Ok` for a requested stop, the error that stopped it otherwise.
pub(crate) type Stop = std::result::Result<(), Arc<Error>>;

pub(crate) struct StatusCell {
    status: Mutex<Status>,
    changed: Condvar,
    /// Set once, when the node thread ends (after the last status).
    stop: Mutex<Option<Stop>>,
    stopped: Condvar,
}

impl StatusCell {
    pub fn new(status: Status) -> StatusCell {
        StatusCell {
            status: Mutex::new(status),
            changed: Condvar::new(),
            stop: Mutex::new(None),
            stopped: Condvar::new(),
        }
    }

    /// Records how the node thread ended (the first call only) and wakes every waiter.
    pub fn publish_stop(&self, stop: Stop) {
        let mut s = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_none() {
            *s = Some(stop);
        }
        self.stopped.notify_all();
    }

    /// How the node thread ended, waiting up to `timeout` for it to end; `None` if it runs.
    pub fn wait_stop(&self, timeout: Duration) -> Option<Stop> {
        let deadline = Instant::now() + timeout;
        let mut s = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(stop) = &*s {
                return Some(stop.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            s = self
                .stopped
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub fn publish(&self, status: Status) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if *s != status {
            *s = status;
            self.changed.notify_all();
        }
    }

    pub fn get(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn wait(&self, timeout: Duration, pred: &mut dyn FnMut(&Status) -> bool) -> Option<Status> {
        let deadline = Instant::now() + timeout;
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if pred(&s) {
                return Some(s.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A request to the node thread.
pub(crate) enum Command {
    Propose {
        data: Vec<u8>,
        reply: Callback<Applied<Vec<u8>>>,
    },
    ConfChange {
        change: ConfChangeV2,
        reply: Callback<Applied<ConfState>>,
    },
    ReadIndex {
        reply: Callback<u64>,
    },
    TransferLeader(u64),
    Campaign,
    Inbound(Inbound),
    /// The persister made progress (a wake-up: the driver polls it).
    Persisted,
    /// The background snapshot ended (a wake-up: the driver polls it).
    SnapshotWritten,
    Shutdown,
}
