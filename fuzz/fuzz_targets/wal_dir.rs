//! Opening a WAL directory built from the input (see the `stele_fuzz` crate docs for the
//! layout): first read-only and Report-style (`stele_wal::inspect`, reading every live entry),
//! then with `Wal::open` (recovering, reading everything back), then once more, which must
//! succeed and agree with the first open if the first succeeded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_wal::{Preallocate, RecoveryMode, Wal, WalOptions};

fn opts() -> WalOptions {
    WalOptions {
        // Small preallocated files: a new active segment costs no memory and little time.
        segment_size: 4096,
        preallocate: Preallocate::SetLen,
        recycle: 0,
        recovery: RecoveryMode::TolerateCorruptTail,
        background_prepare: false,
        ..WalOptions::default()
    }
}

/// Everything an opened WAL can tell: its range, terms, state and every entry.
fn read_all(wal: &Wal) -> Option<(u64, u64, usize)> {
    let first = wal.first_index().ok()?;
    let last = wal.last_index().ok()?;
    let _ = wal.state();
    let _ = wal.term(first.saturating_sub(1));
    let _ = wal.term(last);
    let mut n = 0;
    if let Ok(replay) = wal.replay(first) {
        for e in replay {
            if e.is_err() {
                break;
            }
            n += 1;
        }
    }
    let _ = wal.entries(first, last.saturating_add(1), Some(1 << 20));
    Some((first, last, n))
}

fuzz_target!(|data: &[u8]| {
    let dir = stele_fuzz::tempdir();
    let wal_dir = dir.path().join("wal");
    std::fs::create_dir_all(&wal_dir).unwrap();
    stele_fuzz::write_dir(data, &wal_dir, &dir.path().join("snap"));

    if let Ok(insp) = stele_wal::inspect::inspect(&wal_dir, &mut |_| true) {
        let (lo, hi) = (insp.first_index(), insp.last_index());
        insp.read_entries(lo, hi.saturating_add(1), &mut |_| true);
    }

    let first = match Wal::open(&wal_dir, opts()) {
        Ok(wal) => read_all(&wal),
        Err(_) => return,
    };
    // Opening recovered the directory (a torn tail truncated): it must open again, the same.
    let wal = Wal::open(&wal_dir, opts()).expect("a WAL that opened must reopen");
    let second = read_all(&wal);
    assert_eq!(first, second, "reopening changed the log");
});
