//! [`KvMachine`]: [`MemKv`] plus the member table (raft id -> raft address), as one
//! [`StateMachine`].
//!
//! A node's raft address travels in the context of the membership change that adds it (UTF-8
//! `host:port`); every replica records it on apply and updates its transport's [`PeerBook`],
//! and the table is carried in the machine's snapshots, so a node restored from a snapshot (a
//! restart, or a joiner caught up by the leader) knows every peer's address. A node's own
//! `--connect` overrides (a [`Dialer`]) change only where it dials, never the table: the table
//! is replicated, so it must be the same on every node.
//!
//! Snapshot format: `STELEKVM`, `u32` member count, then per member `u64 id | u32 len | addr`,
//! then [`MemKv`]'s own snapshot stream.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use raft::eraftpb::{ConfChangeType, ConfChangeV2, ConfState};
use stele_raft::{PeerBook, SnapshotSource, StateMachine};

use super::memkv::MemKv;

const MAGIC: &[u8; 8] = b"STELEKVM";
/// The longest address a snapshot may carry (a damaged length must not allocate gigabytes).
const MAX_ADDR: usize = 1024;

/// The member table, shared between the machine and the HTTP handlers.
#[derive(Debug, Clone, Default)]
pub struct Members(Arc<Mutex<BTreeMap<u64, String>>>);

impl Members {
    /// A copy of the table.
    pub fn all(&self) -> BTreeMap<u64, String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The address recorded for `id`.
    pub fn get(&self, id: u64) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn set(&self, id: u64, addr: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, addr);
    }

    fn remove(&self, id: u64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    fn replace(&self, map: BTreeMap<u64, String>) -> BTreeMap<u64, String> {
        std::mem::replace(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()), map)
    }
}

/// The transport's [`PeerBook`] with this node's local `--connect` overrides: a peer listed
/// there is dialed at the override, whatever address the member table records for it.
#[derive(Debug, Clone, Default)]
pub struct Dialer {
    book: PeerBook,
    overrides: BTreeMap<u64, SocketAddr>,
}

impl Dialer {
    /// `book`, with `overrides` taking precedence.
    pub fn new(book: PeerBook, overrides: BTreeMap<u64, SocketAddr>) -> Dialer {
        Dialer { book, overrides }
    }

    /// The book the transport reads.
    pub fn book(&self) -> &PeerBook {
        &self.book
    }

    /// Records that `id` is at `addr` (or at its override).
    pub fn insert(&self, id: u64, addr: SocketAddr) {
        self.book
            .insert(id, self.overrides.get(&id).copied().unwrap_or(addr));
    }

    /// Forgets `id`.
    pub fn remove(&self, id: u64) {
        self.book.remove(id);
    }
}

impl From<PeerBook> for Dialer {
    fn from(book: PeerBook) -> Dialer {
        Dialer::new(book, BTreeMap::new())
    }
}

/// The replicated state of a stele-kv node (see the module docs).
#[derive(Debug)]
pub struct KvMachine {
    kv: MemKv,
    members: Members,
    peers: Dialer,
}

impl KvMachine {
    /// A machine over `kv` (shared with the readers) whose member table starts as `founders`
    /// (what a bootstrapped group's founding snapshot holds) and which keeps `peers` in step
    /// (a [`PeerBook`], or a [`Dialer`] with local overrides).
    pub fn new(
        kv: MemKv,
        members: Members,
        peers: impl Into<Dialer>,
        founders: &[(u64, SocketAddr)],
    ) -> Self {
        let peers = peers.into();
        for &(id, addr) in founders {
            members.set(id, addr.to_string());
            peers.insert(id, addr);
        }
        KvMachine { kv, members, peers }
    }

    /// The snapshot's first part: the magic and the member table.
    fn members_head(&self) -> Vec<u8> {
        let members = self.members.all();
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&(members.len() as u32).to_le_bytes());
        for (id, addr) in &members {
            head.extend_from_slice(&id.to_le_bytes());
            head.extend_from_slice(&(addr.len() as u32).to_le_bytes());
            head.extend_from_slice(addr.as_bytes());
        }
        head
    }
}

fn is_member(cs: &ConfState, id: u64) -> bool {
    cs.get_voters().contains(&id)
        || cs.get_learners().contains(&id)
        || cs.get_voters_outgoing().contains(&id)
        || cs.get_learners_next().contains(&id)
}

impl StateMachine for KvMachine {
    fn apply(&mut self, index: u64, data: &[u8]) -> Vec<u8> {
        self.kv.apply(index, data)
    }

