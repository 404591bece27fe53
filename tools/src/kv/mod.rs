//! `stele-kv`: a replicated key-value node over stele-raft, with an HTTP API.
//!
//! One process is one raft node: a [`KvMachine`] (the in-memory
//! [`MemKv`] plus the member table) applied by a [`Node`] over a
//! [`DiskStorage`] in `<data-dir>/{wal,snap}`, talking to its peers with a [`TcpTransport`],
//! and an HTTP server on `127.0.0.1:<port>` (see [`api`] for the routes).
//!
//! Durability: `PUT` and `DELETE` answer only after the entry is applied on this node, which
//! happens only after it is committed, i.e. durable on a quorum. The map is rebuilt on restart
//! from the newest snapshot and the WAL.
//!
//! Fail-stop: when the node stops on its own (a storage error such as damage read from a
//! sealed segment, a failed fsync, a caught raft panic, a dead transport thread), a watcher
//! thread sees it through [`NodeHandle::wait_stopped`](stele_raft::NodeHandle::wait_stopped)
//! and stops the HTTP server as SIGTERM would: requests under way are answered 503, `/status`
//! shows `"running": false` with the reason in `"stop_error"` meanwhile, and the process
//! prints one `error:` line (the error chain, with file and byte offset where there is one)
//! and exits with status 1, within [`WATCH_INTERVAL`] plus the server's stop grace. Damage the
//! background scrub finds in a sealed segment or snapshot file (`--scrub-mib-per-sec`) stops
//! the node the same way, unless `--scrub-only-report`; `--verify-before-serving` runs one
//! full scrub before the node starts.

pub mod api;
pub mod http;
pub mod logger;
pub mod machine;
pub mod memkv;
pub mod metrics;
pub mod server;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Parser;
use stele_raft::{
    Node, NodeConfig, NodeHandle, PeerBook, ScrubConfig, ScrubOptions, TcpConfig, TcpTransport,
};
use stele_storage::{DiskStorage, StorageOptions};

use crate::error::{ErrorChain, Failure};
use machine::{Dialer, KvMachine, Members};
use memkv::MemKv;
use metrics::{Histogram, TimedFs};

/// Command line of `stele-kv`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "stele-kv",
    about = "A replicated key-value node (stele + raft-rs)"
)]
pub struct Args {
    /// This node's raft id (1-based position of its raft address in --cluster).
    #[arg(long, default_value_t = 1)]
    pub id: u64,
    /// The raft addresses (host:port) of nodes 1, 2, ..., comma-separated.
    #[arg(long, default_value = "127.0.0.1:12379")]
    pub cluster: String,
    /// Where this node dials some peers instead of their advertised address (`ID=host:port`,
    /// comma-separated): a local override, never replicated (the member table keeps the
    /// --cluster / join addresses). For a proxy or NAT between nodes; the nemesis test routes
    /// every directed link through a fault-injecting proxy with it.
    #[arg(long, default_value = "")]
    pub connect: String,
    /// The HTTP port (on 127.0.0.1).
    #[arg(long, default_value_t = 12380)]
    pub port: u16,
    /// The data directory (holds wal/ and snap/); default `stele-data/node-<id>`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Join a running cluster (add it with `POST /members/<id>` on a member).
    #[arg(long)]
    pub join: bool,
    /// Take a snapshot every this many applied entries (0: only when a follower needs one);
    /// etcd's default. The log keeps min(5000, N/2) entries behind a snapshot for followers.
    #[arg(long, default_value_t = 100_000)]
    pub snapshot_count: u64,
    /// Raft's tick in milliseconds (election timeout 10 ticks, heartbeat 2).
    #[arg(long, default_value_t = 100)]
    pub tick_ms: u64,
    /// How long a write or a linearizable read may wait before it is answered 503.
    #[arg(long, default_value_t = 5_000)]
    pub request_timeout_ms: u64,
    /// Concurrent HTTP connections accepted.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Size of a WAL segment file in MiB (a full segment is sealed and a new one started).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub wal_segment_mib: u64,
    /// What the stele crates log to stderr: off, error, warn, info (segments started,
    /// snapshots saved, files recovery ignored) or debug.
    #[arg(long, default_value = "info", value_parser = logger::parse_level)]
    pub log_level: log::LevelFilter,
    /// Rate of the background scrub, in MiB/s: every sealed WAL segment and snapshot file is
    /// read back and verified, pass after pass, so damage in cold data is found before a read
    /// needs it (0: off).
    #[arg(long, default_value_t = 8)]
    pub scrub_mib_per_sec: u64,
    /// When the scrub finds damage, only report it (in /status, /metrics and the log) and keep
    /// serving; by default the node stops with an error naming the file and offset.
    #[arg(long)]
    pub scrub_only_report: bool,
    /// Verify every sealed segment and snapshot file before serving (at full speed); damage
    /// found makes the process exit with an error naming the file and offset.
    #[arg(long)]
    pub verify_before_serving: bool,
}

