//! The node thread: owns the `RawNode<DiskStorage>`, the state machine and the transport, and
//! runs the loop: tick on a timer, take requests and messages, handle every `Ready`.
//!
//! Readies are pipelined (`docs/RAFT.md` §4): the fsync runs on the persister thread
//! (module `persist`) while this thread goes on. A `Ready` is handled in this order:
//! 1. the leader's `messages()` go to the transport at once;
//! 2. entries and HardState are appended as one batch (readable through `Storage` at once, not
//!    yet durable) and the Ready is handed to the persister (`advance_append_async`);
//! 3. its `persisted_messages()` (votes, append acknowledgements) wait until the persister
//!    reports the Ready durable, then go out right after `on_persist_ready`: never before the
//!    batch they acknowledge is durable;
//! 4. read states are recorded; committed entries are applied (raft hands out only entries
//!    durable here; membership changes go through `apply_conf_change`, the new ConfState
//!    stored; an empty `EntryConfChangeV2` leaves a joint configuration); `advance_apply`.
//!
//! Two kinds of Ready are handled synchronously instead (contract §3.2, `advance`, with its
//! `LightReady`), only when no earlier Ready is still in flight (with
//! `NodeConfig::pipelined` false, every Ready is, and nothing is ever in flight):
//! - one carrying a received snapshot: the persister is drained first, then the snapshot is
//!   installed (state machine first, then the log reset), durably, before anything after it;
//! - one that needs no fsync (nothing written but a commit index) while nothing is in flight:
//!   no reason to wait for the persister.
//!
//! Before the Readies, the data proposals taken from the inbox in one go are stepped into raft
//! as one message (module `propose`), so they are appended and replicated together.
//!
//! Then reads whose index is applied are answered, and the snapshot policy runs. Any storage
//! error stops the node (the WAL is poisoned after a failed write or sync; nothing is retried).

mod apply;
mod persist;
mod propose;
mod scrub;
mod snapshot;

use persist::Persister;

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

use raft::eraftpb::{ConfState, Message, MessageType};
use raft::{RawNode, Ready, SnapshotStatus};
use stele_storage::DiskStorage;

use crate::config::NodeConfig;
use crate::error::{Error, Result};
use crate::pending::Pending;
use crate::restart::Recovered;
use crate::state_machine::StateMachine;
use crate::transport::{Inbound, Transport};
use crate::types::{Command, Status, StatusCell};

/// Commands taken from the channel before the Ready is handled (batching proposals).
const MAX_COMMANDS_PER_READY: usize = 1024;
/// Readies handled back to back before the channel is looked at again.
const MAX_READIES_PER_ROUND: usize = 64;

/// The state of the node thread.
pub(crate) struct Driver {
    cfg: NodeConfig,
    raw: RawNode<DiskStorage>,
    storage: DiskStorage,
    sm: Box<dyn StateMachine>,
    transport: Box<dyn Transport>,
    rx: Receiver<Command>,
    pending: Pending,
    /// The state machine's applied index (mirrors `sm.applied_index()`).
    applied: u64,
    /// The configuration as of `applied`.
    conf_state: ConfState,
    leader_id: u64,
    ticks: u64,
    snapshot_index: u64,
    snapshots_created: u64,
    snapshots_installed: u64,
    /// A leader's snapshot went to a peer it does not include: make a newer one.
    snapshot_needed: bool,
    /// Don't retry a failed state-machine snapshot before this applied index.
    snapshot_retry_at: u64,
    /// Snapshots that could not be written.
    snapshot_failures: u64,
    /// Why the WAL has no room to grow, while it has none (checked every tick).
    no_room: Option<String>,
    /// `report_snapshot(Failure)` calls held until the current Ready is advanced.
    deferred_failures: Vec<u64>,
    /// The status last published (after a storage failure, raft's log must not be asked).
    published: Option<Status>,
    /// Makes handed-over Readies durable.
    persister: Persister,
    /// The snapshot being written in the background, if any.
    snapshot_job: Option<snapshot::Background>,
    /// The node's own inbox, for wake-ups from its helper threads.
    wake: Sender<Command>,
    /// Proposals taken from the inbox, stepped into raft together (one message).
    proposals: Vec<propose::Queued>,
    /// Each in-flight Ready's persisted messages, by Ready number, sent once it is durable.
    held: VecDeque<(u64, Vec<Message>)>,
    /// The background scrubber, if on (looked at every tick).
    scrubber: Option<stele_storage::Scrubber>,
}

