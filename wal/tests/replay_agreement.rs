//! `Wal::open` and `inspect` (what `wal-dump` prints) share one replayer; this test shows they
//! agree on every damaged copy of a real log: bit flips, truncations, zeroed ranges, missing,
//! renamed and foreign segment files.
//!
//! The rules checked for each damaged directory (`agree`):
//! - inspection finds no problem ⇒ both recovery modes open it, with inspection's first index,
//!   last index and state, and every entry reads back;
//! - opening fails on damage at a file and offset ⇒ inspection reports a problem at that file
//!   and offset; opening fails on the directory's shape ⇒ inspection reports a problem in that
//!   file;
//! - the default mode truncates a torn tail at a file and offset ⇒ inspection reports it there,
//!   and the strict mode refuses the same directory at the same place;
//! - opening succeeds ⇒ every problem inspection reports is damage that a read of the entries
//!   hits (opening trusts sealed segments' footers and does not read their batches), and a read
//!   of every entry fails at a file and offset inspection reported.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::batch;
use stele_wal::inspect::{inspect, Event, Inspection};
use stele_wal::{Batch, Error, HardState, RecoveryMode, Wal, WalOptions};

const SEG: u64 = 2048;

/// (file name, offset) of every problem inspection reports.
type Problems = BTreeSet<(String, Option<u64>)>;

fn opts(recovery: RecoveryMode) -> WalOptions {
    WalOptions {
        segment_size: SEG,
        recovery,
        ..WalOptions::default()
    }
}

