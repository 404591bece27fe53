//! [`MemKv`]: stele-kv's in-memory key-value [`StateMachine`], made durable by snapshots only.
//!
//! It keeps nothing on disk itself: after a restart it is empty (applied index 0) and the node
//! restores it from the newest snapshot, then re-applies the log after it. Clones share one
//! map, so the application reads through its clone while the node applies through another.
//!
//! Keys and values are reference-counted (`Bytes`), so a snapshot source is a list of
//! references taken in one pass under the lock, written out later on another thread.
//!
//! Besides the map it keeps, and carries in its snapshots, the number of writes applied and a
//! hash chain over every applied `(index, command)`: two replicas with equal digests applied
//! the same commands at the same indices (up to crc32 collisions), which is what the cluster
//! tests compare.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use raft::eraftpb::{ConfChangeV2, ConfState};

use stele_raft::{SnapshotSource, StateMachine};

const PUT: u8 = 1;
const DELETE: u8 = 2;
const MAGIC: &[u8; 8] = b"STELEKV1";

/// A command for [`MemKv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvCommand {
    /// Sets `key` to `value`; the result is the previous value.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Removes `key`; the result is the previous value.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl KvCommand {
    /// The bytes to propose.
    pub fn encode(&self) -> Vec<u8> {
        let (op, key, value): (u8, &[u8], &[u8]) = match self {
            KvCommand::Put { key, value } => (PUT, key, value),
            KvCommand::Delete { key } => (DELETE, key, &[]),
        };
        let mut out = Vec::with_capacity(5 + key.len() + value.len());
        out.push(op);
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(value);
        out
    }

    /// Parses proposed bytes.
    pub fn decode(data: &[u8]) -> Option<KvCommand> {
        let (&op, rest) = data.split_first()?;
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let key = rest.get(4..4 + len)?.to_vec();
        let value = rest.get(4 + len..)?.to_vec();
        match op {
            PUT => Some(KvCommand::Put { key, value }),
            DELETE if value.is_empty() => Some(KvCommand::Delete { key }),
            _ => None,
        }
    }
}

/// The result bytes of a [`KvCommand`]: the previous value (`None`: there was none, or the
/// command was malformed).
pub fn decode_result(result: &[u8]) -> Option<Vec<u8>> {
    match result.split_first() {
        Some((1, prev)) => Some(prev.to_vec()),
        _ => None,
    }
}

/// Replay fingerprint of a [`MemKv`]: equal digests mean the same commands were applied at the
/// same indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvDigest {
    /// The applied index.
    pub applied: u64,
    /// Commands applied (malformed ones included).
    pub writes: u64,
    /// FNV-1a chain over every applied `(index, command length, crc32 of the command)`.
    pub chain: u64,
}

#[derive(Debug)]
struct Inner {
    map: BTreeMap<Bytes, Bytes>,
    digest: KvDigest,
}

/// The in-memory key-value state machine (see the module docs). Clones share the state.
#[derive(Debug, Clone)]
pub struct MemKv {
    inner: Arc<Mutex<Inner>>,
}

