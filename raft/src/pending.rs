//! Proposals and reads waiting for their outcome, matched to applied entries by the id in the
//! entry context.
//!
//! Invariants:
//! - a proposal's context is `node id | incarnation | sequence` (24 bytes, little endian); the
//!   incarnation is fresh per start, so an entry proposed before a restart (re-applied after it)
//!   never resolves a new proposal, and entries proposed by other nodes never match;
//! - every waiter is answered exactly once: by its entry being applied, by its log slot being
//!   applied with another entry (dropped), by a deadline, or by the node stopping;
//! - a proposal appended by this node as leader knows its slot (index); one forwarded to a
//!   leader does not, and fails with [`Error::LeaderChanged`] when the leader changes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use raft::eraftpb::ConfState;
use raft::ReadState;

use crate::callback::Callback;
use crate::error::Error;
use crate::types::Applied;

/// Where a proposal's outcome goes.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A normal proposal: the state machine's result.
    Data(Callback<Applied<Vec<u8>>>),
    /// A membership change: the configuration after it.
    Conf(Callback<Applied<ConfState>>),
}

impl Reply {
    pub fn fail(self, e: Error) {
        match self {
            Reply::Data(cb) => cb.call(Err(e)),
            Reply::Conf(cb) => cb.call(Err(e)),
        }
    }
}

#[derive(Debug)]
struct Waiter {
    reply: Reply,
    slot: Option<u64>,
    deadline: Instant,
}

#[derive(Debug)]
struct Read {
    reply: Callback<u64>,
    index: Option<u64>,
    deadline: Instant,
}

/// The waiters of one node incarnation.
#[derive(Debug)]
pub(crate) struct Pending {
    node: u64,
    incarnation: u64,
    next: u64,
    proposals: HashMap<u64, Waiter>,
    /// Slot (log index) -> sequence, for proposals appended by this node as leader.
    slots: BTreeMap<u64, u64>,
    reads: BTreeMap<u64, Read>,
}

const CONTEXT_LEN: usize = 24;

impl Pending {
    pub fn new(node: u64) -> Pending {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Pending {
            node,
            incarnation: nanos | 1,
            next: 1,
            proposals: HashMap::new(),
            slots: BTreeMap::new(),
            reads: BTreeMap::new(),
        }
    }

    /// A new sequence number and the entry (or read) context carrying it.
    pub fn next_context(&mut self) -> (u64, Vec<u8>) {
        let seq = self.next;
        self.next += 1;
        (seq, self.context(seq))
    }

    fn context(&self, seq: u64) -> Vec<u8> {
        let mut ctx = Vec::with_capacity(CONTEXT_LEN);
        ctx.extend_from_slice(&self.node.to_le_bytes());
        ctx.extend_from_slice(&self.incarnation.to_le_bytes());
        ctx.extend_from_slice(&seq.to_le_bytes());
        ctx
    }

