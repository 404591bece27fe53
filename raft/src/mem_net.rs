//! [`MemNetwork`]: an in-process network for tests, with seeded message loss, delay
//! (reordering), partitions, and a record of every message handed to it.
//!
//! For tests only: it exists only with the `testing` feature, and is not a transport for
//! production (nodes in one process, nothing crosses a socket). Real nodes use
//! [`TcpTransport`](crate::TcpTransport) or their own [`Transport`].
//!
//! Semantics:
//! - each message handed to an endpoint is first recorded (if recording is on), then dropped
//!   if its link is cut (reported to the sender as unreachable) or lost at random (not
//!   reported, like a datagram), else delivered after a random delay in `[0, max_delay]` by
//!   the network's delivery thread; different delays reorder messages;
//! - a message for a node with no live endpoint is dropped and reported unreachable;
//! - every `MsgSnapshot` gets exactly one snapshot report: `Finish` when delivered, `Failure`
//!   when dropped;
//! - the random choices come from one seeded generator, so a run is reproducible as far as the
//!   node threads' interleaving allows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use raft::eraftpb::{Message, MessageType};
use raft::SnapshotStatus;

use crate::error::Result;
use crate::transport::{Inbound, Mailbox, Transport};

/// A message as recorded by [`MemNetwork::take_sent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Sender.
    pub from: u64,
    /// Target.
    pub to: u64,
    /// raft message type.
    pub msg_type: MessageType,
    /// The message's term.
    pub term: u64,
    /// The message's index field.
    pub index: u64,
    /// The message's reject flag.
    pub reject: bool,
}

/// Counters of a [`MemNetwork`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages delivered to a mailbox.
    pub delivered: u64,
    /// Messages lost at random.
    pub lost: u64,
    /// Messages dropped on a cut link or for a node that is down.
    pub cut: u64,
}

struct State {
    rng: u64,
    loss_ppm: u64,
    max_delay: Duration,
    cut: HashSet<(u64, u64)>,
    mailboxes: HashMap<u64, Mailbox>,
    queue: BTreeMap<(Instant, u64), Message>,
    seq: u64,
    record: Option<Vec<SentMessage>>,
    stats: NetStats,
    stop: bool,
}

impl State {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

struct Inner {
    state: Mutex<State>,
    wake: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The network (see the module docs). Dropping it stops delivery.
pub struct MemNetwork {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MemNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemNetwork")
            .field("stats", &self.stats())
            .finish()
    }
}

impl MemNetwork {
    /// A reliable, instant network whose later random choices derive from `seed`.
    pub fn new(seed: u64) -> MemNetwork {
        let state = State {
            rng: seed,
            loss_ppm: 0,
            max_delay: Duration::ZERO,
            cut: HashSet::new(),
            mailboxes: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            record: None,
            stats: NetStats::default(),
            stop: false,
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            wake: Condvar::new(),
        });
        let net = inner.clone();
        let thread = std::thread::Builder::new()
            .name("stele-mem-net".into())
            .spawn(move || deliver_loop(&net))
            .expect("spawn the network thread");
        MemNetwork {
            inner,
            thread: Some(thread),
        }
    }

    /// The transport of node `id` (start a node with it; a restarted node takes a new one).
    pub fn endpoint(&self, id: u64) -> MemTransport {
        MemTransport {
            id,
            inner: self.inner.clone(),
        }
    }

    /// Loses each message with probability `p` (0 to 1).
    pub fn set_loss(&self, p: f64) {
        self.inner.lock().loss_ppm = (p.clamp(0.0, 1.0) * 1e6) as u64;
    }

    /// Delays each message by a random time up to `d` (0: deliver in order, at once).
    pub fn set_max_delay(&self, d: Duration) {
        self.inner.lock().max_delay = d;
    }

    /// Cuts every link between a node of `a` and a node of `b`, both ways.
    pub fn partition(&self, a: &[u64], b: &[u64]) {
        let mut st = self.inner.lock();
        for &x in a {
            for &y in b {
                st.cut.insert((x, y));
                st.cut.insert((y, x));
            }
        }
    }

    /// Cuts node `id` off from every node in `others`.
    pub fn isolate(&self, id: u64, others: &[u64]) {
        self.partition(&[id], others);
    }

