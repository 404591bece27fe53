//! Opening a WAL directory, in named steps around the shared replayer ([`crate::replay`]):
//! check the options, make the directory durable, lock it, list it, replay the segment chain
//! (sealed segments from their seals, the active one batch by batch), repair or refuse a torn
//! tail, and make what was recovered durable before anyone is told about it.
//!
//! Rules, each an error naming the file and offset when broken (see `replay/` for the rules the
//! replay itself applies):
//! - segment names parse and sequence numbers are consecutive;
//! - every segment but the last carries a valid seal; the last is sealed or scanned;
//! - in the last segment, damage followed by a valid batch is corruption; damage with nothing
//!   valid after it is a torn tail, truncated in `TolerateCorruptTail` mode.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::batch::Body;
use crate::error::{Damage, Error, Result};
use crate::footer::{self, SegStats};
use crate::format::{self, BatchHeader, LOCK_NAME, TRAILER_LEN};
use crate::fs::{FileSystem, LockGuard};
use crate::options::{RecoveryMode, WalOptions};
use crate::replay::chain::Chain;
use crate::replay::listing::{self, OtherKind, BAD_SEGMENT_NAME};
use crate::replay::seal::apply_seal;
use crate::replay::segment_file::open_segment;
use crate::replay::walk::{is_zero, walk_batches, End, Visitor};
use crate::replay::Policy;
use crate::segment::Segment;
use crate::spare::{Spare, SpareFile};
use crate::wal::{Active, Inner, RecoveryReport, Recyclable, Wal};

/// The directory's files, sorted out.
struct Listing {
    /// (seq, first index, path), by seq.
    segments: Vec<(u64, u64, PathBuf)>,
    recycle: Vec<PathBuf>,
    /// A spare left by the last process (`spare.rs`).
    spare: Option<PathBuf>,
}

/// What replaying the segment chain rebuilt.
struct Replayed {
    chain: Chain,
    active: Option<Active>,
}

fn take_lock(fs: &dyn FileSystem, dir: &Path) -> Result<LockGuard> {
    let path = dir.join(LOCK_NAME);
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { path: path.clone() },
        _ => Error::io("lock", &path, e),
    })
}

