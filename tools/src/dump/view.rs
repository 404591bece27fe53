//! The default view: a header, then one line per entry of the logical log.

use serde_json::json;
use stele_wal::inspect::{Inspection, Listing, LogItem};

use super::out::{plural, Out, Progress};
use super::snaps::{self, Snap};
use super::{entry, fmt, list_wal, walk, Args, Target};

/// Runs the default view.
pub fn run(args: &Args, t: &Target, o: &mut Out<'_>, p: &mut Progress<'_>) {
    let Some(listing) = list_wal(t, o) else {
        return;
    };
    let insp = walk(t, &listing, o, p, |_, _| {});
    p.finish();
    let snaps = snaps::load(t, false, false, o);
    header(t, &listing, &insp, &snaps, o);
    entries(args, t, &insp, o);
}

fn header(t: &Target, listing: &Listing, insp: &Inspection, snaps: &[Snap], o: &mut Out<'_>) {
    let st = &insp.state;
    let sealed = insp.segments.iter().filter(|s| s.sealed).count();
    let (first, last) = (insp.first_index(), insp.last_index());
    if o.json {
        let files: Vec<_> = snaps
            .iter()
            .map(
                |s| json!({"file": s.file, "index": s.id.index, "term": s.id.term, "size": s.size}),
            )
            .collect();
        let v = json!({
            "kind": "header",
            "dir": t.shown,
            "wal_dir": t.wal_shown(),
            "snap_dir": t.snap.as_ref().ok().map(|_| "snap/"),
            "segments": listing.segments.len(),
            "sealed": sealed,
            "first_index": first,
            "last_index": last,
            "entries": insp.entry_count(),
            "log_start": st.start.as_ref().map(fmt::log_start_json),
            "hard_state": st.hard_state.as_ref().map(fmt::hard_state_json),
            "conf_state": st.conf_state.as_ref().map(fmt::conf_state_json),
            "snapshot_markers": fmt::markers_json(&st.markers),
            "snapshots": files,
        });
        return o.obj(v);
    }
    o.line(format!("directory: {}", t.shown));
    let seqs = match (listing.segments.first(), listing.segments.last()) {
        (Some(a), Some(b)) => format!(", seq {}..={}", a.seq, b.seq),
        _ => String::new(),
    };
    let n = listing.segments.len() as u64;
    o.line(format!(
        "wal: {n} segment{} ({sealed} sealed){seqs}",
        plural(n)
    ));
    match insp.entry_count() {
        0 => o.line(format!(
            "entries: none (the log starts after index {})",
            first - 1
        )),
        n => o.line(format!("entries: {first}..={last} ({n})")),
    }
    if let Some(s) = &st.start {
        o.line(format!("log start: {}", fmt::log_start(s)));
    }
    let none = || "none".to_string();
    let hs = st.hard_state.as_ref().map_or_else(none, fmt::hard_state);
    o.line(format!("hard state: {hs}"));
    let cs = st.conf_state.as_ref().map_or_else(none, fmt::conf_state);
    o.line(format!("conf state: {cs}"));
    o.line(format!("snapshot markers: {}", fmt::markers(&st.markers)));
    match (&t.snap, snaps.is_empty()) {
        (Err(why), _) => o.line(format!("snapshots: none ({why})")),
        (Ok(_), true) => o.line("snapshots: none"),
        (Ok(_), false) => {
            o.line("snapshots:");
            for s in snaps {
                o.line(format!(
                    "  {}  index {}, term {}, {} bytes",
                    s.file, s.id.index, s.id.term, s.size
                ));
            }
        }
    }
}

fn entries(args: &Args, t: &Target, insp: &Inspection, o: &mut Out<'_>) {
    let (lo, hi) = args.range();
    let head = format!(
        "{:>8} {:>6}  {:<14} {:>6}  {}",
        "INDEX", "TERM", "TYPE", "LEN", "DATA"
    );
    o.text(head);
    insp.read_entries(lo, hi, &mut |item| {
        match item {
            LogItem::Entry(e) => {
                let file = t.wal_file(e.segment);
                let d = entry::decode(e.index, e.term, e.payload);
                if let Some(msg) = &d.problem {
                    o.problem(&file, Some(e.offset), msg);
                }
                if args.shows(d.index, d.kind) {
                    o.entries += 1;
                    if o.json {
                        o.obj(d.json(&file, e.offset));
                    } else {
                        o.line(d.text(args.data_limit));
                    }
                }
            }
            LogItem::Problem(p) => o.problem(&t.wal_file(&p.file), p.offset, &p.message),
        }
        o.alive()
    });
    let n = o.entries;
    o.text(format!(
        "{n} entr{} shown",
        if n == 1 { "y" } else { "ies" }
    ));
}
