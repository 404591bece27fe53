//! Opening a WAL directory: lock, list, check the segment chain, rebuild the index from the
//! seals of sealed segments, scan the active one, and repair (or refuse) a torn tail.
//!
//! Rules, each an error naming the file and offset when broken:
//! - segment names parse, sequence numbers are consecutive, and each header matches its name;
//! - each segment's first index continues the log replayed so far;
//! - every segment but the last carries a valid seal; the last is sealed or scanned;
//! - in the last segment, damage followed by a valid batch is corruption; damage with nothing
//!   valid after it is a torn tail, truncated in `TolerateCorruptTail` mode.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::apply::apply;
use crate::error::{Damage, Error, Result};
use crate::footer::{self, SegStats};
use crate::format::{
    self, SegmentId, LOCK_NAME, RECYCLE_SUFFIX, SEGMENT_HEADER_LEN, TMP_SUFFIX, TRAILER_LEN,
};
use crate::fs::{FileSystem, LockGuard};
use crate::index::LogIndex;
use crate::options::{RecoveryMode, WalOptions};
use crate::records::{LogState, SegmentFooter};
use crate::scan::{find_valid_batch, scan_batches, ScanEnd};
use crate::segment::Segment;
use crate::wal::{Active, Inner, RecoveryReport, Recyclable, Wal};

/// The directory's files, sorted out.
struct Listing {
    /// (seq, first index, path), by seq.
    segments: Vec<(u64, u64, PathBuf)>,
    recycle: Vec<PathBuf>,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, path, e)
}

fn take_lock(fs: &dyn FileSystem, dir: &Path) -> Result<LockGuard> {
    let path = dir.join(LOCK_NAME);
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { path: path.clone() },
        _ => Error::io("lock", &path, e),
    })
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
    let mut removed = false;
    for name in fs.list(dir).map_err(io_err("list", dir))? {
        let path = dir.join(&name);
        if let Some((seq, first)) = format::parse_segment_name(&name) {
            segments.push((seq, first, path));
        } else if name.ends_with(TMP_SUFFIX) && name.contains(".wal") {
            fs.remove(&path).map_err(io_err("remove", &path))?;
            report.removed_temp_files.push(path);
            removed = true;
        } else if name.ends_with(RECYCLE_SUFFIX) {
            if recycle.len() < opts.recycle {
                recycle.push(path);
            } else {
                fs.remove(&path).map_err(io_err("remove", &path))?;
                removed = true;
            }
        } else if name.ends_with(".wal") {
            return Err(Error::BadDirectory {
                path,
                reason: "not a valid segment file name".into(),
            });
        } else if name != LOCK_NAME {
            log::warn!("stele-wal: ignoring {} (not a WAL file)", path.display());
            report.ignored_files.push(path);
        }
    }
    if removed {
        // Make the removals durable so a crash cannot bring the files back half-handled.
        fs.sync_dir(dir).map_err(io_err("sync_dir", dir))?;
    }
    segments.sort();
    for w in segments.windows(2) {
        if w[1].0 != w[0].0 + 1 {
            let reason = format!(
                "segment sequence jumps from {:#x} to {:#x}: a segment is missing or duplicated",
                w[0].0, w[1].0
            );
            return Err(Error::BadDirectory {
                path: w[1].2.clone(),
                reason,
            });
        }
    }
    Ok(Listing { segments, recycle })
}

/// Opens one segment file and checks its header against its name.
fn open_segment(
    fs: &dyn FileSystem,
    seq: u64,
    first: u64,
    path: PathBuf,
    writable: bool,
) -> Result<Segment> {
    let file = fs.open(&path, writable).map_err(io_err("open", &path))?;
    let size = file.len().map_err(io_err("stat", &path))?;
    if size < SEGMENT_HEADER_LEN + TRAILER_LEN {
        return Err(Error::corrupt(
            &path,
            size,
            Damage::BadHeader("file shorter than a header"),
        ));
    }
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_at(&mut h, 0).map_err(io_err("read", &path))?;
    let id = SegmentId::decode_header(&h).map_err(|d| Error::corrupt(&path, 0, d))?;
    if id.first_index == 0 {
        return Err(Error::corrupt(
            &path,
            24,
            Damage::BadHeader("first index 0"),
        ));
    }
    if id.seq != seq || id.first_index != first {
        let damage = Damage::NameMismatch {
            header_seq: id.seq,
            header_first: id.first_index,
            name_seq: seq,
            name_first: first,
        };
        return Err(Error::corrupt(&path, 0, damage));
    }
    Ok(Segment::new(id, path, file, size))
}

