//! HTTP/1.1 messages: requests parsed from the bytes a connection received, responses
//! encoded for it. The event loop that moves the bytes is in `server`.
//!
//! Bounds (a hostile client gets a 4xx and a closed connection, never a crash or an unbounded
//! allocation): a request head of at most [`MAX_HEAD`] bytes (431), a body of at most
//! [`MAX_BODY`] bytes (413), a declared length only (chunked bodies: 411); a body is copied
//! out only once all of it has arrived.

use std::time::Duration;

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

/// Appends `r` to `out` as an HTTP/1.1 response; `keep` says whether the connection stays
/// open.
pub fn encode_response(out: &mut Vec<u8>, r: &Response, keep: bool) {
    use std::io::Write as _;
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        r.status,
        reason(r.status),
        r.body.len(),
        if keep { "keep-alive" } else { "close" }
    );
    if !r.body.is_empty() {
        let _ = write!(out, "Content-Type: {}\r\n", r.content_type);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
}

/// What the bytes received so far on a connection hold.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole request yet; `expect_continue`: its head asks for `100 Continue` before the
    /// body is sent.
    Partial {
        /// The client waits for `100 Continue`.
        expect_continue: bool,
    },
    /// A whole request, whether the client wants keep-alive, and the bytes it took.
    Complete(Request, bool, usize),
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the request at the start of `buf`: a malformed or oversized one is an error answer
/// (the connection is then closed).
pub fn parse(buf: &[u8]) -> Result<Parsed, Response> {
    // A head of at most MAX_HEAD bytes ends within the first MAX_HEAD + 4 (its terminator
    // included): not found there, the head is too large, however the bytes were split.
    let Some(head_end) = find(&buf[..buf.len().min(MAX_HEAD + 4)], b"\r\n\r\n") else {
        if buf.len() >= MAX_HEAD + 4 {
            return Err(Response::text(431, "request head too large"));
        }
        return Ok(Parsed::Partial {
            expect_continue: false,
        });
    };
    let bad = |m: &str| Response::text(400, m);
    let head =
        std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("request head is not UTF-8"))?;
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
                    return Err(Response::text(
                        413,
                        format!("body larger than {MAX_BODY} bytes"),
                    ));
                }
                length = Some(n as usize);
            }
            "transfer-encoding" => {
                return Err(Response::text(
                    411,
                    "chunked bodies are not supported: send Content-Length",
                ))
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
    let body_start = head_end + 4;
    let length = length.unwrap_or(0);
    if buf.len() - body_start < length {
        return Ok(Parsed::Partial { expect_continue });
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let req = Request {
        method: method.to_string(),
        path,
        query,
        body: buf[body_start..body_start + length].to_vec(),
    };
    Ok(Parsed::Complete(req, keep, body_start + length))
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
