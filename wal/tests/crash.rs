//! A crash at every I/O step of a workload (appends across several cuts, an overwrite, a purge,
//! synced and unsynced writes, and a bulk stretch of unsynced writes across several pending cuts
//! completed by one sync): after recovery every batch acknowledged as synced is present,
//! no overwritten entry returns, nothing panics.
//!
//! The workload runs against the simulated disk with a crash set at step n, for every n from 1
//! to the number of steps a clean run takes; after each crash the disk keeps only what was made
//! durable (and, in a second pass, random prefixes of unsynced writes, torn). The recovered log
//! must equal the model as of the last acknowledged sync or of some later operation that was
//! in flight (a cut or a group commit may make unacknowledged batches durable too).
//!
//! Cuts take the spare (the next segment's file, prepared after the previous cut) or a
//! recycled segment, so the steps include every step of preparing a spare, of a cut into a
//! prepared or recycled file, and of recycling by purge. After each reopen no temporary file is
//! left behind and at most one spare and the configured number of recycled files remain.
//! The spare is prepared on the appending thread here (a deterministic order of steps); a
//! second test runs the same workload with the preparing thread, where which call is step n
//! varies from run to run but the same rules must hold.

mod common;

use std::path::Path;

use common::{batch, sim_opts, Model};
use stele_wal::fs::sim::{CrashMode, SimFs};
use stele_wal::fs::FileSystem;
use stele_wal::{HardState, Wal};

const SEG: u64 = 4 << 10;

#[derive(Debug, Clone)]
enum Op {
    Append {
        lo: u64,
        n: u64,
        term: u64,
        len: usize,
        sync: bool,
        hs: Option<HardState>,
    },
    Purge(u64),
    Sync,
}

fn workload() -> Vec<Op> {
    let mut ops = Vec::new();
    let mut next: u64 = 1;
    for i in 0..40u64 {
        let n = 1 + i % 3;
        let hs = (i % 5 == 0).then_some(HardState {
            term: 1,
            vote: 1,
            commit: next.saturating_sub(1),
        });
        ops.push(Op::Append {
            lo: next,
            n,
            term: 1,
            len: 60 + (i as usize * 37) % 200,
            sync: i % 3 != 1,
            hs,
        });
        next += n;
    }
    // A new leader overwrites the last five entries.
    next -= 5;
    ops.push(Op::Append {
        lo: next,
        n: 2,
        term: 2,
        len: 90,
        sync: true,
        hs: Some(HardState {
            term: 2,
            vote: 3,
            commit: 20,
        }),
    });
    next += 2;
    ops.push(Op::Purge(30));
    for i in 0..12u64 {
        ops.push(Op::Append {
            lo: next,
            n: 2,
            term: 2,
            len: 150,
            sync: i % 4 == 3,
            hs: None,
        });
        next += 2;
    }
    // A bulk stretch: unsynced batches across several cuts, so several cuts are pending (sealed
    // segments unsynced, new ones under their prepared names) until the one sync at the end.
    for _ in 0..16u64 {
        ops.push(Op::Append {
            lo: next,
            n: 3,
            term: 2,
            len: 300,
            sync: false,
            hs: None,
        });
        next += 3;
    }
    ops.push(Op::Sync);
    ops
}

/// Runs the workload until it ends or the first error (the crash). Returns the model states
/// the disk may legitimately hold: the last acknowledged one and every later one.
fn run(fs: &SimFs, background: bool) -> Vec<(Model, u64)> {
    let mut model = Model::default();
    let mut first = 1;
    let mut candidates = vec![(model.clone(), first)];
    let Ok(wal) = open(fs, background) else {
        return candidates;
    };
    for op in workload() {
        let result = match &op {
            Op::Append {
                lo,
                n,
                term,
                len,
                sync,
                hs,
            } => {
                let (b, ents) = batch(*lo, *n, *term, *len, *hs);
                model.append(*lo, &ents, *hs);
                candidates.push((model.clone(), first));
                wal.append(b, *sync).map(|_| *sync)
            }
            Op::Purge(below) => {
                // While the purge runs, any prefix of segments below `below` may be gone.
                candidates.push((model.clone(), *below));
                wal.purge(*below).map(|p| {
                    first = p.first_index;
                    candidates.push((model.clone(), first));
                    false
                })
            }
            Op::Sync => wal.sync().map(|_| true),
        };
        match result {
            Ok(true) => candidates = vec![(model.clone(), first)],
            Ok(false) => {}
            Err(_) => break,
        }
    }
    candidates
}