/// Creates the directory if needed and makes its own entry durable.
fn prepare_dir(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    fs.create_dir_all(dir)
        .map_err(|e| Error::io("create_dir", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The WAL directory's own entry must be durable before anything in it is.
        fs.sync_dir(parent)
            .map_err(|e| Error::io("sync_dir", parent, e))?;
    }
    Ok(())
}

/// Lists the directory: segments by sequence number, temporary files removed, recyclable
/// files collected, anything else left alone and reported.
fn list(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &WalOptions,
    report: &mut RecoveryReport,
) -> Result<Listing> {
    let mut segments = Vec::new();
    let mut recycle = Vec::new();
    let mut spare = None;
    let mut removed = false;
    let remove = |path: &Path| fs.remove(path).map_err(|e| Error::io("remove", path, e));
    for name in fs.list(dir).map_err(|e| Error::io("list", dir, e))? {
        let path = dir.join(&name);
        match listing::classify(&name) {
            Ok((seq, first)) => segments.push((seq, first, path)),
            Err(OtherKind::Temp) => {
                remove(&path)?;
                report.removed_temp_files.push(path);
                removed = true;
            }
            Err(OtherKind::Recycle) if recycle.len() < opts.recycle => recycle.push(path),
            Err(OtherKind::Recycle) => {
                remove(&path)?;
                removed = true;
            }
            Err(OtherKind::Spare) if spare.is_none() => spare = Some(path),
            Err(OtherKind::Spare) => {
                remove(&path)?;
                removed = true;
            }
            Err(OtherKind::BadSegmentName) => {
                let reason = BAD_SEGMENT_NAME.to_string();
                return Err(Error::BadDirectory { path, reason });
            }
            Err(OtherKind::Lock) => {}
            Err(OtherKind::Ignored) => {
                log::warn!("stele-wal: ignoring {} (not a WAL file)", path.display());
                report.ignored_files.push(path);
            }
        }
    }
    if removed {
        // Make the removals durable so a crash cannot bring the files back half-handled.
        fs.sync_dir(dir)
            .map_err(|e| Error::io("sync_dir", dir, e))?;
    }
    segments.sort();
    // A name's sequence number is counted up from at every cut: bound it before it is used.
    if let Some((seq, _, path)) = segments.last().filter(|s| s.0 > format::MAX_SEQ) {
        return Err(Error::BadDirectory {
            path: path.clone(),
            reason: format!(
                "segment sequence number {seq:#x} out of range (at most {:#x})",
                format::MAX_SEQ
            ),
        });
    }
    for w in segments.windows(2) {
        if let Some(b) = listing::chain_break(w[0].0, w[1].0) {
            let path = w[1].2.clone();
            return Err(Error::BadDirectory {
                path,
                reason: b.to_string(),
            });
        }
    }
    Ok(Listing {
        segments,
        recycle,
        spare,
    })
}

/// Replays every segment in order: sealed ones from their seals, the last (if unsealed) batch
/// by batch with its tail handled.
fn replay_chain(
    fs: &dyn FileSystem,
    listing: &Listing,
    mode: RecoveryMode,
    report: &mut RecoveryReport,
) -> Result<Replayed> {
    let mut chain = Chain::new(Policy::Strict, listing.segments.first().map(|s| s.0));
    let mut active = None;
    let n = listing.segments.len();
    for (i, (seq, first, path)) in listing.segments.iter().cloned().enumerate() {
        let is_last = i + 1 == n;
        let file = fs
            .open(&path, is_last)
            .map_err(|e| Error::io("open", &path, e))?;
        let seg = Arc::new(open_segment(file, path, seq, first)?);
        chain
            .enter(&seg)
            .map_err(|f| Error::corrupt(&seg.path, 0, f.damage))?;
        match footer::read(&seg)? {
            Some(f) => {
                let at = seg.size - TRAILER_LEN;
                apply_seal(&mut chain, &f, seg.size)
                    .map_err(|d| Error::corrupt(&seg.path, at, d))?;
                seg.mark_sealed();
                report.sealed += 1;
            }
            None if !is_last => {
                let at = seg.size - TRAILER_LEN;
                return Err(Error::corrupt(&seg.path, at, Damage::BadSeal));
            }
            None => active = Some(recover_active(&seg, &mut chain, mode, report)?),
        }
        chain.leave();
    }
    Ok(Replayed { chain, active })
}

/// Opening's visitor of the active segment's batches: each is replayed strictly.
struct StrictReplay<'a> {
    seg: &'a Segment,
    chain: &'a mut Chain,
    stats: SegStats,
}

impl Visitor for StrictReplay<'_> {
    fn batch(&mut self, off: u64, h: &BatchHeader, raw: &[u8], body: Body) -> Result<bool> {
        self.chain
            .batch(self.seg, off, h, raw, body, &mut self.stats, &mut |_| {})
            .map_err(|d| Error::corrupt(&self.seg.path, off, d))?;
        Ok(true)
    }

    fn skipped(&mut self, _: u64, _: Option<Damage>, _: u64) {
        unreachable!("a strict walk returns damage before a valid batch as an error")
    }
}

/// Zeroes `[from, data_limit)` of a segment (skipping chunks already zero) and syncs it.
fn zero_from(seg: &Segment, from: u64) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK as usize];
    let mut at = from;
    while at < seg.data_limit() {
        let len = CHUNK.min(seg.data_limit() - at);
        if !is_zero(&seg.read(at, len)?) {
            seg.file
                .write_at(&zeros[..len as usize], at)
                .map_err(|e| Error::io("write", &seg.path, e))?;
        }
        at += len;
    }
    seg.file
        .sync_data()
        .map_err(|e| Error::io("fdatasync", &seg.path, e))
}