fn scratch() -> tempfile::TempDir {
    // tmpfs where there is one: thousands of opens, each with syncs.
    match tempfile::Builder::new().tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

/// A log of several segments: sealed ones, an active one, an overwrite, a compaction and a
/// purge (so replay starts after removed segments).
fn build(dir: &Path) {
    let wal = Wal::open(dir, opts(RecoveryMode::TolerateCorruptTail)).unwrap();
    let mut next = 1u64;
    for round in 0..14u64 {
        let hs = HardState {
            term: 1 + round / 5,
            vote: 1,
            commit: next.saturating_sub(2),
        };
        let (b, _) = batch(next, 3, 1 + round / 5, 90, Some(hs));
        wal.append(b, true).unwrap();
        next += 3;
        if round == 6 {
            // Overwrite the last two entries with a newer term.
            let (b, _) = batch(next - 2, 2, 3, 60, None);
            wal.append(b, true).unwrap();
        }
        if round == 9 {
            let mut b = Batch::new();
            b.compact(10, wal.term(10).unwrap()).unwrap();
            wal.append(b, true).unwrap();
            wal.purge(10).unwrap();
        }
    }
    let (b, _) = batch(next, 2, 4, 50, None);
    wal.append(b, false).unwrap();
    drop(wal);
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for p in segments(from) {
        fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn inspect_dir(dir: &Path) -> (Inspection, Problems) {
    let mut problems = Problems::new();
    let ins = inspect(dir, &mut |e| {
        if let Event::Problem(p) = e {
            problems.insert((p.file.clone(), p.offset));
        }
        true
    })
    .unwrap();
    assert_eq!(
        ins.problems == 0,
        problems.is_empty(),
        "problem count and events differ"
    );
    (ins, problems)
}

/// Where an error from opening or reading points: file name and offset if it is damage.
fn location(e: &Error) -> Option<(String, Option<u64>)> {
    match e {
        Error::Corrupt { path, offset, .. } => Some((name(path), Some(*offset))),
        Error::BadDirectory { path, .. } => Some((name(path), None)),
        _ => None,
    }
}

/// Checks that a damage found by opening or reading (`e`) is one inspection reported.
fn reported(e: &Error, problems: &Problems, what: &str) {
    let Some((file, offset)) = location(e) else {
        panic!("{what}: unexpected error {e}");
    };
    let hit = match offset {
        Some(at) if what.ends_with("reading") => {
            // A read meets damage where the index points: inside a damaged range whose start
            // inspection reported.
            problems
                .iter()
                .any(|(f, o)| *f == file && o.is_some_and(|o| o <= at))
        }
        Some(_) => problems.contains(&(file.clone(), offset)),
        None => problems.iter().any(|(f, _)| *f == file || f.is_empty()),
    };
    assert!(hit, "{what}: {e}, but inspection reported {problems:?}");
}

/// Reads every entry of an opened log.
fn read_all(wal: &Wal) -> stele_wal::Result<u64> {
    let (first, last) = (wal.first_index()?, wal.last_index()?);
    if first > last {
        return Ok(0);
    }
    Ok(wal.entries(first, last + 1, None)?.len() as u64)
}

/// What one damaged directory showed.
#[derive(Debug, Default)]
struct Tally {
    clean: u64,
    refused: u64,
    torn: u64,
    read_damage: u64,
}

/// Applies the rules in the module docs to the damaged directory `dir` (copied per open).
fn agree(dir: &Path, work: &Path, what: &str, tally: &mut Tally) {
    let (ins, problems) = inspect_dir(dir);
    let mut torn_at = None;
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateCorruptTail,
    ] {
        let copy = work.join(format!("{mode:?}"));
        let _ = fs::remove_dir_all(&copy);
        copy_dir(dir, &copy);
        let what = format!("{what} ({mode:?})");
        let wal = match Wal::open(&copy, opts(mode)) {
            Ok(wal) => wal,
            Err(e) => {
                assert!(
                    !problems.is_empty(),
                    "{what}: open failed ({e}), inspection clean"
                );
                reported(&e, &problems, &what);
                if mode == RecoveryMode::TolerateCorruptTail {
                    tally.refused += 1;
                }
                continue;
            }
        };
        if let Some((path, offset)) = &wal.recovery().torn_tail {
            let at = (name(path), Some(*offset));
            assert!(
                problems.contains(&at),
                "{what}: torn tail {at:?} not in {problems:?}"
            );
            torn_at = Some(at);
            tally.torn += 1;
        }
        match read_all(&wal) {
            Err(e) => {
                reported(&e, &problems, &format!("{what}, reading"));
                tally.read_damage += 1;
            }
            Ok(n) if wal.recovery().torn_tail.is_none() => {
                // Damage opening does not read: batches of a segment whose seal it trusts, none
                // of whose entries a read needs (the head batch's state is in the seal too).
                let sealed: BTreeSet<&str> = ins
                    .segments
                    .iter()
                    .filter(|s| s.sealed)
                    .map(|s| s.name.as_str())
                    .collect();
                assert!(
                    problems.iter().all(|(f, _)| sealed.contains(f.as_str())),
                    "{what}: opened and read cleanly, but inspection reported {problems:?}"
                );
                assert_eq!(wal.first_index().unwrap(), ins.first_index(), "{what}");
                assert_eq!(wal.last_index().unwrap(), ins.last_index(), "{what}");
                assert_eq!(wal.state().unwrap(), ins.state, "{what}");
                assert_eq!(n, ins.entry_count(), "{what}");
                tally.clean += 1;
            }
            Ok(_) => {}
        }
    }
    if problems.is_empty() {
        assert!(torn_at.is_none(), "{what}");
    }
}

/// The original log, and a scratch area for damaged copies.
struct Fixture {
    _tmp: tempfile::TempDir,
    pristine: PathBuf,
    damaged: PathBuf,
    work: PathBuf,
    files: Vec<PathBuf>,
}

impl Fixture {
    fn new() -> Self {
        let tmp = scratch();
        let pristine = tmp.path().join("pristine");
        build(&pristine);
        let files = segments(&pristine);
        assert!(files.len() >= 4, "want several segments: {files:?}");
        Fixture {
            pristine,
            damaged: tmp.path().join("damaged"),
            work: tmp.path().join("work"),
            files,
            _tmp: tmp,
        }
    }

    /// A fresh damaged copy: `damage` gets the path of the copy of file `i` and changes it.
    fn case(&self, i: usize, what: &str, tally: &mut Tally, damage: impl FnOnce(&Path)) {
        let _ = fs::remove_dir_all(&self.damaged);
        copy_dir(&self.pristine, &self.damaged);
        damage(&self.damaged.join(self.files[i].file_name().unwrap()));
        agree(&self.damaged, &self.work, what, tally);
    }
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).unwrap();
    f(&mut bytes);
    fs::write(path, bytes).unwrap();
}

#[test]
fn the_undamaged_log_agrees() {
    let fx = Fixture::new();
    let mut tally = Tally::default();
    agree(&fx.pristine.clone(), &fx.work, "undamaged", &mut tally);
    assert_eq!(tally.clean, 2, "{tally:?}");
}

#[test]
fn bit_flips_agree() {
    let fx = Fixture::new();
    let mut tally = Tally::default();
    for (i, file) in fx.files.iter().enumerate() {
        let len = fs::metadata(file).unwrap().len() as usize;
        // Every 5th byte (a stride prime to 8, so every field alignment is hit), one bit each.
        for byte in (i % 5..len).step_by(5) {
            let bit = byte % 8;
            let what = format!("flip {}:{byte}.{bit}", name(file));
            fx.case(i, &what, &mut tally, |p| edit(p, |b| b[byte] ^= 1 << bit));
        }
    }
    println!("{tally:?}");
    assert!(
        tally.refused > 0 && tally.torn > 0 && tally.read_damage > 0,
        "{tally:?}"
    );
}

#[test]
fn truncations_and_zeroed_ranges_agree() {
    let fx = Fixture::new();
    let mut tally = Tally::default();
    for (i, file) in fx.files.iter().enumerate() {
        let len = fs::metadata(file).unwrap().len() as usize;
        for cut in (0..len).step_by(61).chain([len - 1]) {
            let what = format!("truncate {} at {cut}", name(file));
            fx.case(i, &what, &mut tally, |p| edit(p, |b| b.truncate(cut)));
        }
        for start in (0..len).step_by(97) {
            for span in [8, 40, 300] {
                let end = (start + span).min(len);
                let what = format!("zero {} [{start}, {end})", name(file));
                fx.case(i, &what, &mut tally, |p| edit(p, |b| b[start..end].fill(0)));
            }
        }
    }
    println!("{tally:?}");
    assert!(tally.refused > 0 && tally.torn > 0, "{tally:?}");
}

#[test]
fn missing_renamed_and_foreign_files_agree() {
    let fx = Fixture::new();
    let mut tally = Tally::default();
    let last = fx.files.len() - 1;
    for (i, file) in fx.files.iter().enumerate() {
        let n = name(file);
        fx.case(i, &format!("remove {n}"), &mut tally, |p| {
            fs::remove_file(p).unwrap()
        });
        let (seq, first) = n.trim_end_matches(".wal").split_once('-').unwrap();
        let seq = u64::from_str_radix(seq, 16).unwrap();
        let first = u64::from_str_radix(first, 16).unwrap();
        for (s, f, how) in [
            (seq + 100, first, "sequence jump"),
            (seq, first + 1, "first index differs from header"),
        ] {
            fx.case(i, &format!("rename {n} ({how})"), &mut tally, |p| {
                let to = p.with_file_name(format!("{s:016x}-{f:016x}.wal"));
                fs::rename(p, to).unwrap();
            });
        }
        fx.case(i, &format!("duplicate sequence of {n}"), &mut tally, |p| {
            let to = p.with_file_name(format!("{seq:016x}-{:016x}.wal", first + 1000));
            fs::copy(p, to).unwrap();
        });
        fx.case(i, &format!("swap header of {n}"), &mut tally, |p| {
            let other = &fx.files[if i == last { 0 } else { last }];
            let head = fs::read(other).unwrap()[..64].to_vec();
            edit(p, |b| b[..64].copy_from_slice(&head));
        });
    }
    for bad in [
        "0000000000000001-x.wal",
        "zz.wal",
        "0000000000000099-0000000000000001.wal",
    ] {
        fx.case(0, &format!("foreign file {bad}"), &mut tally, |p| {
            fs::write(p.with_file_name(bad), b"not a segment").unwrap()
        });
    }
    println!("{tally:?}");
    assert!(tally.refused > 0, "{tally:?}");
}
