//! Crashes at every I/O step of a save, and of the recovery after it.
//!
//! Method: run the workload once on a simulated disk and count its steps (file-system calls).
//! Then, for each step `n`, replay the same workload on a fresh disk with a crash at step `n`,
//! throw away what a power loss would lose (`DropUnsynced`, and `KeepPrefix` with several seeds,
//! which keeps a random prefix of the unsynced writes and directory changes with the last write
//! torn), reopen, and check what can be loaded.

mod common;

use std::io::Write;

use common::*;
use stele_snap::{SnapOptions, SnapshotId, Snapshotter};
use stele_wal::fs::sim::{CrashMode, SimFs};

/// The snapshots on disk before the save under test.
const OLD: [(u64, u64); 2] = [(10, 1), (20, 2)];
/// The snapshot the save under test writes.
const NEW: (u64, u64) = (30, 3);
/// Seeds of the `KeepPrefix` crash runs done at every step.
const SEEDS: u64 = 32;

fn modes() -> Vec<CrashMode> {
    let mut m = vec![CrashMode::DropUnsynced];
    m.extend((1..=SEEDS).map(|seed| CrashMode::KeepPrefix { seed }));
    m
}

fn ids(list: &[(u64, u64)]) -> Vec<SnapshotId> {
    let mut v: Vec<SnapshotId> = list.iter().map(|&(i, t)| SnapshotId::new(i, t)).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

/// A disk holding the old snapshots, and a snapshotter on it with a small write buffer so the
/// save under test takes many write steps.
fn setup() -> (SimFs, Snapshotter) {
    let fs = SimFs::new();
    let snaps = Snapshotter::open(
        DIR,
        SnapOptions {
            write_buffer: 64,
            ..sim_opts(&fs)
        },
    )
    .unwrap();
    for (i, t) in OLD {
        save(&snaps, i, t);
    }
    (fs, snaps)
}

/// The save under test: streamed in uneven chunks.
fn save_new(snaps: &Snapshotter) -> stele_snap::Result<SnapshotId> {
    let data = data_for(NEW.0, len_for(NEW.0));
    let mut w = snaps.writer(meta(NEW.0, NEW.1))?;
    for chunk in data.chunks(41) {
        w.write_data(chunk)?;
    }
    w.flush().map_err(|e| stele_snap::Error::Io {
        op: "flush",
        path: DIR.into(),
        source: e,
    })?;
    w.finish()
}

/// After a crash: reopen, and require the old set or the old set plus the new snapshot, no
/// temporary files, nothing quarantined (no damaged file may ever appear under a final name).
fn check_recovery(fs: &SimFs, saved: bool) -> bool {
    let snaps = open_sim(fs);
    let left = names(fs, dir());
    assert!(
        !left.iter().any(|n| n.ends_with(".tmp")),
        "temporary files left: {left:?}"
    );
    let got = loadable(&snaps);
    let left = names(fs, dir());
    assert!(
        !left.iter().any(|n| n.contains(".broken")),
        "a damaged snapshot appeared: {left:?}"
    );
    let old = ids(&OLD);
    let mut with_new = OLD.to_vec();
    with_new.push(NEW);
    let with_new = ids(&with_new);
    assert!(
        got == old || got == with_new,
        "loadable after crash: {got:?}"
    );
    if saved {
        assert_eq!(got, with_new, "an acknowledged save was lost");
    }
    assert_eq!(snaps.load_newest().unwrap().id(), got[0]);
    got == with_new
}

#[test]
fn crash_at_every_step_of_a_save_leaves_old_or_old_plus_new() {
    let (fs, snaps) = setup();
    let start = fs.steps();
    save_new(&snaps).unwrap();
    let steps = fs.steps() - start;
    assert!(steps > 10, "the save should take many steps, took {steps}");

    let (mut states, mut with_new) = (0u64, 0u64);
    for n in 1..=steps + 1 {
        for mode in modes() {
            let (fs, snaps) = setup();
            fs.crash_at(fs.steps() + n);
            let result = save_new(&snaps);
            assert_eq!(result.is_ok(), n > steps, "step {n}: {result:?}");
            drop(snaps);
            fs.crash(mode);
            with_new += u64::from(check_recovery(&fs, result.is_ok()));
            states += 1;
        }
    }
    println!(
        "crash_save: {steps} steps per save, {states} crash states checked, {with_new} kept the new snapshot"
    );
    assert!(with_new > 0 && with_new < states);
}

/// A disk after a crash that left temporary files of an interrupted save and a damaged newest
/// snapshot: the recovery (open, then load) itself must survive a crash at any of its steps.
fn damaged_setup() -> SimFs {
    let (fs, snaps) = setup();
    let mut w = snaps.writer(meta(40, 4)).unwrap();
    w.write_data(&data_for(40, 1000)).unwrap();
    w.flush().unwrap();
    std::mem::forget(w); // the process "dies" with the temporary file on disk
    save(&snaps, NEW.0, NEW.1);
    let path = snaps.path_of(SnapshotId::new(NEW.0, NEW.1));
    let mut bytes = fs.read_file(&path).unwrap();
    bytes[200] ^= 1;
    fs.write_file(&path, &bytes);
    drop(snaps);
    fs.crash(CrashMode::DropUnsynced);
    fs
}

#[test]
fn crash_at_every_step_of_recovery_is_recoverable() {
    let fs = damaged_setup();
    let start = fs.steps();
    let snaps = open_sim(&fs);
    assert_eq!(snaps.load_newest().unwrap().id(), SnapshotId::new(20, 2));
    let steps = fs.steps() - start;
    drop(snaps);

    let mut states = 0;
    for n in 1..=steps {
        for mode in modes() {
            let fs = damaged_setup();
            fs.crash_at(fs.steps() + n);
            let result = Snapshotter::open(DIR, sim_opts(&fs)).and_then(|s| s.load_newest());
            assert!(result.is_err(), "step {n} of {steps} should have crashed");
            fs.crash(mode);
            let snaps = open_sim(&fs);
            assert_eq!(snaps.load_newest().unwrap().id(), SnapshotId::new(20, 2));
            assert_eq!(loadable(&snaps), ids(&OLD));
            let left = names(&fs, dir());
            assert!(!left.iter().any(|n| n.ends_with(".tmp")), "{left:?}");
            assert!(left.contains(&"0000000000000003-000000000000001e.snap.broken".to_string()));
            states += 1;
        }
    }
    println!("crash_recovery: {steps} steps per recovery, {states} crash states checked");
}
