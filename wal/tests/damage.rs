//! Byte-level damage of real segment bytes: a last batch cut at every byte offset, and every
//! single-bit flip of a small log. Damage is either a torn tail of the last batch (truncated in
//! the default mode, refused in the strict one) or an error naming the file; never other data.

mod common;

use std::path::{Path, PathBuf};

use common::{batch, open, sim_opts, Model};
use stele_wal::fs::sim::SimFs;
use stele_wal::{Error, HardState, RecoveryMode, Wal};

const SEG: u64 = 1 << 10;

/// Writes `batches` synced batches of 2 entries; returns the disk, the model after each batch,
/// and the segment files in order.
fn small_log(batches: u64) -> (SimFs, Vec<Model>, Vec<PathBuf>) {
    let fs = SimFs::new();
    let wal = open(&fs, SEG).unwrap();
    let mut model = Model::default();
    let mut models = vec![model.clone()];
    for i in 0..batches {
        let hs = Some(HardState {
            term: 1,
            vote: 1,
            commit: i * 2,
        });
        let (b, ents) = batch(i * 2 + 1, 2, 1, 40, hs);
        model.append(i * 2 + 1, &ents, hs);
        wal.append(b, true).unwrap();
        models.push(model.clone());
    }
    drop(wal);
    let mut files: Vec<PathBuf> = wal_files(&fs);
    files.sort();
    (fs, models, files)
}

fn wal_files(fs: &SimFs) -> Vec<PathBuf> {
    use stele_wal::fs::FileSystem;
    let mut v: Vec<PathBuf> = fs
        .list(Path::new("/w"))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .map(|n| Path::new("/w").join(n))
        .collect();
    v.sort();
    v
}

/// Offsets [start, end) of the last batch in the last segment.
fn last_batch_range(bytes: &[u8]) -> (usize, usize) {
    let magic = u32::from_le_bytes(*b"SBAT");
    let mut start = None;
    let mut at = 64;
    while at + 32 <= bytes.len() {
        if u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) != magic {
            break;
        }
        let body = u32::from_le_bytes(bytes[at + 20..at + 24].try_into().unwrap()) as usize;
        start = Some(at);
        at += 32 + body;
    }
    (start.expect("a batch"), at)
}

fn strict(fs: &SimFs) -> stele_wal::Result<Wal> {
    Wal::open(
        "/w",
        stele_wal::WalOptions {
            recovery: RecoveryMode::AbsoluteConsistency,
            ..sim_opts(fs, SEG)
        },
    )
}

#[test]
fn last_batch_cut_at_every_byte() {
    let (fs, models, files) = small_log(3);
    let last = files.last().unwrap().clone();
    let original = fs.read_file(&last).unwrap();
    let (start, end) = last_batch_range(&original);
    let mut cases = 0;
    for cut in start..end {
        for zero_rest in [false, true] {
            // Either the file ends at `cut`, or the bytes from `cut` on were never written.
            let mut damaged = original.clone();
            if zero_rest {
                damaged[cut..end].fill(0);
            } else {
                damaged.truncate(cut);
            }
            if damaged == original {
                continue; // zeroing bytes that were already zero (padding) damages nothing
            }
            fs.write_file(&last, &damaged);
            let strict_result = strict(&fs);
            if cut > start {
                let Err(err) = strict_result else {
                    panic!("cut at {cut} (zero_rest {zero_rest}, batch {start}..{end}): strict mode must refuse a torn tail")
                };
                assert!(
                    matches!(err, Error::Corrupt { ref path, .. } if *path == last),
                    "{err}"
                );
            } else {
                drop(strict_result);
            }
            let wal = open(&fs, SEG).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            let model = &models[models.len() - 2];
            model
                .matches(&wal, 1)
                .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(
                wal.recovery().torn_tail.is_some(),
                cut > start,
                "cut at {cut}"
            );
            drop(wal);
            cases += 1;
        }
    }
    println!("checked {cases} cuts of the last batch");
}

