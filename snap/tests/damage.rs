//! Damaged and hostile files: every truncation and every single-bit flip of a small snapshot is
//! detected, the file is renamed `.broken` and the previous snapshot is loaded; arbitrary bytes
//! and absurd lengths give errors, never panics or huge allocations.

mod common;

use common::*;
use proptest::prelude::*;
use stele_snap::format::{encode_data_len, encode_header, encode_trailer_tail};
use stele_snap::{Error, SnapshotId, Snapshotter};
use stele_wal::fs::sim::SimFs;

const OLD: SnapshotId = SnapshotId { index: 10, term: 1 };
const NEW: SnapshotId = SnapshotId { index: 20, term: 2 };

/// A disk with two good snapshots; returns the new one's bytes.
fn setup() -> (SimFs, Snapshotter, Vec<u8>) {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    save(&snaps, OLD.index, OLD.term);
    snaps
        .save_bytes(&meta(NEW.index, NEW.term), &data_for(NEW.index, 64))
        .unwrap();
    let bytes = fs.read_file(&snaps.path_of(NEW)).unwrap();
    (fs, snaps, bytes)
}

/// Puts `damaged` under the new snapshot's name and checks that it is refused and quarantined
/// (by an explicit load and by `load_newest`), and that the old snapshot is loaded instead.
fn check_detected(fs: &SimFs, snaps: &Snapshotter, damaged: &[u8], what: &str) {
    let path = snaps.path_of(NEW);
    let broken = dir().join(format!("{}.broken", NEW.file_name()));

    put_file(fs, &path, damaged);
    let err = snaps.load(NEW).expect_err(what);
    assert!(err.is_damage(), "{what}: not reported as damage: {err}");
    assert!(
        fs.read_file(&path).is_none(),
        "{what}: still under its name"
    );
    assert_eq!(
        fs.read_file(&broken).as_deref(),
        Some(damaged),
        "{what}: not quarantined"
    );
    fs.delete_file(&broken);

    put_file(fs, &path, damaged);
    let snap = snaps.load_newest().unwrap();
    assert_eq!(snap.id(), OLD, "{what}");
    assert_eq!(
        snap.read_to_vec().unwrap(),
        data_for(OLD.index, len_for(OLD.index))
    );
    assert!(
        fs.read_file(&path).is_none(),
        "{what}: still under its name"
    );
    assert_eq!(fs.read_file(&broken).as_deref(), Some(damaged), "{what}");
    fs.delete_file(&broken);
}

#[test]
fn every_truncation_is_detected() {
    let (fs, snaps, bytes) = setup();
    for len in 0..bytes.len() {
        check_detected(&fs, &snaps, &bytes[..len], &format!("truncated to {len}"));
    }
    println!("damage: {} truncation points checked", bytes.len());
}

#[test]
fn every_single_bit_flip_is_detected() {
    let (fs, snaps, bytes) = setup();
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << bit;
            check_detected(
                &fs,
                &snaps,
                &damaged,
                &format!("bit {bit} of byte {at} flipped"),
            );
        }
    }
    println!("damage: {} bit flips checked", bytes.len() * 8);
}

#[test]
fn errors_name_the_file_and_the_offset() {
    let (fs, snaps, bytes) = setup();
    let crc_at = bytes.len() as u64 - 8;
    let mut flipped = bytes.clone();
    flipped[30] ^= 4;
    put_file(&fs, &snaps.path_of(NEW), &flipped);
    match snaps.load(NEW).unwrap_err() {
        Error::ChecksumMismatch {
            path,
            offset,
            stored,
            computed,
        } => {
            assert_eq!(path, snaps.path_of(NEW));
            assert_eq!(offset, crc_at);
            assert_ne!(stored, computed);
        }
        e => panic!("expected a checksum mismatch, got {e}"),
    }
    put_file(&fs, &snaps.path_of(NEW), &bytes[..bytes.len() - 1]);
    assert!(matches!(
        snaps.load(NEW).unwrap_err(),
        Error::Truncated { .. }
    ));
    put_file(&fs, &snaps.path_of(NEW), &bytes[..10]);
    assert!(matches!(
        snaps.load(NEW).unwrap_err(),
        Error::Truncated { len: 10, .. }
    ));
    let mut bad_magic = bytes.clone();
    bad_magic[0] = b'X';
    put_file(&fs, &snaps.path_of(NEW), &bad_magic);
    assert!(matches!(
        snaps.load(NEW).unwrap_err(),
        Error::Malformed { offset: 0, .. }
    ));
    // Two quarantines of the same name keep both files.
    let names = names(&fs, dir());
    assert!(
        names.contains(&format!("{}.broken", NEW.file_name())),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("{}.broken.1", NEW.file_name())),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("{}.broken.2", NEW.file_name())),
        "{names:?}"
    );
}

