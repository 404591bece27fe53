//! Starting a node: bootstrap an empty storage, or bring the state machine and the storage into
//! agreement before `RawNode::new` (`docs/RAFT.md` §3.6).
//!
//! Invariants established before raft sees the storage:
//! - an initialized node always has a snapshot (index >= 1): bootstrapping installs the founding
//!   configuration as a snapshot at index 1, term 1 holding the fresh state machine's state
//!   (as TiKV does), so the configuration at any applied index is that of the newest snapshot
//!   plus the membership changes logged after it;
//! - the applied index A comes from the state machine, never from `hs.commit`; a machine behind
//!   the newest snapshot is restored from it first, so `T <= snapshot <= A <= last_index`;
//! - `hs.commit >= A` (a commit index written without a sync may have been lost; the entries up
//!   to A were committed, so the commit index is moved up to A deliberately, as the contract
//!   allows);
//! - the storage's `ConfState` is the configuration as of A (the storage may hold a later one
//!   from changes applied before a crash that the machine had not persisted).

use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeV2, ConfState, Entry, EntryType, Snapshot,
    SnapshotMetadata,
};
use raft::{GetEntriesContext, Storage as _};
use stele_storage::DiskStorage;

use crate::config::NodeConfig;
use crate::error::{Error, Result};
use crate::state_machine::StateMachine;

/// What the driver starts from.
#[derive(Debug, Clone)]
pub(crate) struct Recovered {
    /// The state machine's applied index (`raft::Config::applied`).
    pub applied: u64,
    /// The configuration as of `applied`.
    pub conf_state: ConfState,
}

/// Bootstraps or checks the storage and the state machine (see the module docs).
pub(crate) fn prepare(
    cfg: &NodeConfig,
    storage: &DiskStorage,
    sm: &mut dyn StateMachine,
) -> Result<Recovered> {
    if is_empty(storage)? && !cfg.peers.is_empty() {
        bootstrap(cfg, storage, sm)?;
    }
    let snap = storage.snapshot_metadata();
    if snap.index > 0 && sm.applied_index() < snap.index {
        let s = storage.snapshot(snap.index, cfg.id)?;
        sm.restore(s.get_metadata().index, &mut s.get_data())?;
        log::info!(
            "stele-raft node {}: state machine restored from snapshot {}",
            cfg.id,
            snap.index
        );
    }
    let applied = sm.applied_index();
    let (first, last) = (storage.first_index()?, storage.last_index()?);
    if applied < snap.index || applied + 1 < first || applied > last {
        return Err(Error::Invalid(format!(
            "the state machine's applied index {applied} does not fit the log [{first}, {last}] \
             with its snapshot at {}",
            snap.index
        )));
    }
    let mut changed = false;
    if applied > storage.hard_state().commit {
        storage.set_commit(applied)?;
        changed = true;
    }
    let conf_state = conf_state_at(storage, &snap, applied)?;
    if !same_conf(&conf_state, &storage.conf_state()) {
        storage.set_conf_state(&conf_state)?;
        changed = true;
    }
    if changed {
        // One sync makes both repairs durable before raft sees the storage.
        storage.sync()?;
    }
    Ok(Recovered {
        applied,
        conf_state,
    })
}

fn is_empty(storage: &DiskStorage) -> Result<bool> {
    Ok(storage.last_index()? == 0
        && storage.first_index()? == 1
        && storage.hard_state() == Default::default()
        && storage.conf_state() == ConfState::default()
        && storage.snapshot_metadata().index == 0)
}

