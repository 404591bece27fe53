//! [`Batch`]: the unit of writing, and the decoding of batch bodies.
//!
//! A batch body is a sequence of records, each a 16-byte record header (kind, payload length,
//! term) followed by the payload padded to 8 bytes. Records appear in this order: at most one
//! reset or compaction, the entries (consecutive indices from the batch's first index), at most
//! one HardState, at most one ConfState, any snapshot markers; a segment's head batch holds a
//! single `LogState` record instead.

use prost::Message;

use crate::error::{Damage, Error, Result};
use crate::format::{
    self, kind, BATCH_HEADER_LEN, END_MARKER_LEN, MAX_BODY_LEN, RECORD_HEADER_LEN,
};
use crate::records::{ConfState, HardState, LogStart, LogState, SnapshotMarker};

/// A batch of raft entries and metadata, appended atomically with [`Wal::append`](crate::Wal::append).
///
/// Entries must have consecutive indices. A batch whose first index is at or below the log's last
/// index overwrites the log from that index (the raft conflict rule). A batch without entries
/// starts at the log's last index + 1 unless [`reset`](Batch::reset) or
/// [`truncate_from`](Batch::truncate_from) says otherwise.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Header placeholder followed by the body records written so far.
    buf: Vec<u8>,
    pub(crate) first_index: Option<u64>,
    pub(crate) count: u32,
    pub(crate) start: Option<(u8, LogStart)>,
    pub(crate) hard_state: Option<HardState>,
    pub(crate) conf_state: Option<ConfState>,
    pub(crate) markers: Vec<SnapshotMarker>,
    /// Runs of equal terms among the entries: (first index, term).
    pub(crate) term_runs: Vec<(u64, u64)>,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

fn push_record_header(buf: &mut Vec<u8>, kind: u8, term: u64, len: usize) {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0] = kind;
    h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    h[8..16].copy_from_slice(&term.to_le_bytes());
    buf.extend_from_slice(&h);
}

fn push_padding(buf: &mut Vec<u8>, len: usize) {
    let pad = format::align8(len as u64) as usize - len;
    buf.extend_from_slice(&[0u8; 8][..pad]);
}

fn push_record(buf: &mut Vec<u8>, kind: u8, term: u64, payload: &[u8]) {
    push_record_header(buf, kind, term, payload.len());
    buf.extend_from_slice(payload);
    push_padding(buf, payload.len());
}

