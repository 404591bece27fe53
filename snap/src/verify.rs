//! Opening and verifying one snapshot file before any of it is handed out.
//!
//! Order of checks, each bounded by what the previous one proved:
//! 1. the file is at least [`MIN_FILE_LEN`] long;
//! 2. the header's magic, version, header length and reserved bytes; its metadata length is at
//!    most [`MAX_METADATA_LEN`](crate::format::MAX_METADATA_LEN) and fits in the file;
//! 3. the trailer's magic, and the three lengths add up to the file length exactly;
//! 4. the CRC-32 of every byte before the stored checksum, streamed (through the memory map if
//!    there is one, else in 1 MiB positional reads), equals the stored checksum;
//! 5. the metadata decodes, and its index and term equal the ones in the file name.
//!
//! Only then is the file a [`SnapshotFile`]. No allocation is larger than the metadata (already
//! bounded by the file length) or the 1 MiB read buffer.

use std::path::Path;

use prost::Message;
use stele_wal::fs::{FileHandle, FileSystem};
use stele_wal::SnapshotMarker;

use crate::error::{Error, Result};
use crate::file::SnapshotFile;
use crate::format::{parse_header, parse_trailer, Layout, HEADER_LEN, MIN_FILE_LEN, TRAILER_LEN};
use crate::name::SnapshotId;

/// The size of the buffer checksums are streamed through when there is no memory map.
const CHUNK: u64 = 1 << 20;

/// What every check reads first, each length bounded by the file's size before it is read.
pub(crate) struct Frame {
    pub file: std::sync::Arc<dyn FileHandle>,
    pub file_len: u64,
    pub header: [u8; HEADER_LEN as usize],
    pub trailer: [u8; TRAILER_LEN as usize],
    pub layout: Layout,
    pub meta_bytes: Vec<u8>,
}

/// Opens `path` read-only and reads and checks its header, trailer and metadata bytes (not the
/// data, and not the checksum).
pub(crate) fn read_frame(fs: &dyn FileSystem, path: &Path) -> Result<Frame> {
    let file = fs
        .open(path, false)
        .map_err(|e| Error::io("open", path, e))?;
    let file_len = file.len().map_err(|e| Error::io("len", path, e))?;
    if file_len < MIN_FILE_LEN {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            len: file_len,
            reason: "shorter than a header and a trailer",
        });
    }
    let mut header = [0u8; HEADER_LEN as usize];
    read_at(&*file, path, &mut header, 0)?;
    let meta_len = parse_header(path, &header, file_len)?;
    let mut trailer = [0u8; TRAILER_LEN as usize];
    read_at(&*file, path, &mut trailer, file_len - TRAILER_LEN)?;
    let layout = parse_trailer(path, &trailer, file_len, meta_len)?;
    let mut meta_bytes = vec![0u8; meta_len as usize];
    read_at(&*file, path, &mut meta_bytes, HEADER_LEN)?;
    Ok(Frame {
        file,
        file_len,
        header,
        trailer,
        layout,
        meta_bytes,
    })
}

/// Opens `path`, which by its name holds snapshot `id`, and verifies it completely.
pub(crate) fn open_verified(
    fs: &dyn FileSystem,
    path: &Path,
    id: SnapshotId,
    use_mmap: bool,
) -> Result<SnapshotFile> {
    let Frame {
        file,
        file_len,
        header,
        trailer,
        layout,
        meta_bytes,
    } = read_frame(fs, path)?;
    let map = if use_mmap {
        file.map().map_err(|e| Error::io("mmap", path, e))?
    } else {
        None
    };
    let map = map.filter(|m| m.len() as u64 == file_len);
    if let Some(m) = &map {
        advise_sequential(m);
    }
    let mut prefix = crc32fast::Hasher::new();
    prefix.update(&header);
    prefix.update(&meta_bytes);
    let mut hasher = prefix.clone();
    match &map {
        Some(m) => hasher.update(&m[data_range(&layout)]),
        None => {
            hash_file(&*file, path, &layout, &mut hasher, &mut |_| true)?;
        }
    }
    check_crc(path, &layout, &trailer, hasher)?;
    let meta = decode_metadata(path, &meta_bytes, id)?;
    Ok(SnapshotFile::new(
        path.to_path_buf(),
        meta,
        file,
        map,
        layout,
        prefix,
    ))
}

