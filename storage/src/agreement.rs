//! The rules by which a log and a snapshot directory agree: the one checker that
//! [`DiskStorage::open`](crate::DiskStorage::open) and `wal-dump --verify` both run, so the tool
//! can never call a directory sound that opening rejects, or the other way round.
//!
//! A snapshot is *usable* when its file is valid and the WAL has a marker with its index and
//! term; the newest usable one is what opening serves. The rules, in the order they are checked
//! (findings come back in that order):
//! 1. a HardState other than the empty one has `first_index - 1 <= commit <= last_index`
//!    (raft's restart invariant; `RawNode::new` panics otherwise);
//! 2. for each valid snapshot file, oldest first: without a marker it is only noted (a save that
//!    never completed, or older than the markers kept: opening ignores it); with one, its
//!    ConfState equals the newest such marker's (protobuf semantics: an absent ConfState is the empty one)
//!    and the log's term at its index, where the log knows one, equals its term;
//! 3. a log that starts after index 1 starts at most one past the newest usable snapshot:
//!    otherwise the entries in between are in neither;
//! 4. a newest marker without any file is noted (the file was removed or never synced).
//!
//! Rules 2-4 need the snapshot directory; a WAL inspected alone gets rule 1 only. Invariant:
//! the checker only reads the facts it is given; it opens no file and changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};

use stele_snap::{SnapshotId, SnapshotMarker};
use stele_wal::HardState;

/// What the log says, as the checker needs it.
#[derive(Clone, Copy)]
pub struct LogFacts<'a> {
    /// How findings about the log name it (its directory).
    pub wal: &'a Path,
    /// The first index of the log.
    pub first_index: u64,
    /// The last index of the log (`first_index - 1` when empty).
    pub last_index: u64,
    /// The durable HardState, if the log holds one.
    pub hard_state: Option<HardState>,
    /// The snapshot markers the log keeps.
    pub markers: &'a [SnapshotMarker],
    /// The log's term at an index, where it knows one (live entries and `first_index - 1`).
    pub term: &'a dyn Fn(u64) -> Option<u64>,
}

impl fmt::Debug for LogFacts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogFacts")
            .field("wal", &self.wal)
            .field("first_index", &self.first_index)
            .field("last_index", &self.last_index)
            .field("hard_state", &self.hard_state)
            .field("markers", &self.markers)
            .finish_non_exhaustive()
    }
}

/// A snapshot file, as the checker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// How findings name the file.
    pub path: PathBuf,
    /// Its index and term, from its name.
    pub id: SnapshotId,
    /// Its metadata if the file is valid; `None` if it is damaged (it exists, but is never
    /// used).
    pub metadata: Option<SnapshotMarker>,
}

/// One thing the checker found: a problem (the directory cannot be opened as it is) or a note.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// Problem: the HardState's commit index is outside `[first_index - 1, last_index]`.
    CommitOutsideLog {
        /// The log.
        wal: PathBuf,
        /// The commit index.
        commit: u64,
        /// The first index of the log.
        first: u64,
        /// The last index of the log.
        last: u64,
    },
    /// Problem: a snapshot's ConfState differs from the one in its WAL marker.
    ConfStateDiffers {
        /// The snapshot file.
        path: PathBuf,
        /// The snapshot.
        id: SnapshotId,
    },
    /// Problem: the log has another term at a snapshot's index than the snapshot.
    TermDiffers {
        /// The snapshot file.
        path: PathBuf,
        /// The snapshot.
        id: SnapshotId,
        /// The log's term at `id.index`.
        log_term: u64,
    },
    /// Problem: the log starts after the newest usable snapshot plus one.
    EntriesInNeither {
        /// The log.
        wal: PathBuf,
        /// The first index of the log.
        first: u64,
        /// The index of the newest usable snapshot (0: none).
        covered: u64,
    },
    /// Note: a valid snapshot the WAL has no marker for; opening does not use it.
    Unmarked {
        /// The snapshot file.
        path: PathBuf,
        /// The snapshot.
        id: SnapshotId,
    },
    /// Note: no snapshot file exists for the newest snapshot marker.
    NewestMarkerWithoutFile {
        /// The log.
        wal: PathBuf,
        /// The marker's index and term.
        id: SnapshotId,
    },
}

