//! Applying committed entries and installing received snapshots.
//!
//! Invariants:
//! - entries are applied strictly in order, each index exactly `applied + 1` (a gap or a
//!   repeat is a driver bug and stops the node rather than corrupt the state machine);
//! - a membership change is applied through `RawNode::apply_conf_change` (never skipped, even
//!   with empty data: that is a leave-joint) and the resulting ConfState is stored;
//! - a received snapshot is installed state machine first, log reset second, so a crash in
//!   between leaves a log that still agrees with itself (the file without its WAL marker is
//!   ignored on open).

use raft::eraftpb::{Entry, Snapshot};

use super::Driver;
use crate::error::{Error, Result};
use crate::pending::Reply;
use crate::restart::conf_change_of;
use crate::types::Applied;

impl Driver {
    /// Applies committed entries and resolves their proposals.
    pub(super) fn apply(&mut self, entries: Vec<Entry>) -> Result<()> {
        for e in entries {
            if e.index != self.applied + 1 {
                return Err(Error::Invalid(format!(
                    "entry {} handed out with applied index {}",
                    e.index, self.applied
                )));
            }
            let reply = self.pending.take_applied(e.get_context());
            match conf_change_of(&e)? {
                None => {
                    let result = self.sm.apply(e.index, e.get_data());
                    match reply {
                        Some(Reply::Data(cb)) => cb.call(Ok(Applied {
                            index: e.index,
                            result,
                        })),
                        Some(other) => {
                            other.fail(Error::Dropped("replaced by an empty entry".into()))
                        }
                        None => {}
                    }
                }
                Some(cc) => {
                    let outcome = match self.raw.apply_conf_change(&cc) {
                        Ok(cs) => {
                            self.storage.set_conf_state(&cs)?;
                            self.conf_state = cs.clone();
                            Ok(cs)
                        }
                        Err(err) => {
                            log::warn!(
                                "stele-raft node {}: membership change at {} refused: {err}",
                                self.cfg.id,
                                e.index
                            );
                            Err(err)
                        }
                    };
                    self.sm.apply_conf_change(e.index, &cc, &self.conf_state);
                    match (reply, outcome) {
                        (Some(Reply::Conf(cb)), Ok(cs)) => cb.call(Ok(Applied {
                            index: e.index,
                            result: cs,
                        })),
                        (Some(r), Err(err)) => r.fail(Error::ConfChangeRejected(err.to_string())),
                        (Some(r), Ok(_)) => {
                            r.fail(Error::Dropped("not a membership change".into()))
                        }
                        (None, _) => {}
                    }
                }
            }
            self.applied = e.index;
            self.pending.slots_applied_through(e.index);
        }
        Ok(())
    }

    /// Installs a snapshot from a Ready: the state machine first, then the log reset (durable
    /// before this returns).
    pub(super) fn install_snapshot(&mut self, snap: &Snapshot) -> Result<()> {
        let meta = snap.get_metadata();
        self.sm.restore(meta.index, &mut snap.get_data())?;
        self.storage.apply_snapshot(snap)?;
        self.applied = meta.index;
        self.conf_state = meta.get_conf_state().clone();
        self.snapshot_index = self.snapshot_index.max(meta.index);
        self.snapshots_installed += 1;
        self.pending.covered_by_snapshot(meta.index);
        log::info!(
            "stele-raft node {}: installed snapshot at {} (term {})",
            self.cfg.id,
            meta.index,
            meta.term
        );
        Ok(())
    }
}
