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
