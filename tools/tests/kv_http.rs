//! One `stele-kv` process over HTTP:
//! - put, linearizable and stale get, delete, percent-encoded keys, status and metrics fields;
//! - malformed, oversized and unknown requests get 4xx with a message and the node keeps
//!   serving;
//! - SIGTERM stops it cleanly (exit 0) and a restart on the same directory has the data;
//! - a write that cannot be committed (a member of a three-node group running alone) gets 503
//!   within the request timeout, with a message about the outcome.

mod kv_common;

use std::time::{Duration, Instant};

use kv_common::{field, free_ports, http, raw, wait_for, Client, Kv};

fn single(dir: &std::path::Path) -> Kv {
    let p = free_ports(2);
    let cluster = format!("127.0.0.1:{}", p[0]);
    Kv::new(
        1,
        &cluster,
        p[1],
        dir,
        &["--tick-ms", "20", "--snapshot-count", "20"],
    )
}

fn wait_leader(kv: &Kv) {
    wait_for("a leader", || {
        kv.status().filter(|s| field(s, "leader_id") == kv.id)
    });
}

#[test]
fn api_bad_requests_and_restart() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut kv = single(&tmp.path().join("node-1"));
    kv.start();
    wait_leader(&kv);
    let mut c = Client::new(kv.http);
    let put = |c: &mut Client, k: &str, v: &[u8]| c.req("PUT", &format!("/kv/{k}"), v).unwrap();

    // Basic operations.
    assert_eq!(put(&mut c, "a", b"1").status, 204);
    let r = c.req("GET", "/kv/a", b"").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"1"[..]));
    assert_eq!(c.req("GET", "/kv/a?stale=true", b"").unwrap().body, b"1");
    assert_eq!(c.req("GET", "/kv/missing", b"").unwrap().status, 404);
    assert_eq!(put(&mut c, "a%2Fb%20c", b"enc").status, 204);
    assert_eq!(c.req("GET", "/kv/a%2fb%20c", b"").unwrap().body, b"enc");
    let big = vec![b'x'; 200 << 10];
    assert_eq!(put(&mut c, "big", &big).status, 204);
    assert_eq!(c.req("GET", "/kv/big", b"").unwrap().body, big);
    assert_eq!(c.req("DELETE", "/kv/a", b"").unwrap().status, 204);
    assert_eq!(c.req("GET", "/kv/a", b"").unwrap().status, 404);
    for i in 0..60 {
        assert_eq!(
            put(&mut c, &format!("k{i}"), format!("v{i}").as_bytes()).status,
            204
        );
    }
    let s = c.req("GET", "/status", b"").unwrap().json();
    for f in [
        "id",
        "leader_id",
        "term",
        "commit",
        "applied",
        "first_index",
        "last_index",
        "snapshot_index",
    ] {
        field(&s, f);
    }
    assert!(field(&s, "snapshot_index") > 1, "snapshots taken: {s}");
    let m = c.req("GET", "/metrics", b"").unwrap().text();
    for name in [
        "stele_wal_fsync_duration_seconds_bucket{le=\"0.001\"}",
        "stele_wal_fsync_duration_seconds_count",
        "stele_wal_bytes_written_total",
        "stele_wal_appends_total",
        "stele_snapshots_saved_total",
        "stele_snapshots_applied_total",
    ] {
        assert!(m.contains(name), "{name} missing in\n{m}");
    }
    let count: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("stele_wal_fsync_duration_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 60, "every acknowledged write was synced: {count}");
    let entries: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("stele_wal_entries_appended_total "))
        .expect("stele_wal_entries_appended_total")
        .parse()
        .unwrap();
    assert!(
        entries >= 60,
        "every acknowledged write appended an entry: {entries}"
    );
    let members = c.req("GET", "/members", b"").unwrap().json();
    assert_eq!(members["voters"], serde_json::json!([1]));

    // Bad requests: 4xx with a message, and the node keeps serving.
    let cases: Vec<(&[u8], &str)> = vec![
        (b"GARBAGE\r\n\r\n", "400"),
        (b"GET /kv/a HTTP/9.9\r\n\r\n", "400"),
        (b"get /kv/a HTTP/1.1\r\n\r\n", "400"),
        (b"GET kv HTTP/1.1\r\n\r\n", "400"),
        (b"PUT /kv/a HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "400"),
        (
            b"PUT /kv/a HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            "413",
        ),
        (
            b"PUT /kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "411",
        ),
        (
            b"PUT /kv/a HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            "400",
        ),
        (b"GET /kv/ HTTP/1.1\r\n\r\n", "400"),
        (b"GET /kv/%zz HTTP/1.1\r\n\r\n", "400"),
        (b"PATCH /kv/a HTTP/1.1\r\n\r\n", "405"),
        (b"GET /nothing HTTP/1.1\r\n\r\n", "404"),
        (
            b"POST /members/abc HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz",
            "400",
        ),
        (b"POST /members/0 HTTP/1.1\r\n\r\n", "400"),
        (
            b"POST /members/7 HTTP/1.1\r\nContent-Length: 8\r\n\r\nnot-addr",
            "400",
        ),
        (
            b"POST /members/1 HTTP/1.1\r\nContent-Length: 9\r\n\r\n1.2.3.4:5",
            "409",
        ),
        (b"DELETE /members/9 HTTP/1.1\r\n\r\n", "404"),
        (b"\xff\xfe GET / HTTP/1.1\r\n\r\n", "400"),
    ];
    for (req, want) in cases {
        let got = raw(kv.http, req);
        let line = got.lines().next().unwrap_or("");
        assert!(
            line.starts_with(&format!("HTTP/1.1 {want} ")),
            "{:?}: got {got:?}",
            String::from_utf8_lossy(req)
        );
        let body = got.split("\r\n\r\n").nth(1).unwrap_or("");
        assert!(!body.trim().is_empty(), "a message for {got:?}");
    }
    let mut huge = b"GET /kv/a HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 << 10));
    huge.extend_from_slice(b"\r\n\r\n");
    assert!(raw(kv.http, &huge).starts_with("HTTP/1.1 431 "));
    let long_key = format!("/kv/{}", "k".repeat(5000));
    assert_eq!(http(kv.http, "GET", &long_key, b"").unwrap().status, 400);
    // Two pipelined requests on one connection.
    let two = raw(
        kv.http,
        b"GET /kv/k1 HTTP/1.1\r\n\r\nGET /kv/k2 HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(two.matches("HTTP/1.1 200 OK").count(), 2, "{two}");
    assert!(two.ends_with("v2"), "{two}");
    let mut c = Client::new(kv.http);
    assert_eq!(c.req("GET", "/kv/k5", b"").unwrap().body, b"v5");

    // SIGTERM, then a restart on the same directory.
    let st = kv.terminate();
    assert!(st.success(), "graceful exit: {st}");
    assert!(kv.log().contains("stopped"), "{}", kv.log());
    kv.start();
    wait_leader(&kv);
    let mut c = Client::new(kv.http);
    for i in 0..60 {
        let r = c.req("GET", &format!("/kv/k{i}"), b"").unwrap();
        assert_eq!(r.body, format!("v{i}").into_bytes(), "k{i} after restart");
    }
    assert_eq!(c.req("GET", "/kv/big", b"").unwrap().body, big);
    assert_eq!(c.req("GET", "/kv/a", b"").unwrap().status, 404);
    // And after kill -9.
    assert_eq!(c.req("PUT", "/kv/last", b"L").unwrap().status, 204);
    kv.kill9();
    kv.start();
    wait_leader(&kv);
    assert_eq!(http(kv.http, "GET", "/kv/last", b"").unwrap().body, b"L");
    eprintln!("api_bad_requests_and_restart: {:?}", t0.elapsed());
}

#[test]
fn a_write_without_quorum_is_answered_503_in_bounded_time() {
    let tmp = tempfile::tempdir().unwrap();
    let p = free_ports(4);
    let cluster = format!("127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}", p[0], p[1], p[2]);
    let mut kv = Kv::new(
        1,
        &cluster,
        p[3],
        &tmp.path().join("node-1"),
        &["--tick-ms", "20", "--request-timeout-ms", "1500"],
    );
    kv.start();
    for path in ["/kv/x", "/kv/x?stale=false"] {
        let t = Instant::now();
        let r = http(kv.http, "PUT", path, b"v").unwrap();
        assert_eq!(r.status, 503, "{}", r.text());
        let msg = r.text();
        assert!(
            msg.contains("outcome is unknown") || msg.contains("definitely not applied"),
            "{msg}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "bounded: {:?}",
            t.elapsed()
        );
    }
    let t = Instant::now();
    let r = http(kv.http, "GET", "/kv/x", b"").unwrap();
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(
        http(kv.http, "GET", "/kv/x?stale=true", b"")
            .unwrap()
            .status,
        404
    );
    assert!(kv.terminate().success());
}
