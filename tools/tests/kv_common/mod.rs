//! Helpers of the stele-kv process tests: free loopback ports, `stele-kv` children killed on
//! drop, a tiny HTTP/1.1 client over `std::net`, and waits with deadlines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The bound of any single wait.
pub const WAIT: Duration = Duration::from_secs(60);

/// `n` distinct loopback ports that were free a moment ago (bound to port 0, then closed).
pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A keep-alive HTTP client to one port (reconnects when the connection breaks).
#[derive(Debug)]
pub struct Client {
    pub port: u16,
    /// How long a response may take (default 20 s).
    pub timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(port: u16) -> Client {
        Client::with_timeout(port, Duration::from_secs(20))
    }

    /// A client whose connects, writes and responses each time out after `timeout`.
    pub fn with_timeout(port: u16, timeout: Duration) -> Client {
        Client {
            port,
            timeout,
            conn: None,
        }
    }

    /// One request; `Err` if the node cannot be reached or the connection broke.
    pub fn req(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Resp> {
        let r = self.try_req(method, path, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn try_req(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Resp> {
        if self.conn.is_none() {
            let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
            let t = self.timeout;
            let s = TcpStream::connect_timeout(&addr, t.min(Duration::from_secs(2)))?;
            s.set_read_timeout(Some(t))?;
            s.set_write_timeout(Some(t.min(Duration::from_secs(5))))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let c = self.conn.as_mut().unwrap();
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        c.get_mut().write_all(&out)?;
        read_response(c)
    }
}

/// Reads one response (status line, headers, a Content-Length body).
pub fn read_response(c: &mut impl BufRead) -> std::io::Result<Resp> {
    let broken = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut line = String::new();
    if c.read_line(&mut line)? == 0 {
        return Err(broken("closed"));
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| broken("bad status line"))?;
    let mut len = 0usize;
    let mut close = false;
    loop {
        let mut h = String::new();
        if c.read_line(&mut h)? == 0 {
            return Err(broken("closed in headers"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').ok_or_else(|| broken("bad header"))?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => len = value.trim().parse().map_err(|_| broken("bad length"))?,
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0u8; len];
    c.read_exact(&mut body)?;
    let _ = close;
    Ok(Resp { status, body })
}

/// One request on a fresh connection.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<Resp> {
    Client::new(port).req(method, path, body)
}

/// Raw bytes to a port (then end of stream); returns what comes back before the server
/// closes (or times out).
pub fn raw(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the node on `port` takes a write (`PUT /kv/probe` answers 204): it has a leader
/// and serves. `what` names the wait in the panic after [`WAIT`].
pub fn wait_writable(port: u16, what: &str) {
    wait_for(what, || {
        let r = http(port, "PUT", "/kv/probe", b"p").ok()?;
        (r.status == 204).then_some(())
    });
}

/// Waits up to `within` for `child` to exit; `None` (after killing it) if it did not.
pub fn wait_child(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The WAL's segment files (`*.wal`) in `wal`, oldest first.
pub fn segment_files(wal: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(wal)
        .expect("read the wal directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

/// Flips one bit in the middle of `path` "on disk"; returns the byte offset.
pub fn flip_middle_bit(path: &Path) -> u64 {
    let mut bytes = std::fs::read(path).expect("read the file");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(path, &bytes).expect("write the file back");
    at as u64
}

/// Polls `f` every 20 ms until it returns `Some`, panicking with `what` after [`WAIT`].
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One `stele-kv` process (killed when dropped).
#[derive(Debug)]
pub struct Kv {
    pub id: u64,
    pub http: u16,
    pub dir: PathBuf,
    pub args: Vec<String>,
    pub child: Option<Child>,
}

impl Kv {
    /// A node (not started) with `extra` arguments after the common ones.
    pub fn new(id: u64, cluster: &str, http: u16, dir: &Path, extra: &[&str]) -> Kv {
        let mut args: Vec<String> = vec![
            "--id".into(),
            id.to_string(),
            "--cluster".into(),
            cluster.into(),
            "--port".into(),
            http.to_string(),
            "--data-dir".into(),
            dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Kv {
            id,
            http,
            dir: dir.to_path_buf(),
            args,
            child: None,
        }
    }

    /// Starts the process and waits until its HTTP server answers.
    pub fn start(&mut self) {
        self.spawn();
        let port = self.http;
        let id = self.id;
        wait_for(&format!("node {id} to serve HTTP"), || {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("node {id} exited at start: {st}; log: {}", self.log());
                }
            }
            http(port, "GET", "/status", b"")
                .ok()
                .filter(|r| r.status == 200)
        });
    }

    /// Starts the process, without waiting for it to serve.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} already running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_stele-kv"))
            .args(&self.args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn stele-kv");
        self.child = Some(child);
    }

    /// Waits (up to `within`) for the process to exit on its own; panics, after killing it,
    /// if it does not.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        wait_child(&mut c, within).unwrap_or_else(|| {
            panic!(
                "node {} did not exit within {within:?}: {}",
                self.id,
                self.log()
            )
        })
    }

    /// The node's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; returns the exit status (panics if it does not exit within [`WAIT`]).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = c.try_wait().expect("wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("node {} ignored SIGTERM", self.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends `signal` (a name for `kill -s`, e.g. `STOP`, `CONT`) to the running process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("running");
        let sent = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {signal} {pid}");
    }

    /// `GET /status` as JSON, if the node answers.
    pub fn status(&self) -> Option<serde_json::Value> {
        http(self.http, "GET", "/status", b"")
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.json())
    }
}

impl Drop for Kv {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A numeric field of a status.
pub fn field(s: &serde_json::Value, name: &str) -> u64 {
    s[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {s}"))
}
