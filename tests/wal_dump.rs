//! `wal-dump` shows exactly what `DiskStorage` recovers: after a workload with overwrites,
//! compaction and snapshots (and on the committed compat-v1 fixture), the tool's JSON view
//! (`stele_tools::dump::run`, what the binary runs) names the same first and last index, the
//! same start point, every entry with the same term, type and data, the same HardState and
//! ConfState, and the snapshot `DiskStorage` serves; `--verify` finds nothing wrong.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{u64_of, unbase64, Conf, View};

/// Runs `wal-dump ARGS DIR` and returns its exit status and JSON lines.
fn dump(args: &[&str], dir: &Path) -> (i32, Vec<Value>) {
    let mut argv = vec!["wal-dump", "--format", "json"];
    argv.extend_from_slice(args);
    let dir = dir.to_str().expect("utf-8 path");
    argv.push(dir);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = stele_tools::dump::run(argv, &mut out, &mut err, false);
    let lines = String::from_utf8(out)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (code, lines)
}

fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == kind).collect()
}

fn entry_type_name(t: i32) -> &'static str {
    match t {
        0 => "normal",
        1 => "conf-change",
        2 => "conf-change-v2",
        _ => panic!("entry type {t}"),
    }
}

/// Checks that the tool's view of `dir` is `view` (what DiskStorage recovered).
fn assert_dump_shows(dir: &Path, view: &View) {
    let (code, lines) = dump(&[], dir);
    assert_eq!(code, 0, "wal-dump exit status; output: {lines:?}");
    assert!(of_kind(&lines, "problem").is_empty(), "{lines:?}");
    let header = of_kind(&lines, "header");
    assert_eq!(header.len(), 1);
    let h = header[0];
    assert_eq!(u64_of(&h["first_index"]), view.first_index);
    assert_eq!(u64_of(&h["last_index"]), view.last_index);
    assert_eq!(u64_of(&h["entries"]), view.entries.len() as u64);
    assert_eq!(u64_of(&h["log_start"]["index"]), view.first_index - 1);
    assert_eq!(u64_of(&h["log_start"]["term"]), view.start_term);
    let hs = &h["hard_state"];
    assert_eq!(
        [
            u64_of(&hs["term"]),
            u64_of(&hs["vote"]),
            u64_of(&hs["commit"])
        ],
        view.hard_state
    );
    assert_eq!(Conf::from_json(&h["conf_state"]), view.conf_state);
    let snap = &view.snapshot;
    let marked = h["snapshot_markers"]
        .as_array()
        .expect("snapshot_markers")
        .iter()
        .any(|m| u64_of(&m["index"]) == snap.index && u64_of(&m["term"]) == snap.term);
    assert!(marked, "a marker for the served snapshot: {h}");
    let newest = h["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| (u64_of(&s["index"]), u64_of(&s["term"])))
        .max()
        .expect("a snapshot file");
    assert_eq!(
        newest,
        (snap.index, snap.term),
        "the newest file is the served one"
    );

    let entries = of_kind(&lines, "entry");
    assert_eq!(entries.len(), view.entries.len());
    for (shown, e) in entries.iter().zip(&view.entries) {
        assert_eq!(
            (u64_of(&shown["index"]), u64_of(&shown["term"])),
            (e.index, e.term)
        );
        assert_eq!(
            shown["entry_type"],
            entry_type_name(e.entry_type),
            "{shown}"
        );
        assert_eq!(unbase64(&shown["data"]), e.data, "data of {}", e.index);
        assert_eq!(u64_of(&shown["data_len"]), e.data.len() as u64);
    }

    let (code, lines) = dump(&["--verify"], dir);
    assert_eq!(code, 0, "wal-dump --verify: {lines:?}");
    let agreement = of_kind(&lines, "agreement");
    assert_eq!(agreement.len(), 1);
    assert_eq!(agreement[0]["ok"], true, "{lines:?}");
}

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
