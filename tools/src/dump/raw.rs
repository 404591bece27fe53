//! `--raw`: every segment, batch, record, seal and end in file order, overwritten entries
//! included, each with its byte offset; problems where they occur.

use serde_json::json;
use stele_wal::inspect::{EndKind, Event, RecordEvent, RecordValue, SegmentFooter};

use super::out::{plural, Out, Progress};
use super::{entry, fmt, list_wal, snaps, walk, Args, Target};

/// Runs `--raw`.
pub fn run(args: &Args, t: &Target, o: &mut Out<'_>, p: &mut Progress<'_>) {
    let Some(listing) = list_wal(t, o) else {
        return;
    };
    let insp = walk(t, &listing, o, p, |o, ev| event(args, t, o, ev));
    p.finish();
    snaps::load(t, false, true, o);
    let batches: u64 = insp.segments.iter().map(|s| s.batches).sum();
    let records: u64 = insp.segments.iter().map(|s| s.entries).sum();
    let n = insp.segments.len() as u64;
    o.text(format!(
        "{n} segment{}, {batches} valid batch{}, {records} entry record{}; {} entries shown",
        plural(n),
        if batches == 1 { "" } else { "es" },
        plural(records),
        o.entries
    ));
}

fn event(args: &Args, t: &Target, o: &mut Out<'_>, ev: &Event<'_>) {
    match ev {
        Event::Segment(h) => {
            let file = t.wal_file(&h.name);
            if o.json {
                let (fo, fl) = h.trailer.unzip();
                o.obj(json!({
                    "kind": "segment", "file": file, "seq": h.seq, "first_index": h.first_index,
                    "salt": format!("{:#018x}", h.salt), "size": h.size, "sealed": h.sealed, "footer_offset": fo,
                    "footer_len": fl,
                }));
                return;
            }
            let seal = match h.trailer {
                Some((off, len)) if h.sealed => format!("sealed, footer at {off} ({len} bytes)"),
                Some(_) => "trailer valid, footer not".to_string(),
                None => "not sealed".to_string(),
            };
            o.line(format!(
                "segment {file}: seq {}, first index {}, salt {:#018x}, {} bytes, {seal}",
                h.seq, h.first_index, h.salt, h.size
            ));
        }
        Event::Batch(b) => {
            let h = &b.header;
            let head = b.offset == 64;
            if o.json {
                o.obj(json!({
                    "kind": "batch", "file": t.wal_file(b.segment), "offset": b.offset,
                    "first_index": h.first_index, "count": h.count, "body_len": h.body_len,
                    "head": head,
                }));
                return;
            }
            o.line(format!(
                "  @{:<7} batch: first index {}, {} entr{}, body {} bytes{}",
                b.offset,
                h.first_index,
                h.count,
                if h.count == 1 { "y" } else { "ies" },
                h.body_len,
                if head { " (head)" } else { "" }
            ));
        }
        Event::Record(r) => record(args, t, o, r),
        Event::Footer {
            segment,
            offset,
            footer,
        } => footer_line(o, &t.wal_file(segment), *offset, footer),
        Event::End {
            segment,
            offset,
            kind,
        } => {
            let how = match kind {
                EndKind::EndMarker => "end-marker",
                EndKind::Footer => "footer",
                EndKind::EndOfSpace => "end-of-space",
                EndKind::Damage => "damage",
                EndKind::Unreadable => "unreadable",
            };
            if o.json {
                let file = t.wal_file(segment);
                o.obj(json!({"kind": "end", "file": file, "offset": offset, "how": how}));
            } else {
                o.line(format!("  @{offset:<7} end: {how}"));
            }
        }
        Event::Problem(_) | Event::SegmentDone(_) => {}
    }
}

