//! `--stats`: a per-segment table (name, size, batches, entries, index range, bytes used) and
//! totals.

use serde_json::json;

use super::out::{plural, Out, Progress};
use super::{list_wal, snaps, walk, Target};

/// Runs `--stats`.
pub fn run(t: &Target, o: &mut Out<'_>, p: &mut Progress<'_>) {
    let Some(listing) = list_wal(t, o) else {
        return;
    };
    let insp = walk(t, &listing, o, p, |_, _| {});
    p.finish();
    let snaps = snaps::load(t, false, false, o);
    let row = |name: &str, size: &str, sealed: &str, b: &str, e: &str, r: &str, u: &str| {
        format!("{name:<41} {size:>10} {sealed:>6} {b:>8} {e:>8} {r:>24} {u:>10}")
    };
    o.text(row(
        "SEGMENT", "SIZE", "SEALED", "BATCHES", "ENTRIES", "INDEXES", "USED",
    ));
    let range = |r: Option<(u64, u64)>| r.map_or("-".to_string(), |(a, b)| format!("{a}..={b}"));
    for s in &insp.segments {
        let file = t.wal_file(&s.name);
        if o.json {
            let (first, last) = s.index_range.unzip();
            o.obj(json!({
                "kind": "segment_stats", "file": file, "size": s.size, "sealed": s.sealed,
                "batches": s.batches, "entries": s.entries, "first_index": first,
                "last_index": last, "bytes_used": s.bytes_used,
            }));
        } else {
            o.line(row(
                &file,
                &s.size.to_string(),
                if s.sealed { "yes" } else { "no" },
                &s.batches.to_string(),
                &s.entries.to_string(),
                &range(s.index_range),
                &s.bytes_used.to_string(),
            ));
        }
    }
    let sum = |f: fn(&stele_wal::inspect::SegmentStats) -> u64| -> u64 {
        insp.segments.iter().map(f).sum()
    };
    let (size, batches, entries, used) = (
        sum(|s| s.size),
        sum(|s| s.batches),
        sum(|s| s.entries),
        sum(|s| s.bytes_used),
    );
    let (first, last) = (insp.first_index(), insp.last_index());
    let snap_bytes: u64 = snaps.iter().map(|s| s.size).sum();
    if o.json {
        o.obj(json!({
            "kind": "totals", "segments": insp.segments.len(), "size": size,
            "batches": batches, "entries": entries, "bytes_used": used, "first_index": first,
            "last_index": last, "snapshots": snaps.len(), "snapshot_bytes": snap_bytes,
        }));
        return;
    }
    let n = insp.segments.len() as u64;
    let live = match insp.entry_count() {
        0 => "none".to_string(),
        _ => format!("{first}..={last}"),
    };
    o.line(row(
        &format!("total ({n} segment{})", plural(n)),
        &size.to_string(),
        "",
        &batches.to_string(),
        &entries.to_string(),
        &format!("live {live}"),
        &used.to_string(),
    ));
    let k = snaps.len() as u64;
    o.line(format!(
        "snapshots: {k} file{}, {snap_bytes} bytes",
        plural(k)
    ));
}
