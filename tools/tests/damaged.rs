//! Damaged copies of the fixtures: each is reported with the exact exit status and a message
//! naming the file and offset; the tool changes no byte; bad usage exits 2.

mod common;

use std::path::Path;

use common::{copy_fixture, run_binary, run_in_process, snapshot_tree};
use stele_wal::inspect::{self, Event};

const SEG0: &str = "0000000000000000-0000000000000001.wal";
const SEG1: &str = "0000000000000001-0000000000000011.wal";
const SEG2: &str = "0000000000000002-0000000000000020.wal";
const SNAP: &str = "0000000000000001-000000000000001e.snap";

/// The valid batches of `segment` as (offset, total length), read through the inspection API.
fn batches(wal: &Path, segment: &str) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    inspect::inspect(wal, &mut |ev| {
        if let Event::Batch(b) = ev {
            if b.segment == segment {
                out.push((b.offset, b.header.total_len()));
            }
        }
        true
    })
    .unwrap();
    out
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// Runs every mode on `dir`: each must exit `code` and leave every byte alone; returns the
/// outputs (stdout + stderr) by mode.
fn all_modes(dir: &Path, code: i32) -> Vec<String> {
    let before = snapshot_tree(dir);
    let mut outs = Vec::new();
    for args in [
        &[][..],
        &["--raw"][..],
        &["--verify"][..],
        &["--stats"][..],
        &["--format", "json"][..],
        &["--verify", "--format", "json"][..],
    ] {
        let (got, out, err) = run_in_process(dir, args);
        assert_eq!(got, code, "{args:?}:\n{out}{err}");
        if code == 1 {
            assert!(err.contains("problem"), "{args:?}: {err}");
        }
        outs.push(format!("{out}{err}"));
    }
    assert!(before == snapshot_tree(dir), "the tool changed a byte");
    outs
}

#[test]
fn the_clean_fixtures_pass_every_mode() {
    for name in common::FIXTURES {
        let dir = copy_fixture(name);
        all_modes(dir.path(), 0);
    }
}

#[test]
fn torn_tail() {
    let dir = copy_fixture("clean");
    let wal = dir.path().join("wal");
    let &(off, len) = batches(&wal, SEG2).last().unwrap();
    edit(&wal.join(SEG2), |b| {
        b[(off + len - 16) as usize..(off + len) as usize].fill(0)
    });
    let want = format!("problem: wal/{SEG2} at offset {off}: batch body checksum mismatch");
    for out in all_modes(dir.path(), 1) {
        if out.starts_with('{') {
            assert!(out.contains(&format!("\"file\":\"wal/{SEG2}\"")), "{out}");
            assert!(out.contains(&format!("\"offset\":{off}")), "{out}");
            continue;
        }
        assert!(out.contains(&want), "{out}");
        assert!(out.contains("torn tail, nothing valid follows"), "{out}");
    }
    let (_, out, _) = run_in_process(dir.path(), &[]);
    assert!(out.contains("entries: 1..=50 (50)"), "{out}");
}

#[test]
fn flipped_bit_in_a_sealed_segment() {
    let dir = copy_fixture("clean");
    let wal = dir.path().join("wal");
    let all = batches(&wal, SEG0);
    let (off, len) = all[3];
    let next = all[4].0;
    assert_eq!(next, off + len);
    edit(&wal.join(SEG0), |b| b[(off + 32 + 16 + 3) as usize] ^= 0x10);
    let want = format!("problem: wal/{SEG0} at offset {off}: batch body checksum mismatch");
    let outs = all_modes(dir.path(), 1);
    for out in &outs[..3] {
        assert!(out.contains(&want), "{out}");
        assert!(
            out.contains(&format!(
                "a valid batch follows at offset {next}: damage in the middle of the log"
            )),
            "{out}"
        );
    }
    // The damaged batch, and the log view restarting after the entries it held.
    let gap = format!("wal/{SEG0} at offset {next}: batch starts at index 5, the log expects");
    assert!(outs[2].contains(&gap), "{}", outs[2]);
    assert!(outs[2].contains(&format!("wal/{SEG0}: 2 problems (sealed,")));
}

