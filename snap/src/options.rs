//! Options of a snapshot directory.
//!
//! Invariant: after [`Snapshotter::open`](crate::Snapshotter::open), `write_buffer` is at least
//! 1 (a zero is raised to 1, as it always was).

use stele_wal::fs::{DynFs, StdFs};

/// The default size of a writer's buffer (1 MiB).
pub const DEFAULT_WRITE_BUFFER: usize = 1 << 20;

/// Options for [`Snapshotter::open`](crate::Snapshotter::open).
#[derive(Debug, Clone)]
pub struct SnapOptions {
    /// The file system every file access goes through (default: the real one).
    pub fs: DynFs,
    /// Writes smaller than this are gathered into one buffer of this size before they reach the
    /// file; larger writes go straight through (default 1 MiB). At least 1.
    pub write_buffer: usize,
    /// Read loaded snapshots through a memory map where the file system offers one (default
    /// true); otherwise, and on file systems without maps, through positional reads.
    pub use_mmap: bool,
}

impl Default for SnapOptions {
    fn default() -> Self {
        SnapOptions {
            fs: StdFs::shared(),
            write_buffer: DEFAULT_WRITE_BUFFER,
            use_mmap: true,
        }
    }
}
