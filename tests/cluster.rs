//! A real three-node raft cluster over `DiskStorage`, in one process.
//!
//! Three `RawNode<DiskStorage>` (ids 1, 2, 3, all voters from the start), each with its own
//! directory, exchange messages through a deterministic in-memory queue. Each node's driver
//! handles a Ready in the order of `docs/RAFT.md` §3.2 (leader messages, snapshot install,
//! append + HardState, persisted messages, apply, advance, commit index, light messages, light
//! apply, advance_apply). Time is a loop counter (one tick per round), everything is bounded by
//! iteration counts, and election timeouts are fixed per node so runs are reproducible.
//!
//! The scenario: elect node 1, commit a few hundred entries and some (membership-preserving)
//! conf changes, including a joint one that raft leaves automatically; stop node 3, commit more,
//! restart it from its directory and let it catch up from the log; stop it again, commit more
//! while the live nodes snapshot their state machines and compact their logs down to a small
//! tail, restart it and let it catch up by snapshot; finally restart the whole cluster and
//! elect another leader. Every node checks at apply time that each entry is exactly the one
//! after its applied index (so nothing is applied twice or skipped), and the end state is
//! compared across nodes.
//!
//! The state machines live in the harness, across restarts: they play the part of a durable
//! state machine whose applied index is passed as `Config::applied` on restart.

use std::collections::{BTreeMap, VecDeque};

use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
    Entry, EntryType, Message, MessageType, Snapshot,
};
use raft::{Config, RawNode, SnapshotStatus, StateRole, Storage};
use stele::storage::{DiskStorage, StorageOptions};

const IDS: [u64; 3] = [1, 2, 3];
/// A live node snapshots its state machine once it applied this many entries past its newest
/// snapshot (while compaction is on)...
const SNAPSHOT_EVERY: u64 = 40;
/// ...and compacts its log to `applied - KEEP_TAIL`.
const KEEP_TAIL: u64 = 10;
/// Proposals per batch handed to the leader between rounds.
const BATCH: usize = 25;
const MAX_ROUNDS: usize = 2_000;
const MAX_SETTLE_STEPS: usize = 10_000;

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn config(id: u64, applied: u64) -> Config {
    // A fixed election timeout per node (the random range has one value): deterministic runs,
    // and never two followers timing out on the same tick.
    let timeout = 10 + 2 * id as usize;
    Config {
        id,
        election_tick: 10,
        heartbeat_tick: 3,
        min_election_tick: timeout,
        max_election_tick: timeout + 1,
        applied,
        max_size_per_msg: 64 * 1024,
        max_inflight_msgs: 256,
        ..Config::default()
    }
}

fn options() -> StorageOptions {
    let mut o = StorageOptions::default();
    // Small segments: the run cuts many, and compaction purges them.
    o.wal.segment_size = 16 * 1024;
    o
}

fn voters(ids: &[u64]) -> ConfState {
    let mut cs = ConfState::default();
    cs.set_voters(ids.to_vec());
    cs
}

