//! The HTTP event loop (`stele_tools::kv::server::serve`) on its own, over loopback sockets,
//! with test handlers (no stele-kv, no raft). It shows that:
//! - answers made later on other threads arrive, and 32 concurrent keep-alive connections
//!   doing 50 requests each all get exactly their own answers;
//! - pipelined requests reach the handler one at a time and are answered in order, even when
//!   the handler would answer a later one first;
//! - a dropped responder answers 500; a responder kept without answering gets the loop's own
//!   503 ("outcome unknown") after the request timeout plus `ANSWER_GRACE`, and its late
//!   answer goes nowhere (not to the next request, on another connection);
//! - a connection over `max_connections` is answered 503 and closed;
//! - malformed or oversized requests get their 4xx without reaching the handler, and the
//!   client reads the whole answer then EOF (no reset), even while it is still sending;
//! - `Expect: 100-continue` gets `100 Continue` before the body is sent;
//! - on stop, idle connections close at once, the request under way still gets its late
//!   answer (with `Connection: close`), no further request is served, and `serve` returns Ok;
//! - a head of `MAX_HEAD` bytes is served however its end arrives;
//! - a request still unanswered when the stop grace ends gets 503 before `serve` returns.
//!
//! Every wait is bounded: socket timeouts, and threads awaited through a channel with a
//! deadline. Sleeps only set up timing scenarios.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use stele_tools::kv::http::{Request, Response, MAX_BODY, MAX_HEAD};
use stele_tools::kv::server::{serve, Responder, ServerOptions, ANSWER_GRACE, STOP_GRACE};

/// The bound of one socket read or write, and of a hand-over from a handler.
const IO_WAIT: Duration = Duration::from_secs(10);
/// The request timeout of the tests that do not test it.
const LONG: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A thread whose result is awaited with a deadline (a panic in it is passed on).
struct Task<T>(Receiver<T>, JoinHandle<()>);

fn task<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Task<T> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    Task(rx, handle)
}

impl<T> Task<T> {
    fn wait(self, within: Duration) -> T {
        let r = self.0.recv_timeout(within);
        if let Err(RecvTimeoutError::Timeout) = r {
            panic!("no result within {within:?}");
        }
        match self.1.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => r.expect("a result"),
        }
    }
}

/// `serve` running on its own thread; told to stop (not awaited) when dropped.
struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    task: Option<Task<io::Result<()>>>,
}

fn start(
    max_connections: usize,
    request_timeout: Duration,
    handler: impl Fn(Request, Responder) + Send + Sync + 'static,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local address");
    let stop = Arc::new(AtomicBool::new(false));
    let opts = ServerOptions {
        max_connections,
        request_timeout,
    };
    let (handler, flag) = (Arc::new(handler), stop.clone());
    let task = Some(task(move || serve(listener, handler, opts, flag)));
    Running { addr, stop, task }
}

