//! Round trips (empty, small, streamed, on the real and the simulated disk, with and without a
//! memory map), listing and selection, locking, temporary-file handling and the reader.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use common::*;
use stele_snap::{Error, SnapOptions, SnapshotId, SnapshotMarker, Snapshotter};
use stele_wal::fs::sim::SimFs;
use stele_wal::fs::{FileSystem, StdFs};

fn round_trip(snaps: &Snapshotter, meta: &SnapshotMarker, data: &[u8]) {
    let id = snaps.save_bytes(meta, data).unwrap();
    assert_eq!(id, SnapshotId::of(meta));
    let snap = snaps.load(id).unwrap();
    assert_eq!(snap.metadata(), meta);
    assert_eq!(snap.data_len(), data.len() as u64);
    assert_eq!(snap.read_to_vec().unwrap(), data);
    let mut streamed = Vec::new();
    snap.reader().read_to_end(&mut streamed).unwrap();
    assert_eq!(streamed, data);
    if let Some(mapped) = snap.data() {
        assert_eq!(mapped, data);
    }
    assert_eq!(snaps.load_newest().unwrap().id(), id);
}

fn all_sizes(snaps: &Snapshotter) {
    round_trip(snaps, &SnapshotMarker::default(), b"");
    round_trip(snaps, &meta(5, 1), b"");
    round_trip(snaps, &meta(6, 1), b"x");
    round_trip(snaps, &meta(7, 2), &data_for(7, 1000));
    round_trip(snaps, &meta(8, 2), &data_for(8, (3 << 20) + 17));
}

#[test]
fn round_trip_on_the_real_disk_with_and_without_mmap() {
    let tmp = tempfile::tempdir().unwrap();
    let snaps = Snapshotter::open(tmp.path(), SnapOptions::default()).unwrap();
    all_sizes(&snaps);
    assert!(
        snaps.load_newest().unwrap().data().is_some(),
        "StdFs maps the file"
    );
    drop(snaps);
    let opts = SnapOptions {
        use_mmap: false,
        write_buffer: 4096,
        ..SnapOptions::default()
    };
    let snaps = Snapshotter::open(tmp.path().join("nomap"), opts).unwrap();
    all_sizes(&snaps);
    assert!(snaps.load_newest().unwrap().data().is_none());
}

#[test]
fn round_trip_on_the_simulated_disk() {
    let fs = SimFs::new();
    all_sizes(&open_sim(&fs));
    let fs = SimFs::new();
    let snaps = Snapshotter::open(
        DIR,
        SnapOptions {
            write_buffer: 1,
            ..sim_opts(&fs)
        },
    )
    .unwrap();
    all_sizes(&snaps);
}

#[test]
fn streamed_writes_of_any_size_round_trip() {
    let fs = SimFs::new();
    let snaps = Snapshotter::open(
        DIR,
        SnapOptions {
            write_buffer: 100,
            ..sim_opts(&fs)
        },
    )
    .unwrap();
    let data = data_for(9, 5000);
    let mut w = snaps.writer(meta(9, 1)).unwrap();
    for (i, chunk) in data.chunks(1).take(50).enumerate() {
        w.write_all(chunk).unwrap();
        assert_eq!(w.data_len(), i as u64 + 1);
    }
    let mut rest = &data[50..];
    for size in [0, 99, 100, 101, 250, 1].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = (*size).min(rest.len());
        w.write_all(&rest[..n]).unwrap();
        w.flush().unwrap();
        rest = &rest[n..];
    }
    assert_eq!(w.finish().unwrap(), SnapshotId::new(9, 1));
    assert_eq!(
        snaps
            .load(SnapshotId::new(9, 1))
            .unwrap()
            .read_to_vec()
            .unwrap(),
        data
    );

    let from = data_for(10, 70_000);
    snaps.save_from(&meta(10, 1), &mut &from[..]).unwrap();
    assert_eq!(snaps.load_newest().unwrap().read_to_vec().unwrap(), from);
}

#[test]
fn list_is_newest_first_and_selection_respects_the_caller() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    assert!(matches!(snaps.load_newest(), Err(Error::NoSnapshot { .. })));
    for (i, t) in [(30, 2), (10, 1), (20, 1), (20, 2), (40, 3)] {
        save(&snaps, i, t);
    }
    let ids: Vec<(u64, u64)> = snaps
        .list()
        .unwrap()
        .iter()
        .map(|s| (s.index, s.term))
        .collect();
    assert_eq!(ids, vec![(40, 3), (30, 2), (20, 2), (20, 1), (10, 1)]);
    assert_eq!(snaps.load_newest().unwrap().id(), SnapshotId::new(40, 3));
    assert_eq!(
        snaps.load_newest_at_or_below(39).unwrap().id(),
        SnapshotId::new(30, 2)
    );
    assert_eq!(
        snaps.load_newest_at_or_below(20).unwrap().id(),
        SnapshotId::new(20, 2)
    );
    assert!(matches!(
        snaps.load_newest_at_or_below(9),
        Err(Error::NoSnapshot { .. })
    ));
    // The WAL's markers decide: only (20, 1) and (10, 1) are known to the log.
    let markers = [(20, 1), (10, 1)];
    let agreed = snaps
        .load_newest_where(|id| markers.contains(&(id.index, id.term)))
        .unwrap();
    assert_eq!(agreed.id(), SnapshotId::new(20, 1));
    assert_eq!(loadable(&snaps).len(), 5);
}

