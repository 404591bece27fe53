//! The HTTP event loop: one thread serves every connection (mio), so a request costs no
//! thread wake-up of its own. Requests are read and parsed as they arrive and handed to the
//! handler with a [`Responder`]; answers, from whatever thread makes them, come back through
//! one queue and one waker, however many complete at once.
//!
//! Invariants:
//! - a connection serves one request at a time, in order (pipelined requests wait in its
//!   buffer); each request is answered exactly once: by its responder, or by the loop with 503
//!   when no answer came within the request timeout plus [`ANSWER_GRACE`] (a late answer is then
//!   dropped);
//! - at most `max_connections` connections (the next is answered 503 and closed); the input
//!   buffered per connection is bounded by one request's limits (`http::MAX_HEAD`,
//!   `http::MAX_BODY`) plus one read;
//! - an idle or slow connection is closed after [`READ_TIMEOUT`] (408 if a request was under
//!   way); so is a client that stops reading its answers;
//! - a connection closed after an answer first stops writing, then discards what the client
//!   still sends (at most [`LINGER`]), so the client reads the answer rather than a reset;
//! - on stop: no new connections or requests; requests under way get up to [`STOP_GRACE`] to
//!   be answered (then 503, outcome unknown), then the loop returns.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::http::{
    encode_response, parse, Parsed, Request, Response, MAX_BODY, MAX_HEAD, READ_TIMEOUT,
};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// The loop looks at timeouts and the stop flag at least this often.
const TICK: Duration = Duration::from_millis(50);
/// Time past the request timeout before the loop answers 503 itself (the handler normally
/// answers first, with a message of its own).
pub const ANSWER_GRACE: Duration = Duration::from_secs(1);
/// How long requests under way may take to be answered after stop.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long a closing connection discards input before it is dropped.
pub const LINGER: Duration = Duration::from_millis(500);
/// Input buffered per connection at most: one whole request, plus one read.
const INPUT_LIMIT: usize = MAX_HEAD + 4 + MAX_BODY + READ_BUF;
const READ_BUF: usize = 16 << 10;

/// Handles requests: answers each through its responder, at once or later, from any thread.
pub type Handler = Arc<dyn Fn(Request, Responder) + Send + Sync>;

/// Options of [`serve`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Connections open at once.
    pub max_connections: usize,
    /// The longest a handler may take to answer (the loop answers 503 after this plus
    /// [`ANSWER_GRACE`]).
    pub request_timeout: Duration,
}

/// Answers made by any thread, waiting for the loop.
struct Completions {
    done: Mutex<Vec<(usize, u64, Response)>>,
    waker: Waker,
}

impl Completions {
    fn push(&self, conn: usize, seq: u64, r: Response) {
        let first = {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            done.push((conn, seq, r));
            done.len() == 1
        };
        // The loop takes everything queued after a wake: only the first answer of a batch
        // needs to wake it.
        if first {
            let _ = self.waker.wake();
        }
    }

    fn take(&self) -> Vec<(usize, u64, Response)> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The one answer to one request; dropped without answering, it answers 500.
pub struct Responder {
    conn: usize,
    seq: u64,
    queue: Option<Arc<Completions>>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Responder({}, {})", self.conn, self.seq)
    }
}

impl Responder {
    /// Answers the request.
    pub fn send(mut self, r: Response) {
        if let Some(q) = self.queue.take() {
            q.push(self.conn, self.seq, r);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(q) = self.queue.take() {
            let r = Response::text(500, "the request was dropped without an answer");
            q.push(self.conn, self.seq, r);
        }
    }
}

/// What happens once the output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Serve the next request.
    KeepOpen,
    /// Stop writing, discard input until the client closes or [`LINGER`] passes.
    Close,
}

struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    /// The request being served: its number and the time the loop answers it itself.
    busy: Option<(u64, Instant)>,
    next_seq: u64,
    /// The request being served wants keep-alive.
    keep: bool,
    after: After,
    continue_sent: bool,
    /// Reading stopped at [`INPUT_LIMIT`]; resumes once a request is taken out.
    paused: bool,
    /// The client closed its side (or the socket failed).
    eof: bool,
    /// Closing: input is discarded until this time.
    linger_until: Option<Instant>,
    /// Last bytes in or out (idle and stalled-writer timeouts).
    last_io: Instant,
    /// When the first bytes of the request now arriving came.
    partial_since: Option<Instant>,
}

