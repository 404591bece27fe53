//! [`SnapshotWriter`]: streams one snapshot into a temporary file and publishes it atomically.
//!
//! Protocol (`docs/DURABILITY.md` §9 gives the reason for each step):
//! 1. create `<name>.<n>.tmp` and write the header and metadata;
//! 2. stream the data through [`std::io::Write`], hashing as it goes; small writes are gathered
//!    into one buffer, large ones go straight to the file, so memory stays at one buffer;
//! 3. [`finish`](SnapshotWriter::finish): write the trailer (data length, CRC-32, magic),
//!    `fsync` the file, rename it to `{term:016x}-{index:016x}.snap`, `fsync` the directory.
//!
//! Invariant: the final name never refers to a file that is not complete and synced. A writer
//! that is dropped or fails before the rename removes its temporary file (best effort; the next
//! open removes any that remain). After any failed write the writer refuses further work.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use prost::Message;
use stele_wal::fs::FileHandle;
use stele_wal::SnapshotMarker;

use crate::error::{Error, Result};
use crate::format::{encode_data_len, encode_header, encode_trailer_tail, MAX_METADATA_LEN};
use crate::name::SnapshotId;
use crate::shared::Shared;

/// Where a writer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Accepting data.
    Open,
    /// A write failed; its error kind is repeated to every later call.
    Failed(io::ErrorKind),
    /// Renamed into place (finished, or the directory sync failed): nothing left to remove.
    Renamed,
}

/// Writes one snapshot's data as a stream; see the module docs for the protocol.
///
/// Obtained from [`Snapshotter::writer`](crate::Snapshotter::writer). Write the data with
/// [`std::io::Write`] (or [`write_data`](Self::write_data) / [`copy_from`](Self::copy_from)),
/// then call [`finish`](Self::finish). Dropping it without `finish` abandons the save.
#[derive(Debug)]
pub struct SnapshotWriter {
    shared: Arc<Shared>,
    id: SnapshotId,
    temp: PathBuf,
    file: Arc<dyn FileHandle>,
    hasher: crc32fast::Hasher,
    buf: Vec<u8>,
    /// Bytes already handed to the file (the buffer starts here).
    offset: u64,
    /// Data bytes accepted so far.
    data_len: u64,
    stage: Stage,
}

impl SnapshotWriter {
    pub(crate) fn create(shared: Arc<Shared>, meta: SnapshotMarker) -> Result<Self> {
        let id = SnapshotId::of(&meta);
        let meta_bytes = meta.encode_to_vec();
        let meta_len = u32::try_from(meta_bytes.len())
            .ok()
            .filter(|&l| l <= MAX_METADATA_LEN);
        let Some(meta_len) = meta_len else {
            return Err(Error::TooLarge {
                path: shared.dir.join(id.file_name()),
                what: "snapshot metadata",
                len: meta_bytes.len() as u64,
                limit: u64::from(MAX_METADATA_LEN),
            });
        };
        let temp = shared.dir.join(id.temp_name(shared.next_temp()));
        let file = shared
            .fs()
            .create(&temp)
            .map_err(|e| Error::io("create", &temp, e))?;
        let buf = Vec::with_capacity(shared.opts.write_buffer);
        let mut w = SnapshotWriter {
            shared,
            id,
            temp,
            file,
            hasher: crc32fast::Hasher::new(),
            buf,
            offset: 0,
            data_len: 0,
            stage: Stage::Open,
        };
        w.put_hashed(&encode_header(meta_len))
            .map_err(|e| w.error("write", e))?;
        w.put_hashed(&meta_bytes).map_err(|e| w.error("write", e))?;
        Ok(w)
    }

    /// The snapshot being written.
    pub fn id(&self) -> SnapshotId {
        self.id
    }

    /// Data bytes written so far.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Writes all of `data` (like `write_all`, with a stele error).
    pub fn write_data(&mut self, data: &[u8]) -> Result<()> {
        self.write_all(data).map_err(|e| self.error("write", e))
    }

