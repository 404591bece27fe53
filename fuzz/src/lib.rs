//! Shared helpers of the fuzz targets: reading structure out of the fuzzer's bytes and laying
//! it out as a stele data directory (segments with valid names, and, on request, valid
//! checksums, so mutations reach the decoders behind them).
//!
//! Directory input, a sequence of chunks until the bytes run out:
//! `kind u8 | [index u64 | term u64, snapshots only] | len u32 LE | len bytes` (a short tail is
//! what is left). `kind & 3`: 0 a WAL segment as is, 1 a WAL segment with its checksums fixed
//! up, 2 a snapshot file, 3 a WAL segment (the bytes up to its footer) followed by
//! `flen u32 | flen bytes`, a footer message: the segment is sealed with it, checksums valid
//! (see [`seal_segment`]). At most [`MAX_FILES`] files.

use std::fs;
use std::path::Path;

use stele_wal::format::{
    align8, parse_segment_name, segment_name, BatchHeader, SegmentId, Trailer, BATCH_HEADER_LEN,
    BATCH_MAGIC, FOOTER_MAGIC, GROUP_ID, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, TRAILER_LEN,
    TRAILER_MAGIC,
};

/// Most files one input makes.
pub const MAX_FILES: usize = 8;

/// A cursor over the fuzzer's bytes; reads past the end yield zeros / short slices.
#[derive(Debug)]
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    /// A little-endian u32 (missing bytes are 0).
    pub fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let t = self.take(4);
        b[..t.len()].copy_from_slice(t);
        u32::from_le_bytes(b)
    }
    /// A little-endian u64 (missing bytes are 0).
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let t = self.take(8);
        b[..t.len()].copy_from_slice(t);
        u64::from_le_bytes(b)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The identity a segment's header claims, if it has a well-formed one (checksum not checked).
fn header_id(seg: &[u8]) -> Option<SegmentId> {
    if seg.len() < SEGMENT_HEADER_LEN as usize || seg[0..8] != SEGMENT_MAGIC {
        return None;
    }
    let u64_at = |at: usize| u64::from_le_bytes(seg[at..at + 8].try_into().unwrap());
    Some(SegmentId {
        seq: u64_at(16),
        first_index: u64_at(24),
        salt: u64_at(32),
    })
}

/// Recomputes every checksum of a segment in place: its header's, and each batch or footer
/// frame's (header and body) that lies inside the file, walking frames from offset 64 until
/// zeros or a frame that does not fit; and the trailer's, if the last 32 bytes are one.
pub fn fix_checksums(seg: &mut [u8]) {
    let Some(id) = header_id(seg) else { return };
    let crc = crc32fast::hash(&seg[0..60]);
    seg[60..64].copy_from_slice(&crc.to_le_bytes());
    let mut pos = SEGMENT_HEADER_LEN as usize;
    while pos + BATCH_HEADER_LEN <= seg.len() {
        let h = &seg[pos..pos + BATCH_HEADER_LEN];
        let magic = u32_at(h, 0);
        if magic != BATCH_MAGIC && magic != FOOTER_MAGIC {
            break;
        }
        let body_len = u32_at(h, 20) as usize;
        let end = pos + BATCH_HEADER_LEN + body_len;
        if end > seg.len() {
            break;
        }
        let mut bh = BatchHeader {
            magic,
            first_index: u64::from_le_bytes(h[8..16].try_into().unwrap()),
            count: u32_at(h, 16),
            body_len: body_len as u32,
            body_crc: 0,
            group: u32_at(h, 28),
        };
        bh.body_crc = crc32fast::hash(&seg[pos + BATCH_HEADER_LEN..end]);
        bh.encode(&id, &mut seg[pos..pos + BATCH_HEADER_LEN]);
        pos = end;
    }
    let t = seg.len().saturating_sub(TRAILER_LEN as usize);
    if t >= SEGMENT_HEADER_LEN as usize && u32_at(seg, t) == TRAILER_MAGIC {
        let tr = Trailer {
            footer_offset: u64::from_le_bytes(seg[t + 8..t + 16].try_into().unwrap()),
            footer_len: u64::from_le_bytes(seg[t + 16..t + 24].try_into().unwrap()),
        };
        seg[t..].copy_from_slice(&tr.encode(&id));
    }
}

/// Seals `seg` (a segment's bytes up to where its footer goes) with `footer` as the footer
/// message, as the writer does: the footer framed like a batch (padded to 8), then zeros up to
/// a trailer in the last 32 bytes that points at it; all checksums valid.
pub fn seal_segment(seg: &mut Vec<u8>, footer: &[u8]) {
    let Some(id) = header_id(seg) else { return };
    seg.resize(align8(seg.len() as u64) as usize, 0);
    let pos = seg.len() as u64;
    let mut body = footer.to_vec();
    body.resize(align8(body.len() as u64) as usize, 0);
    let h = BatchHeader {
        magic: FOOTER_MAGIC,
        first_index: id.first_index,
        count: footer.len() as u32,
        body_len: body.len() as u32,
        body_crc: crc32fast::hash(&body),
        group: GROUP_ID,
    };
    let mut frame = vec![0u8; BATCH_HEADER_LEN];
    h.encode(&id, &mut frame);
    seg.extend_from_slice(&frame);
    seg.extend_from_slice(&body);
    let t = Trailer {
        footer_offset: pos,
        footer_len: (BATCH_HEADER_LEN + body.len()) as u64,
    };
    seg.extend_from_slice(&[0u8; 32]);
    seg.extend_from_slice(&t.encode(&id));
    fix_checksums(seg);
}

/// Writes the files the input describes (see the crate docs) under `wal` and `snap`; returns
/// how many it wrote.
pub fn write_dir(data: &[u8], wal: &Path, snap: &Path) -> usize {
    let mut b = Bytes(data);
    let mut n = 0;
    let mut names = std::collections::BTreeSet::new();
    while !b.is_empty() && n < MAX_FILES {
        let kind = b.u8() & 3;
        let id = (kind == 2).then(|| (b.u64(), b.u64()));
        let len = b.u32() as usize;
        let mut bytes = b.take(len).to_vec();
        let name = if let Some((index, term)) = id {
            format!("{term:016x}-{index:016x}.snap")
        } else {
            if kind == 3 {
                let flen = b.u32() as usize;
                seal_segment(&mut bytes, b.take(flen));
            } else if kind == 1 {
                fix_checksums(&mut bytes);
            }
            // The name the header claims (a mismatch is what opening must catch), else one by
            // position.
            let (seq, first) = header_id(&bytes)
                .map(|id| (id.seq, id.first_index))
                .unwrap_or((n as u64, 1));
            segment_name(seq, first)
        };
        if !names.insert(name.clone()) {
            continue;
        }
        debug_assert!(id.is_some() || parse_segment_name(&name).is_some());
        let dir = if id.is_some() { snap } else { wal };
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(&name), &bytes).unwrap();
        n += 1;
    }
    n
}

/// A fresh temporary directory on a RAM disk where there is one (it is written for every input).
pub fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}
