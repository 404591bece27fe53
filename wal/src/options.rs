//! [`WalOptions`]: how a WAL lays out, preallocates and recovers its segments.

use crate::fs::{DynFs, StdFs};

/// What to do with damage found at the end of the last segment when opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Truncate a torn last batch of the last segment (a write in flight at a crash, never
    /// acknowledged), zero what follows, and log it. Any other damage is an error.
    #[default]
    TolerateCorruptTail,
    /// Refuse any damage, a torn tail included.
    AbsoluteConsistency,
}

/// How a new segment file gets its space before it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preallocate {
    /// Write zeros over the whole file and sync: later appends overwrite written space, so
    /// `fdatasync` has no metadata to flush.
    #[default]
    ZeroFill,
    /// `fallocate`: blocks reserved but unwritten, so the first write to each block still
    /// changes metadata.
    Fallocate,
    /// `ftruncate` only: a sparse file; blocks are allocated as they are written.
    SetLen,
}

/// Options of [`Wal::open`](crate::Wal::open).
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Size of a segment file (default 64 MiB). A batch larger than this gets a larger segment
    /// of its own; a batch is never split. At most 4 GiB.
    pub segment_size: u64,
    /// How new segment files are preallocated.
    pub preallocate: Preallocate,
    /// How many purged segments to keep for reuse instead of removing them (default 2; 0:
    /// none). A reused segment is already allocated and written, so it needs no preallocation;
    /// its old bytes can never be read as data (every batch's checksum binds its segment's
    /// sequence number and salt).
    pub recycle: usize,
    /// What to do with a torn tail.
    pub recovery: RecoveryMode,
    /// Prepare the next segment's file (the spare) on a thread of the WAL's own while the
    /// current segment fills (default `true`), so a cut does not preallocate on the append
    /// path. `false`: the appending thread prepares it right after each cut (no extra thread,
    /// and a deterministic order of I/O calls, which the crash tests rely on).
    pub background_prepare: bool,
    /// After a failed preparation of the next segment's file (the disk full, say),
    /// [`Wal::check_room`](crate::Wal::check_room) asks for another attempt at most this often
    /// (default 1 s), so room freed on the disk is noticed without a restart.
    pub room_retry: std::time::Duration,
    /// The file system (the real one by default; tests pass a `SimFs`).
    pub fs: DynFs,
    /// Makes segment salts deterministic (for golden-file tests only; built with the
    /// `testing` feature). `None`: random salts.
    #[cfg(feature = "testing")]
    pub salt_seed: Option<u64>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 64 << 20,
            preallocate: Preallocate::ZeroFill,
            recycle: 2,
            recovery: RecoveryMode::TolerateCorruptTail,
            background_prepare: true,
            room_retry: std::time::Duration::from_secs(1),
            fs: StdFs::shared(),
            #[cfg(feature = "testing")]
            salt_seed: None,
        }
    }
}

impl WalOptions {
    /// The smallest segment the options accept: room for a header, a head batch and a trailer.
    pub const MIN_SEGMENT_SIZE: u64 = 256;

    /// Checks every option's range; [`Wal::open`](crate::Wal::open) calls it first.
    pub fn validate(&self) -> crate::Result<()> {
        if !(Self::MIN_SEGMENT_SIZE..=crate::format::MAX_SEGMENT_SIZE).contains(&self.segment_size)
        {
            let reason = format!(
                "segment_size {} is outside {}..={} bytes",
                self.segment_size,
                Self::MIN_SEGMENT_SIZE,
                crate::format::MAX_SEGMENT_SIZE
            );
            return Err(crate::Error::InvalidOptions { reason });
        }
        Ok(())
    }
}
