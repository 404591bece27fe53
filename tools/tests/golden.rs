//! Golden outputs of `wal-dump` (text and JSON, every mode) on the committed fixtures, the
//! fixtures' reproducibility, and that the default view shows exactly the log `DiskStorage`
//! recovers.
//!
//! Fixtures (`tests/fixtures/<name>/`) are data directories written by `DiskStorage` with fixed
//! salts (see `common/mod.rs`): `clean` (three segments), `overwritten` (a new leader's entries
//! overwrite a sealed segment's tail, then a third term overwrites again), `compacted` (a
//! snapshot, compaction and purged segments), `confchange` (`ConfChange` and `ConfChangeV2`
//! entries). Golden outputs are `tests/fixtures/golden/<fixture>.<mode>.<txt|json>`: the exit
//! status, stdout and stderr of the tool run on a copy, the copy's path replaced by `<DIR>`.
//!
//! After an intended change, regenerate, in this order:
//! - the fixtures (writer or format change):
//!   `STELE_REGEN_FIXTURES=1 cargo test -p stele-tools --test golden fixtures_are_reproducible`
//! - the outputs: `STELE_REGEN_GOLDEN=1 cargo test -p stele-tools --test golden golden_outputs`
//!
//! Each regeneration writes its files (by rename, so an interrupted one leaves old or new) and
//! then fails on purpose; rerun without the variable to compare, and review the diff. Without
//! the variables the tests only compare and never write.

mod common;

use std::path::Path;

use base64::Engine as _;
use common::{copy_fixture, fixture_files, fixtures_dir, run_in_process, write_fixture, FIXTURES};
use raft::{GetEntriesContext, Storage as _};
use serde_json::Value;
use stele_storage::{DiskStorage, StorageOptions};

/// (fixture, golden suffix, arguments).
const CASES: &[(&str, &str, &[&str])] = &[
    ("clean", "view.txt", &[]),
    ("clean", "view.json", &["--format", "json"]),
    ("clean", "raw.txt", &["--raw"]),
    ("clean", "stats.txt", &["--stats"]),
    ("clean", "stats.json", &["--stats", "--format", "json"]),
    ("clean", "verify.txt", &["--verify"]),
    (
        "clean",
        "range.txt",
        &[
            "--start-index",
            "30",
            "--end-index",
            "34",
            "--data-limit",
            "16",
        ],
    ),
    ("overwritten", "view.txt", &[]),
    ("overwritten", "view.json", &["--format", "json"]),
    ("overwritten", "raw.txt", &["--raw"]),
    ("overwritten", "raw.json", &["--raw", "--format", "json"]),
    ("overwritten", "verify.txt", &["--verify"]),
    ("compacted", "view.txt", &[]),
    ("compacted", "view.json", &["--format", "json"]),
    ("compacted", "raw.txt", &["--raw"]),
    ("compacted", "stats.txt", &["--stats"]),
    ("compacted", "verify.txt", &["--verify"]),
    (
        "compacted",
        "verify.json",
        &["--verify", "--format", "json"],
    ),
    ("confchange", "view.txt", &[]),
    ("confchange", "view.json", &["--format", "json"]),
    (
        "confchange",
        "types.txt",
        &["--entry-type", "conf-change,conf-change-v2"],
    ),
    ("confchange", "verify.txt", &["--verify"]),
];

#[test]
fn fixtures_are_reproducible() {
    if std::env::var_os("STELE_REGEN_FIXTURES").is_some() {
        for name in FIXTURES {
            regenerate_fixture(name);
        }
        panic!("regenerated the fixtures; rerun without STELE_REGEN_FIXTURES to compare");
    }
    for name in FIXTURES {
        let tmp = tempfile::tempdir().unwrap();
        write_fixture(name, tmp.path());
        let committed = fixtures_dir().join(name);
        let files = fixture_files(tmp.path());
        assert_eq!(files, fixture_files(&committed), "{name}: files differ");
        for f in files {
            let (a, b) = (tmp.path().join(&f), committed.join(&f));
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{name}/{}: the writer no longer writes the committed bytes \
                 (regenerate: see the module docs)",
                f.display()
            );
        }
    }
}

