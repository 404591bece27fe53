//! Applying a batch's effects to the in-memory log, shared by replay (open) and the writer, so
//! that what a restart rebuilds is by construction what the running log held.
//!
//! Order within a batch: a reset or compaction first, then truncation of the log at the batch's
//! first index (the raft conflict rule), then the entries, then the metadata.

use crate::batch::{Batch, Body};
use crate::error::{Damage, Error, Result};
use crate::footer::SegStats;
use crate::format::kind;
use crate::index::LogIndex;
use crate::records::LogState;

/// Applies a decoded batch at `offset` of the last segment.
pub(crate) fn apply(
    index: &mut LogIndex,
    state: &mut LogState,
    stats: &mut SegStats,
    offset: u64,
    first_index: u64,
    body: Body,
) -> std::result::Result<(), Damage> {
    if let Some(st) = body.state {
        *state = st;
        return Ok(());
    }
    if let Some((k, s)) = body.start {
        if k == kind::RESET {
            index.reset(s.index, s.term);
            stats.had_reset = true;
            state.start = Some(s);
        } else {
            index.compact(s.index, s.term);
            // A compaction below the current start is a no-op and must not move it back.
            if state.start.is_none_or(|old| s.index > old.index) {
                state.start = Some(s);
            }
        }
    }
    if index.is_soft() && (body.count > 0 || first_index <= index.last_index()) {
        let (first, last) = (index.first_index(), index.last_index());
        if index.is_anchored() && first_index < first || first_index > last + 1 {
            // Replay began after purged segments: what this batch overwrote, or what lies
            // between, lived in them.
            index.reanchor(first_index - 1);
        }
    }
    if index.is_anchored() {
        let last = index.last_index();
        if first_index > last + 1 {
            return Err(Damage::IndexGap {
                expected: last + 1,
                found: first_index,
            });
        }
        if first_index < index.first_index() && (body.count > 0 || first_index <= last) {
            return Err(Damage::BelowStart {
                first: index.first_index(),
                found: first_index,
            });
        }
        if first_index <= last {
            index.truncate(first_index);
            stats.truncate_from = match stats.truncate_from {
                0 => first_index,
                t => t.min(first_index),
            };
        }
    }
    if body.count > 0 {
        index.push(offset, first_index, body.count, &body.terms);
        stats.batches += 1;
        stats.runs += body.terms.len() as u64;
    }
    if let Some(hs) = body.hard_state {
        state.hard_state = Some(hs);
    }
    if let Some(cs) = body.conf_state {
        state.conf_state = Some(cs);
    }
    for m in body.markers {
        state.push_marker(m);
    }
    Ok(())
}

/// Checks `batch` against the log before it is written; returns its resolved first index.
pub(crate) fn check(index: &LogIndex, batch: &Batch) -> Result<u64> {
    let (mut first_live, mut last) = (index.first_index(), index.last_index());
    match batch.start {
        Some((k, s)) if k == kind::RESET => {
            first_live = s.index + 1;
            last = s.index;
        }
        Some((_, s)) => {
            if s.index > last {
                return Err(Error::InvalidBatch(format!(
                    "cannot compact to {} beyond the last index {last}",
                    s.index
                )));
            }
            first_live = first_live.max(s.index + 1);
            if s.index == last {
                last = s.index;
            }
        }
        None => {}
    }
    let first = batch.first_index.unwrap_or(last + 1);
    if first > last + 1 {
        return Err(Error::InvalidBatch(format!(
            "batch starts at {first}, leaving a gap after the last index {last}"
        )));
    }
    if first < first_live {
        return Err(Error::InvalidBatch(format!(
            "batch starts at {first}, overwriting entries below the first index {first_live}"
        )));
    }
    Ok(first)
}

/// The effects of a written batch, in the form replay decodes them; moves them out of the batch
/// (it is not needed after its bytes are written), so appending copies no metadata.
pub(crate) fn take_body(batch: &mut Batch) -> Body {
    Body {
        start: batch.start,
        terms: std::mem::take(&mut batch.term_runs),
        count: batch.count,
        hard_state: batch.hard_state,
        conf_state: batch.conf_state.take(),
        markers: std::mem::take(&mut batch.markers),
        state: None,
    }
}
