//! Cuts complete at the next sync: an unsynced writer crosses cuts without any `fdatasync` (the
//! sealed segments wait, the new segments keep their prepared names), its entries stay readable,
//! and one `sync` makes everything durable and names every segment; dropping the handle
//! completes pending cuts, so a reopen finds every segment and entry.

mod common;

use std::path::Path;

use common::{batch, sim_opts};
use stele_wal::fs::sim::SimFs;
use stele_wal::fs::FileSystem;
use stele_wal::Wal;

const SEG: u64 = 4 << 10;

fn named_segments(fs: &SimFs) -> usize {
    let names = fs.list(Path::new("/w")).unwrap();
    names.iter().filter(|n| n.ends_with(".wal")).count()
}

/// Appends unsynced 3-entry batches until the WAL holds `segments` segments; returns the
/// last index.
fn fill_unsynced(wal: &Wal, segments: usize) -> u64 {
    let mut next = wal.last_index().unwrap() + 1;
    while wal.stats().segments < segments {
        let (b, _) = batch(next, 3, 1, 300, None);
        wal.append(b, false).unwrap();
        next += 3;
    }
    next - 1
}

#[test]
fn an_unsynced_writer_crosses_cuts_without_a_sync_and_one_sync_completes_them() {
    let fs = SimFs::new();
    let wal = Wal::open("/w", sim_opts(&fs, SEG)).unwrap();
    let syncs = wal.stats().syncs;
    let last = fill_unsynced(&wal, 4);
    assert_eq!(
        wal.stats().syncs,
        syncs,
        "no fdatasync of the log on the append path"
    );
    assert_eq!(
        named_segments(&fs),
        1,
        "the new segments keep their prepared names"
    );
    assert_eq!(wal.entries(1, last + 1, None).unwrap().len() as u64, last);

    wal.sync().unwrap();
    assert_eq!(named_segments(&fs), 4, "the sync named every segment");
    assert!(
        wal.stats().syncs >= syncs + 4,
        "three sealed segments and the active one"
    );
    let names = fs.list(Path::new("/w")).unwrap();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn dropping_the_handle_completes_pending_cuts() {
    let fs = SimFs::new();
    let wal = Wal::open("/w", sim_opts(&fs, SEG)).unwrap();
    let last = fill_unsynced(&wal, 3);
    drop(wal);
    assert_eq!(named_segments(&fs), 3);
    let wal = Wal::open("/w", sim_opts(&fs, SEG)).unwrap();
    assert_eq!(wal.last_index().unwrap(), last);
    assert_eq!(wal.entries(1, last + 1, None).unwrap().len() as u64, last);
}
