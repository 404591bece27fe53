//! `lincheck`: a linearizability checker for recorded client histories.
//!
//! A history is a list of [`Operation`]s, each with the time it was invoked, the time its
//! answer came back (or none: the outcome is unknown, as after a timeout, a 503 "outcome
//! unknown" or a connection broken after the request was sent), its input and its output.
//! [`check`] decides whether some total order of the operations (1) respects real time (an
//! operation that returned before another was invoked comes first), (2) is legal for a
//! sequential [`Model`], and (3) gives every operation with a known outcome the output it
//! observed. An operation whose outcome is unknown may have taken effect at any time after its
//! invocation, or never: it is given the return time "end of history" and any output.
//!
//! The search is the Wing-Gong algorithm with Lowe's memoization, as Porcupine does it
//! ([`search`]): the history is split into independent partitions (one per key, see
//! [`Model::Key`]: linearizability is local, so a history is linearizable iff each
//! key's sub-history is), each partition becomes a doubly linked list of call and return
//! events in time order, and a depth-first search linearizes one pending call at a time,
//! lifting it (and its return) out of the list, and undoing that on backtrack. A cache of the
//! (set of linearized operations, model state) pairs already explored prunes the search,
//! which keeps it fast on the histories real systems produce even with thousands of
//! operations per key.
//!
//! [`register`] is the model of `stele-kv`'s keys: a register per key with `put(v)`,
//! `get() -> Option<v>` and `delete`.

mod bitset;
pub mod register;
pub mod search;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

pub use register::{KvInput, KvModel, KvOutput};

/// A sequential specification: the states an object may be in and how operations move it.
pub trait Model {
    /// What selects an independent sub-history (for a key-value store: the key).
    type Key: Ord + Clone + Debug;
    /// The object's state (hashed into the search cache).
    type State: Clone + Eq + Hash + Debug;
    /// An operation's input (`put(v)`, `get`, ...).
    type Input: Clone + Debug;
    /// An operation's output (the value read, ...).
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after applying `input` to `state`, if that is legal and produces `output`;
    /// `output` is `None` when the outcome is unknown (any output is accepted then).
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether an operation with an unknown outcome can be left out of the check entirely: true
    /// when it cannot change the state (a read), since its effect then constrains nothing.
    fn is_read_only(&self, input: &Self::Input) -> bool;
}

/// One client operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<K, I, O> {
    /// The client (thread) that issued it; only for reports.
    pub client: u64,
    /// The partition (key) it acts on.
    pub key: K,
    /// When it was invoked (any monotonic unit, e.g. nanoseconds since the start).
    pub call: u64,
    /// When its answer came back; `None` if the outcome is unknown.
    pub ret: Option<u64>,
    /// What it asked.
    pub input: I,
    /// What it got; `None` if the outcome is unknown (then `ret` should be `None` too; an
    /// operation with a return time but no output is treated as unknown all the same).
    pub output: Option<O>,
}

impl<K, I, O> Operation<K, I, O> {
    /// Whether the outcome is known (an answer came back with an output).
    pub fn is_known(&self) -> bool {
        self.ret.is_some() && self.output.is_some()
    }
}

/// The operation type of a model `M`.
pub type OpOf<M> = Operation<<M as Model>::Key, <M as Model>::Input, <M as Model>::Output>;

/// The verdict on one partition (key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionResult {
    /// A linearization exists.
    Linearizable,
    /// No linearization exists. `longest` is the longest legal order found of a prefix
    /// (indices into the partition's operations, in the order they were linearized);
    /// `stuck` are the operations not in it whose call precedes the first pending return,
    /// i.e. the ones of which none could come next.
    Violation {
        /// The longest partial linearization found (indices into `ops`).
        longest: Vec<usize>,
        /// The operations that could not follow it.
        stuck: Vec<usize>,
    },
    /// The search gave up (budget exhausted) before deciding.
    GaveUp,
}

/// What [`check`] found on one partition.
#[derive(Debug, Clone)]
pub struct PartitionReport<M: Model> {
    /// The key.
    pub key: M::Key,
    /// The partition's operations as checked (unknown reads left out), in call order.
    pub ops: Vec<OpOf<M>>,
    /// The verdict.
    pub result: PartitionResult,
    /// Search steps taken.
    pub steps: u64,
}

/// The overall verdict of [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every partition is linearizable.
    Linearizable,
    /// At least one partition is not.
    NotLinearizable,
    /// No violation found, but the search gave up on at least one partition.
    Unknown,
}

/// What [`check`] found.
#[derive(Debug, Clone)]
pub struct Report<M: Model> {
    /// The verdict.
    pub verdict: Verdict,
    /// Operations checked (all partitions; unknown reads are not counted).
    pub checked: usize,
    /// Of them, operations whose outcome was unknown.
    pub unknown: usize,
    /// Partitions (keys) checked.
    pub partitions: usize,
    /// The partitions that are not linearizable or on which the search gave up.
    pub failures: Vec<PartitionReport<M>>,
}

/// Limits of a [`check`].
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The whole check gives up (verdict [`Verdict::Unknown`] for the partitions left) after
    /// this long.
    pub time: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            time: Duration::from_secs(60),
        }
    }
}

/// Checks `history` against `model` (see the module docs).
pub fn check<M: Model>(model: &M, history: &[OpOf<M>], budget: Budget) -> Report<M> {
    let deadline = Instant::now() + budget.time;
    let mut parts: BTreeMap<M::Key, Vec<OpOf<M>>> = BTreeMap::new();
    for op in history {
        if !op.is_known() && model.is_read_only(&op.input) {
            continue;
        }
        parts.entry(op.key.clone()).or_default().push(op.clone());
    }
    let mut report = Report {
        verdict: Verdict::Linearizable,
        checked: 0,
        unknown: 0,
        partitions: parts.len(),
        failures: Vec::new(),
    };
    for (key, mut ops) in parts {
        ops.sort_by_key(|o| o.call);
        report.checked += ops.len();
        report.unknown += ops.iter().filter(|o| !o.is_known()).count();
        let (result, steps) = search::check_partition(model, &ops, deadline);
        match result {
            PartitionResult::Linearizable => continue,
            PartitionResult::Violation { .. } => report.verdict = Verdict::NotLinearizable,
            PartitionResult::GaveUp => {
                if report.verdict == Verdict::Linearizable {
                    report.verdict = Verdict::Unknown;
                }
            }
        }
        report.failures.push(PartitionReport {
            key,
            ops,
            result,
            steps,
        });
    }
    report
}
