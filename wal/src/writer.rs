//! Appending: validation, placement, the write, group commit, and cutting segments.
//!
//! Protocols (the reasons are in `docs/DURABILITY.md`):
//! - append: write header+body+end marker at the write position with one positional write;
//!   update the index (readable at once); with `sync`, wait until an `fdatasync` that started
//!   after the write has returned.
//! - group commit: the first waiter becomes the syncer, drops the lock, `fdatasync`s, and marks
//!   every batch written before it started as durable; later waiters are covered by the next one.
//! - cut: take a recycled file or the spare (`spare.rs`, preallocated ahead of time), or
//!   preallocate a new file under a temporary name; write the header and head batch into it and
//!   sync it; seal the current segment (footer, trailer; not synced); ask for the next spare.
//!   The new file keeps its prepared name until the cut is completed by the next sync.
//! - sync: `fdatasync` the sealed-but-unsynced segments, then the active one, then complete
//!   each pending cut: rename its file to its segment name and fsync the directory. A bulk
//!   writer that syncs rarely thus never waits for a segment's writeback at a cut.
//! - any failed write, sync, rename or directory sync poisons the WAL. Only a failure while
//!   preparing the next segment (for example ENOSPC while preallocating) does not: that file is
//!   not part of the log yet, so the log is unchanged and the append can be retried.

use std::sync::Arc;

use crate::apply::{apply, check, take_body};
use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::footer::{self, footer_reserve, SegStats};
use crate::format::{
    self, BatchHeader, SegmentId, BATCH_HEADER_LEN, BATCH_MAGIC, END_MARKER_LEN, GROUP_ID,
    RECYCLE_SUFFIX, SEGMENT_HEADER_LEN, TMP_SUFFIX, TRAILER_LEN,
};
use crate::fs::FileHandle;
use crate::segment::Segment;
use crate::spare;
use crate::wal::{Active, Inner, Wal};

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The log's first index after the append.
    pub first_index: u64,
    /// The log's last index after the append.
    pub last_index: u64,
    /// Whether the batch is known durable on return (`sync` was asked for).
    pub durable: bool,
}

/// A segment file fully written and synced, not yet under its final name.
struct Prepared {
    id: SegmentId,
    path: std::path::PathBuf,
    file: Arc<dyn FileHandle>,
    size: u64,
    pos: u64,
}

fn state_len(inner: &Inner, batch: &Batch) -> usize {
    use prost::Message;
    let meta = batch.hard_state.map_or(0, |h| h.encoded_len())
        + batch.conf_state.as_ref().map_or(0, |c| c.encoded_len())
        + batch
            .markers
            .iter()
            .map(|m| m.encoded_len() + 4)
            .sum::<usize>();
    inner.state.encoded_len() + meta + 32
}

impl Wal {
    /// Appends `batch` atomically. Its entries are readable as soon as this returns. With
    /// `sync`, it returns only once the batch is durable (and every batch before it).
    pub fn append(&self, mut batch: Batch, sync: bool) -> Result<Appended> {
        self.append_reusing(&mut batch, sync)
    }

    /// [`append`](Self::append), leaving `batch` empty (as [`Batch::clear`] does) with its
    /// buffer's capacity kept, whatever the outcome: a writer that reuses one batch allocates
    /// (and page-faults in) its buffer once instead of at every append.
    pub fn append_reusing(&self, batch: &mut Batch, sync: bool) -> Result<Appended> {
        let r = self.append_inner(batch, sync);
        batch.clear();
        r
    }

