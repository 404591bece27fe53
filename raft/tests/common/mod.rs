//! Shared test harness: nodes on simulated disks (`SimFs`) and an in-memory network.
//!
//! Every wait has a deadline and panics with what it was waiting for when it passes; nothing
//! sleeps and hopes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use raft::eraftpb::{ConfChangeV2, ConfState};
use stele_raft::mem_net::MemNetwork;
use stele_raft::{Node, NodeConfig, NodeHandle, StateMachine, Status};
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

/// A put of `key = value` as proposal bytes: `u32 key length (LE) | key | value`.
pub fn put(key: &str, value: &str) -> Vec<u8> {
    let mut out = (key.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(value.as_bytes());
    out
}

/// The `(key, value)` of a [`put`]'s bytes; `None` if they are not one.
pub fn decode_put(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let key = data.get(4..4 + len)?.to_vec();
    let value = data.get(4 + len..)?.to_vec();
    Some((key, value))
}

/// The previous value in the result bytes of an applied [`put`] (`None`: there was none).
pub fn decode_result(result: &[u8]) -> Option<Vec<u8>> {
    match result.split_first() {
        Some((1, prev)) => Some(prev.to_vec()),
        _ => None,
    }
}

/// Replay fingerprint of a [`TestKv`]: equal digests mean the same commands were applied at the
/// same indices (up to hash collisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    /// The applied index.
    pub applied: u64,
    /// Non-empty entries applied (malformed ones included).
    pub writes: u64,
    /// FNV-1a chain over every applied `(index, command)`.
    pub chain: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[derive(Debug)]
struct KvState {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    digest: Digest,
}

/// The tests' state machine: an in-memory map of [`put`]s plus a [`Digest`], both carried in
/// its snapshots; nothing on disk, so a restarted node restores it from the newest snapshot.
/// Clones share the state (the test reads through one, the node applies through another).
#[derive(Debug, Clone)]
pub struct TestKv(Arc<Mutex<KvState>>);

impl Default for TestKv {
    fn default() -> Self {
        TestKv::new()
    }
}

impl TestKv {
    pub fn new() -> TestKv {
        TestKv(Arc::new(Mutex::new(KvState {
            map: BTreeMap::new(),
            digest: Digest {
                applied: 0,
                writes: 0,
                chain: FNV_OFFSET,
            },
        })))
    }

    fn lock(&self) -> MutexGuard<'_, KvState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lock().map.get(key).cloned()
    }

    pub fn entries(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.lock().map.clone()
    }

    pub fn digest(&self) -> Digest {
        self.lock().digest
    }
}

fn read_u64(r: &mut dyn Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_bytes(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let len = read_u64(r)?;
    let mut v = Vec::new();
    r.take(len).read_to_end(&mut v)?;
    if v.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(v)
}

impl StateMachine for TestKv {
    fn apply(&mut self, index: u64, data: &[u8]) -> Vec<u8> {
        let mut st = self.lock();
        st.digest.applied = index;
        if data.is_empty() {
            return Vec::new(); // a new leader's entry
        }
        st.digest.writes += 1;
        let chain = fnv(st.digest.chain, &index.to_le_bytes());
        st.digest.chain = fnv(fnv(chain, &(data.len() as u64).to_le_bytes()), data);
        match decode_put(data) {
            Some((key, value)) => match st.map.insert(key, value) {
                Some(prev) => [&[1u8][..], &prev].concat(),
                None => vec![0],
            },
            None => vec![2],
        }
    }

    fn apply_conf_change(&mut self, index: u64, _change: &ConfChangeV2, _cs: &ConfState) {
        self.lock().digest.applied = index;
    }

    fn applied_index(&self) -> u64 {
        self.lock().digest.applied
    }

    /// `writes u64 | chain u64 | pair count u64`, then per pair `u64 len | key | u64 len |
    /// value` (all little endian).
    fn snapshot(&mut self, w: &mut dyn Write) -> io::Result<()> {
        let st = self.lock();
        let d = st.digest;
        for n in [d.writes, d.chain, st.map.len() as u64] {
            w.write_all(&n.to_le_bytes())?;
        }
        for (k, v) in &st.map {
            for b in [k, v] {
                w.write_all(&(b.len() as u64).to_le_bytes())?;
                w.write_all(b)?;
            }
        }
        Ok(())
    }

    fn restore(&mut self, index: u64, r: &mut dyn Read) -> io::Result<()> {
        let mut r = io::BufReader::new(r);
        let (writes, chain, count) = (read_u64(&mut r)?, read_u64(&mut r)?, read_u64(&mut r)?);
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let k = read_bytes(&mut r)?;
            map.insert(k, read_bytes(&mut r)?);
        }
        let mut st = self.lock();
        st.map = map;
        st.digest = Digest {
            applied: index,
            writes,
            chain,
        };
        Ok(())
    }
}

/// One node of a test cluster: its disk survives restarts, its state machine does not.
pub struct TestNode {
    pub id: u64,
    pub fs: SimFs,
    pub kv: TestKv,
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
                kv: TestKv::new(),
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
            kv: TestKv::new(),
            node: None,
        });
    }

    pub fn tn(&mut self, id: u64) -> &mut TestNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("no such node")
    }

    pub fn kv(&self, id: u64) -> TestKv {
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
        tn.kv = TestKv::new();
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