impl Default for MemKv {
    fn default() -> Self {
        MemKv::new()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The next link of the chain: the command enters through its crc32 (hardware speed), not byte
/// by byte (FNV over a 1 KiB value cost more than the rest of `apply`).
fn chain(h: u64, index: u64, data: &[u8]) -> u64 {
    let mut link = [0u8; 20];
    link[..8].copy_from_slice(&index.to_le_bytes());
    link[8..16].copy_from_slice(&(data.len() as u64).to_le_bytes());
    link[16..].copy_from_slice(&crc32fast::hash(data).to_le_bytes());
    fnv(h, &link)
}

impl MemKv {
    /// An empty machine (applied index 0).
    pub fn new() -> MemKv {
        let digest = KvDigest {
            applied: 0,
            writes: 0,
            chain: FNV_OFFSET,
        };
        MemKv {
            inner: Arc::new(Mutex::new(Inner {
                map: BTreeMap::new(),
                digest,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lock().map.get(key).map(|v| v.to_vec())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.lock().map.is_empty()
    }

    /// A copy of the whole map.
    pub fn entries(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let st = self.lock();
        st.map
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    /// The replay fingerprint.
    pub fn digest(&self) -> KvDigest {
        self.lock().digest
    }
}

impl StateMachine for MemKv {
    fn apply(&mut self, index: u64, data: &[u8]) -> Vec<u8> {
        let mut st = self.lock();
        st.digest.applied = index;
        if data.is_empty() {
            return Vec::new(); // a new leader's entry
        }
        st.digest.writes += 1;
        st.digest.chain = chain(st.digest.chain, index, data);
        let prev = match KvCommand::decode(data) {
            Some(KvCommand::Put { key, value }) => st.map.insert(key.into(), value.into()),
            Some(KvCommand::Delete { key }) => st.map.remove(&key[..]),
            None => return vec![2],
        };
        match prev {
            Some(v) => [&[1u8][..], &v].concat(),
            None => vec![0],
        }
    }

    fn apply_conf_change(&mut self, index: u64, _change: &ConfChangeV2, _cs: &ConfState) {
        self.lock().digest.applied = index;
    }

    fn applied_index(&self) -> u64 {
        self.lock().digest.applied
    }

    fn snapshot(&mut self, w: &mut dyn Write) -> io::Result<()> {
        let st = self.lock();
        write_snapshot(w, st.digest, st.map.iter())
    }

    fn snapshot_source(&mut self) -> Option<SnapshotSource> {
        let (digest, pairs) = {
            let st = self.lock();
            let pairs: Vec<(Bytes, Bytes)> =
                st.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            (st.digest, pairs)
        };
        Some(Box::new(move |w: &mut dyn Write| {
            write_snapshot(w, digest, pairs.iter().map(|(k, v)| (k, v)))
        }))
    }

    fn restore(&mut self, index: u64, r: &mut dyn Read) -> io::Result<()> {
        let mut r = io::BufReader::new(r);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a MemKv snapshot",
            ));
        }
        let mut u64s = [0u64; 4];
        for n in &mut u64s {
            *n = read_u64(&mut r)?;
        }
        let [_, writes, chain, count] = u64s;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let k = read_bytes(&mut r)?;
            let v = read_bytes(&mut r)?;
            map.insert(Bytes::from(k), Bytes::from(v));
        }
        let mut st = self.lock();
        st.map = map;
        st.digest = KvDigest {
            applied: index,
            writes,
            chain,
        };
        Ok(())
    }
}

/// Writes the snapshot format of FORMAT.md §7 (header, then the pairs in key order).
fn write_snapshot<'a>(
    w: &mut dyn Write,
    d: KvDigest,
    pairs: impl ExactSizeIterator<Item = (&'a Bytes, &'a Bytes)>,
) -> io::Result<()> {
    w.write_all(MAGIC)?;
    for n in [d.applied, d.writes, d.chain, pairs.len() as u64] {
        w.write_all(&n.to_le_bytes())?;
    }
    for (k, v) in pairs {
        w.write_all(&(k.len() as u32).to_le_bytes())?;
        w.write_all(k)?;
        w.write_all(&(v.len() as u32).to_le_bytes())?;
        w.write_all(v)?;
    }
    Ok(())
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Reads a length-prefixed byte string. The length comes from the snapshot, so nothing is
/// allocated up front: the buffer grows only as bytes actually arrive, and a length the stream
/// cannot back is an error.
fn read_bytes(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    let len = u64::from(u32::from_le_bytes(b));
    let mut v = Vec::new();
    r.take(len).read_to_end(&mut v)?;
    if v.len() as u64 != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "MemKv snapshot cut short",
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The background source writes exactly what `snapshot` wrote when it was taken, and
    /// nothing applied after.
    #[test]
    fn a_snapshot_source_is_a_point_in_time_copy() {
        let mut kv = MemKv::default();
        let put = |kv: &mut MemKv, i: u64, k: &str, v: &str| {
            let cmd = KvCommand::Put {
                key: k.as_bytes().to_vec(),
                value: v.as_bytes().to_vec(),
            };
            kv.apply(i, &cmd.encode());
        };
        put(&mut kv, 1, "a", "1");
        put(&mut kv, 2, "b", "2");
        let mut direct = Vec::new();
        kv.snapshot(&mut direct).unwrap();
        let source = kv.snapshot_source().expect("MemKv offers a source");
        put(&mut kv, 3, "a", "changed");
        kv.apply(4, &KvCommand::Delete { key: b"b".to_vec() }.encode());
        let mut later = Vec::new();
        source(&mut later).unwrap();
        assert_eq!(later, direct);
        let mut r = MemKv::default();
        r.restore(2, &mut &later[..]).unwrap();
        assert_eq!(
            (r.get(b"a"), r.get(b"b")),
            (Some(b"1".to_vec()), Some(b"2".to_vec()))
        );
        assert_eq!(r.digest().writes, 2);
    }

    /// A snapshot whose length fields claim more than it holds is refused (and, since the
    /// buffer only grows with the bytes read, nothing near the claimed 4 GiB is allocated).
    #[test]
    fn a_snapshot_with_a_lying_length_is_an_error() {
        let mut kv = MemKv::default();
        kv.apply(
            1,
            &KvCommand::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            }
            .encode(),
        );
        let mut snap = Vec::new();
        kv.snapshot(&mut snap).unwrap();
        let restored = MemKv::default();
        let mut r = restored.clone();
        r.restore(1, &mut &snap[..]).unwrap();
        assert_eq!(r.get(b"k"), Some(b"v".to_vec()));
        // The key length field sits right after the magic and four u64s.
        let at = MAGIC.len() + 32;
        snap[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = MemKv::default().restore(1, &mut &snap[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
