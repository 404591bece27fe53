//! The unit tests of raft-rs 0.7's `MemStorage` (`src/storage.rs`: term, entries with size
//! limits, first/last index, compaction, snapshot creation and application, append with
//! truncation), rewritten against `DiskStorage`.
//!
//! Every read case runs on several layouts of the same log: entries served from the entry cache,
//! from the WAL with a cache too small to hold more than the newest entry (so reads split between
//! disk and cache), after a reopen (cold cache), and on a real directory (memory-mapped sealed
//! segments). Where `DiskStorage` deliberately differs from `MemStorage` the case says so:
//! - `term(first_index - 1)` is answered (the contract's truncated index T), where MemStorage
//!   answers it only when T is its snapshot index;
//! - `entries` with `high > last_index + 1` is `Err(Unavailable)`, where MemStorage panics;
//! - `snapshot(request_index)` never fakes a higher index: it is `SnapshotTemporarilyUnavailable`
//!   (and recorded in `snapshot_wanted`) until a snapshot at or above it exists;
//! - `compact(i)` drops entries `<= i` (MemStorage's `compact(i)` drops entries `< i`) and is
//!   refused beyond the newest snapshot, so each compaction here creates a snapshot first;
//! - `apply_snapshot` at `first_index - 1` reinstalls (MemStorage: `SnapshotOutOfDate`).

use std::path::Path;
use std::sync::Arc;

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{Error as RaftError, GetEntriesContext, Storage, StorageError};
use stele_storage::{DiskStorage, Error, StorageOptions};
use stele_wal::fs::sim::{CrashMode, SimFs};

const DIR: &str = "/stele";

fn new_entry(index: u64, term: u64) -> Entry {
    let mut e = Entry::default();
    e.set_index(index);
    e.set_term(term);
    e
}

fn entry_with_data(index: u64, term: u64, len: usize) -> Entry {
    let mut e = new_entry(index, term);
    e.set_data(vec![index as u8; len].into());
    e
}

fn size_of(e: &Entry) -> u64 {
    u64::from(e.compute_size())
}

fn conf_state(voters: &[u64]) -> ConfState {
    let mut cs = ConfState::default();
    cs.set_voters(voters.to_vec());
    cs
}

