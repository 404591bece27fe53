//! Proposals: the data proposals taken from the inbox in one loop iteration are stepped into
//! raft as one `MsgPropose` carrying all their entries, so the leader appends them in one go
//! and replicates them in one `MsgAppend` per follower (a follower forwards them to the leader
//! as one message). `RawNode::propose` takes one entry per step, and raft broadcasts after each
//! step: under load that was one message per entry per follower, and one acknowledgement back.
//!
//! Invariants:
//! - proposals keep their order (the inbox's); each gets its own context, so each resolves on
//!   its own entry;
//! - a leader knows each proposal's slot (index) at once: raft appends a batch whole or not at
//!   all; a refused batch fails every proposal in it as definitely not applied;
//! - membership changes are proposed one at a time, after the data proposals before them;
//! - while the WAL has no room to grow (`check_room`: before every batch of proposals, and
//!   every tick for a follower's appends), every proposal is refused with `Error::DiskFull`
//!   before it reaches raft (definitely not applied).

use std::time::Instant;

use raft::eraftpb::{ConfChangeV2, ConfState, Entry, EntryType, Message, MessageType};
use raft::StateRole;

use super::Driver;
use crate::callback::Callback;
use crate::error::Error;
use crate::pending::Reply;
use crate::types::Applied;

/// A data proposal waiting to be stepped: its bytes and where its outcome goes.
pub(super) type Queued = (Vec<u8>, Callback<Applied<Vec<u8>>>);

impl Driver {
    /// Steps the proposals taken so far into raft as one message.
    pub(super) fn flush_proposals(&mut self) {
        if self.proposals.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.proposals);
        self.check_room();
        if let Some(why) = &self.no_room {
            for (_, reply) in batch {
                reply.call(Err(Error::DiskFull(why.clone())));
            }
            return;
        }
        let leader = self.raw.raft.state == StateRole::Leader;
        let before = self.raw.raft.raft_log.last_index();
        let mut waiters = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len());
        for (data, reply) in batch {
            let (seq, ctx) = self.pending.next_context();
            entries.push(Entry {
                data: data.into(),
                context: ctx.into(),
                ..Default::default()
            });
            waiters.push((seq, reply));
        }
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgPropose);
        m.from = self.cfg.id;
        m.set_entries(entries.into());
        if let Err(e) = self.raw.raft.step(m) {
            let why = self.dropped_why(e);
            for (_, reply) in waiters {
                reply.call(Err(Error::Dropped(why.clone())));
            }
            return;
        }
        let appended =
            leader && self.raw.raft.raft_log.last_index() == before + waiters.len() as u64;
        let deadline = Instant::now() + self.cfg.proposal_timeout;
        for (i, (seq, reply)) in waiters.into_iter().enumerate() {
            let slot = appended.then_some(before + 1 + i as u64);
            self.pending
                .add_proposal(seq, Reply::Data(reply), slot, deadline);
        }
    }

    /// Proposes a membership change.
    pub(super) fn propose_conf_change(
        &mut self,
        cc: ConfChangeV2,
        reply: Callback<Applied<ConfState>>,
    ) {
        self.check_room();
        if let Some(why) = &self.no_room {
            return reply.call(Err(Error::DiskFull(why.clone())));
        }
        let (seq, ctx) = self.pending.next_context();
        let leader = self.raw.raft.state == StateRole::Leader;
        let before = self.raw.raft.raft_log.last_index();
        if let Err(e) = self.raw.propose_conf_change(ctx, cc) {
            let why = self.dropped_why(e);
            return reply.call(Err(Error::Dropped(why)));
        }
        let last = self.raw.raft.raft_log.last_index();
        let slot = (leader && last > before).then_some(last);
        if slot.is_some() {
            // raft appends a refused change as an empty normal entry (context cleared).
            let kept = self.raw.raft.raft_log.unstable.entries.last();
            if kept.is_some_and(|e| e.get_entry_type() == EntryType::EntryNormal) {
                return reply.call(Err(Error::ConfChangeRejected(
                    "another membership change is pending, or a joint configuration must be \
                     left first"
                        .into(),
                )));
            }
        }
        let deadline = Instant::now() + self.cfg.proposal_timeout;
        self.pending
            .add_proposal(seq, Reply::Conf(reply), slot, deadline);
    }

    /// Looks whether the WAL has room to grow (`Wal::check_room`); while it has none,
    /// proposals are refused with [`Error::DiskFull`] and appends from a leader are dropped,
    /// so that nothing reaches the log that the next segment cut could not hold.
    pub(super) fn check_room(&mut self) {
        let now = match self.storage.wal().check_room() {
            Err(e @ stele_wal::Error::NoRoom { .. }) => Some(e.to_string()),
            _ => None, // room, or a poisoned WAL (which the persister reports)
        };
        match (&self.no_room, &now) {
            (None, Some(why)) => {
                log::warn!("stele-raft node {}: refusing writes: {why}", self.cfg.id)
            }
            (Some(_), None) => {
                log::info!("stele-raft node {}: the log has room again", self.cfg.id)
            }
            _ => {}
        }
        self.no_room = now;
    }

    fn dropped_why(&self, e: raft::Error) -> String {
        match e {
            raft::Error::ProposalDropped if self.raw.raft.leader_id == 0 => "no leader".into(),
            e => e.to_string(),
        }
    }
}