fn data_range(layout: &Layout) -> std::ops::Range<usize> {
    let start = layout.data_offset() as usize;
    start..start + layout.data_len as usize
}

fn read_at(file: &dyn FileHandle, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    file.read_at(buf, offset)
        .map_err(|e| Error::io("read", path, e))
}

/// Streams the data region into `hasher` through one bounded buffer, calling `pace` with the
/// bytes of each read; returns false if `pace` stopped it.
fn hash_file(
    file: &dyn FileHandle,
    path: &Path,
    layout: &Layout,
    hasher: &mut crc32fast::Hasher,
    pace: &mut dyn FnMut(u64) -> bool,
) -> Result<bool> {
    let mut buf = vec![0u8; layout.data_len.min(CHUNK) as usize];
    let mut pos = layout.data_offset();
    let end = pos + layout.data_len;
    while pos < end {
        let n = (end - pos).min(CHUNK) as usize;
        read_at(file, path, &mut buf[..n], pos)?;
        hasher.update(&buf[..n]);
        pos += n as u64;
        if !pace(n as u64) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Step 4: the checksum of everything before the stored one (`hasher` has all but the trailer).
fn check_crc(
    path: &Path,
    layout: &Layout,
    trailer: &[u8],
    mut hasher: crc32fast::Hasher,
) -> Result<()> {
    hasher.update(&trailer[..8]);
    let computed = hasher.finalize();
    if computed != layout.stored_crc {
        return Err(Error::ChecksumMismatch {
            path: path.to_path_buf(),
            offset: layout.crc_offset(),
            stored: layout.stored_crc,
            computed,
        });
    }
    Ok(())
}

/// What [`Snapshotter::verify_paced`](crate::Snapshotter::verify_paced) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Every check passed; this many bytes of data were read.
    Whole {
        /// Bytes of snapshot data read and checksummed.
        data_bytes: u64,
    },
    /// The caller's pace function stopped the verification.
    Stopped,
    /// The file was removed before it could be opened.
    Gone,
}

/// Checks `path` (snapshot `id`) like a load does, streaming the data through positional reads
/// (no memory map, nothing quarantined) and calling `pace` after each read.
pub(crate) fn verify_paced(
    fs: &dyn FileSystem,
    path: &Path,
    id: SnapshotId,
    pace: &mut dyn FnMut(u64) -> bool,
) -> Result<Verified> {
    let frame = match read_frame(fs, path) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Verified::Gone)
        }
        other => other?,
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&frame.header);
    hasher.update(&frame.meta_bytes);
    if !hash_file(&*frame.file, path, &frame.layout, &mut hasher, pace)? {
        return Ok(Verified::Stopped);
    }
    check_crc(path, &frame.layout, &frame.trailer, hasher)?;
    decode_metadata(path, &frame.meta_bytes, id)?;
    Ok(Verified::Whole {
        data_bytes: frame.layout.data_len,
    })
}

pub(crate) fn decode_metadata(path: &Path, bytes: &[u8], id: SnapshotId) -> Result<SnapshotMarker> {
    let meta = SnapshotMarker::decode(bytes).map_err(|_| Error::Malformed {
        path: path.to_path_buf(),
        offset: HEADER_LEN,
        reason: "metadata does not decode",
    })?;
    if SnapshotId::of(&meta) != id {
        return Err(Error::NameMismatch {
            path: path.to_path_buf(),
            name_index: id.index,
            name_term: id.term,
            index: meta.index,
            term: meta.term,
        });
    }
    Ok(meta)
}

/// Tells the kernel the map is about to be read front to back, so it reads ahead aggressively
/// on a cold file. Advice only: a failure changes nothing but speed.
fn advise_sequential(map: &memmap2::Mmap) {
    let _ = map.advise(memmap2::Advice::Sequential);
}
