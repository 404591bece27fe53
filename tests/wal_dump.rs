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