    fn append_inner(&self, batch: &mut Batch, sync: bool) -> Result<Appended> {
        let (body_len, body_crc) = batch.finish()?;
        let mut inner = self.live()?;
        let first = check(&inner.index, batch)?;
        let need = batch.frame_len();
        let reserve = footer_reserve(&stats_after(&inner, batch), state_len(&inner, batch));
        if !self.fits(&inner, need + reserve) {
            self.cut(&mut inner, need + reserve)?;
        }
        let active = inner.active.as_mut().expect("cut leaves an active segment");
        let header = BatchHeader {
            magic: BATCH_MAGIC,
            first_index: first,
            count: batch.count,
            body_len,
            body_crc,
            group: GROUP_ID,
        };
        header.encode(&active.seg.id, &mut batch.frame_mut()[..BATCH_HEADER_LEN]);
        let (seg, offset) = (active.seg.clone(), active.pos);
        if let Err(e) = seg.file.write_at(batch.frame_mut(), offset) {
            let err = Error::io("write", &seg.path, e);
            self.poison(&mut inner, &err);
            return Err(err);
        }
        let inner_ref = &mut *inner;
        let active = inner_ref.active.as_mut().expect("active");
        active.pos += need - END_MARKER_LEN as u64;
        let body = take_body(batch);
        let applied = apply(
            &mut inner_ref.index,
            &mut inner_ref.state,
            &mut active.stats,
            offset,
            first,
            body,
        );
        if let Err(d) = applied {
            // Unreachable after `check`; if it ever happens the log and the index disagree.
            let err = Error::corrupt(&seg.path, offset, d);
            self.poison(&mut inner, &err);
            return Err(err);
        }
        inner.written += 1;
        inner.entries_appended += u64::from(batch.count);
        inner.bytes_written += need;
        let ticket = inner.written;
        let (first_index, last_index) = (inner.index.first_index(), inner.index.last_index());
        if sync {
            self.wait_durable(inner, ticket)?;
        }
        Ok(Appended {
            first_index,
            last_index,
            durable: sync,
        })
    }

    /// Makes everything appended so far durable; returns the last index of the log as of the
    /// newest durable batch.
    pub fn sync(&self) -> Result<u64> {
        let inner = self.live()?;
        let ticket = inner.written;
        self.wait_durable(inner, ticket)
    }

    fn fits(&self, inner: &Inner, need: u64) -> bool {
        inner
            .active
            .as_ref()
            .is_some_and(|a| a.pos + need + END_MARKER_LEN as u64 <= a.seg.write_limit())
    }

    /// Completes every pending cut now (syncing what it needs), even if no batch waits for it:
    /// what opening does for its first segment, and dropping the handle for the rest.
    pub(crate) fn complete_cuts(&self) -> Result<()> {
        let inner = self.live()?;
        if inner.unnamed.is_empty() && inner.unsynced.is_empty() {
            return Ok(());
        }
        let ticket = inner.written;
        self.wait_durable_with(inner, ticket, true).map(|_| ())
    }

