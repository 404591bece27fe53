//! The one replayer: how a WAL directory's bytes become a log, shared by [`Wal::open`] and
//! [`inspect`], so that `wal-dump` can never describe a log differently from how opening treats
//! it.
//!
//! The pieces, each used by both callers:
//! - [`listing`]: what a file name in the directory is, and the rules of the sequence chain;
//! - [`segment_file`]: opening one segment file and checking its header against its name;
//! - [`walk`]: reading the batches of a segment in file order and telling a clean end, a torn
//!   tail and damage in the middle apart;
//! - [`chain`]: replaying batches and segments into a [`LogIndex`] and [`LogState`] with the
//!   writer's rules (`apply.rs`), anchoring a log whose oldest segments were purged;
//! - [`seal`]: rebuilding a sealed segment's index from its seal (opening's fast path; inspection
//!   does the same after checking the batches against the seal).
//!
//! The callers differ only in [`Policy`]: opening is [`Policy::Strict`] (the first finding is
//! an error naming the file and offset, and nothing is guessed), inspection is
//! [`Policy::Report`] (a finding is reported, the replay restarts its view of the log where it
//! must, and the walk carries on). A finding under `Report` is exactly what `Strict` refuses,
//! except a torn tail of the last segment, which both report and opening truncates (or refuses
//! in `AbsoluteConsistency` mode).
//!
//! [`Wal::open`]: crate::Wal::open
//! [`inspect`]: crate::inspect
//! [`LogIndex`]: crate::index::LogIndex
//! [`LogState`]: crate::records::LogState

pub(crate) mod chain;
pub(crate) mod listing;
pub(crate) mod seal;
pub(crate) mod segment_file;
pub(crate) mod walk;

/// What a replay does with a finding (damage, a broken rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Stop at the first finding with an error (opening).
    Strict,
    /// Report it, restart the view of the log where needed, and carry on (inspection).
    Report,
}
