//! Restart: a node resumes from its state machine's applied index (`Config::applied`), never
//! from the commit index, and brings the storage into agreement with it first.
//!
//! The state machine here is "durable": it checkpoints its state (applied index, map,
//! configuration) to a store that survives restarts, but not after every entry, so it
//! restarts behind the commit index. It records every index it is handed and flags any that is
//! not exactly `applied + 1` (a skip or a repeat).
//!
//! - `resumes_from_the_state_machine_applied_index`: the checkpoint is taken when a joint
//!   configuration is entered and frozen there, so the machine restarts in the joint
//!   configuration while the storage holds the later, non-joint one; the restarted node must
//!   hand raft the joint configuration (checked while the first re-applied entry is held), then
//!   re-apply everything after the checkpoint exactly once, the leave-joint included;
//! - `commit_index_lost_in_a_crash_is_moved_up_to_applied`: the machine checkpoints every entry,
//!   the disk loses the unsynced commit index in a power cut, and the node still restarts
//!   (raft would panic on `applied > commit`);
//! - `in_memory_machine_restores_from_snapshot`: `TestKv` (no durable state) restarts from the
//!   newest snapshot plus the log after it.

mod common;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

use common::{decode_put, fast_config, put, sim_options, TestKv, WAIT};
use raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2, ConfState};
use stele_raft::mem_net::MemNetwork;
use stele_raft::{Node, NodeConfig, StateMachine};
use stele_storage::DiskStorage;
use stele_wal::fs::sim::{CrashMode, SimFs};
use stele_wal::fs::FileSystem as _;

#[derive(Debug, Clone, Default)]
struct Image {
    applied: u64,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    conf: Option<ConfState>,
}

#[derive(Debug, Default)]
struct Disk {
    checkpoint: Image,
    /// Every index handed to the machine, per incarnation.
    seen: Vec<Vec<u64>>,
    /// (index, conf state) of every membership change applied, per incarnation.
    confs: Vec<Vec<(u64, ConfState)>>,
    violations: Vec<String>,
}

/// When to checkpoint.
#[derive(Debug, Clone, Copy)]
enum Policy {
    EveryEntry,
    FreezeAtJoint,
}

struct Durable {
    state: Image,
    disk: Arc<Mutex<Disk>>,
    policy: Policy,
    frozen: bool,
    /// While set, the first apply of this incarnation waits for a message.
    gate: Option<Receiver<()>>,
}

impl Durable {
    fn open(disk: &Arc<Mutex<Disk>>, policy: Policy, gate: Option<Receiver<()>>) -> Durable {
        let mut d = disk.lock().unwrap();
        d.seen.push(Vec::new());
        d.confs.push(Vec::new());
        Durable {
            state: d.checkpoint.clone(),
            disk: disk.clone(),
            policy,
            frozen: false,
            gate,
        }
    }

    fn step(&mut self, index: u64) {
        if let Some(gate) = self.gate.take() {
            let _ = gate.recv_timeout(WAIT);
        }
        let mut d = self.disk.lock().unwrap();
        if index != self.state.applied + 1 {
            d.violations.push(format!(
                "index {index} handed out with applied {}",
                self.state.applied
            ));
        }
        d.seen.last_mut().unwrap().push(index);
        self.state.applied = index;
    }

    fn checkpoint(&self) {
        if !self.frozen {
            self.disk.lock().unwrap().checkpoint = self.state.clone();
        }
    }
}

impl StateMachine for Durable {
    fn apply(&mut self, index: u64, data: &[u8]) -> Vec<u8> {
        self.step(index);
        if let Some((key, value)) = decode_put(data) {
            self.state.map.insert(key, value);
        }
        if matches!(self.policy, Policy::EveryEntry) {
            self.checkpoint();
        }
        Vec::new()
    }

    fn apply_conf_change(&mut self, index: u64, _cc: &ConfChangeV2, cs: &ConfState) {
        self.step(index);
        self.state.conf = Some(cs.clone());
        self.disk
            .lock()
            .unwrap()
            .confs
            .last_mut()
            .unwrap()
            .push((index, cs.clone()));
        let joint = !cs.get_voters_outgoing().is_empty();
        if matches!(self.policy, Policy::EveryEntry) || joint {
            self.checkpoint();
        }
        if joint && matches!(self.policy, Policy::FreezeAtJoint) {
            self.frozen = true;
        }
    }

