//! `median`, for the benches' interleaved check (through `mod.rs`) and for
//! `examples/reopen_compare.rs` (which includes this file with `#[path]`).

/// The median of `v` (the mean of the middle two for an even length); `v` must not be empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}
