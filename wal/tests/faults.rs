//! Fault injection through the seam: a failed fdatasync, write or directory sync poisons the
//! log; ENOSPC while cutting leaves the log readable and unchanged; a second open is `Locked`;
//! concurrent synced appends share one fdatasync (group commit).

mod common;

use std::sync::{Arc, Mutex};

use common::{batch, open, Model};
use stele_wal::fs::sim::{CrashMode, Fault, Op, SimFs};
use stele_wal::{Error, Wal};

const SEG: u64 = 4 << 10;

fn fill(wal: &Wal, model: &mut Model, from: u64, to: u64) {
    for i in from..to {
        let (b, ents) = batch(i, 1, 1, 100, None);
        model.append(i, &ents, None);
        wal.append(b, true).unwrap();
    }
}

/// Appends synced single-entry batches from `from` until one fails (the next cut, in these
/// tests); returns the error and the index that failed.
fn append_until_error(wal: &Wal, model: &mut Model, from: u64) -> (Error, u64) {
    for i in from..from + 1000 {
        let (b, ents) = batch(i, 1, 1, 100, None);
        match wal.append(b, true) {
            Ok(_) => model.append(i, &ents, None),
            Err(e) => return (e, i),
        }
    }
    panic!("no cut happened in 1000 appends");
}

/// Power loss: the handle is dropped, unsynced writes are lost; the reopened log must equal the
/// model (everything acknowledged as synced).
fn crash_and_check(fs: &SimFs, wal: Wal, model: &Model) {
    drop(wal);
    fs.crash(CrashMode::DropUnsynced);
    let wal = open(fs, SEG).unwrap();
    model.matches(&wal, 1).unwrap();
}

fn assert_poisoned(wal: &Wal) {
    let (b, _) = batch(wal_last(wal) + 1, 1, 1, 10, None);
    assert!(matches!(wal.append(b, false), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
    assert!(matches!(
        wal.entries(1, 2, None),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(wal.last_index(), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.purge(1), Err(Error::Poisoned { .. })));
}

fn wal_last(wal: &Wal) -> u64 {
    wal.last_index().unwrap_or(0)
}

#[test]
fn failed_fdatasync_poisons_and_loses_nothing_acknowledged() {
    let fs = SimFs::new();
    let wal = open(&fs, SEG).unwrap();
    let mut model = Model::default();
    fill(&wal, &mut model, 1, 10);
    fs.fail(Op::SyncData, 0, Fault::Eio);
    let (b, _) = batch(10, 1, 1, 100, None);
    let err = wal.append(b, true).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io {
                op: "fdatasync",
                ..
            }
        ),
        "{err}"
    );
    assert_poisoned(&wal);
    crash_and_check(&fs, wal, &model);
}

#[test]
fn failed_and_short_writes_poison_and_recover_as_torn_tail() {
    for fault in [Fault::Eio, Fault::ShortWrite, Fault::NoSpace] {
        let fs = SimFs::new();
        let wal = open(&fs, SEG).unwrap();
        let mut model = Model::default();
        fill(&wal, &mut model, 1, 5);
        fs.fail(Op::Write, 0, fault);
        let (b, _) = batch(5, 1, 1, 100, None);
        let err = wal.append(b, true).unwrap_err();
        assert!(
            matches!(err, Error::Io { op: "write", .. }),
            "{fault:?}: {err}"
        );
        assert_poisoned(&wal);
        drop(wal);
        let wal = open(&fs, SEG).unwrap();
        model.matches(&wal, 1).unwrap();
        assert_eq!(
            wal.recovery().torn_tail.is_some(),
            fault == Fault::ShortWrite,
            "{fault:?}"
        );
    }
}

#[test]
fn failed_directory_sync_while_cutting_poisons() {
    let fs = SimFs::new();
    let wal = open(&fs, SEG).unwrap();
    let mut model = Model::default();
    fill(&wal, &mut model, 1, 3);
    fs.fail(Op::SyncDir, 0, Fault::Eio);
    let (err, _) = append_until_error(&wal, &mut model, 3);
    assert!(matches!(err, Error::Io { op: "sync_dir", .. }), "{err}");
    assert_poisoned(&wal);
    crash_and_check(&fs, wal, &model);
}

#[test]
fn no_space_while_cutting_leaves_the_log_readable_and_unchanged() {
    let fs = SimFs::new();
    let wal = open(&fs, SEG).unwrap();
    let mut model = Model::default();
    fill(&wal, &mut model, 1, 3);
    // The disk is full: appends inside the preallocated segment still work, a new one cannot
    // be created.
    fs.set_capacity(Some(SEG + 512));
    let (err, i) = append_until_error(&wal, &mut model, 3);
    assert!(err.is_no_space(), "{err}");
    model.matches(&wal, 1).unwrap();
    // Space comes back: the same handle goes on.
    fs.set_capacity(None);
    fill(&wal, &mut model, i, i + 3);
    crash_and_check(&fs, wal, &model);
}

#[test]
fn a_second_open_is_locked_until_the_first_is_dropped() {
    let fs = SimFs::new();
    let wal = open(&fs, SEG).unwrap();
    let err = open(&fs, SEG).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("LOCK"), "{err}");
    drop(wal);
    open(&fs, SEG).unwrap();
}

