//! `stele-raft`: the node driver around `raft::RawNode<DiskStorage>`.
//!
//! A [`Node`] owns a `RawNode` over a [`DiskStorage`](stele_storage::DiskStorage), a
//! [`StateMachine`] and a [`Transport`] on its own thread, and handles every `Ready` in the order
//! `docs/RAFT.md` §3.2 prescribes (the driver module documents the exact steps). Applications talk
//! to it through a [`NodeHandle`]: proposals resolve when applied, membership changes and
//! leadership transfer are requests, reads are linearizable through raft's read index.
//!
//! ```no_run
//! use stele_raft::{MemKv, KvCommand, Node, NodeConfig, mem_net::MemNetwork};
//! use stele_storage::{DiskStorage, StorageOptions};
//! # fn main() -> stele_raft::Result<()> {
//! let net = MemNetwork::new(7);
//! let storage = DiskStorage::open("/tmp/node1", StorageOptions::default())?;
//! let kv = MemKv::new();
//! let node = Node::start(
//!     NodeConfig::new(1, vec![1]),
//!     storage,
//!     Box::new(kv.clone()),
//!     Box::new(net.endpoint(1)),
//! )?;
//! node.campaign();
//! let put = KvCommand::Put { key: b"k".to_vec(), value: b"v".to_vec() };
//! node.propose(put.encode()).wait()?;
//! assert_eq!(kv.get(b"k"), Some(b"v".to_vec()));
//! node.shutdown()
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
#![deny(missing_docs)]

mod callback;
mod config;
mod driver;
mod error;
pub mod kv;
pub mod mem_net;
mod node;
mod pending;
mod restart;
mod state_machine;
pub mod tcp;
mod tcp_peer;
mod transport;

pub use config::NodeConfig;
pub use error::{Error, Result};
pub use kv::{KvCommand, KvDigest, MemKv};
pub use node::{Applied, Node, NodeHandle, Proposal, ReadHandle, Status};
pub use state_machine::{SnapshotSource, StateMachine};
pub use tcp::{PeerBook, TcpConfig, TcpTransport};
pub use transport::{Inbound, Mailbox, Transport};