fn check_index(index: u64) -> Result<()> {
    if index >= format::MAX_INDEX {
        return Err(Error::InvalidBatch(format!(
            "index {index} is out of range"
        )));
    }
    Ok(())
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty batch with room for `bytes` of entry data.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(BATCH_HEADER_LEN + bytes + END_MARKER_LEN + 64);
        buf.resize(BATCH_HEADER_LEN, 0);
        Batch {
            buf,
            first_index: None,
            count: 0,
            start: None,
            hard_state: None,
            conf_state: None,
            markers: Vec::new(),
            term_runs: Vec::new(),
        }
    }

    /// Empties the batch for reuse, keeping its buffer's capacity (what
    /// [`Wal::append_reusing`](crate::Wal::append_reusing) leaves behind).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.resize(BATCH_HEADER_LEN, 0);
        self.first_index = None;
        self.count = 0;
        self.start = None;
        self.hard_state = None;
        self.conf_state = None;
        self.markers.clear();
        self.term_runs.clear();
    }

    /// Bytes the batch's buffer can hold without growing.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Makes room for `bytes` more of entry data.
    pub fn reserve(&mut self, bytes: usize) {
        self.buf.reserve(bytes + END_MARKER_LEN + 64);
    }

    fn check_no_entries(&self, what: &str) -> Result<()> {
        if self.count > 0 || self.start.is_some() {
            return Err(Error::InvalidBatch(format!(
                "{what} must come first in a batch"
            )));
        }
        Ok(())
    }

    /// Drops every entry of the log and makes it start after `index` (whose term is `term`):
    /// installing a snapshot. Must be called before adding entries, which then start at
    /// `index + 1`.
    pub fn reset(&mut self, index: u64, term: u64) -> Result<&mut Self> {
        self.check_no_entries("reset")?;
        check_index(index)?;
        let start = LogStart { index, term };
        push_record(&mut self.buf, kind::RESET, 0, &start.encode_to_vec());
        self.start = Some((kind::RESET, start));
        self.first_index = Some(index + 1);
        Ok(self)
    }

    /// Drops the entries up to `index` (whose term is `term`) and keeps the rest: compaction.
    /// `index` must not exceed the log's last index. Must be called before adding entries.
    pub fn compact(&mut self, index: u64, term: u64) -> Result<&mut Self> {
        self.check_no_entries("compact")?;
        check_index(index)?;
        let start = LogStart { index, term };
        push_record(&mut self.buf, kind::COMPACT, 0, &start.encode_to_vec());
        self.start = Some((kind::COMPACT, start));
        Ok(self)
    }

    /// Drops the entries from `index` on, without adding any (entries added later must start at
    /// `index`). Must be called before adding entries.
    pub fn truncate_from(&mut self, index: u64) -> Result<&mut Self> {
        self.check_no_entries("truncate_from")?;
        if index == 0 {
            return Err(Error::InvalidBatch("index 0 cannot be truncated".into()));
        }
        check_index(index)?;
        self.first_index = Some(index);
        Ok(self)
    }

    /// Adds a raft entry: `data` is its `eraftpb.Entry` protobuf encoding.
    pub fn add_entry(&mut self, index: u64, term: u64, data: &[u8]) -> Result<&mut Self> {
        self.add_entry_with(index, term, data.len(), |buf| {
            buf.extend_from_slice(data);
            Ok::<(), std::convert::Infallible>(())
        })
    }

    /// Adds a raft entry of `len` bytes that `write` encodes straight into the batch, with no
    /// intermediate buffer (`DiskStorage` encodes each `eraftpb.Entry` this way). `write` must
    /// append exactly `len` bytes; if it fails or writes another length, the batch is left as it
    /// was and an error is returned.
    pub fn add_entry_with<E: std::fmt::Display>(
        &mut self,
        index: u64,
        term: u64,
        len: usize,
        write: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), E>,
    ) -> Result<&mut Self> {
        self.check_next_entry(index, len)?;
        let start = self.buf.len();
        push_record_header(&mut self.buf, kind::ENTRY, term, len);
        let written = write(&mut self.buf);
        let got = self.buf.len() - start - RECORD_HEADER_LEN;
        let problem = match written {
            Err(e) => Some(format!("encoding entry {index}: {e}")),
            Ok(()) if got != len => Some(format!(
                "entry {index}: {got} bytes written, {len} announced"
            )),
            Ok(()) => None,
        };
        if let Some(p) = problem {
            self.buf.truncate(start);
            return Err(Error::InvalidBatch(p));
        }
        push_padding(&mut self.buf, len);
        if self.first_index.is_none() {
            self.first_index = Some(index);
        }
        if self.term_runs.last().map(|r| r.1) != Some(term) {
            self.term_runs.push((index, term));
        }
        self.count += 1;
        Ok(self)
    }

    /// Checks that an entry of `len` bytes at `index` may come next, changing nothing.
    fn check_next_entry(&self, index: u64, len: usize) -> Result<()> {
        check_index(index)?;
        if index == 0 {
            return Err(Error::InvalidBatch("entry index 0".into()));
        }
        if len as u64 > format::MAX_BODY_LEN {
            return Err(Error::InvalidBatch(format!(
                "entry of {len} bytes is too large"
            )));
        }
        match self.first_index {
            Some(first) if index != first + u64::from(self.count) => {
                Err(Error::InvalidBatch(format!(
                    "entry {index} does not follow {}",
                    first + u64::from(self.count) - 1
                )))
            }
            _ => Ok(()),
        }
    }

    /// Sets the HardState to store with the entries (written after them, atomically).
    pub fn set_hard_state(&mut self, hs: HardState) -> &mut Self {
        self.hard_state = Some(hs);
        self
    }

    /// Sets the ConfState to store.
    pub fn set_conf_state(&mut self, cs: ConfState) -> &mut Self {
        self.conf_state = Some(cs);
        self
    }

    /// Adds a snapshot marker.
    pub fn add_snapshot_marker(&mut self, m: SnapshotMarker) -> &mut Self {
        self.markers.push(m);
        self
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if the batch holds no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Index of the last entry, if any.
    pub fn last_index(&self) -> Option<u64> {
        (self.count > 0).then(|| self.first_index.unwrap_or(0) + u64::from(self.count) - 1)
    }

    /// True if the batch changes nothing at all.
    pub fn is_noop(&self) -> bool {
        self.count == 0
            && self.start.is_none()
            && self.first_index.is_none()
            && self.hard_state.is_none()
            && self.conf_state.is_none()
            && self.markers.is_empty()
    }

    /// A segment's head batch: the cumulative state, nothing else.
    pub(crate) fn head(state: &LogState) -> Batch {
        let mut b = Batch::new();
        push_record(&mut b.buf, kind::STATE, 0, &state.encode_to_vec());
        b
    }

    /// Appends the metadata records and the end marker; returns the finished frame buffer
    /// (header placeholder, body, 32 zero bytes) and the body's length and checksum.
    pub(crate) fn finish(&mut self) -> Result<(u32, u32)> {
        if let Some(hs) = self.hard_state {
            push_record(&mut self.buf, kind::HARD_STATE, 0, &hs.encode_to_vec());
        }
        if let Some(cs) = &self.conf_state {
            push_record(&mut self.buf, kind::CONF_STATE, 0, &cs.encode_to_vec());
        }
        for m in &self.markers {
            push_record(&mut self.buf, kind::SNAPSHOT_MARKER, 0, &m.encode_to_vec());
        }
        let body_len = (self.buf.len() - BATCH_HEADER_LEN) as u64;
        if body_len > MAX_BODY_LEN {
            return Err(Error::InvalidBatch(format!(
                "batch body of {body_len} bytes is too large"
            )));
        }
        let crc = crc32fast::hash(&self.buf[BATCH_HEADER_LEN..]);
        self.buf.extend_from_slice(&[0u8; END_MARKER_LEN]);
        Ok((body_len as u32, crc))
    }

    pub(crate) fn frame_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    pub(crate) fn frame_len(&self) -> u64 {
        self.buf.len() as u64
    }
}

