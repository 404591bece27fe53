//! Opening one segment file: its size and header are checked against its name before anything
//! in it is read.
//!
//! Rules, each a [`Error::Corrupt`] naming the file and offset:
//! - the file holds at least a header and a trailer, and at most [`MAX_SEGMENT_SIZE`] bytes
//!   (offsets inside a segment are 32-bit);
//! - the header decodes (magic, version, checksum);
//! - its sequence number and first index are those of the name;
//! - the first index is in `[1, MAX_INDEX)`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Damage, Error, Result};
use crate::format::{SegmentId, MAX_INDEX, MAX_SEGMENT_SIZE, SEGMENT_HEADER_LEN, TRAILER_LEN};
use crate::fs::FileHandle;
use crate::segment::Segment;

/// Byte offset of the first index inside the segment header.
const FIRST_INDEX_AT: u64 = 24;

/// Checks the file behind `file` (named `path`, whose name says `seq` and `first`) and wraps it
/// as a [`Segment`].
pub(crate) fn open_segment(
    file: Arc<dyn FileHandle>,
    path: PathBuf,
    seq: u64,
    first: u64,
) -> Result<Segment> {
    let size = file.len().map_err(|e| Error::io("stat", &path, e))?;
    if size < SEGMENT_HEADER_LEN + TRAILER_LEN {
        let damage = Damage::BadHeader("the file is shorter than a segment header and trailer");
        return Err(Error::corrupt(&path, size, damage));
    }
    if size > MAX_SEGMENT_SIZE {
        let damage = Damage::BadHeader("the file is larger than 4 GiB, the largest segment");
        return Err(Error::corrupt(&path, 0, damage));
    }
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_at(&mut h, 0)
        .map_err(|e| Error::io("read", &path, e))?;
    let id = SegmentId::decode_header(&h).map_err(|d| Error::corrupt(&path, 0, d))?;
    if id.seq != seq || id.first_index != first {
        let damage = Damage::NameMismatch {
            header_seq: id.seq,
            header_first: id.first_index,
            name_seq: seq,
            name_first: first,
        };
        return Err(Error::corrupt(&path, 0, damage));
    }
    if id.first_index == 0 || id.first_index >= MAX_INDEX {
        let damage = Damage::BadHeader("first index out of range");
        return Err(Error::corrupt(&path, FIRST_INDEX_AT, damage));
    }
    Ok(Segment::new(id, path, file, size))
}
