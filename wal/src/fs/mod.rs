//! The file-system seam: every byte stele-wal (and stele-snap) reads or writes goes through
//! [`FileSystem`] and [`FileHandle`].
//!
//! Two implementations exist: [`StdFs`], the real one (`pread`/`pwrite`, `fdatasync`,
//! `fallocate`, `flock`), and `sim::SimFs`, an in-memory disk for tests that can crash (losing
//! everything not yet made durable by the matching sync), fail a chosen call, or fill up. The
//! simulated disk is built only with the `testing` cargo feature, which tests and benches enable.
//!
//! The trait is deliberately small and mirrors the system calls the durability protocol is written
//! in (see `docs/DURABILITY.md`), so that a reader can check each protocol step against one call.
//! Durability rules an implementation must follow:
//! - data written with [`FileHandle::write_at`] or a size change by [`FileHandle::set_len`] is
//!   durable only after [`FileHandle::sync_data`] or [`FileHandle::sync_all`] on that file;
//! - a create, rename or remove is durable only after [`FileSystem::sync_dir`] on its directory.

#[cfg(feature = "testing")]
pub mod sim;
mod std_fs;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use std_fs::StdFs;

/// A shared, thread-safe file-system handle.
pub type DynFs = Arc<dyn FileSystem>;

/// An open file. Positional I/O only, so one handle can be shared by readers and the writer.
// `len` mirrors the system call (`fstat`); an `is_empty` would add nothing the protocols use.
#[allow(clippy::len_without_is_empty)]
pub trait FileHandle: Send + Sync + fmt::Debug {
    /// Fills `buf` from `offset`; reading past the end of the file is an `UnexpectedEof` error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: makes written data (and a size change needed to read it) durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: makes data and all metadata durable.
    fn sync_all(&self) -> io::Result<()>;
    /// The current length of the file.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends (with zeros, not allocated) the file to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves disk blocks for `[0, len)` (`fallocate`), extending the file size if needed.
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// A read-only memory map of the whole file, or `None` where mapping is not supported.
    fn map(&self) -> io::Result<Option<memmap2::Mmap>>;
}

/// A directory tree of files. Paths are absolute or relative to the process's working directory.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// Creates a new file for reading and writing; fails if it already exists.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileHandle>>;
    /// Opens an existing file, read-only or for reading and writing.
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileHandle>>;
    /// Renames a file within one directory, replacing any file at `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The names of the regular files in `dir`, in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// `fsync` of a directory: makes creates, renames and removes inside it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing) without blocking. A lock that is
    /// already held, by this process or another, is an error of kind `WouldBlock`. The lock is
    /// released when the guard is dropped.
    fn lock(&self, path: &Path) -> io::Result<LockGuard>;
}

/// Holds a lock taken by [`FileSystem::lock`] until dropped.
pub struct LockGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl LockGuard {
    /// Wraps whatever keeps the lock alive (a locked file, a registry entry).
    pub fn new(inner: Box<dyn Send + Sync>) -> Self {
        LockGuard(inner)
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
