//! [`Segment`]: one open segment file and verified reads of the batches in it.
//!
//! Invariant: bytes below a segment's write position are never rewritten while the WAL is open
//! (the log is append-only; overwrites are new batches), so a batch located through the index can
//! be read without holding the WAL lock. Sealed segments are read through a memory map.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::{Damage, Error, Result};
use crate::format::{BatchHeader, SegmentId, BATCH_HEADER_LEN, BATCH_MAGIC, TRAILER_LEN};
use crate::fs::FileHandle;

/// An open segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub id: SegmentId,
    pub path: PathBuf,
    pub file: Arc<dyn FileHandle>,
    /// File length (fixed while the segment is in use: segments are preallocated).
    pub size: u64,
    sealed: AtomicBool,
    map: OnceLock<Option<memmap2::Mmap>>,
}

impl Segment {
    pub fn new(id: SegmentId, path: PathBuf, file: Arc<dyn FileHandle>, size: u64) -> Self {
        Segment {
            id,
            path,
            file,
            size,
            sealed: AtomicBool::new(false),
            map: OnceLock::new(),
        }
    }

    /// The end of the area batches may occupy: a sealed segment keeps its last 32 bytes for
    /// the trailer; in the active segment the writer keeps them free (see [`Self::write_limit`])
    /// but a reader accepts batches up to the end of the file, so that a file cut short still
    /// reads back every batch it holds whole.
    pub fn data_limit(&self) -> u64 {
        if self.is_sealed() {
            self.write_limit()
        } else {
            self.size
        }
    }

    /// The end of the area the writer may fill (the trailer is reserved after it).
    pub fn write_limit(&self) -> u64 {
        self.size.saturating_sub(TRAILER_LEN)
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    pub fn mark_sealed(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    fn mapped(&self) -> Option<&memmap2::Mmap> {
        if !self.is_sealed() {
            return None;
        }
        self.map
            .get_or_init(|| self.file.map().ok().flatten())
            .as_ref()
    }

    /// Reads `len` bytes at `off`, borrowed from the map when there is one.
    pub fn read(&self, off: u64, len: u64) -> Result<Cow<'_, [u8]>> {
        if off.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(Error::corrupt(
                &self.path,
                off,
                Damage::BatchOutOfBounds { len },
            ));
        }
        if let Some(m) = self.mapped() {
            if (off + len) as usize <= m.len() {
                return Ok(Cow::Borrowed(&m[off as usize..(off + len) as usize]));
            }
        }
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_at(&mut buf, off)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(Cow::Owned(buf))
    }

    /// Reads, bounds-checks and checksums the batch at `off`; returns its header and body.
    pub fn read_batch(&self, off: u64) -> Result<(BatchHeader, Cow<'_, [u8]>)> {
        match self.try_read_batch(off)? {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(Error::corrupt(&self.path, off, Damage::MissingBatch)),
            Err(d) => Err(Error::corrupt(&self.path, off, d)),
        }
    }

    /// Like [`read_batch`](Self::read_batch) but reports damage as a value: `Ok(Ok(None))` is
    /// the zero end marker. I/O errors stay errors.
    #[allow(clippy::type_complexity)]
    pub fn try_read_batch(
        &self,
        off: u64,
    ) -> Result<std::result::Result<Option<(BatchHeader, Cow<'_, [u8]>)>, Damage>> {
        let limit = self.data_limit();
        if off + BATCH_HEADER_LEN as u64 > limit {
            // Too little room for a header: a clean end only if what is left is zero.
            let rest = self.read(off, limit.saturating_sub(off))?;
            return Ok(match rest.iter().all(|&b| b == 0) {
                true => Ok(None),
                false => Err(Damage::BatchOutOfBounds {
                    len: BATCH_HEADER_LEN as u64,
                }),
            });
        }
        let head = self.read(off, BATCH_HEADER_LEN as u64)?;
        let h = match BatchHeader::decode(&self.id, &head) {
            Ok(Some(h)) if h.magic == BATCH_MAGIC => h,
            Ok(_) => return Ok(Ok(None)),
            Err(d) => return Ok(Err(d)),
        };
        if off + h.total_len() > limit {
            return Ok(Err(Damage::BatchOutOfBounds { len: h.total_len() }));
        }
        let body = self.read(off + BATCH_HEADER_LEN as u64, u64::from(h.body_len))?;
        let computed = crc32fast::hash(&body);
        if computed != h.body_crc {
            return Ok(Err(Damage::BodyChecksum {
                stored: h.body_crc,
                computed,
            }));
        }
        Ok(Ok(Some((h, body))))
    }
}
