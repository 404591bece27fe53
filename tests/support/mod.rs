//! Shared by the cross-crate tests: one deterministic `DiskStorage` workload that exercises
//! everything recovery has to get right (several sealed segments and an active one, a purged
//! prefix, two snapshots, overwritten entries, HardState and ConfState changes, conf-change
//! entries), the model of what it leaves, and [`View`]: what a reader recovers, in one plain
//! value that the tests compare and the compatibility fixture stores as JSON.
//!
//! The model is computed from what the workload did, never read back from the code under
//! test, so a recovery bug cannot bake itself into an expected value.

#![allow(dead_code)] // each test binary uses a different part

pub mod dump;

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
    Entry, EntryType, HardState,
};
use raft::Storage as _;
use serde_json::{json, Value};
use stele::storage::{DiskStorage, StorageOptions};

/// Small segments (2 KiB) so the workload seals many and compaction purges some; purged
/// segments are removed, not recycled, so every file left is part of the log.
pub fn options() -> StorageOptions {
    let mut o = StorageOptions::default();
    o.wal.segment_size = 2048;
    o.wal.recycle = 0;
    o
}

/// A ConfState (the id lists as given).
pub fn conf(voters: &[u64], learners: &[u64], outgoing: &[u64], auto_leave: bool) -> ConfState {
    let mut cs = ConfState::default();
    cs.set_voters(voters.to_vec());
    cs.set_learners(learners.to_vec());
    cs.set_voters_outgoing(outgoing.to_vec());
    cs.set_auto_leave(auto_leave);
    cs
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    let mut hs = HardState::default();
    hs.set_term(term);
    hs.set_vote(vote);
    hs.set_commit(commit);
    hs
}

/// The entry the workload writes at `index` in `term`: a leader's empty no-op at the first
/// index of each term, conf changes at two fixed places, otherwise a payload whose length and
/// bytes depend on both (so an entry read from the wrong place or term cannot match).
pub fn entry(index: u64, term: u64, first_of_term: bool) -> Entry {
    let mut e = Entry {
        index,
        term,
        ..Entry::default()
    };
    if first_of_term {
        return e;
    }
    match index {
        3 => {
            let mut cc = ConfChange::default();
            cc.set_change_type(ConfChangeType::AddLearnerNode);
            cc.node_id = 4;
            cc.set_context(b"127.0.0.1:42379".to_vec().into());
            e.set_entry_type(EntryType::EntryConfChange);
            e.set_data(cc.write_to_bytes().expect("encode").into());
        }
        75 => {
            let mut ccv2 = ConfChangeV2::default();
            ccv2.set_transition(ConfChangeTransition::Auto);
            let mut add = ConfChangeSingle::default();
            add.set_change_type(ConfChangeType::AddNode);
            add.node_id = 4;
            let mut remove = ConfChangeSingle::default();
            remove.set_change_type(ConfChangeType::RemoveNode);
            remove.node_id = 3;
            ccv2.set_changes(vec![add, remove].into());
            e.set_entry_type(EntryType::EntryConfChangeV2);
            e.set_data(ccv2.write_to_bytes().expect("encode").into());
        }
        _ => {
            let len = 40 + (index * 37 + term * 11) % 160;
            let mut data = format!("put k{index} t{term} ").into_bytes();
            data.extend((0..len).map(|i| (i * 7 + index * 13 + term) as u8));
            e.set_data(data.into());
            if index % 10 == 5 {
                e.set_context(format!("ctx-{index}").into_bytes().into());
            }
        }
    }
    e
}

/// What the workload left: the model the recovered state must equal.
#[derive(Debug, Default)]
pub struct Model {
    log: BTreeMap<u64, Entry>,
    start: (u64, u64),
    hs: HardState,
    cs: ConfState,
    snapshot: Option<(u64, u64, ConfState, Vec<u8>)>,
}

impl Model {
    fn terms_of(&self, index: u64) -> u64 {
        match self.log.get(&index) {
            Some(e) => e.term,
            None if index == self.start.0 => self.start.1,
            None => panic!("the model has no term for {index}"),
        }
    }

    /// The model as a [`View`].
    pub fn view(&self) -> View {
        let (index, term, cs, data) = self.snapshot.clone().expect("the workload snapshots");
        View {
            first_index: self.start.0 + 1,
            last_index: self.log.keys().next_back().copied().unwrap_or(self.start.0),
            start_term: self.start.1,
            entries: self.log.values().map(Ent::of).collect(),
            hard_state: [self.hs.term, self.hs.vote, self.hs.commit],
            conf_state: Conf::of(&self.cs),
            snapshot: Snap {
                index,
                term,
                conf_state: Conf::of(&cs),
                data,
            },
        }
    }
}

/// Drives `s` and the model through the same step.
struct Run<'a> {
    s: &'a DiskStorage,
    m: Model,
}