impl Driver {
    pub fn new(
        cfg: NodeConfig,
        raw: RawNode<DiskStorage>,
        sm: Box<dyn StateMachine>,
        transport: Box<dyn Transport>,
        (wake, rx): (Sender<Command>, Receiver<Command>),
        recovered: Recovered,
    ) -> Result<Driver> {
        let storage = raw.store().clone(); // a handle on raft's own storage
        let snapshot_index = storage.snapshot_metadata().index;
        let scrubber = cfg
            .scrub
            .as_ref()
            .map(|c| storage.start_scrubber(c.options.clone()));
        let tx = wake.clone();
        let persister = Persister::start(cfg.id, storage.clone(), move || {
            let _ = tx.send(Command::Persisted);
        })?;
        Ok(Driver {
            pending: Pending::new(cfg.id),
            cfg,
            raw,
            storage,
            sm,
            transport,
            rx,
            applied: recovered.applied,
            conf_state: recovered.conf_state,
            leader_id: 0,
            ticks: 0,
            snapshot_index,
            snapshots_created: 0,
            snapshots_installed: 0,
            snapshot_needed: false,
            snapshot_retry_at: 0,
            snapshot_failures: 0,
            no_room: None,
            deferred_failures: Vec::new(),
            published: None,
            persister,
            held: VecDeque::new(),
            scrubber,
            snapshot_job: None,
            wake,
            proposals: Vec::new(),
        })
    }

    /// Runs the loop until shutdown or a fatal error, then fails whatever still waits.
    pub fn run(mut self, cell: &StatusCell) -> Result<()> {
        // A panic in the loop is caught without the panic hook printing it (module
        // `quiet_panic`): the error it stands for is reported below, once.
        let looped = crate::quiet_panic::catch(|| self.run_loop(cell));
        // Readies handed to the persister end first: a sync that failed stops the node with
        // its storage error even when a shutdown came first. raft panics when the storage
        // refuses a read, which it does once such a sync has failed on the persister thread
        // (possibly between two polls): that too is reported as the storage failure.
        let drained = self.persister.drain();
        let mut result = match (looped, drained) {
            (Err(_) | Ok(Ok(())), Err(e)) => Err(e),
            // raft panicked: on the storage's error (damage read, a poisoned WAL) if the
            // storage handed it one; that error, not raft's panic text, is the reason.
            (Err(panic), Ok(_)) => Err(match self.storage.failure() {
                Some(e) => Error::StorageRead(e),
                None => Error::PanickedWith(panic),
            }),
            (Ok(r), _) => r,
        };
        // A snapshot still being written holds the storage: let it end (its outcome matters
        // only if nothing failed before).
        let waited = self.wait_snapshot();
        if result.is_ok() {
            result = waited;
        }
        if let Err(e) = &result {
            let e = crate::ErrorChain(e);
            log::error!("stele-raft node {}: stopping on error: {e}", self.cfg.id);
        }
        self.pending.fail_all();
        self.transport.stop();
        let mut status = match (&result, self.published.take()) {
            (Err(_), Some(last)) => last, // the storage failed: don't read through it again
            _ => self.status(),
        };
        status.running = false;
        cell.publish(status);
        result
    }

