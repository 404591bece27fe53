//! What a [`TcpTransport`](crate::TcpTransport) and its per-peer sender threads (module
//! `tcp_peer`) share: the options, the peer table, the connection magic and the socket
//! registry. A leaf: it imports nothing from the crate, so `tcp_peer` and `tcp` both depend on
//! it and not on each other in a circle.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The first bytes of every connection.
pub(crate) const MAGIC: &[u8; 8] = b"STELERF1";

/// Options of a [`TcpTransport`](crate::TcpTransport).
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Time allowed for a connect (default 1 s).
    pub connect_timeout: Duration,
    /// Time allowed for a write to make progress before the connection is dropped (default 10 s).
    pub write_timeout: Duration,
    /// The first reconnect delay after a failure (default 50 ms)...
    pub backoff_min: Duration,
    /// ...doubling up to this (default 2 s).
    pub backoff_max: Duration,
    /// Messages queued per peer before new ones are dropped (default 4096).
    pub queue_len: usize,
    /// The largest frame accepted or sent (default 1 GiB).
    pub max_frame: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            connect_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            queue_len: 4096,
            max_frame: 1 << 30,
        }
    }
}

/// The peer addresses a transport dials; clones share the table, so membership changes can
/// update it while the node runs.
#[derive(Debug, Clone, Default)]
pub struct PeerBook(Arc<RwLock<HashMap<u64, SocketAddr>>>);

impl PeerBook {
    /// Sets the address of peer `id`.
    pub fn insert(&self, id: u64, addr: SocketAddr) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, addr);
    }

    /// Forgets peer `id`.
    pub fn remove(&self, id: u64) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// The address of peer `id`.
    pub fn get(&self, id: u64) -> Option<SocketAddr> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
    }
}

/// State shared by a transport's threads.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub stop: AtomicBool,
    /// Open sockets (both directions), to shut them down on stop.
    streams: Mutex<HashMap<u64, TcpStream>>,
    next_stream: AtomicU64,
    /// The first thread failure (a panic, or a loop that ended while running): what
    /// `Transport::check` reports.
    failure: Mutex<Option<String>>,
}

impl Shared {
    /// Records a thread failure; the first one is kept.
    pub fn fail(&self, what: String) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            log::error!("stele-raft tcp: {what}");
            *f = Some(what);
        }
    }

    /// The first recorded thread failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Registers a socket; returns its key for [`forget`](Self::forget).
    pub fn track(&self, s: &TcpStream) -> Option<u64> {
        let clone = s.try_clone().ok()?;
        let key = self.next_stream.fetch_add(1, Ordering::Relaxed);
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, clone);
        if self.stop.load(Ordering::Acquire) {
            let _ = s.shutdown(Shutdown::Both);
        }
        Some(key)
    }

    pub fn forget(&self, key: Option<u64>) {
        if let Some(k) = key {
            self.streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&k);
        }
    }

    /// Shuts down every tracked socket.
    pub fn shutdown_all(&self) {
        for s in self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