    /// Copies `src` to its end into the snapshot, through a bounded buffer.
    pub fn copy_from(&mut self, src: &mut dyn Read) -> Result<u64> {
        let mut chunk = vec![0u8; self.shared.opts.write_buffer.clamp(8 << 10, 1 << 20)];
        let mut total = 0u64;
        loop {
            let n = match src.read(&mut chunk) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read source", &self.temp, e)),
            };
            self.write_data(&chunk[..n])?;
            total += n as u64;
        }
    }

    /// Completes the snapshot: trailer, `fsync`, rename into place, `fsync` of the directory.
    /// When this returns `Ok`, the snapshot survives a crash. On an error before the rename the
    /// temporary file is removed and the directory is as before; on an error in the final
    /// directory sync the complete snapshot may or may not survive a crash.
    pub fn finish(mut self) -> Result<SnapshotId> {
        self.check_open().map_err(|e| self.error("write", e))?;
        self.put_hashed(&encode_data_len(self.data_len))
            .map_err(|e| self.error("write", e))?;
        let crc = self.hasher.clone().finalize();
        self.put(&encode_trailer_tail(crc))
            .map_err(|e| self.error("write", e))?;
        self.flush_buf().map_err(|e| self.error("write", e))?;
        self.file
            .sync_all()
            .map_err(|e| Error::io("sync", &self.temp, e))?;
        let target = self.shared.dir.join(self.id.file_name());
        self.shared
            .fs()
            .rename(&self.temp, &target)
            .map_err(|e| Error::io("rename", &self.temp, e))?;
        self.stage = Stage::Renamed;
        self.shared.sync_dir()?;
        log::info!(
            "stele-snap: saved {} ({} data bytes)",
            target.display(),
            self.data_len
        );
        Ok(self.id)
    }

    /// Abandons the save and removes the temporary file now (dropping the writer does the same,
    /// ignoring errors).
    pub fn abort(mut self) -> Result<()> {
        self.stage = Stage::Renamed; // nothing for drop to do
        self.shared
            .fs()
            .remove(&self.temp)
            .map_err(|e| Error::io("remove", &self.temp, e))
    }

    fn error(&self, op: &'static str, e: io::Error) -> Error {
        Error::io(op, &self.temp, e)
    }

    fn check_open(&self) -> io::Result<()> {
        match self.stage {
            Stage::Open => Ok(()),
            Stage::Failed(kind) => Err(io::Error::new(kind, "an earlier write to it failed")),
            Stage::Renamed => Err(io::Error::other("the snapshot is already finished")),
        }
    }

    fn put_hashed(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.put(bytes)
    }

    /// Appends bytes: into the buffer, or straight to the file when they would not fit.
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        let cap = self.shared.opts.write_buffer;
        if self.buf.len() + bytes.len() > cap {
            self.flush_buf()?;
        }
        if bytes.len() >= cap {
            return self.write_through(bytes);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let done = self.write_through(&buf);
        self.buf = buf;
        self.buf.clear();
        done
    }

    fn write_through(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_at(bytes, self.offset) {
            self.stage = Stage::Failed(e.kind());
            return Err(e);
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

impl Write for SnapshotWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        self.put_hashed(data)?;
        self.data_len += data.len() as u64;
        Ok(data.len())
    }

    /// Hands buffered bytes to the file (no sync: only [`finish`](Self::finish) makes the
    /// snapshot durable).
    fn flush(&mut self) -> io::Result<()> {
        self.check_open()?;
        self.flush_buf()
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if self.stage == Stage::Renamed {
            return;
        }
        match self.shared.fs().remove(&self.temp) {
            Ok(()) => log::info!(
                "stele-snap: abandoned save, removed {}",
                self.temp.display()
            ),
            Err(e) => log::warn!(
                "stele-snap: abandoned save, could not remove {} ({e}); the next open will",
                self.temp.display()
            ),
        }
    }
}
