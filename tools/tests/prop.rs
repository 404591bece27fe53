//! Property tests: random damage to a fixture, and hostile batches whose checksums are valid,
//! never make `wal-dump` panic, hang or exit other than 0 or 1, in any mode, and it never changes
//! a byte. Runs the library entry point in-process for speed, and the binary in a few cases.

mod common;

use std::path::{Path, PathBuf};

use common::{copy_fixture, fixture_files, run_binary, run_in_process, snapshot_tree, FIXTURES};
use proptest::prelude::*;

const MODES: [&[&str]; 6] = [
    &[],
    &["--raw"],
    &["--verify"],
    &["--stats"],
    &["--format", "json"],
    &["--raw", "--format", "json", "--start-index", "3"],
];

/// One change to one file (picked by `file` modulo the number of files).
#[derive(Debug, Clone)]
enum Harm {
    Flip {
        file: usize,
        at: usize,
        bit: u8,
    },
    Zero {
        file: usize,
        at: usize,
        len: usize,
    },
    Garbage {
        file: usize,
        at: usize,
        bytes: Vec<u8>,
    },
    Truncate {
        file: usize,
        at: usize,
    },
    Extend {
        file: usize,
        len: usize,
    },
    Remove {
        file: usize,
    },
}

fn harm() -> impl Strategy<Value = Harm> {
    let (f, at) = (any::<usize>(), any::<usize>());
    let flip = (f, at, 0..8u8).prop_map(|(file, at, bit)| Harm::Flip { file, at, bit });
    let zero = (f, at, 1..600usize).prop_map(|(file, at, len)| Harm::Zero { file, at, len });
    let bytes = proptest::collection::vec(any::<u8>(), 1..40);
    let garbage = (f, at, bytes).prop_map(|(file, at, bytes)| Harm::Garbage { file, at, bytes });
    let truncate = (f, at).prop_map(|(file, at)| Harm::Truncate { file, at });
    let extend = (f, 1..5000usize).prop_map(|(file, len)| Harm::Extend { file, len });
    let remove = f.prop_map(|file| Harm::Remove { file });
    prop_oneof![4 => flip, 2 => zero, 2 => garbage, 1 => truncate, 1 => extend, 1 => remove]
}

fn apply(dir: &Path, files: &[PathBuf], h: &Harm) {
    let pick = |i: usize| dir.join(&files[i % files.len()]);
    let edit = |i: usize, f: &mut dyn FnMut(&mut Vec<u8>)| {
        let p = pick(i);
        if let Ok(mut b) = std::fs::read(&p) {
            f(&mut b);
            std::fs::write(&p, b).unwrap();
        }
    };
    match h {
        Harm::Flip { file, at, bit } => edit(*file, &mut |b| {
            if !b.is_empty() {
                let i = at % b.len();
                b[i] ^= 1 << bit;
            }
        }),
        Harm::Zero { file, at, len } => edit(*file, &mut |b| {
            if !b.is_empty() {
                let i = at % b.len();
                let end = (i + len).min(b.len());
                b[i..end].fill(0);
            }
        }),
        Harm::Garbage { file, at, bytes } => edit(*file, &mut |b| {
            if !b.is_empty() {
                let i = at % b.len();
                let end = (i + bytes.len()).min(b.len());
                b[i..end].copy_from_slice(&bytes[..end - i]);
            }
        }),
        Harm::Truncate { file, at } => edit(*file, &mut |b| {
            let keep = at % (b.len() + 1);
            b.truncate(keep)
        }),
        Harm::Extend { file, len } => edit(*file, &mut |b| b.resize(b.len() + len, 0xab)),
        Harm::Remove { file } => {
            let _ = std::fs::remove_file(pick(*file));
        }
    }
}

/// CRC-32/IEEE, as the WAL computes it (crc32fast is not a dependency of the tests).
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A hostile rewrite of one valid batch with valid checksums: new header fields, optionally a
/// new body.
#[derive(Debug, Clone)]
struct Hostile {
    batch: usize,
    first_index: u64,
    /// `None`: the number of entries the (new) body holds.
    count: Option<u32>,
    body: Option<Body>,
}

#[derive(Debug, Clone)]
enum Body {
    /// Arbitrary records: (kind, term, payload).
    Random(Vec<(u8, u64, Vec<u8>)>),
    /// Well-formed: an optional reset (true) or compaction at (index, term), then entries.
    Valid {
        start: Option<(bool, u64, u64)>,
        entries: u32,
        term: u64,
    },
}

