//! A nemesis for `stele-kv`: three real nodes on loopback, concurrent clients, and faults
//! beyond SIGKILL; the whole client history is then checked for linearizability with
//! [`stele_tools::lincheck`] (Wing-Gong/Lowe, per key).
//!
//! - The network: every directed raft link `i→j` runs through a proxy of the test (see
//!   `nemesis_net`; node `i` is started with `--connect j=<proxy>`), which can cut it, delay
//!   it or heal it. Faults: the leader isolated; a random 2/1 split; a bridge (two nodes cut
//!   from each other, both still reaching the third); every link delayed.
//! - Processes: the leader paused (SIGSTOP) for several election timeouts, then resumed
//!   (SIGCONT); a node (the leader or not) killed with SIGKILL and restarted on its data.
//! - Clients: threads, one keep-alive HTTP/1.1 connection each to a node, `PUT`, `DELETE` and
//!   linearizable `GET` on a few keys, every written value unique. Each operation is recorded
//!   with its invoke and complete times and its result; a write answered 503 "outcome unknown",
//!   timed out, or broken after it was sent is recorded as unknown (it may take effect at any
//!   later time, or never); a write answered 503 "definitely not applied" or refused at connect
//!   is left out (so if it took effect after all, a read of its value fails the check). Any
//!   node takes any request: a follower forwards writes to the leader and asks it for a read
//!   index (raft-rs `ReadIndex`), or answers 503.
//!
//! The run takes about 30 s of faults (plus start and check); for a long run:
//!
//! ```text
//! STELE_NEMESIS_SECS=300 cargo test --release -p stele-tools --test nemesis -- --nocapture
//! ```
//!
//! `STELE_NEMESIS_SEED=<n>` replays a schedule of faults (the seed is printed).
//! `STELE_NEMESIS_STALE_READS=1` reads with `?stale=true` instead, which is not linearizable:
//! the test then fails (a check that the check has teeth).

mod kv_common;
mod nemesis_net;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kv_common::{free_ports, Client, Kv};
use nemesis_net::Net;
use stele_tools::lincheck::{
    check, Budget, KvInput, KvModel, KvOutput, OpOf, PartitionResult, Verdict,
};

type Op = OpOf<KvModel>;

const NODES: u64 = 3;
const KEYS: u64 = 8;
const CLIENTS: usize = 6;
const TICK_MS: u64 = 30;
const REQUEST_TIMEOUT_MS: u64 = 1_000;

/// A small xorshift generator (seeded, so a schedule can be replayed).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// The client threads; stopped and joined on drop (also when the test fails).
struct Clients {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Op>>>,
}

impl Clients {
    fn finish(mut self) -> Vec<Op> {
        self.stop.store(true, Ordering::Relaxed);
        let mut ops = Vec::new();
        for t in self.threads.drain(..) {
            ops.extend(t.join().expect("client thread"));
        }
        ops
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Counts of what the clients saw.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    unknown: AtomicU64,
    failed: AtomicU64,
}

fn clients(ports: &[u16], t0: Instant, seed: u64, tally: &Arc<Tally>, stale: bool) -> Clients {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..CLIENTS)
        .map(|c| {
            let port = ports[c % ports.len()];
            let (stop, tally) = (stop.clone(), tally.clone());
            let mut rng = Rng(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(c as u64 + 1)));
            std::thread::spawn(move || {
                let mut client = Client::with_timeout(port, Duration::from_millis(1_500));
                let mut ops = Vec::new();
                let now = || t0.elapsed().as_nanos() as u64;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let key = format!("k{}", rng.below(KEYS));
                    let (method, input) = match rng.below(10) {
                        0..=3 => ("PUT", KvInput::Put(format!("c{c}-{i}").into_bytes())),
                        4 => ("DELETE", KvInput::Delete),
                        _ => ("GET", KvInput::Get),
                    };
                    let body: &[u8] = match &input {
                        KvInput::Put(v) => v,
                        _ => b"",
                    };
                    let call = now();
                    let q = if stale && method == "GET" {
                        "?stale=true"
                    } else {
                        ""
                    };
                    let r = client.req(method, &format!("/kv/{key}{q}"), body);
                    let ret = now();
                    let write = method != "GET";
                    let output = match &r {
                        Ok(r) if write && r.status == 204 => Some(Some(KvOutput::Ok)),
                        Ok(r) if !write && r.status == 200 => {
                            Some(Some(KvOutput::Value(Some(r.body.clone()))))
                        }
                        Ok(r) if !write && r.status == 404 => Some(Some(KvOutput::Value(None))),
                        Ok(r) if r.status == 503 && r.text().contains("definitely not") => None,
                        Ok(r) if r.status == 503 && write => Some(None),
                        Ok(r) if r.status == 503 => None,
                        Ok(r) => panic!("{method} /kv/{key}: unexpected {} {}", r.status, r.text()),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => None,
                        Err(_) if write => Some(None),
                        Err(_) => None,
                    };
                    let answered = matches!(output, Some(Some(_)));
                    match output {
                        Some(Some(output)) => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                            ops.push(Op {
                                client: c as u64,
                                key,
                                call,
                                ret: Some(ret),
                                input,
                                output: Some(output),
                            });
                        }
                        Some(None) => {
                            tally.unknown.fetch_add(1, Ordering::Relaxed);
                            ops.push(Op {
                                client: c as u64,
                                key,
                                call,
                                ret: None,
                                input,
                                output: None,
                            });
                        }
                        None => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if !answered {
                        // Do not spin on a node that is down or cut off.
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                ops
            })
        })
        .collect();
    Clients { stop, threads }
}

