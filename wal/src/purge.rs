//! Purging: removing sealed segments whose live entries all lie below an index.
//!
//! The log is synced first. Segments go oldest first, one at a time, each removal (or rename for reuse) made durable by a
//! directory fsync before the next, so a crash can only leave a shorter prefix removed, never a
//! hole in the sequence. The segment holding the index, and the active segment, always stay.
//! The cumulative state lives in every segment's head and seal, so nothing but entries is lost.

use crate::error::{Error, Result};
use crate::wal::{Recyclable, Wal};

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Segment files removed or kept for reuse.
    pub segments: usize,
    /// The log's first index afterwards.
    pub first_index: u64,
}

impl Wal {
    /// Removes the sealed segments whose entries all lie below `below` (and that are not the
    /// last segment), durably. Entries below `below` that share a segment with it stay readable.
    pub fn purge(&self, below: u64) -> Result<Purged> {
        let _one_purge = self.purge_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Which segments hold only entries below `below` is decided on the in-memory log, which
        // includes unsynced overwrites and compactions. They must be durable before a removal
        // is, or a crash could bring back entries whose segment is already gone.
        self.sync()?;
        let victims = {
            let mut inner = self.live()?;
            let mut victims = Vec::new();
            loop {
                let segs = inner.index.segments();
                let Some(front) = segs.front() else { break };
                // A segment sealed by a cut after the sync above is not durable yet: it stays.
                let removable = segs.len() > 1
                    && front.seg.is_sealed()
                    && !Wal::is_pending(&inner, &front.seg)
                    && (!front.has_entries() || front.end() <= below);
                if !removable {
                    break;
                }
                victims.push(inner.index.pop_front().expect("front exists").seg);
            }
            victims
        };
        let fs = &self.opts.fs;
        for seg in &victims {
            let keep = self.lock_inner().recycle.len() < self.opts.recycle;
            let done = if keep {
                fs.rename(&seg.path, &self.recycle_path(seg.id.seq))
            } else {
                fs.remove(&seg.path)
            };
            let done = done
                .map_err(|e| Error::io("remove", &seg.path, e))
                .and_then(|()| {
                    fs.sync_dir(&self.dir)
                        .map_err(|e| Error::io("sync_dir", &self.dir, e))
                });
            let mut inner = self.lock_inner();
            if let Err(err) = done {
                self.poison(&mut inner, &err);
                return Err(err);
            }
            if keep {
                let old = std::sync::Arc::downgrade(seg);
                inner.recycle.push(Recyclable {
                    path: self.recycle_path(seg.id.seq),
                    old,
                });
            }
        }
        let inner = self.live()?;
        Ok(Purged {
            segments: victims.len(),
            first_index: inner.index.first_index(),
        })
    }
}
