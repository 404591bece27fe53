//! The search of one partition: Wing and Gong's algorithm with Lowe's cache, as in Porcupine.
//!
//! The operations become events (a call and a return each; an unknown outcome returns at
//! "infinity") sorted by time, calls before returns at equal times (so two operations that
//! touch in time count as concurrent: the checker never rejects because of clock ties), in a
//! doubly linked list. The search walks the list from its head:
//!
//! - at a call, it tries to linearize the operation now: if the model accepts it from the
//!   current state with the observed output, and the pair (linearized set with it, new state)
//!   is not in the cache, it pushes (operation, old state) on a stack, lifts the call and its
//!   return out of the list, and starts again from the head; otherwise it moves on to the
//!   next event;
//! - at a return, the operation it belongs to was not linearized although its return has
//!   come, so the current prefix is a dead end: it pops the last linearized operation,
//!   restores its state and puts its events back in the list (undo), and moves on to the
//!   event after that operation's call.
//!
//! The cache keys a linearized set by its lowest absent operation and the bitset words from
//! there to its highest present one, not the whole bitset: the operations linearized form a
//! prefix plus a few concurrent ones, so a key stays small however long the history (a whole
//! bitset per entry would take n²/8 bytes over a search of n operations).
//!
//! The partition is linearizable once every operation with a known outcome is linearized
//! (unknown ones still pending are taken never to have happened), and not linearizable when a
//! return is met with an empty stack.

use std::collections::HashSet;
use std::time::Instant;

use super::bitset::Bitset;
use super::{Model, OpOf, PartitionResult};

const NIL: usize = usize::MAX;

/// The event list: entries `2i` (call of op `i`) and `2i + 1` (its return), plus a head.
struct List {
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl List {
    /// The list of `order` (entry numbers in time order).
    fn new(order: &[usize]) -> List {
        let head = order.len();
        let mut next = vec![NIL; order.len() + 1];
        let mut prev = vec![NIL; order.len() + 1];
        let mut last = head;
        for &e in order {
            next[last] = e;
            prev[e] = last;
            last = e;
        }
        List { next, prev, head }
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }

    /// Takes op `i`'s call and return out of the list.
    fn lift(&mut self, i: usize) {
        self.unlink(2 * i);
        self.unlink(2 * i + 1);
    }

    /// Puts them back (the exact inverse of the last [`List::lift`] not yet undone).
    fn unlift(&mut self, i: usize) {
        self.relink(2 * i + 1);
        self.relink(2 * i);
    }
}

/// Checks one partition's operations; returns the result and the steps taken. Gives up at
/// `deadline`.
pub fn check_partition<M: Model>(
    model: &M,
    ops: &[OpOf<M>],
    deadline: Instant,
) -> (PartitionResult, u64) {
    let n = ops.len();
    let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, 0, 2 * i));
        let ret = if op.is_known() {
            op.ret.unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        order.push((ret.max(op.call), 1, 2 * i + 1));
    }
    order.sort_unstable();
    let order: Vec<usize> = order.into_iter().map(|e| e.2).collect();
    let mut list = List::new(&order);

    let mut remaining = ops.iter().filter(|o| o.is_known()).count();
    let mut state = model.init();
    let mut linearized = Bitset::new(n);
    // The lowest operation not linearized, and the highest linearized one.
    let mut low = 0usize;
    let mut high: Option<usize> = None;
    let mut cache: HashSet<(usize, Vec<u64>, M::State)> = HashSet::new();
    // (operation, state before it, `high` before it)
    let mut stack: Vec<(usize, M::State, Option<usize>)> = Vec::new();
    let mut longest: Vec<usize> = Vec::new();
    let mut steps = 0u64;
    let mut entry = list.next[list.head];

    while remaining > 0 {
        steps += 1;
        if steps % 1024 == 0 && Instant::now() > deadline {
            return (PartitionResult::GaveUp, steps);
        }
        if entry == NIL {
            // Only unknown operations are left ahead of the position: back up.
            entry = 2 * n + 1; // handled as a return below
        }
        if entry < 2 * n && entry % 2 == 0 {
            let i = entry / 2;
            let op = &ops[i];
            let out = if op.is_known() {
                op.output.as_ref()
            } else {
                None
            };
            if let Some(next) = model.step(&state, &op.input, out) {
                linearized.set(i);
                let new_high = Some(high.map_or(i, |h| h.max(i)));
                let mut new_low = low;
                while new_low < n && linearized.contains(new_low) {
                    new_low += 1;
                }
                let key = (new_low, linearized.window(new_low, new_high), next.clone());
                if cache.insert(key) {
                    let old = std::mem::replace(&mut state, next);
                    stack.push((i, old, high));
                    (low, high) = (new_low, new_high);
                    if op.is_known() {
                        remaining -= 1;
                    }
                    if stack.len() > longest.len() {
                        longest = stack.iter().map(|s| s.0).collect();
                    }
                    list.lift(i);
                    entry = list.next[list.head];
                    continue;
                }
                linearized.clear(i);
            }
            entry = list.next[entry];
        } else {
            let Some((i, old, old_high)) = stack.pop() else {
                let stuck = stuck_ops::<M>(ops, &longest);
                return (PartitionResult::Violation { longest, stuck }, steps);
            };
            linearized.clear(i);
            (low, high) = (low.min(i), old_high);
            state = old;
            if ops[i].is_known() {
                remaining += 1;
            }
            list.unlift(i);
            entry = list.next[2 * i];
        }
    }
    (PartitionResult::Linearizable, steps)
}

/// The operations outside `longest` invoked before the first of them returned.
fn stuck_ops<M: Model>(ops: &[OpOf<M>], longest: &[usize]) -> Vec<usize> {
    let done: HashSet<usize> = longest.iter().copied().collect();
    let first_ret = (0..ops.len())
        .filter(|i| !done.contains(i) && ops[*i].is_known())
        .filter_map(|i| ops[i].ret)
        .min()
        .unwrap_or(u64::MAX);
    (0..ops.len())
        .filter(|i| !done.contains(i) && ops[*i].call <= first_ret)
        .collect()
}
