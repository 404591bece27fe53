//! Fail-stop, library side: a node that stops on its own tells its owner why, through
//! `NodeHandle::wait_stopped`; a requested shutdown resolves `Ok`; a running node answers
//! `None`. The failure here is a real one of the storage: the simulated disk fails an
//! `fdatasync` of the WAL, which poisons it, and the node must stop with that error (naming
//! the call) instead of carrying on half alive.

mod common;

use std::time::Duration;

use common::{fast_config, put, sim_options, TestKv, WAIT};
use stele_raft::mem_net::MemNetwork;
use stele_raft::{ErrorChain, Node};
use stele_storage::DiskStorage;
use stele_wal::fs::sim::{Fault, Op, SimFs};

fn start(fs: &SimFs) -> Node {
    let net = MemNetwork::new(1);
    let storage = DiskStorage::open("/f", sim_options(fs)).unwrap();
    let endpoint = Box::new(net.endpoint(1));
    let node = Node::start(
        fast_config(1, &[1]),
        storage,
        Box::new(TestKv::new()),
        endpoint,
    )
    .unwrap();
    node.campaign();
    node.propose(put("a", "1")).wait().expect("first write");
    node
}

#[test]
fn a_failed_fsync_stops_the_node_and_its_handle_says_why() {
    let fs = SimFs::new();
    let node = start(&fs);
    let handle = node.handle();
    assert!(handle.wait_stopped(Duration::ZERO).is_none(), "running");
    fs.fail(Op::SyncData, 0, Fault::Eio);
    let outcome = node.propose(put("b", "2")).wait();
    assert!(
        outcome.is_err(),
        "a write whose fsync failed is not acknowledged"
    );
    let stopped = handle
        .wait_stopped(WAIT)
        .expect("the node stops within the bound");
    let err = stopped.expect_err("a storage failure, not a requested stop");
    let text = ErrorChain(&*err).to_string();
    assert!(text.contains("fdatasync"), "the cause is named: {text}");
    let again = node
        .shutdown()
        .expect_err("shutdown reports the same failure");
    assert_eq!(ErrorChain(&*again).to_string(), text);
}

#[test]
fn a_requested_shutdown_resolves_ok() {
    let fs = SimFs::new();
    let node = start(&fs);
    let handle = node.handle();
    node.shutdown().expect("clean shutdown");
    let stopped = handle.wait_stopped(WAIT).expect("stopped");
    assert!(stopped.is_ok(), "{stopped:?}");
}

/// A transport whose threads have died: its `check` fails from the first tick on.
struct DeadTransport;

impl stele_raft::Transport for DeadTransport {
    fn start(&mut self, _mailbox: stele_raft::Mailbox) -> stele_raft::Result<()> {
        Ok(())
    }

    fn send(&mut self, _msgs: Vec<raft::eraftpb::Message>) {}

    fn check(&mut self) -> stele_raft::Result<()> {
        Err(stele_raft::Error::TransportFailed(
            "thread t-to-2 panicked: cable cut".into(),
        ))
    }
}

#[test]
fn a_failed_transport_stops_the_node_and_its_handle_says_why() {
    let fs = SimFs::new();
    let storage = DiskStorage::open("/f", sim_options(&fs)).unwrap();
    let node = Node::start(
        fast_config(1, &[1]),
        storage,
        Box::new(TestKv::new()),
        Box::new(DeadTransport),
    )
    .unwrap();
    let stopped = node
        .handle()
        .wait_stopped(WAIT)
        .expect("the node stops within the bound");
    let err = stopped.expect_err("a transport failure, not a requested stop");
    assert!(
        matches!(&*err, stele_raft::Error::TransportFailed(w) if w.contains("cable cut")),
        "{err:?}"
    );
}
