//! [`TcpTransport`]: raft messages over TCP.
//!
//! Wire format: each connection starts with the 8-byte magic `STELERF1`, then carries frames
//! `u32 length (big endian) | eraftpb.Message protobuf bytes`, one direction only (a node
//! dials each peer for its outgoing messages and accepts its peers' connections for incoming
//! ones).
//!
//! Invariants:
//! - one persistent outgoing connection per peer, owned by that peer's sender thread
//!   (module `tcp_peer`) and fed by a bounded queue: [`Transport::send`] never blocks (a full
//!   queue drops the message, as a lossy network would);
//! - a failed connect or write is reported with `report_unreachable`; the sender then
//!   reconnects with exponential backoff (messages queued meanwhile are dropped);
//! - every `MsgSnapshot` gets exactly one `report_snapshot`: `Finish` after its frame is
//!   written and flushed, `Failure` if it is dropped or the write fails; the frame is streamed
//!   from the message (no second copy of the snapshot data);
//! - an incoming frame longer than `max_frame` closes the connection; a frame's buffer grows
//!   with the bytes that arrive (see [`read_frame`]), so a length alone allocates nothing large;
//! - every thread runs under `guarded`: a panic in it (caught, not printed), or the acceptor or a
//!   sender ending while the transport runs, is recorded, and [`Transport::check`] then fails
//!   with [`Error::TransportFailed`], which stops the node (fail-stop). A reader thread ends
//!   normally when its connection closes.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::{Entry, Message, MessageType};
use raft::SnapshotStatus;

use crate::error::{Error, Result};
use crate::tcp_shared::{Shared, MAGIC};
use crate::transport::{Mailbox, Transport};

pub use crate::tcp_shared::{PeerBook, TcpConfig};

/// The TCP transport of one node (see the module docs).
#[derive(Debug)]
pub struct TcpTransport {
    id: u64,
    listener: Option<TcpListener>,
    local: SocketAddr,
    peers: PeerBook,
    cfg: Arc<TcpConfig>,
    queues: HashMap<u64, SyncSender<Message>>,
    mailbox: Option<Mailbox>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl TcpTransport {
    /// A transport for node `id` that accepts on `listener` and dials the peers in `peers`.
    pub fn new(id: u64, listener: TcpListener, peers: PeerBook, cfg: TcpConfig) -> Result<Self> {
        let local = listener.local_addr()?;
        Ok(TcpTransport {
            id,
            listener: Some(listener),
            local,
            peers,
            cfg: Arc::new(cfg),
            queues: HashMap::new(),
            mailbox: None,
            shared: Arc::new(Shared::default()),
            threads: Vec::new(),
        })
    }

    /// The address this transport accepts on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The peer table (shared).
    pub fn peers(&self) -> PeerBook {
        self.peers.clone()
    }

    fn queue(&mut self, to: u64, mailbox: &Mailbox) -> Option<&SyncSender<Message>> {
        if !self.queues.contains_key(&to) {
            let (tx, rx) = sync_channel(self.cfg.queue_len);
            let peer = crate::tcp_peer::PeerSender {
                from: self.id,
                to,
                peers: self.peers.clone(),
                cfg: self.cfg.clone(),
                mailbox: mailbox.clone(),
                shared: self.shared.clone(),
            };
            let name = format!("stele-tcp-{}-to-{to}", self.id);
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || guarded(&shared, &name, Ends::Unexpectedly, || peer.run(rx)));
            match spawned {
                Ok(t) => self.threads.push(t),
                Err(e) => {
                    log::error!(
                        "stele-raft tcp {}: cannot start a sender thread: {e}",
                        self.id
                    );
                    return None;
                }
            }
            self.queues.insert(to, tx);
        }
        self.queues.get(&to)
    }
}

