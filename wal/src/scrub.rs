//! Scrubbing: verifying the sealed segments' bytes while the log is in use, so that damage in
//! cold data is found before a read needs it.
//!
//! Opening reads a sealed segment's seal, not its batches (fast reopen); a bit that rots in
//! the middle of one is otherwise found only when that entry is read. [`Wal::scrub_step`]
//! walks the sealed segments in sequence order, a bounded number of bytes per call, and checks
//! what opening would have checked had it read everything: each batch's header and body
//! checksums (bound to the segment's sequence and salt), that its body decodes, that the seal
//! checks out, and that every batch the seal lists (the ones holding live entries) is found at
//! the offset it gives, with the first index it gives. The caller paces the calls (stele-storage's
//! scrubber holds a rate in bytes per second).
//!
//! Invariants:
//! - the WAL lock is held only to pick the next segment, never while reading;
//! - only sealed segments whose cut is complete are scrubbed (a pending one is skipped until a
//!   sync completes it), and their bytes never change while they are in the log;
//! - a segment purged while it is being scrubbed is never rewritten under the scrub (a cut
//!   reuses only recycled files no reader holds, and the cursor holds the segment), and damage
//!   is reported only if the segment is still in the log after the read that found it: what
//!   left the log is no longer the log's problem;
//! - damage is returned as [`Error::Corrupt`] naming the file and byte offset; the WAL is not
//!   poisoned (its writes are unaffected), the caller decides what to do.

use std::sync::Arc;

use crate::batch::decode_body;
use crate::error::{Damage, Error, Result};
use crate::footer;
use crate::format::SEGMENT_HEADER_LEN;
use crate::records::SegmentFooter;
use crate::segment::Segment;
use crate::wal::Wal;

/// Where a scrub of the WAL's sealed segments stands: pass it to every
/// [`Wal::scrub_step`]. A new cursor starts at the oldest sealed segment.
#[derive(Debug, Default)]
pub struct ScrubCursor {
    /// The lowest segment sequence number not yet verified in this pass.
    next_seq: u64,
    current: Option<InSegment>,
}

/// The segment being verified.
#[derive(Debug)]
struct InSegment {
    seg: Arc<Segment>,
    footer: SegmentFooter,
    /// Offset of the next batch, and how many of the batches the seal lists were found
    /// before it.
    pos: u64,
    listed: usize,
}

/// What one [`Wal::scrub_step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrubStep {
    /// Bytes of batches verified.
    pub bytes: u64,
    /// Segments whose verification finished in this step.
    pub segments: u64,
    /// True if this step finished a pass over every sealed segment (the cursor starts the next
    /// pass at the oldest one).
    pub pass_done: bool,
}

impl Wal {
    /// Verifies sealed segments from `cursor` on, until about `budget` bytes of batches were
    /// read (at least one batch), a pass ends, or damage is found (see the module docs). An
    /// [`Error::Corrupt`] names the segment file and the byte offset of the damage.
    pub fn scrub_step(&self, cursor: &mut ScrubCursor, budget: u64) -> Result<ScrubStep> {
        let mut step = ScrubStep::default();
        while step.bytes < budget.max(1) {
            if cursor.current.is_none() {
                match self.next_to_scrub(cursor.next_seq)? {
                    Some(seg) => cursor.current = Some(begin(seg)?),
                    None => {
                        cursor.next_seq = 0;
                        step.pass_done = true;
                        return Ok(step);
                    }
                }
            }
            let cur = cursor.current.as_mut().expect("set above");
            match self.verify_some(cur, budget.saturating_sub(step.bytes)) {
                Ok((bytes, done)) => {
                    step.bytes += bytes;
                    if done {
                        cursor.next_seq = cur.seg.id.seq + 1;
                        cursor.current = None;
                        step.segments += 1;
                    }
                }
                Err(e) => {
                    let seq = cur.seg.id.seq;
                    let gone = !self.holds(&cur.seg);
                    cursor.current = None;
                    cursor.next_seq = seq + 1;
                    if !gone {
                        return Err(e);
                    }
                }
            }
        }
        Ok(step)
    }

    /// The oldest sealed, completed segment numbered `seq` or above.
    fn next_to_scrub(&self, seq: u64) -> Result<Option<Arc<Segment>>> {
        let inner = self.live()?;
        let found = inner
            .index
            .segments()
            .iter()
            .map(|s| &s.seg)
            .filter(|s| s.id.seq >= seq && s.is_sealed() && !Wal::is_pending(&inner, s))
            .min_by_key(|s| s.id.seq)
            .cloned();
        Ok(found)
    }

    /// True if `seg` is still one of the log's segments.
    fn holds(&self, seg: &Arc<Segment>) -> bool {
        let inner = self.lock_inner();
        inner
            .index
            .segments()
            .iter()
            .any(|s| Arc::ptr_eq(&s.seg, seg))
    }

    /// Verifies batches of `cur` until `budget` bytes were read; returns the bytes and whether
    /// the segment is done (its end checked against its seal).
    fn verify_some(&self, cur: &mut InSegment, budget: u64) -> Result<(u64, bool)> {
        let seg = &cur.seg;
        let mut bytes = 0;
        loop {
            let at = cur.pos;
            let (h, raw) = match seg.try_read_batch(at)? {
                Ok(Some(found)) => found,
                Ok(None) => return finish(cur).map(|()| (bytes, true)),
                Err(d) => return Err(Error::corrupt(&seg.path, at, d)),
            };
            if let Err(d) = decode_body(&raw, h.first_index, h.count) {
                return Err(Error::corrupt(&seg.path, at, d));
            }
            // The seal lists the batches holding live entries, in file order; batches of
            // state only, or overwritten within the segment, are not listed.
            if cur.footer.batch_offset.get(cur.listed) == Some(&at) {
                if cur.footer.batch_first.get(cur.listed) != Some(&h.first_index) {
                    return Err(Error::corrupt(
                        &seg.path,
                        at,
                        Damage::BadMessage("a batch's first index differs from its seal's"),
                    ));
                }
                cur.listed += 1;
            }
            cur.pos = at + h.total_len();
            bytes += h.total_len();
            if bytes >= budget {
                return Ok((bytes, false));
            }
        }
    }
}

/// Starts verifying `seg`: its seal first (it says which batches to expect).
fn begin(seg: Arc<Segment>) -> Result<InSegment> {
    let footer = match footer::read(&seg)? {
        Some(f) => f,
        None => {
            let at = seg.size.saturating_sub(crate::format::TRAILER_LEN);
            return Err(Error::corrupt(&seg.path, at, Damage::BadSeal));
        }
    };
    Ok(InSegment {
        seg,
        footer,
        pos: SEGMENT_HEADER_LEN,
        listed: 0,
    })
}

/// At the end of `cur`'s batches: every batch its seal lists was found, in order.
fn finish(cur: &InSegment) -> Result<()> {
    if cur.listed != cur.footer.batch_offset.len() {
        return Err(Error::corrupt(
            &cur.seg.path,
            cur.pos,
            Damage::BadMessage("the batches end before the last one the segment's seal lists"),
        ));
    }
    Ok(())
}
