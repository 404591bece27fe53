//! Property test: random sequences of appends (with overwrites), HardState and ConfState
//! changes, snapshot creations, compactions, snapshot installs, syncs, reopens and crashes, with
//! `DiskStorage` checked against raft-rs's `MemStorage` as the model after every step.
//!
//! Operations are plain data resolved against the model when they run (selectors are taken
//! modulo the valid range), so every sequence is one raft could produce: terms never decrease,
//! the commit index only grows and is never overwritten, snapshots are created at committed
//! indices and installed at or above the commit index. The storage runs on a `SimFs` with 8 KiB
//! WAL segments (so segments are cut and purged) and a 2 KiB entry cache (so reads come from both
//! the cache and the WAL).
//!
//! The model is a `MemStorage` plus what `MemStorage` does not keep:
//! - `trunc`, the truncated index T and its term: DiskStorage answers `term(T)` after a
//!   compaction, MemStorage only at its snapshot index;
//! - the snapshot DiskStorage serves (the newest created or installed), with its data, and the
//!   highest index it was asked for and could not serve (`snapshot_wanted`);
//! - `DiskStorage::compact(i)` drops entries `<= i`, `MemStorage::compact(i + 1)` the same.
//!
//! Where `MemStorage` cannot follow (compacting every entry, which makes it forget where its log
//! starts; reinstalling a snapshot at T, which it refuses as `SnapshotOutOfDate`) the model
//! rebuilds a `MemStorage` holding the expected state.
//!
//! Durability: the model keeps every state since the last durable point (a synced append,
//! `sync()`, a snapshot creation or install, a compaction that did something, an open). A crash
//! must recover one of them exactly; a clean reopen must keep everything, synced or not.
//!
//! Refused operations are generated too (a snapshot above the commit index, a compaction beyond
//! the newest snapshot, installing a snapshot below the commit index or T): each must fail and
//! change nothing. Crashes use `CrashMode::DropUnsynced` and `KeepPrefix` (a random prefix of
//! the unsynced writes survives, the last one torn).
//!
//! More cases: `PROPTEST_CASES=1000 cargo test -p stele-storage --test model`.

use std::path::Path;
use std::sync::Arc;

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Snapshot, SnapshotMetadata};
use raft::storage::MemStorage;
use raft::{Error as RaftError, GetEntriesContext, Storage, StorageError};
use stele_storage::{DiskStorage, StorageOptions};
use stele_wal::fs::sim::{CrashMode, SimFs};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

const DIR: &str = "/stele";

type TestResult<T = ()> = Result<T, TestCaseError>;

fn fail<T>(msg: String) -> TestResult<T> {
    Err(TestCaseError::fail(msg))
}

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>, what: impl std::fmt::Display) -> TestResult<T> {
    r.map_err(|e| TestCaseError::fail(format!("{what}: unexpected error: {e:?}")))
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

fn conf_state(voters: u8, learners: u8) -> ConfState {
    let ids = |mask: u8| {
        (0..8u64)
            .filter(|b| mask & (1 << b) != 0)
            .map(|b| b + 1)
            .collect()
    };
    let mut cs = ConfState::default();
    cs.set_voters(ids(voters | 1));
    cs.set_learners(ids(learners & !voters & !1));
    cs
}

fn snapshot_of(meta: &SnapshotMetadata, data: &[u8]) -> Snapshot {
    let mut s = Snapshot::default();
    s.set_metadata(meta.clone());
    s.set_data(data.to_vec().into());
    s
}

fn bytes(len: usize, salt: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|k| (k.wrapping_mul(31) ^ salt) as u8)
        .collect()
}

fn new_entry(index: u64, term: u64, len: usize, salt: u64) -> Entry {
    let mut e = Entry::default();
    e.set_index(index);
    e.set_term(term);
    e.set_entry_type(match salt % 4 {
        0 => EntryType::EntryConfChange,
        1 => EntryType::EntryConfChangeV2,
        _ => EntryType::EntryNormal,
    });
    e.set_data(bytes(len, salt ^ index).into());
    if salt % 5 == 0 {
        e.set_context(bytes(7, index).into());
    }
    e
}