#[test]
fn a_second_open_is_refused_until_the_first_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Snapshotter::open(tmp.path(), SnapOptions::default()).unwrap();
    let err = Snapshotter::open(tmp.path(), SnapOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    // A writer keeps the directory locked after its snapshotter is gone.
    let w = first.writer(meta(1, 1)).unwrap();
    drop(first);
    assert!(matches!(
        Snapshotter::open(tmp.path(), SnapOptions::default()),
        Err(Error::Locked { .. })
    ));
    w.finish().unwrap();
    let again = Snapshotter::open(tmp.path(), SnapOptions::default()).unwrap();
    assert_eq!(again.list().unwrap(), vec![SnapshotId::new(1, 1)]);
}

#[test]
fn open_removes_temporary_files_and_leaves_everything_else() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    save(&snaps, 5, 1);
    drop(snaps);
    let keep = [
        "0000000000000001-0000000000000005.snap.broken",
        "notes.txt",
        "0000000000000001-0000000000000006.snap.tmp",
        "x.1.tmp",
    ];
    let temps = [
        "0000000000000001-0000000000000006.snap.0.tmp",
        "0000000000000002-0000000000000009.snap.17.tmp",
    ];
    for name in keep.iter().chain(&temps) {
        put_file(&fs, &dir().join(name), b"junk");
    }
    let snaps = open_sim(&fs);
    let left = names(&fs, dir());
    for t in temps {
        assert!(
            !left.iter().any(|n| n == t),
            "{t} should be removed: {left:?}"
        );
    }
    for k in keep {
        assert!(left.iter().any(|n| n == k), "{k} should stay: {left:?}");
    }
    assert_eq!(loadable(&snaps), vec![SnapshotId::new(5, 1)]);
}

#[test]
fn an_abandoned_writer_leaves_nothing_behind() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    save(&snaps, 1, 1);
    let before = names(&fs, dir());
    let mut w = snaps.writer(meta(2, 1)).unwrap();
    w.write_all(&[7; 10_000]).unwrap();
    assert!(names(&fs, dir()).iter().any(|n| n.ends_with(".tmp")));
    drop(w);
    assert_eq!(names(&fs, dir()), before);
    let mut w = snaps.writer(meta(3, 1)).unwrap();
    w.write_all(&[7; 10]).unwrap();
    w.abort().unwrap();
    assert_eq!(names(&fs, dir()), before);
    assert_eq!(snaps.list().unwrap(), vec![SnapshotId::new(1, 1)]);
}

#[test]
fn saving_an_existing_snapshot_again_replaces_it_atomically() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    snaps.save_bytes(&meta(4, 1), b"first").unwrap();
    let held = snaps.load_newest().unwrap();
    snaps.save_bytes(&meta(4, 1), b"second").unwrap();
    assert_eq!(
        snaps.load_newest().unwrap().read_to_vec().unwrap(),
        b"second"
    );
    // A loaded snapshot keeps reading the file it verified.
    assert_eq!(held.read_to_vec().unwrap(), b"first");
}

#[test]
fn reader_seeks_and_rechecks_the_checksum_at_the_end() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    let data = data_for(3, 4096);
    snaps.save_bytes(&meta(3, 1), &data).unwrap();
    let snap = snaps.load_newest().unwrap();
    let mut r = snap.reader();
    assert_eq!(r.seek(SeekFrom::Start(4000)).unwrap(), 4000);
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &data[4000..]);
    assert_eq!(r.seek(SeekFrom::End(-96)).unwrap(), 4000);
    assert_eq!(r.seek(SeekFrom::Current(-4000)).unwrap(), 0);
    assert!(r.seek(SeekFrom::Current(-1)).is_err());
    assert_eq!(r.seek(SeekFrom::End(10)).unwrap(), 4106);
    assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);

    // The disk changes a data byte after the load: a full sequential read notices at the end.
    let path = snap.path().to_path_buf();
    let mut bytes = fs.read_file(&path).unwrap();
    bytes[100] ^= 0x40;
    fs.write_file(&path, &bytes);
    let err = snap.reader().read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert!(snap.read_to_vec().is_err());
}

#[test]
fn a_file_whose_name_disagrees_with_its_metadata_is_refused() {
    let fs = SimFs::new();
    let snaps = open_sim(&fs);
    save(&snaps, 3, 1);
    let bytes = fs.read_file(&snaps.path_of(SnapshotId::new(3, 1))).unwrap();
    let wrong = SnapshotId::new(9, 1);
    put_file(&fs, &snaps.path_of(wrong), &bytes);
    let err = snaps.load(wrong).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NameMismatch {
                name_index: 9,
                index: 3,
                ..
            }
        ),
        "unexpected error {err}"
    );
    assert!(names(&fs, dir()).contains(&format!("{}.broken", wrong.file_name())));
    assert_eq!(snaps.load_newest().unwrap().id(), SnapshotId::new(3, 1));
}

#[test]
fn missing_parent_directories_are_created() {
    let tmp = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = StdFs::shared();
    let snaps = Snapshotter::open(
        tmp.path().join("a/b/c"),
        SnapOptions {
            fs,
            ..SnapOptions::default()
        },
    )
    .unwrap();
    save(&snaps, 1, 1);
    assert_eq!(loadable(&snaps), vec![SnapshotId::new(1, 1)]);
    assert!(Path::new(&snaps.path_of(SnapshotId::new(1, 1))).exists());
}

#[test]
fn handles_are_shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Snapshotter>();
    send_sync::<stele_snap::SnapshotFile>();
    send_sync::<stele_snap::SnapshotWriter>();
    send_sync::<stele_snap::SnapshotReader>();
    send_sync::<Error>();
}
