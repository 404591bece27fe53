//! `wal-dump`: the tool an operator reaches for when a node will not start or a log looks wrong.
//!
//! `wal-dump [OPTIONS] <DIR>`, DIR being a node's data directory (holding `wal/` and `snap/`) or
//! a WAL directory. Modes:
//! - default: a header (segments, entry range, HardState, ConfState, snapshot markers, snapshot
//!   files) and one line per entry of the logical log (overwrites and compactions applied):
//!   index, term, type, data length and a preview (conf changes as what they do);
//! - `--raw`: every batch and record in file order, overwritten entries included, with segment
//!   and byte offset, carrying on past damage;
//! - `--verify`: every checksum of every segment and snapshot file, the segment chain, and that
//!   the log and the snapshots agree;
//! - `--stats`: a per-segment table and totals.
//!
//! Every mode reports each problem with the file (relative to DIR) and byte offset; the exit
//! status is 0 when all is good, 1 when a problem was found or data could not be read, 2 on bad
//! usage. Everything is read through [`stele_wal::inspect`] and [`stele_snap::inspect`]: files
//! are opened read-only, no lock is taken and no byte is changed, so it is safe on the directory
//! of a running node.
//!
//! The JSON field names (`--format json`) are listed in [`cli::JSON_HELP`], printed by `--help`
//! and in `tools/README.md`.

pub mod cli;
mod entry;
mod fmt;
mod out;
mod raw;
mod snaps;
mod stats;
mod verify;
mod view;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser as _;

pub use cli::Args;
use out::{Out, Progress};

/// Runs `wal-dump` with the command line `argv` (program name first), writing the report to
/// `out` and usage errors, the progress bar (only if `stderr_is_tty`) and the final word to
/// `err`. Returns the exit status: 0 all good, 1 damage found or data unreadable, 2 bad usage.
pub fn run<I, T>(argv: I, out: &mut dyn Write, err: &mut dyn Write, stderr_is_tty: bool) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let code = e.exit_code();
            let w: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = write!(w, "{e}");
            return code;
        }
    };
    if let (Some(s), Some(e)) = (args.start_index, args.end_index) {
        if s >= e {
            let _ = writeln!(
                err,
                "error: --start-index ({s}) must be below --end-index ({e})"
            );
            return 2;
        }
    }
    dump(&args, out, err, stderr_is_tty)
}

/// Runs `wal-dump` with parsed arguments (see [`run`]).
pub fn dump(args: &Args, out: &mut dyn Write, err: &mut dyn Write, stderr_is_tty: bool) -> i32 {
    let mut o = Out::new(out, args.json());
    let mode = if args.raw {
        "raw"
    } else if args.verify {
        "verify"
    } else if args.stats {
        "stats"
    } else {
        "view"
    };
    {
        let mut progress = Progress::new(&mut *err, stderr_is_tty);
        match Target::resolve(&args.dir) {
            Err(msg) => o.problem(&args.dir.display().to_string(), None, &msg),
            Ok(t) if args.raw => raw::run(args, &t, &mut o, &mut progress),
            Ok(t) if args.verify => verify::run(args, &t, &mut o, &mut progress),
            Ok(t) if args.stats => stats::run(&t, &mut o, &mut progress),
            Ok(t) => view::run(args, &t, &mut o, &mut progress),
        }
        progress.finish();
    }
    o.finish(mode, err)
}

/// What DIR is: where the WAL and the snapshots are, and how files are named in the output.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// DIR as given.
    pub shown: String,
    /// The WAL directory.
    pub wal: PathBuf,
    /// Prefix of WAL file names in the output: `wal/`, or empty when DIR is the WAL directory.
    pub wal_rel: &'static str,
    /// The snapshot directory: `Ok` if DIR is a data directory and it exists, `Err(reason)`
    /// otherwise.
    pub snap: Result<PathBuf, &'static str>,
}