impl Finding {
    /// True for a problem, false for a note.
    pub fn is_problem(&self) -> bool {
        !matches!(
            self,
            Finding::Unmarked { .. } | Finding::NewestMarkerWithoutFile { .. }
        )
    }

    /// The file (or directory) the finding is about.
    pub fn file(&self) -> &Path {
        match self {
            Finding::CommitOutsideLog { wal, .. }
            | Finding::EntriesInNeither { wal, .. }
            | Finding::NewestMarkerWithoutFile { wal, .. } => wal,
            Finding::ConfStateDiffers { path, .. }
            | Finding::TermDiffers { path, .. }
            | Finding::Unmarked { path, .. } => path,
        }
    }

    /// The byte offset in [`file`](Self::file) of the field at fault, where there is one (a
    /// snapshot file's metadata).
    pub fn offset(&self) -> Option<u64> {
        match self {
            Finding::ConfStateDiffers { .. } => Some(stele_snap::format::HEADER_LEN),
            _ => None,
        }
    }

    /// What was found, without the file's name.
    pub fn message(&self) -> String {
        match self {
            Finding::CommitOutsideLog {
                commit,
                first,
                last,
                ..
            } => format!(
                "the HardState's commit index {commit} is outside the log [{}, {last}]",
                first - 1
            ),
            Finding::ConfStateDiffers { .. } => {
                "its ConfState differs from the one in the WAL's snapshot marker".to_string()
            }
            Finding::TermDiffers { id, log_term, .. } => format!(
                "the log has term {log_term} at index {}, the snapshot says term {}",
                id.index, id.term
            ),
            Finding::EntriesInNeither { first, covered, .. } => format!(
                "the log starts at index {first} but the newest usable snapshot (a valid file \
                 the WAL has a marker for) is at index {covered}: entries {}..={} are in neither",
                covered + 1,
                first - 1
            ),
            Finding::Unmarked { .. } => "the WAL has no marker for it (a save that never \
                completed, or older than the markers kept): opening does not use it"
                .to_string(),
            Finding::NewestMarkerWithoutFile { id, .. } => format!(
                "no snapshot file for the newest snapshot marker (index {} term {})",
                id.index, id.term
            ),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file().display())?;
        if let Some(offset) = self.offset() {
            write!(f, " at offset {offset}")?;
        }
        write!(f, ": {}", self.message())
    }
}

/// The log and the snapshots agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The newest usable snapshot (what opening serves), if any.
    pub served: Option<SnapshotId>,
    /// Notes, in the order found.
    pub notes: Vec<Finding>,
}

/// The log and the snapshots disagree: at least one problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// Every finding, problems and notes, in the order found.
    pub findings: Vec<Finding>,
}

impl Disagreement {
    /// The problems, in the order found (never empty).
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_problem())
    }
}

impl fmt::Display for Disagreement {
    /// The first problem, and how many more there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut problems = self.problems();
        match problems.next() {
            Some(first) => write!(f, "{first}")?,
            None => write!(f, "the log and the snapshots disagree")?,
        }
        match problems.count() {
            0 => Ok(()),
            n => write!(
                f,
                " (and {n} more problem{})",
                if n == 1 { "" } else { "s" }
            ),
        }
    }
}

impl std::error::Error for Disagreement {}