    fn applied_index(&self) -> u64 {
        self.state.applied
    }

    fn snapshot(&mut self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(&(self.state.map.len() as u64).to_le_bytes())
    }

    fn restore(&mut self, index: u64, _r: &mut dyn Read) -> io::Result<()> {
        self.state = Image {
            applied: index,
            ..Image::default()
        };
        Ok(())
    }
}

fn single_node_config() -> NodeConfig {
    let mut cfg = fast_config(1, &[1]);
    cfg.snapshot_interval = 0;
    cfg
}

fn learners_joint() -> ConfChangeV2 {
    let mut cc = ConfChangeV2::default();
    for id in [2, 3] {
        let mut s = ConfChangeSingle::default();
        s.set_change_type(ConfChangeType::AddLearnerNode);
        s.node_id = id;
        cc.mut_changes().push(s);
    }
    cc
}

fn start(fs: &SimFs, net: &MemNetwork, sm: Box<dyn StateMachine>) -> (Node, DiskStorage) {
    let storage = DiskStorage::open("/single", sim_options(fs)).unwrap();
    let node = Node::start(
        single_node_config(),
        storage.clone(),
        sm,
        Box::new(net.endpoint(1)),
    )
    .unwrap();
    (node, storage)
}

fn propose_n(node: &Node, from: usize, n: usize) -> u64 {
    let mut last = 0;
    for i in from..from + n {
        last = node
            .propose(put(&format!("k{i}"), "v"))
            .wait()
            .expect("single-node proposal")
            .index;
    }
    last
}

#[test]
fn resumes_from_the_state_machine_applied_index() {
    let (fs, net) = (SimFs::new(), MemNetwork::new(1));
    let disk = Arc::new(Mutex::new(Disk::default()));
    let (node, _) = start(
        &fs,
        &net,
        Box::new(Durable::open(&disk, Policy::FreezeAtJoint, None)),
    );
    node.campaign();
    propose_n(&node, 0, 10);
    let joint = node
        .change_membership(learners_joint())
        .wait()
        .expect("enter joint");
    assert!(!joint.result.get_voters_outgoing().is_empty());
    node.wait_status(WAIT, |s| s.conf_state.get_voters_outgoing().is_empty())
        .expect("auto-leave");
    let last = propose_n(&node, 10, 10);
    node.shutdown().unwrap();
    let checkpoint = disk.lock().unwrap().checkpoint.applied;
    assert_eq!(
        checkpoint, joint.index,
        "the machine is durable only up to the joint entry"
    );

    let (release, gate) = channel::<()>();
    let sm = Durable::open(&disk, Policy::EveryEntry, Some(gate));
    let (node, storage) = start(&fs, &net, Box::new(sm));
    // The node thread is parked in the first re-applied entry: raft started from the
    // configuration as of the machine's applied index (joint), not the storage's latest.
    let cs = storage.conf_state();
    assert_eq!(
        cs.get_voters_outgoing(),
        &[1],
        "restarted in the joint configuration: {cs:?}"
    );
    assert!(storage.hard_state().commit >= last);
    release.send(()).unwrap();
    node.wait_status(WAIT, |s| s.applied >= last)
        .expect("re-applied the log");
    let d = disk.lock().unwrap();
    assert!(d.violations.is_empty(), "{:?}", d.violations);
    let after: &Vec<u64> = &d.seen[1];
    assert_eq!(
        after.first(),
        Some(&(checkpoint + 1)),
        "resumed right after the machine's applied index"
    );
    assert_eq!(
        after,
        &(checkpoint + 1..=last).collect::<Vec<_>>(),
        "each entry re-applied once"
    );
    let (leave_index, left) = d.confs[1]
        .first()
        .cloned()
        .expect("the leave-joint was re-applied");
    assert_eq!(leave_index, checkpoint + 1);
    assert!(
        left.get_voters_outgoing().is_empty() && left.get_learners().len() == 2,
        "{left:?}"
    );
    drop(d);
    node.shutdown().unwrap();
}

