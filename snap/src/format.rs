//! The byte layout of a snapshot file (`docs/FORMAT.md` §5 is the prose specification; the
//! golden-file test pins these bytes).
//!
//! ```text
//! offset            size      field
//! 0                 24        header: magic "STELSNAP", version, header length, metadata
//!                             length, reserved
//! 24                meta_len  metadata: prost `SnapshotMarker` (eraftpb `SnapshotMetadata`)
//! 24 + meta_len     data_len  data: the state machine's bytes, opaque
//! len - 16          16        trailer: data length, CRC-32 of bytes [0, len - 8), magic "SNPE"
//! ```
//!
//! All integers are little-endian. The data length lives in the trailer, not the header, so a
//! file is written front to back in one pass without knowing the data's size in advance.
//!
//! Invariant: every length read from a file is checked against the file's length (and the
//! metadata length against [`MAX_METADATA_LEN`]) before it is used to read or allocate anything,
//! so a damaged or hostile file yields an error, never a panic or a huge allocation.

use std::path::Path;

use crate::error::{Error, Result};

/// Magic at offset 0 of every snapshot file.
pub const MAGIC: [u8; 8] = *b"STELSNAP";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the header.
pub const HEADER_LEN: u64 = 24;
/// Length of the trailer at the very end of the file.
pub const TRAILER_LEN: u64 = 16;
/// Magic in the last 4 bytes of every snapshot file.
pub const TRAILER_MAGIC: [u8; 4] = *b"SNPE";
/// Largest metadata accepted (64 MiB; a ConfState of a few thousand members is a few KiB).
pub const MAX_METADATA_LEN: u32 = 64 << 20;
/// The smallest possible snapshot file: header and trailer around empty metadata and data.
pub const MIN_FILE_LEN: u64 = HEADER_LEN + TRAILER_LEN;

/// The 24-byte header for metadata of `meta_len` bytes.
pub fn encode_header(meta_len: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[16..20].copy_from_slice(&meta_len.to_le_bytes());
    // 20..24: reserved, zero.
    h
}

/// The first 8 bytes of the trailer: the data length. They are covered by the checksum.
pub fn encode_data_len(data_len: u64) -> [u8; 8] {
    data_len.to_le_bytes()
}

/// The last 8 bytes of the trailer: the checksum and the trailer magic.
pub fn encode_trailer_tail(crc: u32) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[0..4].copy_from_slice(&crc.to_le_bytes());
    t[4..8].copy_from_slice(&TRAILER_MAGIC);
    t
}

/// Where the parts of a checked file lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The length of the whole file.
    pub file_len: u64,
    /// The length of the metadata.
    pub meta_len: u32,
    /// The length of the data.
    pub data_len: u64,
    /// The checksum stored in the trailer.
    pub stored_crc: u32,
}

impl Layout {
    /// The offset of the first data byte.
    pub fn data_offset(&self) -> u64 {
        HEADER_LEN + u64::from(self.meta_len)
    }

    /// The offset of the stored checksum; the checksum covers every byte before it.
    pub fn crc_offset(&self) -> u64 {
        self.file_len - 8
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn malformed(path: &Path, offset: u64, reason: &'static str) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

fn truncated(path: &Path, len: u64, reason: &'static str) -> Error {
    Error::Truncated {
        path: path.to_path_buf(),
        len,
        reason,
    }
}

/// Checks the header of a file of `file_len` bytes and returns the metadata length, which is
/// then known to fit in the file together with the header and trailer.
pub(crate) fn parse_header(
    path: &Path,
    h: &[u8; HEADER_LEN as usize],
    file_len: u64,
) -> Result<u32> {
    if h[0..8] != MAGIC {
        return Err(malformed(path, 0, "bad magic (not a stele snapshot file)"));
    }
    if u32_at(h, 8) != FORMAT_VERSION {
        return Err(malformed(path, 8, "unsupported format version"));
    }
    if u64::from(u32_at(h, 12)) != HEADER_LEN {
        return Err(malformed(path, 12, "header length is not 24"));
    }
    if u32_at(h, 20) != 0 {
        return Err(malformed(path, 20, "reserved header bytes are not zero"));
    }
    let meta_len = u32_at(h, 16);
    if meta_len > MAX_METADATA_LEN {
        return Err(malformed(
            path,
            16,
            "metadata length exceeds the 64 MiB limit",
        ));
    }
    if MIN_FILE_LEN + u64::from(meta_len) > file_len {
        return Err(truncated(
            path,
            file_len,
            "shorter than header, metadata and trailer",
        ));
    }
    Ok(meta_len)
}

/// Checks the trailer (the last 16 bytes of a file whose header gave `meta_len`) and returns the
/// layout; the lengths are then known to add up to the file length exactly.
pub(crate) fn parse_trailer(
    path: &Path,
    t: &[u8; TRAILER_LEN as usize],
    file_len: u64,
    meta_len: u32,
) -> Result<Layout> {
    if t[12..16] != TRAILER_MAGIC {
        return Err(truncated(
            path,
            file_len,
            "the last bytes are not a trailer",
        ));
    }
    let data_len = u64_at(t, 0);
    let expected = (MIN_FILE_LEN + u64::from(meta_len)).checked_add(data_len);
    if expected != Some(file_len) {
        return Err(malformed(
            path,
            file_len - TRAILER_LEN,
            "data length in the trailer disagrees with the file length",
        ));
    }
    Ok(Layout {
        file_len,
        meta_len,
        data_len,
        stored_crc: u32_at(t, 8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejections() {
        let p = Path::new("x");
        let h = encode_header(10);
        assert_eq!(parse_header(p, &h, 50).unwrap(), 10);
        assert!(matches!(
            parse_header(p, &h, 49),
            Err(Error::Truncated { .. })
        ));
        let mut bad = h;
        bad[20] = 1;
        assert!(matches!(
            parse_header(p, &bad, 50),
            Err(Error::Malformed { offset: 20, .. })
        ));
        let huge = encode_header(u32::MAX);
        assert!(matches!(
            parse_header(p, &huge, u64::MAX),
            Err(Error::Malformed { offset: 16, .. })
        ));
    }

    #[test]
    fn trailer_lengths_must_add_up() {
        let p = Path::new("x");
        let mut t = [0u8; 16];
        t[0..8].copy_from_slice(&encode_data_len(5));
        t[8..16].copy_from_slice(&encode_trailer_tail(7));
        let l = parse_trailer(p, &t, 55, 10).unwrap();
        assert_eq!(
            (l.data_len, l.stored_crc, l.data_offset(), l.crc_offset()),
            (5, 7, 34, 47)
        );
        assert!(matches!(
            parse_trailer(p, &t, 56, 10),
            Err(Error::Malformed { .. })
        ));
        t[0..8].copy_from_slice(&encode_data_len(u64::MAX));
        assert!(matches!(
            parse_trailer(p, &t, 55, 10),
            Err(Error::Malformed { .. })
        ));
    }
}