/// Parses the arguments and runs the node until SIGINT/SIGTERM; returns the exit code.
pub fn main_with_args() -> i32 {
    let args = Args::parse();
    logger::install(args.log_level);
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", ErrorChain(&e));
            1
        }
    }
}

/// How often the watcher looks whether the node stopped on its own.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Starts the fail-stop watcher: once `node` stops on its own, sets `stop` (so the HTTP server
/// answers what is under way and returns); returns once either has happened.
fn watch(node: NodeHandle, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Acquire) {
            if node.wait_stopped(WATCH_INTERVAL).is_some() {
                stop.store(true, Ordering::Release);
            }
        }
    })
}

/// `--verify-before-serving`: one unpaced scrub pass over the node's files.
fn verify(storage: &DiskStorage, dir: &std::path::Path) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let st = storage
        .scrub_now()
        .map_err(|e| Failure::because(format!("verifying {}", dir.display()), e))?;
    println!(
        "stele-kv: verified {} sealed segments and {} snapshot files ({} bytes) in {:?}",
        st.segments_verified,
        st.snapshots_verified,
        st.bytes_verified,
        started.elapsed()
    );
    Ok(())
}

/// The raft addresses of `--cluster`.
pub fn parse_cluster(s: &str) -> Result<Vec<SocketAddr>, Failure> {
    s.split(',')
        .map(|a| {
            let a = a.trim();
            a.parse::<SocketAddr>().map_err(|e| {
                Failure::because(format!("--cluster: {a:?} is not an address (ip:port)"), e)
            })
        })
        .collect()
}

/// The overrides of `--connect` (`ID=host:port,...`; empty: none).
pub fn parse_connect(s: &str) -> Result<BTreeMap<u64, SocketAddr>, Failure> {
    let mut map = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = || Failure::new(format!("--connect: {item:?} is not ID=ip:port"));
        let (id, addr) = item.split_once('=').ok_or_else(bad)?;
        let id: u64 = id.trim().parse().map_err(|_| bad())?;
        let addr: SocketAddr = addr.trim().parse().map_err(|_| bad())?;
        if id == 0 {
            return Err(bad());
        }
        map.insert(id, addr);
    }
    Ok(map)
}

/// Runs a node (see the module docs) until SIGINT or SIGTERM.
pub fn run(args: Args) -> Result<(), Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| Failure::because("signal", e))?;
    }
    run_until(args, stop)
}