impl Run<'_> {
    /// One Ready: entries `lo..=hi` in `term` (the first of them a no-op if `noop`), with `hs`.
    fn append(&mut self, lo: u64, hi: u64, term: u64, noop: bool, hs: HardState) {
        let ents: Vec<Entry> = (lo..=hi).map(|i| entry(i, term, noop && i == lo)).collect();
        self.s.append(&ents, Some(&hs), true).expect("append");
        self.m.log.retain(|&i, _| i < lo);
        self.m.log.extend(ents.into_iter().map(|e| (e.index, e)));
        self.m.hs = hs;
    }

    /// Appends `lo..=hi` in batches of `per` entries, the commit trailing the last index by 5
    /// (so a later term's overwrite never touches a committed entry).
    fn append_run(&mut self, lo: u64, hi: u64, term: u64, vote: u64, per: u64) {
        let mut i = lo;
        while i <= hi {
            let end = (i + per - 1).min(hi);
            let commit = self.m.hs.commit.max(end.saturating_sub(5));
            self.append(i, end, term, i == lo, hard_state(term, vote, commit));
            i = end + 1;
        }
    }

    fn set_commit(&mut self, commit: u64) {
        self.s.set_commit(commit).expect("set_commit");
        self.m.hs.commit = commit;
    }

    fn set_conf_state(&mut self, cs: ConfState) {
        self.s.set_conf_state(&cs).expect("set_conf_state");
        self.m.cs = cs;
    }

    fn snapshot(&mut self, index: u64, cs: ConfState, data: Vec<u8>) {
        let meta = self
            .s
            .create_snapshot(index, &cs, &mut data.as_slice())
            .expect("create_snapshot");
        let term = self.m.terms_of(index);
        assert_eq!((meta.index, meta.term), (index, term));
        self.m.snapshot = Some((index, term, cs, data));
    }

    fn compact(&mut self, index: u64) {
        self.s.compact(index).expect("compact");
        self.m.start = (index, self.m.terms_of(index));
        self.m.log.retain(|&i, _| i > index);
    }
}

/// Runs the workload in `dir` (a fresh data directory) and returns its model. The storage is
/// dropped (closed) before this returns.
pub fn run_workload(dir: &Path) -> Model {
    let s = DiskStorage::open(dir, options()).expect("open a fresh directory");
    s.initialize_with_conf_state(&conf(&[1, 2, 3], &[], &[], false))
        .expect("initialize");
    let mut r = Run {
        s: &s,
        m: Model {
            cs: conf(&[1, 2, 3], &[], &[], false),
            ..Model::default()
        },
    };
    // Term 1: node 1 leads; entry 3 adds learner 4, applied as a ConfState.
    r.append_run(1, 40, 1, 1, 5);
    r.set_conf_state(conf(&[1, 2, 3], &[4], &[], false));
    // Term 2: node 2 leads and overwrites 36..=40 (never committed in term 1).
    r.append_run(36, 50, 2, 2, 4);
    r.set_commit(48);
    r.snapshot(
        30,
        conf(&[1, 2, 3], &[4], &[], false),
        b"state machine at 30".to_vec(),
    );
    r.compact(30);
    // Term 3: node 1 again; entry 75 enters a joint configuration, applied at 80.
    r.append_run(51, 90, 3, 1, 6);
    r.set_commit(85);
    let joint = conf(&[1, 2, 4], &[], &[1, 2, 3], true);
    r.set_conf_state(joint.clone());
    r.snapshot(80, joint, (0..600u32).map(|i| (i % 251) as u8).collect());
    r.compact(70);
    // Term 4: node 4 leads and overwrites 88..=90; the joint configuration is left.
    r.append_run(88, 110, 4, 4, 7);
    r.set_conf_state(conf(&[1, 2, 4], &[], &[], false));
    r.set_commit(108);
    let model = r.m;
    drop(s);
    model
}

/// A ConfState as plain lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf {
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub voters_outgoing: Vec<u64>,
    pub learners_next: Vec<u64>,
    pub auto_leave: bool,
}

impl Conf {
    pub fn of(cs: &ConfState) -> Conf {
        Conf {
            voters: cs.get_voters().to_vec(),
            learners: cs.get_learners().to_vec(),
            voters_outgoing: cs.get_voters_outgoing().to_vec(),
            learners_next: cs.get_learners_next().to_vec(),
            auto_leave: cs.get_auto_leave(),
        }
    }

    /// From stele-wal's mirror of the message.
    pub fn of_wal(cs: &stele::wal::ConfState) -> Conf {
        Conf {
            voters: cs.voters.clone(),
            learners: cs.learners.clone(),
            voters_outgoing: cs.voters_outgoing.clone(),
            learners_next: cs.learners_next.clone(),
            auto_leave: cs.auto_leave,
        }
    }

    fn json(&self) -> Value {
        json!({
            "voters": self.voters, "learners": self.learners,
            "voters_outgoing": self.voters_outgoing, "learners_next": self.learners_next,
            "auto_leave": self.auto_leave,
        })
    }

    /// From the JSON of `json()` (also the shape wal-dump prints).
    pub fn from_json(v: &Value) -> Conf {
        Conf {
            voters: u64s(&v["voters"]),
            learners: u64s(&v["learners"]),
            voters_outgoing: u64s(&v["voters_outgoing"]),
            learners_next: u64s(&v["learners_next"]),
            auto_leave: v["auto_leave"].as_bool().expect("auto_leave"),
        }
    }
}

