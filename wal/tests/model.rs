//! Property test: random sequences of batches (appends, overwrites, truncations, resets,
//! compactions, metadata), syncs, purges, reopens and crashes replay exactly as a simple
//! in-memory model says.
//!
//! Operations are plain data and are resolved against the model when they run (selectors are
//! taken modulo the valid range), so every generated sequence is valid and shrinks well. On a
//! failure the message carries the resolved trace of what was done.
//!
//! Durability: the model keeps every state from the last durable point on (a synced append,
//! `sync()`, a cut, which seals the previous segment, an open, which syncs what it reports, and a
//! purge that removes segments, which syncs first). A crash (`CrashMode::DropUnsynced`, or
//! `KeepPrefix`, which keeps some unsynced writes and tears the last) must recover one of those
//! states exactly: unsynced batches may be lost (whole, newest first), durable ones never.
//!
//! The tests after the property are minimal reproductions of the WAL bugs it found (all fixed in
//! commit 19db2f9 "wal: fix six bugs the model test found"); each failed before that commit.
//!
//! More cases: `PROPTEST_CASES=5000 cargo test -p stele-wal --test model` (about 20 s).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use stele_wal::fs::sim::{CrashMode, SimFs};
use stele_wal::{
    Batch, ConfState, Error, HardState, LogStart, Preallocate, SnapshotMarker, Wal, WalOptions,
    MAX_MARKERS,
};

const DIR: &str = "/w";

type TestResult<T = ()> = Result<T, TestCaseError>;

fn fail<T>(msg: String) -> TestResult<T> {
    Err(TestCaseError::fail(msg))
}

/// Unwraps a WAL result, turning an error into a test failure that says what was being done.
fn ok<T>(r: stele_wal::Result<T>, what: impl std::fmt::Display) -> TestResult<T> {
    r.map_err(|e| TestCaseError::fail(format!("{what}: unexpected error: {e}")))
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// The log as a plain vector: `entries[k]` is index `first + k`.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    first: u64,
    entries: Vec<(u64, Vec<u8>)>,
    /// The true term of `first - 1` (the model always knows it).
    prev_term: u64,
    /// Whether the WAL must be able to answer `term(first - 1)`.
    prev_known: bool,
    hard_state: Option<HardState>,
    conf_state: Option<ConfState>,
    markers: Vec<SnapshotMarker>,
    start: Option<LogStart>,
}

type Ent = (u64, u64, Vec<u8>);

impl Model {
    fn new() -> Self {
        Model {
            first: 1,
            entries: Vec::new(),
            prev_term: 0,
            prev_known: true,
            hard_state: None,
            conf_state: None,
            markers: Vec::new(),
            start: None,
        }
    }

    fn last(&self) -> u64 {
        self.first + self.entries.len() as u64 - 1
    }

    /// Term of `i` in `[first - 1, last]`.
    fn term(&self, i: u64) -> u64 {
        if i == self.first - 1 {
            self.prev_term
        } else {
            self.entries[(i - self.first) as usize].0
        }
    }

    fn slice(&self, lo: u64, hi: u64) -> Vec<Ent> {
        (lo..hi)
            .map(|i| {
                let (t, d) = &self.entries[(i - self.first) as usize];
                (i, *t, d.clone())
            })
            .collect()
    }

    /// raft's `limit_size` rule: the first entry always, then while the total size fits.
    fn limited(&self, lo: u64, hi: u64, max: Option<u64>) -> Vec<Ent> {
        let mut out = Vec::new();
        let mut total = 0u64;
        for e in self.slice(lo, hi) {
            total += e.2.len() as u64;
            if !out.is_empty() && max.is_some_and(|m| total > m) {
                break;
            }
            out.push(e);
        }
        out
    }

    /// Drops the entries below `new_first` (compaction or purge); `new_first` <= last + 1.
    fn drop_below(&mut self, new_first: u64) {
        if new_first <= self.first {
            return;
        }
        self.prev_term = self.term(new_first - 1);
        self.entries.drain(..(new_first - self.first) as usize);
        self.first = new_first;
        self.prev_known = true;
    }

    /// Everything that must survive a restart (not `prev_known`).
    fn same_log(&self, other: &Model) -> bool {
        self.first == other.first
            && self.entries == other.entries
            && self.hard_state == other.hard_state
            && self.conf_state == other.conf_state
            && self.markers == other.markers
            && self.start == other.start
    }

    /// What the WAL can know of `term(first - 1)` after a restart: what a reset or compaction
    /// record says (the purge-time knowledge of a previous process is gone).
    fn forget_for_restart(&mut self) {
        self.prev_known = self.start.is_some_and(|s| s.index == self.first - 1);
    }

