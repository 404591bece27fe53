//! Seal (footer) decoding: the input's first chunk is the bytes of a segment up to its footer,
//! the rest a `SegmentFooter` message; the segment is sealed with it (valid framing and
//! checksums, so the fuzzer's bytes reach `footer::read` and `apply_seal`), followed by any
//! further segments the rest of the input describes, and opened as `wal_dir` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_fuzz::Bytes;
use stele_wal::{Preallocate, RecoveryMode, Wal, WalOptions};

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let plen = b.u32() as usize;
    let mut seg = b.take(plen).to_vec();
    let flen = b.u32() as usize;
    let footer = b.take(flen);
    stele_fuzz::fix_checksums(&mut seg);
    stele_fuzz::seal_segment(&mut seg, footer);

    let dir = stele_fuzz::tempdir();
    let wal_dir = dir.path().join("wal");
    std::fs::create_dir_all(&wal_dir).unwrap();
    let seq_first = if seg.len() >= 32 {
        let at = |i: usize| u64::from_le_bytes(seg[i..i + 8].try_into().unwrap());
        (at(16), at(24))
    } else {
        (0, 1)
    };
    let name = stele_wal::format::segment_name(seq_first.0, seq_first.1);
    std::fs::write(wal_dir.join(name), &seg).unwrap();
    stele_fuzz::write_dir(b.0, &wal_dir, &dir.path().join("snap"));

    if let Ok(insp) = stele_wal::inspect::inspect(&wal_dir, &mut |_| true) {
        let (lo, hi) = (insp.first_index(), insp.last_index());
        insp.read_entries(lo, hi.saturating_add(1), &mut |_| true);
    }
    let opts = WalOptions {
        segment_size: 4096,
        preallocate: Preallocate::SetLen,
        recycle: 0,
        recovery: RecoveryMode::AbsoluteConsistency,
        background_prepare: false,
        ..WalOptions::default()
    };
    if let Ok(wal) = Wal::open(&wal_dir, opts) {
        let (first, last) = (wal.first_index().unwrap(), wal.last_index().unwrap());
        let _ = wal.term(first.saturating_sub(1));
        let _ = wal.term(last);
        let _ = wal.entries(first, last.saturating_add(1), Some(1 << 20));
    }
});
