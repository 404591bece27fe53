//! Failures surface as errors, never as silent changes: after a failed sync every write fails;
//! errors map onto the `raft::StorageError` kinds raft expects.

use std::sync::Arc;

use raft::eraftpb::{ConfState, Entry, HardState};
use raft::{GetEntriesContext, Storage, StorageError};
use stele_storage::{DiskStorage, Error, Finding, StorageOptions};
use stele_wal::fs::sim::{CrashMode, Fault, Op, SimFs};

fn entry(index: u64, term: u64) -> Entry {
    let mut e = Entry::default();
    e.set_index(index);
    e.set_term(term);
    e.set_data(format!("e{index}").into_bytes().into());
    e
}

fn hs(commit: u64) -> HardState {
    let mut h = HardState::default();
    h.set_term(1);
    h.set_commit(commit);
    h
}

fn open(fs: &SimFs) -> DiskStorage {
    DiskStorage::open("/s", StorageOptions::with_fs(Arc::new(fs.clone()))).unwrap()
}

/// Entries 1..=10 committed, a snapshot at 5, the log compacted to 5.
fn compacted_at_5() -> (SimFs, DiskStorage) {
    let fs = SimFs::new();
    let s = open(&fs);
    let ents: Vec<Entry> = (1..=10).map(|i| entry(i, 1)).collect();
    s.append(&ents, Some(&hs(10)), true).unwrap();
    s.create_snapshot(5, &ConfState::default(), &mut &b"five"[..])
        .unwrap();
    s.compact(5).unwrap();
    (fs, s)
}

#[test]
fn after_a_failed_sync_every_write_fails_and_nothing_acknowledged_is_lost() {
    let fs = SimFs::new();
    let s = open(&fs);
    s.append(&[entry(1, 1), entry(2, 1)], Some(&hs(2)), true)
        .unwrap();
    fs.fail(Op::SyncData, 0, Fault::Eio);
    assert!(s.append(&[entry(3, 1)], None, true).is_err());
    let poisoned = |r: stele_storage::Result<()>| {
        let e = r.unwrap_err();
        assert!(
            matches!(e, Error::Wal(stele_wal::Error::Poisoned { .. })),
            "{e}"
        );
    };
    poisoned(s.append(&[entry(4, 1)], None, false));
    poisoned(s.set_commit(3));
    poisoned(s.set_conf_state(&ConfState::default()));
    poisoned(s.sync().map(|_| ()));
    poisoned(
        s.create_snapshot(2, &ConfState::default(), &mut &b""[..])
            .map(|_| ()),
    );
    // raft sees the failure as a fatal storage error, not as data.
    assert!(matches!(
        s.entries(1, 2, None, GetEntriesContext::empty(false)),
        Err(raft::Error::Store(StorageError::Other(_)))
    ));
    drop(s);
    fs.crash(CrashMode::DropUnsynced);
    let s = open(&fs);
    assert_eq!(s.last_index().unwrap(), 2);
    assert_eq!(s.hard_state().commit, 2);
}

#[test]
fn storage_errors_map_onto_the_kinds_raft_expects() {
    let (_fs, s) = compacted_at_5();
    let ctx = || GetEntriesContext::empty(false);
    assert!(matches!(
        s.entries(5, 7, None, ctx()),
        Err(raft::Error::Store(StorageError::Compacted))
    ));
    assert!(matches!(
        s.entries(6, 12, None, ctx()),
        Err(raft::Error::Store(StorageError::Unavailable))
    ));
    assert!(matches!(
        s.term(4),
        Err(raft::Error::Store(StorageError::Compacted))
    ));
    assert_eq!(s.term(5).unwrap(), 1);
    assert!(matches!(
        s.term(11),
        Err(raft::Error::Store(StorageError::Unavailable))
    ));
    assert!(matches!(
        s.snapshot(6, 2),
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable
        ))
    ));
    assert_eq!(s.snapshot_wanted(), 6);
    assert_eq!(s.snapshot(5, 2).unwrap().get_metadata().index, 5);
}

