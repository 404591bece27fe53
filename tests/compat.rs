//! Format compatibility: a data directory written by the first on-disk format (`compat-v1`),
//! committed under `tests/fixtures/compat-v1/data`, must open and read identically in every
//! later version of stele, through `DiskStorage` and through the WAL alone.
//!
//! The fixture was written by the workload in `support` (2 KiB segments: several sealed ones
//! and an active one, a purged prefix, two snapshots, overwritten entries, HardState and
//! ConfState changes, conf-change entries). `expected.json` holds what it must read as, taken
//! from the workload's model, not from reading the directory back.
//!
//! The tests only read copies: the fixture is never opened in place. Regenerating it is a
//! deliberate act (a new format gets a new fixture, `compat-v2`, and `compat-v1` stays):
//! `STELE_REGENERATE_COMPAT=1 cargo test --test compat -- --ignored`, which writes the fixture
//! and then fails, so it can never pass as a comparison.

mod support;

use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::Entry;
use stele::wal::{Wal, WalOptions};
use support::{copy_tree, Conf, Ent, View};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/compat-v1");
const REGENERATE: &str = "STELE_REGENERATE_COMPAT";

fn fixture_data() -> PathBuf {
    Path::new(FIXTURE).join("data")
}

fn expected() -> View {
    let path = Path::new(FIXTURE).join("expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    View::from_json(&serde_json::from_str(&text).expect("expected.json is JSON"))
}

/// A private copy of the fixture's data directory.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    copy_tree(&fixture_data(), &dir);
    (tmp, dir)
}

#[test]
fn the_fixture_has_the_shape_it_is_meant_to_test() {
    let segments: Vec<String> = std::fs::read_dir(fixture_data().join("wal"))
        .expect("fixture wal/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    assert!(segments.len() >= 3, "several segments: {segments:?}");
    assert!(
        !segments.iter().any(|n| n.starts_with("0000000000000000-")),
        "the first segment was purged: {segments:?}"
    );
    let snaps = std::fs::read_dir(fixture_data().join("snap"))
        .expect("fixture snap/")
        .filter(|e| {
            let name = e.as_ref().expect("entry").file_name();
            name.to_string_lossy().ends_with(".snap")
        })
        .count();
    assert!(snaps >= 1, "a snapshot file");
    let exp = expected();
    assert!(exp.first_index > 1 && exp.snapshot.index >= exp.first_index);
    assert!(
        exp.entries.iter().any(|e| e.entry_type == 2),
        "a ConfChangeV2"
    );
    assert_ne!(exp.conf_state, exp.snapshot.conf_state);
}

#[test]
fn disk_storage_reads_compat_v1_as_recorded() {
    let (_tmp, dir) = copy();
    let got = View::of_storage(&dir);
    let exp = expected();
    // Field by field first, for a readable failure; then everything.
    assert_eq!(
        (got.first_index, got.last_index, got.start_term),
        (exp.first_index, exp.last_index, exp.start_term)
    );
    assert_eq!(got.hard_state, exp.hard_state);
    assert_eq!(got.conf_state, exp.conf_state);
    assert_eq!(got.snapshot, exp.snapshot);
    assert_eq!(got.entries.len(), exp.entries.len());
    for (g, e) in got.entries.iter().zip(&exp.entries) {
        assert_eq!(g, e);
    }
    assert_eq!(got, exp);
    // And again after a clean close and reopen in the new version.
    assert_eq!(View::of_storage(&dir), exp);
}

#[test]
fn the_wal_alone_reads_compat_v1_as_recorded() {
    let (_tmp, dir) = copy();
    let exp = expected();
    let wal = Wal::open(dir.join("wal"), WalOptions::default()).expect("Wal::open");
    assert_eq!(wal.first_index().expect("first"), exp.first_index);
    assert_eq!(wal.last_index().expect("last"), exp.last_index);
    assert_eq!(
        wal.term(exp.first_index - 1).expect("term(first - 1)"),
        exp.start_term
    );
    let mut replayed = Vec::new();
    for item in wal.replay(exp.first_index).expect("replay") {
        let item = item.expect("replayed entry");
        let e = Entry::parse_from_bytes(&item.data).expect("eraftpb.Entry bytes");
        assert_eq!((e.index, e.term), (item.index, item.term));
        assert_eq!(wal.term(item.index).expect("term"), item.term);
        replayed.push(Ent::of(&e));
    }
    assert_eq!(replayed, exp.entries);
    let state = wal.state().expect("state");
    let hs = state.hard_state.expect("a HardState");
    assert_eq!([hs.term, hs.vote, hs.commit], exp.hard_state);
    assert_eq!(
        Conf::of_wal(&state.conf_state.expect("a ConfState")),
        exp.conf_state
    );
    let start = state.start.expect("a start point");
    assert_eq!(
        (start.index, start.term),
        (exp.first_index - 1, exp.start_term)
    );
    let served = state
        .markers
        .iter()
        .find(|m| m.index == exp.snapshot.index)
        .expect("a marker for the served snapshot");
    assert_eq!(served.term, exp.snapshot.term);
    assert_eq!(
        Conf::of_wal(served.conf_state.as_ref().expect("marker ConfState")),
        exp.snapshot.conf_state
    );
}

/// Writes the fixture (see the module doc), then fails: never a comparison.
#[test]
#[ignore = "writes tests/fixtures/compat-v1; run only to create a fixture on purpose"]
fn regenerate_compat_v1() {
    assert!(
        std::env::var_os(REGENERATE).is_some(),
        "set {REGENERATE}=1 to overwrite the committed fixture {FIXTURE}"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let model = support::run_workload(&dir).view();
    // The version that writes the fixture must itself read back what the workload did.
    assert_eq!(
        View::of_storage(&dir),
        model,
        "written and read back differ"
    );
    // Reading it back opened and closed it again; write the directory as the workload left it.
    let dir = tmp.path().join("fresh");
    assert_eq!(support::run_workload(&dir).view(), model);
    let data = fixture_data();
    if data.exists() {
        std::fs::remove_dir_all(&data).expect("remove the old fixture");
    }
    copy_tree(&dir, &data);
    let json = serde_json::to_string_pretty(&model.to_json()).expect("json");
    std::fs::write(Path::new(FIXTURE).join("expected.json"), json + "\n").expect("write");
    panic!("{FIXTURE} regenerated: review it and commit it (this run compared nothing)");
}
