//! Byte layouts of segment headers, batch headers, records and trailers (`docs/FORMAT.md` is the
//! prose specification; the golden-file test pins these bytes).
//!
//! All integers are little-endian. Every structure starts on an 8-byte boundary and has a length
//! that is a multiple of 8, so a length field never straddles a sector boundary.

use crate::error::Damage;

/// Magic at offset 0 of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"STELEWAL";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: u64 = 64;
/// Magic of a batch header ("SBAT").
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"SBAT");
/// Magic of a footer header ("SFTR").
pub const FOOTER_MAGIC: u32 = u32::from_le_bytes(*b"SFTR");
/// Magic of the trailer ("SEND").
pub const TRAILER_MAGIC: u32 = u32::from_le_bytes(*b"SEND");
/// Length of a batch (or footer) header.
pub const BATCH_HEADER_LEN: usize = 32;
/// Length of a record header inside a batch body.
pub const RECORD_HEADER_LEN: usize = 16;
/// Length of the trailer at the very end of a sealed segment.
pub const TRAILER_LEN: u64 = 32;
/// Length of the zero end marker written after every batch.
pub const END_MARKER_LEN: usize = 32;
/// The only raft group id this version writes and accepts.
pub const GROUP_ID: u32 = 1;
/// Largest batch body accepted (1 GiB).
pub const MAX_BODY_LEN: u64 = 1 << 30;
/// Largest segment file (offsets in the index are 32-bit).
pub const MAX_SEGMENT_SIZE: u64 = u32::MAX as u64;
/// Raft indices must stay below this (so `index + count` never overflows).
pub const MAX_INDEX: u64 = 1 << 62;
/// Largest segment sequence number opening accepts: far beyond any real log (one cut per
/// second for 10^11 years), and far enough from `u64::MAX` that counting up never overflows.
pub const MAX_SEQ: u64 = 1 << 62;

/// Record kinds inside a batch body.
pub mod kind {
    /// A raft entry: `eraftpb.Entry` bytes; the record header carries its term.
    pub const ENTRY: u8 = 1;
    /// A `HardState` message.
    pub const HARD_STATE: u8 = 2;
    /// A `ConfState` message.
    pub const CONF_STATE: u8 = 3;
    /// A `SnapshotMarker` message.
    pub const SNAPSHOT_MARKER: u8 = 4;
    /// A `LogStart` message: reset (drop every entry).
    pub const RESET: u8 = 5;
    /// A `LogStart` message: compaction (drop entries up to its index).
    pub const COMPACT: u8 = 6;
    /// A `LogState` message (the head of a segment).
    pub const STATE: u8 = 7;
}