/// Rebuilds the index entries of a sealed segment from its footer.
fn apply_footer(
    index: &mut LogIndex,
    state: &mut LogState,
    f: &SegmentFooter,
    size: u64,
) -> std::result::Result<(), Damage> {
    check_footer(f, size)?;
    let start = f.state.as_ref().and_then(|s| s.start);
    if let (true, Some(s)) = (f.had_reset, start) {
        index.reset(s.index, s.term);
    } else if index.is_anchored() {
        if f.truncate_from > 0 && index.is_soft() && f.truncate_from < index.first_index() {
            index.reanchor(f.truncate_from - 1);
        } else if f.truncate_from > 0 {
            index.truncate(f.truncate_from);
        }
        if let Some(s) = start.filter(|s| s.index > index.prev().0) {
            index.compact(s.index, s.term);
        }
    }
    let n = f.batch_first.len();
    for i in 0..n {
        let first = f.batch_first[i];
        let next = if i + 1 < n {
            f.batch_first[i + 1]
        } else {
            f.end_index
        };
        let count = next
            .checked_sub(first)
            .filter(|&c| c > 0 && c <= u64::from(u32::MAX));
        let count = count.ok_or(Damage::BadMessage("footer batch ranges"))?;
        if index.is_soft() && first != index.last_index() + 1 {
            index.reanchor(first - 1);
        }
        if index.is_anchored() && first != index.last_index() + 1 {
            return Err(Damage::IndexGap {
                expected: index.last_index() + 1,
                found: first,
            });
        }
        let runs: Vec<(u64, u64)> = runs_within(f, first, next);
        if runs.first().map(|r| r.0) != Some(first) {
            return Err(Damage::BadMessage("footer term runs do not cover a batch"));
        }
        index.push(f.batch_offset[i], first, count as u32, &runs);
    }
    if let Some(s) = &f.state {
        *state = s.clone();
    }
    Ok(())
}

/// Bounds every number in a footer before it is used: offsets inside the file, indices in range,
/// batch starts ascending, entries per segment countable in 32 bits.
fn check_footer(f: &SegmentFooter, size: u64) -> std::result::Result<(), Damage> {
    let bad = |what| Err(Damage::BadMessage(what));
    if f.batch_offset.iter().any(|&o| o >= size) {
        return bad("footer batch offset outside the segment");
    }
    if f.batch_first.first() == Some(&0) || f.run_first.first() == Some(&0) {
        return bad("footer index 0");
    }
    if f.batch_first.windows(2).any(|w| w[0] >= w[1]) || f.run_first.windows(2).any(|w| w[0] > w[1])
    {
        return bad("footer indices not ascending");
    }
    let max = [f.end_index, f.truncate_from]
        .into_iter()
        .chain(f.batch_first.iter().copied());
    if max
        .chain(f.run_first.iter().copied())
        .any(|i| i >= format::MAX_INDEX)
    {
        return bad("footer index out of range");
    }
    if let (Some(&first), Some(&last)) = (f.batch_first.first(), f.batch_first.last()) {
        if f.end_index <= last || f.end_index - first > u64::from(u32::MAX) {
            return bad("footer batch ranges");
        }
    }
    if f.state
        .as_ref()
        .and_then(|s| s.start)
        .is_some_and(|s| s.index >= format::MAX_INDEX)
    {
        return bad("footer start index out of range");
    }
    Ok(())
}

fn runs_within(f: &SegmentFooter, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let start = f.run_first.partition_point(|&r| r <= lo).saturating_sub(1);
    (start..f.run_first.len())
        .take_while(|&i| f.run_first[i] < hi)
        .map(|i| (f.run_first[i].max(lo), f.run_term[i]))
        .collect()
}

/// Zeroes `[from, data_limit)` of a segment (skipping chunks already zero) and syncs it.
fn zero_from(seg: &Segment, from: u64) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK as usize];
    let mut at = from;
    while at < seg.data_limit() {
        let len = CHUNK.min(seg.data_limit() - at);
        if !crate::scan::is_zero(&seg.read(at, len)?) {
            seg.file
                .write_at(&zeros[..len as usize], at)
                .map_err(io_err("write", &seg.path))?;
        }
        at += len;
    }
    seg.file.sync_data().map_err(io_err("fdatasync", &seg.path))
}

