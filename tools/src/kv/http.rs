//! A small HTTP/1.1 server over `std::net`: one thread per connection, keep-alive.
//!
//! Bounds (a hostile client gets a 4xx and a closed connection, never a crash or an unbounded
//! allocation): at most `max_connections` connections at once (the next is answered 503 and
//! closed), a request head of at most [`MAX_HEAD`] bytes (431), a body of at most
//! [`MAX_BODY`] bytes (413), a declared length only (chunked bodies: 411), and an idle or
//! slow connection is dropped after [`READ_TIMEOUT`] (408 if a request was under way).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 16 << 10;
/// Largest request body.
pub const MAX_BODY: usize = 8 << 20;
/// Time a connection may stay idle, and time a request may take to arrive.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Debug)]
pub struct Request {
    /// The method, as sent.
    pub method: String,
    /// The path, still percent-encoded.
    pub path: String,
    /// The query string (after `?`), if any.
    pub query: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// True if the query has `name=true` (or a bare `name`).
    pub fn flag(&self, name: &str) -> bool {
        self.query
            .split('&')
            .any(|p| p == name || p == format!("{name}=true") || p == format!("{name}=1"))
    }
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The content type.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a text body (a newline is added).
    pub fn text(status: u16, msg: impl Into<String>) -> Response {
        let mut body = msg.into().into_bytes();
        if !body.is_empty() {
            body.push(b'\n');
        }
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
        body.push(b'\n');
        Response {
            status,
            content_type: "application/json",
            body,
        }
    }

    /// A raw byte body.
    pub fn bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: "application/octet-stream",
            body,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes `r`; `keep` says whether the connection stays open.
pub fn write_response(w: &mut impl Write, r: &Response, keep: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        r.status,
        reason(r.status),
        r.body.len(),
        if keep { "keep-alive" } else { "close" }
    );
    if !r.body.is_empty() {
        head.push_str(&format!("Content-Type: {}\r\n", r.content_type));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&r.body);
    w.write_all(&out)?;
    w.flush()
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or went idle) between requests: close quietly.
    Closed,
    /// A malformed or oversized request: answer with this and close.
    Bad(Response),
}

/// One connection's reader: keeps bytes that arrived after a request for the next.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream) -> io::Result<Conn> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// The stream (to write responses).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Reads more bytes; `Ok(false)` on EOF. Gives up (timeout) at `deadline` or when `stop` is
    /// set while no request is under way.
    fn fill(&mut self, deadline: Instant, stop: &AtomicBool, idle: bool) -> io::Result<bool> {
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline || (idle && stop.load(Ordering::Relaxed)) {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the next request; the bool says whether the client wants keep-alive.
    pub fn read_request(&mut self, stop: &AtomicBool) -> Result<(Request, bool), ReadError> {
        let deadline = Instant::now() + READ_TIMEOUT;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(Response::text(
                    431,
                    "request head too large",
                )));
            }
            let idle = self.buf.is_empty();
            match self.fill(deadline, stop, idle) {
                Ok(true) => {}
                Ok(false) if idle => return Err(ReadError::Closed),
                Ok(false) => return Err(ReadError::Bad(Response::text(400, "truncated request"))),
                Err(_) if idle => return Err(ReadError::Closed),
                Err(_) => return Err(ReadError::Bad(Response::text(408, "request too slow"))),
            }
        };
        if head_end > MAX_HEAD {
            return Err(ReadError::Bad(Response::text(
                431,
                "request head too large",
            )));
        }
        let bad = |m: &str| ReadError::Bad(Response::text(400, m));
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| bad("request head is not UTF-8"))?
            .to_string();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or_default();
        let mut parts = line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("malformed request line"));
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad("malformed method"));
        }
        let mut keep = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return Err(bad("unsupported HTTP version")),
        };
        if !target.starts_with('/') {
            return Err(bad("the request target must be a path"));
        }
        let mut length: Option<usize> = None;
        let mut expect_continue = false;
        for h in lines {
            let Some((name, value)) = h.split_once(':') else {
                return Err(bad("malformed header"));
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    let n: u64 = value.parse().map_err(|_| bad("bad Content-Length"))?;
                    if length.is_some_and(|l| l as u64 != n) {
                        return Err(bad("conflicting Content-Length"));
                    }
                    if n > MAX_BODY as u64 {
                        return Err(ReadError::Bad(Response::text(
                            413,
                            format!("body larger than {MAX_BODY} bytes"),
                        )));
                    }
                    length = Some(n as usize);
                }
                "transfer-encoding" => {
                    return Err(ReadError::Bad(Response::text(
                        411,
                        "chunked bodies are not supported: send Content-Length",
                    )))
                }
                "connection" => {
                    let v = value.to_ascii_lowercase();
                    if v.contains("close") {
                        keep = false;
                    } else if v.contains("keep-alive") {
                        keep = true;
                    }
                }
                "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
                _ => {}
            }
        }
        let length = length.unwrap_or(0);
        if expect_continue && length > self.buf.len() {
            let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        while self.buf.len() < length {
            match self.fill(deadline, stop, false) {
                Ok(true) => {}
                Ok(false) => return Err(bad("truncated body")),
                Err(_) => return Err(ReadError::Bad(Response::text(408, "body too slow"))),
            }
        }
        let body: Vec<u8> = self.buf.drain(..length).collect();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.to_string(), String::new()),
        };
        let req = Request {
            method: method.to_string(),
            path,
            query,
            body,
        };
        Ok((req, keep))
    }
}

/// Decodes `%XX` escapes; `None` if one is malformed.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The request handler.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Serves `listener` until `stop` is set; returns once no new connection is accepted (open
/// connections end after their current request).
pub fn serve(
    listener: TcpListener,
    handler: Handler,
    max_connections: usize,
    stop: Arc<AtomicBool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if open.load(Ordering::Acquire) >= max_connections {
            let mut s = stream;
            let _ = s.set_nonblocking(false);
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let r = Response::text(503, "too many connections");
            let _ = write_response(&mut s, &r, false);
            let _ = s.shutdown(Shutdown::Both);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let (h, o, st) = (handler.clone(), open.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("stele-kv-http".into())
            .spawn(move || {
                connection(stream, &h, &st);
                o.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn connection(stream: TcpStream, handler: &Handler, stop: &AtomicBool) {
    let Ok(mut conn) = Conn::new(stream) else {
        return;
    };
    loop {
        match conn.read_request(stop) {
            Ok((req, keep)) => {
                let resp = handler(&req);
                let keep = keep && !stop.load(Ordering::Relaxed);
                if write_response(conn.stream(), &resp, keep).is_err() || !keep {
                    break;
                }
            }
            Err(ReadError::Closed) => break,
            Err(ReadError::Bad(resp)) => {
                let _ = write_response(conn.stream(), &resp, false);
                linger(conn.stream());
                break;
            }
        }
    }
    let _ = conn.stream().shutdown(Shutdown::Both);
}

/// Closes gently after an error answer: stops writing, then discards what the client still
/// sends (bounded in bytes and time), so that closing with unread data does not reset the
/// connection before the client has read the answer.
fn linger(s: &mut TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut buf = [0u8; 16 << 10];
    let mut left = 4usize << 20;
    while left > 0 && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
