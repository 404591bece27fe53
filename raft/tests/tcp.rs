//! The TCP transport on loopback (127.0.0.1, ephemeral ports).
//!
//! - messages go through in order, and a multi-MiB snapshot message arrives byte-identical
//!   with `report_snapshot(Finish)` reported to the sender;
//! - a peer that is down leads to `report_unreachable` (and `Failure` for a snapshot), and the
//!   sender reconnects once the peer is up, both for a peer that was never up and for one
//!   that restarts (its old connection broken);
//! - three nodes over TCP elect a leader and replicate proposals;
//! - a transport thread that panics makes `Transport::check` fail, naming the thread (the
//!   node then stops: fail-stop), while a healthy transport checks fine.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{fast_config, put, sim_options, TestKv, WAIT};
use raft::eraftpb::{Message, MessageType};
use raft::SnapshotStatus;
use stele_raft::{Inbound, Mailbox, Node, PeerBook, TcpConfig, TcpTransport, Transport};
use stele_storage::DiskStorage;
use stele_wal::fs::sim::SimFs;

fn tcp_config() -> TcpConfig {
    TcpConfig {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        ..TcpConfig::default()
    }
}

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port")
}

/// A started transport for node `id` on `l`, and what arrives in its mailbox.
fn transport(id: u64, l: TcpListener, peers: &PeerBook) -> (TcpTransport, Receiver<Inbound>) {
    let mut t = TcpTransport::new(id, l, peers.clone(), tcp_config()).unwrap();
    let (mb, rx) = Mailbox::channel();
    t.start(mb).unwrap();
    (t, rx)
}

fn msg(from: u64, to: u64, index: u64) -> Message {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = from;
    m.to = to;
    m.index = index;
    m.term = 7;
    m
}

/// Waits for an inbound item matching `pred`, skipping others.
fn expect(rx: &Receiver<Inbound>, what: &str, mut pred: impl FnMut(&Inbound) -> bool) -> Inbound {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("{what}"));
        match rx.recv_timeout(left) {
            Ok(i) if pred(&i) => return i,
            Ok(_) => {}
            Err(_) => panic!("{what}: nothing arrived"),
        }
    }
}

/// Sends heartbeats from `t` to `to` every few milliseconds until `rx` (the peer's mailbox)
/// gets one.
fn send_until_received(t: &mut TcpTransport, to: u64, rx: &Receiver<Inbound>, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        t.send(vec![msg(1, to, 99)]);
        if let Ok(Inbound::Message(m)) = rx.recv_timeout(Duration::from_millis(20)) {
            assert_eq!((m.from, m.to, m.index), (1, to, 99));
            return;
        }
        assert!(Instant::now() < deadline, "{what}: never delivered");
    }
}

#[test]
fn messages_and_a_streamed_snapshot_go_through() {
    let peers = PeerBook::default();
    let (l1, l2) = (listener(), listener());
    peers.insert(2, l2.local_addr().unwrap());
    let (mut t1, rx1) = transport(1, l1, &peers);
    let (mut t2, rx2) = transport(2, l2, &peers);

    let sent: Vec<Message> = (0..200).map(|i| msg(1, 2, i)).collect();
    t1.send(sent.clone());
    for want in &sent {
        match expect(&rx2, "a heartbeat", |i| matches!(i, Inbound::Message(_))) {
            Inbound::Message(m) => assert_eq!(&m, want, "in order and intact"),
            _ => unreachable!(),
        }
    }

    let data: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut snap = msg(1, 2, 0);
    snap.set_msg_type(MessageType::MsgSnapshot);
    snap.mut_snapshot().mut_metadata().index = 4242;
    snap.mut_snapshot().mut_metadata().term = 7;
    snap.mut_snapshot().data = data.clone().into();
    let t0 = Instant::now();
    t1.send(vec![snap]);
    let got = match expect(&rx2, "the snapshot", |i| matches!(i, Inbound::Message(_))) {
        Inbound::Message(m) => m,
        _ => unreachable!(),
    };
    assert_eq!(got.get_msg_type(), MessageType::MsgSnapshot);
    assert_eq!(got.get_snapshot().get_metadata().index, 4242);
    assert!(
        got.get_snapshot().get_data() == &data[..],
        "snapshot data intact"
    );
    expect(&rx1, "the snapshot report", |i| {
        matches!(i, Inbound::Snapshot(2, SnapshotStatus::Finish))
    });
    eprintln!("6 MiB snapshot over loopback in {:?}", t0.elapsed());
    t1.stop();
    t2.stop();
}