/// Checks the rules of the module docs. `snapshots` is `None` when there is no snapshot
/// directory to compare with (a WAL inspected alone); otherwise every snapshot file in it,
/// damaged ones included, oldest first.
pub fn check_agreement(
    log: &LogFacts<'_>,
    snapshots: Option<&[SnapshotFacts]>,
) -> Result<Agreement, Disagreement> {
    let mut findings = Vec::new();
    check_commit(log, &mut findings);
    let mut served = None;
    if let Some(snapshots) = snapshots {
        served = check_snapshots(log, snapshots, &mut findings);
        check_coverage(log, served, &mut findings);
        check_newest_marker(log, snapshots, &mut findings);
    }
    if findings.iter().any(Finding::is_problem) {
        Err(Disagreement { findings })
    } else {
        Ok(Agreement {
            served,
            notes: findings,
        })
    }
}

/// Rule 1.
fn check_commit(log: &LogFacts<'_>, out: &mut Vec<Finding>) {
    let Some(hs) = log.hard_state.filter(|h| *h != HardState::default()) else {
        return;
    };
    let (first, last) = (log.first_index, log.last_index);
    if hs.commit.saturating_add(1) < first || hs.commit > last {
        out.push(Finding::CommitOutsideLog {
            wal: log.wal.to_path_buf(),
            commit: hs.commit,
            first,
            last,
        });
    }
}

/// Rule 2; returns the newest usable snapshot.
fn check_snapshots(
    log: &LogFacts<'_>,
    snapshots: &[SnapshotFacts],
    out: &mut Vec<Finding>,
) -> Option<SnapshotId> {
    let mut newest: Option<SnapshotId> = None;
    for s in snapshots {
        let Some(meta) = &s.metadata else { continue };
        let (path, id) = (s.path.clone(), s.id);
        // The newest marker for it: a snapshot reinstalled at the same index and term replaces
        // the file, and its new marker follows the old one.
        let marker = log.markers.iter().rev().find(|m| SnapshotId::of(m) == id);
        let Some(marker) = marker else {
            out.push(Finding::Unmarked { path, id });
            continue;
        };
        newest = newest.max(Some(id));
        if marker.conf_state.clone().unwrap_or_default()
            != meta.conf_state.clone().unwrap_or_default()
        {
            out.push(Finding::ConfStateDiffers {
                path: path.clone(),
                id,
            });
        }
        if let Some(log_term) = (log.term)(id.index).filter(|&t| t != id.term) {
            out.push(Finding::TermDiffers { path, id, log_term });
        }
    }
    newest
}

/// Rule 3.
fn check_coverage(log: &LogFacts<'_>, served: Option<SnapshotId>, out: &mut Vec<Finding>) {
    let first = log.first_index;
    let covered = served.map_or(0, |id| id.index);
    if first > 1 && covered.saturating_add(1) < first {
        out.push(Finding::EntriesInNeither {
            wal: log.wal.to_path_buf(),
            first,
            covered,
        });
    }
}

/// Rule 4.
fn check_newest_marker(log: &LogFacts<'_>, snapshots: &[SnapshotFacts], out: &mut Vec<Finding>) {
    let Some(m) = log.markers.last() else { return };
    let id = SnapshotId::of(m);
    if snapshots.iter().all(|s| s.id != id) {
        out.push(Finding::NewestMarkerWithoutFile {
            wal: log.wal.to_path_buf(),
            id,
        });
    }
}

#[cfg(test)]
mod tests {
    use stele_snap::snapshot_marker;
    use stele_wal::ConfState;

    use super::*;

    fn conf(voters: &[u64]) -> ConfState {
        ConfState {
            voters: voters.to_vec(),
            ..ConfState::default()
        }
    }

    fn file(index: u64, term: u64, conf_state: Option<ConfState>) -> SnapshotFacts {
        let id = SnapshotId::new(index, term);
        SnapshotFacts {
            path: PathBuf::from(format!("snap/{}", id.file_name())),
            id,
            metadata: Some(SnapshotMarker {
                conf_state,
                index,
                term,
            }),
        }
    }

