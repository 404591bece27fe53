//! Entries: decoding the `eraftpb.Entry` a record holds, conf changes as what they do, and data
//! previews.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, Entry,
    EntryType,
};
use serde_json::{json, Value};

use super::cli::EntryKind;

/// A decoded entry record.
#[derive(Debug)]
pub struct Decoded {
    /// Raft index (from the record).
    pub index: u64,
    /// Raft term (from the record).
    pub term: u64,
    /// The entry type; `None` if the payload is not an `eraftpb.Entry`.
    pub kind: Option<EntryKind>,
    /// The entry's data (the whole payload if it does not decode).
    pub data: Vec<u8>,
    /// A conf change, decoded.
    pub conf: Option<ConfInfo>,
    /// What is wrong with the record, if anything.
    pub problem: Option<String>,
}

/// A conf change, as what it does.
#[derive(Debug)]
pub struct ConfInfo {
    /// "add voter 4 at 127.0.0.1:42379".
    pub description: String,
    /// (change, node id), change being add-voter, add-learner or remove.
    pub changes: Vec<(&'static str, u64)>,
    /// The transition of a `ConfChangeV2`.
    pub transition: Option<&'static str>,
    /// The context bytes.
    pub context: Vec<u8>,
}

/// Decodes the entry record at `index` and `term` holding `payload`.
pub fn decode(index: u64, term: u64, payload: &[u8]) -> Decoded {
    let mut d = Decoded {
        index,
        term,
        kind: None,
        data: Vec::new(),
        conf: None,
        problem: None,
    };
    let e = match Entry::parse_from_bytes(payload) {
        Ok(e) => e,
        Err(err) => {
            d.data = payload.to_vec();
            d.problem = Some(format!("the record holds no eraftpb.Entry ({err})"));
            return d;
        }
    };
    if (e.index, e.term) != (index, term) {
        d.problem = Some(format!(
            "the entry says index {} term {}, its record says index {index} term {term}",
            e.index, e.term
        ));
    }
    d.data = e.data.to_vec();
    let kind = match e.get_entry_type() {
        EntryType::EntryNormal => EntryKind::Normal,
        EntryType::EntryConfChange => EntryKind::ConfChange,
        EntryType::EntryConfChangeV2 => EntryKind::ConfChangeV2,
    };
    d.kind = Some(kind);
    let conf = match kind {
        EntryKind::Normal => return d,
        EntryKind::ConfChange => ConfChange::parse_from_bytes(&d.data).map(|cc| conf_v1(&cc)),
        EntryKind::ConfChangeV2 => ConfChangeV2::parse_from_bytes(&d.data).map(|cc| conf_v2(&cc)),
    };
    match conf {
        Ok(c) => d.conf = Some(c),
        Err(err) => {
            let what = if kind == EntryKind::ConfChange {
                "ConfChange"
            } else {
                "ConfChangeV2"
            };
            d.problem
                .get_or_insert(format!("undecodable {what} ({err})"));
        }
    }
    d
}

fn change(t: ConfChangeType) -> (&'static str, &'static str) {
    match t {
        ConfChangeType::AddNode => ("add-voter", "add voter"),
        ConfChangeType::AddLearnerNode => ("add-learner", "add learner"),
        ConfChangeType::RemoveNode => ("remove", "remove node"),
    }
}

fn context_text(context: &[u8]) -> String {
    match printable(context) {
        _ if context.is_empty() => String::new(),
        Some(s) if !s.contains(char::is_whitespace) => format!(" at {s}"),
        Some(s) => format!(" at {s:?}"),
        None => format!(" (context 0x{})", hex(context)),
    }
}

fn conf_v1(cc: &ConfChange) -> ConfInfo {
    let (name, words) = change(cc.get_change_type());
    ConfInfo {
        description: format!("{words} {}{}", cc.node_id, context_text(&cc.context)),
        changes: vec![(name, cc.node_id)],
        transition: None,
        context: cc.context.to_vec(),
    }
}

fn conf_v2(cc: &ConfChangeV2) -> ConfInfo {
    let singles: Vec<&ConfChangeSingle> = cc.get_changes().iter().collect();
    let mut description = if cc.leave_joint() {
        "leave joint configuration".to_string()
    } else {
        let parts: Vec<String> = singles
            .iter()
            .map(|c| format!("{} {}", change(c.get_change_type()).1, c.node_id))
            .collect();
        parts.join(", ")
    };
    match cc.enter_joint() {
        Some(true) => description.push_str(" (joint, auto leave)"),
        Some(false) => description.push_str(" (joint, explicit leave)"),
        None => {}
    }
    description.push_str(&context_text(&cc.context));
    let transition = match cc.get_transition() {
        ConfChangeTransition::Auto => "auto",
        ConfChangeTransition::Implicit => "implicit",
        ConfChangeTransition::Explicit => "explicit",
    };
    ConfInfo {
        description,
        changes: singles
            .iter()
            .map(|c| (change(c.get_change_type()).0, c.node_id))
            .collect(),
        transition: Some(transition),
        context: cc.context.to_vec(),
    }
}

impl Decoded {
    /// The type's name in output.
    pub fn type_name(&self) -> &'static str {
        self.kind.map_or("undecodable", EntryKind::name)
    }

