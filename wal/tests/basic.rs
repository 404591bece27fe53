//! Basic behaviour: round trips, overwrites, resets, compaction, cuts, reopen, purge, locking.

use std::path::Path;

use stele_wal::fs::sim::SimFs;
use stele_wal::{Batch, Error, HardState, Wal, WalOptions};

fn opts(fs: &SimFs) -> WalOptions {
    WalOptions {
        segment_size: 8 << 10,
        fs: std::sync::Arc::new(fs.clone()),
        salt_seed: None,
        ..WalOptions::default()
    }
}

fn entry(i: u64, t: u64) -> Vec<u8> {
    format!("entry {i} term {t}").into_bytes()
}

fn append(wal: &Wal, lo: u64, hi: u64, term: u64, sync: bool) {
    let mut b = Batch::new();
    for i in lo..hi {
        b.add_entry(i, term, &entry(i, term)).unwrap();
    }
    wal.append(b, sync).unwrap();
}

fn all(wal: &Wal) -> Vec<(u64, u64)> {
    wal.replay(0)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.index, e.term))
        .collect()
}

#[test]
fn round_trip_across_cuts_and_reopen() {
    let fs = SimFs::new();
    let dir = Path::new("/w");
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    for i in 0..200u64 {
        append(&wal, i * 3 + 1, i * 3 + 4, 1 + i / 50, i % 7 == 0);
    }
    let mut hs = Batch::new();
    hs.set_hard_state(HardState {
        term: 4,
        vote: 2,
        commit: 300,
    });
    wal.append(hs, true).unwrap();
    let before = all(&wal);
    assert_eq!(before.len(), 600);
    assert!(
        wal.stats().segments > 3,
        "expected several cuts, got {:?}",
        wal.stats()
    );
    drop(wal);
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    assert_eq!(all(&wal), before);
    assert_eq!(
        wal.state().unwrap().hard_state,
        Some(HardState {
            term: 4,
            vote: 2,
            commit: 300
        })
    );
    assert!(wal.recovery().sealed > 2);
    let e = wal.entries(100, 103, None).unwrap();
    assert_eq!(e[0].data, entry(100, 1));
    assert_eq!(wal.term(150).unwrap(), 1);
    assert_eq!(wal.term(160).unwrap(), 2);
}

#[test]
fn overwrite_reset_and_compact_survive_reopen() {
    let fs = SimFs::new();
    let dir = Path::new("/w");
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    for i in 0..100u64 {
        append(&wal, i * 2 + 1, i * 2 + 3, 1, false);
    }
    append(&wal, 50, 60, 2, true); // overwrite tail from 50
    assert_eq!(wal.last_index().unwrap(), 59);
    let mut c = Batch::new();
    c.compact(20, 1).unwrap();
    wal.append(c, true).unwrap();
    assert_eq!(wal.first_index().unwrap(), 21);
    assert_eq!(wal.term(20).unwrap(), 1);
    drop(wal);
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    assert_eq!(wal.first_index().unwrap(), 21);
    assert_eq!(wal.last_index().unwrap(), 59);
    assert_eq!(wal.term(55).unwrap(), 2);
    assert_eq!(wal.term(49).unwrap(), 1);
    let mut r = Batch::new();
    r.reset(1000, 7).unwrap();
    r.add_entry(1001, 7, b"x").unwrap();
    wal.append(r, true).unwrap();
    drop(wal);
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    assert_eq!(all(&wal), vec![(1001, 7)]);
    assert_eq!(wal.term(1000).unwrap(), 7);
    assert!(matches!(
        wal.entries(5, 6, None),
        Err(Error::Compacted { .. })
    ));
}

#[test]
fn purge_keeps_the_segment_holding_the_index() {
    let fs = SimFs::new();
    let dir = Path::new("/w");
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    for i in 1..=400u64 {
        append(&wal, i, i + 1, 1, false);
    }
    wal.sync().unwrap();
    let segs = wal.stats().segments;
    let p = wal.purge(300).unwrap();
    assert!(p.segments > 0 && p.segments < segs);
    assert!(p.first_index <= 300);
    assert_eq!(wal.entries(300, 301, None).unwrap()[0].data, entry(300, 1));
    drop(wal);
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    assert_eq!(wal.first_index().unwrap(), p.first_index);
    assert_eq!(wal.last_index().unwrap(), 400);
    // No compaction record was written, so after a restart the term before the first entry is
    // not known to the WAL (the storage layer answers it from its snapshot).
    assert!(matches!(
        wal.term(p.first_index - 1),
        Err(Error::Compacted { .. })
    ));
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let o = WalOptions {
        segment_size: 64 << 10,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), o.clone()).unwrap();
    assert!(matches!(
        Wal::open(dir.path(), o.clone()),
        Err(Error::Locked { .. })
    ));
    drop(wal);
    Wal::open(dir.path(), o).unwrap();
}