    /// Checks a log of entries `first..=10`, all in term 1, with `markers`.
    fn check(
        first: u64,
        markers: &[SnapshotMarker],
        snaps: Option<&[SnapshotFacts]>,
    ) -> Result<Agreement, Disagreement> {
        let term = |i: u64| (i + 1 >= first && i <= 10).then_some(1);
        let log = LogFacts {
            wal: Path::new("wal"),
            first_index: first,
            last_index: 10,
            hard_state: None,
            markers,
            term: &term,
        };
        check_agreement(&log, snaps)
    }

    #[test]
    fn an_absent_confstate_is_the_empty_one() {
        let markers = [snapshot_marker(5, 1, ConfState::default())];
        let got = check(6, &markers, Some(&[file(5, 1, None)])).unwrap();
        assert_eq!(got.served, Some(SnapshotId::new(5, 1)));
        assert!(got.notes.is_empty(), "{:?}", got.notes);
    }

    #[test]
    fn the_newest_marker_for_a_snapshot_is_the_one_compared() {
        // Reinstalled at the same index and term with another configuration.
        let markers = [
            snapshot_marker(5, 1, conf(&[1, 2, 3])),
            snapshot_marker(5, 1, conf(&[1, 2])),
        ];
        let current = [file(5, 1, Some(conf(&[1, 2])))];
        assert!(check(6, &markers, Some(&current)).is_ok());
        let stale = [file(5, 1, Some(conf(&[1, 2, 3])))];
        let d = check(6, &markers, Some(&stale)).unwrap_err();
        assert_eq!(
            d.findings,
            [Finding::ConfStateDiffers {
                path: stale[0].path.clone(),
                id: SnapshotId::new(5, 1)
            }]
        );
        assert_eq!(
            d.to_string(),
            "snap/0000000000000001-0000000000000005.snap at offset 24: its ConfState differs \
             from the one in the WAL's snapshot marker"
        );
    }

    #[test]
    fn findings_come_in_rule_order_and_damaged_files_only_exist() {
        let markers = [
            snapshot_marker(3, 2, conf(&[1])),
            snapshot_marker(8, 1, conf(&[1])),
        ];
        let mut damaged = file(8, 1, None);
        damaged.metadata = None;
        let snaps = [
            file(2, 1, Some(conf(&[1]))),
            file(3, 2, Some(conf(&[9]))),
            damaged,
        ];
        let d = check(6, &markers, Some(&snaps)).unwrap_err();
        let kinds: Vec<(bool, String)> = d
            .findings
            .iter()
            .map(|f| (f.is_problem(), f.message()))
            .collect();
        assert_eq!(d.problems().count(), 2, "{kinds:?}");
        assert!(
            matches!(d.findings[0], Finding::Unmarked { .. }),
            "{kinds:?}"
        );
        assert!(
            matches!(d.findings[1], Finding::ConfStateDiffers { .. }),
            "{kinds:?}"
        );
        // No term check at index 3: the log (starting at 6) no longer knows its term.
        assert!(
            matches!(
                d.findings[2],
                Finding::EntriesInNeither {
                    first: 6,
                    covered: 3,
                    ..
                }
            ),
            "{kinds:?}"
        );
        // The damaged file exists, so its marker is not "without a file".
        assert_eq!(d.findings.len(), 3, "{kinds:?}");
        assert!(d.to_string().ends_with("(and 1 more problem)"), "{d}");
    }

    #[test]
    fn a_wal_alone_gets_the_commit_rule_only() {
        let markers = [snapshot_marker(5, 1, conf(&[1]))];
        assert!(check(6, &markers, None).is_ok());
        let err = check(6, &markers, Some(&[])).unwrap_err();
        assert_eq!(err.problems().count(), 1);
        let term = |_: u64| None;
        let log = LogFacts {
            wal: Path::new("wal"),
            first_index: 1,
            last_index: 10,
            hard_state: Some(HardState {
                term: 1,
                vote: 0,
                commit: 11,
            }),
            markers: &[],
            term: &term,
        };
        let d = check_agreement(&log, None).unwrap_err();
        assert_eq!(
            d.to_string(),
            "wal: the HardState's commit index 11 is outside the log [0, 10]"
        );
    }
}