fn open(fs: &SimFs, background: bool) -> stele_wal::Result<Wal> {
    let opts = stele_wal::WalOptions {
        background_prepare: background,
        ..sim_opts(fs, SEG)
    };
    Wal::open(Path::new("/w"), opts)
}

/// After a reopen: segments, the lock, at most one spare and at most `recycle` (2) recycled
/// files; nothing temporary, except the one `.spare.tmp` the reopened WAL's own preparing thread
/// may be writing when `preparing` (read before listing: while it is false nothing asks for a
/// spare, so the directory cannot change under the listing).
fn check_no_leftovers(fs: &SimFs, n: u64, preparing: bool) {
    let names = fs.list(Path::new("/w")).unwrap();
    let count = |suffix: &str| names.iter().filter(|x| x.ends_with(suffix)).count();
    let tmp_allowed = usize::from(preparing);
    assert!(
        count(".spare.tmp") <= tmp_allowed,
        "crash at step {n}: unexpected files after reopen: {names:?}"
    );
    let known = names.iter().all(|x| {
        x == "LOCK"
            || x.ends_with(".wal")
            || x.ends_with(".spare")
            || x.ends_with(".recycle")
            || (preparing && x.ends_with(".spare.tmp"))
    });
    assert!(
        known,
        "crash at step {n}: unexpected files after reopen: {names:?}"
    );
    assert!(count(".spare") <= 1, "crash at step {n}: {names:?}");
    assert!(count(".recycle") <= 2, "crash at step {n}: {names:?}");
}

fn check_crash_states(background: bool, mode_for: impl Fn(u64) -> CrashMode) -> u64 {
    let clean = SimFs::new();
    run(&clean, background);
    let total = clean.steps();
    assert!(total > 100, "workload too small: {total} steps");
    for n in 1..=total {
        let fs = SimFs::new();
        fs.crash_at(n);
        let candidates = run(&fs, background);
        fs.crash(mode_for(n));
        let wal = open(&fs, background)
            .unwrap_or_else(|e| panic!("crash at step {n}: reopen failed: {e}"));
        check_no_leftovers(&fs, n, wal.stats().spare_preparing);
        let ok = candidates
            .iter()
            .any(|(m, first)| m.matches(&wal, *first).is_ok());
        if !ok {
            let why: Vec<String> = candidates
                .iter()
                .map(|(m, f)| m.matches(&wal, *f).unwrap_err())
                .collect();
            panic!("crash at step {n}: recovered log matches no allowed state: {why:?}");
        }
        // The recovered log must also take new writes.
        let last = wal.last_index().unwrap();
        let (b, _) = batch(last + 1, 1, 9, 10, None);
        wal.append(b, true)
            .unwrap_or_else(|e| panic!("crash at step {n}: append after recovery: {e}"));
        // Dropping the handle waits for the preparing thread: nothing temporary may remain.
        drop(wal);
        check_no_leftovers(&fs, n, false);
    }
    total
}

#[test]
fn crash_at_every_step_drop_unsynced() {
    let n = check_crash_states(false, |_| CrashMode::DropUnsynced);
    println!("checked {n} crash states (unsynced writes dropped)");
}

#[test]
fn crash_at_every_step_with_the_preparing_thread() {
    let n = check_crash_states(true, |_| CrashMode::DropUnsynced);
    let m = check_crash_states(true, |n| CrashMode::KeepPrefix { seed: n });
    println!("checked {} crash states with background preparation", n + m);
}

#[test]
fn crash_at_every_step_torn_prefixes() {
    let mut states = 0;
    for seed in [1u64, 7, 42] {
        states += check_crash_states(false, |n| CrashMode::KeepPrefix {
            seed: seed.wrapping_mul(1_000_003) ^ n,
        });
    }
    println!("checked {states} crash states (random torn prefixes of unsynced writes kept)");
}
