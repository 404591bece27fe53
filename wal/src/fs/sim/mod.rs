//! [`SimFs`]: an in-memory disk for tests that can crash, fail a chosen call, or fill up.
//!
//! The crash model follows the durability rules of the [`FileSystem`] trait exactly:
//! - each file has a *current* image (what reads see) and a *durable* image (what survives a
//!   crash); writes and size changes are queued on the file and reach the durable image only at
//!   `sync_data`/`sync_all` of that file (syncing never happens on close or drop);
//! - each directory has current and durable name tables; creates, renames and removes are queued
//!   and reach the durable table only at `sync_dir` of that directory.
//!
//! [`SimFs::crash`] throws the current images away. [`CrashMode::DropUnsynced`] keeps only the
//! durable images; [`CrashMode::KeepPrefix`] also keeps a random prefix of each file's (and each
//! directory's) queued operations, with the last kept write torn at a random byte, which models a
//! disk that persists writes in order and tears the last one.
//!
//! Every call is one *step*. [`SimFs::crash_at`] makes step `n` and everything after it fail as if
//! the process had died there, which lets a test crash a workload at every I/O step in turn.
//! [`SimFs::fail`] makes one chosen call fail (EIO, ENOSPC, or a short write) and
//! [`SimFs::set_capacity`] makes writes that grow the disk past a limit fail with ENOSPC.
//! Directories are created durably at once (stele creates its directories before writing files).
//! Memory maps are not supported: [`FileHandle::map`] returns `None`.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{FileHandle, FileSystem, LockGuard};

mod file;
use file::SimFile;

/// A kind of call, for [`SimFs::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`FileSystem::create`]
    Create,
    /// [`FileSystem::open`]
    Open,
    /// [`FileHandle::read_at`]
    Read,
    /// [`FileHandle::write_at`]
    Write,
    /// [`FileHandle::sync_data`]
    SyncData,
    /// [`FileHandle::sync_all`]
    SyncAll,
    /// [`FileHandle::len`]
    Len,
    /// [`FileHandle::set_len`]
    SetLen,
    /// [`FileHandle::allocate`]
    Allocate,
    /// [`FileSystem::rename`]
    Rename,
    /// [`FileSystem::remove`]
    Remove,
    /// [`FileSystem::list`]
    List,
    /// [`FileSystem::create_dir_all`]
    CreateDir,
    /// [`FileSystem::sync_dir`]
    SyncDir,
    /// [`FileSystem::lock`]
    Lock,
}

/// How an injected failure shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with EIO and has no effect.
    Eio,
    /// The call fails with ENOSPC and has no effect.
    NoSpace,
    /// A write stores its first half, then fails with EIO (other calls: as `Eio`).
    ShortWrite,
}

/// What survives [`SimFs::crash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Only what was made durable by the matching sync.
    DropUnsynced,
    /// The durable state plus a random prefix of the queued operations of each file and
    /// directory, the last kept write torn at a random byte; `seed` picks the prefixes.
    KeepPrefix {
        /// Seed of the pseudo-random choices.
        seed: u64,
    },
}

#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(String, usize),
    Unlink(String),
    Rename(String, String, usize),
}

#[derive(Debug, Default)]
struct Dir {
    current: BTreeMap<String, usize>,
    durable: BTreeMap<String, usize>,
    pending: Vec<DirOp>,
}

#[derive(Debug, Default)]
struct State {
    inodes: Vec<Inode>,
    dirs: BTreeMap<PathBuf, Dir>,
    steps: u64,
    crash_at: Option<u64>,
    crashed: bool,
    faults: Vec<(Op, u64, Fault)>,
    capacity: Option<u64>,
    locks: HashSet<PathBuf>,
    generation: u64,
}

/// Holds `sync_data`/`sync_all` calls while closed (see [`SimFs::hold_syncs`]).
#[derive(Debug, Default)]
struct Gate {
    closed: Mutex<(bool, usize)>,
    changed: std::sync::Condvar,
}

/// The simulated disk. Clones share the same disk.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
    gate: Arc<Gate>,
}

fn errno(code: i32, what: &str) -> io::Error {
    io::Error::new(
        io::Error::from_raw_os_error(code).kind(),
        format!("simfs: {what}"),
    )
}

fn crashed_error() -> io::Error {
    io::Error::other("simfs: the simulated process has crashed")
}

fn fault_error(f: Fault) -> io::Error {
    match f {
        Fault::NoSpace => io::Error::from_raw_os_error(28),
        Fault::Eio | Fault::ShortWrite => io::Error::from_raw_os_error(5),
    }
}

fn apply(data: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write(off, bytes) => {
            let end = *off as usize + bytes.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[*off as usize..end].copy_from_slice(bytes);
        }
        Pending::SetLen(len) => data.resize(*len as usize, 0),
    }
}

fn apply_dir(table: &mut BTreeMap<String, usize>, op: &DirOp) {
    match op {
        DirOp::Link(name, ino) => {
            table.insert(name.clone(), *ino);
        }
        DirOp::Unlink(name) => {
            table.remove(name);
        }
        DirOp::Rename(from, to, ino) => {
            table.remove(from);
            table.insert(to.clone(), *ino);
        }
    }
}