impl Transport for TcpTransport {
    fn start(&mut self, mailbox: Mailbox) -> Result<()> {
        let listener = self
            .listener
            .take()
            .ok_or_else(|| Error::Invalid("the transport was already started".into()))?;
        let (shared, cfg, mb) = (self.shared.clone(), self.cfg.clone(), mailbox.clone());
        let name = format!("stele-tcp-{}-accept", self.id);
        let t = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let run = || accept_loop(listener, &shared, &cfg, &mb);
                guarded(&shared, &name, Ends::Unexpectedly, run)
            })?;
        self.threads.push(t);
        self.mailbox = Some(mailbox);
        Ok(())
    }

    fn send(&mut self, msgs: Vec<Message>) {
        let Some(mailbox) = self.mailbox.clone() else {
            return;
        };
        for m in msgs {
            let (to, snapshot) = (m.to, m.get_msg_type() == MessageType::MsgSnapshot);
            let Some(queue) = self.queue(to, &mailbox) else {
                mailbox.report_unreachable(to);
                continue;
            };
            match queue.try_send(m) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    log::debug!(
                        "stele-raft tcp {}: queue to {to} full, message dropped",
                        self.id
                    );
                    if snapshot {
                        mailbox.report_snapshot(to, SnapshotStatus::Failure);
                    }
                }
            }
        }
    }

    fn check(&mut self) -> Result<()> {
        match self.shared.failure() {
            Some(what) => Err(Error::TransportFailed(what)),
            None => Ok(()),
        }
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.queues.clear(); // sender threads see their queue close
        self.shared.shutdown_all();
        // Wake the acceptor with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.local, Duration::from_millis(200));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>, cfg: &Arc<TcpConfig>, mb: &Mailbox) {
    let mut readers: Vec<JoinHandle<()>> = Vec::new();
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let (shared, max, mb) = (shared.clone(), cfg.max_frame, mb.clone());
        let spawned = std::thread::Builder::new()
            .name("stele-tcp-read".into())
            .spawn(move || {
                guarded(&shared.clone(), "stele-tcp-read", Ends::Normally, || {
                    let key = shared.track(&stream);
                    if let Err(e) = read_loop(&stream, max, &mb) {
                        log::debug!("stele-raft tcp: incoming connection closed: {e}");
                    }
                    shared.forget(key);
                })
            });
        match spawned {
            Ok(t) => readers.push(t),
            Err(e) => log::error!("stele-raft tcp: cannot start a reader thread: {e}"),
        }
        readers.retain(|t| !t.is_finished());
    }
    shared.shutdown_all();
    for t in readers {
        let _ = t.join();
    }
}

/// Whether a transport thread's loop may return while the transport runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// It may (a reader: its connection closed).
    Normally,
    /// It must not (the acceptor, a sender): returning before stop is a failure.
    Unexpectedly,
}

/// Runs a transport thread's body `f`, recording in `shared` a panic in it (caught by
/// `quiet_panic`, so the hook prints nothing: the node reports it, once) or, for
/// [`Ends::Unexpectedly`], its return before the transport was stopped.
fn guarded(shared: &Shared, name: &str, ends: Ends, f: impl FnOnce()) {
    match crate::quiet_panic::catch(f) {
        Err(panic) => shared.fail(format!("thread {name} panicked: {panic}")),
        Ok(()) if ends == Ends::Unexpectedly && !shared.stop.load(Ordering::Acquire) => shared
            .fail(format!(
                "thread {name} ended while the transport was running"
            )),
        Ok(()) => {}
    }
}

/// Reads frames from one connection into the mailbox until EOF, an error or the node is gone.
fn read_loop(stream: &TcpStream, max_frame: u32, mb: &Mailbox) -> io::Result<()> {
    let mut r = BufReader::with_capacity(64 << 10, stream);
    read_preamble(&mut r)?;
    while let Some(msg) = read_frame(&mut r, max_frame)? {
        if !mb.step(msg) {
            return Ok(()); // the node is gone
        }
    }
    Ok(())
}

/// Reads and checks the 8-byte magic that starts every incoming connection (see the module
/// docs); `InvalidData` if it is not there.
pub fn read_preamble(r: &mut impl Read) -> io::Result<()> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a stele-raft connection",
        ));
    }
    Ok(())
}

/// Reads one frame (`u32` big-endian length, then an `eraftpb.Message`) from `r`: `Ok(None)` at
/// a clean end of stream before a frame starts; `InvalidData` for a frame longer than
/// `max_frame` or one that does not parse; `UnexpectedEof` for a frame cut short. This is the
/// whole decoding of the incoming side of the transport (the connection's reader thread calls
/// it in a loop), public so it can be tested and fuzzed on bytes.
///
/// Memory follows the bytes that arrive, not the length a peer announces: a frame header
/// claiming 1 GiB followed by nothing costs at most one [`FRAME_CHUNK`], not a 1 GiB buffer.
pub fn read_frame(r: &mut impl Read, max_frame: u32) -> io::Result<Option<Message>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let len = u32::from_be_bytes(len);
    if len > max_frame {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let buf = read_exact_growing(r, len as usize)?;
    // Parse from a shared buffer: the snapshot data in the message is a slice of it, not a
    // copy. (`Bytes` is named through an Entry field: raft does not re-export the crate.)
    let holder = Entry {
        data: buf.into(),
        ..Entry::default()
    };
    let msg = Message::parse_from_carllerche_bytes(&holder.data)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(Some(msg))
}

/// How much of an incoming frame's buffer is reserved ahead of the bytes that fill it.
pub const FRAME_CHUNK: usize = 1 << 20;

/// Reads exactly `len` bytes, reserving room a chunk at a time (doubling from
/// [`FRAME_CHUNK`], never past `len`) as they arrive; `UnexpectedEof` if the stream ends first.
fn read_exact_growing(r: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    while buf.len() < len {
        let want = (len - buf.len()).min(buf.len().max(FRAME_CHUNK));
        buf.reserve_exact(want);
        let got = r.by_ref().take(want as u64).read_to_end(&mut buf)?;
        if got < want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("frame cut short: {} of {len} bytes", buf.len()),
            ));
        }
    }
    Ok(buf)
}
