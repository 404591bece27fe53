//! Unit tests of [`LogIndex`]: an empty log, batches across segments, term runs and lookups at
//! every boundary (including `prev` and past the end, which answer `None`, never panic),
//! truncation inside and between batches, compaction (a partly compacted batch keeps its
//! offset and the start keeps its term), reset, the unanchored start of a replay after purges,
//! popping segments, and a property test against a plain map of index to term.

use std::sync::Arc;

use proptest::prelude::*;

use super::LogIndex;
use crate::format::SegmentId;
use crate::fs::sim::SimFs;
use crate::fs::FileSystem;
use crate::segment::Segment;

fn segment(fs: &SimFs, seq: u64) -> Arc<Segment> {
    let path = std::path::PathBuf::from(format!("/t/{seq}.wal"));
    fs.create_dir_all(std::path::Path::new("/t")).unwrap();
    let file = fs.create(&path).unwrap();
    let id = SegmentId {
        seq,
        first_index: 1,
        salt: 0,
    };
    Arc::new(Segment::new(id, path, file, 1 << 20))
}

/// An index with one segment and batches [1,3] term 1, [4,5] terms 1,2 at offsets 64 and 200.
fn two_batches(fs: &SimFs) -> LogIndex {
    let mut ix = LogIndex::new();
    ix.add_segment(segment(fs, 0));
    ix.push(64, 1, 3, &[(1, 1)]);
    ix.push(200, 4, 2, &[(4, 1), (5, 2)]);
    ix
}

#[test]
fn an_empty_log_starts_at_one_and_answers_none_elsewhere() {
    let ix = LogIndex::new();
    assert_eq!((ix.first_index(), ix.last_index()), (1, 0));
    assert_eq!(ix.prev(), (0, Some(0)));
    assert_eq!(ix.term(0), Some(0));
    assert_eq!(ix.term(1), None);
    assert_eq!(ix.term(u64::MAX), None);
    assert!(ix.locate(1).is_none());
    assert!(ix.is_anchored() && !ix.is_soft());
    assert_eq!(ix.batch_count(), 0);
}

#[test]
fn batches_are_located_and_terms_answered_at_their_edges() {
    let fs = SimFs::new();
    let ix = two_batches(&fs);
    assert_eq!((ix.first_index(), ix.last_index()), (1, 5));
    assert_eq!(
        (1..=6).map(|i| ix.term(i)).collect::<Vec<_>>(),
        [Some(1), Some(1), Some(1), Some(1), Some(2), None]
    );
    let a = ix.locate(3).unwrap();
    assert_eq!((a.offset, a.first, a.count), (64, 1, 3));
    let b = ix.locate(4).unwrap();
    assert_eq!((b.offset, b.first, b.count), (200, 4, 2));
    assert!(ix.locate(6).is_none() && ix.locate(0).is_none());
    assert_eq!(ix.term_runs(1, 6), [(1, 1), (5, 2)]);
    assert_eq!(ix.term_runs(5, 6), [(5, 2)]);
    assert_eq!(ix.batch_count(), 2);
    assert!(ix.heap_bytes() >= 2 * 8);
}

#[test]
fn truncation_inside_a_batch_keeps_its_head() {
    let fs = SimFs::new();
    let mut ix = two_batches(&fs);
    ix.truncate(2);
    assert_eq!(ix.last_index(), 1);
    let a = ix.locate(1).unwrap();
    assert_eq!((a.offset, a.count), (64, 1));
    assert_eq!((ix.term(1), ix.term(2)), (Some(1), None));
    // The log continues at 2 with a new term.
    ix.push(300, 2, 2, &[(2, 7)]);
    assert_eq!(
        (ix.term(2), ix.term(3), ix.last_index()),
        (Some(7), Some(7), 3)
    );
    assert_eq!(ix.locate(3).unwrap().offset, 300);
}

#[test]
fn truncation_below_the_start_empties_the_log_but_keeps_prev() {
    let fs = SimFs::new();
    let mut ix = two_batches(&fs);
    ix.compact(2, 1);
    ix.truncate(1);
    assert_eq!((ix.first_index(), ix.last_index()), (3, 2));
    assert_eq!(ix.term(2), Some(1));
    assert!(ix.locate(3).is_none());
}