/// A small deterministic generator (xorshift64*), enough to pick crash prefixes.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "simfs: bad path"))?;
    Ok((parent, name.to_string()))
}

impl State {
    /// Counts one step and returns the fault to inject, if any.
    fn step(&mut self, op: Op) -> io::Result<Option<Fault>> {
        if self.crashed {
            return Err(crashed_error());
        }
        self.steps += 1;
        if self.crash_at == Some(self.steps) {
            self.crashed = true;
            return Err(crashed_error());
        }
        if let Some(pos) = self.faults.iter().position(|(o, _, _)| *o == op) {
            if self.faults[pos].1 == 0 {
                let (_, _, fault) = self.faults.remove(pos);
                return Ok(Some(fault));
            }
            self.faults[pos].1 -= 1;
        }
        Ok(None)
    }

    fn dir(&mut self, dir: &Path) -> io::Result<&mut Dir> {
        self.dirs
            .get_mut(dir)
            .ok_or_else(|| errno(2, "no such directory"))
    }

    fn lookup(&mut self, path: &Path) -> io::Result<usize> {
        let (dir, name) = split(path)?;
        self.dir(&dir)?
            .current
            .get(&name)
            .copied()
            .ok_or_else(|| errno(2, "no such file"))
    }

    fn used(&self) -> u64 {
        let mut seen = HashSet::new();
        let mut total = 0;
        for dir in self.dirs.values() {
            for ino in dir.current.values() {
                if seen.insert(*ino) {
                    total += self.inodes[*ino].data.len() as u64;
                }
            }
        }
        total
    }

    /// ENOSPC if growing inode `ino` to `new_len` would pass the capacity.
    fn check_space(&self, ino: usize, new_len: u64) -> io::Result<()> {
        let Some(cap) = self.capacity else {
            return Ok(());
        };
        let old = self.inodes[ino].data.len() as u64;
        if new_len > old && self.used() + (new_len - old) > cap {
            return Err(io::Error::from_raw_os_error(28));
        }
        Ok(())
    }

    fn file_op(&mut self, ino: usize, op: Pending) {
        let inode = &mut self.inodes[ino];
        apply(&mut inode.data, &op);
        inode.pending.push(op);
    }

    fn sync_file(&mut self, ino: usize) {
        let inode = &mut self.inodes[ino];
        for op in inode.pending.drain(..) {
            apply(&mut inode.durable, &op);
        }
    }
}

impl SimFs {
    /// A new, empty simulated disk.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of steps (calls) made so far.
    pub fn steps(&self) -> u64 {
        self.lock_state().steps
    }

    /// Makes the call that is step number `n` (an absolute count: the next call is step
    /// `steps() + 1`, so `crash_at(steps() + 1)` crashes the very next call) and every later
    /// call fail, as if the process died just before that call took effect.
    pub fn crash_at(&self, n: u64) {
        self.lock_state().crash_at = Some(n);
    }

    /// True once a crash set by [`crash_at`](Self::crash_at) has happened.
    pub fn has_crashed(&self) -> bool {
        self.lock_state().crashed
    }

    /// Makes the `nth` (0 = next) future call of kind `op` fail with `fault`.
    pub fn fail(&self, op: Op, nth: u64, fault: Fault) {
        self.lock_state().faults.push((op, nth, fault));
    }