fn index_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        6 => 1..60u64,
        1 => Just((1u64 << 62) - 1),
        1 => Just(1u64 << 62),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let record = (
        0..9u8,
        index_value(),
        proptest::collection::vec(any::<u8>(), 0..24),
    );
    let body = prop_oneof![
        proptest::collection::vec(record, 0..5).prop_map(Body::Random),
        (
            proptest::option::of((any::<bool>(), index_value(), index_value())),
            0..4u32,
            index_value()
        )
            .prop_map(|(start, entries, term)| Body::Valid {
                start,
                entries,
                term
            }),
    ];
    (
        any::<usize>(),
        index_value(),
        proptest::option::of(prop_oneof![0..4u32, any::<u32>()]),
        proptest::option::of(body),
    )
        .prop_map(|(batch, first_index, count, body)| Hostile {
            batch,
            first_index,
            count,
            body,
        })
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The records of a body and how many entries they hold.
fn records(body: &Body) -> (Vec<(u8, u64, Vec<u8>)>, u32) {
    match body {
        Body::Random(r) => (r.clone(), r.iter().filter(|r| r.0 == 1).count() as u32),
        Body::Valid {
            start,
            entries,
            term,
        } => {
            let mut out = Vec::new();
            if let Some((reset, index, t)) = start {
                let mut msg = vec![0x08];
                varint(*index, &mut msg);
                msg.push(0x10);
                varint(*t, &mut msg);
                out.push((if *reset { 5 } else { 6 }, 0, msg));
            }
            for _ in 0..*entries {
                out.push((1, *term, Vec::new()));
            }
            (out, *entries)
        }
    }
}

/// Rewrites a valid batch per `h`, keeping every checksum valid.
fn make_hostile(wal: &Path, h: &Hostile) {
    let mut found = Vec::new();
    stele_wal::inspect::inspect(wal, &mut |ev| {
        if let stele_wal::inspect::Event::Batch(b) = ev {
            found.push((b.segment.to_string(), b.offset));
        }
        true
    })
    .unwrap();
    if found.is_empty() {
        return;
    }
    let (seg, off) = found[h.batch % found.len()].clone();
    let path = wal.join(seg);
    let mut b = std::fs::read(&path).unwrap();
    let off = off as usize;
    let (seq, salt) = (&b[16..24].to_vec(), &b[32..40].to_vec());
    let mut count = u32::from_le_bytes(b[off + 16..off + 20].try_into().unwrap());
    if let Some(new) = &h.body {
        let (recs, entries) = records(new);
        let mut body = Vec::new();
        for (kind, term, payload) in recs {
            body.push(kind);
            body.extend_from_slice(&[0, 0, 0]);
            body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            body.extend_from_slice(&term.to_le_bytes());
            body.extend_from_slice(&payload);
            body.resize(body.len().div_ceil(8) * 8, 0);
        }
        let end = off + 32 + body.len();
        if end + 32 <= b.len() {
            b[off + 32..end].copy_from_slice(&body);
            b[end..end + 32].fill(0);
            b[off + 20..off + 24].copy_from_slice(&(body.len() as u32).to_le_bytes());
            b[off + 24..off + 28].copy_from_slice(&crc32(&[&body]).to_le_bytes());
            count = entries;
        }
    }
    b[off + 8..off + 16].copy_from_slice(&h.first_index.to_le_bytes());
    b[off + 16..off + 20].copy_from_slice(&h.count.unwrap_or(count).to_le_bytes());
    let crc = crc32(&[seq, salt, &b[off + 8..off + 32]]);
    b[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, b).unwrap();
}

fn check(dir: &Path, mode: usize) -> Result<(), TestCaseError> {
    let before = snapshot_tree(dir);
    let (code, out, err) = run_in_process(dir, MODES[mode % MODES.len()]);
    prop_assert!(code == 0 || code == 1, "exit {code}\n{out}{err}");
    prop_assert!(before == snapshot_tree(dir), "the tool changed a byte");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_damage_never_panics(
        fixture in 0..FIXTURES.len(),
        harms in proptest::collection::vec(harm(), 1..5),
        mode in 0..MODES.len(),
    ) {
        let dir = copy_fixture(FIXTURES[fixture]);
        let files = fixture_files(dir.path());
        for h in &harms {
            apply(dir.path(), &files, h);
        }
        check(dir.path(), mode)?;
    }

    #[test]
    fn hostile_batches_with_valid_checksums_never_panic(
        fixture in 0..FIXTURES.len(),
        hostile in proptest::collection::vec(hostile(), 1..3),
        mode in 0..MODES.len(),
    ) {
        let dir = copy_fixture(FIXTURES[fixture]);
        for h in &hostile {
            make_hostile(&dir.path().join("wal"), h);
        }
        check(dir.path(), mode)?;
    }
}

#[test]
fn the_binary_survives_damage() {
    // A few fixed damages through the real binary (a panic would exit 101).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    for round in 0..8 {
        let dir = copy_fixture(FIXTURES[round % FIXTURES.len()]);
        let files = fixture_files(dir.path());
        for _ in 0..3 {
            let h = match next() % 3 {
                0 => Harm::Flip {
                    file: next(),
                    at: next(),
                    bit: (next() % 8) as u8,
                },
                1 => Harm::Zero {
                    file: next(),
                    at: next(),
                    len: next() % 300 + 1,
                },
                _ => Harm::Truncate {
                    file: next(),
                    at: next(),
                },
            };
            apply(dir.path(), &files, &h);
        }
        let d = dir.path().to_str().unwrap();
        let mode = MODES[round % MODES.len()];
        let mut argv = vec![d];
        argv.extend_from_slice(mode);
        let (code, out, err) = run_binary(&argv);
        assert!(code == 0 || code == 1, "{argv:?}: {code}\n{out}{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
