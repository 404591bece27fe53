//! `persisted_messages` must not leave a node before the batch they acknowledge is durable.
//!
//! Node 2's disk holds every fsync (`SimFs::hold_syncs`): a held sync means the batch is
//! written but not durable, and node 2's thread is parked inside it. A driver that sent its
//! persisted messages before syncing would already have handed them to the transport at that
//! point, so checking the network's record once the sync is seen held is deterministic:
//! - an append: while node 2's sync is held, no MsgAppendResponse from node 2 acknowledging the
//!   entry reaches the network (the leader commits with node 3 alone); then the disk "loses
//!   power" (unsynced data dropped), node 2 dies on the failed sync, restarts without the
//!   entry, and catches up;
//! - a vote: while node 2's sync is held, node 2 neither grants a vote nor sends one (no
//!   MsgRequestVoteResponse / MsgRequestVote from node 2 at the new term), so node 3, which
//!   needs node 2's vote, cannot become leader; once the sync completes it does.

mod common;

use common::{put, three_led_by_1, wait_until, Release, WAIT};
use raft::eraftpb::MessageType;
use raft::StateRole;
use stele_raft::mem_net::SentMessage;
use stele_wal::fs::sim::{CrashMode, SimFs};

/// Waits until `fs` has a sync held.
fn wait_held(fs: &SimFs, what: &str) {
    wait_until(&format!("{what}: a sync held"), || fs.held_syncs() > 0);
}

fn from2(sent: &[SentMessage], ty: MessageType) -> Vec<&SentMessage> {
    sent.iter()
        .filter(|m| m.from == 2 && m.msg_type == ty)
        .collect()
}

#[test]
fn no_acknowledgement_escapes_before_its_batch_is_durable() {
    check_ordering(true);
}

#[test]
fn no_acknowledgement_escapes_before_its_batch_is_durable_unpipelined() {
    check_ordering(false);
}

fn check_ordering(pipelined: bool) {
    let mut c = three_led_by_1(11, move |cfg| {
        cfg.pipelined = pipelined;
        cfg.pre_vote = false;
        cfg.check_quorum = false;
    });
    let fs2 = c.tn(2).fs.clone();
    let _release = Release(fs2.clone());

    // --- An append acknowledgement.
    c.net.record(true);
    fs2.hold_syncs(true);
    let p = c.handle(1).propose(put("held", "1"));
    wait_held(&fs2, "node 2 appending");
    let index = p.wait().expect("committed by nodes 1 and 3").index;
    let sent = c.net.take_sent();
    let acks: Vec<_> = from2(&sent, MessageType::MsgAppendResponse)
        .into_iter()
        .filter(|m| !m.reject && m.index >= index)
        .collect();
    assert!(
        acks.is_empty(),
        "node 2 acknowledged {index} before it was durable: {acks:?}"
    );
    assert!(
        sent.iter()
            .any(|m| m.from == 1 && m.to == 2 && m.msg_type == MessageType::MsgAppend),
        "node 2 was sent the entry"
    );
    // Power cut while the sync is in flight: the entry never became durable on node 2.
    fs2.crash(CrashMode::DropUnsynced);
    fs2.hold_syncs(false);
    let died = c.tn(2).node.take().unwrap().shutdown();
    assert!(
        matches!(&died, Err(e) if matches!(**e, stele_raft::Error::Storage(_))),
        "node 2's sync on the dead disk must fail and stop it (without a panic): {died:?}"
    );
    let sent = c.net.take_sent();
    let late: Vec<_> = from2(&sent, MessageType::MsgAppendResponse)
        .into_iter()
        .filter(|m| !m.reject && m.index >= index)
        .collect();
    assert!(
        late.is_empty(),
        "a failed sync acknowledged {index}: {late:?}"
    );
    c.start(2);
    let restarted = c.handle(2).status();
    assert!(
        restarted.last_index < index,
        "the unsynced entry is gone: {restarted:?}"
    );
    c.wait_applied(2, index, "node 2 catching up after the crash");
    assert_eq!(c.kv(2).get(b"held"), Some(b"1".to_vec()));

    // --- A vote.
    let term = c.handle(1).status().term;
    c.net.isolate(1, &[2, 3]);
    c.net.take_sent();
    fs2.hold_syncs(true);
    c.handle(3).campaign();
    wait_held(&fs2, "node 2 persisting its vote");
    let sent = c.net.take_sent();
    assert!(
        sent.iter()
            .any(|m| m.from == 3 && m.to == 2 && m.msg_type == MessageType::MsgRequestVote),
        "node 3 asked node 2 for its vote"
    );
    let escaped: Vec<_> = sent
        .iter()
        .filter(|m| m.from == 2 && m.term > term)
        .filter(|m| {
            matches!(
                m.msg_type,
                MessageType::MsgRequestVoteResponse | MessageType::MsgRequestVote
            )
        })
        .collect();
    assert!(
        escaped.is_empty(),
        "node 2 voted before its vote was durable: {escaped:?}"
    );
    assert_ne!(c.handle(3).status().role, StateRole::Leader);
    fs2.hold_syncs(false);
    c.handle(3)
        .wait_status(WAIT, |s| s.role == StateRole::Leader)
        .expect("node 3 wins with node 2's durable vote");
    let sent = c.net.take_sent();
    let granted = from2(&sent, MessageType::MsgRequestVoteResponse);
    assert!(
        granted.iter().any(|m| !m.reject && m.to == 3),
        "the vote went out after the sync"
    );
    c.net.heal();
    c.wait_leader("after the vote");
    c.sync_all("after-vote", "after the vote");
    for id in [1, 2, 3] {
        c.stop(id);
    }
}