#[test]
fn a_log_that_starts_after_its_snapshot_is_refused_on_open() {
    // Delete the only snapshot file behind the storage's back: the log starts at 6 and nothing
    // can rebuild entries 1..=5. Opening must say so rather than let raft fail later.
    let (fs, s) = compacted_at_5();
    drop(s);
    fs.delete_file(std::path::Path::new(
        "/s/snap/0000000000000001-0000000000000005.snap",
    ));
    let err = DiskStorage::open("/s", StorageOptions::with_fs(Arc::new(fs.clone()))).unwrap_err();
    let Error::Disagreement(d) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        d.problems().collect::<Vec<_>>(),
        [&Finding::EntriesInNeither {
            wal: "/s/wal".into(),
            first: 6,
            covered: 0
        }]
    );
    assert!(
        err.to_string()
            .starts_with("/s/wal: the log starts at index 6"),
        "{err}"
    );
}

/// `create_snapshot_with`: the data written straight into the file is what is served; a
/// failure of the caller's writer is `SnapshotData` and one of the file is `Snap`, and either
/// way nothing is saved or served and no file is left behind.
#[test]
fn create_snapshot_with_tells_the_writers_failure_from_the_files() {
    let (fs, s) = compacted_at_5();
    let snap_files = || {
        use stele_wal::fs::FileSystem as _;
        let mut names = fs.list(std::path::Path::new("/s/snap")).unwrap();
        names.retain(|n| n.contains(".snap"));
        names.sort();
        names
    };
    let before = snap_files();

    let err = s
        .create_snapshot_with(8, &ConfState::default(), |w| {
            w.write_all(b"half of it")?;
            Err(std::io::Error::other("the machine could not write"))
        })
        .unwrap_err();
    assert!(matches!(err, Error::SnapshotData(_)), "{err}");
    assert_eq!(s.snapshot_metadata().index, 5, "nothing served");
    assert_eq!(snap_files(), before, "no file saved or left behind");

    fs.fail(Op::Write, 0, Fault::Eio);
    let big = vec![7u8; 4 << 20]; // past the file's write buffer: the write reaches the disk
    let err = s
        .create_snapshot_with(8, &ConfState::default(), |w| w.write_all(&big))
        .unwrap_err();
    assert!(matches!(err, Error::Snap(_)), "{err}");
    assert_eq!(s.snapshot_metadata().index, 5, "nothing served");
    assert_eq!(snap_files(), before, "no file saved or left behind");

    let meta = s
        .create_snapshot_with(8, &ConfState::default(), |w| w.write_all(b"eight"))
        .unwrap();
    assert_eq!(meta.index, 8);
    let served = s.snapshot(8, 2).unwrap();
    assert_eq!(served.get_metadata().index, 8);
    assert_eq!(served.get_data(), b"eight");
}

/// The error and its sources, outermost first, as `Display` shows each.
fn chain(e: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out
}

/// storage -> snap -> io: walking the chain prints each fact (the call, the path, the
/// operating system's reason) exactly once.
#[test]
fn a_nested_error_prints_each_fact_once() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    std::fs::write(&snap, b"not a directory").unwrap();
    let err = DiskStorage::open(dir.path(), StorageOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Snap(stele_snap::Error::Io { .. })),
        "{err}"
    );
    let links = chain(&err);
    assert_eq!(links.len(), 2, "{links:?}");
    // (std says "File exists"; StdFs names what is in the way.)
    let io = "exists and is not a directory".to_string();
    let whole = links.join(": ");
    assert_eq!(
        whole.matches(&snap.display().to_string()).count(),
        1,
        "{whole}"
    );
    assert_eq!(whole.matches(&io).count(), 1, "{whole}");
    assert_eq!(links[1], io);
}

/// storage -> wal: the storage layer adds no text of its own (the WAL's error speaks for
/// itself, its sources after it).
#[test]
fn a_wal_error_passes_through_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wal"), b"not a directory").unwrap();
    let err = DiskStorage::open(dir.path(), StorageOptions::default()).unwrap_err();
    let Error::Wal(inner) = &err else {
        panic!("{err}")
    };
    assert_eq!(chain(&err), chain(inner));
}
