//! The HTTP routes of stele-kv.
//!
//! - `PUT /kv/{key}` (body: the value), `DELETE /kv/{key}`: 204 once committed and applied;
//!   503 if not within the request timeout (the text says whether the write is definitely not
//!   applied, or its outcome is unknown); 507 while the disk is full (the WAL has no room for
//!   its next segment: the write was refused, not applied; `/status` shows `no_room`);
//! - `GET /kv/{key}`: 200 with the value or 404; linearizable (read index) unless
//!   `?stale=true`;
//! - `POST /members/{id}` (body: raft address) adds a node as a learner, then promotes it
//!   (`?learner=true`: stop at learner); `DELETE /members/{id}` removes one; `GET /members`
//!   lists them;
//! - `GET /status` (JSON), `GET /metrics` (OpenMetrics text, which Prometheus scrapes).
//!
//! Keys are the percent-decoded path after `/kv/` (1..=4096 bytes).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft::eraftpb::ConfState;
use serde_json::json;
use stele_raft::{Error, NodeHandle};

use crate::error::ErrorChain;
use stele_storage::DiskStorage;

use super::http::{percent_decode, Request, Response};
use super::machine::Members;
use super::memkv::{KvCommand, MemKv};
use super::metrics::{Histogram, Metrics, CONTENT_TYPE};
use super::server::Responder;

/// Longest key.
pub const MAX_KEY: usize = 4096;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    /// The node.
    pub node: NodeHandle,
    /// The applied state (read side).
    pub kv: MemKv,
    /// The member table.
    pub members: Members,
    /// The storage (for WAL stats).
    pub storage: DiskStorage,
    /// WAL fsync latencies.
    pub fsync: Arc<Histogram>,
    /// Bound of a write or a linearizable read.
    pub timeout: Duration,
    /// Membership requests under way.
    pub admin_running: AtomicUsize,
}

fn lookup(kv: &MemKv, key: &[u8]) -> Response {
    match kv.get(key) {
        Some(v) => Response::bytes(200, v),
        None => Response::text(404, "no such key"),
    }
}

fn not_committed(what: &str, e: &Error) -> Response {
    if let Error::DiskFull(_) = e {
        // 507 Insufficient Storage: reads still work; writes resume once the disk has room.
        return Response::text(
            507,
            format!("{what} refused: {}; it was not applied", ErrorChain(e)),
        );
    }
    if e.is_definitely_not_applied() {
        Response::text(
            503,
            format!(
                "{what} not committed: {}; it was definitely not applied, retry",
                ErrorChain(e)
            ),
        )
    } else {
        Response::text(
            503,
            format!(
                "{what} not confirmed: {}; the outcome is unknown (it may still be applied)",
                ErrorChain(e)
            ),
        )
    }
}

/// Membership requests (slow: several raft round trips) run on threads of their own; at most
/// this many at once.
const MAX_ADMIN: usize = 4;

impl App {
    /// Routes a request and answers it through `done`: at once, or (writes and linearizable
    /// reads) from the node thread once raft has an outcome, or (membership changes) from a
    /// thread of their own. Never blocks the caller (the HTTP event loop).
    pub fn handle(self: &Arc<Self>, req: Request, done: Responder) {
        let path = req.path.as_str();
        let m = req.method.as_str();
        if let Some(key) = path.strip_prefix("/kv/") {
            let Some(key) = percent_decode(key) else {
                return done.send(Response::text(400, "bad percent-encoding in the key"));
            };
            if key.is_empty() || key.len() > MAX_KEY {
                return done.send(Response::text(400, format!("a key is 1..={MAX_KEY} bytes")));
            }
            return match m {
                "GET" => self.get(key, req.flag("stale"), done),
                "PUT" => {
                    let value = req.body;
                    self.write(KvCommand::Put { key, value }, done)
                }
                "DELETE" => self.write(KvCommand::Delete { key }, done),
                _ => done.send(Response::text(405, "use GET, PUT or DELETE on /kv/{key}")),
            };
        }
        if let Some(id) = path.strip_prefix("/members/") {
            let Ok(id) = id.parse::<u64>() else {
                return done.send(Response::text(400, "a member id is a positive integer"));
            };
            if id == 0 {
                return done.send(Response::text(400, "member id 0 is reserved"));
            }
            let learner = req.flag("learner");
            return match m {
                "POST" => self.admin(done, move |app| app.add_member(id, &req.body, learner)),
                "DELETE" => self.admin(done, move |app| app.remove_member(id)),
                _ => done.send(Response::text(405, "use POST or DELETE on /members/{id}")),
            };
        }
        done.send(match (m, path) {
            ("GET", "/members") => self.list_members(None),
            ("GET", "/status") => self.status(),
            ("GET", "/metrics") => self.metrics(),
            (_, "/members" | "/status" | "/metrics") => Response::text(405, "use GET"),
            _ => Response::text(
                404,
                "no such route (see /kv/{key}, /members, /status, /metrics)",
            ),
        })
    }

