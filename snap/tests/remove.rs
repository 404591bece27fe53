//! Removing a snapshot: only the named file goes, the removal is durable when `remove` returns,
//! and a crash at any step leaves the file either whole or gone, every other snapshot intact.
//!
//! (There is no by-name purge policy in stele-snap: which snapshots may go depends on the log,
//! so stele-storage decides and calls `remove`; its crash tests cover the policy.)

mod common;

use common::*;
use stele_snap::{SnapshotId, Snapshotter};
use stele_wal::fs::sim::{CrashMode, SimFs};

/// (index, term) of the snapshots saved, in save order (not index order).
const SAVED: [(u64, u64); 4] = [(30, 1), (10, 1), (20, 1), (40, 2)];
const VICTIM: SnapshotId = SnapshotId { index: 20, term: 1 };

fn all_newest_first() -> Vec<SnapshotId> {
    let mut all: Vec<SnapshotId> = SAVED.iter().map(|&(i, t)| SnapshotId::new(i, t)).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    all
}

fn without_victim() -> Vec<SnapshotId> {
    all_newest_first()
        .into_iter()
        .filter(|&id| id != VICTIM)
        .collect()
}

fn setup() -> (SimFs, Snapshotter) {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    for (i, t) in SAVED {
        save(&snaps, i, t);
    }
    (fs, snaps)
}

#[test]
fn remove_takes_only_the_named_file() {
    let (fs, snaps) = setup();
    let others = [
        "0000000000000001-0000000000000014.snap.broken",
        "other.file",
    ];
    for name in others {
        put_file(&fs, &dir().join(name), b"x");
    }
    snaps.remove(VICTIM).unwrap();
    assert_eq!(loadable(&snaps), without_victim());
    let left = names(&fs, dir());
    for name in others {
        assert!(left.contains(&name.to_string()), "{left:?}");
    }
    // Removing it again is an I/O error naming the file, and changes nothing.
    let err = snaps.remove(VICTIM).unwrap_err();
    assert!(
        matches!(&err, stele_snap::Error::Io { op: "remove", path, .. } if *path == snaps.path_of(VICTIM)),
        "{err}"
    );
    assert_eq!(names(&fs, dir()), left);
}

#[test]
fn remove_survives_a_crash_at_every_step() {
    let (fs, snaps) = setup();
    let start = fs.steps();
    snaps.remove(VICTIM).unwrap();
    let steps = fs.steps() - start;

    let mut modes = vec![CrashMode::DropUnsynced];
    modes.extend((1..=16).map(|seed| CrashMode::KeepPrefix { seed }));
    let mut states = 0;
    for n in 1..=steps + 1 {
        for &mode in &modes {
            let (fs, snaps) = setup();
            fs.crash_at(fs.steps() + n);
            let result = snaps.remove(VICTIM);
            assert_eq!(result.is_ok(), n > steps, "step {n}: {result:?}");
            drop(snaps);
            fs.crash(mode);

            let snaps = open_sim(&fs);
            let got = loadable(&snaps);
            // The victim is whole or gone; an acknowledged removal is durable.
            assert!(
                got == all_newest_first() || got == without_victim(),
                "step {n} {mode:?}: {got:?}"
            );
            if result.is_ok() {
                assert_eq!(got, without_victim(), "step {n} {mode:?}");
            }
            states += 1;
        }
    }
    println!("remove: {steps} steps per removal, {states} crash states checked");
}
