//! The pipelined Ready loop: while one fsync is under way the node keeps taking proposals and
//! appending them (readable, not durable), nothing it appended meanwhile is applied or
//! acknowledged, and one later fsync makes all of them durable.
//!
//! The disk holds every fsync (`SimFs::hold_syncs`), so the states are deterministic: a node
//! that synced on its own thread would be parked inside the first sync and append nothing
//! more, which the test would see.

mod common;

use std::time::Duration;

use common::{fast_config, put, sim_options, wait_until, Release};
use stele_raft::mem_net::MemNetwork;
use stele_raft::{MemKv, Node};
use stele_storage::DiskStorage;
use stele_wal::fs::sim::SimFs;

#[test]
fn one_fsync_covers_the_readies_appended_while_another_was_in_flight() {
    let (fs, net) = (SimFs::new(), MemNetwork::new(1));
    let storage = DiskStorage::open("/p", sim_options(&fs)).unwrap();
    let mut cfg = fast_config(1, &[1]);
    cfg.snapshot_interval = 0;
    let kv = MemKv::new();
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