fn record(args: &Args, t: &Target, o: &mut Out<'_>, r: &RecordEvent<'_>) {
    let file = t.wal_file(r.segment);
    let at = format!("  @{:<7}   ", r.offset);
    let base = json!({"file": file, "offset": r.offset});
    let with = |kind: &str, mut v: serde_json::Value| {
        v["kind"] = json!(kind);
        v["file"] = base["file"].clone();
        v["offset"] = base["offset"].clone();
        v
    };
    match r.value() {
        RecordValue::Entry => {
            let d = entry::decode(r.index.unwrap_or(0), r.term, r.payload);
            if let Some(msg) = &d.problem {
                o.problem(&file, Some(r.offset), msg);
            }
            if !args.shows(d.index, d.kind) {
                return;
            }
            o.entries += 1;
            if o.json {
                o.obj(d.json(&file, r.offset));
            } else {
                o.line(format!(
                    "{at}entry {}, term {}, {}, {} bytes: {}",
                    d.index,
                    d.term,
                    d.type_name(),
                    d.data.len(),
                    d.preview(args.data_limit)
                ));
            }
        }
        RecordValue::HardState(hs) if o.json => {
            o.obj(with("hard_state", fmt::hard_state_json(&hs)))
        }
        RecordValue::HardState(hs) => o.line(format!("{at}hard state: {}", fmt::hard_state(&hs))),
        RecordValue::ConfState(cs) if o.json => {
            o.obj(with("conf_state", fmt::conf_state_json(&cs)))
        }
        RecordValue::ConfState(cs) => o.line(format!("{at}conf state: {}", fmt::conf_state(&cs))),
        RecordValue::SnapshotMarker(m) if o.json => {
            let cs = m.conf_state.as_ref().map(fmt::conf_state_json);
            let v = json!({"index": m.index, "term": m.term, "conf_state": cs});
            o.obj(with("snapshot_marker", v));
        }
        RecordValue::SnapshotMarker(m) => {
            let cs = m.conf_state.as_ref().map_or("none".into(), fmt::conf_state);
            o.line(format!(
                "{at}snapshot marker: {}, conf state {cs}",
                fmt::marker(&m)
            ));
        }
        RecordValue::Reset(s) if o.json => o.obj(with("reset", fmt::log_start_json(&s))),
        RecordValue::Reset(s) => o.line(format!(
            "{at}reset: the log restarts {}",
            fmt::log_start(&s)
        )),
        RecordValue::Compact(s) if o.json => o.obj(with("compact", fmt::log_start_json(&s))),
        RecordValue::Compact(s) => o.line(format!(
            "{at}compact: the log starts {}",
            fmt::log_start(&s)
        )),
        RecordValue::State(st) if o.json => o.obj(with("state", fmt::log_state_json(&st))),
        RecordValue::State(st) => o.line(format!("{at}state: {}", fmt::log_state(&st))),
        RecordValue::Unknown | RecordValue::Undecodable if o.json => {
            let v = json!({"record_kind": r.kind, "term": r.term, "len": r.payload.len()});
            o.obj(with("record", v));
        }
        RecordValue::Unknown | RecordValue::Undecodable => o.line(format!(
            "{at}record of kind {}: term {}, {} bytes, {}",
            r.kind,
            r.term,
            r.payload.len(),
            entry::preview(r.payload, args.data_limit)
        )),
    }
}

fn footer_line(o: &mut Out<'_>, file: &str, offset: u64, f: &SegmentFooter) {
    if o.json {
        let state = f.state.as_ref().map(fmt::log_state_json);
        o.obj(json!({
            "kind": "footer", "file": file, "offset": offset, "end_index": f.end_index,
            "live_batches": f.batch_first.len(), "had_reset": f.had_reset,
            "truncate_from": f.truncate_from, "state": state,
        }));
        return;
    }
    let n = f.batch_first.len() as u64;
    let mut s = format!(
        "  @{offset:<7} footer: {n} live batch{}",
        if n == 1 { "" } else { "es" }
    );
    if n > 0 {
        s.push_str(&format!(
            ", entries up to {}",
            f.end_index.saturating_sub(1)
        ));
    }
    if f.truncate_from > 0 {
        s.push_str(&format!(", overwrote from {}", f.truncate_from));
    }
    if f.had_reset {
        s.push_str(", reset");
    }
    o.line(s);
    if let Some(st) = &f.state {
        o.line(format!(
            "  @{offset:<7}   sealed state: {}",
            fmt::log_state(st)
        ));
    }
}
