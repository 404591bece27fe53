//! Acknowledged 1 KiB writes per second: a three-node stele-kv cluster on loopback with 64
//! concurrent HTTP clients, next to one `DiskStorage` taking synced 1 KiB appends from 64
//! threads, interleaved in one run; prints each round, the medians and the ratio.
//!
//! `cargo run --release -p stele-tools --example kv_bench -- [rounds] [seconds] [dir]`
//! (defaults 3 rounds of 5 s each per side; files in a temporary directory under `dir`,
//! default the system's temporary directory).
//!
//! The cluster: three nodes in this process (`stele_tools::kv::run_until`, the code the
//! binary runs), each with its own data directory, raft over TCP and HTTP on 127.0.0.1; client
//! `i` keeps one keep-alive connection to node `i % 3` and `PUT`s 1 KiB values, cycling
//! through 1000 keys of its own (64,000 keys, a 64 MiB state: the state machine and its
//! snapshots stay the same size from round to round; `STELE_BENCH_KEYS=0` writes a new key
//! every time instead); a write counts when answered 204 (committed on a quorum and applied). The 64
//! clients run on one thread (module `loadgen`, an event loop keeping one request outstanding
//! per connection); `STELE_BENCH_CLIENTS=threads` runs them as 64 blocking threads instead,
//! whose wake-ups then compete with the nodes for the cores. The storage:
//! each thread takes the next raft index under a mutex, `append`s a one-entry batch unsynced,
//! releases the mutex and calls `sync` (group commit), as the Ready loop's syncs would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft::eraftpb::Entry;
use stele_storage::{DiskStorage, StorageOptions};
use stele_tools::kv::{run_until, Args};

mod loadgen;

const CLIENTS: usize = 64;
const VALUE: usize = 1024;

/// Keys each client cycles through (`STELE_BENCH_KEYS`, default 1000; 0: a new key for every
/// write, so the state, and every snapshot of it, grows for as long as the benchmark runs).
fn keys_per_client() -> u64 {
    static KEYS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *KEYS.get_or_init(|| {
        std::env::var("STELE_BENCH_KEYS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000)
    })
}

/// The key of client `i`'s `n`-th write in round `round`.
fn key(round: usize, i: usize, n: u64) -> String {
    match keys_per_client() {
        0 => format!("r{round}-c{i}-{n}"),
        k => format!("c{i}-{}", n % k),
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// One keep-alive request; the status code.
fn put(conn: &mut Option<BufReader<TcpStream>>, port: u16, key: &str, value: &[u8]) -> Option<u16> {
    if conn.is_none() {
        let s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).ok()?;
        s.set_nodelay(true).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        *conn = Some(BufReader::new(s));
    }
    let c = conn.as_mut()?;
    let mut req = format!(
        "PUT /kv/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        value.len()
    )
    .into_bytes();
    req.extend_from_slice(value);
    let r = (|| {
        c.get_mut().write_all(&req).ok()?;
        let mut line = String::new();
        c.read_line(&mut line).ok()?;
        let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            c.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().ok()?;
                }
            }
        }
        let mut body = vec![0u8; len];
        c.read_exact(&mut body).ok()?;
        Some(status)
    })();
    if r.is_none() {
        *conn = None;
    }
    r
}

fn status_leader(port: u16) -> u64 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.write_all(b"GET /status HTTP/1.1\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("{}");
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["leader_id"].as_u64())
        .unwrap_or(0)
}

