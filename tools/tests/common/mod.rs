//! Shared by the `wal-dump` tests: the fixture writer (the project's own `DiskStorage`), copying
//! fixtures, and running the tool in-process or as the binary.
//!
//! Fixtures are data directories under `tests/fixtures/<name>/` (`wal/` and `snap/`), written
//! with fixed salts (`salt_seed`) and 4 KiB segments, so the same code writes the same bytes.
//! Regenerate them after an intended format or writer change with
//! `STELE_REGEN_FIXTURES=1 cargo test -p stele-tools --test golden`, then the golden outputs with
//! `STELE_REGEN_GOLDEN=1 cargo test -p stele-tools --test golden`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
    Entry, EntryType, HardState,
};
use stele_storage::{DiskStorage, StorageOptions};
use stele_wal::WalOptions;

/// The committed fixtures.
pub const FIXTURES: [&str; 4] = ["clean", "overwritten", "compacted", "confchange"];

/// `tools/tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn storage(dir: &Path) -> DiskStorage {
    let opts = StorageOptions {
        wal: WalOptions {
            segment_size: 4096,
            salt_seed: Some(7),
            ..WalOptions::default()
        },
        ..StorageOptions::default()
    };
    DiskStorage::open(dir, opts).unwrap()
}

fn ent(index: u64, term: u64, data: &[u8]) -> Entry {
    Entry {
        index,
        term,
        data: data.to_vec().into(),
        ..Entry::default()
    }
}

fn typed(index: u64, term: u64, t: EntryType, data: Vec<u8>) -> Entry {
    let mut e = ent(index, term, &data);
    e.set_entry_type(t);
    e
}

fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..HardState::default()
    }
}

fn voters(v: &[u64]) -> ConfState {
    ConfState {
        voters: v.to_vec(),
        ..ConfState::default()
    }
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut s = format!("put key{i} value{i} ");
    while s.len() < len {
        s.push_str("pad.");
    }
    s.truncate(len);
    s.into_bytes()
}

/// Appends entries `from..=to` of `term` in batches of `per`, each with a HardState.
fn append_run(s: &DiskStorage, from: u64, to: u64, term: u64, per: u64, len: usize, commit: u64) {
    let mut i = from;
    while i <= to {
        let last = (i + per - 1).min(to);
        let ents: Vec<Entry> = (i..=last).map(|j| ent(j, term, &payload(j, len))).collect();
        s.append(&ents, Some(&hs(term, 1, commit.min(last))), true)
            .unwrap();
        i = last + 1;
    }
}

/// Writes fixture `name` as a data directory in `dir` (created, must be empty).
pub fn write_fixture(name: &str, dir: &Path) {
    let s = storage(dir);
    s.initialize_with_conf_state(&voters(&[1, 2, 3])).unwrap();
    match name {
        "clean" => {
            s.append(&[ent(1, 1, b"")], Some(&hs(1, 1, 0)), true)
                .unwrap();
            append_run(&s, 2, 40, 1, 3, 150, 38);
            let binary: Vec<u8> = (0..=40u8).map(|b| b.wrapping_mul(37)).collect();
            s.append(&[ent(41, 1, &binary)], None, true).unwrap();
            let long = payload(42, 300);
            s.append(&[ent(42, 1, &long)], Some(&hs(1, 1, 41)), true)
                .unwrap();
            append_run(&s, 43, 54, 1, 4, 40, 54);
        }
        "overwritten" => {
            append_run(&s, 1, 15, 1, 3, 200, 10);
            // A new leader (term 2) overwrites 11..=15: 11 and 12 sit in the sealed segment 0.
            let ents: Vec<Entry> = (11..=17).map(|j| ent(j, 2, &payload(j, 200))).collect();
            s.append(&ents, Some(&hs(2, 2, 10)), true).unwrap();
            // And term 3 overwrites 16 and 17 in the same segment.
            let ents: Vec<Entry> = (16..=18).map(|j| ent(j, 3, &payload(j, 50))).collect();
            s.append(&ents, Some(&hs(3, 3, 15)), true).unwrap();
        }
        "compacted" => {
            append_run(&s, 1, 40, 1, 4, 150, 40);
            let data = b"state machine snapshot at index 30\n".to_vec();
            s.create_snapshot(30, &voters(&[1, 2, 3]), &mut &data[..])
                .unwrap();
            s.compact(30).unwrap();
            append_run(&s, 41, 44, 2, 2, 20, 42);
        }
        "confchange" => conf_changes(&s),
        other => panic!("no fixture {other}"),
    }
    s.sync().unwrap();
}