    fn apply_conf_change(&mut self, index: u64, change: &ConfChangeV2, cs: &ConfState) {
        let addr = std::str::from_utf8(change.get_context())
            .ok()
            .and_then(|s| s.parse::<SocketAddr>().ok());
        for c in change.get_changes() {
            let id = c.node_id;
            match c.get_change_type() {
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                    if let (Some(addr), true) = (addr, is_member(cs, id)) {
                        self.members.set(id, addr.to_string());
                        self.peers.insert(id, addr);
                    }
                }
                ConfChangeType::RemoveNode => {
                    if !is_member(cs, id) {
                        self.members.remove(id);
                        self.peers.remove(id);
                    }
                }
            }
        }
        self.kv.apply_conf_change(index, change, cs);
    }

    fn applied_index(&self) -> u64 {
        self.kv.applied_index()
    }

    fn snapshot(&mut self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(&self.members_head())?;
        self.kv.snapshot(w)
    }

    fn snapshot_source(&mut self) -> Option<SnapshotSource> {
        let head = self.members_head();
        let kv = self.kv.snapshot_source()?;
        Some(Box::new(move |w: &mut dyn Write| {
            w.write_all(&head)?;
            kv(w)
        }))
    }

    fn restore(&mut self, index: u64, r: &mut dyn Read) -> io::Result<()> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("not a stele-kv snapshot"));
        }
        let mut b4 = [0u8; 4];
        let mut b8 = [0u8; 8];
        r.read_exact(&mut b4)?;
        let count = u32::from_le_bytes(b4);
        let mut map = BTreeMap::new();
        for _ in 0..count {
            r.read_exact(&mut b8)?;
            r.read_exact(&mut b4)?;
            let len = u32::from_le_bytes(b4) as usize;
            if len > MAX_ADDR {
                return Err(bad("member address too long"));
            }
            let mut a = vec![0u8; len];
            r.read_exact(&mut a)?;
            let addr = String::from_utf8(a).map_err(|_| bad("member address not UTF-8"))?;
            map.insert(u64::from_le_bytes(b8), addr);
        }
        self.kv.restore(index, r)?;
        for (id, addr) in &map {
            if let Ok(a) = addr.parse::<SocketAddr>() {
                self.peers.insert(*id, a);
            }
        }
        let old = self.members.replace(map.clone());
        for id in old.keys().filter(|id| !map.contains_key(id)) {
            self.peers.remove(*id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::memkv::KvCommand;
    use raft::eraftpb::ConfChangeSingle;

    fn cc(t: ConfChangeType, id: u64, ctx: &str) -> ConfChangeV2 {
        let mut s = ConfChangeSingle::default();
        s.set_change_type(t);
        s.node_id = id;
        let mut c = ConfChangeV2::default();
        c.mut_changes().push(s);
        c.context = ctx.as_bytes().to_vec().into();
        c
    }

    #[test]
    fn members_follow_changes_and_survive_a_snapshot() {
        let a1: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let peers = PeerBook::default();
        let mut m = KvMachine::new(MemKv::new(), Members::default(), peers.clone(), &[(1, a1)]);
        let put = KvCommand::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
        };
        m.apply(2, &put.encode());
        let mut cs = ConfState::default();
        cs.set_voters(vec![1]);
        cs.set_learners(vec![4]);
        m.apply_conf_change(
            3,
            &cc(ConfChangeType::AddLearnerNode, 4, "127.0.0.1:1004"),
            &cs,
        );
        assert_eq!(peers.get(4), Some("127.0.0.1:1004".parse().unwrap()));
        let mut snap = Vec::new();
        m.snapshot(&mut snap).unwrap();

        cs.set_learners(vec![]);
        m.apply_conf_change(4, &cc(ConfChangeType::RemoveNode, 4, ""), &cs);
        assert_eq!(peers.get(4), None);
        assert_eq!(m.members.all().len(), 1);

        let peers2 = PeerBook::default();
        let kv2 = MemKv::new();
        let mut m2 = KvMachine::new(kv2.clone(), Members::default(), peers2.clone(), &[]);
        m2.restore(3, &mut &snap[..]).unwrap();
        assert_eq!(m2.applied_index(), 3);
        assert_eq!(kv2.get(b"k"), Some(b"v".to_vec()));
        assert_eq!(m2.members.get(4).as_deref(), Some("127.0.0.1:1004"));
        assert_eq!(peers2.get(1), Some(a1));
        assert!(m2.restore(3, &mut &b"garbage!"[..]).is_err());
    }

    #[test]
    fn local_dial_overrides_win_over_replicated_addresses_and_stay_local() {
        let a1: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let a2: SocketAddr = "127.0.0.1:1002".parse().unwrap();
        let proxy: SocketAddr = "127.0.0.1:9002".parse().unwrap();
        let book = PeerBook::default();
        let dial = Dialer::new(book.clone(), [(2, proxy)].into_iter().collect());
        let members = Members::default();
        let mut m = KvMachine::new(MemKv::new(), members.clone(), dial, &[(1, a1), (2, a2)]);
        assert_eq!((book.get(1), book.get(2)), (Some(a1), Some(proxy)));
        assert_eq!(members.get(2).as_deref(), Some("127.0.0.1:1002"));
        // A snapshot carries the advertised address, and restoring one keeps the override.
        let mut snap = Vec::new();
        m.snapshot(&mut snap).unwrap();
        assert!(!snap.windows(4).any(|w| w == b"9002"));
        book.remove(2);
        m.restore(0, &mut &snap[..]).unwrap();
        assert_eq!(book.get(2), Some(proxy));
        // So does a membership change naming the peer.
        let mut cs = ConfState::default();
        cs.set_voters(vec![1, 2]);
        m.apply_conf_change(1, &cc(ConfChangeType::AddNode, 2, "127.0.0.1:1002"), &cs);
        assert_eq!(book.get(2), Some(proxy));
        assert_eq!(members.get(2).as_deref(), Some("127.0.0.1:1002"));
    }
}