#[test]
fn concurrent_synced_appends_share_one_fdatasync() {
    const THREADS: u64 = 8;
    let fs = SimFs::new();
    let wal = Arc::new(open(&fs, 1 << 20).unwrap());
    let (b, _) = batch(1, 1, 1, 10, None);
    wal.append(b, true).unwrap(); // segment created; its syncs are done
    let syncs_before = wal.stats().syncs;
    fs.hold_syncs(true);
    let next = Arc::new(Mutex::new(2u64));
    let mut handles = Vec::new();
    for _ in 0..THREADS {
        let (wal, next) = (wal.clone(), next.clone());
        handles.push(std::thread::spawn(move || {
            let mut n = next.lock().unwrap();
            let (b, _) = batch(*n, 1, 1, 100, None);
            *n += 1;
            // Written in index order under `next`; the sync wait happens after it is released.
            wal.append_unsynced_then_sync(b, n)
        }));
    }
    // Wait (bounded by the threads' own progress) until one sync is held and all have written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fs.held_syncs() < 1 || wal.last_index().unwrap() < THREADS + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "threads did not line up"
        );
        std::thread::yield_now();
    }
    fs.hold_syncs(false);
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let syncs = wal.stats().syncs - syncs_before;
    println!("{THREADS} synced appends took {syncs} fdatasync calls");
    assert!(
        syncs <= 2,
        "{THREADS} concurrent synced appends used {syncs} fdatasyncs"
    );
}

trait AppendThenSync {
    fn append_unsynced_then_sync(
        &self,
        b: stele_wal::Batch,
        guard: std::sync::MutexGuard<'_, u64>,
    ) -> stele_wal::Result<u64>;
}

impl AppendThenSync for Wal {
    fn append_unsynced_then_sync(
        &self,
        b: stele_wal::Batch,
        guard: std::sync::MutexGuard<'_, u64>,
    ) -> stele_wal::Result<u64> {
        self.append(b, false)?;
        drop(guard);
        self.sync()
    }
}

#[test]
fn concurrent_synced_metadata_appends_share_one_fdatasync() {
    const THREADS: u64 = 8;
    let fs = SimFs::new();
    let wal = Arc::new(open(&fs, 1 << 20).unwrap());
    let (b, _) = batch(1, 1, 1, 10, None);
    wal.append(b, true).unwrap();
    let syncs_before = wal.stats().syncs;
    let appends_before = wal.stats().appends;
    fs.hold_syncs(true);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut b = stele_wal::Batch::new();
                b.set_hard_state(stele_wal::HardState {
                    term: 1,
                    vote: t,
                    commit: 1,
                });
                wal.append(b, true)
            })
        })
        .collect();
    // One append is syncing (held); the other seven have written and wait behind it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fs.held_syncs() < 1 || wal.stats().appends < appends_before + THREADS {
        assert!(
            std::time::Instant::now() < deadline,
            "threads did not line up"
        );
        std::thread::yield_now();
    }
    fs.hold_syncs(false);
    for h in handles {
        assert!(h.join().unwrap().unwrap().durable);
    }
    let syncs = wal.stats().syncs - syncs_before;
    println!("{THREADS} synced metadata appends took {syncs} fdatasync calls");
    assert!(syncs <= 2, "{syncs} fdatasyncs");
}