/// Runs a node until `stop` is set (what [`run`] does, without the signal handlers: for
/// running several nodes in one process, as the benchmark does).
pub fn run_until(args: Args, stop: Arc<AtomicBool>) -> Result<(), Failure> {
    let cluster = parse_cluster(&args.cluster)?;
    let connect = parse_connect(&args.connect)?;
    if args.id == 0 || args.id as usize > cluster.len() {
        return Err(Failure::new(format!(
            "--id {} needs a raft address: --cluster lists {} (ids 1..={})",
            args.id,
            cluster.len(),
            cluster.len()
        )));
    }
    let raft_addr = cluster[args.id as usize - 1];
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("stele-data/node-{}", args.id)));

    let fsync = Arc::new(Histogram::default());
    let mut opts = StorageOptions::default();
    opts.wal.segment_size = args.wal_segment_mib << 20;
    opts.wal.fs = Arc::new(TimedFs::new(opts.wal.fs.clone(), fsync.clone()));
    let storage = DiskStorage::open(&dir, opts)
        .map_err(|e| Failure::because(format!("opening {}", dir.display()), e))?;
    let rec = storage.recovery().clone();
    if args.verify_before_serving {
        verify(&storage, &dir)?;
    }

    let raft_listener = TcpListener::bind(raft_addr)
        .map_err(|e| Failure::because(format!("raft address {raft_addr}"), e))?;
    let http_addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let http_listener = TcpListener::bind(http_addr)
        .map_err(|e| Failure::because(format!("HTTP address {http_addr}"), e))?;

    let peers = Dialer::new(PeerBook::default(), connect);
    let founders: Vec<(u64, SocketAddr)> = cluster
        .iter()
        .enumerate()
        .map(|(i, a)| (i as u64 + 1, *a))
        .collect();
    let kv = MemKv::new();
    let members = Members::default();
    // A joiner learns the members from the leader's snapshot; it can reach them meanwhile
    // because every --cluster address is in its peer book.
    let machine_founders: &[(u64, SocketAddr)] = if args.join { &[] } else { &founders };
    for &(id, a) in &founders {
        peers.insert(id, a);
    }
    let book = peers.book().clone();
    let machine = KvMachine::new(kv.clone(), members.clone(), peers, machine_founders);
    let transport = TcpTransport::new(args.id, raft_listener, book, TcpConfig::default())
        .map_err(|e| Failure::because("transport", e))?;

    let voters: Vec<u64> = if args.join {
        Vec::new()
    } else {
        founders.iter().map(|f| f.0).collect()
    };
    let mut cfg = NodeConfig::new(args.id, voters);
    cfg.tick = Duration::from_millis(args.tick_ms.max(1));
    cfg.snapshot_interval = args.snapshot_count;
    if args.snapshot_count > 0 {
        cfg.compaction_tail = cfg.compaction_tail.min(args.snapshot_count / 2);
    }
    let timeout = Duration::from_millis(args.request_timeout_ms.max(1));
    cfg.proposal_timeout = timeout;
    cfg.scrub = (args.scrub_mib_per_sec > 0).then(|| ScrubConfig {
        options: ScrubOptions {
            bytes_per_sec: args.scrub_mib_per_sec.saturating_mul(1 << 20),
            ..ScrubOptions::default()
        },
        stop_on_damage: !args.scrub_only_report,
    });
    let node = Node::start(cfg, storage.clone(), Box::new(machine), Box::new(transport))
        .map_err(|e| Failure::because("starting the node", e))?;
    let st = node.status();
    println!(
        "stele-kv: node {} raft {raft_addr} http http://{http_addr} data {}{}; recovered \
         snapshot {} (term {}), log {}..={}, commit {}, {} keys restored",
        args.id,
        dir.display(),
        if args.join { " (joining)" } else { "" },
        rec.snapshot.0,
        rec.snapshot.1,
        rec.entries.0,
        rec.entries.1,
        st.commit,
        kv.len(),
    );

    let app = Arc::new(api::App {
        node: node.handle(),
        kv,
        members,
        storage,
        fsync,
        timeout,
        admin_running: Default::default(),
    });
    let handler: server::Handler = Arc::new(move |req, done| app.handle(req, done));
    let opts = server::ServerOptions {
        max_connections: args.max_connections,
        request_timeout: timeout,
    };
    let watcher = watch(node.handle(), stop.clone());
    let served = server::serve(http_listener, handler, opts, stop.clone());
    println!("stele-kv: node {}: stopping", args.id);
    stop.store(true, Ordering::Release); // the server may have returned on its own error
    let _ = watcher.join();
    let r = node.shutdown();
    served.map_err(|e| Failure::because("the HTTP server failed", e))?;
    r.map_err(|e| Failure::because("the node stopped with an error", e))?;
    println!("stele-kv: node {}: stopped", args.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_connect;

    #[test]
    fn connect_overrides_parse_and_bad_ones_are_named() {
        assert!(parse_connect("").unwrap().is_empty());
        let m = parse_connect("2=127.0.0.1:9002, 3=127.0.0.1:9003").unwrap();
        assert_eq!(m[&2].port(), 9002);
        assert_eq!(m[&3].port(), 9003);
        for bad in ["2", "x=127.0.0.1:1", "0=127.0.0.1:1", "2=nowhere"] {
            let e = parse_connect(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
