//! The spare (`src/spare.rs`): the first segment exists when opening returns, a cut takes the
//! prepared file instead of preallocating one, a spare survives a clean close and is reused by
//! the next open, a failed preparation neither poisons the WAL nor loses an append, and the
//! preparing thread leaves the same files as inline preparation; `Wal::check_room` reports a
//! failed preparation (the disk full) as `NoRoom` naming the file, until a retry succeeds.

mod common;

use std::path::Path;

use common::{batch, sim_opts};
use stele_wal::fs::sim::{Fault, Op, SimFs};
use stele_wal::fs::FileSystem;
use stele_wal::{Error, Wal, WalOptions};

const SEG: u64 = 4 << 10;

fn names(fs: &SimFs) -> Vec<String> {
    let mut v = fs.list(Path::new("/w")).unwrap();
    v.sort();
    v
}

fn with(fs: &SimFs, background: bool) -> WalOptions {
    WalOptions {
        background_prepare: background,
        ..sim_opts(fs, SEG)
    }
}

/// Appends synced 3-entry batches from `next` until the WAL has `segments` segments.
fn fill_to(wal: &Wal, next: &mut u64, segments: usize) {
    while wal.stats().segments < segments {
        let (b, _) = batch(*next, 3, 1, 300, None);
        wal.append(b, true).unwrap();
        *next += 3;
    }
}

#[test]
fn opening_creates_the_first_segment_and_a_spare() {
    let fs = SimFs::new();
    let wal = Wal::open("/w", with(&fs, false)).unwrap();
    assert_eq!(wal.stats().segments, 1);
    assert!(wal.stats().spare_ready);
    assert_eq!(
        names(&fs),
        [
            "0000000000000000-0000000000000001.wal",
            "0000000000000001.spare",
        ]
    );
    // The first append writes into the open segment: no create, no preallocation.
    let steps = fs.steps();
    let (b, _) = batch(1, 1, 1, 10, None);
    wal.append(b, true).unwrap();
    assert_eq!(fs.steps() - steps, 2, "one write and one fdatasync");
}

#[test]
fn a_cut_takes_the_spare_and_asks_for_the_next() {
    let fs = SimFs::new();
    let wal = Wal::open("/w", with(&fs, false)).unwrap();
    let mut next = 1;
    fill_to(&wal, &mut next, 2);
    let n = names(&fs);
    assert!(n.contains(&"0000000000000002.spare".to_string()), "{n:?}");
    assert!(!n.contains(&"0000000000000001.spare".to_string()), "{n:?}");
    assert!(!n.iter().any(|x| x.ends_with(".tmp")), "{n:?}");
    assert!(
        n.iter().any(|x| x.starts_with("0000000000000001-")),
        "segment 1 is the renamed spare: {n:?}"
    );
}

#[test]
fn a_spare_outlives_the_handle_and_is_reused() {
    let fs = SimFs::new();
    drop(Wal::open("/w", with(&fs, true)).unwrap());
    assert!(names(&fs).contains(&"0000000000000001.spare".to_string()));
    let wal = Wal::open("/w", with(&fs, false)).unwrap();
    // The leftover spare is taken as it is: no new spare file is made while it is ready.
    assert!(wal.stats().spare_ready);
    let spares = names(&fs).iter().filter(|x| x.ends_with(".spare")).count();
    assert_eq!(spares, 1, "{:?}", names(&fs));
    let mut next = 1;
    fill_to(&wal, &mut next, 2);
    assert!(names(&fs).contains(&"0000000000000002.spare".to_string()));
}

#[test]
fn a_failed_preparation_does_not_poison_or_lose_an_append() {
    let fs = SimFs::new();
    let wal = Wal::open("/w", with(&fs, false)).unwrap();
    let mut next = 1;
    fill_to(&wal, &mut next, 2);
    // The preparation after the next cut fails (its create): the cut after that prepares its
    // own file, and every append succeeds.
    fs.fail(Op::Create, 0, Fault::NoSpace);
    fill_to(&wal, &mut next, 3);
    assert!(!wal.stats().spare_ready, "the failed spare is not there");
    fill_to(&wal, &mut next, 4);
    let last = wal.last_index().unwrap();
    assert_eq!(last, next - 1);
    assert_eq!(wal.entries(1, last + 1, None).unwrap().len() as u64, last);
    assert!(
        !names(&fs).iter().any(|x| x.ends_with(".tmp")),
        "{:?}",
        names(&fs)
    );
}

#[test]
fn the_thread_leaves_the_files_inline_preparation_leaves() {
    let run = |background: bool| {
        let fs = SimFs::new();
        let wal = Wal::open("/w", with(&fs, background)).unwrap();
        let mut next = 1;
        fill_to(&wal, &mut next, 5);
        let stats = wal.stats();
        drop(wal);
        (names(&fs), stats)
    };
    let (inline, _) = run(false);
    let (threaded, stats) = run(true);
    // Salts differ (random), names do not.
    assert_eq!(inline, threaded);
    println!(
        "with the thread: {} cuts waited for the spare",
        stats.spare_waits
    );
}

#[test]
fn a_failed_preparation_is_reported_as_no_room_until_a_retry_succeeds() {
    let fs = SimFs::new();
    let opts = WalOptions {
        room_retry: std::time::Duration::from_secs(3600),
        ..with(&fs, false)
    };
    let wal = Wal::open("/w", opts).unwrap();
    wal.check_room().expect("a fresh WAL has a spare");
    let mut next = 1;
    fs.fail(Op::Create, 0, Fault::NoSpace); // the spare asked for after the next cut
    fill_to(&wal, &mut next, 2);
    match wal.check_room() {
        Err(Error::NoRoom { reason }) => {
            assert!(reason.contains("0000000000000002.spare.tmp"), "{reason}");
            assert!(reason.contains("No space left"), "{reason}");
        }
        other => panic!("expected NoRoom, got {other:?}"),
    }
    // Not retried before the interval: still reported (the fault is gone by now).
    assert!(matches!(wal.check_room(), Err(Error::NoRoom { .. })));
    assert!(!wal.stats().spare_ready);
    drop(wal);

    // With a zero interval the next check retries (inline) and, the disk having room, clears.
    let opts = WalOptions {
        room_retry: std::time::Duration::ZERO,
        ..with(&fs, false)
    };
    let wal = Wal::open("/w", opts).unwrap();
    let mut next = wal.last_index().unwrap() + 1;
    let segs = wal.stats().segments;
    fs.fail(Op::Create, 0, Fault::NoSpace);
    fill_to(&wal, &mut next, segs + 1);
    fs.fail(Op::Create, 0, Fault::NoSpace); // the first retry fails too
    assert!(matches!(wal.check_room(), Err(Error::NoRoom { .. })));
    wal.check_room().expect("the second retry finds room");
    assert!(wal.stats().spare_ready);
    assert!(
        !names(&fs).iter().any(|x| x.ends_with(".tmp")),
        "{:?}",
        names(&fs)
    );
}