    /// The sequence number in `ctx` if this incarnation made it.
    fn ours(&self, ctx: &[u8]) -> Option<u64> {
        if ctx.len() != CONTEXT_LEN {
            return None;
        }
        let word =
            |i: usize| u64::from_le_bytes(ctx[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        (word(0) == self.node && word(1) == self.incarnation).then(|| word(2))
    }

    /// Registers a proposal accepted by raft; `slot` is its index if this node appended it.
    pub fn add_proposal(&mut self, seq: u64, reply: Reply, slot: Option<u64>, deadline: Instant) {
        if let Some(s) = slot {
            self.slots.insert(s, seq);
        }
        self.proposals.insert(
            seq,
            Waiter {
                reply,
                slot,
                deadline,
            },
        );
    }

    /// The waiter whose entry (with context `ctx`) is being applied, if it is ours.
    pub fn take_applied(&mut self, ctx: &[u8]) -> Option<Reply> {
        let seq = self.ours(ctx)?;
        let w = self.proposals.remove(&seq)?;
        if let Some(s) = w.slot {
            self.slots.remove(&s);
        }
        Some(w.reply)
    }

    /// Index `index` was applied: proposals whose slot is at or below it and that were not
    /// matched lost their slot to another entry.
    pub fn slots_applied_through(&mut self, index: u64) {
        self.fail_slots_through(index, || {
            Error::Dropped("its log slot was taken by another leader's entry".into())
        });
    }

    /// A snapshot up to `index` was installed: proposals in slots it covers have an unknown
    /// outcome.
    pub fn covered_by_snapshot(&mut self, index: u64) {
        self.fail_slots_through(index, || {
            Error::Unknown("covered by an installed snapshot".into())
        });
    }

    fn fail_slots_through(&mut self, index: u64, err: impl Fn() -> Error) {
        while let Some((&slot, &seq)) = self.slots.first_key_value() {
            if slot > index {
                break;
            }
            self.slots.remove(&slot);
            if let Some(w) = self.proposals.remove(&seq) {
                w.reply.fail(err());
            }
        }
    }

    /// The leader changed: forwarded proposals (no known slot) have an unknown outcome.
    pub fn leader_changed(&mut self) {
        let lost: Vec<u64> = self
            .proposals
            .iter()
            .filter(|(_, w)| w.slot.is_none())
            .map(|(&s, _)| s)
            .collect();
        for seq in lost {
            if let Some(w) = self.proposals.remove(&seq) {
                w.reply.fail(Error::LeaderChanged);
            }
        }
    }

    /// Registers a read; returns its context.
    pub fn add_read(&mut self, reply: Callback<u64>, deadline: Instant) -> Vec<u8> {
        let (seq, ctx) = self.next_context();
        self.reads.insert(
            seq,
            Read {
                reply,
                index: None,
                deadline,
            },
        );
        ctx
    }

    /// raft answered a read: it may be served once the applied index reaches `rs.index`.
    pub fn read_state(&mut self, rs: &ReadState) {
        if let Some(r) = self
            .ours(&rs.request_ctx)
            .and_then(|s| self.reads.get_mut(&s))
        {
            r.index.get_or_insert(rs.index);
        }
    }

    /// Answers the reads whose index is applied.
    pub fn answer_reads(&mut self, applied: u64) {
        let done: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.index.is_some_and(|i| i <= applied))
            .map(|(&s, _)| s)
            .collect();
        for seq in done {
            let r = self.reads.remove(&seq).expect("listed");
            r.reply.call(Ok(r.index.expect("answered")));
        }
    }

    /// Contexts of the reads raft has not answered yet (to ask again: raft drops a read when
    /// there is no leader, or the leader has not committed in its term yet).
    pub fn unanswered_reads(&self) -> Vec<Vec<u8>> {
        self.reads
            .iter()
            .filter(|(_, r)| r.index.is_none())
            .map(|(&seq, _)| self.context(seq))
            .collect()
    }

    /// Fails every proposal and read past its deadline with [`Error::Timeout`].
    pub fn expire(&mut self, now: Instant) {
        let late: Vec<u64> = self
            .proposals
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(&s, _)| s)
            .collect();
        for seq in late {
            let w = self.proposals.remove(&seq).expect("listed");
            if let Some(s) = w.slot {
                self.slots.remove(&s);
            }
            w.reply.fail(Error::Timeout);
        }
        let late: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(&s, _)| s)
            .collect();
        for seq in late {
            let r = self.reads.remove(&seq).expect("listed");
            r.reply.call(Err(Error::Timeout));
        }
    }

    /// Fails everything (the node stops).
    pub fn fail_all(&mut self) {
        self.slots.clear();
        for (_, w) in self.proposals.drain() {
            w.reply.fail(Error::Stopped);
        }
        for (_, r) in std::mem::take(&mut self.reads) {
            r.reply.call(Err(Error::Stopped));
        }
    }
}