/// One record of a batch body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub kind: u8,
    pub term: u64,
    pub payload: &'a [u8],
}

/// Iterates the records of a body, checking every length against what the body holds.
pub(crate) struct Records<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Records<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Records { body, pos: 0 }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = std::result::Result<Record<'a>, Damage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.body.len() {
            return None;
        }
        let rest = &self.body[self.pos..];
        if rest.len() < RECORD_HEADER_LEN {
            self.pos = self.body.len();
            return Some(Err(Damage::BadBody("record header runs past the body")));
        }
        let kind = rest[0];
        let len = format::u32_at(rest, 4) as u64;
        let term = format::u64_at(rest, 8);
        let padded = format::align8(len);
        if rest[1..4] != [0, 0, 0] || (RECORD_HEADER_LEN as u64 + padded) > rest.len() as u64 {
            self.pos = self.body.len();
            return Some(Err(Damage::BadBody("record length runs past the body")));
        }
        let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len as usize];
        self.pos += RECORD_HEADER_LEN + padded as usize;
        Some(Ok(Record {
            kind,
            term,
            payload,
        }))
    }
}

/// The decoded contents of a batch body (entry payloads are not copied).
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub start: Option<(u8, LogStart)>,
    pub terms: Vec<(u64, u64)>,
    pub count: u32,
    pub hard_state: Option<HardState>,
    pub conf_state: Option<ConfState>,
    pub markers: Vec<SnapshotMarker>,
    pub state: Option<LogState>,
}

