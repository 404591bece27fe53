//! The cluster side's clients on one thread (mio): each of `clients` connections keeps one
//! keep-alive `PUT` outstanding at all times, exactly the load of as many blocking clients,
//! without as many client threads competing with the three nodes for the machine's cores.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

struct Client {
    stream: TcpStream,
    port: u16,
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
    sent: u64,
}

/// Writes acknowledged (204) and not (other answers, broken connections) in `secs` seconds,
/// and the seconds measured.
pub fn run(
    ports: &[u16],
    clients: usize,
    value: &[u8],
    secs: f64,
    round: usize,
) -> (u64, u64, f64) {
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(256);
    let mut conns: HashMap<usize, Client> = HashMap::new();
    let mut next_token = 0usize;
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut connect = |poll: &mut Poll, conns: &mut HashMap<usize, Client>, i: usize, port: u16| {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let Ok(mut stream) = TcpStream::connect(addr) else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let token = next_token * clients + i; // token % clients is the client's number
        next_token += 1;
        let interest = Interest::READABLE | Interest::WRITABLE;
        if poll
            .registry()
            .register(&mut stream, Token(token), interest)
            .is_ok()
        {
            let mut c = Client {
                stream,
                port,
                out: Vec::new(),
                written: 0,
                input: Vec::new(),
                sent: 0,
            };
            request(&mut c, i, round, value);
            conns.insert(token, c);
        }
    };
    for i in 0..clients {
        connect(&mut poll, &mut conns, i, ports[i % ports.len()]);
    }
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        if poll.poll(&mut events, Some(left)).is_err() {
            continue;
        }
        let mut broken = Vec::new();
        for ev in events.iter() {
            let token = ev.token().0;
            let Some(c) = conns.get_mut(&token) else {
                continue;
            };
            let i = token % clients;
            let alive = flush(c)
                && (!(ev.is_readable() || ev.is_read_closed())
                    || read(c, i, round, value, &mut ok, &mut failed));
            if !alive || ev.is_error() {
                broken.push(token);
            }
        }
        for token in broken {
            if let Some(c) = conns.remove(&token) {
                failed += 1;
                connect(&mut poll, &mut conns, token % clients, c.port);
            }
        }
    }
    (ok, failed, t0.elapsed().as_secs_f64())
}

/// Queues client `i`'s next PUT and writes what the socket takes.
fn request(c: &mut Client, i: usize, round: usize, value: &[u8]) {
    c.sent += 1;
    c.out.clear();
    c.written = 0;
    let _ = write!(
        c.out,
        "PUT /kv/{} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        super::key(round, i, c.sent),
        value.len()
    );
    c.out.extend_from_slice(value);
    flush(c);
}

/// False if the connection broke.
fn flush(c: &mut Client) -> bool {
    while c.written < c.out.len() {
        match c.stream.write(&c.out[c.written..]) {
            Ok(0) => return false,
            Ok(n) => c.written += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                ) =>
            {
                return true
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Reads answers, counts them and sends the next request; false if the connection broke.
fn read(
    c: &mut Client,
    i: usize,
    round: usize,
    value: &[u8],
    ok: &mut u64,
    failed: &mut u64,
) -> bool {
    let mut buf = [0u8; 16 << 10];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => c.input.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    while let Some((status, used)) = response(&c.input) {
        c.input.drain(..used);
        if status == 204 {
            *ok += 1;
        } else {
            *failed += 1;
        }
        request(c, i, round, value);
    }
    true
}

/// The status and length of the whole response at the start of `buf`, if it has arrived.
fn response(buf: &[u8]) -> Option<(u16, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    (buf.len() >= end + 4 + len).then_some((status, end + 4 + len))
}