impl Conn {
    fn new(stream: TcpStream, now: Instant) -> Conn {
        Conn {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            busy: None,
            next_seq: 1,
            keep: true,
            after: After::KeepOpen,
            continue_sent: false,
            paused: false,
            eof: false,
            linger_until: None,
            last_io: now,
            partial_since: None,
        }
    }

    fn writing(&self) -> bool {
        self.written < self.output.len()
    }

    /// Reads what the socket has (up to the input limit; discarded while lingering).
    fn read_input(&mut self, now: Instant) {
        let mut buf = [0u8; READ_BUF];
        self.paused = false;
        while !self.eof {
            if self.linger_until.is_none() && self.input.len() + READ_BUF > INPUT_LIMIT {
                self.paused = true;
                return;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.last_io = now;
                    if self.linger_until.is_none() {
                        self.input.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.eof = true,
            }
        }
    }

    /// Writes what the socket takes; false if the connection broke.
    fn flush(&mut self, now: Instant) -> bool {
        while self.writing() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.written += n;
                    self.last_io = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.output.clear();
        self.written = 0;
        true
    }

    /// Queues an answer; `keep`: the connection stays open for the next request.
    fn answer(&mut self, r: &Response, keep: bool) {
        encode_response(&mut self.output, r, keep);
        if !keep {
            self.after = After::Close;
        }
    }
}

/// What the loop shares with its connections.
struct Ctx {
    handler: Handler,
    queue: Arc<Completions>,
    opts: ServerOptions,
    stopping: bool,
}

/// Serves `listener` with `handler` until `stop` is set (then see the module docs).
pub fn serve(
    listener: std::net::TcpListener,
    handler: Handler,
    opts: ServerOptions,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let ctx = Ctx {
        handler,
        queue: Arc::new(Completions {
            done: Mutex::new(Vec::new()),
            waker,
        }),
        opts,
        stopping: false,
    };
    let mut server = Server {
        poll,
        listener,
        conns: HashMap::new(),
        next_id: 2,
        ctx,
    };
    server.run(&stop)
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: HashMap<usize, Conn>,
    next_id: usize,
    ctx: Ctx,
}

impl Server {
    fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_sweep = Instant::now() + TICK;
        let mut stop_by = None;
        loop {
            match self.poll.poll(&mut events, Some(TICK)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    Token(id) => {
                        let Some(c) = self.conns.get_mut(&id) else {
                            continue;
                        };
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            c.read_input(now);
                        }
                        self.drive(id, now);
                    }
                }
            }
            self.deliver(now);
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + TICK;
            }
            if stop_by.is_none() && stop.load(Ordering::Relaxed) {
                stop_by = Some(now + STOP_GRACE);
                self.begin_stop(now);
            }
            if stop_by.is_some_and(|t| self.conns.is_empty() || now >= t) {
                self.answer_unanswered(now);
                return Ok(());
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let mut s = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors and the like: try again on the next event.
                Err(_) => return,
            };
            if self.ctx.stopping || self.conns.len() >= self.ctx.opts.max_connections {
                let mut out = Vec::new();
                encode_response(
                    &mut out,
                    &Response::text(503, "too many connections"),
                    false,
                );
                let _ = s.write(&out);
                let _ = s.shutdown(Shutdown::Both);
                continue;
            }
            let _ = s.set_nodelay(true);
            let id = self.next_id;
            self.next_id += 1;
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .poll
                .registry()
                .register(&mut s, Token(id), interest)
                .is_ok()
            {
                self.conns.insert(id, Conn::new(s, now));
            }
        }
    }

    /// Takes the answers made since the last wake and drives their connections.
    fn deliver(&mut self, now: Instant) {
        for (id, seq, r) in self.ctx.queue.take() {
            let Some(c) = self.conns.get_mut(&id) else {
                continue; // closed meanwhile
            };
            if c.busy.is_none_or(|(s, _)| s != seq) {
                continue; // answered by the loop already (timeout)
            }
            c.busy = None;
            if !c.input.is_empty() {
                c.partial_since = Some(now); // the next request's time starts now
            }
            // A client that closed its side after sending still gets every answer it asked
            // for (pipelined requests included); the connection closes when none are left.
            let keep = c.keep && !self.ctx.stopping;
            c.answer(&r, keep);
            self.drive(id, now);
        }
    }

    /// Moves connection `id` on: the next request if it is idle, then its output; closes it
    /// when it is done.
    fn drive(&mut self, id: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.linger_until.is_none() && c.busy.is_none() && c.after == After::KeepOpen {
            take_request(c, id, &self.ctx, now);
        }
        let ok = c.flush(now);
        let done = ok && !c.writing();
        let close = if !ok {
            true
        } else if c.linger_until.is_some() {
            c.eof
        } else if done && c.after == After::Close && c.busy.is_none() {
            // Stop writing; discard what the client still sends until it closes.
            let _ = c.stream.shutdown(Shutdown::Write);
            c.linger_until = Some(now + LINGER);
            c.read_input(now);
            c.eof
        } else {
            // An idle connection whose client went away.
            c.eof && c.busy.is_none() && done && c.input.is_empty()
        };
        if close {
            self.close(id);
        }
    }

    fn close(&mut self, id: usize) {
        if let Some(mut c) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Timeouts: requests without an answer, slow or idle clients, lingering closes.
    fn sweep(&mut self, now: Instant) {
        let mut touched = Vec::new();
        let mut dead = Vec::new();
        for (&id, c) in &mut self.conns {
            if let Some((_, by)) = c.busy {
                if now >= by {
                    c.busy = None;
                    let r = Response::text(
                        503,
                        "no answer within the request timeout; the outcome is unknown",
                    );
                    c.answer(&r, false);
                    touched.push(id);
                }
            } else if c.linger_until.is_some_and(|t| now >= t) {
                dead.push(id);
            } else if c.writing() && now >= c.last_io + READ_TIMEOUT {
                dead.push(id); // the client stopped reading
            } else if c.partial_since.is_some_and(|t| now >= t + READ_TIMEOUT) {
                c.partial_since = None;
                c.input.clear();
                c.answer(&Response::text(408, "request too slow"), false);
                touched.push(id);
            } else if c.input.is_empty() && !c.writing() && now >= c.last_io + READ_TIMEOUT {
                dead.push(id); // idle
            }
        }
        for id in dead {
            self.close(id);
        }
        for id in touched {
            self.drive(id, now);
        }
    }

    /// The loop is returning: requests still without an answer get 503 (best effort: one
    /// write attempt each).
    fn answer_unanswered(&mut self, now: Instant) {
        for c in self.conns.values_mut() {
            if c.busy.take().is_some() {
                let r = Response::text(
                    503,
                    "the node is stopping; the outcome of this request is unknown",
                );
                c.answer(&r, false);
                c.flush(now);
            }
        }
    }

    /// Stop: no new connections; idle connections close now, busy ones after their answer.
    fn begin_stop(&mut self, now: Instant) {
        self.ctx.stopping = true;
        let _ = self.poll.registry().deregister(&mut self.listener);
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.busy.is_none() && !c.writing() && c.linger_until.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in idle {
            self.close(id);
        }
        for c in self.conns.values_mut() {
            c.after = After::Close;
        }
        let ids: Vec<usize> = self.conns.keys().copied().collect();
        for id in ids {
            self.drive(id, now);
        }
    }
}

