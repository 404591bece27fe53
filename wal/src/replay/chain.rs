//! Replaying segments and batches into the in-memory log, with the rules both opening and
//! inspection apply.
//!
//! Rules, each a finding (an error under [`Policy::Strict`]):
//! - each segment's first index continues the log replayed so far ([`Damage::IndexGap`]);
//! - a segment's first batch is its head batch: the cumulative state at the cut, at the
//!   segment's first index; a state record appears nowhere else ([`Damage::Misplaced`]);
//! - every batch continues or overwrites the log as the writer's rules allow (`apply.rs`).
//!
//! Anchoring: a log whose oldest segments were purged starts "soft": until an entry or a reset
//! pins it, where the log starts is inferred from segment names and batch first indices, and a
//! batch that overwrites below or starts above what was seen restarts the view there (what it
//! overwrote lived in purged segments). [`Chain::finish`] fixes the start.
//!
//! Under [`Policy::Report`], a broken rule restarts the view of the log at the offending batch
//! or segment and the replay carries on, so the rest of the log can still be read.

use std::sync::Arc;

use crate::apply::apply;
use crate::batch::{decode_body, Body};
use crate::error::Damage;
use crate::footer::SegStats;
use crate::format::{BatchHeader, SEGMENT_HEADER_LEN};
use crate::index::LogIndex;
use crate::records::LogState;
use crate::replay::Policy;
use crate::segment::Segment;

/// A broken rule found while replaying.
#[derive(Debug)]
pub(crate) struct Finding {
    /// What is wrong.
    pub damage: Damage,
    /// True if the view of the log restarted here (under [`Policy::Report`]).
    pub restarted: bool,
}

/// The log being rebuilt.
#[derive(Debug)]
pub(crate) struct Chain {
    /// The index of live batches.
    pub index: LogIndex,
    /// The cumulative state.
    pub state: LogState,
    policy: Policy,
    /// Segments entered so far.
    entered: usize,
    /// The first index of the oldest segment, from its name.
    oldest_first: Option<u64>,
}

impl Chain {
    /// A replay of segments whose oldest has sequence number `first_seq` (`None`: there are
    /// none). A log whose segment 0 is gone starts unanchored.
    pub fn new(policy: Policy, first_seq: Option<u64>) -> Self {
        let index = match first_seq {
            None | Some(0) => LogIndex::new(),
            Some(_) => LogIndex::unanchored(),
        };
        Chain {
            index,
            state: LogState::default(),
            policy,
            entered: 0,
            oldest_first: None,
        }
    }

    /// A replay of the one segment with sequence number `seq`, starting from `state`: how
    /// inspection reads the batches of a sealed segment to check them against the seal, while
    /// the log itself is rebuilt from the seal, as opening does.
    pub fn scratch(seq: u64, state: LogState) -> Self {
        Chain {
            state,
            ..Chain::new(Policy::Report, Some(seq))
        }
    }

    /// Enters the next segment. `Err` if its first index does not continue the log; under
    /// [`Policy::Report`] the view has then restarted before it. Either way it is indexed.
    pub fn enter(&mut self, seg: &Arc<Segment>) -> Result<(), Finding> {
        let first = seg.id.first_index;
        let idx = &mut self.index;
        if idx.is_soft()
            && idx.last_index() + 1 != first
            && (!idx.is_anchored() || idx.last_index() < idx.first_index())
        {
            // Replay began after purged segments and has no entry yet to pin the start; the
            // name records where the log stood when this segment was cut.
            idx.reanchor(first - 1);
        }
        let mut result = Ok(());
        if self.entered > 0 && idx.last_index() + 1 != first {
            let damage = Damage::IndexGap {
                expected: idx.last_index() + 1,
                found: first,
            };
            let restarted = self.policy == Policy::Report;
            if restarted {
                idx.reanchor(first - 1);
            }
            result = Err(Finding { damage, restarted });
        }
        self.oldest_first.get_or_insert(first);
        self.entered += 1;
        idx.add_segment(seg.clone());
        result
    }

    /// Replays the decoded batch at `offset` of the segment entered last, calling `found` for
    /// each broken rule. Under [`Policy::Strict`] the first broken rule is returned instead and
    /// nothing of the batch is applied after it.
    #[allow(clippy::too_many_arguments)]
    pub fn batch(
        &mut self,
        seg: &Segment,
        offset: u64,
        h: &BatchHeader,
        raw: &[u8],
        body: Body,
        stats: &mut SegStats,
        found: &mut dyn FnMut(Finding),
    ) -> Result<(), Damage> {
        let strict = self.policy == Policy::Strict;
        let is_head = offset == SEGMENT_HEADER_LEN;
        let misplaced = if is_head && (body.state.is_none() || h.first_index != seg.id.first_index)
        {
            Some("the segment does not start with its head batch (the state at the cut)")
        } else if !is_head && body.state.is_some() {
            Some("a state record outside the head batch")
        } else {
            None
        };
        if let Some(what) = misplaced {
            let damage = Damage::Misplaced(what);
            if strict {
                return Err(damage);
            }
            found(Finding {
                damage,
                restarted: false,
            });
        }
        let (index, state) = (&mut self.index, &mut self.state);
        let Err(damage) = apply(index, state, stats, offset, h.first_index, body) else {
            return Ok(());
        };
        if strict {
            return Err(damage);
        }
        found(Finding {
            damage,
            restarted: true,
        });
        index.reanchor(h.first_index - 1);
        if let Ok(again) = decode_body(raw, h.first_index, h.count) {
            // After the restart the batch continues the log, so this cannot fail again; if it
            // did, the finding above already says the view is broken here.
            let _ = apply(index, state, stats, offset, h.first_index, again);
        }
        Ok(())
    }

    /// Leaves the segment entered last: its cumulative state may name the term of the entry
    /// before the log's first.
    pub fn leave(&mut self) {
        if let Some(s) = self.state.start {
            self.index.learn_prev_term(s.index, s.term);
        }
    }

    /// Ends the replay: a log with no surviving entry starts where its oldest segment was cut,
    /// and from now on the start is fixed.
    pub fn finish(mut self) -> (LogIndex, LogState) {
        if let (false, Some(first)) = (self.index.is_anchored(), self.oldest_first) {
            let prev = first - 1;
            let term = self.state.start.filter(|s| s.index == prev).map(|s| s.term);
            self.index.anchor_at(prev, term);
        }
        self.index.harden();
        (self.index, self.state)
    }
}
