//! Resident memory of `DiskStorage` while appending a large log.
//!
//! `cargo run --release --example storage_rss [DIR] [GIB]` appends GIB GiB (default 4, fractions
//! allowed) of 4 KiB entries in batches of 64 (each with a HardState, unsynced, with a sync every
//! 16 batches), keeping them all in the log (no compaction) so that the WAL's index grows with
//! it. Every 512 MiB and at the end it prints the bytes and entries appended, `VmRSS`, `VmHWM`,
//! the WAL index's heap bytes and the entry cache's bytes (default limit 64 MiB). Then it closes
//! the storage, reopens it, and prints how long reopening took and the resident memory after.
//!
//! DIR defaults to a temporary directory, removed at the end; pass `-` for that default when
//! giving GIB. A DIR that is given is kept (a second run appends after what is there).

use std::path::PathBuf;
use std::time::Instant;

use raft::eraftpb::{ConfState, Entry, HardState};
use raft::{GetEntriesContext, Storage};
use stele::storage::{DiskStorage, StorageOptions};

const ENTRY: usize = 4 << 10;
const BATCH: u64 = 64;
const SYNC_EVERY: u64 = 16;
const REPORT_EVERY: u64 = 512 << 20;

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`); 0 where there is none.
fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn report(storage: &DiskStorage, bytes: u64, entries: u64, t0: Instant) {
    let wal = storage.wal().stats();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{:>8.0} MiB  {:>9} entries  VmRSS {:>6.1} MiB  VmHWM {:>6.1} MiB  WAL index {:>8} B \
         ({:.3} B/entry, {} segments)  cache {:>5.1} MiB  {:>6.1} s  {:>5.0} MiB/s",
        mib(bytes),
        entries,
        mib(status("VmRSS")),
        mib(status("VmHWM")),
        wal.index_bytes,
        wal.index_bytes as f64 / entries.max(1) as f64,
        wal.segments,
        mib(storage.cache_bytes()),
        secs,
        mib(bytes) / secs.max(1e-9),
    );
}

/// The reopening process: `--reopen DIR FIRST LAST TERM/VOTE/COMMIT`.
fn reopen(mut args: impl Iterator<Item = String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut arg = || {
        args.next()
            .ok_or("--reopen DIR FIRST LAST TERM/VOTE/COMMIT")
    };
    let dir = PathBuf::from(arg()?);
    let (first, last): (u64, u64) = (arg()?.parse()?, arg()?.parse()?);
    let hs = arg()?;
    let rss_before = status("VmRSS");
    let t1 = Instant::now();
    let storage = DiskStorage::open(&dir, StorageOptions::default())?;
    let elapsed = t1.elapsed();
    let rss_open = status("VmRSS");
    let rec = storage.recovery();
    println!(
        "reopened (new process) in {elapsed:.1?}: {} segments ({} sealed), {:.1} MiB scanned, \
         entries {:?}; VmRSS {:.1} MiB before opening, {:.1} MiB after, VmHWM {:.1} MiB; \
         WAL index {} B, cache {} B",
        rec.wal.segments,
        rec.wal.sealed,
        mib(rec.wal.scanned_bytes),
        rec.entries,
        mib(rss_before),
        mib(rss_open),
        mib(status("VmHWM")),
        storage.wal().stats().index_bytes,
        storage.cache_bytes(),
    );
    assert_eq!(storage.last_index()?, last);
    let h = storage.hard_state();
    assert_eq!(format!("{}/{}/{}", h.term, h.vote, h.commit), hs);
    // The first and the last entry appended, read back from the WAL.
    for i in [first, last] {
        let e = storage.entries(i, i + 1, None, GetEntriesContext::empty(false))?;
        assert_eq!(e[0].data[..8], i.to_le_bytes());
    }
    println!(
        "after reading entries {first} and {last}: VmRSS {:.1} MiB",
        mib(status("VmRSS"))
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--reopen") {
        args.next();
        return reopen(args);
    }
    let dir_arg = args.next().filter(|d| d != "-");
    let gib: f64 = match args.next() {
        Some(g) => g.parse()?,
        None => 4.0,
    };
    let temp = match dir_arg {
        Some(_) => None,
        None => Some(tempfile::tempdir()?),
    };
    let dir: PathBuf = match (&dir_arg, &temp) {
        (Some(d), _) => PathBuf::from(d),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => unreachable!(),
    };
    let opts = StorageOptions::default();
    println!(
        "storage_rss: {} GiB of {ENTRY} B entries, batches of {BATCH}, a sync every {SYNC_EVERY} \
         batches, cache limit {:.0} MiB, segments of {:.0} MiB, in {}",
        gib,
        mib(opts.cache_bytes as u64),
        mib(opts.wal.segment_size),
        dir.display()
    );
    println!("before opening: VmRSS {:.1} MiB", mib(status("VmRSS")));

    let storage = DiskStorage::open(&dir, opts.clone())?;
    let mut cs = ConfState::default();
    cs.set_voters(vec![1]);
    if storage.conf_state() == ConfState::default() {
        storage.initialize_with_conf_state(&cs)?;
    }
    let mut hs = storage.hard_state();
    hs.term = hs.term.max(1);
    hs.vote = 1;
    let first_new = storage.last_index()? + 1;
    println!(
        "opened: VmRSS {:.1} MiB; appending from index {first_new}",
        mib(status("VmRSS"))
    );

    let volume = (gib * (1u64 << 30) as f64) as u64;
    let template = vec![0x5a_u8; ENTRY];
    let t0 = Instant::now();
    let (mut bytes, mut entries, mut batches) = (0u64, 0u64, 0u64);
    let mut next = first_new;
    let mut next_report = REPORT_EVERY;
    while bytes < volume {
        let batch: Vec<Entry> = (next..next + BATCH)
            .map(|i| {
                let mut data = template.clone();
                data[..8].copy_from_slice(&i.to_le_bytes());
                Entry {
                    index: i,
                    term: hs.term,
                    data: data.into(),
                    ..Entry::default()
                }
            })
            .collect();
        next += BATCH;
        hs.commit = next - 1;
        batches += 1;
        storage.append(&batch, Some(&hs), batches % SYNC_EVERY == 0)?;
        bytes += BATCH * ENTRY as u64;
        entries += BATCH;
        if bytes >= next_report {
            report(&storage, bytes, entries, t0);
            next_report += REPORT_EVERY;
        }
    }
    storage.sync()?;
    println!("end (synced):");
    report(&storage, bytes, entries, t0);
    let last = storage.last_index()?;
    drop(storage);
    let hs_before: HardState = hs;

    // Reopen in a fresh process, so that its resident memory is the reopened storage's alone
    // (this process's allocator keeps the pages it freed).
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("--reopen")
        .arg(&dir)
        .arg(first_new.to_string())
        .arg(last.to_string())
        .arg(format!(
            "{}/{}/{}",
            hs_before.term, hs_before.vote, hs_before.commit
        ))
        .status()?;
    if !out.success() {
        return Err(format!("the reopening process failed: {out}").into());
    }
    if let Some(t) = temp {
        t.close()?;
    }
    Ok(())
}
