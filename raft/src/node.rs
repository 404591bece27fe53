//! [`Node`] and [`NodeHandle`]: the public face of a node whose `RawNode` runs on its own
//! thread (the driver module runs the loop).
//!
//! Invariants:
//! - every request goes to the node thread through one channel, in order; the handle never
//!   touches raft state;
//! - every [`Proposal`] and [`ReadHandle`] resolves exactly once (see the pending module);
//!   if the node thread is gone they resolve with [`Error::Stopped`];
//! - [`Status`] is a copy published by the node thread after every loop iteration;
//! - how the thread ended (asked to, or the error that stopped it) is published once, after
//!   its last status, even if the thread dies unexpectedly ([`NodeHandle::wait_stopped`]).

use std::ops::Deref;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2, ConfState};
use stele_storage::DiskStorage;

use crate::callback::Callback;
use crate::config::NodeConfig;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::state_machine::StateMachine;
use crate::transport::{Mailbox, Transport};
use crate::types::{Applied, Command, Status, StatusCell};

/// A pending proposal: resolves when its entry is applied, or with an error (see
/// [`Error`] for which errors mean "definitely not applied").
#[derive(Debug)]
pub struct Proposal<T = Vec<u8>> {
    rx: Receiver<Result<Applied<T>>>,
}

impl<T> Proposal<T> {
    pub(crate) fn new() -> (Callback<Applied<T>>, Proposal<T>)
    where
        T: Send + 'static,
    {
        let (cb, rx) = Callback::channel();
        (cb, Proposal { rx })
    }

    /// Waits for the outcome (the node's `proposal_timeout` bounds the wait).
    pub fn wait(&self) -> Result<Applied<T>> {
        self.rx.recv().unwrap_or(Err(Error::Stopped))
    }

    /// Waits at most `timeout`; [`Error::Timeout`] if there is no outcome yet (it may still
    /// come: wait again).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Applied<T>> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Stopped),
        }
    }
}

/// A pending linearizable read: resolves with a read index once this node's state machine has
/// applied at least that far; reading the state machine then observes every write acknowledged
/// before the read was requested.
#[derive(Debug)]
pub struct ReadHandle {
    rx: Receiver<Result<u64>>,
}

impl ReadHandle {
    /// Waits for the read index (the node's `proposal_timeout` bounds the wait).
    pub fn wait(&self) -> Result<u64> {
        self.rx.recv().unwrap_or(Err(Error::Stopped))
    }

    /// Waits at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u64> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Stopped),
        }
    }
}

/// A cloneable handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    id: u64,
    tx: Sender<Command>,
    status: Arc<StatusCell>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle").field("id", &self.id).finish()
    }
}

impl NodeHandle {
    /// This node's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Proposes `data`; the handle resolves with the state machine's result once applied.
    /// A follower forwards the proposal to its leader.
    pub fn propose(&self, data: Vec<u8>) -> Proposal {
        let (reply, p) = Proposal::new();
        self.send(Command::Propose { data, reply });
        p
    }

    /// Proposes a membership change (one or more changes; several enter a joint configuration
    /// that raft leaves automatically with an empty `EntryConfChangeV2`).
    pub fn change_membership(&self, change: ConfChangeV2) -> Proposal<ConfState> {
        let (reply, p) = Proposal::new();
        self.send(Command::ConfChange { change, reply });
        p
    }

    /// Adds voter `id`; `context` travels with the change to every state machine (for example
    /// the node's address).
    pub fn add_voter(&self, id: u64, context: Vec<u8>) -> Proposal<ConfState> {
        self.change_membership(single(ConfChangeType::AddNode, id, context))
    }

    /// Adds learner `id` (or demotes voter `id` to a learner).
    pub fn add_learner(&self, id: u64, context: Vec<u8>) -> Proposal<ConfState> {
        self.change_membership(single(ConfChangeType::AddLearnerNode, id, context))
    }

    /// Removes node `id` from the group.
    pub fn remove_node(&self, id: u64, context: Vec<u8>) -> Proposal<ConfState> {
        self.change_membership(single(ConfChangeType::RemoveNode, id, context))
    }

    /// Asks the leader to hand leadership to `id` (best effort: watch [`status`](Self::status)).
    pub fn transfer_leader(&self, id: u64) {
        self.send(Command::TransferLeader(id));
    }

    /// Makes this node campaign for leadership now.
    pub fn campaign(&self) {
        self.send(Command::Campaign);
    }

    /// Starts a linearizable read (raft's read index, `ReadOnlyOption::Safe`).
    pub fn read_index(&self) -> ReadHandle {
        let (reply, rx) = Callback::channel();
        self.send(Command::ReadIndex { reply });
        ReadHandle { rx }
    }

    /// Proposes `data` and calls `done` with the outcome (what [`propose`](Self::propose)'s
    /// handle would resolve with), for callers that multiplex many requests on one thread.
    /// `done` runs on the node thread (or on the caller's, with [`Error::Stopped`], if the node
    /// is gone): it must hand the outcome on and return, never block.
    pub fn propose_then(
        &self,
        data: Vec<u8>,
        done: impl FnOnce(Result<Applied<Vec<u8>>>) + Send + 'static,
    ) {
        let reply = Callback::new(done);
        self.send(Command::Propose { data, reply });
    }