#[test]
fn commit_index_lost_in_a_crash_is_moved_up_to_applied() {
    let (fs, net) = (SimFs::new(), MemNetwork::new(2));
    let disk = Arc::new(Mutex::new(Disk::default()));
    let (node, _) = start(
        &fs,
        &net,
        Box::new(Durable::open(&disk, Policy::EveryEntry, None)),
    );
    node.campaign();
    let last = propose_n(&node, 0, 5);
    node.shutdown().unwrap();
    fs.crash(CrashMode::DropUnsynced);
    let applied = disk.lock().unwrap().checkpoint.applied;
    assert_eq!(applied, last);
    {
        let storage = DiskStorage::open("/single", sim_options(&fs)).unwrap();
        let commit = storage.hard_state().commit;
        assert!(
            commit < applied,
            "the power cut lost the commit index ({commit} >= {applied})"
        );
    }
    let (node, storage) = start(
        &fs,
        &net,
        Box::new(Durable::open(&disk, Policy::EveryEntry, None)),
    );
    assert!(storage.hard_state().commit >= applied);
    node.campaign();
    let more = propose_n(&node, 5, 3);
    node.wait_status(WAIT, |s| s.applied >= more)
        .expect("progress after the restart");
    let d = disk.lock().unwrap();
    assert!(d.violations.is_empty(), "{:?}", d.violations);
    assert_eq!(
        d.seen[1].first(),
        Some(&(applied + 1)),
        "nothing re-applied, nothing skipped"
    );
    drop(d);
    node.shutdown().unwrap();
}

#[test]
fn in_memory_machine_restores_from_snapshot() {
    let (fs, net) = (SimFs::new(), MemNetwork::new(3));
    let mut opts = sim_options(&fs);
    opts.wal.segment_size = 4096; // many segments, for purging
    let storage = DiskStorage::open("/mem", opts.clone()).unwrap();
    let mut cfg = fast_config(1, &[1]);
    cfg.snapshot_interval = 25;
    cfg.compaction_tail = 5;
    let kv = TestKv::new();
    let endpoint = Box::new(net.endpoint(1));
    let node = Node::start(cfg.clone(), storage, Box::new(kv.clone()), endpoint).unwrap();
    node.campaign();
    let last = propose_n(&node, 0, 200);
    // Snapshots are written in the background: wait (bounded) for the newest to land.
    let before = node
        .wait_status(WAIT, |s| s.first_index + 30 > last)
        .unwrap_or_else(|| node.status());
    // At most one every 25 entries; background snapshots run one at a time, so on a loaded
    // machine a slow one makes the next cover more entries.
    assert!(
        (2..=8).contains(&before.snapshots_created),
        "snapshots at least 25 entries apart: {before:?}"
    );
    assert!(
        before.first_index + 30 > last,
        "compacted to a short tail: {before:?}"
    );
    let digest = kv.digest();
    node.shutdown().unwrap();
    // Old WAL segments and snapshot files are gone.
    let segments = fs.list(Path::new("/mem/wal")).unwrap();
    let snaps = fs.list(Path::new("/mem/snap")).unwrap();
    let snaps: Vec<_> = snaps.iter().filter(|n| n.ends_with(".snap")).collect();
    assert!(
        !segments.iter().any(|n| n.starts_with("0000000000000000-")),
        "{segments:?}"
    );
    assert!(
        segments.len() <= 4 && snaps.len() <= 5,
        "purged: {segments:?} {snaps:?}"
    );

    let storage = DiskStorage::open("/mem", opts).unwrap();
    let kv2 = TestKv::new();
    let endpoint = Box::new(net.endpoint(1));
    let node = Node::start(cfg, storage, Box::new(kv2.clone()), endpoint).unwrap();
    node.wait_status(WAIT, |s| s.applied >= last)
        .expect("restored and re-applied");
    assert_eq!(kv2.digest(), digest, "same commands at the same indices");
    assert_eq!(kv2.entries(), kv.entries());
    node.shutdown().unwrap();
}