/// ConfState with its id lists sorted (raft builds them from sets).
fn normalized(cs: &ConfState) -> ConfState {
    let sorted = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let mut out = ConfState::default();
    out.set_voters(sorted(cs.get_voters()));
    out.set_learners(sorted(cs.get_learners()));
    out.set_voters_outgoing(sorted(cs.get_voters_outgoing()));
    out.set_learners_next(sorted(cs.get_learners_next()));
    out.auto_leave = cs.auto_leave;
    out
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One applied entry: (index, term, entry type, data).
type Applied = (u64, u64, i32, Vec<u8>);

/// The application: a key-value map fed by "key=value" entries.
#[derive(Debug, Clone)]
struct StateMachine {
    kv: BTreeMap<String, String>,
    applied: u64,
    /// The configuration as of `applied`.
    conf_state: ConfState,
    /// Non-empty normal entries applied, and a hash chain over their (index, data): both travel
    /// in snapshots, so equal values at the end mean the same entries were applied in the same
    /// order, across snapshot restores too.
    count: u64,
    chain: u64,
    /// Every entry this node applied from its log (a snapshot restore leaves a gap).
    log: Vec<Applied>,
    /// Snapshot indexes this state machine was restored from.
    restored: Vec<u64>,
}

impl StateMachine {
    fn new(cs: ConfState) -> StateMachine {
        StateMachine {
            kv: BTreeMap::new(),
            applied: 0,
            conf_state: cs,
            count: 0,
            chain: 0xcbf2_9ce4_8422_2325,
            log: Vec::new(),
            restored: Vec::new(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut s = format!("{} {}\n", self.count, self.chain);
        for (k, v) in &self.kv {
            s.push_str(&format!("{k}={v}\n"));
        }
        s.into_bytes()
    }

    /// Replaces the state with a snapshot's.
    fn restore(&mut self, snap: &Snapshot) {
        let meta = snap.get_metadata();
        assert!(
            meta.index >= self.applied,
            "snapshot {} is behind applied {}",
            meta.index,
            self.applied
        );
        let text = std::str::from_utf8(&snap.data).expect("snapshot data is utf-8");
        let mut lines = text.lines();
        let head = lines.next().expect("snapshot header");
        let (count, chain) = head.split_once(' ').expect("count chain");
        self.count = count.parse().unwrap();
        self.chain = chain.parse().unwrap();
        self.kv = lines
            .map(|l| {
                let (k, v) = l.split_once('=').expect("key=value");
                (k.to_string(), v.to_string())
            })
            .collect();
        self.applied = meta.index;
        self.conf_state = meta.get_conf_state().clone();
        self.restored.push(meta.index);
    }

    /// Applies committed entries; conf changes go through raft and into the storage.
    fn apply(&mut self, raw: &mut RawNode<DiskStorage>, storage: &DiskStorage, ents: Vec<Entry>) {
        if ents.is_empty() {
            return;
        }
        // Keep `applied <= durable hs.commit` (docs/RAFT.md §3.7): the commit index that made these
        // entries committed may have been written without a sync.
        storage.sync().unwrap();
        let mut conf_changed = false;
        for e in ents {
            assert_eq!(
                e.index,
                self.applied + 1,
                "node {}: entry {} handed out with applied {} (skipped or applied twice)",
                raw.raft.id,
                e.index,
                self.applied
            );
            match e.get_entry_type() {
                EntryType::EntryNormal if e.data.is_empty() => {} // a new leader's no-op
                EntryType::EntryNormal => {
                    let text = std::str::from_utf8(&e.data).unwrap();
                    let (k, v) = text.split_once('=').expect("key=value");
                    self.kv.insert(k.to_string(), v.to_string());
                    self.count += 1;
                    self.chain = fnv(fnv(self.chain, &e.index.to_le_bytes()), &e.data);
                }
                EntryType::EntryConfChange => {
                    let cc = ConfChange::parse_from_bytes(&e.data).unwrap();
                    self.conf_state = raw.apply_conf_change(&cc).unwrap();
                    conf_changed = true;
                }
                EntryType::EntryConfChangeV2 => {
                    // Empty data is meaningful: the default ConfChangeV2 leaves a joint config.
                    let cc = ConfChangeV2::parse_from_bytes(&e.data).unwrap();
                    self.conf_state = raw.apply_conf_change(&cc).unwrap();
                    conf_changed = true;
                }
            }
            self.applied = e.index;
            self.log
                .push((e.index, e.term, e.get_entry_type() as i32, e.data.to_vec()));
        }
        if conf_changed {
            storage.set_conf_state(&self.conf_state).unwrap();
            storage.sync().unwrap();
        }
    }
}

struct Live {
    raw: RawNode<DiskStorage>,
    storage: DiskStorage,
}

struct Node {
    id: u64,
    dir: tempfile::TempDir,
    sm: StateMachine,
    live: Option<Live>,
    /// Snapshots installed from the leader (Ready snapshots).
    installed: usize,
    /// Snapshots created by this node.
    created: usize,
}

impl Node {
    fn live(&mut self) -> &mut Live {
        let id = self.id;
        self.live
            .as_mut()
            .unwrap_or_else(|| panic!("node {id} is down"))
    }

    /// Handles one Ready, if any, in the contract's order; returns whether there was one.
    fn handle_ready(&mut self, out: &mut VecDeque<Message>, compaction: bool) -> bool {
        let Some(live) = self.live.as_mut() else {
            return false;
        };
        let Live { raw, storage } = live;
        if !raw.has_ready() {
            return false;
        }
        let mut rd = raw.ready();
        // 1. Leader messages go at once.
        out.extend(rd.take_messages());
        // 2. Snapshot: state machine first, then the log reset.
        if !rd.snapshot().is_empty() {
            assert!(rd.committed_entries().is_empty());
            let snap = rd.snapshot().clone();
            self.sm.restore(&snap);
            storage.apply_snapshot(&snap).unwrap();
            self.installed += 1;
        }
        // 3. Entries and HardState, one batch, synced when raft says so.
        storage
            .append(rd.entries(), rd.hs(), rd.must_sync())
            .unwrap();
        // 4. Only now the messages that acknowledge them.
        out.extend(rd.take_persisted_messages());
        // 5. Apply.
        self.sm.apply(raw, storage, rd.take_committed_entries());
        let mut light = raw.advance(rd);
        if let Some(c) = light.commit_index() {
            storage.set_commit(c).unwrap();
        }
        out.extend(light.take_messages());
        self.sm.apply(raw, storage, light.take_committed_entries());
        raw.advance_apply();
        if compaction && self.sm.applied >= storage.snapshot_metadata().index + SNAPSHOT_EVERY {
            let data = self.sm.encode();
            let meta = storage
                .create_snapshot(self.sm.applied, &self.sm.conf_state, &mut data.as_slice())
                .unwrap();
            assert_eq!(meta.index, self.sm.applied);
            assert_eq!(meta.term, storage.term(meta.index).unwrap());
            assert_eq!(storage.snapshot_metadata(), meta);
            storage.compact(self.sm.applied - KEEP_TAIL).unwrap();
            assert_eq!(
                storage.first_index().unwrap(),
                self.sm.applied - KEEP_TAIL + 1
            );
            self.created += 1;
        }
        true
    }
}

struct Cluster {
    nodes: Vec<Node>,
    queue: VecDeque<Message>,
    compaction: bool,
    proposals: Vec<Vec<u8>>,
    /// MsgSnapshot delivered, by target.
    snapshots_delivered: BTreeMap<u64, usize>,
    /// Messages dropped because their target was down.
    dropped: usize,
    rounds: usize,
}

impl Cluster {
    fn new() -> Cluster {
        let cs = voters(&IDS);
        let nodes = IDS
            .iter()
            .map(|&id| {
                let dir = tempfile::tempdir().unwrap();
                let storage = DiskStorage::open(dir.path(), options()).unwrap();
                storage.initialize_with_conf_state(&cs).unwrap();
                let raw = RawNode::new(&config(id, 0), storage.clone(), &logger()).unwrap();
                Node {
                    id,
                    dir,
                    sm: StateMachine::new(cs.clone()),
                    live: Some(Live { raw, storage }),
                    installed: 0,
                    created: 0,
                }
            })
            .collect();
        Cluster {
            nodes,
            queue: VecDeque::new(),
            compaction: false,
            proposals: Vec::new(),
            snapshots_delivered: BTreeMap::new(),
            dropped: 0,
            rounds: 0,
        }
    }

    fn node(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    /// Stops a node: its RawNode and storage are dropped (nothing is synced on the way out);
    /// only the harness-held state machine survives.
    /// Returns the last index of its log.
    fn stop(&mut self, id: u64) -> u64 {
        let node = self.node(id);
        let live = node
            .live
            .take()
            .unwrap_or_else(|| panic!("node {id} already down"));
        live.storage.last_index().unwrap()
    }

    /// Restarts a node from its directory with `Config::applied` = its state machine's applied
    /// index; returns the last index of the recovered log.
    fn start(&mut self, id: u64) -> u64 {
        let node = self.node(id);
        assert!(node.live.is_none(), "node {id} already up");
        let storage = DiskStorage::open(node.dir.path(), options())
            .unwrap_or_else(|e| panic!("node {id}: reopening its storage failed: {e}"));
        let (first, last) = (
            storage.first_index().unwrap(),
            storage.last_index().unwrap(),
        );
        let hs = storage.hard_state();
        let applied = node.sm.applied;
        assert!(
            first - 1 <= applied && applied <= hs.commit && hs.commit <= last,
            "node {id}: reopened with first {first}, last {last}, commit {}, applied {applied}",
            hs.commit
        );
        assert_eq!(
            normalized(&storage.conf_state()),
            normalized(&node.sm.conf_state)
        );
        assert_eq!(storage.recovery().entries, (first, last));
        let raw = RawNode::new(&config(id, applied), storage.clone(), &logger())
            .unwrap_or_else(|e| panic!("node {id}: RawNode::new on reopen failed: {e}"));
        assert_eq!(raw.raft.raft_log.committed, hs.commit);
        node.live = Some(Live { raw, storage });
        last
    }

    fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter_map(|n| n.live.as_ref().map(|l| (n.id, &l.raw.raft)))
            .filter(|(_, r)| r.state == StateRole::Leader)
            .max_by_key(|(_, r)| r.term)
            .map(|(id, _)| id)
    }

    /// Delivers every queued message (and those their handling produces, via later Readies).
    fn deliver(&mut self) {
        while let Some(m) = self.queue.pop_front() {
            let (to, from) = (m.to, m.from);
            let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
            let delivered = match self.node(to).live.as_mut() {
                Some(target) => {
                    target
                        .raw
                        .step(m)
                        .unwrap_or_else(|e| panic!("node {to}: step from {from} failed: {e}"));
                    true
                }
                None => false,
            };
            if delivered && snapshot {
                *self.snapshots_delivered.entry(to).or_default() += 1;
            }
            if !delivered {
                self.dropped += 1;
            }
            // Tell the sender how it went (every delivery succeeds in memory).
            if let Some(sender) = self.node(from).live.as_mut() {
                match (delivered, snapshot) {
                    (true, true) => sender.raw.report_snapshot(to, SnapshotStatus::Finish),
                    (true, false) => {}
                    (false, _) => {
                        sender.raw.report_unreachable(to);
                        if snapshot {
                            sender.raw.report_snapshot(to, SnapshotStatus::Failure);
                        }
                    }
                }
            }
        }
    }

    /// Handles Readies and delivers messages until the cluster is quiet.
    fn settle(&mut self) {
        for _ in 0..MAX_SETTLE_STEPS {
            let mut busy = false;
            for node in &mut self.nodes {
                busy |= node.handle_ready(&mut self.queue, self.compaction);
            }
            if !busy && self.queue.is_empty() {
                return;
            }
            self.deliver();
        }
        panic!("the cluster did not settle in {MAX_SETTLE_STEPS} steps");
    }

    /// One unit of time: every live node ticks once, then the cluster settles.
    fn round(&mut self) {
        self.rounds += 1;
        for node in &mut self.nodes {
            if let Some(live) = node.live.as_mut() {
                live.raw.tick();
            }
        }
        self.settle();
    }

    fn run_until(&mut self, what: &str, mut done: impl FnMut(&Cluster) -> bool) {
        self.settle();
        for _ in 0..MAX_ROUNDS {
            if done(self) {
                return;
            }
            self.round();
        }
        panic!("{what}: not reached in {MAX_ROUNDS} rounds");
    }

    /// A leader is known, has committed its whole log, and every live node applied it.
    fn caught_up(&self) -> bool {
        let Some(leader) = self.leader() else {
            return false;
        };
        let log = &self.nodes[leader as usize - 1]
            .live
            .as_ref()
            .unwrap()
            .raw
            .raft
            .raft_log;
        let last = log.last_index();
        log.committed == last
            && self
                .nodes
                .iter()
                .filter(|n| n.live.is_some())
                .all(|n| n.sm.applied == last)
    }

    fn wait_caught_up(&mut self, what: &str) {
        self.run_until(what, Cluster::caught_up);
    }

    fn leader_raw(&mut self) -> &mut RawNode<DiskStorage> {
        let id = self.leader().expect("no leader");
        &mut self.node(id).live().raw
    }

    /// Proposes `n` entries through the leader, in batches, a round after each.
    fn propose(&mut self, n: usize) {
        let mut left = n;
        while left > 0 {
            let id = self.leader().expect("no leader to propose to");
            let batch = BATCH.min(left);
            left -= batch;
            for _ in 0..batch {
                let i = self.proposals.len();
                let data = format!("k{}=v{i}", i % 37).into_bytes();
                self.node(id)
                    .live()
                    .raw
                    .propose(vec![], data.clone())
                    .unwrap();
                self.proposals.push(data);
            }
            self.round();
        }
    }

    fn propose_conf_change_v1(&mut self, cc: ConfChange) {
        self.leader_raw().propose_conf_change(vec![], cc).unwrap();
        self.wait_caught_up("conf change (v1)");
    }

    fn propose_conf_change_v2(&mut self, cc: ConfChangeV2) {
        self.leader_raw().propose_conf_change(vec![], cc).unwrap();
        // Joint changes are left automatically: wait until no node is joint any more.
        self.run_until("conf change (v2) and auto-leave", |c| {
            c.caught_up()
                && c.nodes
                    .iter()
                    .all(|n| n.sm.conf_state.get_voters_outgoing().is_empty())
        });
    }

    fn storage(&self, id: u64) -> &DiskStorage {
        &self.nodes[id as usize - 1]
            .live
            .as_ref()
            .expect("node is down")
            .storage
    }
}

#[test]
fn three_nodes_restart_and_catch_up_by_log_then_by_snapshot() {
    let t0 = std::time::Instant::now();
    let mut c = Cluster::new();

    // Phase 1: elect node 1, commit entries and membership-preserving conf changes.
    c.node(1).live().raw.campaign().unwrap();
    c.wait_caught_up("first election");
    assert_eq!(c.leader(), Some(1));
    c.propose(100);
    let mut add3 = ConfChange::default();
    add3.set_change_type(ConfChangeType::AddNode);
    add3.node_id = 3; // already a voter: a no-op change that still goes through the log
    c.propose_conf_change_v1(add3);
    let mut v2 = ConfChangeV2::default();
    v2.set_transition(ConfChangeTransition::Auto);
    for id in [2, 3] {
        let mut s = ConfChangeSingle::default();
        s.set_change_type(ConfChangeType::AddNode);
        s.node_id = id;
        v2.mut_changes().push(s);
    }
    c.propose_conf_change_v2(v2); // two changes: joint consensus, then an empty V2 to leave it
    c.propose(100);
    c.wait_caught_up("phase 1");
    for id in IDS {
        let n = &c.nodes[id as usize - 1];
        let joint =
            n.sm.log
                .iter()
                .filter(|e| e.2 == EntryType::EntryConfChangeV2 as i32);
        assert_eq!(
            joint.count(),
            2,
            "node {id}: the joint change and its auto-leave"
        );
        assert_eq!(normalized(&n.sm.conf_state), voters(&IDS));
        assert_eq!(normalized(&c.storage(id).conf_state()), voters(&IDS));
    }

    // Phase 2: node 3 down; the others go on (nothing compacted yet).
    c.stop(3);
    let applied3 = c.node(3).sm.applied;
    c.propose(100);
    c.wait_caught_up("phase 2 (node 3 down)");
    assert!(c.dropped > 0);
    assert_eq!(c.nodes[0].sm.applied, applied3 + 100);

    // Phase 3: restart node 3; it catches up from the leader's log.
    c.start(3);
    c.wait_caught_up("phase 3 (node 3 catches up by log)");
    assert_eq!(
        c.node(3).installed,
        0,
        "node 3 caught up by log, not by snapshot"
    );
    assert_eq!(c.snapshots_delivered.get(&3), None);
    assert_eq!(c.nodes[2].sm.applied, c.nodes[0].sm.applied);

    // Phase 4: node 3 down again; the live nodes snapshot and compact behind it.
    let last3 = c.stop(3);
    let applied3 = c.node(3).sm.applied;
    c.compaction = true;
    c.propose(300);
    c.wait_caught_up("phase 4 (node 3 down, compacting)");
    for id in [1, 2] {
        let first = c.storage(id).first_index().unwrap();
        assert!(
            c.node(id).created >= 5,
            "node {id} snapshotted periodically"
        );
        assert!(
            first > last3 + 1,
            "node {id}: log starts at {first}, node 3 needs {}",
            last3 + 1
        );
        assert!(c.storage(id).snapshot_metadata().index > applied3);
    }

    // Phase 5: restart node 3; the log it needs is gone, so it gets a snapshot.
    c.start(3);
    c.wait_caught_up("phase 5 (node 3 catches up by snapshot)");
    assert!(c.node(3).installed >= 1, "node 3 installed a snapshot");
    assert!(c.snapshots_delivered.get(&3).copied().unwrap_or(0) >= 1);
    assert!(c.node(3).sm.restored.iter().all(|&i| i > applied3));
    let snap3 = c.storage(3).snapshot_metadata();
    assert!(snap3.index > last3);
    assert!(c.storage(3).first_index().unwrap() > last3 + 1);

    // Phase 6: all up, more entries, then the whole cluster restarts and elects node 2.
    c.propose(60);
    c.wait_caught_up("phase 6");
    for id in IDS {
        c.stop(id);
    }
    for id in IDS {
        c.start(id);
    }
    assert!(
        c.storage(3).recovery().snapshot.0 >= snap3.index,
        "node 3 reopened with its snapshot"
    );
    c.node(2).live().raw.campaign().unwrap();
    c.run_until("election after a full restart", |c| c.leader() == Some(2));
    c.propose(40);
    c.wait_caught_up("after the full restart");

    // Every node: the same state, the same applied index and configuration.
    let reference = c.nodes[0].sm.clone();
    for id in IDS {
        let n = &c.nodes[id as usize - 1];
        assert_eq!(n.sm.applied, reference.applied, "node {id} applied index");
        assert_eq!(n.sm.kv, reference.kv, "node {id} state");
        assert_eq!(
            (n.sm.count, n.sm.chain),
            (reference.count, reference.chain),
            "node {id}: same entries applied in the same order"
        );
        assert_eq!(normalized(&n.sm.conf_state), voters(&IDS));
        assert_eq!(normalized(&c.storage(id).conf_state()), voters(&IDS));
        assert_eq!(c.storage(id).hard_state().commit, reference.applied);
    }
    // Nodes 1 and 2 applied every entry from their logs, in order, each once.
    assert!(c.nodes[0].sm.restored.is_empty() && c.nodes[1].sm.restored.is_empty());
    assert_eq!(c.nodes[0].sm.log, c.nodes[1].sm.log);
    let indexes: Vec<u64> = reference.log.iter().map(|e| e.0).collect();
    assert_eq!(indexes, (1..=reference.applied).collect::<Vec<_>>());
    // Node 3 applied the same entries, except those covered by the snapshot it restored.
    let n3 = &c.nodes[2].sm;
    for e in &n3.log {
        assert_eq!(e, &reference.log[e.0 as usize - 1], "node 3 entry {}", e.0);
    }
    let mut covered = n3.log.iter().map(|e| e.0).collect::<Vec<_>>();
    for &r in &n3.restored {
        let prev = n3
            .log
            .iter()
            .map(|e| e.0)
            .filter(|&i| i <= r)
            .max()
            .unwrap_or(0);
        covered.extend(prev + 1..=r);
    }
    covered.sort_unstable();
    assert_eq!(
        covered, indexes,
        "node 3: every index applied once or restored"
    );
    // Every proposal committed and was applied once, in proposal order.
    let applied_data: Vec<Vec<u8>> = reference
        .log
        .iter()
        .filter(|e| e.2 == EntryType::EntryNormal as i32 && !e.3.is_empty())
        .map(|e| e.3.clone())
        .collect();
    assert_eq!(applied_data, c.proposals);
    assert_eq!(reference.count as usize, c.proposals.len());

    eprintln!(
        "cluster: {} proposals, applied index {}, {} rounds, {} dropped messages, \
         snapshots created {:?}, installed by node 3: {}, in {:?}",
        c.proposals.len(),
        reference.applied,
        c.rounds,
        c.dropped,
        c.nodes.iter().map(|n| n.created).collect::<Vec<_>>(),
        c.nodes[2].installed,
        t0.elapsed()
    );
}