    /// What the text view shows in its data column.
    pub fn preview(&self, limit: usize) -> String {
        match (&self.conf, self.kind) {
            (Some(c), _) => c.description.clone(),
            (None, Some(EntryKind::ConfChange | EntryKind::ConfChangeV2)) => {
                format!("undecodable conf change: {}", preview(&self.data, limit))
            }
            _ => preview(&self.data, limit),
        }
    }

    /// One text line: index, term, type, data length, preview.
    pub fn text(&self, limit: usize) -> String {
        format!(
            "{:>8} {:>6}  {:<14} {:>6}  {}",
            self.index,
            self.term,
            self.type_name(),
            self.data.len(),
            self.preview(limit)
        )
    }

    /// The JSON object (`kind: entry`).
    pub fn json(&self, file: &str, offset: u64) -> Value {
        let mut v = json!({
            "kind": "entry",
            "index": self.index,
            "term": self.term,
            "entry_type": self.type_name(),
            "data_len": self.data.len(),
            "data": B64.encode(&self.data),
            "file": file,
            "offset": offset,
        });
        if let Some(c) = &self.conf {
            let changes: Vec<Value> = c
                .changes
                .iter()
                .map(|(change, id)| json!({"change": change, "node_id": id}))
                .collect();
            let mut cc = json!({
                "description": c.description,
                "changes": changes,
                "context": B64.encode(&c.context),
            });
            if let Some(t) = c.transition {
                cc["transition"] = json!(t);
            }
            v["conf_change"] = cc;
        }
        v
    }
}

/// Printable UTF-8 (tabs and newlines allowed), or `None`.
fn printable(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    let ok = s
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    ok.then_some(s)
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A preview of `data`: quoted text if it is printable UTF-8, else hex; at most `limit` bytes,
/// followed by `...` when cut.
pub fn preview(data: &[u8], limit: usize) -> String {
    if data.is_empty() {
        return "(empty)".to_string();
    }
    let more = data.len() > limit;
    let mut cut = &data[..data.len().min(limit)];
    if more {
        // Do not let the cut split a character and turn text into hex.
        if let Err(e) = std::str::from_utf8(cut) {
            if e.error_len().is_none() {
                cut = &cut[..e.valid_up_to()];
            }
        }
    }
    let dots = if more { "..." } else { "" };
    match printable(cut) {
        Some(s) => format!("{s:?}{dots}"),
        None => format!("0x{}{dots}", hex(cut)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews() {
        assert_eq!(preview(b"", 4), "(empty)");
        assert_eq!(preview(b"put a", 64), "\"put a\"");
        assert_eq!(preview(b"put a", 3), "\"put\"...");
        assert_eq!(preview(&[0, 1, 0xff], 64), "0x0001ff");
        assert_eq!(preview(&[0, 1, 0xff], 2), "0x0001...");
        assert_eq!(preview("aé".as_bytes(), 2), "\"a\"...");
    }

    #[test]
    fn conf_changes_read_as_what_they_do() {
        let cc = ConfChange {
            change_type: ConfChangeType::AddNode,
            node_id: 4,
            context: b"127.0.0.1:42379".to_vec().into(),
            ..ConfChange::default()
        };
        assert_eq!(conf_v1(&cc).description, "add voter 4 at 127.0.0.1:42379");
        let mut v2 = ConfChangeV2::default();
        assert_eq!(conf_v2(&v2).description, "leave joint configuration");
        let single = |change_type, node_id| ConfChangeSingle {
            change_type,
            node_id,
            ..ConfChangeSingle::default()
        };
        v2.changes = vec![
            single(ConfChangeType::AddNode, 6),
            single(ConfChangeType::RemoveNode, 3),
        ]
        .into();
        v2.transition = ConfChangeTransition::Explicit;
        assert_eq!(
            conf_v2(&v2).description,
            "add voter 6, remove node 3 (joint, explicit leave)"
        );
    }

    #[test]
    fn garbage_is_a_problem_not_a_panic() {
        let d = decode(1, 1, &[0xff; 7]);
        assert!(d.problem.is_some());
        assert_eq!(d.type_name(), "undecodable");
    }
}