fn cluster_round(ports: &[u16], secs: f64, round: usize) -> f64 {
    if std::env::var("STELE_BENCH_CLIENTS").as_deref() != Ok("threads") {
        let (ok, failed, el) = loadgen::run(ports, CLIENTS, &[b'v'; VALUE], secs, round);
        if failed > 0 {
            eprintln!("  cluster round {round}: {failed} writes not acknowledged");
        }
        return ok as f64 / el;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            let port = ports[i % ports.len()];
            std::thread::spawn(move || {
                let value = vec![b'v'; VALUE];
                let mut conn = None;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match put(&mut conn, port, &key(round, i, n), &value) {
                        Some(204) => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let rate = run_for(secs, t0, &stop, &done, threads);
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        eprintln!("  cluster round {round}: {f} writes not acknowledged");
    }
    rate
}

fn storage_round(storage: &DiskStorage, next: &Arc<Mutex<u64>>, secs: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, done, next, st) =
                (stop.clone(), done.clone(), next.clone(), storage.clone());
            std::thread::spawn(move || {
                let data = vec![b'v'; VALUE];
                while !stop.load(Ordering::Relaxed) {
                    {
                        let mut i = next.lock().unwrap();
                        let e = Entry {
                            index: *i,
                            term: 1,
                            data: data.clone().into(),
                            ..Default::default()
                        };
                        st.append(&[e], None, false).expect("append");
                        *i += 1;
                    }
                    st.sync().expect("sync");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    run_for(secs, t0, &stop, &done, threads)
}

/// Lets `threads` (started at `t0`) run for `secs`, stops them, and returns what they counted
/// in `done` per second until the stop.
fn run_for(
    secs: f64,
    t0: Instant,
    stop: &AtomicBool,
    done: &AtomicU64,
    threads: Vec<std::thread::JoinHandle<()>>,
) -> f64 {
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let el = t0.elapsed().as_secs_f64();
    for t in threads {
        let _ = t.join();
    }
    n as f64 / el
}

/// This process's CPU time (user + system) so far, in seconds, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // utime, stime (fields 14, 15) in USER_HZ
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = a.first().and_then(|s| s.parse().ok()).unwrap_or(3);
    let secs: f64 = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let base = a
        .get(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("kv-bench")
        .tempdir_in(base)
        .unwrap();

    // STELE_BENCH_SNAPSHOT_COUNT sets the nodes' snapshot interval (default 100000, the node's
    // default); a huge value shows the cluster without snapshots in the measured window.
    let snapshot_count: u64 = std::env::var("STELE_BENCH_SNAPSHOT_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let p = free_ports(6);
    let cluster = (0..3)
        .map(|i| format!("127.0.0.1:{}", p[i]))
        .collect::<Vec<_>>()
        .join(",");
    let http: Vec<u16> = p[3..].to_vec();
    let node_stop = Arc::new(AtomicBool::new(false));
    let nodes: Vec<_> = (1..=3u64)
        .map(|id| {
            let args = Args {
                id,
                cluster: cluster.clone(),
                connect: String::new(),
                port: http[id as usize - 1],
                data_dir: Some(tmp.path().join(format!("node-{id}"))),
                join: false,
                snapshot_count,
                tick_ms: 100,
                request_timeout_ms: 5_000,
                max_connections: 256,
                wal_segment_mib: 64,
                log_level: log::LevelFilter::Off,
                scrub_mib_per_sec: 8,
                scrub_only_report: false,
                verify_before_serving: false,
            };
            let stop = node_stop.clone();
            std::thread::Builder::new()
                .name(format!("kv-http-{id}"))
                .spawn(move || run_until(args, stop))
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.iter().any(|&port| status_leader(port) == 0) {
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(50));
    }
    let storage = DiskStorage::open(tmp.path().join("storage"), StorageOptions::default()).unwrap();
    let next = Arc::new(Mutex::new(1u64));
    println!("kv_bench: {rounds} rounds x {secs} s per side, {CLIENTS} clients/threads, {VALUE}-byte values, dir {}", tmp.path().display());
    let (mut kv, mut st) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let c0 = cpu_seconds();
        let k = cluster_round(&http, secs, r);
        let c1 = cpu_seconds();
        let s = storage_round(&storage, &next, secs);
        let c2 = cpu_seconds();
        let (kc, sc) = ((c1 - c0) / (k * secs), (c2 - c1) / (s * secs));
        println!(
            "round {r}: cluster {k:8.0} acknowledged writes/s ({:.0} us CPU each) | DiskStorage {s:8.0} synced appends/s ({:.0} us CPU each) | ratio {:.2}",
            kc * 1e6,
            sc * 1e6,
            k / s
        );
        kv.push(k);
        st.push(s);
    }
    let (k, s) = (median(&mut kv), median(&mut st));
    println!("median: cluster {k:.0} writes/s, DiskStorage {s:.0} appends/s, ratio {:.2} (target >= 0.7)", k / s);
    node_stop.store(true, Ordering::Relaxed);
    for n in nodes {
        if let Ok(Err(e)) = n.join() {
            eprintln!("node: {}", stele_tools::error::ErrorChain(&e));
        }
    }
}
