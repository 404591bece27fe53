//! HTTP/1.1 messages: requests parsed (by `httparse`, the parser hyper uses) from the bytes a
//! connection received, responses encoded for it. The event loop that moves the bytes is in
//! `server`.
//!
//! Bounds (a hostile client gets a 4xx and a closed connection, never a crash or an unbounded
//! allocation): a request head of at most [`MAX_HEAD`] bytes (431), at most [`MAX_HEADERS`]
//! headers (431), a body of at most [`MAX_BODY`] bytes (413), a declared length only (chunked
//! bodies: 411); a body is copied out only once all of it has arrived.

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

/// Most headers a request may have (more: 431).
pub const MAX_HEADERS: usize = 64;

/// What the headers of a request say that the server acts on.
struct Head {
    length: usize,
    keep: bool,
    expect_continue: bool,
}

/// Parses the request at the start of `buf` with `httparse`: a malformed or oversized one is an
/// error answer (the connection is then closed).
pub fn parse(buf: &[u8]) -> Result<Parsed, Response> {
    // A head of at most MAX_HEAD bytes ends within the first MAX_HEAD + 4 (its terminator
    // included): not complete there, the head is too large, however the bytes were split.
    let window = &buf[..buf.len().min(MAX_HEAD + 4)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() >= MAX_HEAD + 4 => {
            return Err(Response::text(431, "request head too large"))
        }
        Ok(httparse::Status::Partial) => {
            return Ok(Parsed::Partial {
                expect_continue: false,
            })
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Response::text(
                431,
                format!("more than {MAX_HEADERS} headers"),
            ))
        }
        Err(e) => return Err(bad(&format!("malformed request: {e}"))),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(bad("malformed request line"));
    };
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("malformed method"));
    }
    if !target.starts_with('/') {
        return Err(bad("the request target must be a path"));
    }
    let head = read_headers(req.headers, version == 1)?;
    if buf.len() - head_len < head.length {
        return Ok(Parsed::Partial {
            expect_continue: head.expect_continue,
        });
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let end = head_len + head.length;
    let req = Request {
        method: method.to_string(),
        path,
        query,
        body: buf[head_len..end].to_vec(),
    };
    Ok(Parsed::Complete(req, head.keep, end))
}

fn bad(msg: &str) -> Response {
    Response::text(400, msg)
}

/// Reads the headers the server acts on; `keep` starts as the version's default (HTTP/1.1:
/// keep-alive, HTTP/1.0: close).
fn read_headers(headers: &[httparse::Header<'_>], mut keep: bool) -> Result<Head, Response> {
    let mut length: Option<u64> = None;
    let mut expect_continue = false;
    for h in headers {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| bad("header value is not UTF-8"))?
            .trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| bad("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length"));
            }
            if n > MAX_BODY as u64 {
                return Err(Response::text(
                    413,
                    format!("body larger than {MAX_BODY} bytes"),
                ));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Response::text(
                411,
                "chunked bodies are not supported: send Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                keep = false;
            } else if v.contains("keep-alive") {
                keep = true;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    Ok(Head {
        // Bounded by MAX_BODY above, so it fits in usize.
        length: length.unwrap_or(0) as usize,
        keep,
        expect_continue,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(raw: &[u8]) -> u16 {
        match parse(raw) {
            Err(r) => r.status,
            Ok(Parsed::Partial { .. }) => 0,
            Ok(Parsed::Complete(..)) => 200,
        }
    }

    #[test]
    fn a_whole_request_is_split_into_its_parts_and_its_length_counted() {
        let raw = b"PUT /k%2F1?stale=true HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /";
        let Ok(Parsed::Complete(req, keep, used)) = parse(raw) else {
            panic!("not complete: {:?}", parse(raw));
        };
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.query.as_str()),
            ("PUT", "/k%2F1", "stale=true")
        );
        assert_eq!(req.body, b"abc");
        assert!(keep);
        assert_eq!(used, raw.len() - b"GET /".len(), "the pipelined rest stays");
        assert!(req.flag("stale"));
    }

    #[test]
    fn partial_heads_and_bodies_wait_and_remember_expect_continue() {
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n"), 0);
        let raw = b"PUT /k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nab";
        assert!(matches!(
            parse(raw),
            Ok(Parsed::Partial {
                expect_continue: true
            })
        ));
    }

    #[test]
    fn connection_headers_and_versions_decide_keep_alive() {
        let keep = |raw: &[u8]| match parse(raw) {
            Ok(Parsed::Complete(_, keep, _)) => keep,
            other => panic!("{other:?}"),
        };
        assert!(!keep(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(keep(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n"));
    }

    #[test]
    fn bad_requests_get_their_status() {
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        let cases: [(&str, Vec<u8>, u16); 8] = [
            ("HTTP/2", b"GET / HTTP/2.0\r\n\r\n".to_vec(), 400),
            ("lowercase method", b"get / HTTP/1.1\r\n\r\n".to_vec(), 400),
            (
                "absolute target",
                b"GET http://x/ HTTP/1.1\r\n\r\n".to_vec(),
                400,
            ),
            (
                "header without colon",
                b"GET / HTTP/1.1\r\nnocolon\r\n\r\n".to_vec(),
                400,
            ),
            (
                "conflicting lengths",
                b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
                400,
            ),
            (
                "too many headers",
                format!("GET / HTTP/1.1\r\n{many}\r\n").into_bytes(),
                431,
            ),
            (
                "body too large",
                format!("PUT / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1).into_bytes(),
                413,
            ),
            (
                "chunked",
                b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                411,
            ),
        ];
        for (what, raw, want) in cases {
            assert_eq!(status(&raw), want, "{what}");
        }
    }
}