    fn summary(&self) -> String {
        let terms: Vec<u64> = self.entries.iter().map(|e| e.0).collect();
        format!(
            "[{}..={}] prev_term {} (known {}) terms {:?} start {:?} hs {:?} cs {} markers {}",
            self.first,
            self.last(),
            self.prev_term,
            self.prev_known,
            terms,
            self.start.map(|s| (s.index, s.term)),
            self.hard_state.map(|h| (h.term, h.vote, h.commit)),
            self.conf_state.is_some(),
            self.markers.len(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// An entry to add: its term, data length and a fill byte for its data.
#[derive(Clone)]
struct EntrySpec {
    term: u8,
    len: u16,
    fill: u8,
}

impl std::fmt::Debug for EntrySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "E(t{} l{} f{})", self.term, self.len, self.fill)
    }
}

fn data_of(e: &EntrySpec) -> Vec<u8> {
    (0..e.len as usize)
        .map(|j| e.fill.wrapping_add((j as u8).wrapping_mul(31)))
        .collect()
}

#[derive(Clone, Debug)]
enum Start {
    None,
    /// `reset(last + delta (at least 0), term)`.
    Reset {
        delta: i8,
        term: u8,
    },
    /// `compact(c)` with `c` in `[first - 1 - below, last]` (at least 0), with the true term.
    Compact {
        sel: u16,
        below: u8,
    },
}

#[derive(Clone, Debug)]
enum Op {
    /// One batch. `back` picks the first index of the entries: `back` positions before the end
    /// of the log (0: append at `last + 1`); without entries and with `back > 0` it is a
    /// `truncate_from`.
    Batch {
        start: Start,
        back: u16,
        entries: Vec<EntrySpec>,
        hard_state: Option<HardState>,
        conf_state: Option<ConfState>,
        markers: Vec<SnapshotMarker>,
        sync: bool,
    },
    Sync,
    /// `purge(below)` with `below` in `[first, last + 1]`.
    Purge {
        sel: u16,
    },
    /// `entries(lo, hi, max)`.
    Read {
        lo: u16,
        hi: u16,
        max: Option<u16>,
    },
    /// A batch the WAL must refuse, leaving the log as it was.
    Invalid {
        kind: u8,
    },
    /// Drop the WAL and open it again.
    Reopen,
    /// Drop the WAL, crash the disk, open it again. `None`: `CrashMode::DropUnsynced`; `Some`:
    /// `CrashMode::KeepPrefix` with that seed (a prefix of the unsynced writes survives, the last
    /// one torn).
    Crash(Option<u64>),
}

fn entry_spec() -> impl Strategy<Value = EntrySpec> {
    let len = prop_oneof![20 => 0u16..300, 1 => 2000u16..9000];
    (1u8..5, len, any::<u8>()).prop_map(|(term, len, fill)| EntrySpec { term, len, fill })
}

fn conf_state() -> impl Strategy<Value = ConfState> {
    (
        prop::collection::vec(1u64..6, 0..4),
        prop::collection::vec(6u64..9, 0..2),
        any::<bool>(),
    )
        .prop_map(|(voters, learners, auto_leave)| ConfState {
            voters,
            learners,
            auto_leave,
            ..ConfState::default()
        })
}

fn hard_state() -> impl Strategy<Value = HardState> {
    (0u64..10, 0u64..4, 0u64..500).prop_map(|(term, vote, commit)| HardState { term, vote, commit })
}

fn marker() -> impl Strategy<Value = SnapshotMarker> {
    (prop::option::of(conf_state()), 0u64..300, 0u64..10).prop_map(|(conf_state, index, term)| {
        SnapshotMarker {
            conf_state,
            index,
            term,
        }
    })
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        12 => Just(Start::None),
        1 => (-20i8..20, 0u8..8).prop_map(|(delta, term)| Start::Reset { delta, term }),
        2 => (any::<u16>(), prop_oneof![5 => Just(0u8), 1 => 1u8..20])
            .prop_map(|(sel, below)| Start::Compact { sel, below }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let back = prop_oneof![6 => Just(0u16), 3 => 0u16..10, 1 => any::<u16>()];
    let markers = prop_oneof![6 => Just(Vec::new()), 1 => prop::collection::vec(marker(), 1..4)];
    let batch = (
        start(),
        back,
        prop::collection::vec(entry_spec(), 0..8),
        prop::option::weighted(0.3, hard_state()),
        prop::option::weighted(0.15, conf_state()),
        markers,
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(start, back, entries, hard_state, conf_state, markers, sync)| Op::Batch {
                start,
                back,
                entries,
                hard_state,
                conf_state,
                markers,
                sync,
            },
        );
    prop_oneof![
        14 => batch,
        2 => Just(Op::Sync),
        2 => any::<u16>().prop_map(|sel| Op::Purge { sel }),
        1 => (any::<u16>(), any::<u16>(), prop::option::of(0u16..2000))
            .prop_map(|(lo, hi, max)| Op::Read { lo, hi, max }),
        1 => (0u8..4).prop_map(|kind| Op::Invalid { kind }),
        1 => Just(Op::Reopen),
        2 => prop_oneof![Just(None), any::<u64>().prop_map(Some)].prop_map(Op::Crash),
    ]
}

#[derive(Clone, Debug)]
struct Setup {
    segment_size: u64,
    recycle: usize,
    preallocate: Preallocate,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(8u64 << 10), Just(16u64 << 10)],
        prop_oneof![Just(0usize), Just(2usize)],
        prop_oneof![
            Just(Preallocate::ZeroFill),
            Just(Preallocate::SetLen),
            Just(Preallocate::Fallocate)
        ],
    )
        .prop_map(|(segment_size, recycle, preallocate)| Setup {
            segment_size,
            recycle,
            preallocate,
        })
}

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

