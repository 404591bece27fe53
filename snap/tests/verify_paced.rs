//! `Snapshotter::verify_paced`, the scrubber's check: a good file verifies whole with every
//! data byte reported to the pace function; a flipped bit anywhere in the data is damage naming
//! the file and the checksum's offset, and the file stays where it is (no quarantine); the pace
//! function can stop it; a file removed before it is opened is `Gone`.

mod common;

use common::*;
use stele_snap::{SnapshotId, Verified};
use stele_wal::fs::sim::SimFs;

const ID: SnapshotId = SnapshotId { index: 20, term: 2 };
const DATA: usize = 3 << 20; // three and a bit reads of 1 MiB

#[test]
fn a_good_file_verifies_whole_and_every_byte_is_paced() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    snaps
        .save_bytes(&meta(ID.index, ID.term), &data_for(ID.index, DATA))
        .unwrap();
    let mut paced = Vec::new();
    let got = snaps
        .verify_paced(ID, &mut |n| {
            paced.push(n);
            true
        })
        .unwrap();
    assert_eq!(
        got,
        Verified::Whole {
            data_bytes: DATA as u64
        }
    );
    assert_eq!(paced.iter().sum::<u64>(), DATA as u64);
    assert!(paced.iter().all(|&n| n <= 1 << 20), "{paced:?}");

    let mut calls = 0;
    let got = snaps
        .verify_paced(ID, &mut |_| {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!((got, calls), (Verified::Stopped, 1));
}

#[test]
fn damage_is_reported_with_the_path_and_left_in_place() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    snaps
        .save_bytes(&meta(ID.index, ID.term), &data_for(ID.index, DATA))
        .unwrap();
    let path = snaps.path_of(ID);
    let mut bytes = fs.read_file(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    put_file(&fs, &path, &bytes);
    let err = snaps.verify_paced(ID, &mut |_| true).unwrap_err();
    assert!(err.is_damage(), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(
        fs.read_file(&path).as_deref(),
        Some(&bytes[..]),
        "not quarantined"
    );
}

#[test]
fn a_removed_file_is_gone() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    save(&snaps, ID.index, ID.term);
    snaps.remove(ID).unwrap();
    assert_eq!(
        snaps.verify_paced(ID, &mut |_| true).unwrap(),
        Verified::Gone
    );
}
