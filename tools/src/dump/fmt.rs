//! Text and JSON forms of the WAL's metadata records.

use serde_json::{json, Value};
use stele_wal::{ConfState, HardState, LogStart, LogState, SnapshotMarker};

fn ids(v: &[u64]) -> String {
    let parts: Vec<String> = v.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// `term 2, vote 1, commit 18`.
pub fn hard_state(hs: &HardState) -> String {
    format!("term {}, vote {}, commit {}", hs.term, hs.vote, hs.commit)
}

/// `voters [1, 2, 3], learners [4]` (empty parts other than voters left out).
pub fn conf_state(cs: &ConfState) -> String {
    let mut s = format!("voters {}", ids(&cs.voters));
    for (name, v) in [
        ("learners", &cs.learners),
        ("outgoing voters", &cs.voters_outgoing),
        ("learners next", &cs.learners_next),
    ] {
        if !v.is_empty() {
            s.push_str(&format!(", {name} {}", ids(v)));
        }
    }
    if cs.auto_leave {
        s.push_str(", auto leave");
    }
    s
}

/// `index 5 term 2`.
pub fn marker(m: &SnapshotMarker) -> String {
    format!("index {} term {}", m.index, m.term)
}

/// The markers, or `none`.
pub fn markers(ms: &[SnapshotMarker]) -> String {
    if ms.is_empty() {
        return "none".to_string();
    }
    let parts: Vec<String> = ms.iter().map(marker).collect();
    parts.join("; ")
}

/// `after index 5 (term 2)`.
pub fn log_start(s: &LogStart) -> String {
    format!("after index {} (term {})", s.index, s.term)
}

/// A whole cumulative state on one line.
pub fn log_state(st: &LogState) -> String {
    let opt = |s: Option<String>| s.unwrap_or_else(|| "none".to_string());
    format!(
        "hard state {}; conf state {}; markers {}; start {}",
        opt(st.hard_state.as_ref().map(hard_state)),
        opt(st.conf_state.as_ref().map(conf_state)),
        markers(&st.markers),
        opt(st.start.as_ref().map(log_start)),
    )
}

/// `{term, vote, commit}`.
pub fn hard_state_json(hs: &HardState) -> Value {
    json!({"term": hs.term, "vote": hs.vote, "commit": hs.commit})
}

/// `{voters, learners, voters_outgoing, learners_next, auto_leave}`.
pub fn conf_state_json(cs: &ConfState) -> Value {
    json!({
        "voters": cs.voters,
        "learners": cs.learners,
        "voters_outgoing": cs.voters_outgoing,
        "learners_next": cs.learners_next,
        "auto_leave": cs.auto_leave,
    })
}

/// `{index, term}`.
pub fn log_start_json(s: &LogStart) -> Value {
    json!({"index": s.index, "term": s.term})
}

/// `[{index, term}]`.
pub fn markers_json(ms: &[SnapshotMarker]) -> Value {
    ms.iter()
        .map(|m| json!({"index": m.index, "term": m.term}))
        .collect()
}

/// `{hard_state, conf_state, snapshot_markers, log_start}`.
pub fn log_state_json(st: &LogState) -> Value {
    json!({
        "hard_state": st.hard_state.as_ref().map(hard_state_json),
        "conf_state": st.conf_state.as_ref().map(conf_state_json),
        "snapshot_markers": markers_json(&st.markers),
        "log_start": st.start.as_ref().map(log_start_json),
    })
}
