//! Scrubbing in a real `stele-kv` process: damage in *cold* data (a sealed segment whose
//! entries are all below the snapshot the node restarts from, which no restart reads and raft
//! reads only for a lagging follower) is found by the background scrub. By default the node
//! then exits with status 1 and one `error:` line naming the file and offset; with
//! `--scrub-only-report` it keeps serving and `/status` and `/metrics` show the damage; with
//! `--verify-before-serving` it refuses to start. With the scrub off (`--scrub-mib-per-sec 0`,
//! the behaviour before scrubbing existed) the same node serves on, damage unseen.

mod kv_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kv_common::{
    field, flip_middle_bit, free_ports, http, segment_files, wait_for, wait_writable, Kv,
};

/// 100 values of 100 KiB over 1 MiB segments, a snapshot every 60 entries keeping 30 behind
/// it: the log keeps sealed segments of entries 30..60 that a restart does not read.
const VALUES: usize = 100;
const VALUE_LEN: usize = 100 << 10;
const SNAPSHOT_COUNT: &str = "60";
const EXIT_BOUND: Duration = Duration::from_secs(30);

/// Segment files, oldest first, with their first index (from the name).
fn segments(wal: &Path) -> Vec<(PathBuf, u64)> {
    segment_files(wal)
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            let first = u64::from_str_radix(stem.split('-').nth(1).unwrap(), 16).unwrap();
            (p, first)
        })
        .collect()
}

/// Writes the values, waits for a snapshot, stops the node; returns a sealed segment all of
/// whose entries are at or below the snapshot (and the node, stopped).
fn node_with_cold_segment(dir: &Path) -> (Kv, PathBuf) {
    let ports = free_ports(2);
    let cluster = format!("127.0.0.1:{}", ports[0]);
    let mut kv = Kv::new(
        1,
        &cluster,
        ports[1],
        dir,
        &["--wal-segment-mib", "1", "--snapshot-count", SNAPSHOT_COUNT],
    );
    kv.start();
    wait_writable(ports[1], "the node to elect itself");
    let value = vec![b'v'; VALUE_LEN];
    for i in 0..VALUES {
        let r = http(ports[1], "PUT", &format!("/kv/k{i}"), &value).expect("PUT");
        assert_eq!(r.status, 204, "PUT k{i}: {}", r.text());
    }
    let snap = wait_for("a snapshot", || {
        let s = kv.status()?;
        let at = field(&s, "snapshot_index");
        (at >= 60).then_some(at)
    });
    assert!(kv.terminate().success(), "a clean stop: {}", kv.log());
    let segs = segments(&dir.join("wal"));
    let cold = segs
        .windows(2)
        .find(|w| w[1].1 - 1 <= snap)
        .map(|w| w[0].0.clone())
        .unwrap_or_else(|| panic!("no sealed segment below snapshot {snap}: {segs:?}"));
    (kv, cold)
}

/// Waits for the restarted `kv` to exit with status 1; returns what it printed since `before`.
fn exit_1_log(kv: &mut Kv, before: usize) -> String {
    let status = kv.wait_exit(EXIT_BOUND);
    let log = kv.log()[before..].to_string();
    assert_eq!(status.code(), Some(1), "{status}; log:\n{log}");
    log
}

/// A write succeeds once the restarted node has elected itself.
fn put_after_restart(kv: &Kv) {
    wait_writable(kv.http, "a write after the restart");
}

/// Restarts `kv` with `args` in place of its extra ones.
fn restart_with(kv: &mut Kv, args: &[&str]) -> usize {
    kv.args.extend(args.iter().map(|s| s.to_string()));
    let before = kv.log().len();
    kv.spawn();
    before
}

#[test]
fn the_scrub_finds_damage_in_cold_data_and_the_node_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut kv, cold) = node_with_cold_segment(&tmp.path().join("node-1"));
    flip_middle_bit(&cold);
    let before = restart_with(&mut kv, &[]);
    let log = exit_1_log(&mut kv, before);
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line; log:\n{log}");
    let name = cold.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        errors[0].contains("scrubbing found damage")
            && errors[0].contains(&name)
            && errors[0].contains("offset"),
        "{}",
        errors[0]
    );
    assert!(!log.contains("panicked at"), "{log}");
}

#[test]
fn with_scrub_only_report_the_node_serves_on_and_shows_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut kv, cold) = node_with_cold_segment(&tmp.path().join("node-1"));
    flip_middle_bit(&cold);
    restart_with(&mut kv, &["--scrub-only-report"]);
    let name = cold.file_name().unwrap().to_string_lossy().to_string();
    let damage = wait_for("the scrub to report the damage", || {
        let s = kv.status()?;
        s["scrub"]["damage"].as_str().map(str::to_string)
    });
    assert!(
        damage.contains(&name) && damage.contains("offset"),
        "{damage}"
    );
    put_after_restart(&kv);
    let r = http(kv.http, "GET", "/kv/k99", b"").expect("GET");
    assert_eq!(r.status, 200, "hot data is read: {}", r.text());
    let m = http(kv.http, "GET", "/metrics", b"")
        .expect("metrics")
        .text();
    assert!(m.contains("stele_scrub_damage 1"), "{m}");
    assert!(kv.terminate().success(), "{}", kv.log());
}

#[test]
fn verify_before_serving_refuses_to_start_on_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut kv, cold) = node_with_cold_segment(&tmp.path().join("node-1"));
    // Undamaged first: it verifies and serves.
    restart_with(&mut kv, &["--verify-before-serving"]);
    wait_for("the node to serve", || kv.status());
    assert!(kv.terminate().success(), "{}", kv.log());
    assert!(kv.log().contains("stele-kv: verified "), "{}", kv.log());

    flip_middle_bit(&cold);
    let before = restart_with(&mut kv, &[]);
    let log = exit_1_log(&mut kv, before);
    let name = cold.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        log.lines()
            .any(|l| l.starts_with("error: verifying") && l.contains(&name)),
        "{log}"
    );
    assert!(!log.contains(" http http://"), "it never served: {log}");
}

#[test]
fn with_the_scrub_off_the_damage_goes_unseen() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut kv, cold) = node_with_cold_segment(&tmp.path().join("node-1"));
    flip_middle_bit(&cold);
    restart_with(&mut kv, &["--scrub-mib-per-sec", "0"]);
    put_after_restart(&kv);
    let s = kv.status().expect("status");
    assert!(s["scrub"].is_null(), "no scrub: {s}");
    assert!(
        kv.terminate().success(),
        "the node never noticed: {}",
        kv.log()
    );
}
