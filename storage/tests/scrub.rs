//! Scrubbing a `DiskStorage` on real files: a clean store verifies whole (every sealed segment
//! and snapshot file, now or in the background pass after pass); one bit flipped in a sealed
//! segment or in an older snapshot file, neither of which opening reads, is found with the
//! file named, and ends the background scrub with the damage kept; dropping a scrubber that is
//! pacing itself returns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use raft::eraftpb::{ConfState, Entry, HardState};
use stele_storage::{DiskStorage, Error, ScrubOptions, StorageOptions};

const SEG: u64 = 256 << 10;
/// Generous: a pass reads a few MiB.
const PASS_WAIT: Duration = Duration::from_secs(60);

fn entry(index: u64, len: usize) -> Entry {
    let mut e = Entry::default();
    e.set_index(index);
    e.set_term(1);
    e.set_data(vec![(index % 251) as u8; len].into());
    e
}

fn opts() -> StorageOptions {
    let mut o = StorageOptions::default();
    o.wal.segment_size = SEG;
    o
}

/// 400 entries of 4 KiB (several sealed segments), snapshots at 100 and 200 (files of 64 KiB).
fn store(dir: &Path) -> DiskStorage {
    let s = DiskStorage::open(dir, opts()).unwrap();
    let voters = ConfState {
        voters: vec![1],
        ..Default::default()
    };
    s.initialize_with_conf_state(&voters).unwrap();
    for chunk in (1..=400u64).collect::<Vec<_>>().chunks(20) {
        let ents: Vec<Entry> = chunk.iter().map(|&i| entry(i, 4096)).collect();
        let mut hs = HardState::default();
        hs.set_term(1);
        hs.set_commit(*chunk.last().unwrap());
        s.append(&ents, Some(&hs), true).unwrap();
    }
    for at in [100, 200] {
        s.create_snapshot(at, &voters, &mut &vec![7u8; 64 << 10][..])
            .unwrap();
    }
    s
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn flip_middle(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_clean_store_verifies_whole_now_and_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let sealed = s.wal().stats().segments as u64 - 1;
    assert!(sealed >= 4, "{sealed} sealed segments");
    let now = s.scrub_now().unwrap();
    assert_eq!(now.segments_verified, sealed);
    assert_eq!(now.snapshots_verified, 2);
    assert_eq!(now.passes, 1);
    assert!(now.bytes_verified > 400 * 4096 - SEG, "{now:?}");

    let scrubber = s.start_scrubber(ScrubOptions {
        bytes_per_sec: 1 << 30,
        ..ScrubOptions::default()
    });
    let st = scrubber.wait_passes(2, PASS_WAIT);
    assert!(st.passes >= 2 && st.running, "{st:?}");
    assert_eq!(st.damage, None);
    assert!(st.segments_verified >= 2 * sealed && st.snapshots_verified >= 4);
    assert!(
        st.bytes_verified >= 2 * now.bytes_verified,
        "{st:?} vs {now:?}"
    );
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_found() {
    let dir = tempfile::tempdir().unwrap();
    drop(store(dir.path()));
    let victim = files(&dir.path().join("wal"), "wal")[1].clone();
    flip_middle(&victim);
    let s = DiskStorage::open(dir.path(), opts()).expect("opening reads seals only");
    let err = s.scrub_now().unwrap_err();
    assert!(
        matches!(err, Error::Wal(stele_wal::Error::Corrupt { ref path, .. }) if *path == victim),
        "{err}"
    );
    let scrubber = s.start_scrubber(ScrubOptions {
        bytes_per_sec: 1 << 30,
        ..ScrubOptions::default()
    });
    let st = scrubber.wait_passes(1, PASS_WAIT);
    assert!(!st.running && st.passes == 0, "the damage ended it: {st:?}");
    let why = st.damage.expect("damage kept");
    assert!(why.contains(&victim.display().to_string()), "{why}");
    assert!(why.contains("offset"), "{why}");
    assert!(scrubber.damage().is_some());
}

#[test]
fn a_flipped_bit_in_an_older_snapshot_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    drop(store(dir.path()));
    let snaps = files(&dir.path().join("snap"), "snap");
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let older = snaps
        .iter()
        .find(|p| p.to_string_lossy().ends_with("64.snap"))
        .unwrap();
    flip_middle(older);
    // Opening verifies the served (newest) snapshot whole, the older one's frame only.
    let s = DiskStorage::open(dir.path(), opts()).expect("the older snapshot is not read");
    let err = s.scrub_now().unwrap_err();
    assert!(matches!(err, Error::Snap(ref e) if e.is_damage()), "{err}");
    assert!(
        err.to_string().contains(&older.display().to_string()),
        "{err}"
    );
    assert!(older.exists(), "left in place for inspection");
}

#[test]
fn dropping_a_pacing_scrubber_returns() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    // One byte a second: after its first read the scrubber waits for a long time.
    let scrubber = s.start_scrubber(ScrubOptions {
        bytes_per_sec: 1,
        ..ScrubOptions::default()
    });
    let st = scrubber.wait_passes(1, Duration::from_millis(50));
    assert_eq!(st.passes, 0, "{st:?}");
    drop(scrubber); // joins the thread: hangs (and the test times out) if the stop is ignored
}

#[test]
fn an_orphan_snapshot_file_is_not_the_scrubs_to_report() {
    let dir = tempfile::tempdir().unwrap();
    drop(store(dir.path()));
    // No marker names it, so it is never served (recovery warns about its damaged frame).
    let orphan = dir
        .path()
        .join("snap")
        .join("0000000000000009-00000000000fffff.snap");
    std::fs::write(&orphan, b"\x00 not a snapshot").unwrap();
    let s = DiskStorage::open(dir.path(), opts()).unwrap();
    let st = s.scrub_now().expect("the orphan is skipped");
    assert_eq!(st.snapshots_verified, 2, "{st:?}");
    assert!(orphan.exists());
}
