//! `wal-dump` shows exactly what `DiskStorage` recovers: after a workload with overwrites,
//! compaction and snapshots (and on the committed compat-v1 fixture), the tool's JSON view
//! (`stele_tools::dump::run`, what the binary runs) names the same first and last index, the
//! same start point, every entry with the same term, type and data, the same HardState and
//! ConfState, and the snapshot `DiskStorage` serves; `--verify` finds nothing wrong.

mod support;

use std::path::Path;

use support::dump::{assert_dump_shows, dump};
use support::View;

#[test]
fn wal_dump_shows_what_disk_storage_recovers_after_compaction_and_snapshots() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let model = support::run_workload(&dir).view();
    // The tool reads a closed directory first; DiskStorage then recovers the same thing.
    let (_, before) = dump(&[], &dir);
    let recovered = View::of_storage(&dir);
    assert_eq!(
        recovered, model,
        "DiskStorage recovers what the workload did"
    );
    assert_dump_shows(&dir, &recovered);
    // Opening with DiskStorage changed nothing the tool shows.
    assert_eq!(dump(&[], &dir).1, before);
}

#[test]
fn wal_dump_shows_the_compat_v1_fixture_as_disk_storage_reads_it() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat-v1/data");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    support::copy_tree(&fixture, &dir);
    let recovered = View::of_storage(&dir);
    assert_dump_shows(&dir, &recovered);
}

#[test]
fn the_compat_v1_fixture_holds_overwritten_entries_that_neither_reader_returns() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat-v1/data");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    support::copy_tree(&fixture, &dir);
    let (code, raw) = dump(&["--raw"], &dir);
    assert_eq!(code, 0, "{raw:?}");
    let stored: Vec<(u64, u64)> = support::dump::of_kind(&raw, "entry")
        .iter()
        .map(|e| (support::u64_of(&e["index"]), support::u64_of(&e["term"])))
        .filter(|(i, _)| (88..=90).contains(i))
        .collect();
    let expected: Vec<(u64, u64)> = [3, 4]
        .iter()
        .flat_map(|&t| (88..=90).map(move |i| (i, t)))
        .collect();
    assert_eq!(
        stored, expected,
        "term 3 in file order, then its overwrite in term 4"
    );
    let recovered = View::of_storage(&dir);
    for e in recovered
        .entries
        .iter()
        .filter(|e| (88..=90).contains(&e.index))
    {
        assert_eq!(e.term, 4, "entry {} as DiskStorage reads it", e.index);
    }
}
