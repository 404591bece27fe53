//! [`StateMachine`]: the application the node applies committed entries to.
//!
//! Contract between the driver and the machine:
//! - entries arrive in index order, each exactly once per incarnation, each index exactly one
//!   past [`applied_index`](StateMachine::applied_index); every entry moves the applied index,
//!   including the empty entry a new leader appends and membership changes;
//! - the machine's applied index is what the node restarts from (`raft::Config::applied`),
//!   never the commit index: a machine that persists its data must persist the applied index
//!   (and, for membership changes, the `ConfState`) atomically with it; a purely in-memory
//!   machine starts at 0 and is restored from the newest snapshot;
//! - [`snapshot`](StateMachine::snapshot) writes the state as of the applied index, and
//!   [`restore`](StateMachine::restore) replaces the whole state with a snapshot's and sets the
//!   applied index to the snapshot's; both are streams, never required to fit in memory;
//! - [`snapshot_source`](StateMachine::snapshot_source), if the machine offers it, is a
//!   point-in-time copy taken on the node thread and written (in `snapshot`'s format) on
//!   another thread while entries keep being applied: it must not see any later entry.

use std::io::{self, Read, Write};

use raft::eraftpb::{ConfChangeV2, ConfState};

/// A point-in-time copy of a state machine's state that writes a snapshot (see
/// [`StateMachine::snapshot_source`]); it runs on a thread of its own.
pub type SnapshotSource = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// The replicated application.
pub trait StateMachine: Send {
    /// Applies the committed normal entry at `index` and returns the result handed to the
    /// proposer. `data` is empty for the entry a new leader appends (and for a membership
    /// change raft turned into a no-op): apply it as a no-op.
    fn apply(&mut self, index: u64, data: &[u8]) -> Vec<u8>;

    /// Records the membership change at `index`: `conf_state` is the configuration after it
    /// (unchanged if raft rejected the change). `change.context` is the proposer's context (for
    /// example the new node's address). A durable machine persists `conf_state` with `index`.
    fn apply_conf_change(&mut self, index: u64, change: &ConfChangeV2, conf_state: &ConfState);

    /// The index of the last entry applied (0: none).
    fn applied_index(&self) -> u64;

    /// Writes the state as of [`applied_index`](Self::applied_index) to `writer`.
    fn snapshot(&mut self, writer: &mut dyn Write) -> io::Result<()>;

    /// A copy of the state as of [`applied_index`](Self::applied_index), cheap to take, that
    /// writes what [`snapshot`](Self::snapshot) would, later and on another thread, while the
    /// node goes on applying. `None` (the default): the node calls `snapshot` on its own
    /// thread and applies nothing until it returns.
    fn snapshot_source(&mut self) -> Option<SnapshotSource> {
        None
    }

    /// Replaces the state with the snapshot at `index` read from `reader`; afterwards
    /// [`applied_index`](Self::applied_index) is `index`.
    fn restore(&mut self, index: u64, reader: &mut dyn Read) -> io::Result<()>;
}