/// Installs the founding configuration as a snapshot at (1, 1) with the fresh machine's state.
fn bootstrap(cfg: &NodeConfig, storage: &DiskStorage, sm: &mut dyn StateMachine) -> Result<()> {
    if sm.applied_index() != 0 {
        return Err(Error::Invalid(
            "bootstrapping an empty storage needs a fresh state machine (applied index 0)".into(),
        ));
    }
    let mut data = Vec::new();
    sm.snapshot(&mut data)?;
    let mut cs = ConfState::default();
    cs.set_voters(cfg.peers.clone());
    cs.set_learners(cfg.learners.clone());
    let mut meta = SnapshotMetadata::default();
    meta.set_index(1);
    meta.set_term(1);
    meta.set_conf_state(cs);
    let mut snap = Snapshot::default();
    snap.set_metadata(meta);
    snap.data = data.into();
    storage.apply_snapshot(&snap)?;
    sm.restore(1, &mut snap.get_data())?;
    log::info!(
        "stele-raft node {}: bootstrapped with voters {:?}",
        cfg.id,
        cfg.peers
    );
    Ok(())
}

/// The configuration as of `applied`: the snapshot's, plus the changes logged after it.
fn conf_state_at(
    storage: &DiskStorage,
    snap: &SnapshotMetadata,
    applied: u64,
) -> Result<ConfState> {
    if snap.index == 0 {
        // Initialized without a snapshot (not by this crate): the stored configuration is right
        // only if no membership change was logged.
        if !conf_changes(storage, 1, storage.last_index()?)?.is_empty() {
            return Err(Error::Invalid(
                "the log has membership changes but no snapshot to replay them from".into(),
            ));
        }
        return Ok(storage.conf_state());
    }
    let changes = conf_changes(storage, snap.index + 1, applied)?;
    let mut cs = snap.get_conf_state().clone();
    if changes.is_empty() {
        return Ok(cs);
    }
    // Replay the changes on a scratch raft (the only public way to run raft's changer).
    let mem = raft::storage::MemStorage::new_with_conf_state(cs.clone());
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let id = u64::MAX; // never a member: the scratch node only computes configurations
    let mut scratch = raft::RawNode::new(&raft::Config::new(id), mem, &logger)?;
    for cc in changes {
        // A change raft rejected then is rejected again now: the configuration stays.
        if let Ok(next) = scratch.apply_conf_change(&cc) {
            cs = next;
        }
    }
    Ok(cs)
}

/// The membership changes logged in `[lo, hi]`.
fn conf_changes(storage: &DiskStorage, lo: u64, hi: u64) -> Result<Vec<ConfChangeV2>> {
    let mut out = Vec::new();
    let mut next = lo;
    while next <= hi {
        let ents = storage.entries(next, hi + 1, 4 << 20, GetEntriesContext::empty(false))?;
        let Some(last) = ents.last() else { break };
        next = last.index + 1;
        for e in &ents {
            out.extend(conf_change_of(e)?);
        }
    }
    Ok(out)
}

/// The membership change an entry carries, as a `ConfChangeV2` (`None` for a normal entry).
/// An `EntryConfChangeV2` with empty data is the default change: leave the joint
/// configuration (raft proposes it itself when `auto_leave` is set), never a no-op.
pub(crate) fn conf_change_of(e: &Entry) -> Result<Option<ConfChangeV2>> {
    Ok(match e.get_entry_type() {
        EntryType::EntryNormal => None,
        EntryType::EntryConfChangeV2 => Some(ConfChangeV2::parse_from_bytes(e.get_data())?),
        EntryType::EntryConfChange => {
            let mut v1 = ConfChange::parse_from_bytes(e.get_data())?;
            let mut single = ConfChangeSingle::default();
            single.set_change_type(v1.get_change_type());
            single.node_id = v1.node_id;
            let mut v2 = ConfChangeV2::default();
            v2.mut_changes().push(single);
            v2.context = v1.take_context();
            Some(v2)
        }
    })
}

/// Equal as configurations (raft builds the id lists from sets: their order is arbitrary).
pub(crate) fn same_conf(a: &ConfState, b: &ConfState) -> bool {
    let sorted = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    sorted(a.get_voters()) == sorted(b.get_voters())
        && sorted(a.get_learners()) == sorted(b.get_learners())
        && sorted(a.get_voters_outgoing()) == sorted(b.get_voters_outgoing())
        && sorted(a.get_learners_next()) == sorted(b.get_learners_next())
        && a.auto_leave == b.auto_leave
}