#[test]
fn real_fs_round_trip_with_mmap_reads() {
    let dir = tempfile::tempdir().unwrap();
    let o = WalOptions {
        segment_size: 64 << 10,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), o.clone()).unwrap();
    for i in 1..=500u64 {
        append(&wal, i, i + 1, 1, i % 100 == 0);
    }
    drop(wal);
    let wal = Wal::open(dir.path(), o).unwrap();
    let got = wal.entries(1, 501, None).unwrap();
    assert_eq!(got.len(), 500);
    assert!(got.iter().all(|e| e.data == entry(e.index, 1)));
    let limited = wal.entries(1, 501, Some(100)).unwrap();
    assert!(!limited.is_empty() && limited.len() < 10);
}

#[test]
fn the_index_costs_a_few_bytes_per_entry_and_no_payload() {
    let fs = SimFs::new();
    let wal = Wal::open(Path::new("/w"), opts(&fs)).unwrap();
    let n = 20_000u64;
    for i in 1..=n {
        let mut b = Batch::new();
        b.add_entry(i, 1 + i / 5000, &[7u8; 200]).unwrap(); // 200-byte payloads, one per batch
        wal.append(b, false).unwrap();
    }
    let s = wal.stats();
    assert_eq!(s.indexed_batches as u64, n);
    let per_entry = s.index_bytes as f64 / n as f64;
    println!(
        "index: {} bytes for {n} entries ({per_entry:.1} bytes/entry)",
        s.index_bytes
    );
    // 8 bytes per batch; vector growth can at most double it. Payloads (200 bytes) are not held.
    assert!(per_entry <= 16.0, "{per_entry} bytes per entry");
}

#[test]
fn reopening_reads_seals_not_sealed_batches() {
    let fs = SimFs::new();
    let dir = Path::new("/w");
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    for i in 1..=300u64 {
        append(&wal, i, i + 1, 1, false);
    }
    drop(wal);
    // Damage a batch body in the oldest (sealed) segment: opening must not notice (it reads
    // only the seal), but reading that batch must.
    let mut names: Vec<String> = {
        use stele_wal::fs::FileSystem;
        fs.list(dir)
            .unwrap()
            .into_iter()
            .filter(|n| n.ends_with(".wal"))
            .collect()
    };
    names.sort();
    let first = dir.join(&names[0]);
    let mut bytes = fs.read_file(&first).unwrap();
    bytes[200] ^= 0x40;
    fs.write_file(&first, &bytes);
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    let r = wal.recovery();
    assert_eq!(r.sealed, names.len() - 1);
    assert_eq!(
        r.scanned_bytes,
        8 << 10,
        "only the active segment is scanned"
    );
    let err = wal.entries(1, 300, None).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { ref path, .. } if *path == first),
        "{err}"
    );
}

#[test]
fn add_entry_with_encodes_in_place_and_rolls_back_a_bad_write() {
    let mut b = Batch::new();
    b.add_entry_with(1, 1, 3, |buf| {
        buf.extend_from_slice(b"abc");
        Ok::<(), String>(())
    })
    .unwrap();
    // A writer that fails, or writes another length than announced, leaves the batch as it was.
    let err = b.add_entry_with(2, 1, 3, |buf| {
        buf.extend_from_slice(b"ab");
        Err("disk on fire".to_string())
    });
    assert!(matches!(err, Err(Error::InvalidBatch(ref m)) if m.contains("disk on fire")));
    let err = b.add_entry_with(2, 1, 3, |buf| {
        buf.extend_from_slice(b"abcd");
        Ok::<(), String>(())
    });
    assert!(matches!(err, Err(Error::InvalidBatch(ref m)) if m.contains("4 bytes written")));
    b.add_entry(2, 1, b"def").unwrap();
    let fs = SimFs::new();
    let wal = Wal::open(Path::new("/w"), opts(&fs)).unwrap();
    wal.append(b, true).unwrap();
    let got: Vec<Vec<u8>> = wal
        .entries(1, 3, None)
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(got, vec![b"abc".to_vec(), b"def".to_vec()]);
}