#[test]
fn unreachable_peers_are_reported_and_reconnected() {
    let peers = PeerBook::default();
    // Peer 3: an address with nothing listening (bound, noted, closed).
    let addr3: SocketAddr = listener().local_addr().unwrap();
    peers.insert(3, addr3);
    let l2 = listener();
    let addr2 = l2.local_addr().unwrap();
    peers.insert(2, addr2);
    let (mut t1, rx1) = transport(1, listener(), &peers);

    t1.send(vec![msg(1, 3, 1)]);
    expect(&rx1, "unreachable 3", |i| {
        matches!(i, Inbound::Unreachable(3))
    });
    let mut snap = msg(1, 3, 0);
    snap.set_msg_type(MessageType::MsgSnapshot);
    snap.mut_snapshot().mut_metadata().index = 9;
    t1.send(vec![snap]);
    expect(&rx1, "snapshot failure", |i| {
        matches!(i, Inbound::Snapshot(3, SnapshotStatus::Failure))
    });

    // Peer 3 comes up on its address: the sender reconnects after its backoff.
    let (mut t3, rx3) = transport(3, TcpListener::bind(addr3).expect("rebind"), &peers);
    send_until_received(&mut t1, 3, &rx3, "peer 3 after it came up");

    // Peer 2: connected, then restarted; the broken connection is reported and replaced.
    let (mut t2, rx2) = transport(2, l2, &peers);
    send_until_received(&mut t1, 2, &rx2, "peer 2");
    t2.stop();
    drop(t2);
    let deadline = Instant::now() + WAIT;
    loop {
        t1.send(vec![msg(1, 2, 5)]);
        if let Ok(Inbound::Unreachable(2)) = rx1.recv_timeout(Duration::from_millis(20)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "peer 2 going down was never reported"
        );
    }
    let (mut t2, rx2) = transport(2, TcpListener::bind(addr2).expect("rebind"), &peers);
    send_until_received(&mut t1, 2, &rx2, "peer 2 after its restart");
    for t in [&mut t1, &mut t2, &mut t3] {
        t.stop();
    }
}

#[test]
fn three_nodes_over_tcp() {
    let peers = PeerBook::default();
    let listeners: Vec<TcpListener> = (0..3).map(|_| listener()).collect();
    for (i, l) in listeners.iter().enumerate() {
        peers.insert(i as u64 + 1, l.local_addr().unwrap());
    }
    let mut nodes = Vec::new();
    let mut kvs = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        let fs = SimFs::new();
        let storage = DiskStorage::open(format!("/tcp{id}"), sim_options(&fs)).unwrap();
        let kv = TestKv::new();
        let t = TcpTransport::new(id, l, peers.clone(), tcp_config()).unwrap();
        let node = Node::start(
            fast_config(id, &[1, 2, 3]),
            storage,
            Box::new(kv.clone()),
            Box::new(t),
        )
        .unwrap();
        nodes.push(node);
        kvs.push(kv);
    }
    let leader = nodes[0]
        .wait_status(WAIT, |s| s.leader_id != 0)
        .expect("a leader over TCP")
        .leader_id;
    let mut last = 0;
    for i in 0..30 {
        // A re-election under load can end a proposal with an unknown outcome (leader changed,
        // timeout) or drop it; a put is idempotent, so retry it, a bounded number of times.
        let mut attempt = 0;
        let applied = loop {
            let p = nodes[(i % 3) as usize].propose(put(&format!("k{i}"), "v"));
            match p.wait() {
                Ok(a) => break a,
                Err(e) if attempt < 10 && !matches!(e, stele_raft::Error::Storage(_)) => {
                    attempt += 1
                }
                Err(e) => panic!("proposal {i} (leader {leader}), attempt {attempt}: {e}"),
            }
        };
        last = last.max(applied.index);
    }
    let read = nodes[2]
        .read_index()
        .wait()
        .expect("read index on a follower");
    assert!(read >= last);
    assert_eq!(
        kvs[2].get(b"k29"),
        Some(b"v".to_vec()),
        "the follower's read sees the last write"
    );
    for n in &nodes {
        n.wait_status(WAIT, |s| s.applied >= last)
            .expect("replicated");
    }
    assert!(kvs.iter().all(|kv| kv.entries() == kvs[0].entries()));
    for n in nodes {
        n.shutdown().unwrap();
    }
}

#[test]
fn a_panicking_transport_thread_fails_its_check() {
    let peers = PeerBook::default(); // peer 2 has no address: its sender reports it unreachable
    let mut t = TcpTransport::new(1, listener(), peers, tcp_config()).unwrap();
    let mb = Mailbox::new(|inbound| match inbound {
        Inbound::Unreachable(_) => panic!("the mailbox broke"),
        _ => true,
    });
    t.start(mb).unwrap();
    t.check().expect("a fresh transport is healthy");
    t.send(vec![msg(1, 2, 1)]);
    let deadline = Instant::now() + WAIT;
    let what = loop {
        match t.check() {
            Err(stele_raft::Error::TransportFailed(what)) => break what,
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(()) => assert!(
                Instant::now() < deadline,
                "the dead thread was never reported"
            ),
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        what.contains("stele-tcp-1-to-2"),
        "names the thread: {what}"
    );
    assert!(what.contains("the mailbox broke"), "says why: {what}");
    t.stop();
}