/// Rounds `n` up to a multiple of 8.
pub const fn align8(n: u64) -> u64 {
    (n + 7) & !7
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The identity of one incarnation of a segment file: every batch checksum is seeded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentId {
    /// Sequence number (also in the file name).
    pub seq: u64,
    /// First index expected in the segment (also in the file name).
    pub first_index: u64,
    /// Random per-incarnation value, so bytes from a reused file never validate.
    pub salt: u64,
}

impl SegmentId {
    /// The 64-byte segment header.
    pub fn encode_header(&self) -> [u8; SEGMENT_HEADER_LEN as usize] {
        let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
        h[0..8].copy_from_slice(&SEGMENT_MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.seq.to_le_bytes());
        h[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        h[32..40].copy_from_slice(&self.salt.to_le_bytes());
        let crc = crc32fast::hash(&h[0..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Parses and checks a segment header.
    pub fn decode_header(h: &[u8]) -> Result<SegmentId, Damage> {
        if h.len() < SEGMENT_HEADER_LEN as usize {
            return Err(Damage::BadHeader("shorter than 64 bytes"));
        }
        if h[0..8] != SEGMENT_MAGIC {
            return Err(Damage::BadHeader("bad magic"));
        }
        if crc32fast::hash(&h[0..60]) != u32_at(h, 60) {
            return Err(Damage::BadHeader("checksum mismatch"));
        }
        if u32_at(h, 8) != FORMAT_VERSION {
            return Err(Damage::BadHeader("unsupported format version"));
        }
        if u32_at(h, 12) != SEGMENT_HEADER_LEN as u32 {
            return Err(Damage::BadHeader("unexpected header length"));
        }
        Ok(SegmentId {
            seq: u64_at(h, 16),
            first_index: u64_at(h, 24),
            salt: u64_at(h, 32),
        })
    }

    /// The checksum of a batch, footer or trailer header, bound to this segment.
    pub fn header_crc(&self, fields: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.seq.to_le_bytes());
        h.update(&self.salt.to_le_bytes());
        h.update(fields);
        h.finalize()
    }
}

/// A parsed batch (or footer) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// `BATCH_MAGIC` or `FOOTER_MAGIC`.
    pub magic: u32,
    /// Index of the first entry (or where the batch starts the log).
    pub first_index: u64,
    /// Number of entry records.
    pub count: u32,
    /// Length of the body, a multiple of 8.
    pub body_len: u32,
    /// crc32 of the body.
    pub body_crc: u32,
    /// Raft group.
    pub group: u32,
}

impl BatchHeader {
    /// Writes the 32-byte header, with its identity-bound checksum, into `out`.
    pub fn encode(&self, id: &SegmentId, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.magic.to_le_bytes());
        out[8..16].copy_from_slice(&self.first_index.to_le_bytes());
        out[16..20].copy_from_slice(&self.count.to_le_bytes());
        out[20..24].copy_from_slice(&self.body_len.to_le_bytes());
        out[24..28].copy_from_slice(&self.body_crc.to_le_bytes());
        out[28..32].copy_from_slice(&self.group.to_le_bytes());
        let crc = id.header_crc(&out[8..32]);
        out[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Parses a header; `None` if it is 32 zero bytes (the end marker).
    pub fn decode(id: &SegmentId, b: &[u8]) -> Result<Option<BatchHeader>, Damage> {
        let b = &b[..BATCH_HEADER_LEN];
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let magic = u32_at(b, 0);
        if (magic != BATCH_MAGIC && magic != FOOTER_MAGIC)
            || id.header_crc(&b[8..32]) != u32_at(b, 4)
        {
            return Err(Damage::BadBatchHeader);
        }
        let h = BatchHeader {
            magic,
            first_index: u64_at(b, 8),
            count: u32_at(b, 16),
            body_len: u32_at(b, 20),
            body_crc: u32_at(b, 24),
            group: u32_at(b, 28),
        };
        if h.body_len % 8 != 0 || u64::from(h.body_len) > MAX_BODY_LEN {
            return Err(Damage::BadBatchHeader);
        }
        if h.group != GROUP_ID {
            return Err(Damage::UnknownGroup(h.group));
        }
        Ok(Some(h))
    }

    /// Header plus body.
    pub fn total_len(&self) -> u64 {
        BATCH_HEADER_LEN as u64 + u64::from(self.body_len)
    }
}

/// The trailer in the last 32 bytes of a sealed segment: where the footer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Offset of the footer header.
    pub footer_offset: u64,
    /// Length of footer header plus body.
    pub footer_len: u64,
}

impl Trailer {
    /// The 32 trailer bytes.
    pub fn encode(&self, id: &SegmentId) -> [u8; TRAILER_LEN as usize] {
        let mut t = [0u8; TRAILER_LEN as usize];
        t[0..4].copy_from_slice(&TRAILER_MAGIC.to_le_bytes());
        t[8..16].copy_from_slice(&self.footer_offset.to_le_bytes());
        t[16..24].copy_from_slice(&self.footer_len.to_le_bytes());
        let crc = id.header_crc(&t[8..32]);
        t[4..8].copy_from_slice(&crc.to_le_bytes());
        t
    }

    /// Parses a trailer; `None` if it is not a valid trailer of this segment.
    pub fn decode(id: &SegmentId, t: &[u8]) -> Option<Trailer> {
        if t.len() != TRAILER_LEN as usize
            || u32_at(t, 0) != TRAILER_MAGIC
            || id.header_crc(&t[8..32]) != u32_at(t, 4)
        {
            return None;
        }
        Some(Trailer {
            footer_offset: u64_at(t, 8),
            footer_len: u64_at(t, 16),
        })
    }
}

/// The file name of a segment: `{seq:016x}-{first_index:016x}.wal`.
pub fn segment_name(seq: u64, first_index: u64) -> String {
    format!("{seq:016x}-{first_index:016x}.wal")
}

/// Parses a segment file name into (seq, first index).
pub fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 16 || b.len() != 16 {
        return None;
    }
    let seq = u64::from_str_radix(a, 16).ok()?;
    let first = u64::from_str_radix(b, 16).ok()?;
    Some((seq, first))
}

/// Suffix of a segment being prepared; removed on open.
pub const TMP_SUFFIX: &str = ".tmp";
/// Suffix of a purged segment kept for recycling.
pub const RECYCLE_SUFFIX: &str = ".recycle";
/// The lock file's name.
pub const LOCK_NAME: &str = "LOCK";
