//! The pipelined Ready loop: while one fsync is under way the node keeps taking proposals and
//! appending them (readable, not durable), nothing it appended meanwhile is applied or
//! acknowledged, and one later fsync makes all of them durable. And proposals taken from the
//! inbox together are replicated together.
//!
//! The disk holds every fsync (`SimFs::hold_syncs`), so the states are deterministic: a node
//! that synced on its own thread would be parked inside the first sync and append nothing
//! more, which the test would see.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{fast_config, put, sim_options, three_led_by_1, wait_until, Release, TestKv};
use raft::eraftpb::MessageType;
use stele_raft::mem_net::MemNetwork;
use stele_raft::Node;
use stele_storage::DiskStorage;
use stele_wal::fs::sim::SimFs;

#[test]
fn one_fsync_covers_the_readies_appended_while_another_was_in_flight() {
    let (fs, net) = (SimFs::new(), MemNetwork::new(1));
    let storage = DiskStorage::open("/p", sim_options(&fs)).unwrap();
    let mut cfg = fast_config(1, &[1]);
    cfg.snapshot_interval = 0;
    let kv = TestKv::new();
    let node = Node::start(
        cfg,
        storage.clone(),
        Box::new(kv.clone()),
        Box::new(net.endpoint(1)),
    )
    .unwrap();
    node.campaign();
    let warm = node
        .propose(put("warm", "up"))
        .wait()
        .expect("warm-up")
        .index;
    let _release = Release(fs.clone());

    fs.hold_syncs(true);
    let syncs_before = storage.wal().stats().syncs;
    let first = node.propose(put("k0", "v"));
    wait_until("the first Ready's sync to be held", || fs.held_syncs() == 1);
    let mut proposals = vec![first];
    for i in 1..10u64 {
        proposals.push(node.propose(put(&format!("k{i}"), "v")));
        // Appended (raft's last index moved) while the first sync is still parked.
        wait_until("the proposal to be appended", || {
            node.status().last_index >= warm + 1 + i
        });
    }
    let s = node.status();
    assert_eq!(s.last_index, warm + 10, "all ten appended: {s:?}");
    assert_eq!(fs.held_syncs(), 1, "one sync in flight, the rest queued");
    assert!(
        s.applied <= warm,
        "nothing applied before it is durable: {s:?}"
    );
    for p in &proposals {
        assert!(
            p.wait_timeout(Duration::ZERO).is_err(),
            "not acknowledged yet"
        );
    }

    fs.hold_syncs(false);
    let indexes: Vec<u64> = proposals
        .iter()
        .map(|p| p.wait().expect("applied once durable").index)
        .collect();
    assert_eq!(indexes, (warm + 1..=warm + 10).collect::<Vec<_>>());
    let syncs = storage.wal().stats().syncs - syncs_before;
    assert!(
        (1..=3).contains(&syncs),
        "the held sync plus at most two for the nine Readies queued behind it, not ten: {syncs}"
    );
    node.shutdown().unwrap();
}

/// Proposals waiting in the inbox together are stepped into raft as one message: the leader
/// replicates 200 of them in a handful of `MsgAppend`s per follower, not one each (what
/// stepping them one by one did: raft broadcasts after every step).
#[test]
fn proposals_taken_together_travel_together() {
    let c = three_led_by_1(5, |_| {});

    // Park node 1's thread inside an apply callback, so that the next proposals all wait in
    // its inbox (a callback must not block; this one does, on purpose, until released).
    let gate = Arc::new((Mutex::new((false, false)), Condvar::new())); // (parked, open)
    let g = gate.clone();
    c.handle(1).propose_then(put("park", "1"), move |_| {
        let (lock, cond) = &*g;
        let mut st = lock.lock().unwrap();
        st.0 = true;
        cond.notify_all();
        while !st.1 {
            st = cond.wait(st).unwrap();
        }
    });
    wait_until("node 1 parked in the callback", || gate.0.lock().unwrap().0);
    let proposals: Vec<_> = (0..200)
        .map(|i| c.handle(1).propose(put(&format!("b{i}"), "v")))
        .collect();
    c.net.record(true);
    {
        let (lock, cond) = &*gate;
        lock.lock().unwrap().1 = true;
        cond.notify_all();
    }
    for p in &proposals {
        p.wait().expect("applied");
    }
    let appends = c
        .net
        .take_sent()
        .iter()
        .filter(|m| m.from == 1 && m.to == 2 && m.msg_type == MessageType::MsgAppend)
        .count();
    assert!(
        appends <= 20,
        "200 proposals taken together went to node 2 in {appends} appends"
    );
}
