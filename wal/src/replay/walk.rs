//! Walking the batches of one segment in file order, and telling a clean end, a torn tail and
//! damage in the middle of the log apart.
//!
//! Every write is followed by a 32-byte zero end marker, so the batches end at a zero header (a
//! clean end), at the end of the usable area, or at damage. A batch's first write can only tear
//! the batch itself, so damage with nothing valid after it is a torn tail. To tell, the walk then
//! searches the rest of the segment, at every 8-byte offset, for a valid batch of this segment
//! (bound by its checksum to this segment's seq and salt): finding one means bytes in the middle
//! of the log were damaged or zeroed, which is never truncated away.
//!
//! Two kinds of damage with nothing after them are still not torn writes: damage in a sealed
//! segment (it was synced whole before its seal), and damage of a segment's head batch (it is
//! written and synced before the file gets its segment name). A batch that checksums but does
//! not decode is damage like any other.

use crate::batch::{decode_body, Body};
use crate::error::{Damage, Error, Result};
use crate::format::{BatchHeader, BATCH_HEADER_LEN, BATCH_MAGIC, SEGMENT_HEADER_LEN};
use crate::replay::Policy;
use crate::segment::Segment;

/// What the walk hands to its caller.
pub(crate) trait Visitor {
    /// A valid, decoded batch at `offset` (`raw` is its body as stored). Returns `false` to stop
    /// the walk; an error stops it too and is returned.
    fn batch(&mut self, offset: u64, header: &BatchHeader, raw: &[u8], body: Body) -> Result<bool>;

    /// Under [`Policy::Report`]: damage at `at` (`None`: zeroed bytes where a batch should be),
    /// with a valid batch at `valid_at`, where the walk carries on.
    fn skipped(&mut self, at: u64, damage: Option<Damage>, valid_at: u64);
}

/// How the batches of a segment end.
#[derive(Debug)]
pub(crate) enum End {
    /// A zero end marker, a footer, or the end of the usable area at this offset.
    Clean(u64),
    /// A torn last write at this offset: damage with nothing valid after it, where a write can
    /// tear.
    Torn(u64, Damage),
    /// Under [`Policy::Report`]: damage with nothing valid after it where no write can tear
    /// (under [`Policy::Strict`] it is an error).
    Damaged(u64, Damage),
    /// The visitor stopped the walk before this offset.
    Stopped(u64),
}

impl End {
    /// Where the batches end.
    pub fn offset(&self) -> u64 {
        match self {
            End::Clean(o) | End::Torn(o, _) | End::Damaged(o, _) | End::Stopped(o) => *o,
        }
    }
}

/// Walks the batches of `seg` from its head (see the module docs).
pub(crate) fn walk_batches(seg: &Segment, policy: Policy, v: &mut dyn Visitor) -> Result<End> {
    let mut pos = SEGMENT_HEADER_LEN;
    loop {
        let damage = loop {
            let (h, raw) = match seg.try_read_batch(pos)? {
                Ok(Some(found)) => found,
                Ok(None) => break None,
                Err(d) => break Some(d),
            };
            let body = match decode_body(&raw, h.first_index, h.count) {
                Ok(body) => body,
                Err(d) => break Some(d),
            };
            if !v.batch(pos, &h, &raw, body)? {
                return Ok(End::Stopped(pos));
            }
            pos += h.total_len();
        };
        if let Some(valid_at) = find_valid_batch(seg, pos + 8)? {
            if policy == Policy::Strict {
                let first = Box::new(damage.unwrap_or(Damage::MissingBatch));
                let damage = Damage::DamageBeforeValid { valid_at, first };
                return Err(Error::corrupt(&seg.path, pos, damage));
            }
            v.skipped(pos, damage, valid_at);
            pos = valid_at;
            continue;
        }
        return Ok(match damage {
            None => End::Clean(pos),
            Some(d) if can_tear(seg, pos) => End::Torn(pos, d),
            Some(d) if policy == Policy::Strict => return Err(Error::corrupt(&seg.path, pos, d)),
            Some(d) => End::Damaged(pos, d),
        });
    }
}

/// True if a crash during a write can have left damage at `at` of `seg`.
pub(crate) fn can_tear(seg: &Segment, at: u64) -> bool {
    !seg.is_sealed() && at != SEGMENT_HEADER_LEN
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
