//! [`StdFs`]: the real file system, through `std::fs`, `fs2` and `memmap2`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use fs2::FileExt as _;

use super::{FileHandle, FileSystem, LockGuard};

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

impl StdFs {
    /// A shareable handle to the real file system.
    pub fn shared() -> super::DynFs {
        Arc::new(StdFs)
    }
}

#[derive(Debug)]
struct StdFile(File);

impl FileHandle for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        self.0.allocate(len)
    }
    #[allow(unsafe_code)]
    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        if self.len()? == 0 {
            return Ok(None);
        }
        // SAFETY: stele maps only files that are never written again: sealed WAL segments and
        // published snapshot files (replaced by rename, never changed in place), while the
        // directory lock keeps other stele writers out. A file truncated behind our back by
        // another program would fault, which the lock and the documentation rule out.
        let map = unsafe { memmap2::Mmap::map(&self.0)? };
        Ok(Some(map))
    }
}

impl FileSystem for StdFs {
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileHandle>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(StdFile(f)))
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileHandle>> {
        let f = OpenOptions::new().read(true).write(writable).open(path)?;
        Ok(Arc::new(StdFile(f)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        // std reports a file (or a dangling symlink, or a symlink loop) in the way as "File
        // exists"; say what is actually there.
        std::fs::create_dir_all(dir).map_err(|e| match std::fs::metadata(dir) {
            Err(m) if m.kind() != io::ErrorKind::NotFound => m,
            Ok(md) if !md.is_dir() => io::Error::new(
                io::ErrorKind::NotADirectory,
                "exists and is not a directory",
            ),
            _ => e,
        })
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match f.try_lock_exclusive() {
            Ok(()) => Ok(LockGuard::new(Box::new(f))),
            // flock(LOCK_NB) reports a held lock as EWOULDBLOCK, which std maps to WouldBlock.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held"))
            }
            Err(e) => Err(e),
        }
    }
}
