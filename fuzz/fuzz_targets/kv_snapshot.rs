//! State-machine snapshot decoding: the input restored into a stele-kv `KvMachine` (member
//! table, then the `MemKv` pairs) and, separately, into a bare `MemKv`. A snapshot that restores
//! must snapshot and restore again to the same state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_raft::{PeerBook, StateMachine};
use stele_tools::kv::machine::{KvMachine, Members};
use stele_tools::kv::memkv::MemKv;

fuzz_target!(|data: &[u8]| {
    let members = Members::default();
    let mut m = KvMachine::new(MemKv::new(), members.clone(), PeerBook::default(), &[]);
    if m.restore(7, &mut &data[..]).is_ok() {
        let mut again = Vec::new();
        m.snapshot(&mut again).expect("snapshot to memory");
        let members2 = Members::default();
        let mut m2 = KvMachine::new(MemKv::new(), members2.clone(), PeerBook::default(), &[]);
        m2.restore(7, &mut &again[..])
            .expect("a snapshot we wrote restores");
        assert_eq!(members.all(), members2.all());
    }
    let mut kv = MemKv::new();
    if kv.restore(3, &mut &data[..]).is_ok() {
        let mut again = Vec::new();
        kv.snapshot(&mut again).expect("snapshot to memory");
        let mut kv2 = MemKv::new();
        kv2.restore(3, &mut &again[..])
            .expect("a snapshot we wrote restores");
        assert_eq!(kv.entries(), kv2.entries());
    }
});
