//! Shared test helpers: a reference model of the log and SimFs-backed WAL options.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use stele_wal::fs::sim::SimFs;
use stele_wal::{Batch, HardState, Wal, WalOptions};

/// WAL options on a simulated disk with small segments (many cuts).
pub fn sim_opts(fs: &SimFs, segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        fs: Arc::new(fs.clone()),
        // The spare is prepared on the appending thread: the order of I/O calls, which the
        // crash tests enumerate, then depends only on the calls made.
        background_prepare: false,
        ..WalOptions::default()
    }
}

/// Deterministic entry payload.
pub fn payload(index: u64, term: u64, len: usize) -> Vec<u8> {
    let mut v = format!("i{index}t{term}:").into_bytes();
    v.resize(
        len.max(v.len()),
        (index as u8).wrapping_mul(31).wrapping_add(term as u8),
    );
    v
}

/// The log as a model: entries by index plus the newest hard state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub entries: BTreeMap<u64, (u64, Vec<u8>)>,
    pub hard_state: Option<HardState>,
}

impl Model {
    pub fn last(&self) -> u64 {
        self.entries.keys().next_back().copied().unwrap_or(0)
    }

    /// Applies an append of entries `[lo, lo+n)` (truncating from `lo`).
    pub fn append(&mut self, lo: u64, ents: &[(u64, Vec<u8>)], hs: Option<HardState>) {
        let _ = self.entries.split_off(&lo);
        for (i, (t, d)) in ents.iter().enumerate() {
            self.entries.insert(lo + i as u64, (*t, d.clone()));
        }
        if hs.is_some() {
            self.hard_state = hs;
        }
    }

    /// Checks that `wal` holds exactly this model from `first` on, with no entry beyond it, and
    /// that the WAL's first index is at most `first`.
    pub fn matches(&self, wal: &Wal, first: u64) -> Result<(), String> {
        let (wf, wl) = (
            wal.first_index().map_err(|e| e.to_string())?,
            wal.last_index().map_err(|e| e.to_string())?,
        );
        if wl != self.last() {
            return Err(format!("last index {wl}, model {}", self.last()));
        }
        if wf > first {
            return Err(format!("first index {wf} above model's {first}"));
        }
        let lo = first.max(wf);
        if lo <= wl {
            let got = wal.entries(lo, wl + 1, None).map_err(|e| e.to_string())?;
            for e in &got {
                let want = self.entries.get(&e.index);
                if want != Some(&(e.term, e.data.clone())) {
                    return Err(format!("entry {} differs from the model", e.index));
                }
            }
            if got.len() as u64 != wl + 1 - lo {
                return Err(format!(
                    "read {} entries, expected {}",
                    got.len(),
                    wl + 1 - lo
                ));
            }
        }
        let hs = wal.state().map_err(|e| e.to_string())?.hard_state;
        if hs != self.hard_state {
            return Err(format!("hard state {hs:?}, model {:?}", self.hard_state));
        }
        Ok(())
    }
}

/// Builds a batch of entries `[lo, lo+n)` with `term` and payloads of `len` bytes.
pub fn batch(
    lo: u64,
    n: u64,
    term: u64,
    len: usize,
    hs: Option<HardState>,
) -> (Batch, Vec<(u64, Vec<u8>)>) {
    let mut b = Batch::new();
    let mut ents = Vec::new();
    for i in lo..lo + n {
        let d = payload(i, term, len);
        b.add_entry(i, term, &d).unwrap();
        ents.push((term, d));
    }
    if let Some(h) = hs {
        b.set_hard_state(h);
    }
    (b, ents)
}

/// Opens a WAL at `/w` on the simulated disk.
pub fn open(fs: &SimFs, segment_size: u64) -> stele_wal::Result<Wal> {
    Wal::open(Path::new("/w"), sim_opts(fs, segment_size))
}