    /// Restores every link (loss and delay stay).
    pub fn heal(&self) {
        self.inner.lock().cut.clear();
    }

    /// Starts (true) or stops (false) recording the messages handed to the network.
    pub fn record(&self, on: bool) {
        let mut st = self.inner.lock();
        st.record = if on {
            Some(st.record.take().unwrap_or_default())
        } else {
            None
        };
    }

    /// The messages recorded since the last call.
    pub fn take_sent(&self) -> Vec<SentMessage> {
        self.inner
            .lock()
            .record
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The counters.
    pub fn stats(&self) -> NetStats {
        self.inner.lock().stats
    }
}

impl Drop for MemNetwork {
    fn drop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One node's endpoint on a [`MemNetwork`].
pub struct MemTransport {
    id: u64,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTransport")
            .field("id", &self.id)
            .finish()
    }
}

impl Transport for MemTransport {
    fn start(&mut self, mailbox: Mailbox) -> Result<()> {
        self.inner.lock().mailboxes.insert(self.id, mailbox);
        Ok(())
    }

    fn send(&mut self, msgs: Vec<Message>) {
        let mut reports = Vec::new();
        {
            let mut st = self.inner.lock();
            let now = Instant::now();
            for m in msgs {
                if let Some(rec) = st.record.as_mut() {
                    rec.push(SentMessage {
                        from: m.from,
                        to: m.to,
                        msg_type: m.get_msg_type(),
                        term: m.term,
                        index: m.index,
                        reject: m.reject,
                    });
                }
                let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
                if st.cut.contains(&(self.id, m.to)) {
                    st.stats.cut += 1;
                    reports.push(Inbound::Unreachable(m.to));
                    if snapshot {
                        reports.push(Inbound::Snapshot(m.to, SnapshotStatus::Failure));
                    }
                    continue;
                }
                if st.loss_ppm > 0 && st.next() % 1_000_000 < st.loss_ppm {
                    st.stats.lost += 1;
                    if snapshot {
                        reports.push(Inbound::Snapshot(m.to, SnapshotStatus::Failure));
                    }
                    continue;
                }
                let max = st.max_delay.as_micros() as u64;
                let delay = if max == 0 { 0 } else { st.next() % (max + 1) };
                st.seq += 1;
                let key = (now + Duration::from_micros(delay), st.seq);
                st.queue.insert(key, m);
            }
        }
        self.inner.wake.notify_all();
        let me = self.inner.lock().mailboxes.get(&self.id).cloned();
        if let Some(me) = me {
            for r in reports {
                me.deliver(r);
            }
        }
    }

    fn stop(&mut self) {
        self.inner.lock().mailboxes.remove(&self.id);
    }
}

/// The delivery thread: hands due messages to their mailboxes, in due order.
fn deliver_loop(inner: &Inner) {
    let mut st = inner.lock();
    loop {
        if st.stop {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = st.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        if due.is_empty() {
            let wait = st
                .queue
                .keys()
                .next()
                .map(|k| k.0.saturating_duration_since(now));
            st = match wait {
                Some(w) => {
                    inner
                        .wake
                        .wait_timeout(st, w)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => inner.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
            continue;
        }
        let mut out = Vec::with_capacity(due.len());
        for m in due {
            let target = st.mailboxes.get(&m.to).cloned();
            let sender = st.mailboxes.get(&m.from).cloned();
            out.push((m, target, sender));
        }
        drop(st);
        let mut delivered = 0;
        let mut cut = 0;
        for (m, target, sender) in out {
            let (to, snapshot) = (m.to, m.get_msg_type() == MessageType::MsgSnapshot);
            let ok = target.is_some_and(|t| t.step(m));
            if ok {
                delivered += 1;
            } else {
                cut += 1;
            }
            if let Some(s) = sender {
                if !ok {
                    s.report_unreachable(to);
                }
                if snapshot {
                    let status = if ok {
                        SnapshotStatus::Finish
                    } else {
                        SnapshotStatus::Failure
                    };
                    s.report_snapshot(to, status);
                }
            }
        }
        st = inner.lock();
        st.stats.delivered += delivered;
        st.stats.cut += cut;
    }
}