    fn run_loop(&mut self, cell: &StatusCell) -> Result<()> {
        let tick = self.cfg.tick;
        let mut next_tick = Instant::now() + tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let first = match self.rx.recv_timeout(wait) {
                Ok(cmd) => Some(cmd),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            // The persister first: after a failed sync the storage refuses raft's reads, so
            // nothing may be stepped into raft once that has happened.
            if let Some(n) = self.persister.poll()? {
                self.persisted(n);
            }
            if let Some(cmd) = first {
                let more = self.rx.try_iter().take(MAX_COMMANDS_PER_READY);
                for cmd in std::iter::once(cmd).chain(more.collect::<Vec<_>>()) {
                    if !self.handle(cmd) {
                        return Ok(());
                    }
                }
                self.flush_proposals();
            }
            let now = Instant::now();
            if now >= next_tick {
                self.on_tick(now);
                self.transport.check()?;
                self.check_room();
                self.check_scrub()?;
                next_tick += tick;
                if next_tick <= now {
                    next_tick = now + tick; // fell behind (a long snapshot): don't burst ticks
                }
            }
            self.handle_readies()?;
            let status = self.status();
            cell.publish(status.clone());
            self.published = Some(status);
        }
    }

    /// Handles one command; false on shutdown.
    fn handle(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Propose { data, reply } => self.proposals.push((data, reply)),
            Command::ConfChange { change, reply } => {
                self.flush_proposals();
                self.propose_conf_change(change, reply)
            }
            Command::ReadIndex { reply } => {
                let ctx = self
                    .pending
                    .add_read(reply, Instant::now() + self.cfg.proposal_timeout);
                self.raw.read_index(ctx);
            }
            Command::TransferLeader(id) => {
                self.flush_proposals();
                self.raw.transfer_leader(id)
            }
            Command::Campaign => {
                self.flush_proposals();
                if let Err(e) = self.raw.campaign() {
                    log::debug!("stele-raft node {}: campaign: {e}", self.cfg.id);
                }
            }
            Command::Inbound(Inbound::Message(m)) => {
                if self.no_room.is_some() && takes_room(&m) {
                    // raft tolerates a lost message: the leader sends it again later, once
                    // (if) this node has room to append it.
                    log::debug!(
                        "stele-raft node {}: no room in the log, dropped a {:?}",
                        self.cfg.id,
                        m.get_msg_type()
                    );
                } else if m.to != self.cfg.id {
                    log::debug!(
                        "stele-raft node {}: dropped a message for {}",
                        self.cfg.id,
                        m.to
                    );
                } else if let Err(e) = self.raw.step(m) {
                    // Responses from removed peers and the like: harmless, raft ignores them.
                    log::debug!("stele-raft node {}: step: {e}", self.cfg.id);
                }
            }
            Command::Inbound(Inbound::Unreachable(id)) => self.raw.report_unreachable(id),
            Command::Inbound(Inbound::Snapshot(id, status)) => self.raw.report_snapshot(id, status),
            // Wake-ups: the persister and the snapshot are polled after the commands.
            Command::Persisted | Command::SnapshotWritten => {}
            Command::Shutdown => return false,
        }
        true
    }

    fn on_tick(&mut self, now: Instant) {
        self.raw.tick();
        self.ticks += 1;
        self.pending.expire(now);
        if self.ticks % self.cfg.heartbeat_tick as u64 == 0 {
            // raft drops a read when there is no leader or the leader has not committed in its
            // term yet: ask again until it is answered or times out.
            for ctx in self.pending.unanswered_reads() {
                self.raw.read_index(ctx);
            }
        }
    }

    /// Handles Readies until raft has none, then answers reads and runs the snapshot policy.
    fn handle_readies(&mut self) -> Result<()> {
        for _ in 0..MAX_READIES_PER_ROUND {
            while self.raw.has_ready() {
                self.on_ready()?;
            }
            for id in std::mem::take(&mut self.deferred_failures) {
                self.raw.report_snapshot(id, SnapshotStatus::Failure);
            }
            self.pending.answer_reads(self.applied);
            self.maybe_snapshot()?;
            if !self.raw.has_ready() {
                break;
            }
        }
        Ok(())
    }

    /// One Ready, in the order of the module docs.
    fn on_ready(&mut self) -> Result<()> {
        if self.persister.in_flight() && self.raw.snap().is_some_and(|s| !s.is_empty()) {
            // A received snapshot resets the log: everything before it is made durable first,
            // and it is installed with nothing in flight (contract §4.2, rule 7).
            if let Some(n) = self.persister.drain()? {
                self.persisted(n);
            }
        }
        let mut rd = self.raw.ready();
        if let Some(ss) = rd.ss() {
            if ss.leader_id != self.leader_id {
                self.leader_id = ss.leader_id;
                self.pending.leader_changed();
            }
        }
        let msgs = rd.take_messages();
        self.send(msgs);
        let sync_now = !rd.snapshot().is_empty() || !rd.must_sync() || !self.cfg.pipelined;
        if sync_now && !self.persister.in_flight() {
            return self.on_ready_sync(rd);
        }
        debug_assert!(
            rd.snapshot().is_empty(),
            "a snapshot waits for the persister"
        );
        self.storage.append(rd.entries(), rd.hs(), false)?;
        let msgs = rd.take_persisted_messages();
        if !msgs.is_empty() {
            self.held.push_back((rd.number(), msgs));
        }
        for rs in rd.take_read_states() {
            self.pending.read_state(&rs);
        }
        let committed = rd.take_committed_entries();
        self.apply(committed)?;
        let (number, sync) = (rd.number(), rd.must_sync());
        self.raw.advance_append_async(rd);
        self.raw.advance_apply();
        self.persister.submit(number, sync)
    }

    /// A Ready handled synchronously (nothing in flight before it): install a received
    /// snapshot, persist, send, apply, `advance`, then the `LightReady`.
    fn on_ready_sync(&mut self, mut rd: Ready) -> Result<()> {
        if !rd.snapshot().is_empty() {
            self.wait_snapshot()?;
            self.install_snapshot(rd.snapshot())?;
        }
        self.storage.append(rd.entries(), rd.hs(), rd.must_sync())?;
        let msgs = rd.take_persisted_messages();
        self.send(msgs);
        for rs in rd.take_read_states() {
            self.pending.read_state(&rs);
        }
        let committed = rd.take_committed_entries();
        self.apply(committed)?;
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.storage.set_commit(commit)?;
        }
        self.send(light.take_messages());
        self.apply(light.take_committed_entries())?;
        self.raw.advance_apply();
        Ok(())
    }

    /// Every Ready through `number` is durable: tell raft, then send what they held back.
    fn persisted(&mut self, number: u64) {
        self.raw.on_persist_ready(number);
        while self.held.front().is_some_and(|(n, _)| *n <= number) {
            let (_, msgs) = self.held.pop_front().expect("the front was just seen");
            self.send(msgs);
        }
    }

    /// Hands messages to the transport, except a snapshot for a peer the snapshot's
    /// configuration does not include (a node added after it): the peer would refuse it, so it
    /// is reported failed and a newer snapshot is made.
    fn send(&mut self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            if m.get_msg_type() == MessageType::MsgSnapshot
                && !member(m.to, m.get_snapshot().get_metadata().get_conf_state())
            {
                self.deferred_failures.push(m.to);
                self.snapshot_needed = true;
                continue;
            }
            out.push(m);
        }
        self.transport.send(out);
    }

    /// The published status.
    pub fn status(&self) -> Status {
        let r = &self.raw.raft;
        Status {
            id: self.cfg.id,
            leader_id: r.leader_id,
            term: r.term,
            role: r.state,
            commit: r.raft_log.committed,
            applied: self.applied,
            first_index: r.raft_log.first_index(),
            last_index: r.raft_log.last_index(),
            snapshot_index: self.snapshot_index,
            conf_state: self.conf_state.clone(),
            snapshots_created: self.snapshots_created,
            snapshots_installed: self.snapshots_installed,
            snapshot_failures: self.snapshot_failures,
            no_room: self.no_room.clone(),
            scrub: self.scrubber.as_ref().map(|s| s.status()),
            running: true,
        }
    }
}

/// True if stepping `m` would make this node append entries or install a snapshot.
fn takes_room(m: &Message) -> bool {
    match m.get_msg_type() {
        MessageType::MsgAppend => !m.get_entries().is_empty(),
        MessageType::MsgSnapshot => true,
        _ => false,
    }
}

fn member(id: u64, cs: &ConfState) -> bool {
    [
        cs.get_voters(),
        cs.get_learners(),
        cs.get_voters_outgoing(),
        cs.get_learners_next(),
    ]
    .iter()
    .any(|ids| ids.contains(&id))
}