/// Scans the active segment and handles its end; returns where writing resumes.
fn recover_active(
    seg: &Arc<Segment>,
    index: &mut LogIndex,
    state: &mut LogState,
    mode: RecoveryMode,
    report: &mut RecoveryReport,
) -> Result<Active> {
    let mut stats = SegStats::default();
    let end = scan_batches(seg, |off, h, body| {
        apply(index, state, &mut stats, off, h.first_index, body)
            .map_err(|d| Error::corrupt(&seg.path, off, d))
    })?;
    let pos = end.offset();
    report.scanned_bytes += seg.data_limit();
    if let Some(valid_at) = find_valid_batch(seg, pos + 8)? {
        let first = match end {
            ScanEnd::Clean(_) => Damage::MissingBatch,
            ScanEnd::Damaged(_, d) => d,
        };
        let damage = Damage::DamageBeforeValid {
            valid_at,
            first: Box::new(first),
        };
        return Err(Error::corrupt(&seg.path, pos, damage));
    }
    if let ScanEnd::Damaged(at, d) = end {
        if mode == RecoveryMode::AbsoluteConsistency {
            return Err(Error::corrupt(&seg.path, at, Damage::TornTail(Box::new(d))));
        }
        log::warn!(
            "stele-wal: {}: torn last batch at offset {at} ({d}); truncating it and zeroing what follows",
            seg.path.display()
        );
        zero_from(seg, at)?;
        report.torn_tail = Some((seg.path.clone(), at));
    }
    Ok(Active {
        seg: seg.clone(),
        pos,
        stats,
    })
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`, recovers it, and locks it.
    ///
    /// Fails with [`Error::Locked`] if another handle has it open, and with an error naming the
    /// file and offset if the log is damaged beyond a torn tail (see [`RecoveryMode`]).
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<Wal> {
        let t0 = Instant::now();
        let dir = dir.as_ref().to_path_buf();
        if opts.segment_size > format::MAX_SEGMENT_SIZE || opts.segment_size < 256 {
            let reason = format!(
                "segment_size {} is outside [256 bytes, 4 GiB)",
                opts.segment_size
            );
            return Err(Error::BadDirectory { path: dir, reason });
        }
        let fs = opts.fs.clone();
        fs.create_dir_all(&dir)
            .map_err(io_err("create_dir", &dir))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The WAL directory's own entry must be durable before anything in it is.
            fs.sync_dir(parent).map_err(io_err("sync_dir", parent))?;
        }
        let lock = take_lock(&*fs, &dir)?;
        let mut report = RecoveryReport::default();
        let listing = list(&*fs, &dir, &opts, &mut report)?;
        let starts_fresh = listing.segments.first().is_none_or(|s| s.0 == 0);
        let mut index = if starts_fresh {
            LogIndex::new()
        } else {
            LogIndex::unanchored()
        };
        let mut state = LogState::default();
        let mut active = None;
        let n = listing.segments.len();
        for (i, (seq, first, path)) in listing.segments.iter().cloned().enumerate() {
            let is_last = i + 1 == n;
            let seg = Arc::new(open_segment(&*fs, seq, first, path, is_last)?);
            if index.is_soft() && index.last_index() + 1 != first {
                // Replay began after purged segments and has no entry yet to pin the start;
                // the name records where the log stood when this segment was cut.
                if !index.is_anchored() || index.last_index() < index.first_index() {
                    index.reanchor(first - 1);
                }
            }
            if i > 0 && index.last_index() + 1 != first {
                let damage = Damage::IndexGap {
                    expected: index.last_index() + 1,
                    found: first,
                };
                return Err(Error::corrupt(&seg.path, 0, damage));
            }
            index.add_segment(seg.clone());
            let sealed = footer::read(&seg)?;
            match sealed {
                Some(f) => {
                    let at = seg.size - TRAILER_LEN;
                    apply_footer(&mut index, &mut state, &f, seg.size)
                        .map_err(|d| Error::corrupt(&seg.path, at, d))?;
                    seg.mark_sealed();
                    report.sealed += 1;
                }
                None if !is_last => {
                    return Err(Error::corrupt(
                        &seg.path,
                        seg.size - TRAILER_LEN,
                        Damage::BadSeal,
                    ));
                }
                None => {
                    active = Some(recover_active(
                        &seg,
                        &mut index,
                        &mut state,
                        opts.recovery,
                        &mut report,
                    )?);
                }
            }
            if let Some(s) = state.start {
                index.learn_prev_term(s.index, s.term);
            }
        }
        if let (false, Some(first)) = (index.is_anchored(), listing.segments.first()) {
            // No entry survives in the remaining segments: the log is empty and starts where
            // the oldest remaining segment was cut.
            let prev = first.1 - 1;
            let term = state.start.filter(|s| s.index == prev).map(|s| s.term);
            index.anchor_at(prev, term);
        }
        index.harden();
        if let Some(a) = &active {
            // What open reports as the log must be durable: raft takes everything in storage as
            // persisted at startup. A crashed writer may have left written but unsynced batches
            // (and unsynced directory entries) that the page cache still shows.
            a.seg
                .file
                .sync_data()
                .map_err(io_err("fdatasync", &a.seg.path))?;
        }
        if n > 0 {
            fs.sync_dir(&dir).map_err(io_err("sync_dir", &dir))?;
        }
        report.segments = n;
        report.first_index = index.first_index();
        report.last_index = index.last_index();
        report.elapsed = t0.elapsed();
        let next_seq = listing.segments.last().map_or(0, |s| s.0 + 1);
        let last = index.last_index();
        let recycle = listing
            .recycle
            .into_iter()
            .map(|path| Recyclable {
                path,
                old: Default::default(),
            })
            .collect();
        let inner = Inner {
            index,
            state,
            active,
            next_seq,
            written: 0,
            synced: 0,
            durable_last: last,
            syncing: false,
            poisoned: None,
            recycle,
            bytes_written: 0,
            entries_appended: 0,
            syncs: 0,
        };
        Ok(Wal {
            dir,
            opts,
            inner: Mutex::new(inner),
            cond: Condvar::new(),
            purge_lock: Mutex::new(()),
            report,
            salt_counter: AtomicU64::new(0),
            _lock: lock,
        })
    }
}
