//! `KvCommand::decode` (and `decode_result`) on arbitrary bytes: what decodes re-encodes to the
//! same bytes, and applying it to a `MemKv` does what it says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_raft::StateMachine;
use stele_tools::kv::memkv::{decode_result, KvCommand, MemKv};

fuzz_target!(|data: &[u8]| {
    let _ = decode_result(data);
    let Some(cmd) = KvCommand::decode(data) else {
        return;
    };
    assert_eq!(cmd.encode(), data, "decode/encode do not round-trip");
    let mut kv = MemKv::new();
    let _ = kv.apply(1, data);
    match cmd {
        KvCommand::Put { key, value } => assert_eq!(kv.get(&key), Some(value)),
        KvCommand::Delete { key } => assert_eq!(kv.get(&key), None),
    }
});
