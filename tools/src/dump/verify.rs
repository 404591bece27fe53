//! `--verify`: every checksum of every segment (sealed ones included) and snapshot file, the
//! segment chain, the seals against the batches, every entry's payload, and the agreement of the
//! log and the snapshots.

use serde_json::json;
use stele_wal::inspect::Event;

use super::out::{plural, Out, Progress};
use super::{entry, list_wal, snaps, walk, Args, Target};

/// Runs `--verify`.
pub fn run(_args: &Args, t: &Target, o: &mut Out<'_>, p: &mut Progress<'_>) {
    o.text(format!("verifying {}", t.shown));
    let Some(listing) = list_wal(t, o) else {
        return;
    };
    if listing.segments.is_empty() {
        o.note(&t.wal_file(""), "no segment files: the log is empty");
    }
    let mut entry_problems = 0u64;
    let insp = walk(t, &listing, o, p, |o, ev| match ev {
        Event::Record(r) => {
            if let Some(index) = r.index {
                let d = entry::decode(index, r.term, r.payload);
                if let Some(msg) = &d.problem {
                    o.problem(&t.wal_file(r.segment), Some(r.offset), msg);
                    entry_problems += 1;
                }
            }
        }
        Event::SegmentDone(s) => {
            let problems = s.problems + std::mem::take(&mut entry_problems);
            let file = t.wal_file(&s.name);
            if o.json {
                o.obj(json!({
                    "kind": "segment_check", "file": file, "ok": problems == 0,
                    "problems": problems, "sealed": s.sealed, "batches": s.batches,
                    "entries": s.entries,
                }));
                return;
            }
            let status = match problems {
                0 => "ok".to_string(),
                n => format!("{n} problem{}", plural(n)),
            };
            o.line(format!(
                "{file}: {status} ({}, {} batches, {} entry records)",
                if s.sealed { "sealed" } else { "not sealed" },
                s.batches,
                s.entries
            ));
        }
        _ => {}
    });
    p.finish();
    let snaps = snaps::load(t, true, true, o);
    snaps::agreement(t, &insp, &snaps, o);
    match o.problems {
        0 => o.text("result: ok"),
        n => o.text(format!("result: {n} problem{} found", plural(n))),
    }
}
