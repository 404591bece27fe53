//! `stele-raft`: the node driver around `raft::RawNode<DiskStorage>`.
//!
//! A [`Node`] owns a `RawNode` over a [`DiskStorage`](stele_storage::DiskStorage), a
//! [`StateMachine`] and a [`Transport`] on its own thread, and handles every `Ready` in the order
//! `docs/RAFT.md` §3.2 prescribes (the driver module documents the exact steps). Applications talk
//! to it through a [`NodeHandle`]: proposals resolve when applied, membership changes and
//! leadership transfer are requests, reads are linearizable through raft's read index.
//!
//! A single-node group over a [`DiskStorage`](stele_storage::DiskStorage) with a
//! [`TcpTransport`] and a state machine of the application's own (stele-kv, in the
//! `stele-tools` crate, is the same with more nodes and a key-value map):
//!
//! ```
//! use std::io::{self, Read, Write};
//! use std::net::TcpListener;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use raft::eraftpb::{ConfChangeV2, ConfState};
//! use stele_raft::{Node, NodeConfig, PeerBook, StateMachine, TcpConfig, TcpTransport};
//! use stele_storage::{DiskStorage, StorageOptions};
//!
//! /// Adds up the `u64`s proposed (little endian); the result of an entry is the new total.
//! #[derive(Clone, Default)]
//! struct Sum(Arc<Mutex<(u64, u64)>>); // (applied index, total)
//!
//! impl StateMachine for Sum {
//!     fn apply(&mut self, index: u64, data: &[u8]) -> Vec<u8> {
//!         let mut st = self.0.lock().unwrap();
//!         st.0 = index;
//!         if let Ok(n) = <[u8; 8]>::try_from(data) {
//!             st.1 += u64::from_le_bytes(n);
//!         }
//!         st.1.to_le_bytes().to_vec()
//!     }
//!     fn apply_conf_change(&mut self, index: u64, _: &ConfChangeV2, _: &ConfState) {
//!         self.0.lock().unwrap().0 = index;
//!     }
//!     fn applied_index(&self) -> u64 {
//!         self.0.lock().unwrap().0
//!     }
//!     fn snapshot(&mut self, w: &mut dyn Write) -> io::Result<()> {
//!         w.write_all(&self.0.lock().unwrap().1.to_le_bytes())
//!     }
//!     fn restore(&mut self, index: u64, r: &mut dyn Read) -> io::Result<()> {
//!         let mut total = [0u8; 8];
//!         r.read_exact(&mut total)?;
//!         *self.0.lock().unwrap() = (index, u64::from_le_bytes(total));
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let storage = DiskStorage::open(dir.path(), StorageOptions::default())?;
//! // Peers' raft addresses go in the peer book (this group has no other member).
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let transport = TcpTransport::new(1, listener, PeerBook::default(), TcpConfig::default())?;
//! let sum = Sum::default();
//! let node = Node::start(
//!     NodeConfig::new(1, vec![1]),
//!     storage,
//!     Box::new(sum.clone()),
//!     Box::new(transport),
//! )?;
//! node.campaign();
//! let leader = node.wait_status(Duration::from_secs(10), |s| s.role == raft::StateRole::Leader);
//! assert!(leader.is_some(), "a one-node group elects itself");
//! let applied = node.propose(5u64.to_le_bytes().to_vec()).wait()?;
//! assert_eq!(applied.result, 5u64.to_le_bytes());
//! assert_eq!(sum.0.lock().unwrap().1, 5);
//! node.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! Guarantees:
//! - nothing that acknowledges a log write (a vote, an append response) leaves the node before
//!   the write is durable; entries are applied in order, each once per incarnation;
//! - a restart resumes from the state machine's applied index (`Config::applied`), never from
//!   the commit index;
//! - snapshots are taken and the log compacted by policy ([`NodeConfig::snapshot_interval`],
//!   [`NodeConfig::compaction_tail`]); followers too far behind get a snapshot.
//!
//! Modules depend one way (each imports only modules before it): `error` <- `callback`,
//! `config`, `state_machine`, `transport` <- `types`, `restart` <- `pending` <- `driver` <-
//! `node`; and `tcp_shared` <- `tcp_peer` <- `tcp`.
//!
//! Cargo feature `testing` (off by default; for tests only): the module `mem_net`, an
//! in-process network with seeded loss, delay, partitions and a record of every message.
#![deny(missing_docs)]

mod callback;
mod config;
mod driver;
mod error;
mod error_chain;
#[cfg(feature = "testing")]
pub mod mem_net;
mod node;
mod pending;
mod quiet_panic;
mod restart;
mod state_machine;
pub mod tcp;
mod tcp_peer;
mod tcp_shared;
mod transport;
mod types;

pub use config::{NodeConfig, ScrubConfig};
pub use error::{Error, Result};
pub use error_chain::ErrorChain;
pub use node::{Node, NodeHandle, Proposal, ReadHandle};
pub use state_machine::{SnapshotSource, StateMachine};
pub use stele_storage::{ScrubOptions, ScrubStatus};
pub use tcp::{PeerBook, TcpConfig, TcpTransport};
pub use transport::{Inbound, Mailbox, Transport};
pub use types::{Applied, Status};
