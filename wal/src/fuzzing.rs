//! Entry points for the fuzz targets under `fuzz/`: the crate-private decoders, callable on
//! arbitrary bytes. Built only with the `testing` feature; nothing here is part of the API.
//!
//! Seals (footers) are fuzzed through real segment files instead (the `seal` target builds a
//! sealed segment around the fuzzer's footer bytes, with valid checksums), since applying one
//! needs the segments it indexes.

use crate::batch::{decode_body, for_each_entry};
use crate::error::Damage;

/// Decodes `body` as the body of a batch of `count` entries starting at `first_index`, as
/// opening does once the body's checksum matched, then walks its entries as reading does.
/// Returns the entry count the decoder accepted and the number of entries the walk found
/// (always equal for a body that decoded).
pub fn decode_batch_body(body: &[u8], first_index: u64, count: u32) -> Result<(u64, u64), Damage> {
    let decoded = decode_body(body, first_index, count)?;
    let mut walked = 0u64;
    for_each_entry(body, first_index, |_, _, _, _| {
        walked += 1;
        true
    })?;
    Ok((u64::from(decoded.count), walked))
}
