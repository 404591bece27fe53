//! [`SnapshotFile`]: a verified snapshot, open for reading its data; [`SnapshotReader`]: its data
//! as a stream.
//!
//! Invariants: a `SnapshotFile` exists only for a file whose every byte passed its checksum when
//! it was loaded (see `verify.rs`). Its data is never copied whole into memory unless the caller
//! asks ([`SnapshotFile::read_to_vec`]): it is read through the memory map when there is one,
//! else with positional reads into the caller's buffer. The open handle keeps the data readable
//! even if the file is removed meanwhile.
//!
//! A reader that reads the data from start to end checks the checksum again as it reaches the
//! end, so bytes that changed on disk after the load (a failing disk re-read after the page cache
//! dropped them) surface as an `InvalidData` error instead of silently reaching the state machine.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stele_wal::fs::FileHandle;
use stele_wal::SnapshotMarker;

use crate::error::{Error, Result};
use crate::format::{encode_data_len, Layout};
use crate::name::SnapshotId;

struct Inner {
    path: PathBuf,
    meta: SnapshotMarker,
    file: Arc<dyn FileHandle>,
    map: Option<memmap2::Mmap>,
    layout: Layout,
    /// The checksum state after the header and metadata: where data hashing starts.
    prefix: crc32fast::Hasher,
}

/// A loaded, verified snapshot. Cloning is cheap (the file stays open once).
#[derive(Clone)]
pub struct SnapshotFile {
    inner: Arc<Inner>,
}

impl SnapshotFile {
    pub(crate) fn new(
        path: PathBuf,
        meta: SnapshotMarker,
        file: Arc<dyn FileHandle>,
        map: Option<memmap2::Mmap>,
        layout: Layout,
        prefix: crc32fast::Hasher,
    ) -> Self {
        SnapshotFile {
            inner: Arc::new(Inner {
                path,
                meta,
                file,
                map,
                layout,
                prefix,
            }),
        }
    }

    /// The snapshot's index and term.
    pub fn id(&self) -> SnapshotId {
        SnapshotId::of(&self.inner.meta)
    }

    /// The snapshot's metadata (index, term, configuration).
    pub fn metadata(&self) -> &SnapshotMarker {
        &self.inner.meta
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The length of the data in bytes.
    pub fn data_len(&self) -> u64 {
        self.inner.layout.data_len
    }

    /// The data without copying, when the file is memory-mapped (`None` otherwise, for example
    /// on a simulated file system or with `use_mmap` off; use [`reader`](Self::reader) then).
    pub fn data(&self) -> Option<&[u8]> {
        let start = self.inner.layout.data_offset() as usize;
        let end = start + self.inner.layout.data_len as usize;
        self.inner.map.as_ref().map(|m| &m[start..end])
    }

    /// The data as a stream, from its first byte.
    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader {
            snap: self.clone(),
            pos: 0,
            hasher: Some(self.inner.prefix.clone()),
        }
    }

    /// The whole data in one `Vec`: allocates [`data_len`](Self::data_len) bytes, so only for
    /// snapshots known to be small. Checks the checksum again while reading.
    pub fn read_to_vec(&self) -> Result<Vec<u8>> {
        let len = usize::try_from(self.data_len()).map_err(|_| Error::TooLarge {
            path: self.path().to_path_buf(),
            what: "snapshot data read into memory",
            len: self.data_len(),
            limit: usize::MAX as u64,
        })?;
        let mut out = vec![0u8; len];
        self.reader()
            .read_exact(&mut out)
            .map_err(|e| Error::io("read", self.path(), e))?;
        Ok(out)
    }

    /// Reads data bytes at `pos` (relative to the data start) into `buf`; `buf` must fit.
    fn read_data_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let at = self.inner.layout.data_offset() + pos;
        match &self.inner.map {
            Some(m) => {
                buf.copy_from_slice(&m[at as usize..at as usize + buf.len()]);
                Ok(())
            }
            None => self.inner.file.read_at(buf, at),
        }
    }
}

impl fmt::Debug for SnapshotFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotFile")
            .field("path", &self.inner.path)
            .field("meta", &self.inner.meta)
            .field("data_len", &self.inner.layout.data_len)
            .field("mapped", &self.inner.map.is_some())
            .finish()
    }
}

/// The data of a [`SnapshotFile`] as a [`Read`] + [`Seek`] stream.
///
/// Reading from the start to the end re-checks the checksum at the end (an `InvalidData` error
/// on mismatch). After a seek away from the sequential position that check is off.
pub struct SnapshotReader {
    snap: SnapshotFile,
    pos: u64,
    /// Checksum of everything before `pos`, while reading has been sequential from the start.
    hasher: Option<crc32fast::Hasher>,
}

impl SnapshotReader {
    /// The snapshot being read.
    pub fn snapshot(&self) -> &SnapshotFile {
        &self.snap
    }

    /// Bytes left before the end of the data.
    pub fn remaining(&self) -> u64 {
        self.snap.data_len().saturating_sub(self.pos)
    }

    fn check_at_end(&mut self) -> io::Result<()> {
        let Some(mut h) = self.hasher.take() else {
            return Ok(());
        };
        h.update(&encode_data_len(self.snap.data_len()));
        if h.finalize() == self.snap.inner.layout.stored_crc {
            return Ok(());
        }
        let msg = format!(
            "{}: snapshot data changed on disk after it was verified (checksum mismatch)",
            self.snap.path().display()
        );
        Err(io::Error::new(io::ErrorKind::InvalidData, msg))
    }
}

impl Read for SnapshotReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.remaining()) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.snap.read_data_at(&mut buf[..n], self.pos)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.pos += n as u64;
        if self.remaining() == 0 {
            self.check_at_end()?;
        }
        Ok(n)
    }
}

impl Seek for SnapshotReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.snap.data_len();
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        };
        if target != self.pos {
            self.hasher = None;
        }
        self.pos = target;
        Ok(target)
    }
}

impl fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("path", &self.snap.path())
            .field("pos", &self.pos)
            .field("checking", &self.hasher.is_some())
            .finish()
    }
}
