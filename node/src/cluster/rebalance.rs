//! Topology changes while the cluster serves, and rebuilds (`docs/rebalance.md`).
//!
//! Every node runs the same driver; there is no leader. A change goes through three phases
//! per node, each persisted before it is acted on:
//!
//! 1. **prepared**: the node has adopted the target next to its current topology. Writes it
//!    coordinates go to the owners in both (acknowledged by W of each), reads to the current
//!    owners. Once *every* node is prepared (so no write can miss a gaining node any more),
//!    each node that gains ranges streams them from their current owners, verifies each by
//!    digest and records it; a node that gains nothing is done at once.
//! 2. **committed**: once every node reports its streaming done, every node reads from the
//!    target's owners (writes still go to both, so a peer still reading the old owners sees
//!    everything).
//! 3. **stable** on the target, once every node is committed (or already stable on it): the
//!    target becomes the current topology, and the node deletes the series it no longer owns.
//!
//! The driver ticks every second: it asks every node for its status, sends the prepare or
//! commit a node lacks (a node that was down or cut off catches up), and advances this node.
//! Streaming is resumable: verified ranges are persisted, so a restarted node goes on with the
//! ranges left. An abort (only before any node committed) returns every node to the current
//! topology; what a gaining node streamed is deleted again.

pub(crate) mod state;
mod stream;

pub(crate) use self::stream::{range_digest, range_read};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use floe_ring::Topology;
use floe_wire::proto::{
    ErrorCode, ErrorResponse, JobKind, JobProgress, Request, Response, RingPhase, RingRequest,
    RingStatus, TopologyRef,
};
use tokio::sync::watch;

use self::state::{Persisted, PersistedJob, STATE_FORMAT, hex};
use super::{ClusterSettings, View};
use crate::cluster::Cluster;
use crate::server::AppState;

/// Why a topology change or rebuild request was refused (an HTTP status and a message).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RingError {
    /// 400, 404, 409, 500 or 503.
    pub status: u16,
    /// What was wrong.
    pub message: String,
}

impl RingError {
    fn new(status: u16, message: impl Into<String>) -> RingError {
        RingError {
            status,
            message: message.into(),
        }
    }
}

/// How often the driver looks at the cluster.
const TICK: Duration = Duration::from_secs(1);
/// Longest wait for one node's status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// The rebalance state of one node.
#[derive(Debug)]
pub(crate) struct Rebalance {
    /// What is on disk; changed (and saved) together with the view under this lock.
    persisted: Mutex<Persisted>,
    /// The running (or last) job's progress.
    progress: Mutex<Option<Progress>>,
    /// A job task is running.
    running: AtomicBool,
    /// Wakes the driver early (a prepare or commit arrived).
    wake: tokio::sync::Notify,
    max_bytes_per_s: u64,
    // Counters for /metrics.
    streamed_samples: AtomicU64,
    streamed_bytes: AtomicU64,
    ranges_verified: AtomicU64,
    verify_mismatches: AtomicU64,
    purged_series: AtomicU64,
    purged_samples: AtomicU64,
    phase_changes: AtomicU64,
}

/// A job's live progress.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub(crate) kind: JobKind,
    pub(crate) ranges_total: u32,
    pub(crate) ranges_done: u32,
    pub(crate) samples: u64,
    pub(crate) bytes: u64,
    /// This run's start and what was done before it (for the rate).
    pub(crate) started: Instant,
    pub(crate) ranges_at_start: u32,
    pub(crate) done: bool,
    pub(crate) error: Option<String>,
}

impl Progress {
    fn report(&self) -> JobProgress {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let ranges_run = self.ranges_done.saturating_sub(self.ranges_at_start);
        let eta_ms = if self.done {
            Some(0)
        } else if ranges_run > 0 {
            let left = self.ranges_total.saturating_sub(self.ranges_done);
            Some((secs * f64::from(left) / f64::from(ranges_run) * 1000.0) as u64)
        } else {
            None
        };
        JobProgress {
            kind: self.kind,
            ranges_total: self.ranges_total,
            ranges_done: self.ranges_done,
            samples: self.samples,
            bytes: self.bytes,
            samples_per_s: self.samples as f64 / secs,
            bytes_per_s: self.bytes as f64 / secs,
            eta_ms,
            done: self.done,
            error: self.error.clone(),
        }
    }
}

fn bad_state(reason: String) -> String {
    format!("ring state: {reason}")
}

