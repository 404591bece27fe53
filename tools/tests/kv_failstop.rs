//! Fail-stop of a real `stele-kv` process: a node whose storage fails does not stay half
//! alive. One bit flipped in the middle of a sealed WAL segment (which `Wal::open` does not
//! read, by design) is found when raft reads those entries to apply them after the restart;
//! the process must then print one `error:` line naming the segment file and the byte offset,
//! print no panic, and exit with status 1 within a bound, so that a supervisor restarts it or
//! an operator looks at it.

mod kv_common;

use std::time::Duration;

use kv_common::{flip_middle_bit, free_ports, http, segment_files, wait_writable, Kv};

/// Values written before the damage: 40 x 100 KiB over 1 MiB segments (a few sealed ones).
const VALUES: usize = 40;
const VALUE_LEN: usize = 100 << 10;

/// The node must exit within this after it starts (it replays, applies, hits the damage, and
/// stops; the bound leaves room for a debug build on a loaded machine).
const EXIT_BOUND: Duration = Duration::from_secs(30);

#[test]
fn a_damaged_sealed_segment_makes_the_node_exit_with_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let dir = tmp.path().join("node-1");
    let cluster = format!("127.0.0.1:{}", ports[0]);
    let mut kv = Kv::new(1, &cluster, ports[1], &dir, &["--wal-segment-mib", "1"]);
    kv.start();
    wait_writable(ports[1], "the node to elect itself");
    let value = vec![b'v'; VALUE_LEN];
    for i in 0..VALUES {
        let r = http(ports[1], "PUT", &format!("/kv/k{i}"), &value).expect("PUT");
        assert_eq!(r.status, 204, "PUT k{i}: {}", r.text());
    }
    assert!(kv.terminate().success(), "a clean stop: {}", kv.log());

    let segs = segment_files(&dir.join("wal"));
    assert!(segs.len() >= 3, "the writes crossed several cuts: {segs:?}");
    let damaged = &segs[0];
    let at = flip_middle_bit(damaged);
    let before = kv.log().len();

    kv.spawn();
    let status = kv.wait_exit(EXIT_BOUND);
    let log = kv.log()[before..].to_string();
    assert_eq!(
        status.code(),
        Some(1),
        "exit status 1: {status}; log:\n{log}"
    );
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line; log:\n{log}");
    let name = damaged.file_name().unwrap().to_string_lossy();
    let line = errors[0];
    assert!(line.contains(&*name), "names the segment {name}: {line}");
    assert!(line.contains("offset"), "names the byte offset: {line}");
    assert!(
        !log.contains("panicked at") && !log.contains("RUST_BACKTRACE"),
        "no panic is printed for an error stele reports; log:\n{log}"
    );
    eprintln!("flipped byte {at} of {name}; the node said: {line}");
}
