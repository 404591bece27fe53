//! Scrubbing sealed segments (`Wal::scrub_step`), on real files: a clean log of sealed segments
//! with overwrites and state-only batches verifies whole, pass after pass, within the budget
//! per step; one flipped bit in the middle of a sealed segment (which opening does not read) is
//! found, naming the file and an offset inside it; a segment purged under a scrub is not reused
//! while the scrub holds it, and the pass goes on over the new segments.

mod common;

use std::path::{Path, PathBuf};

use common::batch;
use stele_wal::{Error, HardState, ScrubCursor, Wal, WalOptions};

const SEG: u64 = 64 << 10;

fn opts() -> WalOptions {
    WalOptions {
        segment_size: SEG,
        ..WalOptions::default()
    }
}

/// Appends 4-entry batches of 1 KiB entries until the WAL has `segments` segments, with a
/// state-only batch and an overwrite of the previous batch's tail now and then.
fn fill(wal: &Wal, segments: usize) {
    let mut next = wal.last_index().unwrap() + 1;
    let mut round = 0u64;
    while wal.stats().segments < segments {
        round += 1;
        if round % 7 == 0 && next > 3 {
            next -= 2; // overwrite the last two entries with a newer term
        }
        let term = 1 + round / 7;
        let (b, _) = batch(next, 4, term, 1024, None);
        wal.append(b, false).unwrap();
        next += 4;
        if round % 5 == 0 {
            let mut b = stele_wal::Batch::new();
            b.set_hard_state(HardState {
                term,
                vote: 1,
                commit: next - 1,
            });
            wal.append(b, false).unwrap();
        }
    }
    wal.sync().unwrap();
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

/// Scrubs one whole pass in steps of `budget`; returns (bytes, segments, steps).
fn one_pass(wal: &Wal, cursor: &mut ScrubCursor, budget: u64) -> stele_wal::Result<(u64, u64)> {
    let (mut bytes, mut segments) = (0, 0);
    for _ in 0..100_000 {
        let step = wal.scrub_step(cursor, budget)?;
        assert!(
            step.bytes <= budget + 8 * 1024,
            "a step reads its budget and at most one batch more: {step:?}"
        );
        bytes += step.bytes;
        segments += step.segments;
        if step.pass_done {
            return Ok((bytes, segments));
        }
    }
    panic!("the pass never ended");
}

#[test]
fn a_clean_log_verifies_whole_pass_after_pass() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts()).unwrap();
    fill(&wal, 5);
    let sealed = (wal.stats().segments - 1) as u64;
    let mut cursor = ScrubCursor::default();
    let (bytes, segments) = one_pass(&wal, &mut cursor, 16 << 10).unwrap();
    assert_eq!(segments, sealed, "every sealed segment, not the active one");
    assert!(
        bytes > sealed * SEG / 2 && bytes <= sealed * SEG,
        "{bytes} bytes over {sealed} sealed segments of {SEG}"
    );
    let again = one_pass(&wal, &mut cursor, 1 << 20).unwrap();
    assert_eq!(again, (bytes, segments), "the next pass covers the same");
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_found_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts()).unwrap();
    fill(&wal, 4);
    drop(wal);
    let victim = segment_files(dir.path())[1].clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x04;
    std::fs::write(&victim, &bytes).unwrap();

    let wal = Wal::open(dir.path(), opts()).expect("opening reads seals, not batches");
    let mut cursor = ScrubCursor::default();
    let err = one_pass(&wal, &mut cursor, 8 << 10).unwrap_err();
    match &err {
        Error::Corrupt { path, offset, .. } => {
            assert_eq!(path, &victim, "{err}");
            assert!(
                *offset <= at as u64 && at as u64 - *offset < 8 << 10,
                "the damaged batch starts at {offset}, the bit is at {at}: {err}"
            );
        }
        other => panic!("want Corrupt, got {other}"),
    }
    assert!(err.to_string().contains(&victim.display().to_string()));
    // The WAL itself is not poisoned: it still takes writes.
    let last = wal.last_index().unwrap();
    let (b, _) = batch(last + 1, 1, 9, 10, None);
    wal.append(b, true).unwrap();
    // The cursor moved past the damaged segment: the rest of the pass is clean.
    let (_, segments) = one_pass(&wal, &mut cursor, 1 << 20).unwrap();
    assert!(segments >= 1);
}

#[test]
fn a_segment_purged_under_the_scrub_is_not_reused_while_held() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts()).unwrap();
    fill(&wal, 4);
    let mut cursor = ScrubCursor::default();
    // Part way into the oldest segment.
    let step = wal.scrub_step(&mut cursor, 4 << 10).unwrap();
    assert!(!step.pass_done && step.segments == 0, "{step:?}");
    // Purge everything sealed, then write enough to cut into recycled files: the one the cursor
    // is in stays as it was (a held file is not reused).
    let last = wal.last_index().unwrap();
    wal.purge(last).unwrap();
    assert!(
        wal.stats().recyclable > 0,
        "purged segments are kept for reuse"
    );
    fill(&wal, 4);
    assert!(
        wal.stats().recyclable >= 1,
        "the held file is still waiting for reuse"
    );
    let (bytes, segments) = one_pass(&wal, &mut cursor, 8 << 10).unwrap();
    assert!(
        segments >= 2 && bytes > 0,
        "{segments} segments, {bytes} bytes"
    );
}

/// Damage in a segment that left the log while the scrub was in it is not reported: what is no
/// longer in the log is not the log's problem (the check after the failed read).
#[test]
fn damage_in_a_segment_purged_under_the_scrub_is_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts()).unwrap();
    fill(&wal, 4);
    let oldest = segment_files(dir.path())[0].clone();
    let mut cursor = ScrubCursor::default();
    let step = wal.scrub_step(&mut cursor, 4 << 10).unwrap();
    assert!(!step.pass_done && step.segments == 0, "{step:?}");
    // The rest of the oldest segment rots, then the segment is purged.
    let mut bytes = std::fs::read(&oldest).unwrap();
    let at = bytes.len() * 3 / 4;
    bytes[at] ^= 0x01;
    std::fs::write(&oldest, &bytes).unwrap();
    wal.purge(wal.last_index().unwrap()).unwrap();
    let (_, segments) = one_pass(&wal, &mut cursor, 1 << 20).expect("not reported");
    assert_eq!(segments, 0, "nothing sealed is left in the log");
}