/// Scans the active segment and handles its end; returns where writing resumes.
fn recover_active(
    seg: &Arc<Segment>,
    chain: &mut Chain,
    mode: RecoveryMode,
    report: &mut RecoveryReport,
) -> Result<Active> {
    let mut replay = StrictReplay {
        seg,
        chain,
        stats: SegStats::default(),
    };
    let end = walk_batches(seg, Policy::Strict, &mut replay)?;
    let stats = replay.stats;
    report.scanned_bytes += seg.data_limit();
    if let End::Torn(at, d) = &end {
        if mode == RecoveryMode::AbsoluteConsistency {
            let damage = Damage::TornTail(Box::new(d.clone()));
            return Err(Error::corrupt(&seg.path, *at, damage));
        }
        log::warn!(
            "stele-wal: {}: torn last batch at offset {at} ({d}); truncating it and zeroing what follows",
            seg.path.display()
        );
        zero_from(seg, *at)?;
        report.torn_tail = Some((seg.path.clone(), *at));
    }
    Ok(Active {
        seg: seg.clone(),
        pos: end.offset(),
        stats,
    })
}

/// Opens the spare a previous process left; one that cannot be opened or is too small is
/// removed (best effort: it is not part of the log, and a new one will be prepared).
fn reopen_spare(fs: &dyn FileSystem, path: PathBuf, size: u64) -> Option<SpareFile> {
    let opened = fs.open(&path, true).and_then(|f| Ok((f.len()?, f)));
    match opened {
        Ok((len, file)) if len >= size => Some(SpareFile {
            path,
            file,
            size: len,
        }),
        _ => {
            let _ = fs.remove(&path);
            None
        }
    }
}

/// Makes what open reports as the log durable: raft takes everything in storage as persisted
/// at startup, and a crashed writer may have left written but unsynced batches (and unsynced
/// directory entries) that the page cache still shows.
fn make_durable(fs: &dyn FileSystem, dir: &Path, replayed: &Replayed, n: usize) -> Result<()> {
    if let Some(a) = &replayed.active {
        a.seg
            .file
            .sync_data()
            .map_err(|e| Error::io("fdatasync", &a.seg.path, e))?;
    }
    if n > 0 {
        fs.sync_dir(dir)
            .map_err(|e| Error::io("sync_dir", dir, e))?;
    }
    Ok(())
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`, recovers it, and locks it.
    ///
    /// Fails with [`Error::InvalidOptions`] for options out of range, with [`Error::Locked`] if
    /// another handle has it open, and with an error naming the file and offset if the log is
    /// damaged beyond a torn tail (see [`RecoveryMode`]).
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<Wal> {
        let t0 = Instant::now();
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let fs = opts.fs.clone();
        prepare_dir(&*fs, &dir)?;
        let lock = take_lock(&*fs, &dir)?;
        let mut report = RecoveryReport::default();
        let listing = list(&*fs, &dir, &opts, &mut report)?;
        let replayed = replay_chain(&*fs, &listing, opts.recovery, &mut report)?;
        let n = listing.segments.len();
        make_durable(&*fs, &dir, &replayed, n)?;
        let (index, state) = replayed.chain.finish();
        report.segments = n;
        report.first_index = index.first_index();
        report.last_index = index.last_index();
        report.elapsed = t0.elapsed();
        let next_seq = listing.segments.last().map_or(0, |s| s.0 + 1);
        let recycle = listing
            .recycle
            .into_iter()
            .map(|path| Recyclable {
                path,
                old: Default::default(),
            })
            .collect();
        let inner = Inner::recovered(index, state, replayed.active, next_seq, recycle);
        let leftover = listing
            .spare
            .and_then(|p| reopen_spare(&*fs, p, opts.segment_size));
        let spare = Spare::start(dir.clone(), &opts, leftover);
        let wal = Wal {
            dir,
            opts,
            inner: Mutex::new(inner),
            cond: Condvar::new(),
            purge_lock: Mutex::new(()),
            report,
            salt_counter: AtomicU64::new(0),
            spare,
            _lock: lock,
        };
        wal.start_writing()?;
        Ok(wal)
    }

    /// Makes sure a segment is open for appends when opening returns (so the first append does
    /// not create one), and that the next one's file is being prepared.
    fn start_writing(&self) -> Result<()> {
        let mut inner = self.lock_inner();
        if inner.active.is_none() {
            self.cut(&mut inner, 0)?;
            drop(inner);
            // The first segment is complete (named, durable) when opening returns, so the
            // first append pays one write and one fdatasync.
            return self.complete_cuts();
        }
        if !inner.recycle.iter().any(|r| r.old.strong_count() == 0) {
            self.spare.request(inner.next_seq);
        }
        Ok(())
    }
}