fn single(t: ConfChangeType, id: u64) -> ConfChangeSingle {
    ConfChangeSingle {
        change_type: t,
        node_id: id,
        ..ConfChangeSingle::default()
    }
}

fn conf_changes(s: &DiskStorage) {
    let cc = |t: ConfChangeType, id: u64, ctx: &str| {
        let c = ConfChange {
            change_type: t,
            node_id: id,
            context: ctx.as_bytes().to_vec().into(),
            ..ConfChange::default()
        };
        c.write_to_bytes().unwrap()
    };
    let v2 = |changes: Vec<ConfChangeSingle>, t: ConfChangeTransition| {
        let c = ConfChangeV2 {
            changes: changes.into(),
            transition: t,
            ..ConfChangeV2::default()
        };
        c.write_to_bytes().unwrap()
    };
    use ConfChangeType::{AddLearnerNode, AddNode, RemoveNode};
    use EntryType::{EntryConfChange as V1, EntryConfChangeV2 as V2};
    let ents = vec![
        ent(1, 1, b""),
        typed(2, 1, V1, cc(AddNode, 4, "127.0.0.1:42379")),
        ent(3, 1, b"put a 1"),
        typed(4, 1, V1, cc(AddLearnerNode, 5, "127.0.0.1:52379")),
        typed(5, 1, V1, cc(RemoveNode, 2, "")),
        typed(
            6,
            1,
            V2,
            v2(
                vec![single(AddNode, 6), single(RemoveNode, 3)],
                ConfChangeTransition::Explicit,
            ),
        ),
        typed(7, 1, V2, v2(vec![], ConfChangeTransition::Auto)),
        typed(
            8,
            1,
            V2,
            v2(vec![single(AddLearnerNode, 7)], ConfChangeTransition::Auto),
        ),
        ent(9, 1, b"put b 2"),
    ];
    s.append(&ents[..2], Some(&hs(1, 1, 0)), true).unwrap();
    s.append(&ents[2..], Some(&hs(1, 1, 9)), true).unwrap();
    let mut cs = voters(&[1, 4, 6]);
    cs.learners = vec![5, 7];
    s.set_conf_state(&cs).unwrap();
}

/// The fixture's files, relative to its directory, sorted (segments and snapshots only: lock
/// files are not part of a fixture).
pub fn fixture_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["wal", "snap"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".wal") || name.ends_with(".snap") {
                out.push(Path::new(sub).join(name));
            }
        }
    }
    out.sort();
    out
}

/// Copies the committed fixture `name` into a new temporary directory.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let src = fixtures_dir().join(name);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
    let files = fixture_files(&src);
    assert!(!files.is_empty(), "fixture {name} is missing");
    for f in files {
        let to = tmp.path().join(&f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(&f), to).unwrap();
    }
    tmp
}

/// Runs the tool in-process on `dir` with `args`; returns (exit status, stdout, stderr), with
/// `dir` replaced by `<DIR>` in the output.
pub fn run_in_process(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["wal-dump".to_string(), dir.display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = stele_tools::dump::run(argv, &mut out, &mut err, false);
    let norm = |b: Vec<u8>| {
        String::from_utf8(b)
            .unwrap()
            .replace(&dir.display().to_string(), "<DIR>")
    };
    (code, norm(out), norm(err))
}

/// Runs the `wal-dump` binary; returns (exit status, stdout, stderr).
pub fn run_binary(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wal-dump"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every regular file under `dir` with its bytes, sorted by path.
pub fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}
