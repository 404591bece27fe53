//! [`Transport`]: how a node's messages reach its peers, and [`Mailbox`]: how messages and
//! delivery reports reach the node.
//!
//! Invariants a transport keeps:
//! - [`Transport::send`] never blocks on the network: it queues (or drops) and returns, because it
//!   runs on the node thread between persisting a Ready and applying it;
//! - a message may be dropped, duplicated or reordered (raft tolerates all three), but a failed
//!   delivery to a peer is reported with [`Mailbox::report_unreachable`], and every
//!   `MsgSnapshot` handed to `send` gets exactly one [`Mailbox::report_snapshot`] (`Finish` once
//!   its bytes are written, `Failure` otherwise): without it the leader never sends that
//!   follower anything again.

use std::sync::mpsc;
use std::sync::Arc;

use raft::eraftpb::Message;
use raft::SnapshotStatus;

use crate::error::Result;

/// Carries a node's outgoing messages to its peers.
pub trait Transport: Send {
    /// Called once, on [`Node::start`](crate::Node::start), before any `send`: incoming
    /// messages and delivery reports go to `mailbox`.
    fn start(&mut self, mailbox: Mailbox) -> Result<()>;

    /// Queues messages for their peers (`Message::to`). Must not block on the network.
    fn send(&mut self, msgs: Vec<Message>);

    /// Called on every tick of the node: an error (for example
    /// [`Error::TransportFailed`](crate::Error::TransportFailed): a thread of the transport's
    /// that ended while it should be running) stops the node with that error, so that its owner
    /// learns it (fail-stop) instead of running a node that can no longer reach its peers.
    fn check(&mut self) -> Result<()> {
        Ok(())
    }

    /// Called once when the node stops: release connections and threads.
    fn stop(&mut self) {}
}

/// What a transport delivers to a node.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// A message from a peer, to be stepped into raft.
    Message(Message),
    /// Sending to this peer failed.
    Unreachable(u64),
    /// The outcome of sending a `MsgSnapshot` to this peer.
    Snapshot(u64, SnapshotStatus),
}

/// The inbox of one node, for transports. Clones deliver to the same node.
#[derive(Clone)]
pub struct Mailbox {
    deliver: Arc<dyn Fn(Inbound) -> bool + Send + Sync>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox")
    }
}

impl Mailbox {
    /// A mailbox that hands everything to `deliver`, which returns false once the receiver is
    /// gone.
    pub fn new(deliver: impl Fn(Inbound) -> bool + Send + Sync + 'static) -> Mailbox {
        Mailbox {
            deliver: Arc::new(deliver),
        }
    }

    /// A mailbox feeding a channel: for transport tests and custom drivers.
    pub fn channel() -> (Mailbox, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel();
        (Mailbox::new(move |m| tx.send(m).is_ok()), rx)
    }

    /// Delivers `inbound`; false if the node is gone.
    pub fn deliver(&self, inbound: Inbound) -> bool {
        (self.deliver)(inbound)
    }

    /// Delivers a message from a peer; false if the node is gone.
    pub fn step(&self, msg: Message) -> bool {
        self.deliver(Inbound::Message(msg))
    }

    /// Reports that peer `id` could not be reached; false if the node is gone.
    pub fn report_unreachable(&self, id: u64) -> bool {
        self.deliver(Inbound::Unreachable(id))
    }

    /// Reports the outcome of sending a snapshot to peer `id`; false if the node is gone.
    pub fn report_snapshot(&self, id: u64, status: SnapshotStatus) -> bool {
        self.deliver(Inbound::Snapshot(id, status))
    }
}
