//! Golden file: pins every byte of a small snapshot file, so any change to the format (or to
//! the metadata encoding) is a deliberate, reviewed change. `docs/FORMAT.md` annotates these
//! bytes.
//!
//! To regenerate after an intended format change (and bump `FORMAT_VERSION`):
//!
//! ```text
//! STELE_REGEN_GOLDEN=1 cargo test -p stele-snap --test golden -- golden_file_bytes_are_pinned
//! ```
//!
//! Regeneration writes the file and then fails the test on purpose, so a run with the variable
//! set can never pass as a comparison; a run without it only compares and never writes.

mod common;

use std::path::PathBuf;

use common::*;
use stele_snap::format::{FORMAT_VERSION, HEADER_LEN, MAGIC, TRAILER_MAGIC};
use stele_snap::{snapshot_marker, ConfState, SnapshotId, SnapshotMarker};
use stele_wal::fs::sim::SimFs;

const GOLDEN_ID: SnapshotId = SnapshotId {
    index: 0x2a,
    term: 7,
};
const GOLDEN_DATA: &[u8] = b"stele golden snapshot\n";

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(GOLDEN_ID.file_name())
}

fn golden_meta() -> SnapshotMarker {
    let conf = ConfState {
        voters: vec![1, 2, 3],
        learners: vec![4],
        voters_outgoing: vec![],
        learners_next: vec![],
        auto_leave: false,
    };
    snapshot_marker(GOLDEN_ID.index, GOLDEN_ID.term, conf)
}

#[test]
fn golden_file_bytes_are_pinned() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    let id = snaps.save_bytes(&golden_meta(), GOLDEN_DATA).unwrap();
    let written = fs.read_file(&snaps.path_of(id)).unwrap();

    if std::env::var_os("STELE_REGEN_GOLDEN").is_some_and(|v| v == "1") {
        // Written beside it and renamed, so a test reading it meanwhile sees old or new bytes.
        let temp = golden_path().with_extension("snap.regen");
        std::fs::write(&temp, &written).unwrap();
        std::fs::rename(&temp, golden_path()).unwrap();
        panic!(
            "regenerated {}: review the diff, then run again without STELE_REGEN_GOLDEN",
            golden_path().display()
        );
    }
    let golden = std::fs::read(golden_path())
        .expect("golden file missing: run with STELE_REGEN_GOLDEN=1 to create it");
    assert_eq!(
        written,
        golden,
        "snapshot bytes differ from {}",
        golden_path().display()
    );

    // Independent checks of the layout, so the golden file cannot drift into nonsense.
    let len = golden.len();
    let meta_len = u32::from_le_bytes(golden[16..20].try_into().unwrap()) as usize;
    assert_eq!(golden[0..8], MAGIC);
    assert_eq!(
        u32::from_le_bytes(golden[8..12].try_into().unwrap()),
        FORMAT_VERSION
    );
    assert_eq!(
        u32::from_le_bytes(golden[12..16].try_into().unwrap()) as u64,
        HEADER_LEN
    );
    assert_eq!(golden[20..24], [0; 4]);
    assert_eq!(
        &golden[24..24 + meta_len],
        prost::Message::encode_to_vec(&golden_meta())
    );
    assert_eq!(&golden[24 + meta_len..len - 16], GOLDEN_DATA);
    let data_len = u64::from_le_bytes(golden[len - 16..len - 8].try_into().unwrap());
    assert_eq!(data_len, GOLDEN_DATA.len() as u64);
    let crc = u32::from_le_bytes(golden[len - 8..len - 4].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&golden[..len - 8]));
    assert_eq!(golden[len - 4..], TRAILER_MAGIC);
}

#[test]
fn golden_file_loads() {
    let golden = std::fs::read(golden_path()).unwrap();
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    put_file(&fs, &snaps.path_of(GOLDEN_ID), &golden);
    let snap = snaps.load_newest().unwrap();
    assert_eq!(snap.metadata(), &golden_meta());
    assert_eq!(snap.read_to_vec().unwrap(), GOLDEN_DATA);
}