impl Running {
    /// Sets the stop flag (if not yet); `serve` must return Ok within [`STOP_GRACE`] + 1 s.
    fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let task = self.task.take().expect("running");
        let within = STOP_GRACE + Duration::from_secs(1);
        task.wait(within).expect("serve returned an error");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A response as the client saw it: status, `Connection: close` (else keep-alive), body.
#[derive(Debug, PartialEq)]
struct Resp(u16, bool, String);

/// 200 with `body`, keep-alive.
fn ok(body: &str) -> Resp {
    Resp(200, false, body.into())
}

/// Reads one response: status line, headers (Content-Length and Connection required), body.
fn read_resp(r: &mut impl BufRead) -> io::Result<Resp> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match line.trim_end() {
            "" => break,
            l => head.push(l.to_string()),
        }
    }
    let status = head.first().and_then(|l| l.strip_prefix("HTTP/1.1 "));
    let status = status.and_then(|s| s.get(..3)?.parse().ok());
    let header = |name: &str| {
        head.iter().skip(1).find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let len = header("content-length").and_then(|v| v.parse().ok());
    let close = header("connection").map(|v| v == "close");
    let (Some(status), Some(len), Some(close)) = (status, len, close) else {
        let e = format!("bad head {head:?}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    };
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Resp(status, close, String::from_utf8_lossy(&body).into()))
}

/// `bytes` is exactly one whole response.
fn whole(bytes: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(bytes);
    let mut rest = bytes;
    let r = read_resp(&mut rest).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert!(rest.is_empty(), "bytes after the response: {text:?}");
    r
}

/// A client connection (every read and write bounded by [`IO_WAIT`]).
struct Client(BufReader<TcpStream>);

impl Client {
    fn open(addr: SocketAddr) -> Client {
        let s = TcpStream::connect_timeout(&addr, IO_WAIT).expect("connect");
        s.set_read_timeout(Some(IO_WAIT)).unwrap();
        s.set_write_timeout(Some(IO_WAIT)).unwrap();
        s.set_nodelay(true).unwrap();
        Client(BufReader::new(s))
    }

    fn send(&mut self, bytes: &[u8]) {
        self.0.get_mut().write_all(bytes).expect("write");
    }

    fn read(&mut self) -> Resp {
        read_resp(&mut self.0).expect("read a response")
    }

    fn get(&mut self, path: &str) -> Resp {
        self.send(get(path).as_bytes());
        self.read()
    }

    /// Everything until the server closes; panics on a reset or a timeout.
    fn rest(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = self.0.read_to_end(&mut out) {
            panic!("{e} before EOF, after {:?}", String::from_utf8_lossy(&out));
        }
        out
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// A GET of /h whose head (all before its final CRLF CRLF) is `n` bytes long.
fn head_of(n: usize) -> String {
    let prefix = "GET /h HTTP/1.1\r\nX-Pad: ";
    format!("{prefix}{}\r\n\r\n", "p".repeat(n - prefix.len()))
}

/// The test handlers' answer: the path as the body.
fn echo(req: &Request) -> Response {
    Response::bytes(200, req.path.as_bytes().to_vec())
}

#[test]
fn late_answers_from_other_threads_reach_their_own_requests() {
    let server = start(64, LONG, |req, resp| {
        let pause = ms(req.path.bytes().map(u64::from).sum::<u64>() % 5);
        thread::spawn(move || {
            thread::sleep(pause);
            resp.send(echo(&req));
        });
    });
    let (addr, all_open) = (server.addr, Arc::new(Barrier::new(32)));
    let clients: Vec<Task<()>> = (0..32)
        .map(|i| {
            let all_open = all_open.clone();
            task(move || {
                let mut c = Client::open(addr);
                all_open.wait();
                for j in 0..50 {
                    let path = format!("/c{i}/r{j}");
                    assert_eq!(c.get(&path), ok(&path));
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for c in clients {
        c.wait(deadline.saturating_duration_since(Instant::now()));
    }
    server.finish();
}

#[test]
fn pipelined_requests_are_handled_one_at_a_time_and_answered_in_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let server = start(8, LONG, move |req, resp| {
        l.lock().unwrap().push(format!("in {}", req.path));
        let (l, slow) = (l.clone(), req.path.starts_with("/slow"));
        thread::spawn(move || {
            thread::sleep(ms(150 * u64::from(slow))); // /slow after 150 ms, the others at once
            l.lock().unwrap().push(format!("out {}", req.path));
            resp.send(echo(&req));
        });
    });
    let paths = ["/slow/1", "/fast/2", "/slow/3", "/fast/4", "/fast/5"];
    let mut bytes: String = paths[..4].iter().map(|p| get(p)).collect();
    bytes.push_str("GET /fast/5 HTTP/1.1\r\nConnection: close\r\n\r\n");
    let mut c = Client::open(server.addr);
    c.send(bytes.as_bytes());
    for p in &paths[..4] {
        assert_eq!(c.read(), ok(p));
    }
    assert_eq!(c.read(), Resp(200, true, "/fast/5".into()));
    assert_eq!(c.rest(), b"", "closed after the request asking for it");
    // Each request reached the handler only once the one before it was answered.
    let expected: Vec<String> = paths
        .iter()
        .flat_map(|p| [format!("in {p}"), format!("out {p}")])
        .collect();
    assert_eq!(*log.lock().unwrap(), expected);
    server.finish();
}

#[test]
fn a_dropped_responder_answers_500() {
    let server = start(8, LONG, |req, resp| {
        if req.path == "/other-thread" {
            thread::spawn(move || drop(resp));
        } else {
            drop(resp);
        }
    });
    let mut c = Client::open(server.addr);
    for p in ["/here", "/other-thread", "/here"] {
        let r = c.get(p);
        assert_eq!((r.0, r.1), (500, false), "{p}: {r:?}");
        assert!(r.2.contains("without an answer"), "{p}: {r:?}");
    }
    server.finish();
}

#[test]
fn an_unanswered_request_gets_the_loops_503_and_its_late_answer_is_dropped() {
    let timeout = ms(200);
    let (tx, held) = mpsc::channel::<(String, Responder)>();
    let tx = Mutex::new(tx);
    let server = start(8, timeout, move |req, resp| {
        if req.path.starts_with("/hang") {
            tx.lock().unwrap().send((req.path, resp)).unwrap();
        } else {
            resp.send(echo(&req));
        }
    });
    let mut c = Client::open(server.addr);
    let sent = Instant::now();
    c.send(get("/hang/1").as_bytes());
    let (path, late) = held.recv_timeout(IO_WAIT).expect("the handler got it");
    assert_eq!(path, "/hang/1");
    let r = c.read();
    let took = sent.elapsed();
    assert_eq!((r.0, r.1), (503, true), "{r:?}");
    assert!(r.2.contains("outcome is unknown"), "{r:?}");
    let due = timeout + ANSWER_GRACE;
    assert!(took >= due && took < due + ms(1000), "503 after {took:?}");
    assert_eq!(c.rest(), b"", "nothing after the 503");

    // The late answer must not reach the request now under way on another connection.
    let mut c2 = Client::open(server.addr);
    c2.send(get("/hang/2").as_bytes());
    let (path, on_time) = held.recv_timeout(IO_WAIT).expect("the handler got it");
    assert_eq!(path, "/hang/2");
    late.send(Response::bytes(200, b"late".to_vec()));
    on_time.send(Response::bytes(200, b"on time".to_vec()));
    assert_eq!(c2.read(), ok("on time"));
    assert_eq!(c2.get("/next"), ok("/next"));
    server.finish();
}

#[test]
fn a_connection_over_the_limit_gets_503_and_is_closed() {
    let server = start(2, LONG, |req, resp| resp.send(echo(&req)));
    let mut a = Client::open(server.addr);
    let mut b = Client::open(server.addr);
    assert_eq!(a.get("/a"), ok("/a"));
    assert_eq!(b.get("/b"), ok("/b"));
    let over_limit = |r: Resp| {
        assert_eq!((r.0, r.1), (503, true), "{r:?}");
        assert!(r.2.contains("too many connections"), "{r:?}");
    };
    // One that only listens, and one that sends its request first.
    over_limit(whole(&Client::open(server.addr).rest()));
    let mut c = Client::open(server.addr);
    c.send(get("/c").as_bytes());
    over_limit(whole(&c.rest()));
    // The two admitted ones are still served.
    assert_eq!(a.get("/a2"), ok("/a2"));
    assert_eq!(b.get("/b2"), ok("/b2"));
    // Once one closes, a new connection is admitted (as soon as the loop has seen the close).
    drop(a);
    let deadline = Instant::now() + IO_WAIT;
    loop {
        let r = Client::open(server.addr).get("/d");
        if r.0 != 503 {
            assert_eq!(r, ok("/d"));
            break;
        }
        assert!(Instant::now() < deadline, "no connection admitted");
        thread::sleep(ms(10));
    }
    server.finish();
}

#[test]
fn malformed_requests_get_4xx_then_a_clean_close() {
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let server = start(8, LONG, move |req, resp| {
        n.fetch_add(1, Ordering::SeqCst);
        resp.send(echo(&req));
    });
    // The largest head is served (in one write), one byte more is refused.
    let mut c = Client::open(server.addr);
    c.send(head_of(MAX_HEAD).as_bytes());
    assert_eq!(c.read(), ok("/h"));
    // Too large, and the body still coming while the server answers.
    let mut huge_body = format!("PUT / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
    huge_body.push_str(&"b".repeat(256 << 10));
    let chunked = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let cases: [(&str, String, u16); 5] = [
        ("garbage", "GARBAGE\r\n\r\n".into(), 400),
        ("bad version", "GET / HTTP/2.0\r\n\r\nmore".into(), 400),
        ("huge head", head_of(MAX_HEAD + 1), 431),
        ("huge body", huge_body, 413),
        ("chunked", chunked.into(), 411),
    ];
    for (what, bytes, status) in cases {
        let mut c = Client::open(server.addr);
        c.send(bytes.as_bytes());
        let r = whole(&c.rest());
        assert_eq!((r.0, r.1), (status, true), "{what}: {r:?}");
        assert!(!r.2.is_empty(), "{what}: no message");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a bad request was handled");
    // A bad request after a good one on a keep-alive connection: the good one is answered.
    let mut c = Client::open(server.addr);
    c.send(format!("{}GARBAGE\r\n\r\n", get("/good")).as_bytes());
    assert_eq!(c.read(), ok("/good"));
    assert_eq!(whole(&c.rest()).0, 400);
    server.finish();
}

#[test]
fn expect_100_continue_gets_continue_before_the_body() {
    let server = start(8, LONG, |req, resp| {
        resp.send(Response::bytes(200, req.body))
    });
    let mut c = Client::open(server.addr);
    for body in ["hello world", "again"] {
        let head = format!(
            "PUT /k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        c.send(head.as_bytes());
        let mut interim = [0u8; 25];
        c.0.read_exact(&mut interim).expect("100 Continue");
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        c.send(body.as_bytes());
        assert_eq!(c.read(), ok(body));
    }
    server.finish();
}

#[test]
fn stop_closes_idle_connections_and_still_delivers_the_answer_under_way() {
    let (tx, slow) = mpsc::channel::<Responder>();
    let tx = Mutex::new(tx);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let server = start(8, LONG, move |req, resp| {
        s.lock().unwrap().push(req.path.clone());
        if req.path == "/slow" {
            tx.lock().unwrap().send(resp).unwrap();
        } else {
            resp.send(echo(&req));
        }
    });
    let mut idle = Client::open(server.addr);
    assert_eq!(idle.get("/ok"), ok("/ok"));
    let mut busy = Client::open(server.addr);
    busy.send(format!("{}{}", get("/slow"), get("/after")).as_bytes());
    let answer = slow.recv_timeout(IO_WAIT).expect("the handler got /slow");

    let stopped = Instant::now();
    server.stop.store(true, Ordering::SeqCst);
    assert_eq!(idle.rest(), b"", "an idle connection is closed at stop");
    thread::sleep(ms(300).saturating_sub(stopped.elapsed()));
    answer.send(Response::bytes(200, b"/slow".to_vec()));
    assert_eq!(busy.read(), Resp(200, true, "/slow".into()));
    assert_eq!(busy.rest(), b"", "no request served after stop");
    server.finish();
    assert_eq!(*seen.lock().unwrap(), ["/ok", "/slow"]);
}

/// Found by this file: `parse` refused a buffer longer than MAX_HEAD without a whole
/// terminator, so a legal head whose CRLF CRLF arrived in two reads got 431.
#[test]
fn a_head_of_max_head_bytes_is_served_however_its_end_arrives() {
    let server = start(4, LONG, |req, resp| resp.send(echo(&req)));
    // (head length, bytes of the final CRLF CRLF sent before a pause)
    let splits = [
        (MAX_HEAD, 1),
        (MAX_HEAD, 2),
        (MAX_HEAD, 3),
        (MAX_HEAD - 1, 3),
    ];
    for (n, with) in splits {
        let all = head_of(n).into_bytes();
        let mut c = Client::open(server.addr);
        c.send(&all[..n + with]);
        thread::sleep(ms(100)); // lets the server read the first part on its own
        c.send(&all[n + with..]);
        assert_eq!(c.read(), ok("/h"), "head of {n} bytes, split after {with}");
    }
    server.finish();
}

/// A request still without an answer when the stop grace ends is answered 503 (outcome
/// unknown) before `serve` returns: every request is answered exactly once.
#[test]
fn a_request_unanswered_at_the_end_of_stop_gets_503() {
    let kept = Arc::new(Mutex::new(Vec::<Responder>::new()));
    let k = kept.clone();
    let server = start(4, LONG, move |_req, resp| k.lock().unwrap().push(resp));
    let mut c = Client::open(server.addr);
    c.send(get("/never").as_bytes());
    let deadline = Instant::now() + IO_WAIT;
    while kept.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the handler got the request");
        thread::sleep(ms(1));
    }
    let stopped = Instant::now();
    server.finish();
    assert!(stopped.elapsed() >= STOP_GRACE, "the grace was given");
    let r = c.read();
    assert_eq!((r.0, r.1), (503, true), "{r:?}");
    assert!(r.2.contains("outcome of this request is unknown"), "{r:?}");
    drop(kept);
}
