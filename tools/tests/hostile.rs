//! Hostile inputs to the tools, run as real processes: `wal-dump` (text and `--verify`) and
//! `stele-kv` on an empty directory, a file where a directory should be, permission denied, a
//! zero-length segment, a snapshot named with a huge index, a symlink loop and a directory
//! another process holds. Each must end with a clear message that names the path, exit status
//! 1 or 2, within a bound, and never panic. (Without the fixes that came with this test, a file
//! or a symlink loop in place of `wal/` or `snap/` read "File exists", and `wal-dump` passed a
//! data directory whose `snap` was a file.)

mod kv_common;

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use kv_common::{free_ports, wait_child, wait_writable, Kv};

/// A tool that meets bad input exits at once; the bound leaves room for a loaded machine.
const EXIT_BOUND: Duration = Duration::from_secs(30);

/// An unprivileged user for the permission cases (nobody).
const NOBODY: u32 = 65534;

/// A zero-length segment named like a real one.
const SEGMENT: &str = "0000000000000001-0000000000000001.wal";

/// A snapshot named with the largest index and term there are.
const HUGE_SNAP: &str = "ffffffffffffffff-ffffffffffffffff.snap";

/// What a finished process said.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    output: String,
}

/// Runs `cmd` with its output in a file next to `scratch`, killing it (and failing) after
/// [`EXIT_BOUND`].
fn run(mut cmd: Command, scratch: &Path) -> Outcome {
    let log = scratch.join("out.log");
    let file = std::fs::File::create(&log).expect("create the output file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("spawn the tool");
    let status = wait_child(&mut child, EXIT_BOUND).unwrap_or_else(|| {
        panic!(
            "{cmd:?} did not exit within {EXIT_BOUND:?}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let output = std::fs::read_to_string(&log).expect("read the output");
    Outcome { status, output }
}

fn wal_dump(dir: &Path, extra: &[&str], scratch: &Path) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wal-dump"));
    cmd.args(extra).arg(dir);
    run(cmd, scratch)
}

fn stele_kv(dir: &Path, scratch: &Path) -> Outcome {
    stele_kv_cmd(dir, scratch, None)
}

/// `stele-kv` on `dir`, as `uid` if given.
fn stele_kv_cmd(dir: &Path, scratch: &Path, uid: Option<u32>) -> Outcome {
    let ports = free_ports(2);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stele-kv"));
    cmd.args(["--cluster", &format!("127.0.0.1:{}", ports[0])])
        .args(["--port", &ports[1].to_string()])
        .arg("--data-dir")
        .arg(dir);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    run(cmd, scratch)
}

/// Exit 1 or 2, no panic, every one of `says` in the output (ignoring case: the OS's messages
/// and stele's differ in capitals).
fn assert_clear_failure(what: &str, o: &Outcome, says: &[&str]) {
    let code = o.status.code();
    assert!(
        matches!(code, Some(1 | 2)),
        "{what}: exit status {:?}, want 1 or 2; output:\n{}",
        o.status,
        o.output
    );
    assert!(
        !o.output.contains("panicked") && !o.output.contains("RUST_BACKTRACE"),
        "{what}: panicked:\n{}",
        o.output
    );
    let lower = o.output.to_lowercase();
    for s in says {
        assert!(
            lower.contains(&s.to_lowercase()),
            "{what}: the output does not say {s:?}:\n{}",
            o.output
        );
    }
}

/// All three tools on `dir` fail clearly; each `says` list must appear in that tool's output.
fn assert_all_fail(what: &str, dir: &Path, scratch: &Path, dump_says: &[&str], kv_says: &[&str]) {
    let o = wal_dump(dir, &[], scratch);
    assert_clear_failure(&format!("{what}: wal-dump"), &o, dump_says);
    let o = wal_dump(dir, &["--verify"], scratch);
    assert_clear_failure(&format!("{what}: wal-dump --verify"), &o, dump_says);
    let o = stele_kv(dir, scratch);
    assert_clear_failure(&format!("{what}: stele-kv"), &o, kv_says);
    assert!(
        o.output.contains("error: "),
        "{what}: stele-kv printed no error line:\n{}",
        o.output
    );
}

#[test]
fn an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    std::fs::create_dir(&dir).unwrap();
    let o = wal_dump(&dir, &[], tmp.path());
    assert_clear_failure("wal-dump", &o, &["empty", "neither a data directory"]);
    let o = wal_dump(&dir, &["--verify"], tmp.path());
    assert_clear_failure(
        "wal-dump --verify",
        &o,
        &["empty", "neither a data directory"],
    );
    // An empty directory is a new node for stele-kv: it must start and serve (checked below
    // with the lock case), not fail.
}

#[test]
fn a_file_where_a_directory_should_be() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    let file = s.join("node-file");
    std::fs::write(&file, b"not a directory").unwrap();
    assert_all_fail(
        "data dir is a file",
        &file,
        s,
        &["node-file", "not a directory"],
        &["node-file", "not a directory"],
    );
    for sub in ["wal", "snap"] {
        let dir = s.join(format!("with-{sub}-file"));
        std::fs::create_dir_all(dir.join("wal")).unwrap();
        std::fs::create_dir_all(dir.join("snap")).unwrap();
        std::fs::remove_dir(dir.join(sub)).unwrap();
        std::fs::write(dir.join(sub), b"x").unwrap();
        let path = format!("with-{sub}-file/{sub}");
        assert_all_fail(
            &format!("{sub} is a file"),
            &dir,
            s,
            &[&format!("{sub}: not a directory")],
            &[&path, "not a directory"],
        );
    }
}

#[test]
fn a_symlink_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    let dir = s.join("looped");
    std::fs::create_dir(&dir).unwrap();
    symlink("loop", dir.join("wal")).unwrap();
    symlink("wal", dir.join("loop")).unwrap();
    assert_all_fail(
        "wal/ is a symlink loop",
        &dir,
        s,
        &["looped", "wal", "symbolic links"],
        &["looped/wal", "symbolic links"],
    );
    let top = s.join("top-loop");
    symlink(&top, &top).unwrap();
    assert_all_fail(
        "the data dir is a symlink loop",
        &top,
        s,
        &["top-loop", "symbolic links"],
        &["top-loop", "symbolic links"],
    );
}