    /// Runs a membership request on a thread of its own (bounded: 503 when too many).
    fn admin(self: &Arc<Self>, done: Responder, f: impl FnOnce(&App) -> Response + Send + 'static) {
        if self.admin_running.fetch_add(1, Ordering::AcqRel) >= MAX_ADMIN {
            self.admin_running.fetch_sub(1, Ordering::AcqRel);
            return done.send(Response::text(
                503,
                "too many membership requests under way; retry",
            ));
        }
        let app = self.clone();
        let spawned = std::thread::Builder::new()
            .name("stele-kv-admin".into())
            .spawn(move || {
                done.send(f(&app));
                app.admin_running.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            // The closure (and `done`, answering 500) was dropped.
            self.admin_running.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn get(&self, key: Vec<u8>, stale: bool, done: Responder) {
        if stale {
            return done.send(lookup(&self.kv, &key));
        }
        let kv = self.kv.clone();
        // Runs on the node thread once it has applied through the read index.
        self.node.read_index_then(move |r| {
            done.send(match r {
                Ok(_) => lookup(&kv, &key),
                Err(e) => Response::text(
                    503,
                    format!(
                        "linearizable read failed: {}; retry, or read with ?stale=true",
                        ErrorChain(&e)
                    ),
                ),
            })
        });
    }

    fn write(&self, cmd: KvCommand, done: Responder) {
        self.node.propose_then(cmd.encode(), move |r| {
            done.send(match r {
                Ok(_) => Response::text(204, ""),
                Err(e) => not_committed("write", &e),
            })
        });
    }

    fn add_member(&self, id: u64, body: &[u8], learner_only: bool) -> Response {
        let addr = std::str::from_utf8(body).unwrap_or("").trim();
        let Ok(addr) = addr.parse::<SocketAddr>() else {
            return Response::text(
                400,
                "the body must be the new node's raft address (ip:port)",
            );
        };
        let cs = self.node.status().conf_state;
        if cs.get_voters().contains(&id) {
            return Response::text(409, format!("node {id} is already a voter"));
        }
        let ctx = addr.to_string().into_bytes();
        let mut after = None;
        if !cs.get_learners().contains(&id) {
            match self
                .node
                .add_learner(id, ctx.clone())
                .wait_timeout(self.timeout)
            {
                Ok(a) => after = Some(a.result),
                Err(e) => return not_committed("adding the learner", &e),
            }
        }
        if learner_only {
            return self.list_members(after);
        }
        // Promote; a change still pending on the leader makes raft refuse the next one for a
        // moment, so retry refusals until the deadline.
        let deadline = Instant::now() + self.timeout;
        loop {
            match self
                .node
                .add_voter(id, ctx.clone())
                .wait_timeout(self.timeout)
            {
                Ok(a) => return self.list_members(Some(a.result)),
                Err(e) if e.is_definitely_not_applied() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return not_committed("promoting the learner", &e),
            }
        }
    }

    fn remove_member(&self, id: u64) -> Response {
        let cs = self.node.status().conf_state;
        let member = cs.get_voters().contains(&id) || cs.get_learners().contains(&id);
        if !member {
            return Response::text(404, format!("node {id} is not a member"));
        }
        match self
            .node
            .remove_node(id, Vec::new())
            .wait_timeout(self.timeout)
        {
            Ok(a) => self.list_members(Some(a.result)),
            Err(e) => not_committed("removing the member", &e),
        }
    }

    /// The members: the configuration `cs` (default: this node's latest), and the addresses.
    fn list_members(&self, cs: Option<ConfState>) -> Response {
        let s = self.node.status();
        let cs = cs.unwrap_or(s.conf_state);
        let mut voters = cs.get_voters().to_vec();
        let mut learners = cs.get_learners().to_vec();
        voters.sort_unstable();
        learners.sort_unstable();
        let addrs: serde_json::Map<String, serde_json::Value> = self
            .members
            .all()
            .into_iter()
            .map(|(id, a)| (id.to_string(), json!(a)))
            .collect();
        Response::json(
            200,
            &json!({"voters": voters, "learners": learners, "addresses": addrs, "leader_id": s.leader_id}),
        )
    }

    /// Why the node stopped on its own (the error chain), once it has; `None` while it runs
    /// and after a requested shutdown.
    pub fn stop_error(&self) -> Option<String> {
        match self.node.wait_stopped(Duration::ZERO) {
            Some(Err(e)) => Some(ErrorChain(&*e).to_string()),
            _ => None,
        }
    }

    fn status(&self) -> Response {
        let s = self.node.status();
        Response::json(
            200,
            &json!({
                "id": s.id,
                "leader_id": s.leader_id,
                "role": format!("{:?}", s.role),
                "term": s.term,
                "commit": s.commit,
                "applied": s.applied,
                "first_index": s.first_index,
                "last_index": s.last_index,
                "snapshot_index": s.snapshot_index,
                "snapshots_created": s.snapshots_created,
                "snapshots_installed": s.snapshots_installed,
                "snapshot_failures": s.snapshot_failures,
                "no_room": s.no_room,
                "scrub": s.scrub.as_ref().map(|c| json!({
                    "bytes_verified": c.bytes_verified,
                    "segments_verified": c.segments_verified,
                    "snapshots_verified": c.snapshots_verified,
                    "passes": c.passes,
                    "damage": c.damage,
                    "running": c.running,
                })),
                "keys": self.kv.len(),
                "running": s.running,
                "stop_error": self.stop_error(),
            }),
        )
    }

    fn metrics(&self) -> Response {
        let s = self.node.status();
        let w = self.storage.wal().stats();
        let mut m = Metrics::default();
        m.histogram(
            "stele_wal_fsync_duration_seconds",
            "The latency distribution of WAL file syncs (fdatasync) called by this node",
            &self.fsync,
        );
        m.counter(
            "stele_wal_syncs",
            "WAL segment fdatasyncs since start",
            w.syncs,
        );
        m.counter(
            "stele_wal_bytes_written",
            "Bytes written to the WAL since start",
            w.bytes_written,
        );
        m.counter(
            "stele_wal_appends",
            "Batches (raft entries plus hard state of one Ready) appended to the WAL since start",
            w.appends,
        );
        m.counter(
            "stele_wal_entries_appended",
            "Raft entries appended to the WAL since start",
            w.entries_appended,
        );
        m.gauge("stele_wal_segments", "WAL segment files", w.segments as u64);
        m.counter(
            "stele_snapshots_saved",
            "Snapshots this node created from its state machine since start",
            s.snapshots_created,
        );
        m.counter(
            "stele_snapshots_applied",
            "Snapshots received from a leader and installed since start",
            s.snapshots_installed,
        );
        m.counter(
            "stele_snapshot_failures",
            "Snapshots that could not be written (the disk full, say) since start; each is retried",
            s.snapshot_failures,
        );
        m.gauge(
            "stele_wal_no_room",
            "1 while the WAL has no room for its next segment (the disk full): writes get 507",
            u64::from(s.no_room.is_some()),
        );
        let scrub = s.scrub.clone().unwrap_or_default();
        m.counter(
            "stele_scrub_bytes_verified",
            "Bytes of sealed WAL segments and snapshot files the background scrubber read back \
             and verified since start",
            scrub.bytes_verified,
        );
        m.counter(
            "stele_scrub_passes",
            "Passes of the background scrubber over every sealed segment and snapshot file",
            scrub.passes,
        );
        m.gauge(
            "stele_scrub_damage",
            "1 once the scrubber found damage (the file and offset are in /status)",
            u64::from(scrub.damage.is_some()),
        );
        m.gauge("stele_raft_term", "The current term", s.term);
        m.gauge("stele_raft_commit_index", "The commit index", s.commit);
        m.gauge("stele_raft_applied_index", "The applied index", s.applied);
        m.gauge("stele_raft_last_index", "The last log index", s.last_index);
        m.gauge(
            "stele_raft_snapshot_index",
            "The newest snapshot's index",
            s.snapshot_index,
        );
        m.gauge(
            "stele_raft_is_leader",
            "1 if this node is the leader",
            u64::from(s.leader_id == s.id),
        );
        m.gauge(
            "stele_kv_keys",
            "Keys in the applied state",
            self.kv.len() as u64,
        );
        match m.encode() {
            Ok(text) => Response {
                status: 200,
                content_type: CONTENT_TYPE,
                body: text.into_bytes(),
            },
            Err(_) => Response::text(500, "encoding the metrics failed"),
        }
    }
}
