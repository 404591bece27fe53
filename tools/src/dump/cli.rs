//! The command line of `wal-dump`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The JSON field names, printed by `--help` (and kept in step with `tools/README.md`).
pub const JSON_HELP: &str = "\
JSON output (--format json): one object per line; its \"kind\" field says what it is.
Offsets are byte offsets in the file; files are named relative to DIR.
  header          dir, wal_dir, snap_dir (null: none), segments, sealed, first_index,
                  last_index, entries, log_start {index, term} | null,
                  hard_state {term, vote, commit} | null,
                  conf_state {voters, learners, voters_outgoing, learners_next, auto_leave} | null,
                  snapshot_markers [{index, term}], snapshots [{file, index, term, size}]
  entry           index, term, entry_type (normal | conf-change | conf-change-v2 | undecodable),
                  data_len, data (base64, the whole data), file, offset (of the entry's record),
                  conf_change (conf changes only): {description, changes [{change (add-voter |
                  add-learner | remove), node_id}], transition (v2: auto | implicit | explicit),
                  context (base64)}
  problem         file, offset (null: none), message: damage or an inconsistency (exit status 1)
  note            file, message: something unusual that is not damage
  summary         mode (view | raw | verify | stats), entries (entries printed), problems, notes
                  (always the last line)
--raw adds, in file order:
  segment         file, seq, first_index, salt (hex string), size, sealed, footer_offset,
                  footer_len
  batch           file, offset, first_index, count, body_len, head (true for the state batch)
  entry           as above (overwritten entries included)
  hard_state      file, offset, term, vote, commit
  conf_state      file, offset, voters, learners, voters_outgoing, learners_next, auto_leave
  snapshot_marker file, offset, index, term, conf_state
  reset, compact  file, offset, index, term
  state           file, offset, hard_state, conf_state, snapshot_markers, log_start
  record          file, offset, record_kind, term, len (a record of unknown kind)
  footer          file, offset, end_index, live_batches, had_reset, truncate_from, state
  end             file, offset, how (end-marker | footer | end-of-space | damage | unreadable)
  snapshot_check  as with --verify, one per snapshot file
--stats prints:
  segment_stats   file, size, sealed, batches, entries, first_index, last_index (null: no
                  entries), bytes_used
  totals          segments, size, batches, entries, bytes_used, first_index, last_index,
                  snapshots, snapshot_bytes
--verify prints:
  segment_check   file, ok, problems, sealed, batches, entries
  snapshot_check  file, index, term, size, ok
  agreement       ok, problems (the log and the snapshots agree)";

/// `wal-dump`: inspect and verify a stele data directory, read-only.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "wal-dump",
    version,
    about = "Inspect and verify a stele data directory (read-only; safe on a running node)",
    long_about = "Inspect and verify a stele data directory \
        (read-only; safe on a running node).\n\n\
        By default prints a header (segments, entry range, HardState, ConfState, snapshot \
        markers and files) and one line per entry of the log, with overwrites and compactions \
        applied. It opens every file read-only, takes no lock and never changes a byte.\n\n\
        Exit status: 0 all good, 1 damage found or data unreadable, 2 bad usage.",
    after_long_help = JSON_HELP
)]
pub struct Args {
    /// A node's data directory (holding wal/ and snap/) or a WAL directory
    pub dir: PathBuf,

    /// Show entries from this index on (inclusive)
    #[arg(long, value_name = "N")]
    pub start_index: Option<u64>,

    /// Show entries below this index (exclusive)
    #[arg(long, value_name = "N")]
    pub end_index: Option<u64>,

    /// Show only these entry types (comma-separated)
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub entry_type: Vec<EntryKind>,

    /// Output format; json prints one object per line (fields: see --help)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Bytes of entry data shown in the text preview
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub data_limit: usize,

    /// Every batch and record in file order, overwritten entries included, with segment and
    /// offset; carries on past damage
    #[arg(long, conflicts_with_all = ["verify", "stats"])]
    pub raw: bool,

    /// Check everything: every checksum of every segment and snapshot, the segment chain, and
    /// that the log and snapshots agree; exit status 1 if anything is wrong
    #[arg(long, conflicts_with = "stats")]
    pub verify: bool,

    /// Per-segment table (size, batches, entries, index range, bytes used) and totals
    #[arg(long)]
    pub stats: bool,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// `--entry-type`: raft's entry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EntryKind {
    /// `EntryNormal`.
    #[value(name = "normal")]
    Normal,
    /// `EntryConfChange`.
    #[value(name = "conf-change")]
    ConfChange,
    /// `EntryConfChangeV2`.
    #[value(name = "conf-change-v2")]
    ConfChangeV2,
}

impl EntryKind {
    /// The name used in text and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Normal => "normal",
            EntryKind::ConfChange => "conf-change",
            EntryKind::ConfChangeV2 => "conf-change-v2",
        }
    }
}

impl Args {
    /// True if an entry of index `index` and type `kind` (`None`: undecodable) is shown.
    pub fn shows(&self, index: u64, kind: Option<EntryKind>) -> bool {
        let in_range =
            self.start_index.is_none_or(|s| index >= s) && self.end_index.is_none_or(|e| index < e);
        let typed = match kind {
            Some(k) => self.entry_type.is_empty() || self.entry_type.contains(&k),
            None => self.entry_type.is_empty(),
        };
        in_range && typed
    }

    /// The index range `[lo, hi)` asked for.
    pub fn range(&self) -> (u64, u64) {
        (
            self.start_index.unwrap_or(0),
            self.end_index.unwrap_or(u64::MAX),
        )
    }

    /// True for JSON output.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
}