/// The node the running, unpaused `nodes` report as leader in the highest term, if any.
fn leader(nodes: &[Kv], paused: Option<u64>) -> Option<u64> {
    let mut best: Option<(u64, u64)> = None;
    for n in nodes
        .iter()
        .filter(|n| n.child.is_some() && Some(n.id) != paused)
    {
        let mut c = Client::with_timeout(n.http, Duration::from_millis(500));
        let Ok(r) = c.req("GET", "/status", b"") else {
            continue;
        };
        let s = r.json();
        let term = s["term"].as_u64().unwrap_or(0);
        if s["role"] == "Leader" && best.is_none_or(|b| term > b.1) {
            best = Some((n.id, term));
        }
    }
    best.map(|b| b.0)
}

/// Waits (bounded) until some node is leader; returns it.
fn await_leader(nodes: &[Kv]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(l) = leader(nodes, None) {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no leader within 30 s of healing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn others(id: u64) -> Vec<u64> {
    (1..=NODES).filter(|&j| j != id).collect()
}

/// Injects one random fault for a while, then heals it; returns its description.
fn fault(rng: &mut Rng, nodes: &mut [Kv], net: &Net) -> String {
    let l = leader(nodes, None).unwrap_or(1 + rng.below(NODES));
    let hold = rng.millis(600, 2_000);
    let what = match rng.below(6) {
        0 => {
            net.partition(&[&[l], &others(l)]);
            format!("isolate leader {l}")
        }
        1 => {
            let alone = 1 + rng.below(NODES);
            net.partition(&[&[alone], &others(alone)]);
            format!("split {alone} | {:?}", others(alone))
        }
        2 => {
            let o = others(1 + rng.below(NODES));
            net.cut_pair(o[0], o[1]);
            format!("bridge: {} x {} cut", o[0], o[1])
        }
        3 => {
            let d = rng.millis(10, 120);
            net.delay_all(d);
            format!("delay every link {d:?}")
        }
        4 => {
            nodes[l as usize - 1].signal("STOP");
            std::thread::sleep(hold);
            nodes[l as usize - 1].signal("CONT");
            return format!("pause leader {l} (SIGSTOP) for {hold:?}");
        }
        _ => {
            let victim = if rng.below(2) == 0 {
                l
            } else {
                1 + rng.below(NODES)
            };
            nodes[victim as usize - 1].kill9();
            std::thread::sleep(hold / 2);
            nodes[victim as usize - 1].start();
            return format!("kill -9 node {victim} (leader {l}) and restart");
        }
    };
    std::thread::sleep(hold);
    net.heal();
    format!("{what} for {hold:?}")
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// A few lines on a non-linearizable key: the tail of the longest legal order, and the
/// operations none of which could come next.
fn excerpt(ops: &[Op], result: &PartitionResult) -> String {
    let show = |i: &usize| {
        let o = &ops[*i];
        let ms = |t: u64| format!("{:.3}", t as f64 / 1e6);
        format!(
            "  client {} [{} .. {}] ms {} -> {}",
            o.client,
            ms(o.call),
            o.ret.map(ms).unwrap_or_else(|| "?".into()),
            match &o.input {
                KvInput::Put(v) => format!("put({})", String::from_utf8_lossy(v)),
                other => format!("{other:?}"),
            },
            match &o.output {
                Some(KvOutput::Value(Some(v))) => format!("Some({})", String::from_utf8_lossy(v)),
                other => format!("{other:?}"),
            }
        )
    };
    match result {
        PartitionResult::Violation { longest, stuck } => {
            let tail = &longest[longest.len().saturating_sub(8)..];
            format!(
                "longest legal order ends with:\n{}\nnone of these can follow:\n{}",
                tail.iter().map(show).collect::<Vec<_>>().join("\n"),
                stuck
                    .iter()
                    .take(12)
                    .map(show)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }
        other => format!("{other:?}"),
    }
}

#[test]
fn partitions_pauses_and_crashes_keep_the_history_linearizable() {
    let secs = env_u64("STELE_NEMESIS_SECS").unwrap_or(30);
    let seed = env_u64("STELE_NEMESIS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    });
    eprintln!("nemesis: {secs} s of faults, seed {seed} (STELE_NEMESIS_SEED to replay)");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let p = free_ports(2 * NODES as usize);
    let raft: Vec<SocketAddr> = (0..NODES as usize)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], p[i])))
        .collect();
    let cluster = raft
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let net = Net::new(&raft);
    let tick = TICK_MS.to_string();
    let timeout = REQUEST_TIMEOUT_MS.to_string();
    let mut nodes: Vec<Kv> = (1..=NODES)
        .map(|id| {
            let connect = net.connect_arg(id);
            let opts = [
                "--tick-ms",
                &tick,
                "--request-timeout-ms",
                &timeout,
                "--snapshot-count",
                "500",
                "--connect",
                &connect,
            ];
            let dir = tmp.path().join(format!("node-{id}"));
            Kv::new(
                id,
                &cluster,
                p[NODES as usize + id as usize - 1],
                &dir,
                &opts,
            )
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    let first = await_leader(&nodes);
    let t0 = Instant::now();
    eprintln!("nemesis: leader {first}; clients start");
    let tally = Arc::new(Tally::default());
    let ports: Vec<u16> = nodes.iter().map(|n| n.http).collect();
    let stale = std::env::var_os("STELE_NEMESIS_STALE_READS").is_some();
    if stale {
        eprintln!("nemesis: reading with ?stale=true: the check is expected to FAIL");
    }
    let workers = clients(&ports, t0, seed, &tally, stale);

    // The links really run through the proxies: cutting the leader's makes the others elect
    // a new one.
    net.partition(&[&[first], &others(first)]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let second = loop {
        let rest: Vec<&Kv> = nodes.iter().filter(|n| n.id != first).collect();
        let l = rest.iter().find_map(|n| {
            let s = Client::with_timeout(n.http, Duration::from_millis(500))
                .req("GET", "/status", b"")
                .ok()?
                .json();
            (s["role"] == "Leader").then_some(n.id)
        });
        if let Some(l) = l {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader with {first} cut off"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    net.heal();
    eprintln!("nemesis: leader {first} cut off, {second} elected");

    let faults = Mutex::new(vec![format!("isolate leader {first}")]);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        std::thread::sleep(rng.millis(300, 1_000));
        let f = fault(&mut rng, &mut nodes, &net);
        eprintln!("nemesis: {:>6.1} s  {f}", t0.elapsed().as_secs_f64());
        faults.lock().unwrap().push(f);
    }
    net.heal();
    let l = await_leader(&nodes);
    // Progress after the last fault: the clients get writes through again.
    let ok_before = tally.ok.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tally.ok.load(Ordering::Relaxed) < ok_before + 50 {
        assert!(
            Instant::now() < deadline,
            "no progress within 30 s after healing (leader {l})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let history = workers.finish();
    let faults = faults.into_inner().unwrap();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for f in &faults {
        let kind = ["isolate", "split", "bridge", "delay", "pause", "kill"]
            .into_iter()
            .find(|k| f.starts_with(k))
            .unwrap_or("other");
        *kinds.entry(kind).or_default() += 1;
    }
    eprintln!("nemesis: faults by kind: {kinds:?}");
    eprintln!(
        "nemesis: {} faults; client operations: {} answered, {} unknown, {} failed (left out)",
        faults.len(),
        tally.ok.load(Ordering::Relaxed),
        tally.unknown.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed)
    );

    let started = Instant::now();
    let budget = Budget {
        time: Duration::from_secs(120),
    };
    let r = check(&KvModel, &history, budget);
    eprintln!(
        "nemesis: checked {} operations ({} unknown) on {} keys in {:?}: {:?}",
        r.checked,
        r.unknown,
        r.partitions,
        started.elapsed(),
        r.verdict
    );
    for f in r.failures.iter().take(3) {
        eprintln!(
            "key {}: {} operations, {} steps\n{}",
            f.key,
            f.ops.len(),
            f.steps,
            excerpt(&f.ops, &f.result)
        );
    }
    assert_eq!(r.verdict, Verdict::Linearizable, "seed {seed}");
    assert!(faults.len() >= 3, "{faults:?}");
    let acked_writes = history
        .iter()
        .filter(|o| o.is_known() && o.input != KvInput::Get)
        .count();
    let reads = history.iter().filter(|o| o.input == KvInput::Get).count();
    assert!(
        acked_writes > 100 && reads > 100,
        "{acked_writes} writes, {reads} reads"
    );
}