#[test]
fn compaction_raises_the_start_and_keeps_its_term() {
    let fs = SimFs::new();
    let mut ix = two_batches(&fs);
    ix.compact(2, 1);
    assert_eq!((ix.first_index(), ix.last_index()), (3, 5));
    assert_eq!(ix.prev(), (2, Some(1)));
    assert_eq!(
        (ix.term(1), ix.term(2), ix.term(3)),
        (None, Some(1), Some(1))
    );
    // A partly compacted batch keeps its offset and counts only its live entries.
    let a = ix.locate(3).unwrap();
    assert_eq!((a.offset, a.first, a.count), (64, 3, 1));
    // Compacting below the start changes nothing.
    ix.compact(1, 1);
    assert_eq!(ix.first_index(), 3);
    // Compacting at or past the end empties the log after that point.
    ix.compact(9, 4);
    assert_eq!(
        (ix.first_index(), ix.last_index(), ix.term(9)),
        (10, 9, Some(4))
    );
}

#[test]
fn reset_drops_everything_and_restarts_after_its_index() {
    let fs = SimFs::new();
    let mut ix = two_batches(&fs);
    ix.reset(10, 4);
    assert_eq!((ix.first_index(), ix.last_index()), (11, 10));
    assert_eq!((ix.term(10), ix.term(5)), (Some(4), None));
    assert!(ix.locate(4).is_none());
    ix.push(400, 11, 1, &[(11, 4)]);
    assert_eq!(ix.locate(11).unwrap().offset, 400);
}

/// The runs of a map of index to term: (first index, term) at every change of term.
fn model_runs(model: &std::collections::BTreeMap<u64, u64>, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (&i, &t) in model.range(lo..hi.max(lo)) {
        if runs.last().map(|r| r.1) != Some(t) {
            runs.push((i, t));
        }
    }
    runs
}

#[test]
fn compaction_ending_at_a_term_change_leaves_no_stale_run() {
    let fs = SimFs::new();
    let mut ix = two_batches(&fs); // 1..=4 term 1, 5 term 2
    ix.compact(4, 1);
    assert_eq!(ix.term_runs(1, 6), [(5, 2)]);
    assert_eq!(ix.term_runs(5, 6), [(5, 2)]);
    assert_eq!((ix.term(4), ix.term(5)), (Some(1), Some(2)));
}

#[test]
fn term_runs_of_an_empty_range_or_past_the_end_are_empty() {
    let fs = SimFs::new();
    let ix = two_batches(&fs);
    assert_eq!(ix.term_runs(3, 3), []);
    assert_eq!(ix.term_runs(4, 2), []);
    assert_eq!(ix.term_runs(6, 9), []);
    assert_eq!(ix.term_runs(0, 2), [(1, 1)]);
    assert_eq!(ix.term_runs(2, 100), [(2, 1), (5, 2)]);
}

#[test]
fn popping_a_segment_that_ends_at_a_term_change_leaves_no_stale_run() {
    let fs = SimFs::new();
    let mut ix = LogIndex::new();
    ix.add_segment(segment(&fs, 0));
    ix.push(64, 1, 4, &[(1, 1)]);
    ix.add_segment(segment(&fs, 1));
    ix.push(64, 5, 2, &[(5, 2)]);
    ix.pop_front().unwrap();
    assert_eq!(ix.prev(), (4, Some(1)));
    assert_eq!(ix.term_runs(1, 7), [(5, 2)]);
}

#[test]
fn many_segments_pop_from_the_front() {
    let fs = SimFs::new();
    let mut ix = LogIndex::new();
    for seq in 0..4u64 {
        ix.add_segment(segment(&fs, seq));
        ix.push(64, seq * 10 + 1, 10, &[(seq * 10 + 1, seq + 1)]);
    }
    assert_eq!((ix.last_index(), ix.segments().len()), (40, 4));
    assert_eq!(ix.locate(25).unwrap().seg.id.seq, 2);
    let popped = ix.pop_front().unwrap();
    assert_eq!(popped.end(), 11);
    assert_eq!(ix.first_index(), 11);
    assert_eq!(ix.prev(), (10, Some(1)));
    assert_eq!(
        (ix.term(10), ix.term(11), ix.term(40)),
        (Some(1), Some(2), Some(4))
    );
    // Truncating into an earlier segment empties the later ones.
    ix.truncate(15);
    assert_eq!(ix.last_index(), 14);
    assert!(!ix.segments().back().unwrap().has_entries());
}

