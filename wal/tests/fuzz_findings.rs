//! Regression tests for what the cargo-fuzz targets under `fuzz/` found in stele-wal (see
//! `fuzz/README.md`): each a directory a hostile or damaged disk can hold, which must be an
//! error naming the file, never a panic.

use std::fs;
use std::path::Path;

use stele_wal::format::{
    segment_name, BatchHeader, SegmentId, BATCH_HEADER_LEN, MAX_SEQ, SEGMENT_HEADER_LEN,
};
use stele_wal::{Batch, Error, Preallocate, Wal, WalOptions};

fn opts() -> WalOptions {
    WalOptions {
        segment_size: 4096,
        preallocate: Preallocate::SetLen,
        recycle: 0,
        background_prepare: false,
        ..WalOptions::default()
    }
}

/// Rewrites an unsealed segment as if it were numbered `seq`: its header and every batch
/// header re-encoded with the new identity, so every checksum is valid (the fuzzer's fix-up).
fn renumber(seg: &[u8], seq: u64) -> Vec<u8> {
    let old = SegmentId::decode_header(seg).unwrap();
    let new = SegmentId { seq, ..old };
    let mut out = seg.to_vec();
    out[..SEGMENT_HEADER_LEN as usize].copy_from_slice(&new.encode_header());
    let mut pos = SEGMENT_HEADER_LEN as usize;
    while let Ok(Some(h)) = BatchHeader::decode(&old, &seg[pos..]) {
        h.encode(&new, &mut out[pos..pos + BATCH_HEADER_LEN]);
        pos += h.total_len() as usize;
    }
    assert!(pos > SEGMENT_HEADER_LEN as usize, "no batch re-encoded");
    out
}

/// A one-segment WAL with entries 1..=3, its segment then renumbered to `seq`.
fn wal_numbered(dir: &Path, seq: u64) -> std::path::PathBuf {
    {
        let wal = Wal::open(dir, opts()).unwrap();
        let mut b = Batch::new();
        for i in 1..=3 {
            b.add_entry(i, 1, b"entry").unwrap();
        }
        wal.append(b, true).unwrap();
    }
    let name = segment_name(0, 1);
    let bytes = fs::read(dir.join(&name)).unwrap();
    fs::remove_file(dir.join(&name)).unwrap();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "spare") {
            fs::remove_file(p).unwrap();
        }
    }
    let path = dir.join(segment_name(seq, 1));
    fs::write(&path, renumber(&bytes, seq)).unwrap();
    path
}

#[test]
fn a_segment_numbered_near_u64_max_is_refused_by_name_not_a_panic() {
    // Found by `wal_dir` (u64::MAX: `next_seq = seq + 1` overflowed in `Wal::open`) and by
    // `seal` (u64::MAX - 1: the first cut's `next_seq += 1` overflowed).
    for seq in [u64::MAX, u64::MAX - 1, MAX_SEQ + 1] {
        let tmp = tempfile::tempdir().unwrap();
        let path = wal_numbered(tmp.path(), seq);
        match Wal::open(tmp.path(), opts()) {
            Err(Error::BadDirectory { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(reason.contains("out of range"), "{reason}");
            }
            other => panic!("seq {seq:#x}: expected BadDirectory, got {other:?}"),
        }
    }
}

#[test]
fn a_segment_numbered_at_the_bound_still_opens() {
    let tmp = tempfile::tempdir().unwrap();
    wal_numbered(tmp.path(), MAX_SEQ);
    let wal = Wal::open(tmp.path(), opts()).unwrap();
    assert_eq!(wal.last_index().unwrap(), 3);
    let data: Vec<_> = wal.replay(1).unwrap().map(|e| e.unwrap().data).collect();
    assert_eq!(data, vec![b"entry".to_vec(); 3]);
}

#[test]
fn a_wal_at_the_last_sequence_number_never_cuts_a_segment_it_cannot_reopen() {
    // Found by `wal_dir`: a WAL whose last segment was numbered MAX_SEQ opened, cut segment
    // MAX_SEQ + 1, and then refused to reopen. Now the cut is refused instead.
    let tmp = tempfile::tempdir().unwrap();
    wal_numbered(tmp.path(), MAX_SEQ);
    {
        let wal = Wal::open(tmp.path(), opts()).unwrap();
        let mut b = Batch::new();
        b.add_entry(4, 1, &[7u8; 8192]).unwrap(); // larger than a segment: needs a cut
        let err = wal.append(b, true).unwrap_err();
        assert!(err.to_string().contains("exhausted"), "{err}");
    }
    let wal = Wal::open(tmp.path(), opts()).expect("reopens");
    assert_eq!(wal.last_index().unwrap(), 3);
}