/// Writes fixture `name` afresh next to the committed one, then swaps it in by renames, so an
/// interrupted regeneration leaves the old fixture or the new one, not a mix.
fn regenerate_fixture(name: &str) {
    let committed = fixtures_dir().join(name);
    let fresh = fixtures_dir().join(format!("{name}.new"));
    let old = fixtures_dir().join(format!("{name}.old"));
    let _ = std::fs::remove_dir_all(&fresh);
    let _ = std::fs::remove_dir_all(&old);
    let tmp = tempfile::tempdir().unwrap();
    write_fixture(name, tmp.path());
    for f in fixture_files(tmp.path()) {
        let to = fresh.join(&f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(tmp.path().join(&f), to).unwrap();
    }
    if committed.exists() {
        std::fs::rename(&committed, &old).unwrap();
    }
    std::fs::rename(&fresh, &committed).unwrap();
    let _ = std::fs::remove_dir_all(&old);
}

#[test]
fn golden_outputs() {
    let regen = std::env::var_os("STELE_REGEN_GOLDEN").is_some();
    let golden = fixtures_dir().join("golden");
    let mut failed = Vec::new();
    for (fixture, suffix, args) in CASES {
        let dir = copy_fixture(fixture);
        let (code, out, err) = run_in_process(dir.path(), args);
        let got = format!("exit status: {code}\n--- stdout\n{out}--- stderr\n{err}");
        let path = golden.join(format!("{fixture}.{suffix}"));
        if regen {
            write_atomically(&path, &got);
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            eprintln!("=== {} differs; got:\n{got}", path.display());
            failed.push(path.display().to_string());
        }
    }
    assert!(
        !regen,
        "regenerated the golden outputs; rerun without STELE_REGEN_GOLDEN to compare"
    );
    assert!(failed.is_empty(), "golden outputs differ: {failed:?}");
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Parses JSON lines.
fn objects(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_view_is_the_log_disk_storage_recovers() {
    for name in FIXTURES {
        let dir = copy_fixture(name);
        let (code, out, err) = run_in_process(dir.path(), &["--format", "json"]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        let objs = objects(&out);
        let header = objs.iter().find(|o| o["kind"] == "header").unwrap();
        let shown: Vec<(u64, u64, Vec<u8>)> = objs
            .iter()
            .filter(|o| o["kind"] == "entry")
            .map(|o| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(o["data"].as_str().unwrap())
                    .unwrap();
                (
                    o["index"].as_u64().unwrap(),
                    o["term"].as_u64().unwrap(),
                    data,
                )
            })
            .collect();
        assert_eq!(objs.last().unwrap()["kind"], "summary");

        let copy = copy_fixture(name);
        let s = DiskStorage::open(copy.path(), StorageOptions::default()).unwrap();
        let (first, last) = (s.first_index().unwrap(), s.last_index().unwrap());
        assert_eq!(header["first_index"].as_u64(), Some(first), "{name}");
        assert_eq!(header["last_index"].as_u64(), Some(last), "{name}");
        let ents = s
            .entries(first, last + 1, None, GetEntriesContext::empty(false))
            .unwrap();
        let want: Vec<(u64, u64, Vec<u8>)> = ents
            .iter()
            .map(|e| (e.index, e.term, e.data.to_vec()))
            .collect();
        assert_eq!(shown, want, "{name}");
        let hs = s.hard_state();
        let h = &header["hard_state"];
        assert_eq!(
            (h["term"].as_u64(), h["vote"].as_u64(), h["commit"].as_u64()),
            (Some(hs.term), Some(hs.vote), Some(hs.commit)),
            "{name}"
        );
        let cs = s.conf_state();
        let voters: Vec<u64> = header["conf_state"]["voters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(voters, cs.voters, "{name}");
        let snap = s.snapshot_metadata();
        if snap.index > 0 {
            let files = header["snapshots"].as_array().unwrap();
            assert!(files
                .iter()
                .any(|f| f["index"].as_u64() == Some(snap.index)));
        }
    }
}