    /// Group commit: waits until batch `ticket` is durable, syncing if nobody else is.
    fn wait_durable<'a>(
        &'a self,
        inner: std::sync::MutexGuard<'a, Inner>,
        ticket: u64,
    ) -> Result<u64> {
        self.wait_durable_with(inner, ticket, false)
    }

    /// [`wait_durable`](Self::wait_durable); with `pending`, also until no cut is pending.
    fn wait_durable_with<'a>(
        &'a self,
        mut inner: std::sync::MutexGuard<'a, Inner>,
        ticket: u64,
        pending: bool,
    ) -> Result<u64> {
        loop {
            if let Some(cause) = &inner.poisoned {
                return Err(Error::Poisoned {
                    cause: cause.clone(),
                });
            }
            let cuts_done = !pending || inner.unnamed.is_empty() && inner.unsynced.is_empty();
            if inner.synced >= ticket && cuts_done {
                return Ok(inner.durable_last);
            }
            if inner.syncing {
                inner = self.cond.wait(inner).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let work = SyncWork {
                sealed: inner.unsynced.clone(),
                active: inner.active.as_ref().map(|a| a.seg.clone()),
                unnamed: inner.unnamed.clone(),
            };
            let (target, last) = (inner.written, inner.index.last_index());
            inner.syncing = true;
            drop(inner);
            let result = self.run_sync(&work);
            inner = self.lock_inner();
            inner.syncing = false;
            inner.syncs += (work.sealed.len() + usize::from(work.active.is_some())) as u64;
            match result {
                Ok(()) => {
                    // Cuts made meanwhile were appended behind what this sync took.
                    inner.unsynced.drain(..work.sealed.len());
                    inner.unnamed.drain(..work.unnamed.len());
                    if target > inner.synced {
                        inner.synced = target;
                        inner.durable_last = last;
                    }
                }
                Err(err) => {
                    self.poison(&mut inner, &err);
                    return Err(err);
                }
            }
            self.cond.notify_all();
        }
    }

    /// One sync, outside the lock: the sealed segments (their tails and seals), then the
    /// active one, then each pending cut's rename, made durable by a directory sync before the
    /// next (so a crash can never leave a segment named while one before it is not).
    fn run_sync(&self, work: &SyncWork) -> Result<()> {
        for seg in work.sealed.iter().chain(&work.active) {
            seg.file
                .sync_data()
                .map_err(|e| Error::io("fdatasync", &seg.path, e))?;
        }
        let fs = &self.opts.fs;
        for u in &work.unnamed {
            fs.rename(&u.from, &u.seg.path)
                .map_err(|e| Error::io("rename", &u.from, e))?;
            fs.sync_dir(&self.dir)
                .map_err(|e| Error::io("sync_dir", &self.dir, e))?;
            log::info!("stele-wal: started segment {}", u.seg.path.display());
        }
        Ok(())
    }

    /// Seals the active segment (if any) and starts a new one with room for `need` bytes.
    pub(crate) fn cut(&self, inner: &mut Inner, need: u64) -> Result<()> {
        let seq = inner.next_seq;
        if seq > format::MAX_SEQ {
            // Opening refuses a segment numbered above MAX_SEQ: never write one.
            return Err(Error::BadDirectory {
                path: self.dir.clone(),
                reason: format!(
                    "segment sequence numbers exhausted (the next would be {seq:#x}, above {:#x})",
                    format::MAX_SEQ
                ),
            });
        }
        let first = inner.index.last_index() + 1;
        let head = Batch::head(&inner.state);
        let head_len = head.frame_len();
        let min = SEGMENT_HEADER_LEN + head_len + need + END_MARKER_LEN as u64 + TRAILER_LEN;
        let size = match min <= self.opts.segment_size {
            true => self.opts.segment_size,
            // An oversized batch gets a segment of its own, rounded up to whole pages.
            false => min.div_ceil(4096) * 4096,
        };
        let prepared = self.prepare(inner, seq, first, size, head)?;
        let final_path = self.dir.join(format::segment_name(seq, first));
        if let Err(err) = self.seal_active(inner) {
            self.poison(inner, &err);
            return Err(err);
        }
        let seg = Arc::new(Segment::new(
            prepared.id,
            final_path,
            prepared.file,
            prepared.size,
        ));
        inner.unnamed.push(crate::wal::Unnamed {
            seg: seg.clone(),
            from: prepared.path,
        });
        inner.index.add_segment(seg.clone());
        inner.active = Some(Active {
            seg,
            pos: prepared.pos,
            stats: SegStats::default(),
        });
        inner.next_seq += 1;
        if !inner.recycle.iter().any(|r| r.old.strong_count() == 0) {
            // The next cut's file: prepared while this segment fills.
            self.spare.request(inner.next_seq);
        }
        Ok(())
    }

    /// Writes a new segment's header and head batch into a fresh or recycled file and syncs it.
    /// On failure the partial file is removed (best effort) and the log is untouched.
    fn prepare(
        &self,
        inner: &mut Inner,
        seq: u64,
        first: u64,
        size: u64,
        mut head: Batch,
    ) -> Result<Prepared> {
        let id = SegmentId {
            seq,
            first_index: first,
            salt: self.new_salt(seq),
        };
        let (body_len, body_crc) = head.finish()?;
        let h = BatchHeader {
            magic: BATCH_MAGIC,
            first_index: first,
            count: 0,
            body_len,
            body_crc,
            group: GROUP_ID,
        };
        h.encode(&id, &mut head.frame_mut()[..BATCH_HEADER_LEN]);
        let reused = self
            .take_recyclable(inner, size)
            .or_else(|| self.spare.take(size).map(|s| (s.path, s.file, s.size)));
        let (path, file, size) = match reused {
            Some(r) => r,
            None => {
                let tmp = self
                    .dir
                    .join(format!("{}{TMP_SUFFIX}", format::segment_name(seq, first)));
                let _ = self.opts.fs.remove(&tmp);
                let file = self
                    .opts
                    .fs
                    .create(&tmp)
                    .map_err(|e| Error::io("create", &tmp, e))?;
                if let Err(e) = spare::preallocate(&*file, size, self.opts.preallocate) {
                    let _ = self.opts.fs.remove(&tmp);
                    return Err(Error::io("preallocate", &tmp, e));
                }
                (tmp, file, size)
            }
        };
        let mut frame = id.encode_header().to_vec();
        frame.extend_from_slice(head.frame_mut());
        let written = file.write_at(&frame, 0).and_then(|()| file.sync_data());
        if let Err(e) = written {
            let _ = self.opts.fs.remove(&path);
            return Err(Error::io("write", &path, e));
        }
        let pos = SEGMENT_HEADER_LEN + head.frame_len() - END_MARKER_LEN as u64;
        Ok(Prepared {
            id,
            path,
            file,
            size,
            pos,
        })
    }

    /// A recycled file of at least `size` bytes that no reader still holds.
    fn take_recyclable(
        &self,
        inner: &mut Inner,
        size: u64,
    ) -> Option<(std::path::PathBuf, Arc<dyn FileHandle>, u64)> {
        let pos = inner
            .recycle
            .iter()
            .position(|r| r.old.strong_count() == 0)?;
        let r = inner.recycle.remove(pos);
        let opened = self
            .opts
            .fs
            .open(&r.path, true)
            .and_then(|f| Ok((f.len()?, f)));
        match opened {
            Ok((len, f)) if len >= size => Some((r.path, f, len)),
            _ => {
                let _ = self.opts.fs.remove(&r.path);
                None
            }
        }
    }

    /// Writes the footer and trailer of the active segment; the next sync makes them durable
    /// (the segment waits in `unsynced`).
    fn seal_active(&self, inner: &mut Inner) -> Result<()> {
        let Some(active) = inner.active.take() else {
            return Ok(());
        };
        let segs = inner.index.segments();
        let seg_idx = segs.back().expect("the active segment is indexed last");
        let runs = if seg_idx.has_entries() {
            let first = seg_idx.batches().next().map_or(0, |b| b.0);
            inner.index.term_runs(first, seg_idx.end())
        } else {
            Vec::new()
        };
        let f = footer::build(seg_idx, &active.stats, &inner.state, runs);
        footer::write(&active.seg, active.pos, &f)?;
        active.seg.mark_sealed();
        inner.unsynced.push(active.seg);
        Ok(())
    }

    /// The name a purged segment is kept under for reuse.
    pub(crate) fn recycle_path(&self, seq: u64) -> std::path::PathBuf {
        self.dir.join(format!("{seq:016x}{RECYCLE_SUFFIX}"))
    }
}

/// What one sync covers, taken under the lock.
struct SyncWork {
    sealed: Vec<Arc<Segment>>,
    active: Option<Arc<Segment>>,
    unnamed: Vec<crate::wal::Unnamed>,
}

/// The active segment's footer statistics if `batch` were added.
fn stats_after(inner: &Inner, batch: &Batch) -> SegStats {
    let mut s = inner
        .active
        .as_ref()
        .map(|a| a.stats.clone())
        .unwrap_or_default();
    s.batches += 1;
    s.runs += batch.term_runs.len() as u64 + 1;
    s
}