    /// Starts a linearizable read and calls `done` with the read index once this node has
    /// applied that far (what [`read_index`](Self::read_index)'s handle would resolve with):
    /// reading the state machine inside `done` observes every write acknowledged before the
    /// call. `done` runs on the node thread: it must not block.
    pub fn read_index_then(&self, done: impl FnOnce(Result<u64>) + Send + 'static) {
        let reply = Callback::new(done);
        self.send(Command::ReadIndex { reply });
    }

    /// The latest published status.
    pub fn status(&self) -> Status {
        self.status.get()
    }

    /// Waits up to `timeout` for a status that satisfies `pred`; `None` on timeout.
    pub fn wait_status(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Status) -> bool,
    ) -> Option<Status> {
        self.status.wait(timeout, &mut pred)
    }

    /// Waits up to `timeout` for the node thread to end; `None` if it still runs then.
    /// `Some(Ok(()))`: it stopped because it was asked to ([`Node::shutdown`], or every sender
    /// of its inbox gone); `Some(Err(e))`: it failed, and `e` is why (a storage error names the
    /// file and byte offset where there is one; print it with [`ErrorChain`](crate::ErrorChain)).
    /// A failed node answers every request with [`Error::Stopped`] and never restarts itself:
    /// the owner decides (stele-kv exits non-zero). `Duration::ZERO` asks without waiting.
    pub fn wait_stopped(&self, timeout: Duration) -> Option<std::result::Result<(), Arc<Error>>> {
        self.status.wait_stop(timeout)
    }

    /// The node's mailbox (what its transport delivers to).
    pub fn mailbox(&self) -> Mailbox {
        mailbox(self.tx.clone())
    }

    fn send(&self, cmd: Command) {
        // If the node thread is gone the command (and its reply sender) is dropped, which
        // resolves the handle with `Error::Stopped`.
        let _ = self.tx.send(cmd);
    }
}

fn single(change_type: ConfChangeType, id: u64, context: Vec<u8>) -> ConfChangeV2 {
    let mut s = ConfChangeSingle::default();
    s.set_change_type(change_type);
    s.node_id = id;
    let mut cc = ConfChangeV2::default();
    cc.mut_changes().push(s);
    cc.context = context.into();
    cc
}

fn mailbox(tx: Sender<Command>) -> Mailbox {
    Mailbox::new(move |m| tx.send(Command::Inbound(m)).is_ok())
}

/// Publishes a stop for a node thread that ends without the driver publishing one (it
/// panicked outside the loop's catch); a stop already published stays.
struct StopGuard(Arc<StatusCell>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.publish_stop(Err(Arc::new(Error::Panicked)));
    }
}

/// A running node: owns its thread. Dereferences to its [`NodeHandle`].
#[derive(Debug)]
pub struct Node {
    handle: NodeHandle,
    thread: Option<JoinHandle<std::result::Result<(), Arc<Error>>>>,
}

impl Node {
    /// Starts a node on `storage` (opened by the caller) with its state machine and transport.
    ///
    /// An empty storage is bootstrapped with `config.peers` (a snapshot at index 1 holding the founding
    /// configuration); otherwise
    /// the node restarts from the storage and the state machine's applied index (restoring the
    /// machine from the newest snapshot if it is behind it).
    pub fn start(
        config: NodeConfig,
        storage: DiskStorage,
        mut state_machine: Box<dyn StateMachine>,
        mut transport: Box<dyn Transport>,
    ) -> Result<Node> {
        config.validate()?;
        let id = config.id;
        let recovered = crate::restart::prepare(&config, &storage, state_machine.as_mut())?;
        let raw = raft::RawNode::new(
            &config.raft_config(recovered.applied),
            storage.clone(),
            &config.logger(),
        )?;
        let (tx, rx) = mpsc::channel();
        transport.start(mailbox(tx.clone()))?;
        let driver = Driver::new(
            config,
            raw,
            state_machine,
            transport,
            (tx.clone(), rx),
            recovered,
        )?;
        let status = Arc::new(StatusCell::new(driver.status()));
        let cell = status.clone();
        let thread = std::thread::Builder::new()
            .name(format!("stele-raft-{id}"))
            .spawn(move || {
                // Tells the owner even if the thread dies in a way the driver does not catch.
                let guard = StopGuard(cell);
                let stop = driver.run(&guard.0).map_err(Arc::new);
                guard.0.publish_stop(stop.clone());
                stop
            })?;
        Ok(Node {
            handle: NodeHandle { id, tx, status },
            thread: Some(thread),
        })
    }

    /// A cloneable handle.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Stops the node thread and waits for it; returns the error that stopped it, if one did
    /// (the same error [`NodeHandle::wait_stopped`] reports, shared).
    /// Nothing is synced on the way out beyond what the Ready loop already made durable.
    pub fn shutdown(mut self) -> std::result::Result<(), Arc<Error>> {
        self.stop()
    }

    fn stop(&mut self) -> std::result::Result<(), Arc<Error>> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let _ = self.handle.tx.send(Command::Shutdown);
        thread.join().map_err(|_| Arc::new(Error::Panicked))?
    }
}

impl Deref for Node {
    type Target = NodeHandle;

    fn deref(&self) -> &NodeHandle {
        &self.handle
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            let e = crate::ErrorChain(&*e);
            log::warn!("stele-raft node {}: stopped with {e}", self.handle.id);
        }
    }
}