impl Rebalance {
    /// Loads the persisted state (or starts one from the topology file) and builds the view.
    pub(crate) fn open(
        data_dir: &std::path::Path,
        me: &str,
        file: Topology,
        settings: &ClusterSettings,
    ) -> Result<(View, Rebalance), String> {
        let loaded = state::load(data_dir).map_err(bad_state)?;
        let fresh = loaded.is_none();
        let mut p = match loaded {
            Some(p) => p,
            None => Persisted {
                format: STATE_FORMAT,
                current: file.to_toml(),
                target: None,
                phase: "stable".into(),
                previous: None,
                aborted: Vec::new(),
                job: None,
                purge_pending: false,
            },
        };
        let current = Topology::parse(&p.current).map_err(|e| bad_state(e.to_string()))?;
        if !fresh && file.content_hash() != current.content_hash() && settings.adopt_topology_file {
            tracing::warn!(
                file = file.version(),
                adopted = current.version(),
                "adopt_topology_file is set: acting on the topology file instead of the adopted topology; a running change is dropped on this node"
            );
            p.previous = None;
            p.current = file.to_toml();
            p.target = None;
            p.phase = "stable".into();
            p.job = None;
        } else if !fresh && file.content_hash() != current.content_hash() {
            // Adopting a file behind the cluster's back would skip the streaming: a topology
            // changes only through a rebalance (floectl ring apply).
            tracing::warn!(
                file = file.version(),
                adopted = current.version(),
                "the topology file differs from the topology adopted in the data directory; acting on the adopted one (change a running cluster with floectl ring apply)"
            );
        }
        if settings.rebuild && p.target.is_some() {
            tracing::warn!(
                "rebuild requested while a rebalance runs: ignored; the rebalance streams the ranges this node gains, rebuild it after the change finishes"
            );
        } else if settings.rebuild {
            let cur = Topology::parse(&p.current).map_err(|e| bad_state(e.to_string()))?;
            let tref = TopologyRef {
                version: cur.version(),
                hash: cur.content_hash().0,
            };
            let resumable = p
                .job
                .as_ref()
                .is_some_and(|j| j.is_for(JobKind::Rebuild, tref) && !j.finished);
            if !resumable {
                p.job = Some(PersistedJob::new(JobKind::Rebuild, tref));
            }
            tracing::info!(
                "rebuild requested: this node refills every range it owns from its peers"
            );
        }
        let view = view_of(me, &p)?;
        state::save(data_dir, &p)?;
        let rb = Rebalance {
            persisted: Mutex::new(p),
            progress: Mutex::new(None),
            running: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            max_bytes_per_s: settings.rebalance_max_bytes_per_s,
            streamed_samples: AtomicU64::new(0),
            streamed_bytes: AtomicU64::new(0),
            ranges_verified: AtomicU64::new(0),
            verify_mismatches: AtomicU64::new(0),
            purged_series: AtomicU64::new(0),
            purged_samples: AtomicU64::new(0),
            phase_changes: AtomicU64::new(0),
        };
        Ok((view, rb))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Persisted> {
        self.persisted.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn progress(&self) -> std::sync::MutexGuard<'_, Option<Progress>> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The view a persisted state describes.
fn view_of(me: &str, p: &Persisted) -> Result<View, String> {
    let current = Topology::parse(&p.current).map_err(|e| bad_state(e.to_string()))?;
    let target = p
        .target
        .as_deref()
        .map(Topology::parse)
        .transpose()
        .map_err(|e| bad_state(e.to_string()))?;
    let phase = state::parse_phase(&p.phase).map_err(bad_state)?;
    let previous = p
        .previous
        .as_ref()
        .map(state::parse_ref)
        .transpose()
        .map_err(bad_state)?;
    Ok(View::new(me, current, target, phase, previous))
}

fn refuse(code: ErrorCode, message: String) -> ErrorResponse {
    ErrorResponse { code, message }
}

fn tref_of(t: &Topology) -> TopologyRef {
    TopologyRef {
        version: t.version(),
        hash: t.content_hash().0,
    }
}

impl Cluster {
    /// Applies `change` to the persisted state and the view together (saved first).
    fn transition(
        &self,
        change: impl FnOnce(&mut Persisted) -> Result<bool, ErrorResponse>,
    ) -> Result<(), ErrorResponse> {
        let rb = &self.rebalance;
        let mut p = rb.lock();
        let mut next = p.clone();
        if !change(&mut next)? {
            return Ok(());
        }
        let view = view_of(self.node_id(), &next).map_err(|e| refuse(ErrorCode::Internal, e))?;
        state::save(&self.data_dir, &next).map_err(|e| refuse(ErrorCode::Internal, e))?;
        *p = next;
        self.set_view(view);
        drop(p);
        rb.phase_changes.fetch_add(1, Ordering::Relaxed);
        rb.wake.notify_one();
        Ok(())
    }

    /// This node's status.
    pub(crate) fn local_ring_status(&self) -> RingStatus {
        let view = self.view();
        let live = self.rebalance.progress().as_ref().map(Progress::report);
        let persisted = self.persisted_job();
        // A job persisted but not (yet) running this process: report what is on disk.
        let job = live.or_else(|| {
            let j = persisted.as_ref()?;
            Some(JobProgress {
                kind: j.kind(),
                ranges_total: 0,
                ranges_done: j.done.len() as u32,
                samples: 0,
                bytes: 0,
                samples_per_s: 0.0,
                bytes_per_s: 0.0,
                eta_ms: None,
                done: j.finished,
                error: None,
            })
        });
        // A job of an older change does not count for the current one.
        let current = persisted
            .as_ref()
            .is_none_or(|j| match (j.kind(), &view.target) {
                (JobKind::Rebalance, Some(t)) => j.is_for(JobKind::Rebalance, t.tref),
                (JobKind::Rebalance, None) => false,
                (JobKind::Rebuild, _) => true,
            });
        let job = job.filter(|_| current);
        RingStatus {
            node: self.node_id().to_string(),
            current: view.current.tref,
            target: view.target.as_ref().map(|t| t.tref),
            previous: view.previous,
            phase: view.reported_phase(),
            job,
        }
    }

    /// Serves a [`RingRequest`] from a peer.
    pub(crate) async fn handle_ring(
        self: &Arc<Self>,
        req: RingRequest,
    ) -> Result<RingStatus, ErrorResponse> {
        match req {
            RingRequest::Status => {}
            RingRequest::Prepare { old, new, force } => self.prepare(&old, &new, force)?,
            RingRequest::Commit { target } => self.commit(target)?,
            RingRequest::Abort { target } => self.abort(target)?,
            RingRequest::Rebuild => self.request_rebuild()?,
        }
        Ok(self.local_ring_status())
    }

    /// Adopts `new` as the target of a change from `old` (idempotent).
    pub(crate) fn prepare(&self, old: &str, new: &str, force: bool) -> Result<(), ErrorResponse> {
        let bad = |what: &str, e: floe_ring::RingError| {
            refuse(ErrorCode::BadRequest, format!("{what} topology: {e}"))
        };
        let old_t = Topology::parse(old).map_err(|e| bad("current", e))?;
        let new_t = Topology::parse(new).map_err(|e| bad("target", e))?;
        let (old_ref, new_ref) = (tref_of(&old_t), tref_of(&new_t));
        let me = self.node_id().to_string();
        self.transition(|p| {
            let cur = Topology::parse(&p.current)
                .map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
            let cur_ref = tref_of(&cur);
            if let Some(t) = &p.target {
                let t = Topology::parse(t).map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
                if tref_of(&t) == new_ref {
                    return Ok(false);
                }
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!(
                        "node {me} is rebalancing to topology {} already; abort it first",
                        tref_of(&t)
                    ),
                ));
            }
            if force {
                p.aborted.retain(|h| *h != hex(new_ref.hash));
            }
            if p
                .job
                .as_ref()
                .is_some_and(|j| j.kind() == JobKind::Rebuild && !j.finished)
            {
                return Err(refuse(
                    ErrorCode::Unavailable,
                    format!("node {me} is rebuilding; the change waits until the rebuild is done"),
                ));
            }
            if p.aborted.contains(&hex(new_ref.hash)) {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!("the change to topology {new_ref} was aborted on node {me}; apply it again to retry it"),
                ));
            }
            let previous = p.previous.as_ref().and_then(|r| state::parse_ref(r).ok());
            let joining = cur_ref == new_ref && old_t.node(&me).is_none() && previous.is_none();
            if cur_ref == new_ref && !joining {
                return Ok(false); // finished here already
            }
            if cur_ref != old_ref && !joining {
                return Err(refuse(
                    ErrorCode::TopologyMismatch,
                    format!(
                        "node {me} has adopted topology {cur_ref}, not {old_ref} which the change starts from"
                    ),
                ));
            }
            if new_t.version() <= old_t.version() || new_t.cluster() != old_t.cluster() {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!(
                        "the target must be a later version of cluster {:?} (got version {} of {:?} after version {})",
                        old_t.cluster(),
                        new_t.version(),
                        new_t.cluster(),
                        old_t.version()
                    ),
                ));
            }
            tracing::info!(from = %old_ref, to = %new_ref, "rebalance prepared: writing to the owners of both topologies");
            p.current = old_t.to_toml();
            p.target = Some(new_t.to_toml());
            p.phase = "prepared".into();
            if p.job.as_ref().is_none_or(|j| j.kind() == JobKind::Rebalance) {
                p.job = Some(PersistedJob::new(JobKind::Rebalance, new_ref));
            }
            Ok(true)
        })
    }

    /// Reads from the target's owners from now on (idempotent).
    pub(crate) fn commit(&self, target: TopologyRef) -> Result<(), ErrorResponse> {
        let me = self.node_id().to_string();
        self.transition(|p| {
            let cur = Topology::parse(&p.current)
                .map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
            if tref_of(&cur) == target {
                return Ok(false);
            }
            let Some(t) = &p.target else {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!("node {me} is not rebalancing to topology {target}"),
                ));
            };
            let t = Topology::parse(t).map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
            if tref_of(&t) != target {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!(
                        "node {me} is rebalancing to topology {}, not {target}",
                        tref_of(&t)
                    ),
                ));
            }
            if p.phase == "committed" {
                return Ok(false);
            }
            tracing::info!(to = %target, "rebalance committed: reading from the new owners");
            p.phase = "committed".into();
            Ok(true)
        })
    }

    /// Gives up the change to `target` (refused once committed).
    pub(crate) fn abort(&self, target: TopologyRef) -> Result<(), ErrorResponse> {
        let me = self.node_id().to_string();
        self.transition(|p| {
            let Some(t) = &p.target else {
                return Ok(false);
            };
            let t = Topology::parse(t).map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
            if tref_of(&t) != target {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!("node {me} is rebalancing to topology {}, not {target}", tref_of(&t)),
                ));
            }
            if p.phase == "committed" {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!("node {me} has committed the change to {target}; it can only finish"),
                ));
            }
            tracing::warn!(to = %target, "rebalance aborted: back to the current topology; streamed data this node does not own is deleted");
            p.target = None;
            p.phase = "stable".into();
            p.aborted.push(hex(target.hash));
            if p.job.as_ref().is_some_and(|j| j.kind() == JobKind::Rebalance) {
                p.job = None;
            }
            p.purge_pending = true;
            Ok(true)
        })?;
        if self
            .rebalance
            .progress()
            .as_ref()
            .is_some_and(|p| p.kind == JobKind::Rebalance)
        {
            *self.rebalance.progress() = None;
        }
        Ok(())
    }

    /// Makes the target the current topology (every node has committed).
    fn finish(&self, target: TopologyRef) -> Result<(), ErrorResponse> {
        self.transition(|p| {
            let Some(t) = p.target.clone() else {
                return Ok(false);
            };
            let tt = Topology::parse(&t).map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
            if tref_of(&tt) != target || p.phase != "committed" {
                return Ok(false);
            }
            let cur = Topology::parse(&p.current)
                .map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
            let old = tref_of(&cur);
            tracing::info!(from = %old, to = %target, "rebalance finished: the new topology is adopted");
            p.previous = Some((old.version, hex(old.hash)));
            p.current = t;
            p.target = None;
            p.phase = "stable".into();
            p.purge_pending = true;
            Ok(true)
        })
    }

    /// Starts a rebuild of this node (refused while a change or another job runs).
    pub(crate) fn request_rebuild(&self) -> Result<(), ErrorResponse> {
        let me = self.node_id().to_string();
        self.transition(|p| {
            if p.target.is_some() {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    format!("node {me} is rebalancing; rebuild it after the change finishes"),
                ));
            }
            if p.job
                .as_ref()
                .is_some_and(|j| j.kind() == JobKind::Rebuild && !j.finished)
            {
                return Ok(false);
            }
            let cur = Topology::parse(&p.current)
                .map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
            tracing::info!(
                "rebuild requested: this node refills every range it owns from its peers"
            );
            p.job = Some(PersistedJob::new(JobKind::Rebuild, tref_of(&cur)));
            Ok(true)
        })
    }

    /// Records a verified range of the job (persisted: a restart skips it).
    pub(crate) fn job_range_done(&self, r: floe_wire::proto::RingRange) -> Result<(), String> {
        let rb = &self.rebalance;
        let mut p = rb.lock();
        let Some(job) = p.job.as_mut() else {
            return Err("the job was cancelled".into());
        };
        if !job.is_done(r) {
            job.done.push((r.start, r.end));
        }
        state::save(&self.data_dir, &p)?;
        rb.ranges_verified.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Marks the job finished (persisted).
    pub(crate) fn job_finished(&self, kind: JobKind, topology: TopologyRef) -> Result<(), String> {
        let rb = &self.rebalance;
        let mut p = rb.lock();
        match p.job.as_mut() {
            Some(job) if job.is_for(kind, topology) => {
                job.finished = true;
                if kind == JobKind::Rebuild {
                    // Finished rebuilds are not resumed.
                    p.job = None;
                }
                state::save(&self.data_dir, &p)?;
                Ok(())
            }
            _ => Err("the job was cancelled".into()),
        }
    }

    /// The persisted job (a copy).
    pub(crate) fn persisted_job(&self) -> Option<PersistedJob> {
        self.rebalance.lock().job.clone()
    }

    /// Counts streamed data for `/metrics` and the progress.
    pub(crate) fn count_streamed(&self, samples: u64, bytes: u64) {
        let rb = &self.rebalance;
        rb.streamed_samples.fetch_add(samples, Ordering::Relaxed);
        rb.streamed_bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(p) = rb.progress().as_mut() {
            p.samples += samples;
            p.bytes += bytes;
        }
    }

    /// Counts a digest mismatch found while verifying.
    pub(crate) fn count_mismatch(&self) {
        self.rebalance
            .verify_mismatches
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The streaming throttle (bytes per second, 0 = none).
    pub(crate) fn max_bytes_per_s(&self) -> u64 {
        self.rebalance.max_bytes_per_s
    }

    /// Asks every member for its status (this node answers locally).
    pub(crate) async fn collect_status(
        self: &Arc<Self>,
        view: &View,
    ) -> Vec<(String, Result<RingStatus, String>)> {
        let mut tasks = Vec::new();
        for (i, m) in view.members.iter().enumerate() {
            if Some(i) == view.me {
                continue;
            }
            let (c, m) = (self.clone(), m.clone());
            tasks.push(tokio::spawn(async move {
                let res = c
                    .peers
                    .probe_within(&m, &Request::Ring(RingRequest::Status), STATUS_TIMEOUT)
                    .await;
                let res = match res {
                    Ok(Response::Ring(s)) => Ok(*s),
                    Ok(other) => Err(format!("unexpected answer {}", other.name())),
                    Err(e) => Err(e.to_string()),
                };
                (m.id, res)
            }));
        }
        let mut out = vec![(self.node_id().to_string(), Ok(self.local_ring_status()))];
        for t in tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Sends a ring request to member `id` (best effort; the driver retries).
    async fn send_ring(
        &self,
        view: &View,
        id: &str,
        req: RingRequest,
    ) -> Result<RingStatus, String> {
        let Some(node) = view.member(id).map(|i| &view.members[i]) else {
            return Err(format!("{id} is not a member"));
        };
        match self
            .peers
            .probe_within(node, &Request::Ring(req), STATUS_TIMEOUT)
            .await
        {
            Ok(Response::Ring(s)) => Ok(*s),
            Ok(other) => Err(format!("unexpected answer {}", other.name())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Starts the driver; it stops when `stop` turns true.
    pub(crate) fn start_rebalance(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (cluster, state) = (self.clone(), state.clone());
        tokio::spawn(async move {
            loop {
                cluster.tick(&state, &stop).await;
                // A retry timer, not a synchronisation: prepares and commits also wake it.
                tokio::select! {
                    _ = cluster.rebalance.wake.notified() => {}
                    _ = tokio::time::sleep(TICK) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
    }

    /// One look at the cluster: catch peers up, advance this node, start jobs and purges.
    async fn tick(self: &Arc<Self>, state: &Arc<AppState>, stop: &watch::Receiver<bool>) {
        let view = self.view();
        if let Some(target) = view.target.clone() {
            let t = target.tref;
            let old = view.current.tref;
            let statuses = self.collect_status(&view).await;
            // A node that finished the change has the target as current and the old one as
            // previous (a node waiting to join also has the target as current, but no
            // previous: it still needs the prepare).
            let finished = |s: &RingStatus| s.current == t && s.previous == Some(old);
            let at_target = |s: &RingStatus| finished(s) || s.target == Some(t);
            let mut all_prepared = true;
            let mut all_synced = true;
            let mut any_committed = false;
            let mut all_committed = true;
            for (id, res) in &statuses {
                let Ok(s) = res else {
                    all_prepared = false;
                    all_synced = false;
                    all_committed = false;
                    continue;
                };
                if !at_target(s) {
                    all_prepared = false;
                    all_synced = false;
                    all_committed = false;
                    if s.target.is_none() {
                        let req = RingRequest::Prepare {
                            old: view.current.topology.to_toml(),
                            new: target.topology.to_toml(),
                            force: false,
                        };
                        if let Err(e) = self.send_ring(&view, id, req).await {
                            tracing::debug!(peer = id, error = %e, "prepare not delivered yet");
                        }
                    }
                    continue;
                }
                let finished = finished(s);
                let committed = finished || s.phase == RingPhase::Committed;
                any_committed |= committed;
                all_committed &= committed;
                let synced = finished
                    || committed
                    || s.job
                        .as_ref()
                        .is_some_and(|j| j.kind == JobKind::Rebalance && j.done);
                all_synced &= synced;
            }
            match view.phase {
                RingPhase::Prepared => {
                    if all_prepared {
                        self.ensure_job(state, stop, JobKind::Rebalance);
                    }
                    if (any_committed || (all_prepared && all_synced))
                        && let Err(e) = self.commit(t)
                    {
                        tracing::warn!(error = %e, "cannot commit");
                    }
                }
                RingPhase::Committed => {
                    if all_committed {
                        if let Err(e) = self.finish(t) {
                            tracing::warn!(error = %e, "cannot finish the rebalance");
                        }
                    } else {
                        for (id, res) in &statuses {
                            if let Ok(s) = res
                                && s.target == Some(t)
                                && s.phase == RingPhase::Prepared
                                && let Err(e) = self
                                    .send_ring(&view, id, RingRequest::Commit { target: t })
                                    .await
                            {
                                tracing::debug!(peer = id, error = %e, "commit not delivered yet");
                            }
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        if self.rebalance.lock().purge_pending {
            self.purge_unowned(state).await;
        }
        if self
            .persisted_job()
            .is_some_and(|j| j.kind() == JobKind::Rebuild && !j.finished)
        {
            self.ensure_job(state, stop, JobKind::Rebuild);
        }
    }

    /// Starts the streaming job unless it runs (or finished).
    fn ensure_job(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        stop: &watch::Receiver<bool>,
        kind: JobKind,
    ) {
        if self
            .persisted_job()
            .is_some_and(|j| j.kind() == kind && j.finished)
        {
            let mut g = self.rebalance.progress();
            if g.is_none() {
                *g = Some(Progress {
                    kind,
                    ranges_total: 0,
                    ranges_done: 0,
                    samples: 0,
                    bytes: 0,
                    started: Instant::now(),
                    ranges_at_start: 0,
                    done: true,
                    error: None,
                });
            }
            return;
        }
        if self.rebalance.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let (cluster, state, stop) = (self.clone(), state.clone(), stop.clone());
        tokio::spawn(async move {
            cluster.run_job(&state, kind, stop).await;
            cluster.rebalance.running.store(false, Ordering::Release);
            cluster.rebalance.wake.notify_one();
        });
    }

    /// Deletes the series this node does not own (after a rebalance finished or aborted).
    async fn purge_unowned(self: &Arc<Self>, state: &Arc<AppState>) {
        let view = self.view();
        if view.target.is_some() {
            return;
        }
        let (engine, v) = (state.sink.engine().clone(), view.clone());
        let res = tokio::task::spawn_blocking(move || engine.purge(&|id| v.owns(id))).await;
        match res {
            Ok(Ok(report)) => {
                let rb = &self.rebalance;
                rb.purged_series
                    .fetch_add(report.series_dropped as u64, Ordering::Relaxed);
                rb.purged_samples
                    .fetch_add(report.samples_dropped, Ordering::Relaxed);
                tracing::info!(?report, "deleted the series this node no longer owns");
                let mut p = rb.lock();
                p.purge_pending = false;
                if let Err(e) = state::save(&self.data_dir, &p) {
                    tracing::error!(error = %e, "cannot save the ring state");
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "deleting unowned series failed; retrying"),
            Err(e) => tracing::error!(error = %e, "purge task failed; retrying"),
        }
    }

    /// Renders the rebalance metrics.
    pub(crate) fn render_rebalance_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let rb = &self.rebalance;
        let view = self.view();
        let phase = match view.reported_phase() {
            RingPhase::Stable => 0,
            RingPhase::Prepared => 1,
            RingPhase::Committed => 2,
            RingPhase::Removed => 3,
        };
        let progress = rb.progress().clone();
        let (total, done) = progress
            .as_ref()
            .map_or((0, 0), |p| (p.ranges_total, p.ranges_done));
        let counters: [(&str, &str, u64); 7] = [
            (
                "floe_rebalance_streamed_samples_total",
                "Samples received by rebalance and rebuild streaming.",
                rb.streamed_samples.load(Ordering::Relaxed),
            ),
            (
                "floe_rebalance_streamed_bytes_total",
                "Encoded bytes received by rebalance and rebuild streaming.",
                rb.streamed_bytes.load(Ordering::Relaxed),
            ),
            (
                "floe_rebalance_ranges_verified_total",
                "Ranges streamed and verified by digest.",
                rb.ranges_verified.load(Ordering::Relaxed),
            ),
            (
                "floe_rebalance_verify_mismatches_total",
                "Range digests that differed from a source's (the differing series are streamed again).",
                rb.verify_mismatches.load(Ordering::Relaxed),
            ),
            (
                "floe_rebalance_purged_series_total",
                "Series deleted because this node no longer owns them.",
                rb.purged_series.load(Ordering::Relaxed),
            ),
            (
                "floe_rebalance_purged_samples_total",
                "Samples deleted because this node no longer owns them.",
                rb.purged_samples.load(Ordering::Relaxed),
            ),
            (
                "floe_rebalance_phase_changes_total",
                "Phase changes of this node (prepare, commit, finish, abort).",
                rb.phase_changes.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let gauges: [(&str, &str, u64); 5] = [
            (
                "floe_rebalance_phase",
                "0 stable, 1 prepared, 2 committed, 3 removed.",
                phase,
            ),
            (
                "floe_rebalance_job_ranges",
                "Ranges of the running (or last) streaming job.",
                u64::from(total),
            ),
            (
                "floe_rebalance_job_ranges_done",
                "Ranges of that job verified.",
                u64::from(done),
            ),
            (
                "floe_topology_version",
                "Version of the adopted topology.",
                view.current.tref.version,
            ),
            (
                "floe_rebalance_target_version",
                "Version of the target topology (0: none).",
                view.target.as_ref().map_or(0, |t| t.tref.version),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
    }
}

// ---- the operators' side: HTTP admin endpoints call these on any node ----

impl Cluster {
    /// The status of every node, as the admin endpoint answers it.
    pub async fn admin_status(self: &Arc<Self>) -> serde_json::Value {
        let view = self.view();
        let statuses = self.collect_status(&view).await;
        status_json(self.node_id(), &view, &statuses)
    }

    /// Starts the change to the topology document `toml` on every node.
    pub async fn admin_apply(self: &Arc<Self>, toml: &str) -> Result<serde_json::Value, RingError> {
        let new = Topology::parse(toml)
            .map_err(|e| RingError::new(400, format!("invalid topology: {e}")))?;
        let view = self.view();
        let new_ref = tref_of(&new);
        if let Some(t) = &view.target {
            if t.tref != new_ref {
                return Err(RingError::new(
                    409,
                    format!(
                        "a rebalance to topology {} runs; wait for it or abort it first",
                        t.tref
                    ),
                ));
            }
        } else if view.current.tref == new_ref {
            return Err(RingError::new(
                409,
                format!("topology {new_ref} is already adopted"),
            ));
        } else {
            let cur = &view.current.topology;
            if new.cluster() != cur.cluster() {
                return Err(RingError::new(
                    400,
                    format!(
                        "the topology is of cluster {:?}, this cluster is {:?}",
                        new.cluster(),
                        cur.cluster()
                    ),
                ));
            }
            if new.version() != cur.version() + 1 {
                return Err(RingError::new(
                    400,
                    format!(
                        "the new topology must have version {} (the adopted one is {}), not {}",
                        cur.version() + 1,
                        cur.version(),
                        new.version()
                    ),
                ));
            }
            if new.replication_factor() != cur.replication_factor() {
                return Err(RingError::new(
                    400,
                    "changing the replication factor is not supported by a rebalance",
                ));
            }
            let old_toml = cur.to_toml();
            self.prepare(&old_toml, &new.to_toml(), true)
                .map_err(|e| RingError::new(409, e.message))?;
            let view = self.view();
            for m in &view.members {
                if m.id == self.node_id() {
                    continue;
                }
                let req = RingRequest::Prepare {
                    old: old_toml.clone(),
                    new: new.to_toml(),
                    force: true,
                };
                if let Err(e) = self.send_ring(&view, &m.id, req).await {
                    tracing::warn!(peer = m.id, error = %e, "prepare not delivered; the driver retries");
                }
            }
        }
        Ok(self.admin_status().await)
    }

    /// Aborts the running change on every node (refused once any node committed).
    pub async fn admin_abort(self: &Arc<Self>) -> Result<serde_json::Value, RingError> {
        let view = self.view();
        let Some(t) = view.target.clone() else {
            return Err(RingError::new(409, "no rebalance runs"));
        };
        let statuses = self.collect_status(&view).await;
        for (id, res) in &statuses {
            if let Ok(s) = res
                && ((s.current == t.tref && s.previous == Some(view.current.tref))
                    || s.phase == RingPhase::Committed)
            {
                return Err(RingError::new(
                    409,
                    format!(
                        "node {id} has committed the change to {}; it can only finish",
                        t.tref
                    ),
                ));
            }
        }
        // The peers first (this node's view changes with its own abort), then this node.
        let mut failed = Vec::new();
        for m in view.members.iter().filter(|m| m.id != self.node_id()) {
            let res = self
                .send_ring(&view, &m.id, RingRequest::Abort { target: t.tref })
                .await;
            if let Err(e) = res {
                failed.push(format!("{}: {e}", m.id));
            }
        }
        if let Err(e) = self.abort(t.tref) {
            failed.push(format!("{}: {e}", self.node_id()));
        }
        if !failed.is_empty() {
            return Err(RingError::new(
                503,
                format!(
                    "aborted where reachable; not on {} (run the abort again)",
                    failed.join("; ")
                ),
            ));
        }
        Ok(self.admin_status().await)
    }

    /// Starts a rebuild of node `id`.
    pub async fn admin_rebuild(self: &Arc<Self>, id: &str) -> Result<serde_json::Value, RingError> {
        let view = self.view();
        if view.current.ring.node_index(id).is_none() {
            return Err(RingError::new(
                404,
                format!("node {id:?} is not in the topology"),
            ));
        }
        if id == self.node_id() {
            self.request_rebuild()
                .map_err(|e| RingError::new(409, e.message))?;
            self.rebalance.wake.notify_one();
        } else {
            self.send_ring(&view, id, RingRequest::Rebuild)
                .await
                .map_err(|e| {
                    RingError::new(if e.contains("bad_request") { 409 } else { 503 }, e)
                })?;
        }
        Ok(self.admin_status().await)
    }
}

/// The admin status document (`docs/rebalance.md`, "Live commands").
fn status_json(
    me: &str,
    view: &View,
    statuses: &[(String, Result<RingStatus, String>)],
) -> serde_json::Value {
    let tref = |t: TopologyRef| serde_json::json!({"version": t.version, "hash": hex(t.hash)});
    let nodes: Vec<serde_json::Value> = statuses
        .iter()
        .map(|(id, res)| match res {
            Ok(s) => {
                let job = s.job.as_ref();
                let phase = match (s.phase, job) {
                    (_, Some(j)) if j.kind == JobKind::Rebuild && !j.done => "rebuilding",
                    (RingPhase::Prepared, Some(j)) if j.done => "synced",
                    (RingPhase::Prepared, Some(j)) if j.ranges_total > 0 => "streaming",
                    (p, _) => p.as_str(),
                };
                serde_json::json!({
                    "id": id,
                    "reachable": true,
                    "error": job.and_then(|j| j.error.clone()),
                    "phase": phase,
                    "current_version": s.current.version,
                    "target_version": s.target.map(|t| t.version),
                    "job": job.map(|j| state::job_kind_str(j.kind)),
                    "ranges_total": job.map_or(0, |j| j.ranges_total),
                    "ranges_done": job.map_or(0, |j| j.ranges_done),
                    "samples": job.map_or(0, |j| j.samples),
                    "bytes": job.map_or(0, |j| j.bytes),
                    "samples_per_s": job.map_or(0.0, |j| j.samples_per_s),
                    "bytes_per_s": job.map_or(0.0, |j| j.bytes_per_s),
                    "eta_s": job.and_then(|j| j.eta_ms).map(|ms| ms as f64 / 1000.0),
                })
            }
            Err(e) => serde_json::json!({
                "id": id,
                "reachable": false,
                "error": e,
                "phase": "unknown",
                "current_version": null,
                "target_version": null,
                "job": null,
                "ranges_total": 0,
                "ranges_done": 0,
                "samples": 0,
                "bytes": 0,
                "samples_per_s": 0.0,
                "bytes_per_s": 0.0,
                "eta_s": null,
            }),
        })
        .collect();
    serde_json::json!({
        "node": me,
        "state": if view.target.is_some() { "rebalancing" } else { "stable" },
        "current": tref(view.current.tref),
        "target": view.target.as_ref().map(|t| tref(t.tref)),
        "nodes": nodes,
    })
}
