//! Running `wal-dump` (through `stele_tools::dump::run`, what the binary runs) and checking
//! that its JSON view of a directory is a given [`View`].

use std::path::Path;

use serde_json::Value;

use super::{u64_of, unbase64, Conf, View};

/// Runs `wal-dump ARGS DIR` and returns its exit status and JSON lines.
pub fn dump(args: &[&str], dir: &Path) -> (i32, Vec<Value>) {
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

pub fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
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
pub fn assert_dump_shows(dir: &Path, view: &View) {
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
    let markers: Vec<(u64, u64)> = h["snapshot_markers"]
        .as_array()
        .expect("snapshot_markers")
        .iter()
        .map(|m| (u64_of(&m["index"]), u64_of(&m["term"])))
        .collect();
    let files: Vec<(u64, u64)> = h["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| (u64_of(&s["index"]), u64_of(&s["term"])))
        .collect();
    let served = (snap.index, snap.term);
    assert!(
        markers.contains(&served),
        "a marker for the served snapshot: {h}"
    );
    assert!(files.contains(&served), "the served snapshot's file: {h}");
    // The served snapshot is the newest file the log agrees with: a newer file has no marker
    // (a crash between saving a snapshot file and writing its marker leaves one).
    for f in files.iter().filter(|f| **f > served) {
        assert!(
            !markers.contains(f),
            "snapshot {f:?} is marked but not served: {h}"
        );
    }

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