fn size_of(e: &Entry) -> u64 {
    u64::from(e.compute_size())
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

struct Model {
    mem: MemStorage,
    /// T (first_index - 1) and its term.
    trunc: (u64, u64),
    /// The snapshot DiskStorage serves, and its data.
    snap: Option<(SnapshotMetadata, Vec<u8>)>,
    /// What `snapshot_wanted()` must say (in memory only: 0 after an open).
    wanted: u64,
}

impl Model {
    fn new() -> Model {
        Model {
            mem: MemStorage::new(),
            trunc: (0, 0),
            snap: None,
            wanted: 0,
        }
    }

    fn first(&self) -> u64 {
        self.mem.first_index().unwrap()
    }

    fn last(&self) -> u64 {
        self.mem.last_index().unwrap()
    }

    fn hs(&self) -> HardState {
        self.mem.initial_state().unwrap().hard_state
    }

    fn cs(&self) -> ConfState {
        self.mem.initial_state().unwrap().conf_state
    }

    /// The term of `i` in [T, last].
    fn term(&self, i: u64) -> u64 {
        match i == self.trunc.0 {
            true => self.trunc.1,
            false => self.mem.term(i).unwrap(),
        }
    }

    fn entries(&self) -> Vec<Entry> {
        let (first, last) = (self.first(), self.last());
        match first <= last {
            true => self.mem.entries(first, last + 1, None, ctx()).unwrap(),
            false => Vec::new(),
        }
    }

    fn snap_index(&self) -> u64 {
        self.snap.as_ref().map_or(0, |s| s.0.index)
    }

    /// A MemStorage holding exactly this log and state, built from scratch.
    fn rebuild(trunc: (u64, u64), entries: &[Entry], hs: HardState, cs: ConfState) -> MemStorage {
        let mem = MemStorage::new();
        if trunc.0 > 0 {
            let mut s = Snapshot::default();
            s.mut_metadata().index = trunc.0;
            s.mut_metadata().term = trunc.1;
            mem.wl().apply_snapshot(s).unwrap();
        }
        mem.wl().append(entries).unwrap();
        mem.wl().set_hardstate(hs);
        mem.wl().set_conf_state(cs);
        mem
    }

    fn clone_model(&self) -> Model {
        let mem = Model::rebuild(self.trunc, &self.entries(), self.hs(), self.cs());
        Model {
            mem,
            trunc: self.trunc,
            snap: self.snap.clone(),
            wanted: self.wanted,
        }
    }

    fn clear_wanted(&mut self, index: u64) {
        if self.wanted != 0 && self.wanted <= index {
            self.wanted = 0;
        }
    }

    /// `DiskStorage::compact(index)` with `first <= index <= last`.
    fn compact(&mut self, index: u64) {
        self.trunc = (index, self.term(index));
        if index < self.last() {
            self.mem.wl().compact(index + 1).unwrap();
        } else {
            // MemStorage compacting all its entries would fall back to its snapshot index as
            // the first index: build the expected state instead.
            self.mem = Model::rebuild(self.trunc, &[], self.hs(), self.cs());
        }
    }

    /// `DiskStorage::apply_snapshot` with `index >= max(commit, T)`.
    fn install(&mut self, meta: &SnapshotMetadata, data: &[u8]) {
        if meta.index >= self.first() {
            self.mem
                .wl()
                .apply_snapshot(snapshot_of(meta, data))
                .unwrap();
        } else {
            // A reinstall at T: MemStorage says `SnapshotOutOfDate`, DiskStorage installs it
            // (contract §3.4). Expected: the same as any install.
            let mut hs = self.hs();
            hs.set_term(hs.term.max(meta.term));
            hs.set_commit(meta.index);
            let trunc = (meta.index, meta.term);
            self.mem = Model::rebuild(trunc, &[], hs, meta.get_conf_state().clone());
        }
        self.trunc = (meta.index, meta.term);
        self.snap = Some((meta.clone(), data.to_vec()));
        self.clear_wanted(meta.index);
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn expect_eq<T: PartialEq + std::fmt::Debug>(
    got: T,
    want: T,
    what: impl std::fmt::Display,
) -> TestResult {
    if got != want {
        return fail(format!("{what}: got {got:?}, want {want:?}"));
    }
    Ok(())
}

/// Compares everything persistent that `disk` shows with the model, through read-only calls:
/// first/last index, `term(i)` for i in [T, last] (and the errors just outside), `entries` over
/// the whole log with several `max_size` values and over a few sub-ranges (`seed` picks them),
/// the initial state, and the snapshot metadata.
fn compare(disk: &DiskStorage, m: &Model, seed: u64) -> TestResult {
    let (first, last) = (m.first(), m.last());
    expect_eq(disk.first_index(), Ok(first), "first_index")?;
    expect_eq(disk.last_index(), Ok(last), "last_index")?;
    for i in first - 1..=last {
        expect_eq(disk.term(i), Ok(m.term(i)), format!("term({i})"))?;
    }
    if first >= 2 {
        let compacted = Err(RaftError::Store(StorageError::Compacted));
        expect_eq(
            disk.term(first - 2),
            compacted,
            format!("term({})", first - 2),
        )?;
    }
    let unavailable = Err(RaftError::Store(StorageError::Unavailable));
    expect_eq(
        disk.term(last + 1),
        unavailable,
        format!("term({})", last + 1),
    )?;

    let compacted = Err(RaftError::Store(StorageError::Compacted));
    expect_eq(
        disk.entries(first - 1, first, None, ctx()),
        compacted,
        "entries below first",
    )?;
    let unavailable = Err(RaftError::Store(StorageError::Unavailable));
    let beyond = disk.entries(first, last + 2, None, ctx());
    expect_eq(beyond, unavailable, "entries beyond last + 1")?;
    expect_eq(
        disk.entries(first, first, None, ctx()),
        Ok(vec![]),
        "empty range",
    )?;
    if first <= last {
        let all = m.entries();
        let total: u64 = all.iter().map(size_of).sum();
        let two = all.iter().take(2).map(size_of).sum::<u64>();
        let mut ranges = vec![(first, last + 1); 7];
        let maxes = [
            u64::MAX,
            0,
            1,
            two,
            total / 2,
            total.saturating_sub(1),
            total,
        ];
        let n = last + 1 - first;
        let mut x = seed | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut maxes = maxes.to_vec();
        for _ in 0..4 {
            let lo = first + next() % n;
            let hi = lo + 1 + next() % (last + 1 - lo);
            ranges.push((lo, hi));
            maxes.push(next() % (total + 50));
        }
        for (&(lo, hi), &max) in ranges.iter().zip(&maxes) {
            let want = m.mem.entries(lo, hi, max, ctx()).unwrap();
            let got = disk.entries(lo, hi, max, ctx());
            expect_eq(got, Ok(want), format!("entries({lo}, {hi}, {max})"))?;
        }
    }
    let state = ok(disk.initial_state(), "initial_state")?;
    expect_eq(&state.hard_state, &m.hs(), "initial_state hard state")?;
    expect_eq(&state.conf_state, &m.cs(), "initial_state conf state")?;
    expect_eq(disk.hard_state(), m.hs(), "hard_state()")?;
    expect_eq(disk.conf_state(), m.cs(), "conf_state()")?;
    let meta = m.snap.as_ref().map(|s| s.0.clone()).unwrap_or_default();
    expect_eq(disk.snapshot_metadata(), meta, "snapshot_metadata")
}

/// Asks for snapshots as a leader would: the served one (with its data) at or below its index,
/// `SnapshotTemporarilyUnavailable` above it, and `snapshot_wanted` as the model says.
fn probe_snapshots(disk: &DiskStorage, m: &mut Model) -> TestResult {
    let unavailable = || {
        Err(RaftError::Store(
            StorageError::SnapshotTemporarilyUnavailable,
        ))
    };
    match &m.snap {
        Some((meta, data)) => {
            let want = snapshot_of(meta, data);
            expect_eq(disk.snapshot(0, 2), Ok(want.clone()), "snapshot(0)")?;
            expect_eq(disk.snapshot(meta.index, 2), Ok(want), "snapshot(index)")?;
            let above = meta.index + 1;
            expect_eq(
                disk.snapshot(above, 2),
                unavailable(),
                "snapshot(index + 1)",
            )?;
            m.wanted = m.wanted.max(above);
        }
        None => {
            expect_eq(disk.snapshot(0, 2), unavailable(), "snapshot(0) with none")?;
            m.wanted = m.wanted.max(1);
        }
    }
    expect_eq(disk.snapshot_wanted(), m.wanted, "snapshot_wanted")
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Entries from `last + 1 - back` (never at or below the commit index or T), with a HardState
    /// in the same batch if `hs` is set (term bump, vote, commit selector).
    Append {
        back: u8,
        n: u8,
        term_bump: u8,
        len: u16,
        salt: u64,
        hs: Option<(u8, u8, u16)>,
        sync: bool,
    },
    SetHardState {
        term_bump: u8,
        vote: u8,
        commit: u16,
        sync: bool,
    },
    /// `set_commit` with a selector that can also fall one below the current commit (a no-op).
    SetCommit {
        commit: u16,
    },
    SetConfState {
        voters: u8,
        learners: u8,
    },
    /// At a committed index above the served snapshot; `bad` tries an uncommitted one (refused).
    CreateSnapshot {
        at: u16,
        len: u16,
        salt: u64,
        bad: bool,
    },
    /// Up to the served snapshot (at or below T: a no-op).
    Compact {
        at: u16,
    },
    /// Beyond the served snapshot or the last index: refused, changes nothing.
    CompactTooFar {
        at: u16,
    },
    /// At `max(commit, T, 1) + ahead`: a reinstall at T, inside the log, or beyond it.
    Install {
        ahead: u8,
        term_bump: u8,
        voters: u8,
        len: u16,
        salt: u64,
    },
    /// Below the commit index or T: refused, changes nothing.
    InstallStale {
        at: u16,
    },
    Sync,
    Reopen,
    /// Power loss with whatever was not synced (`seed`: `KeepPrefix`, which keeps a random
    /// prefix of the unsynced writes and tears the last; none: `DropUnsynced`).
    Crash {
        seed: Option<u64>,
    },
    /// `sync()`, then power loss: nothing may be lost.
    CrashAfterSync,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let append = (
        (0..6u8, 0..10u8, 0..3u8, 0..1200u16),
        any::<u64>(),
        prop::option::of((0..2u8, 0..4u8, any::<u16>())),
        any::<bool>(),
    )
        .prop_map(|((back, n, term_bump, len), salt, hs, sync)| Op::Append {
            back,
            n,
            term_bump,
            len,
            salt,
            hs,
            sync,
        });
    prop_oneof![
        14 => append,
        2 => (0..2u8, 0..4u8, any::<u16>(), any::<bool>())
            .prop_map(|(term_bump, vote, commit, sync)| Op::SetHardState { term_bump, vote, commit, sync }),
        3 => any::<u16>().prop_map(|commit| Op::SetCommit { commit }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(voters, learners)| Op::SetConfState { voters, learners }),
        3 => (any::<u16>(), 0..600u16, any::<u64>(), prop::bool::weighted(0.15))
            .prop_map(|(at, len, salt, bad)| Op::CreateSnapshot { at, len, salt, bad }),
        3 => any::<u16>().prop_map(|at| Op::Compact { at }),
        1 => any::<u16>().prop_map(|at| Op::CompactTooFar { at }),
        1 => (0..12u8, 0..3u8, any::<u8>(), 0..600u16, any::<u64>())
            .prop_map(|(ahead, term_bump, voters, len, salt)| Op::Install { ahead, term_bump, voters, len, salt }),
        1 => any::<u16>().prop_map(|at| Op::InstallStale { at }),
        1 => Just(Op::Sync),
        2 => Just(Op::Reopen),
        1 => prop::option::of(any::<u64>()).prop_map(|seed| Op::Crash { seed }),
        1 => Just(Op::CrashAfterSync),
    ]
}

/// `lo + sel % (hi - lo + 1)`, for `lo <= hi`.
fn pick(sel: u16, lo: u64, hi: u64) -> u64 {
    lo + u64::from(sel) % (hi - lo + 1)
}

struct Harness {
    fs: SimFs,
    disk: Option<DiskStorage>,
    model: Model,
    /// Every state since the last durable point, oldest (the durable one) first.
    history: Vec<Model>,
    trace: Vec<String>,
}

impl Harness {
    fn opts(&self) -> StorageOptions {
        let mut o = StorageOptions::with_fs(Arc::new(self.fs.clone()));
        o.wal.segment_size = 8 << 10;
        o.cache_bytes = 2 << 10;
        o
    }

    fn open(&mut self) -> TestResult {
        self.disk = None;
        self.disk = Some(ok(DiskStorage::open(Path::new(DIR), self.opts()), "open")?);
        self.model.wanted = 0;
        Ok(())
    }

    /// What `open` reports must be the model's state.
    fn check_recovery(&self) -> TestResult {
        let (m, r) = (&self.model, self.disk().recovery());
        let hs = m.hs();
        let snap = m.snap.as_ref().map_or((0, 0), |s| (s.0.index, s.0.term));
        expect_eq(r.entries, (m.first(), m.last()), "recovery().entries")?;
        expect_eq(
            r.hard_state,
            (hs.term, hs.vote, hs.commit),
            "recovery().hard_state",
        )?;
        expect_eq(r.snapshot, snap, "recovery().snapshot")
    }

    fn disk(&self) -> &DiskStorage {
        self.disk.as_ref().expect("open")
    }

    fn durable(&mut self) {
        self.history = vec![self.model.clone_model()];
    }

    fn not_durable(&mut self) {
        self.history.push(self.model.clone_model());
    }

    fn run(&mut self, op: &Op) -> TestResult {
        let (first, last, hs) = (self.model.first(), self.model.last(), self.model.hs());
        let t = first - 1;
        match *op {
            Op::Append {
                back,
                n,
                term_bump,
                len,
                salt,
                hs: with_hs,
                sync,
            } => {
                let lo = first.max(hs.commit + 1);
                let start = last + 1 - u64::from(back).min(last + 1 - lo);
                let term = (self.model.term(start - 1) + u64::from(term_bump)).max(1);
                let ents: Vec<Entry> = (0..u64::from(n))
                    .map(|k| {
                        new_entry(
                            start + k,
                            term,
                            usize::from(len) >> (k % 3),
                            salt.wrapping_add(k),
                        )
                    })
                    .collect();
                let new_last = if n > 0 {
                    start + u64::from(n) - 1
                } else {
                    last
                };
                let new_hs = with_hs.map(|(bump, vote, commit)| {
                    let mut h = hs.clone();
                    h.term += u64::from(bump);
                    h.vote = u64::from(vote);
                    h.commit = pick(commit, hs.commit, new_last);
                    h
                });
                self.trace.push(format!(
                    "append {start}..={new_last} term {term}, hs {:?}, sync {sync}",
                    new_hs.as_ref().map(|h| (h.term, h.vote, h.commit))
                ));
                ok(self.disk().append(&ents, new_hs.as_ref(), sync), "append")?;
                self.model.mem.wl().append(&ents).unwrap();
                if let Some(h) = new_hs {
                    self.model.mem.wl().set_hardstate(h);
                }
                match sync {
                    true => self.durable(),
                    false => self.not_durable(),
                }
            }
            Op::SetHardState {
                term_bump,
                vote,
                commit,
                sync,
            } => {
                let mut h = hs.clone();
                h.term += u64::from(term_bump);
                h.vote = u64::from(vote);
                h.commit = pick(commit, hs.commit, last);
                self.trace.push(format!(
                    "set_hard_state {:?}, sync {sync}",
                    (h.term, h.vote, h.commit)
                ));
                ok(self.disk().set_hard_state(&h), "set_hard_state")?;
                self.model.mem.wl().set_hardstate(h);
                if sync {
                    ok(self.disk().sync(), "sync")?;
                    self.durable();
                } else {
                    self.not_durable();
                }
            }
            Op::SetCommit { commit } => {
                let c = pick(commit, hs.commit.saturating_sub(1), last);
                self.trace.push(format!("set_commit {c}"));
                ok(self.disk().set_commit(c), "set_commit")?;
                if c > hs.commit {
                    self.model.mem.wl().mut_hard_state().commit = c;
                }
                self.not_durable();
            }
            Op::SetConfState { voters, learners } => {
                let cs = conf_state(voters, learners);
                self.trace
                    .push(format!("set_conf_state {:?} {:?}", cs.voters, cs.learners));
                ok(self.disk().set_conf_state(&cs), "set_conf_state")?;
                self.model.mem.wl().set_conf_state(cs);
                self.not_durable();
            }
            Op::CreateSnapshot { at, len, salt, bad } => {
                let data = bytes(usize::from(len), salt);
                let cs = self.model.cs();
                if bad {
                    let i = pick(at, hs.commit + 1, last + 3);
                    self.trace
                        .push(format!("create_snapshot {i} (uncommitted: refused)"));
                    if self
                        .disk()
                        .create_snapshot(i, &cs, &mut data.as_slice())
                        .is_ok()
                    {
                        return fail(format!(
                            "create_snapshot({i}) above commit {} succeeded",
                            hs.commit
                        ));
                    }
                    return Ok(());
                }
                let lo = (self.model.snap_index() + 1).max(t).max(1);
                if lo > hs.commit {
                    self.trace
                        .push("create_snapshot: nothing new is committed".into());
                    return Ok(());
                }
                let i = pick(at, lo, hs.commit);
                self.trace
                    .push(format!("create_snapshot {i} ({} bytes)", data.len()));
                let meta = ok(
                    self.disk().create_snapshot(i, &cs, &mut data.as_slice()),
                    "create_snapshot",
                )?;
                let mut want = SnapshotMetadata::default();
                want.set_index(i);
                want.set_term(self.model.term(i));
                want.set_conf_state(cs);
                expect_eq(&meta, &want, "create_snapshot's metadata")?;
                self.model.snap = Some((want, data));
                self.model.clear_wanted(i);
                self.durable();
            }
            Op::Compact { at } => {
                let i = pick(at, t.saturating_sub(1), self.model.snap_index().max(t));
                self.trace.push(format!("compact {i}"));
                ok(self.disk().compact(i), "compact")?;
                if i > t {
                    self.model.compact(i);
                    self.durable();
                }
            }
            Op::CompactTooFar { at } => {
                let lo = (self.model.snap_index() + 1).max(first);
                let i = pick(at, lo, last.max(lo) + 2);
                self.trace.push(format!(
                    "compact {i} (beyond snapshot {}: refused)",
                    self.model.snap_index()
                ));
                if self.disk().compact(i).is_ok() {
                    return fail(format!(
                        "compact({i}) beyond snapshot {} succeeded",
                        self.model.snap_index()
                    ));
                }
            }
            Op::Install {
                ahead,
                term_bump,
                voters,
                len,
                salt,
            } => {
                let base = hs.commit.max(t).max(1);
                let index = base + u64::from(ahead);
                let term = match index <= hs.commit {
                    // At the commit index (possibly T): its term is decided.
                    true => self.model.term(index),
                    false => self.model.term(index.min(last)).max(1) + u64::from(term_bump),
                };
                let mut meta = SnapshotMetadata::default();
                meta.set_index(index);
                meta.set_term(term);
                meta.set_conf_state(conf_state(voters, voters.rotate_left(3)));
                let data = bytes(usize::from(len), salt);
                self.trace.push(format!(
                    "apply_snapshot ({index}, {term}), {} bytes",
                    data.len()
                ));
                ok(
                    self.disk().apply_snapshot(&snapshot_of(&meta, &data)),
                    "apply_snapshot",
                )?;
                self.model.install(&meta, &data);
                self.durable();
            }
            Op::InstallStale { at } => {
                let top = hs.commit.max(t);
                if top <= 1 {
                    return Ok(());
                }
                let index = pick(at, 1, top - 1);
                let mut meta = SnapshotMetadata::default();
                meta.set_index(index);
                meta.set_term(self.model.term(index.max(t)));
                meta.set_conf_state(self.model.cs());
                self.trace.push(format!(
                    "apply_snapshot ({index}, {}) (stale: refused)",
                    meta.term
                ));
                if self
                    .disk()
                    .apply_snapshot(&snapshot_of(&meta, b"stale"))
                    .is_ok()
                {
                    return fail(format!(
                        "apply_snapshot({index}) below commit {} or T {t} succeeded",
                        hs.commit
                    ));
                }
            }
            Op::Sync => {
                self.trace.push("sync".into());
                ok(self.disk().sync(), "sync")?;
                self.durable();
            }
            Op::Reopen => {
                self.trace.push("reopen".into());
                self.open()?;
                self.check_recovery()?;
                self.durable();
            }
            Op::CrashAfterSync => {
                self.trace.push("sync, crash".into());
                ok(self.disk().sync(), "sync")?;
                self.disk = None;
                self.fs.crash(CrashMode::DropUnsynced);
                self.open()?;
                self.check_recovery()?;
                self.durable();
            }
            Op::Crash { seed } => {
                let mode = match seed {
                    Some(seed) => CrashMode::KeepPrefix { seed },
                    None => CrashMode::DropUnsynced,
                };
                self.trace.push(format!(
                    "crash {mode:?} ({} states since durable)",
                    self.history.len()
                ));
                self.disk = None;
                self.fs.crash(mode);
                self.open()?;
                // The newest state since the last durable point that the storage now shows.
                let mut errors = Vec::new();
                let mut found = None;
                for (k, candidate) in self.history.iter().enumerate().rev() {
                    match compare(self.disk(), candidate, 7) {
                        Ok(()) => {
                            found = Some(k);
                            break;
                        }
                        Err(e) => errors.push(format!("state {k}: {e}")),
                    }
                }
                let Some(k) = found else {
                    return fail(format!(
                        "recovered none of the states since the last durable point:\n{}",
                        errors.join("\n")
                    ));
                };
                self.trace
                    .push(format!("  recovered state {k} of {}", self.history.len()));
                self.model = self.history[k].clone_model();
                self.model.wanted = 0;
                self.check_recovery()?;
                self.durable();
            }
        }
        Ok(())
    }
}

fn run_case(init: Option<(u8, u8)>, ops: &[Op]) -> TestResult {
    let fs = SimFs::new();
    let mut h = Harness {
        fs,
        disk: None,
        model: Model::new(),
        history: Vec::new(),
        trace: Vec::new(),
    };
    h.open()?;
    if let Some((voters, learners)) = init {
        let cs = conf_state(voters, learners);
        h.trace
            .push(format!("initialize_with_conf_state {:?}", cs.voters));
        ok(h.disk().initialize_with_conf_state(&cs), "initialize")?;
        h.model.mem.initialize_with_conf_state(cs);
    }
    h.durable();
    for (step, op) in ops.iter().enumerate() {
        let res = h.run(op).and_then(|()| {
            compare(h.disk(), &h.model, step as u64 + 1)?;
            probe_snapshots(h.disk.as_ref().unwrap(), &mut h.model)
        });
        if let Err(e) = res {
            return fail(format!(
                "step {step} ({op:?}): {e}\ntrace:\n  {}",
                h.trace.join("\n  ")
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 128, failure_persistence: None, ..Config::default() })]

    #[test]
    fn disk_storage_matches_mem_storage(
        init in prop::option::of((any::<u8>(), any::<u8>())),
        ops in prop::collection::vec(op_strategy(), 1..40),
    ) {
        run_case(init, &ops)?;
    }
}
