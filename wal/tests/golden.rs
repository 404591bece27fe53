//! Golden file: pins the exact bytes of a small log (two segments: one sealed, one active).
//!
//! Salts are made deterministic with `salt_seed`, and the log is written to the simulated disk,
//! so the bytes are the same on every run. If the format changes on purpose, bump
//! `FORMAT_VERSION`, regenerate with `STELE_REGEN_GOLDEN=1 cargo test -p stele-wal --test golden`,
//! and update the worked example in docs/FORMAT.md. Regeneration writes each file (to a temporary
//! name, then renamed over the old one) and then fails on purpose: rerun without the variable to
//! compare and review the diff. Without the variable the test only compares and never writes, so
//! a variable left set in an environment cannot make it pass.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stele_wal::fs::sim::SimFs;
use stele_wal::fs::FileSystem;
use stele_wal::{Batch, ConfState, HardState, SnapshotMarker, Wal, WalOptions};

fn opts(fs: &SimFs) -> WalOptions {
    WalOptions {
        segment_size: 1024,
        fs: Arc::new(fs.clone()),
        salt_seed: Some(7),
        ..WalOptions::default()
    }
}

fn write_log(fs: &SimFs) {
    let wal = Wal::open("/w", opts(fs)).unwrap();
    let mut b = Batch::new();
    b.add_entry(1, 1, b"\x10\x01\x18\x01").unwrap(); // eraftpb.Entry{term:1,index:1}
    b.add_entry(2, 1, b"\x10\x01\x18\x02\x22\x03put").unwrap(); // ...data:"put"
    b.set_hard_state(HardState {
        term: 1,
        vote: 1,
        commit: 1,
    });
    b.set_conf_state(ConfState {
        voters: vec![1, 2, 3],
        ..Default::default()
    });
    wal.append(b, true).unwrap();
    for i in 3..=9u64 {
        let mut b = Batch::new();
        b.add_entry(
            i,
            2,
            format!("entry {i} padded to a longer payload....").as_bytes(),
        )
        .unwrap();
        if i == 9 {
            b.add_snapshot_marker(SnapshotMarker {
                conf_state: None,
                index: 8,
                term: 2,
            });
        }
        wal.append(b, true).unwrap();
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn small_log_bytes_are_pinned() {
    let fs = SimFs::new();
    write_log(&fs);
    let mut names = fs.list(Path::new("/w")).unwrap();
    names.retain(|n| n.ends_with(".wal"));
    names.sort();
    assert_eq!(
        names.len(),
        2,
        "expected one sealed and one active segment: {names:?}"
    );
    if std::env::var_os("STELE_REGEN_GOLDEN").is_some() {
        for name in &names {
            let bytes = fs.read_file(&Path::new("/w").join(name)).unwrap();
            let golden = golden_dir().join(name);
            let tmp = golden_dir().join(format!("{name}.tmp"));
            std::fs::write(&tmp, &bytes).unwrap();
            std::fs::rename(&tmp, &golden).unwrap();
        }
        panic!("regenerated {names:?}; rerun without STELE_REGEN_GOLDEN to compare");
    }
    for name in &names {
        let bytes = fs.read_file(&Path::new("/w").join(name)).unwrap();
        let golden = golden_dir().join(name);
        let want = std::fs::read(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        assert!(
            bytes == want,
            "{name} differs from {}: the on-disk format changed",
            golden.display()
        );
    }
}

#[test]
fn golden_files_still_open_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let o = WalOptions {
        segment_size: 1024,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), o).unwrap();
    assert_eq!(wal.recovery().sealed, 1);
    assert_eq!(
        (wal.first_index().unwrap(), wal.last_index().unwrap()),
        (1, 9)
    );
    let e = wal.entries(2, 3, None).unwrap();
    assert_eq!(e[0].data, b"\x10\x01\x18\x02\x22\x03put");
    let st = wal.state().unwrap();
    assert_eq!(
        st.hard_state,
        Some(HardState {
            term: 1,
            vote: 1,
            commit: 1
        })
    );
    assert_eq!(st.conf_state.unwrap().voters, vec![1, 2, 3]);
    assert_eq!(st.markers.last().map(|m| (m.index, m.term)), Some((8, 2)));
    assert_eq!(wal.term(9).unwrap(), 2);
}
