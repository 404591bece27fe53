//! A full disk, for real: a `stele-kv` node on a size-limited tmpfs that the test mounts
//! (skipped, with a message, where mounting is not allowed), filled to the last page by a
//! filler file while the node runs.
//!
//! - WAL: once the WAL cannot prepare its next segment's file, writes get 507 naming the disk
//!   full; linearizable reads keep working; the process stays up; nothing acknowledged is
//!   lost; writes resume on their own once the filler is removed; a restart reads everything.
//! - Snapshots: a snapshot that cannot be written is counted in `/status` and retried; the
//!   node keeps serving; once there is room a later snapshot succeeds.

mod kv_common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use kv_common::{field, free_ports, http, wait_for, wait_writable, Kv};

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("disk");
        std::fs::create_dir(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir,
                _parent: parent,
            }),
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                eprintln!("skipped: cannot mount a tmpfs here ({})", err.trim());
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount ({e})");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Writes a file at `path` until the file system refuses; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0xa5u8; 1 << 20];
    let mut total = 0;
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n as u64,
        }
    }
}

/// A started single node whose data directory is the mount point itself (its log file is
/// beside the mount, not in it: a full disk must not stop its output).
fn node(disk: &Tmpfs, extra: &[&str]) -> (Kv, u16) {
    let ports = free_ports(2);
    let cluster = format!("127.0.0.1:{}", ports[0]);
    let mut args = vec!["--wal-segment-mib", "1"];
    args.extend_from_slice(extra);
    let mut kv = Kv::new(1, &cluster, ports[1], &disk.dir, &args);
    kv.start();
    wait_writable(ports[1], "the node to elect itself");
    (kv, ports[1])
}

fn put(port: u16, key: &str, value: &[u8]) -> (u16, String) {
    let r = http(port, "PUT", &format!("/kv/{key}"), value).expect("PUT");
    (r.status, r.text())
}

fn assert_reads(port: u16, acked: &[(String, Vec<u8>)]) {
    for (k, v) in acked {
        let r = http(port, "GET", &format!("/kv/{k}"), b"").expect("GET");
        assert_eq!(r.status, 200, "GET {k}: {}", r.text());
        assert!(&r.body == v, "GET {k}: wrong value");
    }
}

fn status(port: u16) -> serde_json::Value {
    http(port, "GET", "/status", b"").expect("status").json()
}

#[test]
fn a_full_disk_refuses_writes_with_507_keeps_reads_and_recovers_when_freed() {
    let Some(disk) = Tmpfs::mount("8m") else {
        return;
    };
    let (mut kv, port) = node(&disk, &[]);
    let filler = disk.dir.join("filler");
    fill(&filler);

    let mut acked: Vec<(String, Vec<u8>)> = Vec::new();
    let mut refused = None;
    for i in 0..400 {
        let (key, value) = (format!("k{i}"), vec![b'a' + (i % 26) as u8; 32 << 10]);
        match put(port, &key, &value) {
            (204, _) => acked.push((key, value)),
            (507, text) => {
                refused = Some(text);
                break;
            }
            (s, text) => panic!("PUT {key}: {s} {text}; log: {}", kv.log()),
        }
    }
    let text = refused.expect("a full disk refuses writes within 400 x 32 KiB");
    assert!(text.contains("disk is full"), "{text}");
    assert!(
        text.contains("No space left"),
        "names the system's error: {text}"
    );
    assert!(!acked.is_empty(), "the preallocated room took writes first");
    let (again, _) = put(port, "again", b"x");
    assert_eq!(again, 507, "still refused while full");
    let st = status(port);
    assert!(st["running"].as_bool().unwrap(), "the node stays up: {st}");
    assert!(st["no_room"].as_str().is_some(), "/status says why: {st}");
    assert_reads(port, &acked);

    std::fs::remove_file(&filler).unwrap();
    wait_for("writes to resume once the disk has room", || {
        let (s, _) = put(port, "after", b"room again");
        (s == 204).then_some(())
    });
    acked.push(("after".into(), b"room again".to_vec()));
    assert!(status(port)["no_room"].is_null());
    assert!(kv.terminate().success(), "a clean stop: {}", kv.log());
    kv.start();
    assert_reads(port, &acked);
    assert!(
        !kv.log().contains("panicked at"),
        "no panic; log: {}",
        kv.log()
    );
}

#[test]
fn a_snapshot_that_cannot_be_written_is_retried_and_the_node_keeps_serving() {
    let Some(disk) = Tmpfs::mount("8m") else {
        return;
    };
    let (mut kv, port) = node(&disk, &["--snapshot-count", "20"]);
    let mut acked: Vec<(String, Vec<u8>)> = Vec::new();
    let write = |acked: &mut Vec<(String, Vec<u8>)>, n: usize| {
        for _ in 0..n {
            let (key, value) = (format!("s{}", acked.len()), b"small".to_vec());
            let (s, text) = put(port, &key, &value);
            assert_eq!(s, 204, "PUT {key}: {text}");
            acked.push((key, value));
        }
    };
    write(&mut acked, 5);
    let filler = disk.dir.join("filler");
    fill(&filler);
    // Small writes fit in the active segment's preallocated room; the snapshot due at 20
    // applied entries needs a new file, which the full disk refuses.
    write(&mut acked, 20);
    wait_for("a failed snapshot in /status", || {
        (field(&status(port), "snapshot_failures") >= 1).then_some(())
    });
    let st = status(port);
    assert!(st["running"].as_bool().unwrap(), "the node stays up: {st}");
    assert_eq!(field(&st, "snapshots_created"), 0, "{st}");
    assert_reads(port, &acked);

    std::fs::remove_file(&filler).unwrap();
    write(&mut acked, 25);
    wait_for("a snapshot once there is room", || {
        (field(&status(port), "snapshots_created") >= 1).then_some(())
    });
    assert!(kv.terminate().success(), "a clean stop: {}", kv.log());
    kv.start();
    assert_reads(port, &acked);
}
