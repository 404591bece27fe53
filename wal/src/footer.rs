//! Sealing a segment: the footer (a `SegmentFooter` message framed like a batch) and the trailer
//! in the segment's last 32 bytes that points to it. Reopening reads these instead of the
//! segment's batches.

use prost::Message;

use crate::error::{Damage, Error, Result};
use crate::format::{
    align8, BatchHeader, Trailer, BATCH_HEADER_LEN, FOOTER_MAGIC, GROUP_ID, TRAILER_LEN,
};
use crate::index::SegIndex;
use crate::records::{LogState, SegmentFooter};
use crate::segment::Segment;

/// What the writer tracks about the active segment for its footer.
#[derive(Debug, Default, Clone)]
pub(crate) struct SegStats {
    pub had_reset: bool,
    /// Lowest index a batch overwrote from (0: none).
    pub truncate_from: u64,
    /// Batches and term runs written (upper bounds on what the footer lists).
    pub batches: u64,
    pub runs: u64,
}

/// An upper bound on the framed footer length, so writers can keep room for it.
pub(crate) fn footer_reserve(stats: &SegStats, state_len: usize) -> u64 {
    BATCH_HEADER_LEN as u64 + 8 + 96 + state_len as u64 + 22 * (stats.batches + stats.runs)
}

/// Builds the footer of the last segment of `idx`.
pub(crate) fn build(
    seg: &SegIndex,
    stats: &SegStats,
    state: &LogState,
    runs: Vec<(u64, u64)>,
) -> SegmentFooter {
    let (batch_first, batch_offset) = seg.batches().unzip();
    SegmentFooter {
        state: Some(state.clone()),
        had_reset: stats.had_reset,
        truncate_from: stats.truncate_from,
        batch_first,
        batch_offset,
        end_index: if seg.has_entries() { seg.end() } else { 0 },
        run_first: runs.iter().map(|r| r.0).collect(),
        run_term: runs.iter().map(|r| r.1).collect(),
    }
}

/// Writes footer and trailer at `pos` of `seg` (not synced).
pub(crate) fn write(seg: &Segment, pos: u64, footer: &SegmentFooter) -> Result<()> {
    let mut body = footer.encode_to_vec();
    let msg_len = body.len() as u32;
    body.resize(align8(body.len() as u64) as usize, 0);
    let header = BatchHeader {
        magic: FOOTER_MAGIC,
        first_index: seg.id.first_index,
        count: msg_len,
        body_len: body.len() as u32,
        body_crc: crc32fast::hash(&body),
        group: GROUP_ID,
    };
    let mut frame = vec![0u8; BATCH_HEADER_LEN];
    header.encode(&seg.id, &mut frame);
    frame.extend_from_slice(&body);
    if pos + frame.len() as u64 > seg.write_limit() {
        return Err(Error::InvalidBatch(format!(
            "footer of {} bytes does not fit",
            frame.len()
        )));
    }
    let io = |e| Error::io("write", &seg.path, e);
    seg.file.write_at(&frame, pos).map_err(io)?;
    let trailer = Trailer {
        footer_offset: pos,
        footer_len: frame.len() as u64,
    };
    seg.file
        .write_at(&trailer.encode(&seg.id), seg.size - TRAILER_LEN)
        .map_err(io)?;
    Ok(())
}

/// Reads the seal of `seg`: `Ok(None)` if the segment has no valid trailer (it is not sealed).
pub(crate) fn read(seg: &Segment) -> Result<Option<SegmentFooter>> {
    if seg.size < TRAILER_LEN {
        return Ok(None);
    }
    let t = seg.read(seg.size - TRAILER_LEN, TRAILER_LEN)?;
    let Some(trailer) = Trailer::decode(&seg.id, &t) else {
        return Ok(None);
    };
    let bad = |d| Error::corrupt(&seg.path, trailer.footer_offset, d);
    if trailer.footer_len < BATCH_HEADER_LEN as u64
        || trailer
            .footer_offset
            .checked_add(trailer.footer_len)
            .is_none_or(|e| e > seg.write_limit())
    {
        return Err(bad(Damage::BadSeal));
    }
    let frame = seg.read(trailer.footer_offset, trailer.footer_len)?;
    let h = match BatchHeader::decode(&seg.id, &frame) {
        Ok(Some(h))
            if h.magic == FOOTER_MAGIC
                && h.total_len() == trailer.footer_len
                && h.count <= h.body_len =>
        {
            h
        }
        _ => return Err(bad(Damage::BadSeal)),
    };
    let body = &frame[BATCH_HEADER_LEN..];
    let computed = crc32fast::hash(body);
    if computed != h.body_crc {
        return Err(bad(Damage::BodyChecksum {
            stored: h.body_crc,
            computed,
        }));
    }
    let f = SegmentFooter::decode(&body[..h.count as usize])
        .map_err(|_| bad(Damage::BadMessage("footer")))?;
    if f.batch_first.len() != f.batch_offset.len() || f.run_first.len() != f.run_term.len() {
        return Err(bad(Damage::BadMessage("footer arrays of unequal length")));
    }
    Ok(Some(f))
}
