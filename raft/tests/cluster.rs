//! A three-node cluster on the in-memory network under message loss, reordering, partitions,
//! clean restarts and crash restarts (unsynced data lost), with clients proposing throughout.
//!
//! Asserts, at the end, with every node up and the network healed:
//! - every acknowledged proposal is in every node's state, with its value, and its result said
//!   the key was new (so it was not applied before);
//! - every node applied every command exactly once: all commands are puts of distinct keys,
//!   so `writes == keys` on each node (a repeated application adds a write but no key);
//! - all nodes applied the same commands at the same indices (equal digests and maps);
//! - a follower that was down while the others compacted caught up by snapshot;
//! - no node failed or panicked (every shutdown returns `Ok`).
//!
//! The seed (env `STELE_SEED`, default fixed) drives the fault schedule and the network; the
//! run is deterministic as far as thread scheduling allows. Every wait has a deadline.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{decode_result, fast_config, put, Cluster, WAIT};
use stele_raft::{Error, NodeHandle};

type Handles = Arc<Mutex<BTreeMap<u64, NodeHandle>>>;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Acknowledged proposals: (key, value, index).
#[derive(Default)]
struct Acks {
    list: Mutex<Vec<(String, String, u64)>>,
    grew: Condvar,
}

impl Acks {
    fn count(&self) -> usize {
        self.list.lock().unwrap().len()
    }