fn rank(kind: u8) -> Option<u8> {
    Some(match kind {
        kind::RESET | kind::COMPACT => 0,
        kind::ENTRY => 1,
        kind::HARD_STATE => 2,
        kind::CONF_STATE => 3,
        kind::SNAPSHOT_MARKER => 4,
        kind::STATE => 5,
        _ => return None,
    })
}

fn decode_msg<M: Message + Default>(
    b: &[u8],
    what: &'static str,
) -> std::result::Result<M, Damage> {
    M::decode(b).map_err(|_| Damage::BadMessage(what))
}

/// Decodes and checks a body: record order, entry count, messages.
pub(crate) fn decode_body(
    body: &[u8],
    first_index: u64,
    count: u32,
) -> std::result::Result<Body, Damage> {
    // Index 0 is never written (raft logs start at 1): a batch claiming it is hostile.
    let end = first_index.checked_add(u64::from(count));
    if first_index == 0 || end.is_none_or(|end| end > format::MAX_INDEX) {
        return Err(Damage::BadBody("index out of range"));
    }
    let mut out = Body::default();
    let mut last_rank = 0u8;
    let mut seen = 0u32;
    for rec in Records::new(body) {
        let rec = rec?;
        let r = rank(rec.kind).ok_or(Damage::BadBody("unknown record kind"))?;
        if r < last_rank {
            return Err(Damage::BadBody("records out of order"));
        }
        last_rank = r;
        match rec.kind {
            kind::RESET | kind::COMPACT => {
                if out.start.is_some() {
                    return Err(Damage::BadBody("two reset or compact records"));
                }
                let start: LogStart = decode_msg(rec.payload, "log start")?;
                if start.index >= format::MAX_INDEX {
                    return Err(Damage::BadBody("log start index out of range"));
                }
                out.start = Some((rec.kind, start));
            }
            kind::ENTRY => {
                let index = first_index + u64::from(seen);
                if out.terms.last().map(|t| t.1) != Some(rec.term) {
                    out.terms.push((index, rec.term));
                }
                seen += 1;
            }
            kind::HARD_STATE if out.hard_state.is_none() => {
                out.hard_state = Some(decode_msg(rec.payload, "hard state")?)
            }
            kind::CONF_STATE if out.conf_state.is_none() => {
                out.conf_state = Some(decode_msg(rec.payload, "conf state")?)
            }
            kind::SNAPSHOT_MARKER => out
                .markers
                .push(decode_msg(rec.payload, "snapshot marker")?),
            kind::STATE if out.state.is_none() => {
                out.state = Some(decode_msg(rec.payload, "log state")?)
            }
            _ => return Err(Damage::BadBody("duplicate record")),
        }
    }
    if seen != count {
        return Err(Damage::BadBody("entry count disagrees with the header"));
    }
    if out.state.is_some() && (count > 0 || out.start.is_some()) {
        return Err(Damage::BadBody("a state record shares its batch"));
    }
    out.count = count;
    Ok(out)
}

/// Calls `f(index, term, entry_bytes, record_offset)` for every entry of a verified body, in
/// order, until `f` returns `false`; `record_offset` is where the entry's record starts,
/// counted from the start of the batch (its header).
pub(crate) fn for_each_entry<'a>(
    body: &'a [u8],
    first_index: u64,
    mut f: impl FnMut(u64, u64, &'a [u8], u64) -> bool,
) -> std::result::Result<(), Damage> {
    let (mut index, mut rel) = (first_index, format::BATCH_HEADER_LEN as u64);
    for rec in Records::new(body) {
        let rec = rec?;
        if rec.kind == kind::ENTRY {
            if !f(index, rec.term, rec.payload, rel) {
                break;
            }
            index += 1;
        }
        rel += format::RECORD_HEADER_LEN as u64 + format::align8(rec.payload.len() as u64);
    }
    Ok(())
}
