//! Shared test harness: nodes on simulated disks (`SimFs`) and an in-memory network.
//!
//! Every wait has a deadline and panics with what it was waiting for when it passes; nothing
//! sleeps and hopes.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use stele_raft::mem_net::MemNetwork;
use stele_raft::{KvCommand, MemKv, Node, NodeConfig, NodeHandle, Status};
use stele_storage::{DiskStorage, StorageOptions};
use stele_wal::fs::sim::{CrashMode, SimFs};

/// The upper bound of any single wait in the tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// Storage options on a simulated disk, with small segments (cheap to preallocate).
pub fn sim_options(fs: &SimFs) -> StorageOptions {
    let mut o = StorageOptions::with_fs(Arc::new(fs.clone()));
    o.wal.segment_size = 256 << 10;
    o.cache_bytes = 1 << 20;
    o
}

/// A fast configuration for tests.
pub fn fast_config(id: u64, peers: &[u64]) -> NodeConfig {
    let mut c = NodeConfig::new(id, peers.to_vec());
    c.tick = Duration::from_millis(10);
    c.election_tick = 15;
    c.heartbeat_tick = 3;
    c.proposal_timeout = Duration::from_secs(3);
    c.snapshot_interval = 50;
    c.compaction_tail = 20;
    c.max_size_per_msg = 64 << 10;
    c
}

