//! Recovery on open: which snapshot the storage serves, and the check that the log and the
//! snapshot directory agree (`agreement.rs`, the same rules `wal-dump --verify` applies).
//!
//! Invariants: the served snapshot is the newest snapshot file that verifies completely and
//! that the WAL has a marker for (damaged newer ones are quarantined by `stele-snap` on the
//! way); every other snapshot file has its header, trailer and metadata checked (not its data)
//! so that the agreement rules see each file's ConfState; a directory that breaks a rule is
//! refused with [`Error::Disagreement`] naming the file, before raft sees any of it.

use std::path::Path;

use raft::eraftpb::SnapshotMetadata;
use stele_snap::{SnapshotFile, SnapshotId, Snapshotter};
use stele_wal::{LogState, SnapshotMarker, Wal};

use crate::agreement::{check_agreement, LogFacts, SnapshotFacts};
use crate::convert::marker_to_raft;
use crate::error::{Error, Result};

/// The metadata of the snapshot to serve (empty: none), once the log and the snapshots are
/// known to agree. `wal_dir` names the log in a disagreement.
pub(crate) fn served_snapshot(
    wal_dir: &Path,
    wal: &Wal,
    snaps: &Snapshotter,
    log_state: &LogState,
) -> Result<SnapshotMetadata> {
    let served = load_served(snaps, &log_state.markers)?;
    let facts = snapshot_facts(snaps, served.as_ref())?;
    let term = |index| wal.term(index).ok();
    let log = LogFacts {
        wal: wal_dir,
        first_index: wal.first_index()?,
        last_index: wal.last_index()?,
        hard_state: log_state.hard_state,
        markers: &log_state.markers,
        term: &term,
    };
    let agreement = check_agreement(&log, Some(&facts)).map_err(Error::Disagreement)?;
    debug_assert_eq!(agreement.served, served.as_ref().map(SnapshotFile::id));
    for note in &agreement.notes {
        log::info!("stele-storage: {note}");
    }
    for f in facts.iter().filter(|f| f.metadata.is_none()) {
        log::warn!(
            "stele-storage: {}: the snapshot file's frame is damaged; never served, left for \
             inspection (wal-dump --verify)",
            f.path.display()
        );
    }
    Ok(served.map_or_else(SnapshotMetadata::default, |f| marker_to_raft(f.metadata())))
}

/// The newest snapshot file the WAL has a marker for that verifies completely.
fn load_served(snaps: &Snapshotter, markers: &[SnapshotMarker]) -> Result<Option<SnapshotFile>> {
    let marked = |id: SnapshotId| markers.iter().any(|m| SnapshotId::of(m) == id);
    match snaps.load_newest_where(marked) {
        Ok(file) => Ok(Some(file)),
        Err(stele_snap::Error::NoSnapshot { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every snapshot file, oldest first, with its metadata if its frame checks out (the served one
/// is already verified completely).
fn snapshot_facts(
    snaps: &Snapshotter,
    served: Option<&SnapshotFile>,
) -> Result<Vec<SnapshotFacts>> {
    let mut ids = snaps.list()?;
    ids.reverse();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let metadata = match served.filter(|f| f.id() == id) {
            Some(file) => Some(file.metadata().clone()),
            None => match snaps.metadata_of(id) {
                Ok(meta) => Some(meta),
                Err(e) if e.is_damage() => None,
                Err(e) => return Err(e.into()),
            },
        };
        out.push(SnapshotFacts {
            path: snaps.path_of(id),
            id,
            metadata,
        });
    }
    Ok(out)
}