#[test]
fn an_unanchored_replay_is_pinned_by_its_first_batch_or_an_anchor() {
    let fs = SimFs::new();
    let mut ix = LogIndex::unanchored();
    assert!(!ix.is_anchored() && ix.is_soft());
    ix.add_segment(segment(&fs, 5));
    ix.push(64, 50, 2, &[(50, 3)]);
    assert!(ix.is_anchored() && ix.is_soft());
    assert_eq!((ix.first_index(), ix.prev()), (50, (49, None)));
    ix.learn_prev_term(49, 3);
    assert_eq!(ix.term(49), Some(3));
    // A batch starting above what was seen restarts the inferred view.
    ix.reanchor(59);
    assert_eq!((ix.first_index(), ix.last_index()), (60, 59));
    ix.harden();
    assert!(!ix.is_soft());

    let mut empty = LogIndex::unanchored();
    empty.anchor_at(7, Some(2));
    assert_eq!((empty.first_index(), empty.term(7)), (8, Some(2)));
}

/// What the property test does to the index and to the model.
#[derive(Debug, Clone)]
enum Step {
    /// Append `count` entries of `term` after the last (after truncating from `at`, if given).
    Push {
        at: Option<u8>,
        count: u8,
        term: u8,
    },
    Compact(u8),
    Cut,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (proptest::option::of(0u8..40), 1u8..6, 1u8..4)
            .prop_map(|(at, count, term)| Step::Push { at, count, term }),
        1 => (0u8..40).prop_map(Step::Compact),
        1 => Just(Step::Cut),
    ];
    proptest::collection::vec(step, 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_index_agrees_with_a_map_of_terms(steps in steps()) {
        let fs = SimFs::new();
        let mut ix = LogIndex::new();
        ix.add_segment(segment(&fs, 0));
        let mut model = std::collections::BTreeMap::<u64, u64>::new();
        let (mut first, mut prev_term, mut seq, mut term_floor) = (1u64, Some(0u64), 1u64, 0u64);
        for s in &steps {
            match *s {
                Step::Push { at, count, term } => {
                    let last = model.keys().next_back().copied().unwrap_or(first - 1);
                    let from = at.map_or(last + 1, |a| u64::from(a).clamp(first, last + 1));
                    // Terms never decrease along the log.
                    let t = term_floor.max(u64::from(term));
                    term_floor = t;
                    ix.truncate(from);
                    model.split_off(&from);
                    ix.push(from * 8, from, u32::from(count), &[(from, t)]);
                    for i in from..from + u64::from(count) {
                        model.insert(i, t);
                    }
                }
                Step::Compact(to) => {
                    let last = model.keys().next_back().copied().unwrap_or(first - 1);
                    let to = u64::from(to);
                    if to >= first && to < last {
                        let t = model[&to];
                        ix.compact(to, t);
                        model = model.split_off(&(to + 1));
                        first = to + 1;
                        prev_term = Some(t);
                    }
                }
                Step::Cut => {
                    ix.add_segment(segment(&fs, seq));
                    seq += 1;
                }
            }
            let last = model.keys().next_back().copied().unwrap_or(first - 1);
            prop_assert_eq!(ix.first_index(), first);
            prop_assert_eq!(ix.last_index(), last);
            prop_assert_eq!(ix.term(first - 1), prev_term);
            prop_assert_eq!(ix.term_runs(0, u64::MAX), model_runs(&model, 0, u64::MAX));
            for lo in first.saturating_sub(1)..=last + 1 {
                prop_assert_eq!(ix.term_runs(lo, lo + 3), model_runs(&model, lo, lo + 3), "runs at {}", lo);
            }
            for i in first..=last + 1 {
                prop_assert_eq!(ix.term(i), model.get(&i).copied(), "term of {}", i);
                let loc = ix.locate(i);
                prop_assert_eq!(loc.is_some(), i <= last, "locate {}", i);
                if let Some(l) = loc {
                    prop_assert!(l.first <= i && i < l.first + l.count);
                }
            }
        }
    }
}
