//! Snapshot files: listing and checking them read-only, and checking that the log and the
//! snapshots agree (the rules are stele-storage's, shared with `DiskStorage::open`; this file
//! only gathers the facts and prints the findings).

use std::path::PathBuf;

use serde_json::json;
use stele_snap::inspect::{self, Checked, FileKind};
use stele_snap::SnapshotId;
use stele_storage::{check_agreement, LogFacts, SnapshotFacts};
use stele_wal::inspect::Inspection;

use super::out::{plural, Out};
use super::Target;

/// A snapshot file.
#[derive(Debug)]
pub struct Snap {
    /// Its name in the output (`snap/...`).
    pub file: String,
    /// Index and term, from the name.
    pub id: SnapshotId,
    /// File length (0 if unknown).
    pub size: u64,
    /// What the check found, if the file is valid.
    pub checked: Option<Checked>,
}

/// Lists the snapshot directory and checks every snapshot file: the header, trailer and
/// metadata, and with `full` every byte's checksum. Damage is a problem, leftovers are notes;
/// with `verbose` a status line follows each file. Empty if there is no snapshot directory.
pub fn load(t: &Target, full: bool, verbose: bool, o: &mut Out<'_>) -> Vec<Snap> {
    let Ok(dir) = &t.snap else {
        return Vec::new();
    };
    let entries = match inspect::list(dir) {
        Ok(e) => e,
        Err(e) => {
            o.problem("snap", None, &format!("cannot list: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for e in entries {
        let file = t.snap_file(&e.name);
        let id = match e.kind {
            FileKind::Snapshot(id) => id,
            FileKind::Temp => {
                o.note(
                    &file,
                    "a snapshot being written, or left by a crash (removed on open)",
                );
                continue;
            }
            FileKind::Broken => {
                o.note(
                    &file,
                    "set aside as damaged by an earlier load (never read)",
                );
                continue;
            }
            FileKind::Other => {
                o.note(&file, "not a snapshot file (ignored)");
                continue;
            }
            FileKind::Lock => continue,
        };
        let checked = match inspect::check(&dir.join(&e.name), id, full) {
            Ok(c) => Some(c),
            Err(p) => {
                o.problem(&file, p.offset, &p.message);
                None
            }
        };
        let snap = Snap {
            file,
            id,
            size: e.size.unwrap_or(0),
            checked,
        };
        if verbose {
            status_line(&snap, full, o);
        }
        out.push(snap);
    }
    out
}

fn status_line(s: &Snap, full: bool, o: &mut Out<'_>) {
    let ok = s.checked.is_some();
    if o.json {
        let v = json!({
            "kind": "snapshot_check", "file": s.file, "index": s.id.index, "term": s.id.term,
            "size": s.size, "ok": ok,
        });
        o.obj(v);
    } else {
        let how = if full {
            "checksum verified"
        } else {
            "frame checked"
        };
        let status = if ok {
            format!("ok ({how})")
        } else {
            "damaged".to_string()
        };
        o.line(format!(
            "{}: {status}, index {}, term {}, {} bytes",
            s.file, s.id.index, s.id.term, s.size
        ));
    }
}

/// Checks that the log and the snapshot files agree, with the rules `DiskStorage::open`
/// applies ([`stele_storage::check_agreement`]); returns the number of problems found.
pub fn agreement(t: &Target, insp: &Inspection, snaps: &[Snap], o: &mut Out<'_>) -> u64 {
    let before = o.problems;
    let wal = PathBuf::from(t.wal_file(""));
    let term = |index| insp.term(index);
    let log = LogFacts {
        wal: &wal,
        first_index: insp.first_index(),
        last_index: insp.last_index(),
        hard_state: insp.state.hard_state,
        markers: &insp.state.markers,
        term: &term,
    };
    let facts: Vec<SnapshotFacts> = snaps
        .iter()
        .map(|s| SnapshotFacts {
            path: PathBuf::from(&s.file),
            id: s.id,
            metadata: s.checked.as_ref().map(|c| c.metadata.clone()),
        })
        .collect();
    let findings = match check_agreement(&log, t.snap.is_ok().then_some(&facts[..])) {
        Ok(agreement) => agreement.notes,
        Err(disagreement) => disagreement.findings,
    };
    for f in &findings {
        let file = f.file().display().to_string();
        match f.is_problem() {
            true => o.problem(&file, f.offset(), &f.message()),
            false => o.note(&file, &f.message()),
        }
    }
    let n = o.problems - before;
    if o.json {
        o.obj(json!({"kind": "agreement", "ok": n == 0, "problems": n}));
    } else if n == 0 {
        o.line("log and snapshots: agree");
    } else {
        o.line(format!("log and snapshots: {n} problem{}", plural(n)));
    }
    n
}

/// `DiskStorage::open` and `wal-dump --verify` judge the same directories the same way: the
/// same problems (file, offset, message), or both accept.
#[cfg(test)]
mod tests {
    use std::path::Path;

    use raft::eraftpb::{ConfState, Entry, HardState};
    use serde_json::Value;
    use stele_snap::{snapshot_marker, SnapOptions, Snapshotter};
    use stele_storage::{DiskStorage, Error, Finding, StorageOptions};
    use stele_wal::{Batch, Wal, WalOptions};

    /// (file relative to the data directory, offset, message) of each problem.
    type Problems = Vec<(String, Option<u64>, String)>;

    /// A node's directory: entries 1..=10 in term 1, committed, voters {1, 2, 3}; with
    /// `snapshot_at`, a snapshot there (its file and marker), the log compacted to it.
    fn node(snapshot_at: Option<u64>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStorage::open(dir.path(), StorageOptions::default()).unwrap();
        let mut cs = ConfState::default();
        cs.set_voters(vec![1, 2, 3]);
        s.initialize_with_conf_state(&cs).unwrap();
        let entries: Vec<Entry> = (1..=10)
            .map(|i| {
                let mut e = Entry::default();
                e.set_index(i);
                e.set_term(1);
                e
            })
            .collect();
        let mut hs = HardState::default();
        hs.set_term(1);
        hs.set_commit(10);
        s.append(&entries, Some(&hs), true).unwrap();
        if let Some(at) = snapshot_at {
            s.create_snapshot(at, &cs, &mut &b"state"[..]).unwrap();
            s.compact(at).unwrap();
        }
        dir
    }

    /// Appends one batch straight to the node's WAL (storage closed).
    fn wal_batch(dir: &Path, f: impl FnOnce(&mut Batch)) {
        let wal = Wal::open(dir.join("wal"), WalOptions::default()).unwrap();
        let mut batch = Batch::new();
        f(&mut batch);
        wal.append(batch, true).unwrap();
    }

    /// Saves a snapshot file straight into the node's snapshot directory (no marker).
    fn snap_file(dir: &Path, index: u64, term: u64, voters: &[u64]) {
        let snaps = Snapshotter::open(dir.join("snap"), SnapOptions::default()).unwrap();
        let conf = stele_wal::ConfState {
            voters: voters.to_vec(),
            ..Default::default()
        };
        snaps
            .save_bytes(&snapshot_marker(index, term, conf), b"x")
            .unwrap();
    }

    fn open_problems(dir: &Path) -> Problems {
        match DiskStorage::open(dir, StorageOptions::default()) {
            Ok(_) => Vec::new(),
            Err(Error::Disagreement(d)) => d
                .problems()
                .map(|f| {
                    let file = f.file().strip_prefix(dir).unwrap();
                    (file.display().to_string(), f.offset(), f.message())
                })
                .collect(),
            Err(e) => panic!("opening {}: {e}", dir.display()),
        }
    }

    fn verify_problems(dir: &Path) -> (i32, Problems) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let argv = [
            "wal-dump".as_ref(),
            "--verify".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            dir.as_os_str(),
        ];
        let code = crate::dump::run(argv, &mut out, &mut err, false);
        let problems = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["kind"] == "problem")
            .map(|v| {
                let file = v["file"].as_str().unwrap().to_string();
                let message = v["message"].as_str().unwrap().to_string();
                (file, v["offset"].as_u64(), message)
            })
            .collect();
        (code, problems)
    }

    /// Both paths find exactly `want` (problems by file and message start), or both accept.
    fn both_judge(dir: &Path, want: &[(&str, &str)]) {
        let (code, tool) = verify_problems(dir);
        let open = open_problems(dir);
        assert_eq!(open, tool, "open and wal-dump --verify disagree");
        assert_eq!(code, if want.is_empty() { 0 } else { 1 }, "{tool:?}");
        assert_eq!(open.len(), want.len(), "{open:?}");
        for ((file, _, message), (want_file, want_msg)) in open.iter().zip(want) {
            assert_eq!(file, want_file);
            assert!(message.starts_with(want_msg), "{message}");
        }
    }

    const SNAP5: &str = "snap/0000000000000001-0000000000000005.snap";

    #[test]
    fn sound_directories_pass_both() {
        both_judge(node(None).path(), &[]);
        both_judge(node(Some(5)).path(), &[]);
        // A snapshot file without a marker (a save that never completed): noted, not used.
        let dir = node(Some(5));
        snap_file(dir.path(), 8, 1, &[1, 2, 3]);
        both_judge(dir.path(), &[]);
        // A marker without a file, in a log that still holds every entry: noted only.
        let dir = node(None);
        wal_batch(dir.path(), |b| {
            b.add_snapshot_marker(snapshot_marker(4, 1, Default::default()));
        });
        both_judge(dir.path(), &[]);
    }

    #[test]
    fn a_log_compacted_past_its_usable_snapshot_fails_both() {
        // The marker's file is gone.
        let dir = node(Some(5));
        std::fs::remove_file(dir.path().join(SNAP5)).unwrap();
        both_judge(dir.path(), &[("wal", "the log starts at index 6")]);
        // Only a newer file the log has no marker for: it cannot serve the compacted entries.
        let dir = node(Some(5));
        std::fs::remove_file(dir.path().join(SNAP5)).unwrap();
        snap_file(dir.path(), 8, 1, &[1, 2, 3]);
        both_judge(dir.path(), &[("wal", "the log starts at index 6")]);
    }

    #[test]
    fn a_confstate_mismatch_fails_both() {
        let dir = node(Some(5));
        snap_file(dir.path(), 5, 1, &[1, 2]); // replaces the file: same name, other voters
        both_judge(
            dir.path(),
            &[(
                SNAP5,
                "its ConfState differs from the one in the WAL's snapshot marker",
            )],
        );
        let open = DiskStorage::open(dir.path(), StorageOptions::default()).unwrap_err();
        assert!(
            matches!(&open, Error::Disagreement(d)
                if matches!(d.problems().next(), Some(Finding::ConfStateDiffers { .. }))),
            "{open}"
        );
        assert!(open
            .to_string()
            .contains(&dir.path().join(SNAP5).display().to_string()));
    }

    #[test]
    fn a_term_mismatch_fails_both() {
        // A marker and a file at index 3 in term 2, where the log has term 1.
        let dir = node(None);
        let conf = stele_wal::ConfState {
            voters: vec![1, 2, 3],
            ..Default::default()
        };
        wal_batch(dir.path(), |b| {
            b.add_snapshot_marker(snapshot_marker(3, 2, conf));
        });
        snap_file(dir.path(), 3, 2, &[1, 2, 3]);
        let snap = "snap/0000000000000002-0000000000000003.snap";
        both_judge(
            dir.path(),
            &[(
                snap,
                "the log has term 1 at index 3, the snapshot says term 2",
            )],
        );
    }

    #[test]
    fn a_commit_index_past_the_log_fails_both() {
        let dir = node(None);
        wal_batch(dir.path(), |b| {
            b.set_hard_state(stele_wal::HardState {
                term: 1,
                vote: 0,
                commit: 11,
            });
        });
        both_judge(
            dir.path(),
            &[(
                "wal",
                "the HardState's commit index 11 is outside the log [0, 10]",
            )],
        );
    }
}