struct Harness {
    fs: SimFs,
    opts: WalOptions,
    wal: Option<Wal>,
    model: Model,
    /// The latest term written at every index ever used (for compactions below the log start,
    /// which raft would make with the term the index had).
    history: BTreeMap<u64, u64>,
    /// Model states from the last durable point (`states[0]`) to now, in order.
    states: Vec<Model>,
    trace: Vec<String>,
}

impl Harness {
    fn new(s: &Setup) -> TestResult<Self> {
        let fs = SimFs::new();
        let opts = WalOptions {
            segment_size: s.segment_size,
            recycle: s.recycle,
            preallocate: s.preallocate,
            fs: Arc::new(fs.clone()),
            ..WalOptions::default()
        };
        let wal = ok(Wal::open(Path::new(DIR), opts.clone()), "open a new WAL")?;
        let model = Model::new();
        Ok(Harness {
            fs,
            opts,
            wal: Some(wal),
            states: vec![model.clone()],
            model,
            history: BTreeMap::new(),
            trace: Vec::new(),
        })
    }

    fn wal(&self) -> &Wal {
        self.wal.as_ref().expect("the WAL is open")
    }

    fn mark_durable(&mut self) {
        self.states = vec![self.model.clone()];
    }

    fn step(&mut self, op: &Op) -> TestResult {
        match op {
            Op::Batch {
                start,
                back,
                entries,
                hard_state,
                conf_state,
                markers,
                sync,
            } => self.batch(
                start, *back, entries, hard_state, conf_state, markers, *sync,
            ),
            Op::Sync => {
                let durable_last = ok(self.wal().sync(), "sync")?;
                self.trace.push(format!("sync -> {durable_last}"));
                prop_assert_eq!(
                    durable_last,
                    self.model.last(),
                    "sync returns the last index"
                );
                self.mark_durable();
                Ok(())
            }
            Op::Purge { sel } => self.purge(*sel),
            Op::Read { lo, hi, max } => {
                let m = &self.model;
                let span = m.last() + 2 - m.first;
                let lo = m.first + u64::from(*lo) % span;
                let hi = lo + u64::from(*hi) % (m.last() + 2 - lo);
                let max = max.map(u64::from);
                self.trace.push(format!("entries({lo}, {hi}, {max:?})"));
                let got = ok(self.wal().entries(lo, hi, max), "entries")?;
                let got: Vec<Ent> = got.into_iter().map(|e| (e.index, e.term, e.data)).collect();
                prop_assert_eq!(
                    got,
                    m.limited(lo, hi, max),
                    "entries({}, {}, {:?})",
                    lo,
                    hi,
                    max
                );
                Ok(())
            }
            Op::Invalid { kind } => self.invalid(*kind),
            Op::Reopen => {
                self.trace.push("reopen".into());
                drop(self.wal.take());
                let wal = ok(Wal::open(Path::new(DIR), self.opts.clone()), "reopen")?;
                let r = wal.recovery();
                prop_assert_eq!(
                    (r.first_index, r.last_index),
                    (self.model.first, self.model.last()),
                    "RecoveryReport"
                );
                self.wal = Some(wal);
                self.model.forget_for_restart();
                // Open makes what it reports durable.
                self.mark_durable();
                Ok(())
            }
            Op::Crash(seed) => self.crash(*seed),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn batch(
        &mut self,
        start: &Start,
        back: u16,
        entries: &[EntrySpec],
        hard_state: &Option<HardState>,
        conf_state: &Option<ConfState>,
        markers: &[SnapshotMarker],
        sync: bool,
    ) -> TestResult {
        let (first, last) = (self.model.first, self.model.last());
        let mut b = Batch::new();
        let mut desc = String::new();
        let mut compaction = None;
        // The log's live range once the reset or compaction is applied.
        let (first_live, last_live) = match *start {
            Start::None => (first, last),
            Start::Reset { delta, term } => {
                let t = (last as i64 + i64::from(delta)).max(0) as u64;
                b.reset(t, u64::from(term)).expect("reset");
                desc += &format!("reset({t}, {term}) ");
                (t + 1, t)
            }
            Start::Compact { sel, below } => {
                let lo = (first - 1).saturating_sub(u64::from(below));
                let c = lo + u64::from(sel) % (last - lo + 1);
                let t = if c + 1 >= first {
                    self.model.term(c)
                } else {
                    self.history.get(&c).copied().unwrap_or(0)
                };
                b.compact(c, t).expect("compact");
                desc += &format!("compact({c}, {t}) ");
                compaction = Some((c, t));
                (first.max(c + 1), last)
            }
        };
        let span = last_live + 2 - first_live;
        let at = last_live + 1 - u64::from(back) % span;
        let truncate = entries.is_empty() && back > 0 && matches!(start, Start::None);
        if truncate {
            b.truncate_from(at).expect("truncate_from");
            desc += &format!("truncate_from({at}) ");
        }
        let at = if matches!(start, Start::Reset { .. }) {
            first_live
        } else {
            at
        };
        for (k, e) in entries.iter().enumerate() {
            b.add_entry(at + k as u64, u64::from(e.term), &data_of(e))
                .expect("add_entry");
        }
        if !entries.is_empty() {
            let terms: Vec<u8> = entries.iter().map(|e| e.term).collect();
            let lens: Vec<u16> = entries.iter().map(|e| e.len).collect();
            desc += &format!("entries {at}.. terms {terms:?} lens {lens:?} ");
        }
        if let Some(hs) = hard_state {
            b.set_hard_state(*hs);
            desc += "+hs ";
        }
        if let Some(cs) = conf_state {
            b.set_conf_state(cs.clone());
            desc += "+cs ";
        }
        for m in markers {
            b.add_snapshot_marker(m.clone());
        }
        if !markers.is_empty() {
            desc += &format!("+{} markers ", markers.len());
        }
        desc += if sync { "sync" } else { "nosync" };

        let syncs_before = self.wal().stats().syncs;
        let segments_before = self.wal().stats().segments;
        let res = self.wal().append(b, sync);
        // A compaction below the log's start changes no entry. The WAL may refuse it, or take it
        // and either record it as the newest start or keep the start it had.
        let stale = compaction.is_some_and(|(c, _)| c + 1 < first);
        if stale {
            if let Err(Error::InvalidBatch(e)) = &res {
                self.trace.push(format!("append {desc} -> refused ({e})"));
                return Ok(());
            }
        }
        let old_start = self.model.start;

        // The model.
        let m = &mut self.model;
        match *start {
            Start::None => {}
            Start::Reset { term, .. } => {
                let t = first_live - 1;
                m.entries.clear();
                m.first = first_live;
                m.prev_term = u64::from(term);
                m.prev_known = true;
                m.start = Some(LogStart {
                    index: t,
                    term: u64::from(term),
                });
                self.history.insert(t, u64::from(term));
            }
            Start::Compact { .. } => {
                let (c, t) = compaction.expect("a compaction point");
                // At or below first - 1 the entries stay; so does the WAL's term of first - 1.
                m.drop_below(c + 1);
                m.start = Some(LogStart { index: c, term: t });
            }
        }
        if !entries.is_empty() || truncate {
            m.entries.truncate((at - m.first) as usize);
        }
        for e in entries {
            m.entries.push((u64::from(e.term), data_of(e)));
        }
        for (k, e) in entries.iter().enumerate() {
            self.history.insert(at + k as u64, u64::from(e.term));
        }
        if let Some(hs) = hard_state {
            m.hard_state = Some(*hs);
        }
        if let Some(cs) = conf_state {
            m.conf_state = Some(cs.clone());
        }
        for mk in markers {
            m.markers.push(mk.clone());
        }
        let extra = m.markers.len().saturating_sub(MAX_MARKERS);
        m.markers.drain(..extra);

        let appended = ok(res, format!("append {desc}"))?;
        if stale && ok(self.wal().state(), "state")?.start == old_start {
            self.model.start = old_start;
        }
        let segments_after = self.wal().stats().segments;
        let cut = segments_after > segments_before;
        self.trace.push(format!(
            "append {desc} -> [{}..={}]{}",
            appended.first_index,
            appended.last_index,
            if cut { " (cut)" } else { "" }
        ));
        prop_assert_eq!(
            (appended.first_index, appended.last_index),
            (self.model.first, self.model.last()),
            "Appended"
        );
        self.states.push(self.model.clone());
        if sync {
            self.mark_durable();
        } else if self.wal().stats().syncs > syncs_before {
            // A cut sealed (and synced) the previous segment: every batch before this one is
            // durable.
            let n = self.states.len();
            self.states.drain(..n - 2);
        }
        Ok(())
    }

    fn purge(&mut self, sel: u16) -> TestResult {
        let m = &self.model;
        let below = m.first + u64::from(sel) % (m.last() + 2 - m.first);
        let p = ok(self.wal().purge(below), format!("purge({below})"))?;
        let f = ok(self.wal().first_index(), "first_index")?;
        self.trace.push(format!(
            "purge({below}) -> {} segments, first {f}",
            p.segments
        ));
        prop_assert_eq!(p.first_index, f, "Purged::first_index");
        prop_assert!(
            f == m.first || (f > m.first && f <= below),
            "purge({}) moved the first index from {} to {}",
            below,
            m.first,
            f
        );
        self.model.drop_below(f);
        if p.segments > 0 {
            // Purge syncs the log before removing anything (so no removal is durable before the
            // overwrites it relied on).
            self.mark_durable();
        }
        Ok(())
    }

    fn invalid(&mut self, kind: u8) -> TestResult {
        let (first, last) = (self.model.first, self.model.last());
        let mut b = Batch::new();
        let desc = match kind {
            0 => {
                b.add_entry(last + 2, 1, b"gap").expect("add_entry");
                format!("entry at {} (gap)", last + 2)
            }
            1 if first >= 2 => {
                b.add_entry(first - 1, 1, b"below").expect("add_entry");
                format!("entry at {} (below the first index)", first - 1)
            }
            2 => {
                b.compact(last + 1 + u64::from(kind), 1).expect("compact");
                format!(
                    "compact({}) beyond the last index",
                    last + 1 + u64::from(kind)
                )
            }
            3 if first >= 2 => {
                b.truncate_from(first - 1).expect("truncate_from");
                format!("truncate_from({}) below the first index", first - 1)
            }
            _ => return Ok(()),
        };
        let res = self.wal().append(b, false);
        self.trace
            .push(format!("invalid {desc} -> {:?}", res.as_ref().map(|_| ())));
        prop_assert!(
            matches!(res, Err(Error::InvalidBatch(_))),
            "{} accepted: {:?}",
            desc,
            res
        );
        Ok(())
    }

    fn crash(&mut self, seed: Option<u64>) -> TestResult {
        drop(self.wal.take());
        self.fs.crash(match seed {
            None => CrashMode::DropUnsynced,
            Some(seed) => CrashMode::KeepPrefix { seed },
        });
        let wal = ok(
            Wal::open(Path::new(DIR), self.opts.clone()),
            "open after a crash",
        )?;
        let (f, l) = (
            ok(wal.first_index(), "first_index")?,
            ok(wal.last_index(), "last_index")?,
        );
        let got = ok(wal.entries(f, l + 1, None), "entries after a crash")?;
        let st = ok(wal.state(), "state")?;
        let r = wal.recovery();
        prop_assert_eq!((r.first_index, r.last_index), (f, l), "RecoveryReport");
        self.wal = Some(wal);
        let recovered = Model {
            first: f,
            entries: got.into_iter().map(|e| (e.term, e.data)).collect(),
            prev_term: 0,
            prev_known: false,
            hard_state: st.hard_state,
            conf_state: st.conf_state,
            markers: st.markers,
            start: st.start,
        };
        // Unsynced batches are lost, but the WAL may have made more durable than it had to.
        let candidates = self.states.len();
        let Some(k) = self.states.iter().rposition(|c| c.same_log(&recovered)) else {
            let states: Vec<String> = self.states.iter().map(Model::summary).collect();
            return fail(format!(
                "crash: the recovered log {} matches none of the {candidates} states from the \
                 last durable point on:\n  {}",
                recovered.summary(),
                states.join("\n  ")
            ));
        };
        self.trace.push(format!(
            "crash -> [{f}..={l}], state {k} of the {candidates} since the last durable point"
        ));
        let mut m = self.states[k].clone();
        m.forget_for_restart();
        self.model = m;
        self.mark_durable();
        Ok(())
    }

    /// Compares everything the WAL answers with the model.
    fn check(&self) -> TestResult {
        let wal = self.wal();
        let m = &self.model;
        let (first, last) = (m.first, m.last());
        prop_assert_eq!(ok(wal.first_index(), "first_index")?, first, "first_index");
        prop_assert_eq!(ok(wal.last_index(), "last_index")?, last, "last_index");

        let all = ok(
            wal.entries(first, last + 1, None),
            "entries(first, last + 1)",
        )?;
        let all: Vec<Ent> = all.into_iter().map(|e| (e.index, e.term, e.data)).collect();
        prop_assert_eq!(&all, &m.slice(first, last + 1), "entries(first, last + 1)");
        let replayed: Vec<Ent> = ok(wal.replay(0), "replay")?
            .map(|e| e.map(|e| (e.index, e.term, e.data)))
            .collect::<stele_wal::Result<_>>()
            .map_err(|e| TestCaseError::fail(format!("replay: {e}")))?;
        prop_assert_eq!(&replayed, &all, "replay(0)");
        for max in [0u64, 1, 150, 600, 2500] {
            let got = ok(wal.entries(first, last + 1, Some(max)), "limited entries")?;
            let got: Vec<Ent> = got.into_iter().map(|e| (e.index, e.term, e.data)).collect();
            prop_assert_eq!(
                got,
                m.limited(first, last + 1, Some(max)),
                "entries limit {}",
                max
            );
        }

        for i in first..=last {
            prop_assert_eq!(
                ok(wal.term(i), format!("term({i})"))?,
                m.term(i),
                "term({})",
                i
            );
        }
        match wal.term(first - 1) {
            Ok(t) => prop_assert_eq!(t, m.prev_term, "term(first - 1 = {})", first - 1),
            Err(Error::Compacted { .. }) if !m.prev_known => {}
            Err(e) => return fail(format!("term(first - 1 = {}): {e}", first - 1)),
        }
        if first >= 2 {
            let r = wal.term(first - 2);
            prop_assert!(
                matches!(r, Err(Error::Compacted { .. })),
                "term(first - 2): {:?}",
                r
            );
        }
        let r = wal.term(last + 1);
        prop_assert!(
            matches!(r, Err(Error::Unavailable { .. })),
            "term(last + 1): {:?}",
            r
        );
        let r = wal.entries(first - 1, last + 1, None);
        prop_assert!(
            matches!(r, Err(Error::Compacted { .. })),
            "entries(first - 1..): {:?}",
            r
        );
        let r = wal.entries(first, last + 2, None);
        prop_assert!(
            matches!(r, Err(Error::Unavailable { .. })),
            "entries(..last + 2): {:?}",
            r
        );

        let st = ok(wal.state(), "state")?;
        prop_assert_eq!(st.hard_state, m.hard_state, "hard state");
        prop_assert_eq!(&st.conf_state, &m.conf_state, "conf state");
        prop_assert_eq!(&st.markers, &m.markers, "markers");
        prop_assert_eq!(st.start, m.start, "start");
        Ok(())
    }
}

fn run(s: &Setup, ops: &[Op]) -> TestResult {
    let mut h = Harness::new(s)?;
    h.check()?;
    for (n, op) in ops.iter().enumerate() {
        if let Err(e) = h.step(op).and_then(|()| h.check()) {
            return fail(format!(
                "{e}\nat op #{n}: {op:?}\nmodel: {}\nresolved trace:\n  {}",
                h.model.summary(),
                h.trace.join("\n  ")
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config {
        cases: 128,
        max_shrink_iters: 20_000,
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn wal_replays_as_the_model_says(s in setup(), ops in prop::collection::vec(op(), 1..40)) {
        run(&s, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal reproductions of the WAL bugs the property found
// ---------------------------------------------------------------------------------------------

fn sim_wal() -> (SimFs, WalOptions, Wal) {
    let fs = SimFs::new();
    let opts = WalOptions {
        segment_size: 8 << 10,
        fs: Arc::new(fs.clone()),
        ..WalOptions::default()
    };
    let wal = Wal::open(Path::new(DIR), opts.clone()).unwrap();
    (fs, opts, wal)
}

fn put(wal: &Wal, lo: u64, hi: u64, term: u64, sync: bool) {
    let mut b = Batch::new();
    for i in lo..=hi {
        b.add_entry(i, term, &[i as u8; 200]).unwrap();
    }
    wal.append(b, sync).unwrap();
}

/// Appends single 200-byte entries from `next` until a segment is cut; returns the first index
/// of the new segment.
fn put_until_cut(wal: &Wal, mut next: u64, term: u64) -> u64 {
    let segments = wal.stats().segments;
    loop {
        put(wal, next, next, term, false);
        if wal.stats().segments > segments {
            return next;
        }
        next += 1;
    }
}

fn compact(wal: &Wal, index: u64, term: u64) {
    let mut b = Batch::new();
    b.compact(index, term).unwrap();
    wal.append(b, false).unwrap();
}

/// A compaction below the base of a later segment corrupted that segment's index entry (its base
/// was lowered below its first batch), so reading an entry of an earlier segment panicked in
/// `LogIndex::locate` (`partition_point(..) - 1` underflowed).
#[test]
fn regression_read_after_compaction_below_a_later_segment() {
    let (_fs, _opts, wal) = sim_wal();
    put(&wal, 1, 1, 1, false);
    let second = put_until_cut(&wal, 2, 1); // segment 1 starts at `second`
    put(&wal, second + 1, second + 1, 1, false);
    compact(&wal, 5, 1);
    let e = wal.entries(6, 7, None).unwrap();
    assert_eq!(e[0].index, 6);
}

/// A compaction to just before a batch boundary kept the fully compacted batch as an empty one
/// (`SegIndex::compact` kept the batch before the first one starting above the point, even
/// when the next batch started exactly at the point + 1). Sealing then wrote a footer with two
/// equal `batch_first` values, and the next open failed: "undecodable footer batch ranges".
#[test]
fn regression_compaction_at_a_batch_boundary_makes_an_unopenable_seal() {
    let (_fs, opts, wal) = sim_wal();
    put(&wal, 1, 5, 1, false);
    put(&wal, 6, 10, 1, false);
    compact(&wal, 5, 1);
    put_until_cut(&wal, 11, 1); // seals the segment holding the compaction
    drop(wal);
    let wal = Wal::open(Path::new(DIR), opts).unwrap();
    assert_eq!(wal.first_index().unwrap(), 6);
}

/// Once the first segment is purged, replay starts unanchored and anchored at the first batch
/// with entries. A later batch of the same segment that overwrote entries below that point (they
/// were in the purged segment) was then refused: "below the log's first index".
#[test]
fn regression_reopen_after_purge_with_an_overwrite_below_the_segment_start() {
    let (_fs, opts, wal) = sim_wal();
    put(&wal, 1, 1, 1, false);
    let k = put_until_cut(&wal, 2, 1); // segment 1 starts at k
    put(&wal, k - 3, k + 1, 2, false); // overwrites k-3.. (in segment 0) from segment 1
    let p = wal.purge(k - 3).unwrap(); // segment 0 now only holds entries below k-3
    assert_eq!((p.segments, p.first_index), (1, k - 3));
    drop(wal);
    let wal = Wal::open(Path::new(DIR), opts).unwrap();
    assert_eq!(wal.first_index().unwrap(), k - 3);
    assert_eq!(wal.last_index().unwrap(), k + 1);
}

/// Once the first segment is purged, replay starts unanchored; if the oldest remaining segment
/// (the active one) begins with a batch holding a compaction record below that segment's first
/// index, the scan took the compaction for a reset (`LogIndex::compact` when not anchored), so
/// the batch's own entries were refused as a gap: "batch starts at index 11, the log expects at
/// most 6".
#[test]
fn regression_reopen_after_purge_with_an_old_compaction_record() {
    let (_fs, opts, wal) = sim_wal();
    put(&wal, 1, 10, 1, false);
    let mut b = Batch::new();
    b.compact(5, 1).unwrap();
    b.add_entry(11, 1, &[0; 7000]).unwrap(); // does not fit: cut, segment 1 starts at 11
    wal.append(b, false).unwrap();
    assert_eq!(wal.stats().segments, 2);
    let p = wal.purge(11).unwrap();
    assert_eq!((p.segments, p.first_index), (1, 11));
    drop(wal);
    let wal = Wal::open(Path::new(DIR), opts).unwrap();
    assert_eq!(wal.first_index().unwrap(), 11);
    assert_eq!(wal.last_index().unwrap(), 11);
}

/// `sync()` right after an open was a no-op (nothing was written by this handle), so batches a
/// previous handle left unsynced, which this handle read and reported as its log, were lost by a
/// crash although `sync()` returned `Ok`.
#[test]
fn regression_sync_after_reopen_does_not_make_the_recovered_tail_durable() {
    let (fs, opts, wal) = sim_wal();
    put(&wal, 1, 3, 1, false);
    drop(wal);
    let wal = Wal::open(Path::new(DIR), opts.clone()).unwrap();
    assert_eq!(wal.sync().unwrap(), 3);
    drop(wal);
    fs.crash(CrashMode::DropUnsynced);
    let wal = Wal::open(Path::new(DIR), opts).unwrap();
    assert_eq!(wal.last_index().unwrap(), 3);
}

/// `LogIndex::pop_front` asked for the term of the new `first - 1` after removing the segment;
/// when that segment held the last live entries, `term()` no longer saw them, so a purge that
/// emptied the log lost the term of its last index (`term(first - 1)` is `Compacted`, although
/// the docs promise it "after a purge in this process"; raft asks it as the last term).
#[test]
fn regression_purge_that_empties_the_log_forgets_the_last_term() {
    let (_fs, _opts, wal) = sim_wal();
    put(&wal, 1, 1, 1, false);
    let k = put_until_cut(&wal, 2, 3); // segment 1 starts at k
    let mut b = Batch::new();
    b.truncate_from(k).unwrap(); // segment 1 keeps no entry: the log is 1..k-1, in segment 0
    wal.append(b, false).unwrap();
    let p = wal.purge(k).unwrap();
    assert_eq!((p.segments, p.first_index), (1, k));
    assert_eq!(wal.term(k - 1).unwrap(), 3);
}

/// Purge decides from the in-memory log, which includes unsynced overwrites. A durable segment
/// whose tail was overwritten by an unsynced batch was removed (durably); a crash then dropped
/// the overwrite and, with the segment gone, the durable entries from `below` on were lost too:
/// the log restarted at the next segment's first index, far above `below`.
#[test]
fn regression_purge_trusts_unsynced_overwrites() {
    let (fs, opts, wal) = sim_wal();
    put(&wal, 1, 1, 1, false);
    let k = put_until_cut(&wal, 2, 1); // segment 0 (1..k-1) is sealed and synced
    wal.sync().unwrap(); // the durable log is 1..=k
    put(&wal, 5, 6, 2, false); // unsynced overwrite from 5: segment 0 now ends at 4
    let p = wal.purge(5).unwrap(); // removes segment 0 (durably)
    assert_eq!((p.segments, p.first_index), (1, 5));
    drop(wal);
    fs.crash(CrashMode::DropUnsynced); // the overwrite is lost
    let wal = Wal::open(Path::new(DIR), opts).unwrap();
    // purge(5) may drop 1..=4 only; the overwrite may or may not have survived.
    let (first, last) = (wal.first_index().unwrap(), wal.last_index().unwrap());
    assert!(
        first <= 5 && (last == 6 || last == k),
        "log [{first}..={last}], k = {k}"
    );
}

/// Once the first segment is purged, replay starts unanchored. If the oldest remaining segment
/// began with a batch that truncates below its first index and adds no entries, replay ignored
/// the truncation and anchored the log at the segment's name: an empty log that ended at 5 came
/// back starting at 11 (the in-process log said first index 6).
#[test]
fn regression_reopen_after_purge_with_a_truncation_below_the_segment_start() {
    let (_fs, opts, wal) = sim_wal();
    put(&wal, 1, 10, 1, false);
    let mut b = Batch::new();
    b.truncate_from(6).unwrap();
    // A large ConfState so that this batch does not fit: it is the first of segment 1 (at 11).
    b.set_conf_state(ConfState {
        voters: (1..3000).collect(),
        ..ConfState::default()
    });
    wal.append(b, false).unwrap();
    assert_eq!(wal.stats().segments, 2);
    let p = wal.purge(6).unwrap(); // segment 0 holds only 1..=5 now: removed
    assert_eq!((p.segments, p.first_index), (1, 6));
    drop(wal);
    let wal = Wal::open(Path::new(DIR), opts).unwrap();
    assert_eq!(
        (wal.first_index().unwrap(), wal.last_index().unwrap()),
        (6, 5)
    );
}

/// A compaction below the log's start (accepted by `append`, a no-op for the entries) used to
/// become the newest start: the seal then recorded it, and reopening compacted to it (or reset
/// to it), so the sealed segment's batches no longer continued the log: "batch starts at index
/// 5, the log expects at most 2".
#[test]
fn regression_stale_compaction_makes_an_unopenable_seal() {
    let (_fs, opts, wal) = sim_wal();
    put(&wal, 1, 6, 1, false);
    compact(&wal, 4, 1);
    compact(&wal, 1, 1); // below the start: changes nothing
    put_until_cut(&wal, 7, 1);
    drop(wal);
    let wal = Wal::open(Path::new(DIR), opts).unwrap();
    assert_eq!(wal.first_index().unwrap(), 5);
}