    /// Waits until `n` more proposals than `from` are acknowledged.
    fn wait_more(&self, from: usize, n: usize, what: &str) {
        let deadline = Instant::now() + WAIT;
        let mut l = self.list.lock().unwrap();
        while l.len() < from + n {
            let left = deadline.checked_duration_since(Instant::now());
            let left = left.unwrap_or_else(|| panic!("{what}: no progress ({} acks)", l.len()));
            l = self.grew.wait_timeout(l, left).unwrap().0;
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Outcomes {
    acked: u64,
    not_applied: u64,
    unknown: u64,
}

fn proposer(
    t: u64,
    seed: u64,
    handles: Handles,
    acks: Arc<Acks>,
    stop: Arc<AtomicBool>,
) -> Outcomes {
    let mut rng = Rng(seed ^ (t << 32));
    let mut out = Outcomes::default();
    for n in 0..5_000u64 {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let live: Vec<NodeHandle> = handles.lock().unwrap().values().cloned().collect();
        let h = &live[rng.below(live.len() as u64) as usize];
        let (key, value) = (format!("t{t}-{n}"), format!("v{n}"));
        match h.propose(put(&key, &value)).wait() {
            Ok(a) => {
                assert_eq!(
                    decode_result(&a.result),
                    None,
                    "{key} was applied before (index {})",
                    a.index
                );
                out.acked += 1;
                acks.list.lock().unwrap().push((key, value, a.index));
                acks.grew.notify_all();
            }
            Err(e) => {
                if e.is_definitely_not_applied() {
                    out.not_applied += 1;
                } else {
                    out.unknown += 1;
                }
                if matches!(e, Error::Dropped(_) | Error::Stopped) {
                    // No leader yet, or the node just stopped: a client paces its retries.
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    out
}

fn publish(c: &Cluster, handles: &Handles) {
    let mut h = handles.lock().unwrap();
    h.clear();
    for id in c.running() {
        h.insert(id, c.handle(id));
    }
}

#[test]
fn chaos_every_acknowledged_proposal_applied_once_everywhere() {
    let t0 = Instant::now();
    let seed = std::env::var("STELE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2024);
    let ids = [1, 2, 3];
    let mut c = Cluster::new(seed, &ids, |id| fast_config(id, &[1, 2, 3]));
    c.start_all();
    c.wait_leader("first election");

    let handles: Handles = Arc::default();
    publish(&c, &handles);
    let acks = Arc::new(Acks::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<JoinHandle<Outcomes>> = (0..2)
        .map(|t| {
            let (h, a, s) = (handles.clone(), acks.clone(), stop.clone());
            std::thread::spawn(move || proposer(t, seed, h, a, s))
        })
        .collect();

    let mut rng = Rng(seed);
    let mut log = Vec::new();
    let mut crashes = 0;
    for phase in 0..10 {
        let from = acks.count();
        let victim = ids[rng.below(3) as usize];
        let action = if phase == 0 { 2 } else { rng.below(5) };
        match action {
            0 => {
                c.net.set_loss(0.1);
                c.net.set_max_delay(Duration::from_millis(3));
                acks.wait_more(from, 40, "lossy, reordering network");
                c.net.set_loss(0.0);
                c.net.set_max_delay(Duration::ZERO);
                log.push("loss+reorder".to_string());
            }
            1 | 4 => {
                // 4: cut off whoever leads now.
                let victim = if action == 4 {
                    c.wait_leader("leader to isolate")
                } else {
                    victim
                };
                let others: Vec<u64> = ids.iter().copied().filter(|&i| i != victim).collect();
                c.net.isolate(victim, &others);
                acks.wait_more(from, 30, "one node partitioned away");
                c.net.heal();
                log.push(format!("isolate {victim}"));
            }
            2 => {
                c.crash(victim);
                publish(&c, &handles);
                acks.wait_more(from, 30, "one node crashed");
                c.start(victim);
                publish(&c, &handles);
                crashes += 1;
                log.push(format!("crash {victim}"));
            }
            _ => {
                c.stop(victim);
                publish(&c, &handles);
                c.start(victim);
                publish(&c, &handles);
                acks.wait_more(from, 20, "after a clean restart");
                log.push(format!("restart {victim}"));
            }
        }
    }

    // A follower down while the others snapshot and compact must catch up by snapshot.
    let leader = c.wait_leader("before the lagging follower");
    let lagging = ids.iter().copied().find(|&i| i != leader).unwrap();
    c.stop(lagging);
    publish(&c, &handles);
    let down_at = c.handle(leader).status().last_index;
    let from = acks.count();
    acks.wait_more(from, 30, "while a follower is down");
    let deadline = Instant::now() + WAIT;
    let up: Vec<u64> = c.running();
    for i in 0.. {
        // Both live nodes (either may lead when the follower returns) compacted past it.
        if up
            .iter()
            .all(|&id| c.handle(id).status().first_index > down_at + 1)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leader never compacted past {down_at}"
        );
        c.propose_ok(&format!("filler{i}"), "filling the log");
    }
    c.start(lagging);
    publish(&c, &handles);

    stop.store(true, Ordering::Release);
    let outcomes: Vec<Outcomes> = workers
        .into_iter()
        .map(|w| w.join().expect("proposer"))
        .collect();
    c.net.heal();
    let barrier = c.sync_all("final", "final barrier");
    let installed = c.handle(lagging).status().snapshots_installed;
    assert!(
        installed >= 1,
        "node {lagging} caught up by snapshot ({installed} installed)"
    );

    // Converge: every node at the leader's last index.
    let leader = c.wait_leader("final leader");
    let last = c.handle(leader).status().last_index;
    assert!(last >= barrier);
    for id in ids {
        c.wait_applied(id, last, "convergence");
    }
    let reference = c.kv(leader);
    let digest = reference.digest();
    let map = reference.entries();
    for id in ids {
        let kv = c.kv(id);
        assert_eq!(
            kv.digest(),
            digest,
            "node {id}: same commands at the same indices"
        );
        assert_eq!(kv.entries(), map, "node {id}: same state");
        assert_eq!(
            digest.writes as usize,
            map.len(),
            "node {id}: a command was applied twice"
        );
    }
    let acked = acks.list.lock().unwrap().clone();
    for (key, value, index) in &acked {
        assert!(*index <= digest.applied);
        assert_eq!(
            map.get(key.as_bytes()),
            Some(&value.as_bytes().to_vec()),
            "acknowledged {key} lost"
        );
    }
    for id in ids {
        c.stop(id);
    }
    let stats = c.net.stats();
    assert!(stats.lost > 0 || !log.iter().any(|l| l.starts_with("loss")));
    assert!(
        crashes >= 1 && acked.len() >= 200,
        "too little happened: {} acks",
        acked.len()
    );
    eprintln!(
        "chaos seed {seed:#x}: {log:?}; {} acked, outcomes {outcomes:?}, applied {}, keys {}, \
         net {stats:?}, {:?}",
        acked.len(),
        digest.applied,
        map.len(),
        t0.elapsed()
    );
}
