//! Real `stele-kv` processes on loopback: three nodes take concurrent writes through all of
//! them while a follower, then the leader, is `kill -9`ed and restarted; a follower kept down
//! past several snapshots catches up by snapshot; a fourth node joins and one founder is
//! removed (and stopped with SIGTERM). At the end every acknowledged write reads back,
//! linearizably, from every member, and every member lists the same configuration.

mod kv_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kv_common::{field, free_ports, http, wait_for, Client, Kv};

const SNAP_COUNT: u64 = 40;

struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeMap<String, String>>>,
    threads: Vec<JoinHandle<(u64, u64)>>,
}

/// Writers that each put unique keys, round robin over the ports in `alive`, and record the
/// writes answered 204.
fn writers(n: usize, alive: &Arc<Mutex<Vec<u16>>>) -> Writers {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let threads = (0..n)
        .map(|t| {
            let (stop, acked, alive) = (stop.clone(), acked.clone(), alive.clone());
            std::thread::spawn(move || {
                let mut clients: BTreeMap<u16, Client> = BTreeMap::new();
                let (mut ok, mut failed) = (0u64, 0u64);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let ports = alive.lock().unwrap().clone();
                    let port = ports[(i as usize + t) % ports.len()];
                    let key = format!("w{t}-{i}");
                    let value = format!("value of {key} via {port}");
                    i += 1;
                    let c = clients.entry(port).or_insert_with(|| Client::new(port));
                    match c.req("PUT", &format!("/kv/{key}"), value.as_bytes()) {
                        Ok(r) if r.status == 204 => {
                            acked.lock().unwrap().insert(key, value);
                            ok += 1;
                        }
                        Ok(r) => {
                            assert_eq!(r.status, 503, "{}", r.text());
                            failed += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => {
                            failed += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(3));
                }
                (ok, failed)
            })
        })
        .collect();
    Writers {
        stop,
        acked,
        threads,
    }
}

fn acked(w: &Writers) -> usize {
    w.acked.lock().unwrap().len()
}

/// Waits until `n` more writes are acknowledged.
fn more_writes(w: &Writers, n: usize, what: &str) {
    let target = acked(w) + n;
    wait_for(what, || (acked(w) >= target).then_some(()));
}

/// The leader all the running `nodes` agree on.
fn leader(nodes: &[&Kv]) -> u64 {
    wait_for("an agreed leader", || {
        let ls: Vec<u64> = nodes
            .iter()
            .map(|n| n.status().map(|s| field(&s, "leader_id")).unwrap_or(0))
            .collect();
        (ls[0] != 0 && ls.iter().all(|&l| l == ls[0])).then_some(ls[0])
    })
}

/// Waits until `node` has applied the leader's commit index.
fn caught_up(node: &Kv, leader: &Kv) -> serde_json::Value {
    let commit = wait_for("the leader's status", || leader.status()).clone();
    let commit = field(&commit, "commit");
    wait_for(&format!("node {} to catch up to {commit}", node.id), || {
        node.status().filter(|s| field(s, "applied") >= commit)
    })
}

fn by_id(nodes: &mut [Kv], id: u64) -> &mut Kv {
    nodes.iter_mut().find(|n| n.id == id).unwrap()
}

#[test]
fn three_nodes_crashes_snapshot_catch_up_join_remove() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let p = free_ports(8);
    let raft: Vec<String> = (0..4).map(|i| format!("127.0.0.1:{}", p[i])).collect();
    let founders = raft[..3].join(",");
    let all = raft.join(",");
    let snap = SNAP_COUNT.to_string();
    let opts = ["--tick-ms", "30", "--snapshot-count", &snap];
    let mut nodes: Vec<Kv> = (1..=3)
        .map(|id| {
            let dir = tmp.path().join(format!("node-{id}"));
            Kv::new(id, &founders, p[3 + id as usize], &dir, &opts)
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    let first = leader(&nodes.iter().collect::<Vec<_>>());
    eprintln!("leader {first} after {:?}", t0.elapsed());
    let alive = Arc::new(Mutex::new(nodes.iter().map(|n| n.http).collect::<Vec<_>>()));
    let w = writers(6, &alive);
    more_writes(&w, 100, "writes through all nodes");

    // kill -9 a follower, keep writing, restart it.
    let follower = nodes.iter().find(|n| n.id != first).unwrap().id;
    let fport = by_id(&mut nodes, follower).http;
    alive.lock().unwrap().retain(|&x| x != fport);
    by_id(&mut nodes, follower).kill9();
    more_writes(&w, 60, "writes with a follower down");
    by_id(&mut nodes, follower).start();
    alive.lock().unwrap().push(fport);
    let l = leader(&nodes.iter().collect::<Vec<_>>());
    caught_up(&nodes[(follower - 1) as usize], &nodes[(l - 1) as usize]);
    eprintln!(
        "follower {follower} restarted and caught up at {:?}",
        t0.elapsed()
    );

    // kill -9 the leader; the others elect a new one; restart it.
    let old = leader(&nodes.iter().collect::<Vec<_>>());
    let oport = by_id(&mut nodes, old).http;
    alive.lock().unwrap().retain(|&x| x != oport);
    by_id(&mut nodes, old).kill9();
    let rest: Vec<&Kv> = nodes.iter().filter(|n| n.id != old).collect();
    let new = wait_for("a new leader", || {
        let l = leader(&rest);
        (l != old).then_some(l)
    });
    more_writes(&w, 60, "writes after the leader was killed");
    by_id(&mut nodes, old).start();
    alive.lock().unwrap().push(oport);
    caught_up(&nodes[(old - 1) as usize], &nodes[(new - 1) as usize]);
    eprintln!(
        "leader {old} killed, {new} took over, {old} caught up at {:?}",
        t0.elapsed()
    );

    // A follower down past several snapshots catches up by snapshot.
    let l = leader(&nodes.iter().collect::<Vec<_>>());
    let lagger = nodes.iter().find(|n| n.id != l).unwrap().id;
    let last = field(&by_id(&mut nodes, lagger).status().unwrap(), "last_index");
    let lport = by_id(&mut nodes, lagger).http;
    alive.lock().unwrap().retain(|&x| x != lport);
    by_id(&mut nodes, lagger).kill9();
    let lead = &nodes[(l - 1) as usize];
    wait_for("the leader to snapshot and compact past the lagger", || {
        lead.status().filter(|s| {
            field(s, "snapshot_index") >= last + 3 * SNAP_COUNT
                && field(s, "first_index") > last + 1
        })
    });
    by_id(&mut nodes, lagger).start();
    alive.lock().unwrap().push(lport);
    let l = leader(&nodes.iter().collect::<Vec<_>>());
    let s = caught_up(&nodes[(lagger - 1) as usize], &nodes[(l - 1) as usize]);
    assert!(
        field(&s, "snapshots_installed") >= 1,
        "node {lagger} was caught up by a snapshot: {s}"
    );
    eprintln!("node {lagger} caught up by snapshot at {:?}", t0.elapsed());

    // A fourth node joins.
    let mut n4 = Kv::new(4, &all, p[7], &tmp.path().join("node-4"), &opts);
    n4.args.push("--join".into());
    n4.start();
    let l = leader(&nodes.iter().collect::<Vec<_>>());
    let via = nodes.iter().find(|n| n.id != l).unwrap().http;
    let r = http(via, "POST", "/members/4", raft[3].as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["voters"], serde_json::json!([1, 2, 3, 4]));
    caught_up(&n4, &nodes[(l - 1) as usize]);
    nodes.push(n4);
    alive.lock().unwrap().push(p[7]);
    more_writes(&w, 40, "writes with four nodes");

    // One founder (a follower) is removed, then stopped with SIGTERM.
    let l = leader(&nodes.iter().collect::<Vec<_>>());
    let gone = nodes.iter().find(|n| n.id != l && n.id != 4).unwrap().id;
    let gport = by_id(&mut nodes, gone).http;
    alive.lock().unwrap().retain(|&x| x != gport);
    let r = http(nodes[3].http, "DELETE", &format!("/members/{gone}"), b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let st = by_id(&mut nodes, gone).terminate();
    assert!(st.success(), "node {gone} exits cleanly on SIGTERM: {st}");
    nodes.retain(|n| n.id != gone);
    more_writes(&w, 40, "writes after the removal");

    w.stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for t in w.threads {
        let (o, f) = t.join().expect("writer");
        ok += o;
        failed += f;
    }
    let acked = w.acked.lock().unwrap().clone();
    assert_eq!(acked.len() as u64, ok);
    eprintln!(
        "{ok} writes acknowledged, {failed} failed or unknown, at {:?}",
        t0.elapsed()
    );

    let mut voters: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    voters.sort_unstable();
    for n in &nodes {
        let m = http(n.http, "GET", "/members", b"").unwrap().json();
        assert_eq!(m["voters"], serde_json::json!(voters), "node {}: {m}", n.id);
        assert!(m["addresses"].get(gone.to_string()).is_none(), "{m}");
        assert_eq!(m["addresses"]["4"], serde_json::json!(raft[3]), "{m}");
        let mut c = Client::new(n.http);
        for (k, v) in &acked {
            let r = c.req("GET", &format!("/kv/{k}"), b"").unwrap();
            assert_eq!(
                (r.status, r.text()),
                (200, v.clone()),
                "node {} reading acknowledged {k}",
                n.id
            );
        }
    }
    eprintln!("all reads back from {voters:?}; total {:?}", t0.elapsed());
}
