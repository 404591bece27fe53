//! Snapshot file loading. Input: `flags u8 | index u64 | term u64 | file bytes`; the file is
//! written as snapshot `(index, term)` (flags bit 0: with its checksum fixed up, so the
//! fuzzer's bytes get past it) and checked read-only (`inspect::check`), read through
//! `Snapshotter` (metadata, full load, data read back both ways; bit 1: through mmap), and
//! loaded as the newest.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use stele_fuzz::Bytes;
use stele_snap::{SnapOptions, SnapshotId, Snapshotter};

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let flags = b.u8();
    let id = SnapshotId::new(b.u64(), b.u64());
    let mut file = b.0.to_vec();
    if flags & 1 == 1 && file.len() >= 16 {
        let n = file.len();
        let crc = crc32fast::hash(&file[..n - 8]);
        file[n - 8..n - 4].copy_from_slice(&crc.to_le_bytes());
    }
    let dir = stele_fuzz::tempdir();
    let path = dir.path().join(id.file_name());
    std::fs::write(&path, &file).unwrap();

    let _ = stele_snap::inspect::check(&path, id, true);
    let _ = stele_snap::inspect::list(dir.path());
    let opts = SnapOptions {
        use_mmap: flags & 2 == 2,
        ..SnapOptions::default()
    };
    let Ok(s) = Snapshotter::open(dir.path(), opts) else {
        return;
    };
    let _ = s.metadata_of(id);
    if let Ok(f) = s.load(id) {
        let len = f.data_len();
        assert!(len <= file.len() as u64, "data longer than the file");
        let v = f.read_to_vec().expect("a verified snapshot reads");
        assert_eq!(v.len() as u64, len);
        let mut streamed = Vec::new();
        f.reader()
            .read_to_end(&mut streamed)
            .expect("a verified snapshot streams");
        assert_eq!(streamed, v);
        if let Some(d) = f.data() {
            assert_eq!(d, &v[..]);
        }
    }
    let _ = s.load_newest();
});
