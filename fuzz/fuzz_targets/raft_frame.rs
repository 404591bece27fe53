//! The raft TCP transport's incoming side: the input is what a peer sends on a connection
//! (magic, then frames), decoded with `tcp::read_preamble` and `tcp::read_frame` as the
//! connection's reader thread does, with the default `max_frame` (1 GiB).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_raft::tcp::{read_frame, read_preamble};
use stele_raft::TcpConfig;

fuzz_target!(|data: &[u8]| {
    let max = TcpConfig::default().max_frame;
    let mut r = data;
    if read_preamble(&mut r).is_err() {
        return;
    }
    // Each frame consumes at least its 4 length bytes, so this ends.
    while let Ok(Some(_msg)) = read_frame(&mut r, max) {}
});
