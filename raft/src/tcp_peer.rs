//! The sender thread of one peer of a [`TcpTransport`](crate::TcpTransport): one persistent
//! connection, reconnect with exponential backoff, and the delivery reports (see the invariants
//! in the `tcp` module).

use std::io::{self, BufWriter, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protobuf::{CodedOutputStream, Message as _};
use raft::eraftpb::{Message, MessageType};
use raft::SnapshotStatus;

use crate::tcp_shared::{PeerBook, Shared, TcpConfig, MAGIC};
use crate::transport::Mailbox;

/// Messages written back to back before one flush.
const MAX_BATCH: usize = 256;

struct Conn {
    w: BufWriter<TcpStream>,
    key: Option<u64>,
}

pub(crate) struct PeerSender {
    pub from: u64,
    pub to: u64,
    pub peers: PeerBook,
    pub cfg: Arc<TcpConfig>,
    pub mailbox: Mailbox,
    pub shared: Arc<Shared>,
}

impl PeerSender {
    /// Runs until the queue closes (the transport stops).
    pub fn run(self, rx: Receiver<Message>) {
        let mut conn: Option<Conn> = None;
        let mut backoff = self.cfg.backoff_min;
        let mut retry_at: Option<Instant> = None;
        while let Ok(first) = rx.recv() {
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(MAX_BATCH - 1));
            batch.retain(|m| self.fits(m));
            if conn.is_none() {
                if retry_at.is_some_and(|t| Instant::now() < t) {
                    self.dropped(&batch); // backing off: already reported unreachable
                    continue;
                }
                match self.connect() {
                    Ok(c) => {
                        conn = Some(c);
                        backoff = self.cfg.backoff_min;
                        retry_at = None;
                    }
                    Err(e) => {
                        log::debug!("stele-raft tcp {}: connect to {}: {e}", self.from, self.to);
                        retry_at = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(self.cfg.backoff_max);
                        self.mailbox.report_unreachable(self.to);
                        self.dropped(&batch);
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected");
            match self.write_batch(&mut c.w, &batch) {
                Ok(()) => {
                    for m in batch.iter().filter(|m| is_snapshot(m)) {
                        self.mailbox.report_snapshot(m.to, SnapshotStatus::Finish);
                    }
                }
                Err(e) => {
                    log::debug!("stele-raft tcp {}: write to {}: {e}", self.from, self.to);
                    if let Some(c) = conn.take() {
                        self.shared.forget(c.key);
                    }
                    // Reconnect at once on the next message (the peer may have restarted);
                    // if that fails, the backoff starts.
                    self.mailbox.report_unreachable(self.to);
                    self.dropped(&batch);
                }
            }
        }
        if let Some(c) = conn {
            self.shared.forget(c.key);
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        let addr = self.peers.get(self.to).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no address for peer {}", self.to),
            )
        })?;
        let s = TcpStream::connect_timeout(&addr, self.cfg.connect_timeout)?;
        s.set_nodelay(true)?;
        s.set_write_timeout(Some(self.cfg.write_timeout.max(Duration::from_millis(1))))?;
        let key = self.shared.track(&s);
        let mut w = BufWriter::with_capacity(64 << 10, s);
        w.write_all(MAGIC)?;
        Ok(Conn { w, key })
    }

    fn write_batch(&self, w: &mut BufWriter<TcpStream>, batch: &[Message]) -> io::Result<()> {
        for m in batch {
            let size = m.compute_size();
            w.write_all(&size.to_be_bytes())?;
            // Streams the message with the sizes just computed: large byte fields (snapshot
            // data) go straight from the message to the socket.
            let mut os = CodedOutputStream::new(w);
            m.write_to_with_cached_sizes(&mut os)
                .map_err(io::Error::other)?;
            os.flush().map_err(io::Error::other)?;
        }
        w.flush()
    }

    /// False (and the message is dropped) if the message is larger than a frame may be.
    fn fits(&self, m: &Message) -> bool {
        let size = m.compute_size();
        if size <= self.cfg.max_frame {
            return true;
        }
        log::warn!(
            "stele-raft tcp {}: a {size}-byte message to {} is too large",
            self.from,
            self.to
        );
        if is_snapshot(m) {
            self.mailbox.report_snapshot(m.to, SnapshotStatus::Failure);
        }
        false
    }

    /// Reports the snapshots in a batch that will not be sent.
    fn dropped(&self, batch: &[Message]) {
        for m in batch.iter().filter(|m| is_snapshot(m)) {
            self.mailbox.report_snapshot(m.to, SnapshotStatus::Failure);
        }
    }
}

fn is_snapshot(m: &Message) -> bool {
    m.get_msg_type() == MessageType::MsgSnapshot
}
