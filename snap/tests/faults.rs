//! Failing calls (EIO, a short write, a full disk) during a save: the save reports an I/O error
//! naming the call and file, the directory's set of snapshots is unchanged, and no temporary
//! file is left behind.

mod common;

use common::*;
use stele_snap::{Error, SnapOptions, SnapshotId, Snapshotter};
use stele_wal::fs::sim::{Fault, Op, SimFs};

fn setup() -> (SimFs, Snapshotter) {
    let fs = SimFs::new();
    let snaps = Snapshotter::open(
        DIR,
        SnapOptions {
            write_buffer: 256,
            ..sim_opts(&fs)
        },
    )
    .unwrap();
    save(&snaps, 10, 1);
    (fs, snaps)
}

fn assert_unchanged(fs: &SimFs, snaps: &Snapshotter) {
    assert_eq!(loadable(snaps), vec![SnapshotId::new(10, 1)]);
    let left = names(fs, dir());
    assert!(
        !left.iter().any(|n| n.ends_with(".tmp")),
        "temporary file left: {left:?}"
    );
}

#[test]
fn a_failing_call_fails_the_save_and_changes_nothing() {
    let cases = [
        (Op::Create, Fault::Eio, "create"),
        (Op::Write, Fault::Eio, "write"),
        (Op::Write, Fault::ShortWrite, "write"),
        (Op::Write, Fault::NoSpace, "write"),
        (Op::SyncAll, Fault::Eio, "sync"),
        (Op::Rename, Fault::Eio, "rename"),
    ];
    for (op, fault, name) in cases {
        for nth in 0..3 {
            let (fs, snaps) = setup();
            fs.fail(op, nth, fault);
            let result = snaps.save_bytes(&meta(20, 2), &data_for(20, 2000));
            if matches!(op, Op::Create | Op::SyncAll | Op::Rename) && nth > 0 {
                // Only one such call per save: the fault never fires.
                result.unwrap();
                continue;
            }
            match result {
                Err(Error::Io { op, path, .. }) => {
                    assert_eq!(op, name, "{fault:?} on {op:?}");
                    assert!(path.starts_with(DIR), "{path:?}");
                }
                other => panic!("{fault:?} on {op:?} #{nth}: {other:?}"),
            }
            assert_unchanged(&fs, &snaps);
        }
    }
}

#[test]
fn a_full_disk_is_reported_as_such() {
    let (fs, snaps) = setup();
    fs.set_capacity(Some(4000));
    let err = snaps
        .save_bytes(&meta(20, 2), &data_for(20, 5000))
        .unwrap_err();
    assert!(err.is_no_space(), "{err}");
    assert_unchanged(&fs, &snaps);
    fs.set_capacity(None);
    save(&snaps, 20, 2);
    assert_eq!(loadable(&snaps).len(), 2);
}

#[test]
fn a_writer_refuses_work_after_a_failed_write() {
    let (fs, snaps) = setup();
    let mut w = snaps.writer(meta(20, 2)).unwrap();
    fs.fail(Op::Write, 0, Fault::Eio);
    assert!(w.write_data(&[1; 1000]).is_err());
    assert!(
        w.write_data(&[1; 10]).is_err(),
        "a write after a failure must fail too"
    );
    assert!(matches!(w.finish(), Err(Error::Io { op: "write", .. })));
    assert_unchanged(&fs, &snaps);
}

#[test]
fn a_failed_directory_sync_after_the_rename_leaves_a_complete_snapshot() {
    let (fs, snaps) = setup();
    fs.fail(Op::SyncDir, 0, Fault::Eio);
    let err = snaps
        .save_bytes(&meta(20, 2), &data_for(20, len_for(20)))
        .unwrap_err();
    assert!(matches!(err, Error::Io { op: "sync_dir", .. }), "{err}");
    // Not acknowledged, but whatever is under the final name is complete and valid.
    assert_eq!(
        loadable(&snaps),
        vec![SnapshotId::new(20, 2), SnapshotId::new(10, 1)]
    );
}

#[test]
fn a_read_error_while_loading_is_not_mistaken_for_damage() {
    let (fs, snaps) = setup();
    fs.fail(Op::Read, 1, Fault::Eio);
    let err = snaps.load_newest().unwrap_err();
    assert!(matches!(err, Error::Io { op: "read", .. }), "{err}");
    assert!(!names(&fs, dir()).iter().any(|n| n.contains(".broken")));
    assert_eq!(snaps.load_newest().unwrap().id(), SnapshotId::new(10, 1));
}