/// An entry as plain fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ent {
    pub index: u64,
    pub term: u64,
    pub entry_type: i32,
    pub data: Vec<u8>,
    pub context: Vec<u8>,
}

impl Ent {
    pub fn of(e: &Entry) -> Ent {
        Ent {
            index: e.index,
            term: e.term,
            entry_type: e.get_entry_type() as i32,
            data: e.get_data().to_vec(),
            context: e.get_context().to_vec(),
        }
    }
}

/// A snapshot as plain fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snap {
    pub index: u64,
    pub term: u64,
    pub conf_state: Conf,
    pub data: Vec<u8>,
}

/// What a reader recovers from a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub first_index: u64,
    pub last_index: u64,
    /// `term(first_index - 1)`.
    pub start_term: u64,
    pub entries: Vec<Ent>,
    /// term, vote, commit.
    pub hard_state: [u64; 3],
    pub conf_state: Conf,
    /// The snapshot `DiskStorage` serves.
    pub snapshot: Snap,
}

impl View {
    /// What `DiskStorage` recovers from `dir`, through `raft::Storage` as raft reads it.
    pub fn of_storage(dir: &Path) -> View {
        Self::of_storage_with(dir, options())
    }

    /// [`View::of_storage`] with other options.
    pub fn of_storage_with(dir: &Path, opts: StorageOptions) -> View {
        let s = DiskStorage::open(dir, opts).expect("DiskStorage::open");
        let first = s.first_index().expect("first_index");
        let last = s.last_index().expect("last_index");
        let entries = s
            .entries(first, last + 1, None, raft::GetEntriesContext::empty(false))
            .expect("entries");
        for e in &entries {
            assert_eq!(s.term(e.index).expect("term"), e.term, "term({})", e.index);
        }
        let state = s.initial_state().expect("initial_state");
        let hs = &state.hard_state;
        let snap = s.snapshot(0, 0).expect("snapshot");
        let meta = snap.get_metadata();
        View {
            first_index: first,
            last_index: last,
            start_term: s.term(first - 1).expect("term(first_index - 1)"),
            entries: entries.iter().map(Ent::of).collect(),
            hard_state: [hs.term, hs.vote, hs.commit],
            conf_state: Conf::of(&state.conf_state),
            snapshot: Snap {
                index: meta.index,
                term: meta.term,
                conf_state: Conf::of(meta.get_conf_state()),
                data: snap.get_data().to_vec(),
            },
        }
    }

    /// The JSON form stored as a fixture's expected values (byte strings in base64).
    pub fn to_json(&self) -> Value {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        json!({
            "first_index": self.first_index,
            "last_index": self.last_index,
            "start_term": self.start_term,
            "hard_state": {"term": self.hard_state[0], "vote": self.hard_state[1],
                           "commit": self.hard_state[2]},
            "conf_state": self.conf_state.json(),
            "snapshot": {"index": self.snapshot.index, "term": self.snapshot.term,
                         "conf_state": self.snapshot.conf_state.json(),
                         "data": b64(&self.snapshot.data)},
            "entries": self.entries.iter().map(|e| json!({
                "index": e.index, "term": e.term, "entry_type": e.entry_type,
                "data": b64(&e.data), "context": b64(&e.context),
            })).collect::<Vec<_>>(),
        })
    }

    /// The inverse of [`View::to_json`].
    pub fn from_json(v: &Value) -> View {
        let hs = &v["hard_state"];
        let sn = &v["snapshot"];
        View {
            first_index: u64_of(&v["first_index"]),
            last_index: u64_of(&v["last_index"]),
            start_term: u64_of(&v["start_term"]),
            hard_state: [
                u64_of(&hs["term"]),
                u64_of(&hs["vote"]),
                u64_of(&hs["commit"]),
            ],
            conf_state: Conf::from_json(&v["conf_state"]),
            snapshot: Snap {
                index: u64_of(&sn["index"]),
                term: u64_of(&sn["term"]),
                conf_state: Conf::from_json(&sn["conf_state"]),
                data: unbase64(&sn["data"]),
            },
            entries: v["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| Ent {
                    index: u64_of(&e["index"]),
                    term: u64_of(&e["term"]),
                    entry_type: e["entry_type"].as_i64().expect("entry_type") as i32,
                    data: unbase64(&e["data"]),
                    context: unbase64(&e["context"]),
                })
                .collect(),
        }
    }
}

/// A JSON unsigned integer.
pub fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an unsigned integer: {v}"))
}

/// A JSON list of unsigned integers.
pub fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(u64_of)
        .collect()
}

/// Bytes from a base64 JSON string.
pub fn unbase64(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 {s:?}: {e}"))
}

/// Copies the directory tree `from` into `to` (created), files only.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for item in std::fs::read_dir(from).expect("read the fixture") {
        let item = item.expect("read the fixture");
        let target = to.join(item.file_name());
        if item.file_type().expect("file type").is_dir() {
            copy_tree(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).expect("copy a fixture file");
        }
    }
}
