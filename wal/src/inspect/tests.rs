//! The inspection against the WAL's own opening: the same log, without changing a byte.

use std::path::Path;

use super::{inspect, open_read_only, EndKind, Event, LogItem};
use crate::{Batch, HardState, Wal, WalOptions};

fn opts() -> WalOptions {
    WalOptions {
        segment_size: 1024,
        salt_seed: Some(7),
        ..WalOptions::default()
    }
}

/// Entries 1..=12 (term 1), then 10..=14 (term 2) overwriting 10..=12, then a compaction to 3.
fn write(dir: &Path) {
    let wal = Wal::open(dir, opts()).unwrap();
    for i in 1..=12u64 {
        let mut b = Batch::new();
        b.add_entry(i, 1, format!("entry {i} of term one").as_bytes())
            .unwrap();
        b.set_hard_state(HardState {
            term: 1,
            vote: 1,
            commit: i,
        });
        wal.append(b, true).unwrap();
    }
    let mut b = Batch::new();
    for i in 10..=14u64 {
        b.add_entry(i, 2, format!("entry {i} of term two").as_bytes())
            .unwrap();
    }
    wal.append(b, true).unwrap();
    let mut b = Batch::new();
    b.compact(3, 1).unwrap();
    wal.append(b, true).unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_log_is_the_one_opening_recovers_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let before = files(dir.path());
    let (mut batches, mut ends) = (0, Vec::new());
    let insp = inspect(dir.path(), &mut |ev| {
        match ev {
            Event::Batch(_) => batches += 1,
            Event::End { kind, .. } => ends.push(kind),
            Event::Problem(p) => panic!("{p}"),
            _ => {}
        }
        true
    })
    .unwrap();
    assert_eq!(insp.problems, 0);
    assert_eq!(before, files(dir.path()), "inspection changed a byte");
    assert!(insp.segments.len() > 1 && insp.segments[0].sealed);
    assert_eq!(ends.first(), Some(&EndKind::Footer));
    assert_eq!(ends.last(), Some(&EndKind::EndMarker));
    assert!(batches > 14);
    let mut got = Vec::new();
    insp.read_entries(0, u64::MAX, &mut |item| {
        match item {
            LogItem::Entry(e) => got.push((e.index, e.term, e.payload.to_vec())),
            LogItem::Problem(p) => panic!("{p}"),
        }
        true
    });
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert_eq!(
        (insp.first_index(), insp.last_index()),
        (wal.first_index().unwrap(), wal.last_index().unwrap())
    );
    let want: Vec<_> = wal
        .replay(0)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.index, e.term, e.data)
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(insp.state, wal.state().unwrap());
    assert_eq!(insp.term(3), Some(1));
}

#[test]
fn a_torn_tail_is_reported_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let mut last = None;
    inspect(dir.path(), &mut |ev| {
        if let Event::Batch(b) = ev {
            last = Some((b.segment.to_string(), b.offset));
        }
        true
    })
    .unwrap();
    let (seg, off) = last.unwrap();
    let path = dir.path().join(&seg);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[off as usize + 40] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let mut found = Vec::new();
    let insp = inspect(dir.path(), &mut |ev| {
        if let Event::Problem(p) = ev {
            found.push(p.clone());
        }
        true
    })
    .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].file.as_str(), found[0].offset),
        (seg.as_str(), Some(off))
    );
    assert!(found[0].message.contains("torn tail"), "{}", found[0]);
    assert_eq!(insp.last_index(), 14);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "not repaired");
}

#[test]
fn the_read_only_handle_refuses_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    std::fs::write(&p, b"abc").unwrap();
    let f = open_read_only(&p).unwrap();
    assert!(f.write_at(b"x", 0).is_err());
    assert!(f.set_len(0).is_err() && f.allocate(10).is_err());
    assert!(f.sync_data().is_err() && f.map().unwrap().is_none());
    assert_eq!(std::fs::read(&p).unwrap(), b"abc");
}
