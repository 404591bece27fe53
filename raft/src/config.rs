//! [`NodeConfig`]: everything a node needs besides its storage, state machine and transport.
//!
//! Invariants enforced by [`NodeConfig::validate`]: a non-zero id; `heartbeat_tick <
//! election_tick`; a non-zero tick and proposal timeout. `peers`/`learners` are used only to
//! bootstrap an empty storage; a node started with both empty on an empty storage is a joiner
//! that waits for a leader to send it a snapshot.

use std::time::Duration;

use stele_storage::ScrubOptions;

use crate::error::{Error, Result};

/// Background scrubbing of a node's files (`stele_storage::Scrubber`): every sealed WAL segment
/// and snapshot file read back and checked at a bounded rate, so that damage in cold data is
/// found before raft needs it.
#[derive(Debug, Clone)]
pub struct ScrubConfig {
    /// The rate and the pause between passes.
    pub options: ScrubOptions,
    /// Stop the node (with [`Error::Scrub`], naming the file and byte offset) when damage is
    /// found (default true). False: only report it, in [`Status::scrub`](crate::Status::scrub)
    /// and the log, and keep serving what is not damaged.
    pub stop_on_damage: bool,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            options: ScrubOptions::default(),
            stop_on_damage: true,
        }
    }
}

/// Configuration of a [`Node`](crate::Node).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's raft id (non-zero, unique in the group, never reused for a wiped node).
    pub id: u64,
    /// The initial voters, used only when the storage is empty (bootstrap). Every founding
    /// member must be started with the same list. Empty: join an existing group.
    pub peers: Vec<u64>,
    /// The initial learners, used only when the storage is empty.
    pub learners: Vec<u64>,
    /// Interval of raft's logical clock (default 100 ms).
    pub tick: Duration,
    /// Ticks without a leader's message before a follower campaigns (default 10).
    pub election_tick: usize,
    /// Ticks between a leader's heartbeats (default 2).
    pub heartbeat_tick: usize,
    /// Pre-vote: a partitioned node does not disrupt the group when it comes back (default true).
    pub pre_vote: bool,
    /// A leader that does not hear from a quorum for an election timeout steps down (default
    /// true).
    pub check_quorum: bool,
    /// Byte limit of the entries in one append message (default 1 MiB).
    pub max_size_per_msg: u64,
    /// Append messages in flight per follower (default 256).
    pub max_inflight_msgs: usize,
    /// Take a state-machine snapshot every this many applied entries (default 10 000; 0: only
    /// when a follower needs one). Snapshots written in the background (a machine with a
    /// `snapshot_source`) run one at a time: one still being written when the next is due
    /// delays it, so the next covers more entries.
    pub snapshot_interval: u64,
    /// After a snapshot, compact the log up to `snapshot index - compaction_tail`, keeping that
    /// many entries so that a briefly lagging follower catches up from the log (default 5 000).
    pub compaction_tail: u64,
    /// A proposal or read without an outcome after this long fails with
    /// [`Error::Timeout`] (default 10 s).
    pub proposal_timeout: Duration,
    /// raft's logger (default: discard everything).
    pub logger: Option<slog::Logger>,
    /// Pipelined Readies (contract §4, default true): fsyncs run on a persister thread, one
    /// covering every Ready appended meanwhile, while the node thread goes on. False: every
    /// Ready is persisted (synced when `must_sync()`) on the node thread before the next one
    /// (contract §3.2).
    pub pipelined: bool,
    /// Background scrubbing (default on: 8 MiB/s, stop on damage); `None`: off.
    pub scrub: Option<ScrubConfig>,
}

impl NodeConfig {
    /// The defaults for node `id` with initial voters `peers` (empty: join an existing group).
    pub fn new(id: u64, peers: Vec<u64>) -> NodeConfig {
        NodeConfig {
            id,
            peers,
            learners: Vec::new(),
            tick: Duration::from_millis(100),
            election_tick: 10,
            heartbeat_tick: 2,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            snapshot_interval: 10_000,
            compaction_tail: 5_000,
            proposal_timeout: Duration::from_secs(10),
            logger: None,
            pipelined: true,
            scrub: Some(ScrubConfig::default()),
        }
    }

    /// Checks the configuration (see the module docs); [`Error::InvalidConfig`] says which rule
    /// it breaks.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: &str| {
            Err(Error::InvalidConfig {
                reason: reason.to_string(),
            })
        };
        if self.id == 0 {
            return bad("node id 0 is reserved");
        }
        if self
            .scrub
            .as_ref()
            .is_some_and(|s| s.options.bytes_per_sec == 0)
        {
            return bad("scrub rate must be non-zero (use scrub: None to turn it off)");
        }
        if self.tick.is_zero() || self.proposal_timeout.is_zero() {
            return bad("tick and proposal_timeout must be non-zero");
        }
        if self.heartbeat_tick == 0 || self.heartbeat_tick >= self.election_tick {
            return bad("need 0 < heartbeat_tick < election_tick");
        }
        if self.peers.contains(&0) || self.learners.contains(&0) {
            return bad("peer id 0 is reserved");
        }
        if self.learners.iter().any(|l| self.peers.contains(l)) {
            return bad("a node cannot be both a voter and a learner");
        }
        if !self.learners.is_empty() && self.peers.is_empty() {
            return bad("learners need at least one voter");
        }
        Ok(())
    }

    /// raft's configuration for this node restarting with `applied` as its applied index.
    pub(crate) fn raft_config(&self, applied: u64) -> raft::Config {
        raft::Config {
            id: self.id,
            election_tick: self.election_tick,
            heartbeat_tick: self.heartbeat_tick,
            applied,
            max_size_per_msg: self.max_size_per_msg,
            max_inflight_msgs: self.max_inflight_msgs,
            pre_vote: self.pre_vote,
            check_quorum: self.check_quorum,
            read_only_option: raft::ReadOnlyOption::Safe,
            ..raft::Config::default()
        }
    }

    /// raft's logger.
    pub(crate) fn logger(&self) -> slog::Logger {
        self.logger
            .clone()
            .unwrap_or_else(|| slog::Logger::root(slog::Discard, slog::o!()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_configuration_is_invalid_config() {
        let mut c = NodeConfig::new(1, vec![1]);
        c.heartbeat_tick = c.election_tick;
        match c.validate() {
            Err(Error::InvalidConfig { reason }) => assert!(reason.contains("heartbeat_tick")),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
        assert!(NodeConfig::new(1, vec![1]).validate().is_ok());
    }
}
