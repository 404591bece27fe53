//! A real single-node `RawNode<DiskStorage>`: elect, propose, commit, restart, and go on.

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType};
use raft::{Config, RawNode, Storage};
use stele_storage::{DiskStorage, StorageOptions};

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn config(applied: u64) -> Config {
    Config {
        id: 1,
        election_tick: 10,
        heartbeat_tick: 3,
        applied,
        ..Config::default()
    }
}

/// Handles Readies in the documented order until there are none; returns applied normal entries.
fn drive(node: &mut RawNode<DiskStorage>, storage: &DiskStorage, applied: &mut Vec<Vec<u8>>) {
    let apply = |ents: Vec<Entry>, applied: &mut Vec<Vec<u8>>| {
        for e in ents {
            if e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty() {
                applied.push(e.data.to_vec());
            }
        }
    };
    while node.has_ready() {
        let mut rd = node.ready();
        assert!(rd.snapshot().is_empty());
        storage
            .append(rd.entries(), rd.hs(), rd.must_sync())
            .unwrap();
        apply(rd.take_committed_entries(), applied);
        let mut light = node.advance(rd);
        if let Some(c) = light.commit_index() {
            storage.set_commit(c).unwrap();
        }
        apply(light.take_committed_entries(), applied);
        node.advance_apply();
    }
}

#[test]
fn elect_commit_restart_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let storage = DiskStorage::open(dir.path(), StorageOptions::default()).unwrap();
    let mut cs = ConfState::default();
    cs.set_voters(vec![1]);
    storage.initialize_with_conf_state(&cs).unwrap();
    let mut node = RawNode::new(&config(0), storage.clone(), &logger()).unwrap();
    node.campaign().unwrap();
    let mut applied = Vec::new();
    drive(&mut node, &storage, &mut applied);
    for i in 0..50u32 {
        node.propose(vec![], format!("put {i}").into_bytes())
            .unwrap();
        drive(&mut node, &storage, &mut applied);
    }
    assert_eq!(applied.len(), 50);
    let (last, commit) = (storage.last_index().unwrap(), storage.hard_state().commit);
    assert_eq!(last, commit);
    drop(node);
    drop(storage);

    let storage = DiskStorage::open(dir.path(), StorageOptions::default()).unwrap();
    assert_eq!(storage.last_index().unwrap(), last);
    assert_eq!(storage.hard_state().commit, commit);
    let e = storage
        .entries(2, last + 1, None, raft::GetEntriesContext::empty(false))
        .unwrap();
    assert_eq!(e.len() as u64, last - 1);
    assert_eq!(
        e[0].write_to_bytes().unwrap().len() as u32,
        e[0].compute_size()
    );
    // Restart with applied = the state machine's applied index (here: everything).
    let mut node = RawNode::new(&config(commit), storage.clone(), &logger()).unwrap();
    node.campaign().unwrap();
    let mut applied = Vec::new();
    drive(&mut node, &storage, &mut applied);
    node.propose(vec![], b"after restart".to_vec()).unwrap();
    drive(&mut node, &storage, &mut applied);
    assert_eq!(applied, vec![b"after restart".to_vec()]);
}
