//! Purging keeps exactly the newest N, touches nothing else, and survives a crash at any step.

mod common;

use common::*;
use stele_snap::{Purged, SnapOptions, SnapshotId, Snapshotter, DEFAULT_KEEP};
use stele_wal::fs::sim::{CrashMode, SimFs};

/// (index, term) of the snapshots saved before purging, in save order (not index order).
const SAVED: [(u64, u64); 8] = [
    (30, 1),
    (10, 1),
    (20, 1),
    (50, 2),
    (40, 2),
    (80, 3),
    (60, 2),
    (70, 3),
];

fn newest(n: usize) -> Vec<SnapshotId> {
    let mut all: Vec<SnapshotId> = SAVED.iter().map(|&(i, t)| SnapshotId::new(i, t)).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.truncate(n);
    all
}

fn setup(keep: usize) -> (SimFs, Snapshotter) {
    let fs = SimFs::new();
    let snaps = Snapshotter::open(
        DIR,
        SnapOptions {
            keep,
            ..sim_opts(&fs)
        },
    )
    .unwrap();
    for (i, t) in SAVED {
        save(&snaps, i, t);
    }
    (fs, snaps)
}

#[test]
fn purge_keeps_exactly_the_newest_n() {
    let (fs, snaps) = setup(3);
    for name in [
        "0000000000000001-0000000000000001.snap.broken",
        "other.file",
    ] {
        put_file(&fs, &dir().join(name), b"x");
    }
    let purged = snaps.purge().unwrap();
    let mut oldest_first = newest(8)[3..].to_vec();
    oldest_first.reverse();
    assert_eq!(
        purged,
        Purged {
            removed: oldest_first,
            kept: 3
        }
    );
    assert_eq!(loadable(&snaps), newest(3));
    assert_eq!(
        snaps.purge().unwrap(),
        Purged {
            removed: vec![],
            kept: 3
        }
    );
    let left = names(&fs, dir());
    assert!(left.contains(&"other.file".to_string()), "{left:?}");
    assert!(left.contains(&"0000000000000001-0000000000000001.snap.broken".to_string()));

    assert_eq!(snaps.purge_keep(1).unwrap().kept, 1);
    assert_eq!(snaps.list().unwrap(), newest(1));
    // `keep` is at least 1: the newest snapshot is never purged.
    assert_eq!(
        snaps.purge_keep(0).unwrap(),
        Purged {
            removed: vec![],
            kept: 1
        }
    );
    assert_eq!(snaps.list().unwrap(), newest(1));
}

#[test]
fn the_default_keeps_five() {
    let (_fs, snaps) = setup(DEFAULT_KEEP);
    assert_eq!(snaps.options().keep, 5);
    assert_eq!(snaps.purge().unwrap().removed.len(), 3);
    assert_eq!(loadable(&snaps), newest(5));
}

#[test]
fn purge_survives_a_crash_at_every_step() {
    let (fs, snaps) = setup(3);
    let start = fs.steps();
    snaps.purge().unwrap();
    let steps = fs.steps() - start;

    let mut modes = vec![CrashMode::DropUnsynced];
    modes.extend((1..=16).map(|seed| CrashMode::KeepPrefix { seed }));
    let mut states = 0;
    for n in 1..=steps + 1 {
        for &mode in &modes {
            let (fs, snaps) = setup(3);
            fs.crash_at(fs.steps() + n);
            let result = snaps.purge();
            assert_eq!(result.is_ok(), n > steps, "step {n}: {result:?}");
            drop(snaps);
            fs.crash(mode);

            let snaps = Snapshotter::open(
                DIR,
                SnapOptions {
                    keep: 3,
                    ..sim_opts(&fs)
                },
            )
            .unwrap();
            let got = loadable(&snaps);
            // Oldest first, each removal durable before the next: what is left is always the
            // newest K, for some K between 3 and 8 (and exactly 3 after an acknowledged purge).
            assert!(
                got.len() >= 3 && got == newest(got.len()),
                "step {n} {mode:?}: {got:?}"
            );
            if result.is_ok() {
                assert_eq!(got, newest(3));
            }
            snaps.purge().unwrap();
            assert_eq!(loadable(&snaps), newest(3));
            states += 1;
        }
    }
    println!("purge: {steps} steps per purge, {states} crash states checked");
}
