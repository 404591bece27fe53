//! Snapshot files: listing and checking them read-only, and checking that the log and the
//! snapshots agree.

use serde_json::json;
use stele_snap::inspect::{self, Checked, FileKind};
use stele_snap::SnapshotId;
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

/// Checks that the log and the snapshot files agree (as opening a `DiskStorage` requires);
/// returns the number of problems found.
pub fn agreement(t: &Target, insp: &Inspection, snaps: &[Snap], o: &mut Out<'_>) -> u64 {
    let before = o.problems;
    let wal = t.wal_file("");
    let st = &insp.state;
    let (first, last) = (insp.first_index(), insp.last_index());
    if let Some(hs) = st.hard_state.filter(|h| *h != Default::default()) {
        if hs.commit.saturating_add(1) < first || hs.commit > last {
            let msg = format!(
                "the HardState's commit index {} is outside the log [{}, {last}]",
                hs.commit,
                first - 1
            );
            o.problem(&wal, None, &msg);
        }
    }
    if t.snap.is_ok() {
        snapshots_agree(t, insp, snaps, o);
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

fn snapshots_agree(t: &Target, insp: &Inspection, snaps: &[Snap], o: &mut Out<'_>) {
    let wal = t.wal_file("");
    let st = &insp.state;
    let first = insp.first_index();
    let mut newest_agreed: Option<SnapshotId> = None;
    for s in snaps {
        let Some(c) = &s.checked else { continue };
        let marker = st
            .markers
            .iter()
            .find(|m| m.index == s.id.index && m.term == s.id.term);
        let Some(marker) = marker else {
            let msg = "the WAL has no marker for it (a save that never completed, or older \
                than the markers kept): opening does not use it";
            o.note(&s.file, msg);
            continue;
        };
        newest_agreed = newest_agreed.max(Some(s.id));
        if marker.conf_state != c.metadata.conf_state {
            let msg = "its ConfState differs from the one in the WAL's snapshot marker";
            o.problem(&s.file, Some(24), msg);
        }
        if let Some(term) = insp.term(s.id.index).filter(|&term| term != s.id.term) {
            let msg = format!(
                "the log has term {term} at index {}, the snapshot says term {}",
                s.id.index, s.id.term
            );
            o.problem(&s.file, None, &msg);
        }
    }
    let covered = newest_agreed.map_or(0, |id| id.index);
    if first > 1 && covered.saturating_add(1) < first {
        let msg = format!(
            "the log starts at index {first} but the newest usable snapshot (a valid file the WAL \
             has a marker for) is at index {covered}: entries {}..={} are in neither",
            covered + 1,
            first - 1
        );
        o.problem(&wal, None, &msg);
    }
    if let Some(m) = st.markers.last() {
        if snaps
            .iter()
            .all(|s| (s.id.index, s.id.term) != (m.index, m.term))
        {
            let msg = format!(
                "no snapshot file for the newest snapshot marker (index {} term {})",
                m.index, m.term
            );
            o.note(&wal, &msg);
        }
    }
}
