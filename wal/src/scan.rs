//! Scanning the active (last, unsealed) segment on open, and telling a torn tail from
//! corruption.
//!
//! Every write is followed by a 32-byte zero end marker, so the scan ends at a zero header (a
//! clean end), at the end of the usable area, or at damage. A batch's first write can only tear
//! the batch itself, so damage with nothing valid after it is a torn tail. To tell, the scan then
//! searches the rest of the segment, at every 8-byte offset, for a valid batch of this segment
//! (bound by its checksum to this segment's seq and salt): finding one means bytes in the middle
//! of the log were damaged or zeroed, which is never truncated away.

use crate::batch::{decode_body, Body};
use crate::error::{Damage, Result};
use crate::format::{BatchHeader, BATCH_HEADER_LEN, BATCH_MAGIC, SEGMENT_HEADER_LEN};
use crate::segment::Segment;

/// How the scan of a segment ended.
#[derive(Debug)]
pub(crate) enum ScanEnd {
    /// A zero end marker, a footer, or the end of the usable area at this offset.
    Clean(u64),
    /// Damage at this offset.
    Damaged(u64, Damage),
}

impl ScanEnd {
    pub fn offset(&self) -> u64 {
        match self {
            ScanEnd::Clean(o) | ScanEnd::Damaged(o, _) => *o,
        }
    }
}

/// Reads the batches of `seg` in order from its head, calling `f(offset, header, body)` for each
/// valid one, until the end or the first damage.
pub(crate) fn scan_batches(
    seg: &Segment,
    mut f: impl FnMut(u64, &BatchHeader, Body) -> Result<()>,
) -> Result<ScanEnd> {
    let mut pos = SEGMENT_HEADER_LEN;
    loop {
        let (h, body) = match seg.try_read_batch(pos)? {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(ScanEnd::Clean(pos)),
            Err(d) => return Ok(ScanEnd::Damaged(pos, d)),
        };
        let decoded = match decode_body(&body, h.first_index, h.count) {
            Ok(b) => b,
            Err(d) => return Ok(ScanEnd::Damaged(pos, d)),
        };
        f(pos, &h, decoded)?;
        pos += h.total_len();
    }
}

/// Searches `[from, data_limit)` at every 8-byte offset for a batch that validates for this
/// segment (header checksum, bounds and body checksum). Returns its offset.
pub(crate) fn find_valid_batch(seg: &Segment, from: u64) -> Result<Option<u64>> {
    const CHUNK: u64 = 1 << 20;
    let limit = seg.data_limit();
    let mut chunk_start = from;
    while chunk_start + BATCH_HEADER_LEN as u64 <= limit {
        let len = (CHUNK + BATCH_HEADER_LEN as u64).min(limit - chunk_start);
        let buf = seg.read(chunk_start, len)?;
        if is_zero(&buf) {
            // The common case: the preallocated, zero-filled tail of the active segment.
            chunk_start += CHUNK;
            continue;
        }
        let mut at = 0usize;
        while at + BATCH_HEADER_LEN <= buf.len() && (at as u64) < CHUNK {
            let magic = u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
            if magic == BATCH_MAGIC && BatchHeader::decode(&seg.id, &buf[at..]).is_ok() {
                let off = chunk_start + at as u64;
                if matches!(seg.try_read_batch(off)?, Ok(Some(_))) {
                    return Ok(Some(off));
                }
            }
            at += 8;
        }
        chunk_start += CHUNK;
    }
    Ok(None)
}

/// True if every byte is zero. Folds 4 KiB blocks without early exit inside a block, so the
/// compiler vectorizes it; stops at the first non-zero block.
pub(crate) fn is_zero(bytes: &[u8]) -> bool {
    bytes
        .chunks(4096)
        .all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0)
}