impl Target {
    fn resolve(dir: &Path) -> Result<Target, String> {
        let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read: {e}"))?;
        if !meta.is_dir() {
            return Err("not a directory".to_string());
        }
        let shown = dir.display().to_string();
        let wal = dir.join("wal");
        match std::fs::metadata(&wal) {
            Ok(m) if m.is_dir() => {
                return Ok(Target {
                    shown,
                    wal,
                    wal_rel: "wal/",
                    snap: Self::snap_dir(dir)?,
                })
            }
            Ok(_) => return Err("wal: not a directory".to_string()),
            // A symlink loop, a permission denied: not the same as "no wal/ here".
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("wal: cannot read: {e}"))
            }
            Err(_) => {}
        }
        let listing = stele_wal::inspect::list(dir).map_err(|e| format!("cannot list: {e}"))?;
        let walish = !listing.segments.is_empty()
            || listing
                .others
                .iter()
                .any(|(_, k)| *k != stele_wal::inspect::OtherKind::Ignored);
        if !walish {
            return Err(
                "neither a data directory (no wal/ inside) nor a WAL directory \
                 (no segment or LOCK file)"
                    .to_string(),
            );
        }
        Ok(Target {
            shown,
            wal: dir.to_path_buf(),
            wal_rel: "",
            snap: Err("a WAL directory has no snapshots"),
        })
    }

    /// The snapshot directory of data directory `dir`: `Ok(Err(reason))` if there is none, an
    /// error if something else is in its place.
    fn snap_dir(dir: &Path) -> Result<Result<PathBuf, &'static str>, String> {
        let snap = dir.join("snap");
        match std::fs::metadata(&snap) {
            Ok(m) if m.is_dir() => Ok(Ok(snap)),
            Ok(_) => Err("snap: not a directory".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Err("no snap/ directory")),
            Err(e) => Err(format!("snap: cannot read: {e}")),
        }
    }

    /// A WAL file's name in the output (the WAL directory itself for an empty name).
    pub fn wal_file(&self, name: &str) -> String {
        match (name.is_empty(), self.wal_rel.is_empty()) {
            (true, true) => ".".to_string(),
            (true, false) => "wal".to_string(),
            (false, _) => format!("{}{name}", self.wal_rel),
        }
    }

    /// A snapshot file's name in the output.
    pub fn snap_file(&self, name: &str) -> String {
        format!("snap/{name}")
    }

    /// The WAL directory's name in the output.
    pub fn wal_shown(&self) -> &'static str {
        if self.wal_rel.is_empty() {
            "."
        } else {
            "wal/"
        }
    }
}

/// Lists the WAL directory and notes its files that are not segments; `None` (a problem
/// reported) if it cannot be listed.
pub(crate) fn list_wal(t: &Target, o: &mut Out<'_>) -> Option<stele_wal::inspect::Listing> {
    use stele_wal::inspect::OtherKind;
    let listing = match stele_wal::inspect::list(&t.wal) {
        Ok(l) => l,
        Err(e) => {
            o.problem(&t.wal_file(""), None, &format!("cannot list: {e}"));
            return None;
        }
    };
    for (name, kind) in &listing.others {
        let what = match kind {
            OtherKind::Temp => {
                "a segment or spare being prepared, or left by a crash (removed on open)"
            }
            OtherKind::Recycle => "a purged segment kept for reuse (not part of the log)",
            OtherKind::Spare => {
                "the next segment's file, preallocated ahead of a cut (not part of the log)"
            }
            OtherKind::Ignored => "not a WAL file (ignored)",
            OtherKind::Lock | OtherKind::BadSegmentName => continue,
        };
        o.note(&t.wal_file(name), what);
    }
    Some(listing)
}

/// Walks the WAL (see [`stele_wal::inspect`]): reports problems, drives the progress bar, and
/// hands every event to `f` as well.
pub(crate) fn walk(
    t: &Target,
    listing: &stele_wal::inspect::Listing,
    o: &mut Out<'_>,
    p: &mut Progress<'_>,
    mut f: impl FnMut(&mut Out<'_>, &stele_wal::inspect::Event<'_>),
) -> stele_wal::inspect::Inspection {
    use stele_wal::inspect::Event;
    p.set_total(listing.total_size());
    let mut base = 0;
    stele_wal::inspect::inspect_listing(&t.wal, listing, &mut |ev| {
        match &ev {
            Event::Problem(pr) => o.problem(&t.wal_file(&pr.file), pr.offset, &pr.message),
            Event::Batch(b) => p.set(base + b.offset),
            Event::SegmentDone(s) => {
                base += s.size;
                p.set(base);
            }
            _ => {}
        }
        f(o, &ev);
        o.alive()
    })
}
