//! The nemesis test's network: a fault-injecting TCP proxy on each directed raft link.
//!
//! Node `i` dials peer `j` at the proxy `P(i→j)` (`stele-kv --connect j=P(i→j)`), which
//! forwards to `j`'s real raft address. The raft transport keeps one outgoing connection per
//! peer, so `P(i→j)` carries exactly the messages from `i` to `j`, and the test can cut it
//! (close its connections and refuse new ones), delay it (hold every chunk for a while before
//! forwarding it), or heal it, one direction at a time. Every thread is joined on drop.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up { delay: Duration },
    Cut,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    conns: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop: AtomicBool,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }

    fn close_all(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// One directed link's proxy (see the module docs).
#[derive(Debug)]
pub struct Link {
    /// Where the dialing node connects.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Link {
    /// A proxy on a fresh loopback port forwarding to `to`, up and without delay.
    pub fn new(to: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Up {
                delay: Duration::ZERO,
            }),
            conns: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let acceptor = std::thread::spawn(move || accept_loop(listener, to, s));
        Link {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Drops every connection and refuses new ones until [`Link::heal`].
    pub fn cut(&self) {
        *self.shared.mode.lock().unwrap() = Mode::Cut;
        self.shared.close_all();
    }

    /// Forwards again, holding each chunk `delay` before passing it on (also on the
    /// connections already open).
    pub fn delay(&self, delay: Duration) {
        *self.shared.mode.lock().unwrap() = Mode::Up { delay };
    }

    /// Forwards again at once.
    pub fn heal(&self) {
        self.delay(Duration::ZERO);
    }

    /// Whether the link is cut.
    pub fn is_cut(&self) -> bool {
        self.shared.mode() == Mode::Cut
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.close_all();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        // The acceptor has stopped, so no pump is started after this.
        self.shared.close_all();
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, to: SocketAddr, s: Arc<Shared>) {
    while !s.stop.load(Ordering::Relaxed) {
        let inbound = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        if s.mode() == Mode::Cut {
            drop(inbound);
            continue;
        }
        let _ = inbound.set_nonblocking(false);
        let Ok(outbound) = TcpStream::connect_timeout(&to, Duration::from_millis(500)) else {
            continue;
        };
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let mut conns = s.conns.lock().unwrap();
        conns.retain(|c| c.peer_addr().is_ok());
        let (Ok(a), Ok(b)) = (inbound.try_clone(), outbound.try_clone()) else {
            continue;
        };
        conns.push(a);
        conns.push(b);
        drop(conns);
        let mut threads = s.threads.lock().unwrap();
        threads.retain(|t| !t.is_finished());
        for (from, to) in [
            (inbound.try_clone(), outbound.try_clone()),
            (Ok(outbound), Ok(inbound)),
        ] {
            if let (Ok(from), Ok(to)) = (from, to) {
                threads.extend(pump(from, to, s.clone()));
            }
        }
    }
}

/// Copies `from` to `to`, each chunk held for the link's delay at the time it was read.
fn pump(mut from: TcpStream, mut to: TcpStream, s: Arc<Shared>) -> [JoinHandle<()>; 2] {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let s2 = s.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = match s2.mode() {
                        Mode::Up { delay } => Instant::now() + delay,
                        Mode::Cut => break,
                    };
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
    });
    let writer = std::thread::spawn(move || {
        while let Ok((due, chunk)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if s.mode() == Mode::Cut || to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
    [reader, writer]
}

/// The links among `n` nodes: `links[i][j]` carries node `i + 1`'s messages to node `j + 1`.
#[derive(Debug)]
pub struct Net {
    links: Vec<Vec<Option<Link>>>,
}

impl Net {
    /// Proxies for every ordered pair of the nodes listening at `raft`.
    pub fn new(raft: &[SocketAddr]) -> Net {
        let links = (0..raft.len())
            .map(|i| {
                (0..raft.len())
                    .map(|j| (i != j).then(|| Link::new(raft[j])))
                    .collect()
            })
            .collect();
        Net { links }
    }

    /// The link from node `from` to node `to` (1-based ids).
    pub fn link(&self, from: u64, to: u64) -> &Link {
        self.links[from as usize - 1][to as usize - 1]
            .as_ref()
            .expect("no link to itself")
    }

    /// Node `id`'s `--connect` value: every peer through its proxy.
    pub fn connect_arg(&self, id: u64) -> String {
        (1..=self.links.len() as u64)
            .filter(|&j| j != id)
            .map(|j| format!("{j}={}", self.link(id, j).addr))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn all(&self) -> impl Iterator<Item = &Link> {
        self.links.iter().flatten().flatten()
    }

    /// Every link up, without delay.
    pub fn heal(&self) {
        self.all().for_each(Link::heal);
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut_pair(&self, a: u64, b: u64) {
        self.link(a, b).cut();
        self.link(b, a).cut();
    }

    /// Cuts every link between nodes in different `groups` (the rest stay as they are).
    pub fn partition(&self, groups: &[&[u64]]) {
        for (gi, g) in groups.iter().enumerate() {
            for h in &groups[gi + 1..] {
                for &a in *g {
                    for &b in *h {
                        self.cut_pair(a, b);
                    }
                }
            }
        }
    }

    /// Delays every link by `delay`.
    pub fn delay_all(&self, delay: Duration) {
        self.all().for_each(|l| l.delay(delay));
    }
}