/// Parses the next request of an idle connection and hands it to the handler; answers a bad
/// one with its error and closes.
fn take_request(c: &mut Conn, id: usize, ctx: &Ctx, now: Instant) {
    if ctx.stopping {
        return;
    }
    match parse(&c.input) {
        Ok(Parsed::Complete(req, keep, used)) => {
            c.input.drain(..used);
            c.partial_since = (!c.input.is_empty()).then_some(now);
            c.continue_sent = false;
            let seq = c.next_seq;
            c.next_seq += 1;
            c.busy = Some((seq, now + ctx.opts.request_timeout + ANSWER_GRACE));
            c.keep = keep;
            if c.paused {
                c.read_input(now);
            }
            let done = Responder {
                conn: id,
                seq,
                queue: Some(ctx.queue.clone()),
            };
            (ctx.handler)(req, done);
        }
        Ok(Parsed::Partial { expect_continue }) => {
            if c.input.is_empty() {
                c.partial_since = None;
                return;
            }
            c.partial_since.get_or_insert(now);
            if c.eof {
                c.input.clear();
                c.answer(&Response::text(400, "truncated request"), false);
            } else if expect_continue && !c.continue_sent {
                c.output.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                c.continue_sent = true;
            }
        }
        Err(r) => {
            c.input.clear();
            c.answer(&r, false);
        }
    }
}