    /// Limits the total size of all files; growing past it fails with ENOSPC. `None`: no limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock_state().capacity = bytes;
    }

    /// While `hold` is true, file syncs block (before taking effect) until it is set false
    /// again: lets a test line up concurrent appenders behind one sync deterministically.
    pub fn hold_syncs(&self, hold: bool) {
        let mut g = self.gate.closed.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = hold;
        self.gate.changed.notify_all();
    }

    /// How many syncs are blocked by [`hold_syncs`](Self::hold_syncs) right now.
    pub fn held_syncs(&self) -> usize {
        self.gate.closed.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    fn pass_gate(&self) {
        let mut g = self.gate.closed.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 {
            g.1 += 1;
            self.gate.changed.notify_all();
            while g.0 {
                g = self.gate.changed.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            g.1 -= 1;
        }
    }

    /// Simulates a power loss: every handle and lock from before becomes dead, unsynced state is
    /// lost as `mode` says, and pending crash points and faults are cleared.
    pub fn crash(&self, mode: CrashMode) {
        let mut st = self.lock_state();
        let mut rng = Rng(match mode {
            CrashMode::DropUnsynced => 1,
            CrashMode::KeepPrefix { seed } => seed | 1,
        });
        let keep_prefix = matches!(mode, CrashMode::KeepPrefix { .. });
        for inode in &mut st.inodes {
            let mut data = inode.durable.clone();
            if keep_prefix && !inode.pending.is_empty() {
                let keep = rng.below(inode.pending.len() as u64 + 1) as usize;
                for (i, op) in inode.pending.iter().take(keep).enumerate() {
                    match op {
                        Pending::Write(off, bytes) if i + 1 == keep => {
                            let cut = rng.below(bytes.len() as u64 + 1) as usize;
                            apply(&mut data, &Pending::Write(*off, bytes[..cut].to_vec()));
                        }
                        other => apply(&mut data, other),
                    }
                }
            }
            inode.data = data.clone();
            inode.durable = data;
            inode.pending.clear();
        }
        for dir in st.dirs.values_mut() {
            if keep_prefix && !dir.pending.is_empty() {
                let keep = rng.below(dir.pending.len() as u64 + 1) as usize;
                let ops: Vec<DirOp> = dir.pending.iter().take(keep).cloned().collect();
                for op in &ops {
                    apply_dir(&mut dir.durable, op);
                }
            }
            dir.current = dir.durable.clone();
            dir.pending.clear();
        }
        st.locks.clear();
        st.generation += 1;
        st.crashed = false;
        st.crash_at = None;
        st.faults.clear();
    }

    /// The current contents of a file (what a read would see), without counting a step.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let mut st = self.lock_state();
        let ino = st.lookup(path).ok()?;
        Some(st.inodes[ino].data.clone())
    }

    /// Replaces a file's contents, current and durable at once, without counting a step: for
    /// tests that damage files "on disk".
    pub fn write_file(&self, path: &Path, data: &[u8]) {
        let mut st = self.lock_state();
        let ino = st
            .lookup(path)
            .expect("simfs: write_file of a missing file");
        let inode = &mut st.inodes[ino];
        inode.data = data.to_vec();
        inode.durable = data.to_vec();
        inode.pending.clear();
    }

    /// Removes a file durably, without counting a step: for tests that damage a directory.
    pub fn delete_file(&self, path: &Path) {
        let mut st = self.lock_state();
        let (dir, name) = split(path).expect("simfs: bad path");
        let d = st.dir(&dir).expect("simfs: no such directory");
        d.current.remove(&name);
        d.durable.remove(&name);
    }

    fn handle(&self, ino: usize, writable: bool) -> Arc<dyn FileHandle> {
        let generation = self.lock_state().generation;
        Arc::new(SimFile {
            fs: self.clone(),
            ino,
            writable,
            generation,
        })
    }
}

impl SimFs {
    fn fs_step(&self, op: Op) -> io::Result<MutexGuard<'_, State>> {
        let mut st = self.lock_state();
        if let Some(f) = st.step(op)? {
            return Err(fault_error(f));
        }
        Ok(st)
    }
}

impl FileSystem for SimFs {
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileHandle>> {
        let ino = {
            let mut st = self.fs_step(Op::Create)?;
            let (dir, name) = split(path)?;
            if st.dir(&dir)?.current.contains_key(&name) {
                return Err(errno(17, "file exists"));
            }
            st.inodes.push(Inode::default());
            let ino = st.inodes.len() - 1;
            let d = st.dir(&dir)?;
            d.current.insert(name.clone(), ino);
            d.pending.push(DirOp::Link(name, ino));
            ino
        };
        Ok(self.handle(ino, true))
    }

    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileHandle>> {
        let ino = {
            let mut st = self.fs_step(Op::Open)?;
            st.lookup(path)?
        };
        Ok(self.handle(ino, writable))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.fs_step(Op::Rename)?;
        let (dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if dir != to_dir {
            return Err(errno(18, "rename across directories"));
        }
        let d = st.dir(&dir)?;
        let ino = d
            .current
            .remove(&from_name)
            .ok_or_else(|| errno(2, "no such file"))?;
        d.current.insert(to_name.clone(), ino);
        d.pending.push(DirOp::Rename(from_name, to_name, ino));
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.fs_step(Op::Remove)?;
        let (dir, name) = split(path)?;
        let d = st.dir(&dir)?;
        d.current
            .remove(&name)
            .ok_or_else(|| errno(2, "no such file"))?;
        d.pending.push(DirOp::Unlink(name));
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut st = self.fs_step(Op::List)?;
        Ok(st.dir(dir)?.current.keys().cloned().collect())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.fs_step(Op::CreateDir)?;
        let mut p = Some(dir);
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            st.dirs.entry(d.to_path_buf()).or_default();
            p = d.parent();
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.fs_step(Op::SyncDir)?;
        let d = st.dir(dir)?;
        let ops: Vec<DirOp> = d.pending.drain(..).collect();
        for op in &ops {
            apply_dir(&mut d.durable, op);
        }
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let mut st = self.fs_step(Op::Lock)?;
        if !st.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "simfs: lock is held",
            ));
        }
        let generation = st.generation;
        Ok(LockGuard::new(Box::new(SimLock {
            fs: self.clone(),
            path: path.into(),
            generation,
        })))
    }
}

struct SimLock {
    fs: SimFs,
    path: PathBuf,
    generation: u64,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut st = self.fs.lock_state();
        if st.generation == self.generation {
            st.locks.remove(&self.path);
        }
    }
}
