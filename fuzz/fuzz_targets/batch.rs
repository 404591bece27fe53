//! Batch and record decoding. The first byte picks the form of the rest:
//! - even: `first_index u64 | count u32 | body`, decoded as a batch body directly (as opening
//!   does after the body's checksum matched);
//! - odd: a segment file's bytes; its header is parsed (`SegmentId::decode_header`; a fixed
//!   identity if it does not parse), then batch frames are walked from offset 64 with
//!   `BatchHeader::decode`, each body decoded without its checksum being checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_fuzz::Bytes;
use stele_wal::format::{BatchHeader, SegmentId, BATCH_HEADER_LEN, SEGMENT_HEADER_LEN};
use stele_wal::fuzzing::decode_batch_body;

fn check(body: &[u8], first: u64, count: u32) {
    if let Ok((decoded, walked)) = decode_batch_body(body, first, count) {
        assert_eq!(decoded, u64::from(count));
        assert_eq!(decoded, walked, "the entry walk disagrees with the decoder");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    if b.u8() & 1 == 0 {
        let first = b.u64();
        let count = b.u32();
        check(b.0, first, count);
        return;
    }
    let seg = b.0;
    let id = SegmentId::decode_header(seg).unwrap_or(SegmentId {
        seq: 0,
        first_index: 1,
        salt: 0,
    });
    let mut pos = SEGMENT_HEADER_LEN as usize;
    while pos + BATCH_HEADER_LEN <= seg.len() {
        let h = match BatchHeader::decode(&id, &seg[pos..]) {
            Ok(Some(h)) => h,
            _ => break,
        };
        let end = pos as u64 + h.total_len();
        if end > seg.len() as u64 {
            break;
        }
        let body = &seg[pos + BATCH_HEADER_LEN..end as usize];
        check(body, h.first_index, h.count);
        pos = end as usize;
    }
});