#[test]
fn every_single_bit_flip_is_detected() {
    let (fs, models, files) = small_log(5);
    assert!(files.len() >= 2, "want a sealed segment too: {files:?}");
    let full = models.last().unwrap();
    let without_last = &models[models.len() - 2];
    let (mut errors, mut unchanged, mut torn) = (0, 0, 0);
    for file in &files {
        let original = fs.read_file(file).unwrap();
        for byte in 0..original.len() {
            for bit in 0..8 {
                let mut damaged = original.clone();
                damaged[byte] ^= 1 << bit;
                fs.write_file(file, &damaged);
                let outcome = open(&fs, SEG).and_then(|wal| {
                    let all = wal.entries(wal.first_index()?, wal.last_index()? + 1, None);
                    all.map(|_| wal)
                });
                match outcome {
                    Err(Error::Corrupt { path, .. }) => {
                        assert_eq!(&path, file, "error names another file");
                        errors += 1;
                    }
                    Err(e) => panic!(
                        "flip {byte}.{bit} of {}: unexpected error {e}",
                        file.display()
                    ),
                    Ok(wal) if full.matches(&wal, 1).is_ok() => unchanged += 1,
                    Ok(wal) => {
                        let last_file = file == files.last().unwrap();
                        let ok = last_file
                            && wal.recovery().torn_tail.is_some()
                            && without_last.matches(&wal, 1).is_ok();
                        assert!(
                            ok,
                            "flip {byte}.{bit} of {} changed the data",
                            file.display()
                        );
                        torn += 1;
                    }
                }
                // Restore the original bytes; a repair during open may have rewritten them.
                fs.write_file(file, &original);
            }
        }
    }
    println!("bit flips: {errors} errors, {torn} torn-tail truncations, {unchanged} harmless (unused space)");
    assert!(errors > 0 && torn > 0);
}

/// A hostile segment whose batches pass every checksum but claim index 0 (never written: raft
/// logs start at 1) must not panic or wrap the index arithmetic; found by wal-dump's property
/// test. The segment has seq 5, as if older ones were purged, so replay starts unanchored.
#[test]
fn a_checksum_valid_batch_at_index_zero_is_rejected_not_panicked_on() {
    use stele_wal::format::{kind, BatchHeader, SegmentId, BATCH_MAGIC, GROUP_ID};
    use stele_wal::fs::FileSystem;
    let fs = SimFs::new();
    drop(open(&fs, SEG).unwrap()); // creates /w (and its first segment and spare: removed)
    for name in fs.list(Path::new("/w")).unwrap() {
        if name != "LOCK" {
            fs.remove(&Path::new("/w").join(name)).unwrap();
        }
    }
    let id = SegmentId {
        seq: 5,
        first_index: 1,
        salt: 99,
    };
    let mut file = id.encode_header().to_vec();
    for first_index in [0u64, 0] {
        let payload = b"\x10\x01";
        let mut body = vec![kind::ENTRY, 0, 0, 0];
        body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        body.extend_from_slice(&1u64.to_le_bytes());
        body.extend_from_slice(payload);
        body.resize(24, 0);
        let h = BatchHeader {
            magic: BATCH_MAGIC,
            first_index,
            count: 1,
            body_len: body.len() as u32,
            body_crc: crc32fast::hash(&body),
            group: GROUP_ID,
        };
        let mut header = [0u8; 32];
        h.encode(&id, &mut header);
        file.extend_from_slice(&header);
        file.extend_from_slice(&body);
    }
    file.resize(SEG as usize, 0);
    let path = Path::new("/w/0000000000000005-0000000000000001.wal");
    fs.create(path).unwrap();
    fs.write_file(path, &file);
    // Two such batches: the second is valid after the first's damage, so this is corruption.
    let err = open(&fs, SEG).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { ref path, .. } if path.ends_with("0000000000000005-0000000000000001.wal")),
        "{err}"
    );
}