/// A put of `key = value` as proposal bytes.
pub fn put(key: &str, value: &str) -> Vec<u8> {
    KvCommand::Put {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
    .encode()
}

/// One node of a test cluster: its disk survives restarts, its state machine does not.
pub struct TestNode {
    pub id: u64,
    pub fs: SimFs,
    pub kv: MemKv,
    pub node: Option<Node>,
}

/// Nodes on one `MemNetwork`.
pub struct Cluster {
    pub net: MemNetwork,
    pub nodes: Vec<TestNode>,
    pub config: Box<dyn Fn(u64) -> NodeConfig + Send>,
}

impl Cluster {
    /// A cluster whose nodes (not started yet) get their configuration from `config`.
    pub fn new(
        seed: u64,
        ids: &[u64],
        config: impl Fn(u64) -> NodeConfig + Send + 'static,
    ) -> Self {
        let nodes = ids
            .iter()
            .map(|&id| TestNode {
                id,
                fs: SimFs::new(),
                kv: MemKv::new(),
                node: None,
            })
            .collect();
        Cluster {
            net: MemNetwork::new(seed),
            nodes,
            config: Box::new(config),
        }
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn add(&mut self, id: u64) {
        self.nodes.push(TestNode {
            id,
            fs: SimFs::new(),
            kv: MemKv::new(),
            node: None,
        });
    }

    pub fn tn(&mut self, id: u64) -> &mut TestNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("no such node")
    }

    pub fn kv(&self, id: u64) -> MemKv {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("no such node")
            .kv
            .clone()
    }

    /// Starts (or restarts) node `id` from its disk with a fresh, empty state machine.
    pub fn start(&mut self, id: u64) {
        let cfg = (self.config)(id);
        let endpoint = self.net.endpoint(id);
        let tn = self.tn(id);
        assert!(tn.node.is_none(), "node {id} is running");
        let storage = DiskStorage::open(format!("/node{id}"), sim_options(&tn.fs))
            .unwrap_or_else(|e| panic!("node {id}: open storage: {e}"));
        tn.kv = MemKv::new();
        let node = Node::start(cfg, storage, Box::new(tn.kv.clone()), Box::new(endpoint))
            .unwrap_or_else(|e| panic!("node {id}: start: {e}"));
        tn.node = Some(node);
    }

    pub fn start_all(&mut self) {
        for id in self.ids() {
            self.start(id);
        }
    }

    /// Stops node `id` cleanly; the node must not have failed.
    pub fn stop(&mut self, id: u64) {
        let node = self.tn(id).node.take().expect("node is not running");
        node.shutdown()
            .unwrap_or_else(|e| panic!("node {id} stopped with an error: {e}"));
    }

    /// Stops node `id`, then loses everything its disk had not synced (a power cut at the
    /// point the node thread stopped).
    pub fn crash(&mut self, id: u64) {
        self.stop(id);
        self.tn(id).fs.crash(CrashMode::DropUnsynced);
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| n.node.is_some())
            .map(|n| n.id)
            .collect()
    }

    pub fn handle(&self, id: u64) -> NodeHandle {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .and_then(|n| n.node.as_ref())
            .unwrap_or_else(|| panic!("node {id} is not running"))
            .handle()
    }

    /// Waits until a running node is leader and every running node knows it; returns its id.
    pub fn wait_leader(&self, what: &str) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            // Only members count: a joiner knows nothing until it is added.
            let statuses: Vec<Status> = self
                .running()
                .iter()
                .map(|&i| self.handle(i).status())
                .filter(|s| {
                    let cs = &s.conf_state;
                    cs.get_voters().contains(&s.id) || cs.get_learners().contains(&s.id)
                })
                .collect();
            let leaders: Vec<&Status> = statuses
                .iter()
                .filter(|s| s.role == raft::StateRole::Leader)
                .collect();
            if let [l] = leaders[..] {
                if statuses
                    .iter()
                    .all(|s| s.leader_id == l.id && s.term == l.term)
                {
                    return l.id;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: no agreed leader; statuses {statuses:#?}"
            );
            // Wait for any status change of the first running node (bounded).
            let first = self.handle(self.running()[0]);
            let before = first.status();
            first.wait_status(Duration::from_millis(50), |s| *s != before);
        }
    }

    /// Waits until node `id` has applied `index`.
    pub fn wait_applied(&self, id: u64, index: u64, what: &str) -> Status {
        self.handle(id)
            .wait_status(WAIT, |s| s.applied >= index)
            .unwrap_or_else(|| {
                panic!(
                    "{what}: node {id} did not apply {index}: {:#?}",
                    self.handle(id).status()
                )
            })
    }

    /// Puts `key#attempt` through the current leader until an attempt succeeds; returns its
    /// index. Every attempt has its own key, so an attempt whose outcome was unknown (and that
    /// may be applied after all) never duplicates another's effect.
    pub fn propose_ok(&self, key: &str, what: &str) -> u64 {
        let deadline = Instant::now() + WAIT;
        for attempt in 0.. {
            let leader = self.wait_leader(what);
            let data = put(&format!("{key}#{attempt}"), "barrier");
            match self.handle(leader).propose(data).wait() {
                Ok(applied) => return applied.index,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "{what}: no proposal succeeded: {e}"
                ),
            }
        }
        unreachable!()
    }

    /// Proposes a barrier through the leader and waits until every running node applied it;
    /// returns its index.
    pub fn sync_all(&self, key: &str, what: &str) -> u64 {
        let index = self.propose_ok(key, what);
        for id in self.running() {
            self.wait_applied(id, index, what);
        }
        index
    }
}

/// Waits (bounded by [`WAIT`]) until `done` holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Releases held syncs when dropped, so a failing assertion does not leave a node parked in a
/// sync forever (its shutdown, during the unwind, would wait for it).
pub struct Release(pub SimFs);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.hold_syncs(false);
    }
}

/// Three nodes whose elections happen only when asked (no snapshots; `tweak` adjusts each
/// configuration), started, with node 1 elected and a first write applied everywhere.
pub fn three_led_by_1(seed: u64, tweak: impl Fn(&mut NodeConfig) + Send + 'static) -> Cluster {
    let mut c = Cluster::new(seed, &[1, 2, 3], move |id| {
        let mut cfg = fast_config(id, &[1, 2, 3]);
        cfg.election_tick = 100;
        cfg.snapshot_interval = 0;
        tweak(&mut cfg);
        cfg
    });
    c.start_all();
    c.handle(1).campaign();
    assert_eq!(c.wait_leader("the first election"), 1);
    c.sync_all("warm-up", "warm-up");
    c
}
