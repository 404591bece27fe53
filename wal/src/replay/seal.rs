//! Opening's fast path for a sealed segment: its index entries and the cumulative state at its
//! end are rebuilt from its seal, without reading its batches.
//!
//! Every number in a footer is bounded before it is used (offsets inside the file, indices in
//! range, batch starts ascending, entries per segment countable in 32 bits), so a damaged or
//! hostile seal is an error, never a panic or an allocation sized by the file.

use crate::error::Damage;
use crate::format;
use crate::records::SegmentFooter;
use crate::replay::chain::Chain;

/// Rebuilds the index entries of a sealed segment from its footer.
pub(crate) fn apply_seal(chain: &mut Chain, f: &SegmentFooter, size: u64) -> Result<(), Damage> {
    check_footer(f, size)?;
    let (index, state) = (&mut chain.index, &mut chain.state);
    let start = f.state.as_ref().and_then(|s| s.start);
    if let (true, Some(s)) = (f.had_reset, start) {
        index.reset(s.index, s.term);
    } else if index.is_anchored() {
        if f.truncate_from > 0 && index.is_soft() && f.truncate_from < index.first_index() {
            index.reanchor(f.truncate_from - 1);
        } else if f.truncate_from > 0 {
            index.truncate(f.truncate_from);
        }
        if let Some(s) = start.filter(|s| s.index > index.prev().0) {
            index.compact(s.index, s.term);
        }
    }
    let n = f.batch_first.len();
    for i in 0..n {
        let first = f.batch_first[i];
        let next = if i + 1 < n {
            f.batch_first[i + 1]
        } else {
            f.end_index
        };
        let count = next
            .checked_sub(first)
            .filter(|&c| c > 0 && c <= u64::from(u32::MAX));
        let count = count.ok_or(Damage::BadMessage("footer batch ranges"))?;
        if index.is_soft() && first != index.last_index() + 1 {
            index.reanchor(first - 1);
        }
        if index.is_anchored() && first != index.last_index() + 1 {
            return Err(Damage::IndexGap {
                expected: index.last_index() + 1,
                found: first,
            });
        }
        let runs: Vec<(u64, u64)> = runs_within(f, first, next);
        if runs.first().map(|r| r.0) != Some(first) {
            return Err(Damage::BadMessage("footer term runs do not cover a batch"));
        }
        index.push(f.batch_offset[i], first, count as u32, &runs);
    }
    if let Some(s) = &f.state {
        *state = s.clone();
    }
    Ok(())
}

/// Bounds every number in a footer before it is used: offsets inside the file, indices in range,
/// batch starts ascending, entries per segment countable in 32 bits.
fn check_footer(f: &SegmentFooter, size: u64) -> Result<(), Damage> {
    let bad = |what| Err(Damage::BadMessage(what));
    if f.batch_offset.iter().any(|&o| o >= size) {
        return bad("footer batch offset outside the segment");
    }
    if f.batch_first.first() == Some(&0) || f.run_first.first() == Some(&0) {
        return bad("footer index 0");
    }
    if f.batch_first.windows(2).any(|w| w[0] >= w[1]) || f.run_first.windows(2).any(|w| w[0] > w[1])
    {
        return bad("footer indices not ascending");
    }
    let max = [f.end_index, f.truncate_from]
        .into_iter()
        .chain(f.batch_first.iter().copied());
    if max
        .chain(f.run_first.iter().copied())
        .any(|i| i >= format::MAX_INDEX)
    {
        return bad("footer index out of range");
    }
    if let (Some(&first), Some(&last)) = (f.batch_first.first(), f.batch_first.last()) {
        if f.end_index <= last || f.end_index - first > u64::from(u32::MAX) {
            return bad("footer batch ranges");
        }
    }
    if f.state
        .as_ref()
        .and_then(|s| s.start)
        .is_some_and(|s| s.index >= format::MAX_INDEX)
    {
        return bad("footer start index out of range");
    }
    Ok(())
}

fn runs_within(f: &SegmentFooter, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let start = f.run_first.partition_point(|&r| r <= lo).saturating_sub(1);
    (start..f.run_first.len())
        .take_while(|&i| f.run_first[i] < hi)
        .map(|i| (f.run_first[i].max(lo), f.run_term[i]))
        .collect()
}