/// A file with a consistent layout whose lengths claim absurd sizes must fail fast, without
/// trying to allocate or read them.
#[test]
fn absurd_lengths_are_bounded_before_use() {
    let (fs, snaps, _) = setup();
    let cases: Vec<Vec<u8>> = vec![
        // Metadata length u32::MAX.
        [
            &encode_header(u32::MAX)[..],
            &encode_data_len(0),
            &encode_trailer_tail(0),
        ]
        .concat(),
        // Metadata length just over the file.
        [
            &encode_header(1)[..],
            &encode_data_len(0),
            &encode_trailer_tail(0),
        ]
        .concat(),
        // Data length u64::MAX (would overflow the sum).
        [
            &encode_header(0)[..],
            &encode_data_len(u64::MAX),
            &encode_trailer_tail(0),
        ]
        .concat(),
        // Data length u64::MAX - 39 (sums exactly to wrap around to 0).
        [
            &encode_header(0)[..],
            &encode_data_len(u64::MAX - 39),
            &encode_trailer_tail(0),
        ]
        .concat(),
        // Consistent lengths, wrong checksum.
        [
            &encode_header(0)[..],
            &encode_data_len(0),
            &encode_trailer_tail(1),
        ]
        .concat(),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        check_detected(&fs, &snaps, bytes, &format!("case {i}"));
    }
}

/// The file of a valid, empty snapshot whose metadata bytes are `meta`.
fn with_metadata(meta: &[u8]) -> Vec<u8> {
    let mut f = [
        &encode_header(meta.len() as u32)[..],
        meta,
        &encode_data_len(0),
    ]
    .concat();
    let crc = crc32fast::hash(&f);
    f.extend_from_slice(&encode_trailer_tail(crc));
    f
}

#[test]
fn undecodable_metadata_with_a_good_checksum_is_refused() {
    let (fs, snaps, _) = setup();
    // A truncated varint: not protobuf.
    check_detected(
        &fs,
        &snaps,
        &with_metadata(&[0x10, 0xff]),
        "undecodable metadata",
    );
    // Decodes, but says index 0 term 0 while the name says 20/2.
    check_detected(
        &fs,
        &snaps,
        &with_metadata(&[]),
        "metadata disagreeing with the name",
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Arbitrary bytes under a snapshot name: an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_load(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let fs = SimFs::new();
        let snaps = open_sim(&fs);
        put_file(&fs, &snaps.path_of(NEW), &bytes);
        let err = snaps.load(NEW).unwrap_err();
        prop_assert!(err.is_damage(), "{}", err);
    }

    /// A valid file with a few bytes overwritten: loads only if it is unchanged.
    #[test]
    fn overwritten_bytes_never_load(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let (fs, snaps, bytes) = setup();
        let mut damaged = bytes.clone();
        for (at, v) in &edits {
            damaged[at.index(bytes.len())] = *v;
        }
        put_file(&fs, &snaps.path_of(NEW), &damaged);
        match snaps.load(NEW) {
            Ok(_) => prop_assert_eq!(&damaged, &bytes),
            Err(e) => {
                prop_assert!(e.is_damage(), "{}", e);
                prop_assert_ne!(&damaged, &bytes);
            }
        }
    }
}

/// `metadata_of` checks the frame and metadata only: a flipped data bit goes unnoticed (the
/// full load catches it), a truncation is damage; either way nothing is renamed.
#[test]
fn metadata_of_reads_the_frame_only_and_quarantines_nothing() {
    let (fs, snaps, bytes) = setup();
    assert_eq!(snaps.metadata_of(NEW).unwrap(), meta(NEW.index, NEW.term));
    let path = snaps.path_of(NEW);
    let mut flipped = bytes.clone();
    let data_at = bytes.len() - 16 - 10; // inside the data, before the trailer
    flipped[data_at] ^= 1;
    put_file(&fs, &path, &flipped);
    assert_eq!(snaps.metadata_of(NEW).unwrap(), meta(NEW.index, NEW.term));
    put_file(&fs, &path, &bytes[..bytes.len() - 1]);
    let err = snaps.metadata_of(NEW).unwrap_err();
    assert!(err.is_damage(), "{err}");
    assert_eq!(
        fs.read_file(&path).as_deref(),
        Some(&bytes[..bytes.len() - 1])
    );
    put_file(&fs, &path, &flipped);
    assert!(snaps.load(NEW).unwrap_err().is_damage());
}