#[test]
fn a_zero_length_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    let dir = s.join("zero");
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    std::fs::create_dir_all(dir.join("snap")).unwrap();
    std::fs::write(dir.join("wal").join(SEGMENT), b"").unwrap();
    let seg = format!("wal/{SEGMENT}");
    assert_all_fail(
        "zero-length segment",
        &dir,
        s,
        &[&seg, "offset 0", "shorter than a segment header"],
        &[&seg, "offset 0", "shorter than a segment header"],
    );
}

#[test]
fn a_snapshot_named_with_a_huge_index() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    let dir = s.join("huge");
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    std::fs::create_dir_all(dir.join("snap")).unwrap();
    std::fs::write(dir.join("snap").join(HUGE_SNAP), b"\x00garbage").unwrap();
    let snap = format!("snap/{HUGE_SNAP}");
    for extra in [&[][..], &["--verify"][..]] {
        let o = wal_dump(&dir, extra, s);
        assert_clear_failure("wal-dump", &o, &[&snap, "truncated"]);
    }
    // stele-kv: the WAL has no marker for it, so it is an interrupted save that is never
    // served. The node starts, says so once, serves, and leaves the file for inspection.
    let ports = free_ports(2);
    let cluster = format!("127.0.0.1:{}", ports[0]);
    let mut kv = Kv::new(1, &cluster, ports[1], &dir, &[]);
    kv.start();
    wait_writable(ports[1], "the node to take a write");
    assert!(kv.terminate().success(), "a clean stop: {}", kv.log());
    let log = kv.log();
    assert!(
        log.contains(&snap) && log.contains("damaged") && !log.contains("panicked"),
        "stele-kv must warn about {snap}:\n{log}"
    );
    assert!(dir.join("snap").join(HUGE_SNAP).exists(), "left in place");
}

#[test]
fn permission_denied() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        println!("skipped: not root, so the test cannot run a tool as another user");
        return;
    }
    // nobody may enter the scratch directory, but not the node directory in it.
    std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = s.join("locked-out");
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    std::fs::create_dir_all(dir.join("snap")).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = s.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let as_nobody = |program: &str, args: &[&str]| {
        let mut cmd = Command::new(program);
        cmd.args(args).arg(&dir).uid(NOBODY).gid(NOBODY);
        run(cmd, &out)
    };
    let dump = env!("CARGO_BIN_EXE_wal-dump");
    for extra in [&[][..], &["--verify"][..]] {
        let o = as_nobody(dump, extra);
        assert_clear_failure("wal-dump", &o, &["locked-out", "Permission denied"]);
    }
    let o = stele_kv_cmd(&dir, &out, Some(NOBODY));
    assert_clear_failure("stele-kv", &o, &["locked-out", "Permission denied"]);
    // A readable directory whose segment nobody may read.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for sub in ["wal", "snap"] {
        std::fs::set_permissions(dir.join(sub), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let seg = dir.join("wal").join(SEGMENT);
    std::fs::write(&seg, b"").unwrap();
    std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o000)).unwrap();
    let o = as_nobody(dump, &["--verify"]);
    assert_clear_failure(
        "wal-dump on an unreadable segment",
        &o,
        &[SEGMENT, "Permission denied"],
    );
    let o = stele_kv_cmd(&dir, &out, Some(NOBODY));
    assert_clear_failure(
        "stele-kv on an unreadable segment",
        &o,
        &["Permission denied"],
    );
}

#[test]
fn a_directory_another_process_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    let dir = s.join("held");
    std::fs::create_dir(&dir).unwrap();
    let ports = free_ports(2);
    let cluster = format!("127.0.0.1:{}", ports[0]);
    // An empty directory: a new node, which starts and holds it.
    let mut holder = Kv::new(1, &cluster, ports[1], &dir, &[]);
    holder.start();
    let o = stele_kv(&dir, s);
    assert_clear_failure("a second stele-kv", &o, &["held/wal/LOCK", "locked"]);
    // wal-dump takes no lock: it reads a running node's directory.
    let o = wal_dump(&dir, &["--verify"], s);
    assert!(
        o.status.success(),
        "wal-dump on a running node:\n{}",
        o.output
    );
    assert!(holder.terminate().success(), "{}", holder.log());
}

#[test]
fn bad_usage_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wal-dump"));
    cmd.arg("--no-such-flag");
    let o = run(cmd, tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", o.output);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stele-kv"));
    cmd.args(["--wal-segment-mib", "0"]);
    let o = run(cmd, tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", o.output);
}
