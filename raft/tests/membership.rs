//! Membership changes, leadership transfer, linearizable reads, and a full-cluster restart.
//!
//! - a node started with no peers joins as a learner, is caught up by snapshot (the founding
//!   snapshot does not include it, so the leader makes a newer one), and is promoted to voter;
//! - a second change proposed while one is pending is rejected (not silently dropped);
//! - a joint change (remove 3, add 5) is left automatically through an empty
//!   `EntryConfChangeV2`, which every node applies as a leave-joint;
//! - leadership moves to the node asked for; a read on a follower sees the last write;
//! - after every node restarts from its disk, the configuration and the state are those from
//!   before, and the group makes progress.

mod common;

use common::{fast_config, put, Cluster, WAIT};
use raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2};
use std::time::{Duration, Instant};
use stele_raft::Error;
use stele_wal::fs::sim::SimFs;

/// Releases held syncs when dropped (a failing assertion must not park a node forever).
struct Release(SimFs);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.hold_syncs(false);
    }
}

fn sorted(v: &[u64]) -> Vec<u64> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

fn change(t: ConfChangeType, id: u64) -> ConfChangeSingle {
    let mut s = ConfChangeSingle::default();
    s.set_change_type(t);
    s.node_id = id;
    s
}

#[test]
fn add_promote_joint_transfer_read_restart() {
    let mut c = Cluster::new(3, &[1, 2, 3], |id| {
        let peers: &[u64] = if id <= 3 { &[1, 2, 3] } else { &[] };
        fast_config(id, peers)
    });
    c.start_all();
    let leader = c.wait_leader("first election");
    for i in 0..10 {
        c.propose_ok(&format!("before{i}"), "before the changes");
    }

    // A learner joins with an empty disk and no peers.
    c.add(4);
    c.start(4);
    let added = c
        .handle(leader)
        .add_learner(4, b"addr-of-4".to_vec())
        .wait()
        .expect("add learner 4");
    assert_eq!(sorted(added.result.get_learners()), vec![4]);
    let s4 = c.wait_applied(4, added.index, "learner 4 catching up");
    assert!(
        s4.snapshots_installed >= 1,
        "the learner was caught up by snapshot: {s4:?}"
    );
    assert_eq!(sorted(s4.conf_state.get_learners()), vec![4]);

    // Promote it. A second change while the first is pending is refused: the leader is parked
    // in the sync of the first change's batch while the second is queued, so the second is
    // handled before the first can be applied (applying needs a later Ready).
    let leader = c.wait_leader("before the promotion");
    let fs = c.tn(leader).fs.clone();
    let _release = Release(fs.clone());
    fs.hold_syncs(true);
    let promote = c.handle(leader).add_voter(4, vec![]);
    let deadline = Instant::now() + WAIT;
    while fs.held_syncs() == 0 {
        assert!(
            Instant::now() < deadline,
            "the leader never synced the promotion"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let second = c.handle(leader).add_learner(9, vec![]);
    fs.hold_syncs(false);
    let promoted = promote.wait().expect("promote 4");
    assert_eq!(sorted(promoted.result.get_voters()), vec![1, 2, 3, 4]);
    match second.wait() {
        Err(Error::ConfChangeRejected(_)) => {}
        other => panic!("a concurrent change must be rejected, got {other:?}"),
    }
    // Leaving a joint configuration that was never entered is refused too.
    match c
        .handle(leader)
        .change_membership(ConfChangeV2::default())
        .wait()
    {
        Err(Error::ConfChangeRejected(_)) => {}
        other => panic!("an empty change outside a joint configuration, got {other:?}"),
    }

    // Joint change: remove 3, add 5 (a joiner); raft leaves the joint state by itself.
    c.add(5);
    c.start(5);
    let mut cc = ConfChangeV2::default();
    cc.mut_changes().push(change(ConfChangeType::RemoveNode, 3));
    cc.mut_changes().push(change(ConfChangeType::AddNode, 5));
    let leader = c.wait_leader("before the joint change");
    let joint = c
        .handle(leader)
        .change_membership(cc)
        .wait()
        .expect("enter joint");
    assert!(
        !joint.result.get_voters_outgoing().is_empty(),
        "entered a joint configuration"
    );
    for id in [1, 2, 4, 5] {
        c.handle(id)
            .wait_status(WAIT, |s| {
                s.conf_state.get_voters_outgoing().is_empty()
                    && sorted(s.conf_state.get_voters()) == vec![1, 2, 4, 5]
            })
            .unwrap_or_else(|| panic!("node {id} left the joint configuration"));
    }
    c.stop(3);
    c.nodes.retain(|n| n.id != 3);

    // Leadership transfer and a read on a follower.
    let target = if c.wait_leader("before the transfer") == 4 {
        5
    } else {
        4
    };
    c.handle(c.wait_leader("transfer")).transfer_leader(target);
    c.handle(target)
        .wait_status(WAIT, |s| s.role == raft::StateRole::Leader)
        .unwrap_or_else(|| panic!("leadership moved to {target}"));
    let written = c
        .handle(target)
        .propose(put("after-transfer", "x"))
        .wait()
        .expect("write")
        .index;
    let follower = if target == 1 { 2 } else { 1 };
    let read = c
        .handle(follower)
        .read_index()
        .wait()
        .expect("read on a follower");
    assert!(read >= written);
    assert_eq!(c.kv(follower).get(b"after-transfer"), Some(b"x".to_vec()));

    // Everyone restarts from disk.
    let before = c.kv(target).entries();
    let ids = c.ids();
    let mut commits = Vec::new();
    for &id in &ids {
        commits.push(c.handle(id).status().commit);
        c.stop(id);
    }
    for &id in &ids {
        c.start(id);
    }
    for (&id, &commit) in ids.iter().zip(&commits) {
        // The state machine restarts from its newest snapshot; the first Ready re-applies the
        // committed log after it, membership changes included.
        let s = c.wait_applied(id, commit, "re-applying the committed log");
        assert_eq!(
            sorted(s.conf_state.get_voters()),
            vec![1, 2, 4, 5],
            "node {id} config"
        );
        assert!(s.conf_state.get_voters_outgoing().is_empty());
    }
    let last = c.sync_all("after-restart", "after the restart");
    for &id in &ids {
        c.wait_applied(id, last, "after the restart");
        let kv = c.kv(id).entries();
        assert!(
            before.iter().all(|(k, v)| kv.get(k) == Some(v)),
            "node {id} kept its state"
        );
    }
    for &id in &ids {
        c.stop(id);
    }
}
