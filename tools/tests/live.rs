//! `wal-dump` on the directory of a live writer: it takes no lock (the writer holds it), changes
//! no byte, and never fails other than by reporting what it read mid-write.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{run_binary, run_in_process, snapshot_tree};
use raft::eraftpb::{ConfState, Entry, HardState};
use stele_storage::{DiskStorage, StorageOptions};
use stele_wal::WalOptions;

fn open(dir: &std::path::Path) -> DiskStorage {
    let opts = StorageOptions {
        wal: WalOptions {
            segment_size: 4096,
            ..WalOptions::default()
        },
        ..StorageOptions::default()
    };
    DiskStorage::open(dir, opts).unwrap()
}

fn append(s: &DiskStorage, from: u64, n: u64) {
    let ents: Vec<Entry> = (from..from + n)
        .map(|i| Entry {
            index: i,
            term: 1,
            data: format!("put key{i} value{i} with some padding")
                .into_bytes()
                .into(),
            ..Entry::default()
        })
        .collect();
    let hs = HardState {
        term: 1,
        vote: 1,
        commit: from + n - 1,
        ..HardState::default()
    };
    s.append(&ents, Some(&hs), true).unwrap();
}

fn init(s: &DiskStorage) {
    let cs = ConfState {
        voters: vec![1, 2, 3],
        ..ConfState::default()
    };
    s.initialize_with_conf_state(&cs).unwrap();
}

#[test]
fn an_idle_live_writer_sees_nothing_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    init(&s);
    for b in 0..30 {
        append(&s, 1 + b * 4, 4);
    }
    let data = b"state".to_vec();
    s.create_snapshot(60, &s.conf_state(), &mut &data[..])
        .unwrap();
    s.compact(60).unwrap();
    append(&s, 121, 4);
    // Idle means nothing is written: wait (bounded) for a spare being prepared in the
    // background after the last cut.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.wal().stats().spare_preparing {
        assert!(
            std::time::Instant::now() < deadline,
            "the spare never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before = snapshot_tree(dir.path());
    let d = dir.path().to_str().unwrap();
    for args in [&[][..], &["--raw"], &["--stats"], &["--format", "json"]] {
        let (code, out, err) = run_in_process(dir.path(), args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let (code, out, err) = run_binary(&["--verify", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("result: ok"), "{out}");
    assert!(
        before == snapshot_tree(dir.path()),
        "the tool changed a file"
    );
    // The writer still holds its locks and carries on.
    append(&s, 125, 4);
    assert_eq!(raft::Storage::last_index(&s).unwrap(), 128);
}

#[test]
fn an_appending_writer_never_breaks_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    init(&s);
    append(&s, 1, 4);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (s, stop, written) = (s.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || {
            let mut next = 5;
            while !stop.load(Ordering::Relaxed) {
                append(&s, next, 3);
                next += 3;
                written.store(next, Ordering::Relaxed);
                if next % 60 == 2 {
                    // Snapshots and compaction purge segments while the tool reads.
                    let at = next - 10;
                    s.create_snapshot(at, &s.conf_state(), &mut &b"state"[..])
                        .unwrap();
                    s.compact(at).unwrap();
                }
            }
            next
        })
    };
    let d = dir.path().to_str().unwrap().to_string();
    let mut damaged = 0;
    let mut round = 0;
    // Run until the writer has cut and purged segments many times, and at least 12 rounds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while (round < 12 || written.load(Ordering::Relaxed) < 1500)
        && !writer.is_finished()
        && std::time::Instant::now() < deadline
    {
        round += 1;
        let args: &[&str] = match round % 4 {
            0 => &[],
            1 => &["--raw"],
            2 => &["--verify"],
            _ => &["--stats", "--format", "json"],
        };
        let (code, out, err) = run_in_process(dir.path(), args);
        assert!(code == 0 || code == 1, "{args:?}: {code}\n{out}{err}");
        damaged += code;
        if round % 3 == 0 {
            let mut argv = vec![d.as_str()];
            argv.extend_from_slice(args);
            let (code, out, err) = run_binary(&argv);
            assert!(code == 0 || code == 1, "{argv:?}: {code}\n{out}{err}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let next = writer.join().unwrap();
    eprintln!("{round} runs, {damaged} saw a write or purge in progress; {next} entries written");
    assert!(next > 5);
    // Once the writer is idle, the directory verifies.
    let (code, out, err) = run_in_process(dir.path(), &["--verify"]);
    assert_eq!(code, 0, "{out}{err}");
}
