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

/// Proposes `n` values of `len` bytes.
fn write_values(node: &Node, n: usize, len: usize) {
    let value = "v".repeat(len);
    for i in 0..n {
        node.propose(put(&format!("k{i}"), &value))
            .wait()
            .expect("write");
    }
}

/// The WAL's sealed segments (all but the newest), oldest first.
fn sealed_segments(fs: &SimFs) -> Vec<std::path::PathBuf> {
    use stele_wal::fs::FileSystem;
    let dir = std::path::Path::new("/f/wal");
    let mut names: Vec<String> = fs
        .list(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .collect();
    names.sort();
    names.pop();
    names.into_iter().map(|n| dir.join(n)).collect()
}

/// Damage in a sealed segment raft has no reason to read (its entries are applied) is found
/// by the background scrubber: with `stop_on_damage` the node stops with `Error::Scrub`
/// naming the file; without it, the node keeps serving and its status reports the damage.
#[test]
fn damage_the_scrubber_finds_stops_the_node_unless_told_to_report_only() {
    for stop_on_damage in [true, false] {
        let fs = SimFs::new();
        let storage = DiskStorage::open("/f", sim_options(&fs)).unwrap();
        let mut config = fast_config(1, &[1]);
        config.snapshot_interval = 0; // keep every segment: nothing is purged under the test
        config.scrub.as_mut().unwrap().stop_on_damage = stop_on_damage;
        let net = MemNetwork::new(1);
        let node = Node::start(
            config,
            storage,
            Box::new(TestKv::new()),
            Box::new(net.endpoint(1)),
        )
        .unwrap();
        node.campaign();
        write_values(&node, 120, 8 << 10);
        let victim = sealed_segments(&fs)[0].clone();
        let mut bytes = fs.read_file(&victim).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        fs.write_file(&victim, &bytes);
        let shown = victim.display().to_string();
        let handle = node.handle();
        if stop_on_damage {
            let stopped = handle
                .wait_stopped(WAIT)
                .expect("the scrubber finds it in time");
            let err = stopped.expect_err("damage, not a requested stop");
            assert!(matches!(&*err, stele_raft::Error::Scrub(_)), "{err:?}");
            let text = ErrorChain(&*err).to_string();
            assert!(text.contains(&shown) && text.contains("offset"), "{text}");
        } else {
            common::wait_until("the status to report the damage", || {
                let scrub = handle.status().scrub.expect("scrubbing is on");
                scrub.damage.is_some_and(|d| d.contains(&shown))
            });
            assert!(
                handle.wait_stopped(Duration::ZERO).is_none(),
                "still running"
            );
            node.propose(put("after", "1"))
                .wait()
                .expect("writes go on");
            node.shutdown().expect("clean shutdown");
        }
    }
}