fn new_snapshot(index: u64, term: u64, voters: &[u64]) -> Snapshot {
    let mut s = Snapshot::default();
    s.mut_metadata().index = index;
    s.mut_metadata().term = term;
    s.mut_metadata().set_conf_state(conf_state(voters));
    s
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    let mut hs = HardState::default();
    hs.set_term(term);
    hs.set_vote(vote);
    hs.set_commit(commit);
    hs
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

fn store_err(e: StorageError) -> RaftError {
    RaftError::Store(e)
}

/// Where a test storage lives.
enum Backend {
    Sim(SimFs),
    Real(tempfile::TempDir),
}

/// A `DiskStorage` that can be reopened or crashed.
struct Disk {
    backend: Backend,
    cache_bytes: usize,
    storage: Option<DiskStorage>,
}

impl Disk {
    fn sim(cache_bytes: usize) -> Disk {
        Disk::open(Backend::Sim(SimFs::new()), cache_bytes)
    }

    fn real(cache_bytes: usize) -> Disk {
        Disk::open(Backend::Real(tempfile::tempdir().unwrap()), cache_bytes)
    }

    fn open(backend: Backend, cache_bytes: usize) -> Disk {
        let mut d = Disk {
            backend,
            cache_bytes,
            storage: None,
        };
        d.storage = Some(DiskStorage::open(d.dir(), d.opts()).unwrap());
        d
    }

    fn dir(&self) -> &Path {
        match &self.backend {
            Backend::Sim(_) => Path::new(DIR),
            Backend::Real(t) => t.path(),
        }
    }

    fn opts(&self) -> StorageOptions {
        let mut o = match &self.backend {
            Backend::Sim(fs) => StorageOptions::with_fs(Arc::new(fs.clone())),
            Backend::Real(_) => StorageOptions::default(),
        };
        o.cache_bytes = self.cache_bytes;
        o.wal.segment_size = 8 << 10;
        o
    }

    fn s(&self) -> &DiskStorage {
        self.storage.as_ref().unwrap()
    }

    fn reopen(&mut self) {
        self.storage = None;
        self.storage = Some(DiskStorage::open(self.dir(), self.opts()).unwrap());
    }

    /// Power loss: what was not synced is gone.
    fn crash(&mut self) {
        self.storage = None;
        match &self.backend {
            Backend::Sim(fs) => fs.crash(CrashMode::DropUnsynced),
            Backend::Real(_) => panic!("only a simulated disk can crash"),
        }
        self.storage = Some(DiskStorage::open(self.dir(), self.opts()).unwrap());
    }
}

/// A storage whose log is exactly `ents` (consecutive, non-empty): MemStorage's tests set
/// `entries` directly; here a snapshot at `ents[0].index - 1` (term = its index, as in those
/// tests where every entry's term is its index) makes the log start there.
fn with_log(disk: Disk, ents: &[Entry]) -> Disk {
    let t = ents[0].index - 1;
    disk.s()
        .apply_snapshot(&new_snapshot(t, t, &[1, 2, 3]))
        .unwrap();
    disk.s().append(ents, None, true).unwrap();
    disk
}

/// Runs `check` on the log `ents` laid out in every way: all cached; cache too small for more
/// than the newest entry (reads split between the WAL and the cache); reopened (cold cache); on a
/// real directory, reopened so sealed segments are read through memory maps.
fn each_layout(ents: &[Entry], check: impl Fn(&Disk, &str)) {
    let warm = with_log(Disk::sim(64 << 20), ents);
    check(&warm, "cached");
    let mut tiny = with_log(Disk::sim(0), ents);
    check(&tiny, "tiny cache");
    tiny.reopen();
    check(&tiny, "reopened");
    let mut real = with_log(Disk::real(0), ents);
    real.reopen();
    check(&real, "real directory");
}

/// (low, high, max_size, expected).
type EntriesCase = (u64, u64, Option<u64>, raft::Result<Vec<Entry>>);

fn ents_3_to_5() -> Vec<Entry> {
    vec![new_entry(3, 3), new_entry(4, 4), new_entry(5, 5)]
}

/// MemStorage `test_storage_term`. Difference: `term(2)`, the index before the first entry, is
/// `Ok(2)` here (contract §1.2: `term(first_index - 1)` must be answered); MemStorage returns
/// `Compacted` because its snapshot index is 0. `term(1)` is `Compacted` in both.
#[test]
fn storage_term() {
    let cases = [
        (1, Err(store_err(StorageError::Compacted))),
        (2, Ok(2)),
        (3, Ok(3)),
        (4, Ok(4)),
        (5, Ok(5)),
        (6, Err(store_err(StorageError::Unavailable))),
    ];
    each_layout(&ents_3_to_5(), |d, layout| {
        for (idx, want) in &cases {
            assert_eq!(d.s().term(*idx), *want, "{layout}: term({idx})");
        }
    });
}

/// MemStorage `test_storage_entries`: `[low, high)` with `max_size` following raft's
/// `limit_size` (the first entry always, then while the total protobuf size stays `<= max`).
/// Additions: an empty range, and `high > last_index + 1`, which is `Err(Unavailable)` here where
/// MemStorage panics ("index out of bound").
#[test]
fn storage_entries() {
    let ents = vec![
        new_entry(3, 3),
        new_entry(4, 4),
        new_entry(5, 5),
        new_entry(6, 6),
    ];
    let s = |i: usize| size_of(&ents[i]);
    let max = u64::MAX;
    let cases: Vec<EntriesCase> = vec![
        (2, 6, Some(max), Err(store_err(StorageError::Compacted))),
        (3, 4, Some(max), Ok(vec![new_entry(3, 3)])),
        (4, 5, Some(max), Ok(vec![new_entry(4, 4)])),
        (4, 6, Some(max), Ok(vec![new_entry(4, 4), new_entry(5, 5)])),
        (4, 7, Some(max), Ok(ents[1..].to_vec())),
        (4, 7, None, Ok(ents[1..].to_vec())),
        // even if max_size is zero, the first entry is returned
        (4, 7, Some(0), Ok(vec![new_entry(4, 4)])),
        // limit to 2
        (4, 7, Some(s(1) + s(2)), Ok(ents[1..3].to_vec())),
        (4, 7, Some(s(1) + s(2) + s(3) / 2), Ok(ents[1..3].to_vec())),
        (4, 7, Some(s(1) + s(2) + s(3) - 1), Ok(ents[1..3].to_vec())),
        // all
        (4, 7, Some(s(1) + s(2) + s(3)), Ok(ents[1..].to_vec())),
        // additions
        (5, 5, Some(max), Ok(vec![])),
        (4, 8, Some(max), Err(store_err(StorageError::Unavailable))),
        (7, 8, Some(max), Err(store_err(StorageError::Unavailable))),
    ];
    each_layout(&ents, |d, layout| {
        for (i, (lo, hi, max_size, want)) in cases.iter().enumerate() {
            let got = d.s().entries(*lo, *hi, *max_size, ctx());
            assert_eq!(
                got, *want,
                "{layout}: #{i} entries({lo}, {hi}, {max_size:?})"
            );
        }
    });
}

/// The size limit where a read crosses from the WAL into the cache, with entries large enough
/// that the cache (a few hundred bytes) holds only the newest ones.
#[test]
fn entries_size_limit_across_wal_and_cache() {
    let ents: Vec<Entry> = (3..=12).map(|i| entry_with_data(i, 3, 100)).collect();
    let mut d = with_log(Disk::sim(350), &ents);
    let total: u64 = ents.iter().map(size_of).sum();
    for reopen in [false, true] {
        if reopen {
            d.reopen();
        }
        for lo in 3..=12u64 {
            for hi in lo..=13u64 {
                let slice = &ents[(lo - 3) as usize..(hi - 3) as usize];
                for max in [0, 1, 99, 100, 101, 250, 320, 333, 500, 999, total, u64::MAX] {
                    let mut want = Vec::new();
                    let mut sum = 0;
                    for e in slice {
                        sum += size_of(e);
                        if !want.is_empty() && sum > max {
                            break;
                        }
                        want.push(e.clone());
                    }
                    let got = d.s().entries(lo, hi, max, ctx()).unwrap();
                    assert_eq!(got, want, "reopen {reopen}: entries({lo}, {hi}, {max})");
                }
            }
        }
    }
}

/// Regression: with the cache holding only entries above `high`, `entries(low, high)` read
/// everything from the WAL and then asked the cache for the empty range `[high, high)`, whose
/// offset (`high - cache_first`) underflowed: a panic ("attempt to subtract with overflow") in
/// debug builds.
#[test]
fn entries_entirely_below_the_cache() {
    let ents: Vec<Entry> = (1..=10).map(|i| entry_with_data(i, 1, 100)).collect();
    let d = Disk::sim(0); // the cache keeps only the newest entry, 10
    d.s().append(&ents, None, true).unwrap();
    for (lo, hi) in [(1, 2), (3, 8), (1, 10), (9, 10)] {
        let got = d.s().entries(lo, hi, None, ctx()).unwrap();
        assert_eq!(
            got,
            ents[(lo - 1) as usize..(hi - 1) as usize],
            "entries({lo}, {hi})"
        );
    }
}

/// MemStorage `test_storage_last_index`.
#[test]
fn storage_last_index() {
    let mut d = with_log(Disk::sim(64 << 20), &ents_3_to_5());
    assert_eq!(d.s().last_index(), Ok(5));
    d.s().append(&[new_entry(6, 5)], None, true).unwrap();
    assert_eq!(d.s().last_index(), Ok(6));
    d.reopen();
    assert_eq!(d.s().last_index(), Ok(6));
}

/// MemStorage `test_storage_first_index`. MemStorage's `compact(4)` makes 4 the first index;
/// the DiskStorage equivalent is `compact(3)`, after a snapshot at 3.
#[test]
fn storage_first_index() {
    let mut d = with_log(Disk::sim(64 << 20), &ents_3_to_5());
    assert_eq!(d.s().first_index(), Ok(3));
    d.s().set_commit(5).unwrap();
    d.s()
        .create_snapshot(3, &conf_state(&[1, 2, 3]), &mut &b"state at 3"[..])
        .unwrap();
    d.s().compact(3).unwrap();
    assert_eq!(d.s().first_index(), Ok(4));
    assert_eq!(d.s().term(3), Ok(3));
    d.reopen();
    assert_eq!(d.s().first_index(), Ok(4));
    assert_eq!(d.s().term(3), Ok(3));
}

/// MemStorage `test_storage_compact`: (MemStorage compact index, first index, term of the first
/// entry, entries left). `MemStorage::compact(i)` keeps `i`; `DiskStorage::compact(i - 1)` is the
/// same, after a snapshot at `i - 1`. The first two cases (at or below the first index) are
/// no-ops in both. Addition: `term(first_index - 1)` stays answerable after compaction
/// (MemStorage: `Compacted`, since its snapshot index did not move).
#[test]
fn storage_compact() {
    let cases = [
        (2u64, 3u64, 3u64, 3usize),
        (3, 3, 3, 3),
        (4, 4, 4, 2),
        (5, 5, 5, 1),
    ];
    for (mem_idx, want_first, want_term, want_len) in cases {
        let mut d = with_log(Disk::sim(64 << 20), &ents_3_to_5());
        d.s().set_commit(5).unwrap();
        let idx = mem_idx - 1;
        if idx >= 2 {
            // (Below T = 2 no snapshot can be made: its term is gone. Compacting there is a no-op.)
            d.s()
                .create_snapshot(idx, &conf_state(&[1, 2, 3]), &mut &b"data"[..])
                .unwrap();
        }
        d.s().compact(idx).unwrap();
        for reopen in [false, true] {
            if reopen {
                d.reopen();
            }
            let s = d.s();
            let first = s.first_index().unwrap();
            assert_eq!(first, want_first, "compact({idx}), reopen {reopen}");
            let term = s.entries(first, first + 1, 1, ctx()).unwrap()[0].term;
            assert_eq!(term, want_term, "compact({idx}), reopen {reopen}");
            let last = s.last_index().unwrap();
            assert_eq!(
                s.entries(first, last + 1, 100, ctx()).unwrap().len(),
                want_len
            );
            assert_eq!(
                s.term(first - 1),
                Ok(first - 1),
                "term of T after compact({idx})"
            );
            assert_eq!(s.term(first - 2), Err(store_err(StorageError::Compacted)));
            let low = s.entries(first - 1, last + 1, None, ctx());
            assert_eq!(low, Err(store_err(StorageError::Compacted)));
        }
    }
}

/// Compaction never goes beyond the newest snapshot (contract §1.3: never compact the log beyond
/// the newest snapshot you can serve) nor beyond the last index; a refused compaction changes
/// nothing.
#[test]
fn compact_refuses_beyond_newest_snapshot_and_last_index() {
    let ents: Vec<Entry> = (3..=9).map(|i| new_entry(i, 3)).collect();
    let d = with_log(Disk::sim(64 << 20), &ents);
    d.s().set_commit(9).unwrap();
    // The installed snapshot at 2 is the newest: nothing above 2 can be compacted yet.
    assert!(matches!(d.s().compact(3), Err(Error::InvalidArgument(_))));
    d.s()
        .create_snapshot(6, &conf_state(&[1]), &mut &b"six"[..])
        .unwrap();
    assert!(matches!(d.s().compact(7), Err(Error::InvalidArgument(_))));
    assert!(matches!(d.s().compact(10), Err(Error::InvalidArgument(_))));
    assert_eq!((d.s().first_index(), d.s().last_index()), (Ok(3), Ok(9)));
    d.s().compact(5).unwrap();
    assert_eq!(d.s().first_index(), Ok(6));
    d.s().compact(6).unwrap();
    assert_eq!(d.s().first_index(), Ok(7));
    // At or below first_index - 1: a no-op, as in MemStorage.
    d.s().compact(6).unwrap();
    d.s().compact(2).unwrap();
    assert_eq!((d.s().first_index(), d.s().last_index()), (Ok(7), Ok(9)));
    assert_eq!(d.s().term(6), Ok(3));
}

/// MemStorage `test_storage_create_snapshot`: (commit index, expected snapshot, request index).
/// MemStorage builds its snapshot from `hs.commit`; DiskStorage serves what `create_snapshot`
/// made at the application's applied index (here: the commit index). Differences:
/// - the third case (request 6 above the snapshot at 5): MemStorage rewrites the index to 6, a
///   snapshot it does not have; DiskStorage answers `SnapshotTemporarilyUnavailable` and records
///   6 in `snapshot_wanted`;
/// - the fourth case (MemStorage's `trigger_snap_unavailable`): DiskStorage is unavailable when
///   no snapshot at or above the request exists.
#[test]
fn storage_create_snapshot() {
    let nodes = [1, 2, 3];
    let unavailable = || Err(store_err(StorageError::SnapshotTemporarilyUnavailable));
    // None: SnapshotTemporarilyUnavailable.
    let cases = [
        (4u64, Some(new_snapshot(4, 4, &nodes)), 0u64),
        (5, Some(new_snapshot(5, 5, &nodes)), 5),
        (5, None, 6),
    ];
    for (i, (idx, want, request)) in cases.into_iter().enumerate() {
        let mut d = with_log(Disk::sim(64 << 20), &ents_3_to_5());
        d.s().set_hard_state(&hard_state(idx, 0, idx)).unwrap();
        let data = format!("state at {idx}").into_bytes();
        let meta = d
            .s()
            .create_snapshot(idx, &conf_state(&nodes), &mut data.as_slice())
            .unwrap();
        assert_eq!((meta.index, meta.term), (idx, idx), "#{i}");
        assert_eq!(d.s().snapshot_metadata(), meta, "#{i}");
        for reopen in [false, true] {
            if reopen {
                d.reopen();
            }
            let got = d.s().snapshot(request, 0);
            match &want {
                Some(w) => {
                    let mut w = w.clone();
                    w.set_data(data.clone().into());
                    assert_eq!(got, Ok(w), "#{i} reopen {reopen}");
                }
                None => assert_eq!(got, unavailable(), "#{i} reopen {reopen}"),
            }
            let wanted = if want.is_none() { request } else { 0 };
            assert_eq!(d.s().snapshot_wanted(), wanted, "#{i} reopen {reopen}");
        }
    }

    // No snapshot at all: unavailable, and a snapshot is wanted (at least index 1).
    let d = with_log(Disk::sim(64 << 20), &ents_3_to_5());
    d.s().set_commit(5).unwrap();
    // (The installed snapshot at 2 is servable; ask above it.)
    assert_eq!(d.s().snapshot(0, 0).unwrap().get_metadata().index, 2);
    assert_eq!(d.s().snapshot(4, 0), unavailable());
    assert_eq!(d.s().snapshot(3, 0), unavailable());
    assert_eq!(d.s().snapshot_wanted(), 4);
    // A snapshot below the wanted index does not satisfy it; one at or above does.
    d.s()
        .create_snapshot(3, &conf_state(&nodes), &mut &b"3"[..])
        .unwrap();
    assert_eq!(d.s().snapshot_wanted(), 4);
    assert_eq!(d.s().snapshot(4, 0), unavailable());
    d.s()
        .create_snapshot(5, &conf_state(&nodes), &mut &b"5"[..])
        .unwrap();
    assert_eq!(d.s().snapshot_wanted(), 0);
    let snap = d.s().snapshot(4, 0).unwrap();
    assert_eq!((snap.get_metadata().index, snap.get_data()), (5, &b"5"[..]));

    let fresh = Disk::sim(64 << 20);
    assert_eq!(fresh.s().snapshot(0, 0), unavailable());
    assert_eq!(fresh.s().snapshot_wanted(), 1);
}

/// A snapshot is created only at a committed index whose term is in the log.
#[test]
fn create_snapshot_refuses_uncommitted_and_compacted_indices() {
    let ents: Vec<Entry> = (3..=9).map(|i| new_entry(i, 4)).collect();
    let d = with_log(Disk::sim(64 << 20), &ents);
    d.s().set_commit(7).unwrap();
    let cs = conf_state(&[1]);
    assert!(matches!(
        d.s().create_snapshot(8, &cs, &mut &b""[..]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        d.s().create_snapshot(0, &cs, &mut &b""[..]),
        Err(Error::InvalidArgument(_))
    ));
    d.s().create_snapshot(5, &cs, &mut &b""[..]).unwrap();
    d.s().compact(5).unwrap();
    assert!(matches!(
        d.s().create_snapshot(4, &cs, &mut &b""[..]),
        Err(Error::InvalidArgument(_))
    ));
    // At T (first_index - 1) the term is known: allowed.
    let meta = d.s().create_snapshot(5, &cs, &mut &b"again"[..]).unwrap();
    assert_eq!((meta.index, meta.term), (5, 4));
    assert_eq!(d.s().snapshot_metadata().index, 5);
}

/// MemStorage `test_storage_append`: appending over `[3, 4, 5]`. A first index at or below the
/// last index overwrites the tail (the raft conflict rule). Overwriting compacted entries, which
/// MemStorage rejects with a panic, is an error here and leaves the log unchanged and usable; so
/// is a gap (also a MemStorage panic).
#[test]
fn storage_append() {
    let e = new_entry;
    let cases: Vec<(Vec<Entry>, Option<Vec<Entry>>)> = vec![
        (
            vec![e(3, 3), e(4, 4), e(5, 5)],
            Some(vec![e(3, 3), e(4, 4), e(5, 5)]),
        ),
        (
            vec![e(3, 3), e(4, 6), e(5, 6)],
            Some(vec![e(3, 3), e(4, 6), e(5, 6)]),
        ),
        (
            vec![e(3, 3), e(4, 4), e(5, 5), e(6, 5)],
            Some(vec![e(3, 3), e(4, 4), e(5, 5), e(6, 5)]),
        ),
        // overwriting compacted raft logs is not allowed
        (vec![e(2, 3), e(3, 3), e(4, 5)], None),
        // truncate the existing entries and append
        (vec![e(4, 5)], Some(vec![e(3, 3), e(4, 5)])),
        // direct append
        (
            vec![e(6, 6)],
            Some(vec![e(3, 3), e(4, 4), e(5, 5), e(6, 6)]),
        ),
        // addition: a gap
        (vec![e(7, 6)], None),
    ];
    for (i, (append, want)) in cases.into_iter().enumerate() {
        for cache_bytes in [64 << 20, 0] {
            let mut d = with_log(Disk::sim(cache_bytes), &ents_3_to_5());
            let res = d.s().append(&append, Some(&hard_state(6, 1, 2)), true);
            let (want, hs) = match want {
                Some(ref w) => {
                    res.unwrap();
                    (w.clone(), hard_state(6, 1, 2))
                }
                None => {
                    assert!(matches!(res, Err(Error::Wal(_))), "#{i}: {res:?}");
                    // Nothing of the refused batch, its HardState included, was applied.
                    (ents_3_to_5(), hard_state(2, 0, 2))
                }
            };
            for reopen in [false, true] {
                if reopen {
                    d.reopen();
                }
                let s = d.s();
                let last = s.last_index().unwrap();
                assert_eq!(
                    s.entries(3, last + 1, None, ctx()).unwrap(),
                    want,
                    "#{i} {reopen}"
                );
                assert_eq!(s.hard_state(), hs, "#{i} reopen {reopen}");
                assert_eq!(
                    s.initial_state().unwrap().hard_state,
                    hs,
                    "#{i} reopen {reopen}"
                );
                assert_eq!(s.term(2), Ok(2));
            }
            // Still writable after a refused batch.
            let next = d.s().last_index().unwrap() + 1;
            d.s().append(&[e(next, 7)], None, true).unwrap();
            assert_eq!(d.s().term(next), Ok(7), "#{i}");
        }
    }
}

/// MemStorage `test_storage_apply_snapshot`: installing at 4 succeeds; installing at 3 (below
/// the first index - 1) is out of date, an error in both. Difference: reinstalling at 4 ==
/// first_index - 1 succeeds here (contract §3.4: raft can hand over `snap.index == T` after
/// `request_snapshot`), where MemStorage returns `SnapshotOutOfDate`.
#[test]
fn storage_apply_snapshot() {
    let nodes = [1, 2, 3];
    let mut d = Disk::sim(64 << 20);
    d.s().apply_snapshot(&new_snapshot(4, 4, &nodes)).unwrap();
    assert_eq!(
        (d.s().first_index(), d.s().last_index(), d.s().term(4)),
        (Ok(5), Ok(4), Ok(4))
    );

    let res = d.s().apply_snapshot(&new_snapshot(3, 3, &nodes));
    assert!(matches!(res, Err(Error::InvalidArgument(_))), "{res:?}");
    // The refused snapshot changed nothing, durably.
    for reopen in [false, true] {
        if reopen {
            d.reopen();
        }
        assert_eq!(
            (d.s().first_index(), d.s().last_index()),
            (Ok(5), Ok(4)),
            "{reopen}"
        );
        assert_eq!(d.s().term(4), Ok(4));
        assert_eq!(d.s().snapshot_metadata().index, 4);
        assert_eq!(d.s().hard_state(), hard_state(4, 0, 4));
    }

    // Reinstall at T = first_index - 1.
    let mut again = new_snapshot(4, 4, &[1, 2]);
    again.set_data(b"again".to_vec().into());
    d.s().apply_snapshot(&again).unwrap();
    for reopen in [false, true] {
        if reopen {
            d.reopen();
        }
        let s = d.s();
        assert_eq!(
            (s.first_index(), s.last_index(), s.term(4)),
            (Ok(5), Ok(4), Ok(4))
        );
        assert_eq!(s.conf_state(), conf_state(&[1, 2]));
        assert_eq!(s.snapshot(0, 0).unwrap(), again, "reopen {reopen}");
    }
}

/// Installing a snapshot resets the log to (index, term) whether the index is inside the log or
/// beyond it; HardState gets `term = max(term, snap.term)` and `commit = max(commit, index)`
/// with the vote kept, ConfState comes from the snapshot, and `term(index)` is answered.
#[test]
fn apply_snapshot_resets_log_hard_state_and_conf_state() {
    for (index, term) in [(6u64, 3u64), (12, 9)] {
        let mut d = Disk::sim(64 << 20);
        d.s().initialize_with_conf_state(&conf_state(&[1])).unwrap();
        let ents: Vec<Entry> = (1..=8).map(|i| entry_with_data(i, 2, 40)).collect();
        d.s()
            .append(&ents, Some(&hard_state(5, 2, 4)), true)
            .unwrap();
        let mut snap = new_snapshot(index, term, &[1, 2, 3]);
        snap.set_data(b"leader state".to_vec().into());
        d.s().apply_snapshot(&snap).unwrap();
        for reopen in [false, true] {
            if reopen {
                d.reopen();
            }
            let s = d.s();
            let what = format!("snapshot ({index}, {term}), reopen {reopen}");
            assert_eq!(s.first_index(), Ok(index + 1), "{what}");
            assert_eq!(s.last_index(), Ok(index), "{what}");
            assert_eq!(s.term(index), Ok(term), "{what}");
            assert_eq!(
                s.term(index - 1),
                Err(store_err(StorageError::Compacted)),
                "{what}"
            );
            let want_hs = hard_state(term.max(5), 2, index);
            let state = s.initial_state().unwrap();
            assert_eq!(state.hard_state, want_hs, "{what}");
            assert_eq!(state.conf_state, conf_state(&[1, 2, 3]), "{what}");
            assert_eq!(s.snapshot(index, 0).unwrap(), snap, "{what}");
            let empty: Vec<Entry> = vec![];
            assert_eq!(s.entries(index + 1, index + 1, None, ctx()).unwrap(), empty);
        }
        // The log continues after the snapshot.
        let next = vec![new_entry(index + 1, term), new_entry(index + 2, term)];
        d.s().append(&next, None, true).unwrap();
        assert_eq!(
            d.s().entries(index + 1, index + 3, None, ctx()).unwrap(),
            next
        );
    }
}

/// A fresh storage: empty initial state, `first_index == 1`, `last_index == 0`, `term(0) == 0`
/// (contract §1.2), as MemStorage. `initialize_with_conf_state` works once, durably.
#[test]
fn fresh_storage_and_initialize() {
    let mut d = Disk::sim(64 << 20);
    let s = d.s();
    assert_eq!(
        (s.first_index(), s.last_index(), s.term(0)),
        (Ok(1), Ok(0), Ok(0))
    );
    assert_eq!(s.term(1), Err(store_err(StorageError::Unavailable)));
    assert!(!s.initial_state().unwrap().initialized());
    s.initialize_with_conf_state(&conf_state(&[1, 2])).unwrap();
    assert!(s.initialize_with_conf_state(&conf_state(&[3])).is_err());
    d.crash();
    let state = d.s().initial_state().unwrap();
    assert!(state.initialized());
    assert_eq!(state.conf_state, conf_state(&[1, 2]));
    assert_eq!(state.hard_state, HardState::default());
}

/// What was synced survives a power loss; what was not may be lost, but only as a whole batch
/// (the unsynced append and its HardState go together).
#[test]
fn crash_keeps_synced_appends() {
    let mut d = Disk::sim(64 << 20);
    let ents: Vec<Entry> = (1..=5).map(|i| entry_with_data(i, 1, 30)).collect();
    d.s()
        .append(&ents, Some(&hard_state(1, 1, 3)), true)
        .unwrap();
    d.s()
        .append(
            &[entry_with_data(6, 1, 30)],
            Some(&hard_state(1, 1, 5)),
            false,
        )
        .unwrap();
    d.crash();
    assert_eq!(d.s().last_index(), Ok(5));
    assert_eq!(d.s().hard_state(), hard_state(1, 1, 3));
    assert_eq!(d.s().entries(1, 6, None, ctx()).unwrap(), ents);
}

/// Regression: a snapshot below T or below the commit index used to be installed, leaving
/// `hs.commit > last_index` (commit is `max(commit, index)`): raft's `RawNode::new` panics on
/// that state and `open` refused it ("hs.commit 4 is out of range [3, 3]"), so the storage could
/// not be reopened. raft never hands over such a snapshot (`snap.index >= committed`); it is now
/// refused and changes nothing. At the commit index it is still installed.
#[test]
fn apply_snapshot_below_t_or_commit_is_refused() {
    let mut d = with_log(Disk::sim(64 << 20), &ents_3_to_5());
    d.s().set_hard_state(&hard_state(5, 1, 4)).unwrap();
    for index in [1, 2, 3] {
        let res = d.s().apply_snapshot(&new_snapshot(index, 5, &[1]));
        assert!(
            matches!(res, Err(Error::InvalidArgument(_))),
            "index {index}: {res:?}"
        );
    }
    d.reopen();
    assert_eq!((d.s().first_index(), d.s().last_index()), (Ok(3), Ok(5)));
    assert_eq!(d.s().hard_state(), hard_state(5, 1, 4));
    assert_eq!(d.s().snapshot_metadata().index, 2);
    d.s().apply_snapshot(&new_snapshot(4, 4, &[1])).unwrap();
    d.reopen();
    assert_eq!((d.s().first_index(), d.s().last_index()), (Ok(5), Ok(4)));
    assert_eq!(d.s().hard_state(), hard_state(5, 1, 4));
}

/// A snapshot below the served one is refused: the WAL keeps the newest 16 markers, and older
/// snapshots could push the served one's marker out (an older snapshot would then be served after
/// a reopen). Re-creating at the served index refreshes what is served (its ConfState).
#[test]
fn create_snapshot_never_goes_below_the_served_one() {
    let mut d = Disk::sim(1 << 20);
    let ents: Vec<Entry> = (1..=40).map(|i| new_entry(i, 1)).collect();
    d.s()
        .append(&ents, Some(&hard_state(1, 1, 40)), true)
        .unwrap();
    d.s()
        .create_snapshot(30, &conf_state(&[1]), &mut &b"thirty"[..])
        .unwrap();
    for i in 1..=20 {
        let err = d
            .s()
            .create_snapshot(i, &conf_state(&[1]), &mut &b"old"[..])
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
    d.s()
        .create_snapshot(30, &conf_state(&[1, 2]), &mut &b"thirty again"[..])
        .unwrap();
    assert_eq!(
        d.s().snapshot_metadata().get_conf_state().voters,
        vec![1, 2]
    );
    d.reopen();
    let snap = d.s().snapshot(0, 0).unwrap();
    assert_eq!(
        (snap.get_metadata().index, &snap.data[..]),
        (30, &b"thirty again"[..])
    );
    assert_eq!(snap.get_metadata().get_conf_state().voters, vec![1, 2]);
}