#[test]
fn missing_middle_segment() {
    let dir = copy_fixture("clean");
    std::fs::remove_file(dir.path().join("wal").join(SEG1)).unwrap();
    for out in &all_modes(dir.path(), 1)[..4] {
        let seq = format!(
            "problem: wal/{SEG2}: segment sequence jumps from 0x0 to 0x2: 1 segment(s) missing"
        );
        assert!(out.contains(&seq), "{out}");
        let gap = format!(
            "problem: wal/{SEG2} at offset 0: batch starts at index 32, the log expects at most 17"
        );
        assert!(out.contains(&gap), "{out}");
    }
}

#[test]
fn truncated_snapshot() {
    let dir = copy_fixture("compacted");
    let snap = dir.path().join("snap").join(SNAP);
    edit(&snap, |b| b.truncate(77));
    let want = format!(
        "problem: snap/{SNAP} at offset 77: truncated (77 bytes; the last bytes are not a trailer)"
    );
    let outs = all_modes(dir.path(), 1);
    for out in &outs[..4] {
        assert!(out.contains(&want), "{out}");
    }
    assert!(
        outs[2].contains("problem: wal: the log starts at index 31 but the newest usable snapshot"),
        "{}",
        outs[2]
    );
}

#[test]
fn flipped_bit_in_snapshot_data_needs_verify() {
    let dir = copy_fixture("compacted");
    let snap = dir.path().join("snap").join(SNAP);
    edit(&snap, |b| b[50] ^= 1);
    // The default view checks a snapshot's frame and metadata, not its data...
    let (code, _, _) = run_in_process(dir.path(), &[]);
    assert_eq!(code, 0);
    // ...--verify checks every byte.
    let (code, out, _) = run_in_process(dir.path(), &["--verify"]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "problem: snap/{SNAP} at offset 79: checksum mismatch"
        )),
        "{out}"
    );
}

#[test]
fn the_binary_reports_damage_and_bad_usage() {
    let dir = copy_fixture("clean");
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = run_binary(&[d]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.contains("entries: 1..=54 (54)"));

    std::fs::remove_file(dir.path().join("wal").join(SEG1)).unwrap();
    let (code, out, err) = run_binary(&["--verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("segment sequence jumps"), "{out}");
    assert!(err.contains("problems found"), "{err}");

    for bad in [
        &[][..],
        &["--format", "xml", d][..],
        &["--raw", "--verify", d][..],
        &["--entry-type", "snapshot", d][..],
        &["--start-index", "5", "--end-index", "5", d][..],
        &["--start-index", "x", d][..],
    ] {
        let (code, out, err) = run_binary(bad);
        assert_eq!(code, 2, "{bad:?}: {out}{err}");
        assert!(!err.is_empty());
    }
    let (code, out, _) = run_binary(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("entry_type") && out.contains("conf_change"),
        "{out}"
    );

    let missing = dir.path().join("nope");
    let (code, out, _) = run_binary(&[missing.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("cannot read"), "{out}");
    let (code, out, _) = run_binary(&[env!("CARGO_MANIFEST_DIR")]);
    assert_eq!(code, 1);
    assert!(out.contains("neither a data directory"), "{out}");
}

#[test]
fn a_wal_directory_works_alone() {
    let dir = copy_fixture("overwritten");
    let wal = dir.path().join("wal");
    let (code, out, err) = run_in_process(&wal, &["--verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{SEG0}: ok")), "{out}");
}

/// Files a running WAL makes next to its segments (the spare, one being prepared, a recycled
/// segment) are described for what they are and do not make `--verify` fail.
#[test]
fn spare_and_recycled_files_are_named_not_problems() {
    let dir = copy_fixture("clean");
    let wal = dir.path().join("wal");
    std::fs::write(wal.join("0000000000000003.spare"), vec![0u8; 4096]).unwrap();
    std::fs::write(wal.join("0000000000000004.spare.tmp"), vec![0u8; 100]).unwrap();
    std::fs::write(wal.join("0000000000000000.recycle"), vec![7u8; 4096]).unwrap();
    let outs = all_modes(dir.path(), 0);
    let text = &outs[0];
    for (name, what) in [
        ("0000000000000003.spare", "preallocated ahead of a cut"),
        ("0000000000000004.spare.tmp", "being prepared"),
        ("0000000000000000.recycle", "kept for reuse"),
    ] {
        let line = text.lines().find(|l| l.contains(name));
        assert!(
            line.is_some_and(|l| l.contains(what)),
            "{name}: want '{what}' in:\n{text}"
        );
    }
}
