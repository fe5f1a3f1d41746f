//! The on-demand repair job (`floectl repair`, `POST /api/v1/admin/repair`): compares every
//! replica of every ring range (or of the ranges asked for, or of one node's ranges) and
//! repairs what differs, with progress. Any node can run it; it need not own the ranges.
//!
//! For a range owned by `o0, o1, …, ok`, the pairs compared are `(o0, o1) … (o0, ok)` and then,
//! with more than two owners, again `(o0, o1) … (o0, ok)`: after the first pass `o0` holds
//! the union of every copy, the second brings every other owner up to it (a pair already
//! equal costs one digest per side). With `node = X`, the pairs are `(X, other owner)` of X's
//! ranges, once: X ends with the union, each other owner with its copy and X's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use floe_ring::TokenRange;
use floe_wire::proto::RingRange;
use serde::Serialize;

use super::compare::{PairReport, Side, Throttle};
use super::lock;
use crate::cluster::Cluster;
use crate::server::AppState;

/// Ranges compared in one step of the job (a step is one pair, at most this many ranges).
const STEP_RANGES: usize = 16;

/// What an operator asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct RepairRequest {
    /// Only ring ranges overlapping one of these (none: all).
    pub(crate) ranges: Vec<RingRange>,
    /// Only the ranges of this node, compared against their other owners.
    pub(crate) node: Option<String>,
    /// Compare and count only.
    pub(crate) dry_run: bool,
}

/// A repair job's progress, as `GET /api/v1/admin/repair/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JobState {
    /// Increases with each job this node ran since it started.
    pub(crate) id: u64,
    /// `running`, `done` or `failed` (some comparisons failed; the rest ran).
    pub(crate) state: &'static str,
    /// Compare only.
    pub(crate) dry_run: bool,
    /// Range × pair comparisons to run.
    pub(crate) ranges_total: u64,
    /// … and run.
    pub(crate) ranges_done: u64,
    /// Samples covered by the digests compared.
    pub(crate) compared_samples: u64,
    /// Series (per partition) that differed.
    pub(crate) differing_series: u64,
    /// Samples stored to repair them.
    pub(crate) repaired_samples: u64,
    /// Bytes exchanged with nodes.
    pub(crate) bytes: u64,
    /// Seconds since the job started.
    pub(crate) elapsed_s: f64,
    /// Comparisons that failed, with why (at most 20 kept).
    pub(crate) errors: Vec<String>,
    #[serde(skip)]
    started: Option<Instant>,
}

impl JobState {
    fn count(&mut self, r: &PairReport, ranges: usize) {
        self.ranges_done += ranges as u64;
        self.compared_samples += r.compared_samples;
        self.differing_series += r.differing_series;
        self.repaired_samples += r.repaired[0] + r.repaired[1];
        self.bytes += r.bytes;
    }

    /// The state with `elapsed_s` brought up to date.
    pub(crate) fn snapshot(&self) -> JobState {
        let mut s = self.clone();
        if s.state == "running"
            && let Some(t) = s.started
        {
            s.elapsed_s = t.elapsed().as_secs_f64();
        }
        s
    }
}

/// Whether two ring ranges share a position.
pub(crate) fn overlaps(a: RingRange, b: RingRange) -> bool {
    let ta = TokenRange {
        start: a.start,
        end: a.end,
    };
    let tb = TokenRange {
        start: b.start,
        end: b.end,
    };
    ta.contains(b.end) || tb.contains(a.end)
}

/// The comparisons of a job: `(side a, side b, ranges)` in order.
type Steps = Vec<(String, String, Vec<RingRange>)>;

impl Cluster {
    /// Plans the comparisons of `req` on the current read ring.
    fn repair_steps(&self, req: &RepairRequest) -> Result<Steps, String> {
        let view = self.view();
        let rv = view.read_ring();
        let only = match &req.node {
            Some(id) => Some(rv.ring.node_index(id).ok_or_else(|| {
                format!("node {id:?} is not in topology version {}", rv.tref.version)
            })?),
            None => None,
        };
        let mut pairs: BTreeMap<(u32, String, String), Vec<RingRange>> = BTreeMap::new();
        for (range, owners) in rv.ring.ranges() {
            let r = RingRange {
                start: range.start,
                end: range.end,
            };
            if !req.ranges.is_empty() && !req.ranges.iter().any(|&x| overlaps(x, r)) {
                continue;
            }
            let id = |i: usize| rv.ring.node_id(owners[i]).to_string();
            match only {
                Some(x) => {
                    if !owners.contains(&x) {
                        continue;
                    }
                    for &o in owners.iter().filter(|&&o| o != x) {
                        let key = (
                            0,
                            rv.ring.node_id(x).to_string(),
                            rv.ring.node_id(o).to_string(),
                        );
                        pairs.entry(key).or_default().push(r);
                    }
                }
                None => {
                    let k = owners.len();
                    for i in 1..k {
                        pairs.entry((0, id(0), id(i))).or_default().push(r);
                    }
                    if k > 2 {
                        for i in 1..k {
                            pairs.entry((1, id(0), id(i))).or_default().push(r);
                        }
                    }
                }
            }
        }
        Ok(pairs
            .into_iter()
            .flat_map(|((_, a, b), ranges)| {
                ranges
                    .chunks(STEP_RANGES)
                    .map(|c| (a.clone(), b.clone(), c.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    /// Starts a repair job; refused while one runs.
    pub(crate) fn start_repair_job(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        req: RepairRequest,
    ) -> Result<JobState, String> {
        let steps = self.repair_steps(&req)?;
        let job = {
            let mut slot = lock(&self.entropy.job);
            if let Some(j) = slot.as_ref()
                && j.state == "running"
            {
                return Err(format!("repair job {} is still running", j.id));
            }
            let job = JobState {
                id: slot.as_ref().map_or(1, |j| j.id + 1),
                state: "running",
                dry_run: req.dry_run,
                ranges_total: steps.iter().map(|s| s.2.len() as u64).sum(),
                ranges_done: 0,
                compared_samples: 0,
                differing_series: 0,
                repaired_samples: 0,
                bytes: 0,
                elapsed_s: 0.0,
                errors: Vec::new(),
                started: Some(Instant::now()),
            };
            *slot = Some(job.clone());
            job
        };
        tracing::info!(
            job = job.id,
            comparisons = job.ranges_total,
            dry_run = req.dry_run,
            "repair job started"
        );
        let (cluster, state) = (self.clone(), state.clone());
        tokio::spawn(async move { cluster.run_repair_job(&state, steps, req.dry_run).await });
        Ok(job)
    }

    async fn run_repair_job(self: Arc<Self>, state: &Arc<AppState>, steps: Steps, dry_run: bool) {
        let mut throttle = Throttle::new(self.settings.anti_entropy_max_bytes_per_s);
        let me = self.node_id().to_string();
        let view = self.view();
        let side = |id: &str| -> Option<Side> {
            if id == me {
                return Some(Side::Local);
            }
            view.members
                .iter()
                .find(|m| m.id == id)
                .map(|n| Side::Peer(n.clone()))
        };
        let mut failed = false;
        for (a, b, ranges) in steps {
            let n = ranges.len();
            let outcome = match (side(&a), side(&b)) {
                (Some(sa), Some(sb)) => {
                    let mut scope = self.entropy_scope(state, ranges, None);
                    scope.dry_run = dry_run;
                    self.compare_pair(state, [&sa, &sb], &scope, &mut throttle)
                        .await
                }
                _ => Err(format!("{a} or {b} is not a member any more")),
            };
            let mut slot = lock(&self.entropy.job);
            let Some(job) = slot.as_mut() else { return };
            match outcome {
                Ok(r) => {
                    self.entropy.record(&r);
                    job.count(&r, n);
                }
                Err(e) => {
                    failed = true;
                    job.ranges_done += n as u64;
                    if job.errors.len() < 20 {
                        job.errors.push(format!("{a} ↔ {b}: {e}"));
                    }
                    tracing::warn!(a, b, error = %e, "repair job: a comparison failed");
                }
            }
        }
        let mut slot = lock(&self.entropy.job);
        if let Some(job) = slot.as_mut() {
            job.state = if failed { "failed" } else { "done" };
            if let Some(t) = job.started {
                job.elapsed_s = t.elapsed().as_secs_f64();
            }
            tracing::info!(
                job = job.id,
                state = job.state,
                differing_series = job.differing_series,
                repaired_samples = job.repaired_samples,
                "repair job finished"
            );
        }
    }

    /// The last (or running) repair job.
    pub(crate) fn repair_job(&self) -> Option<JobState> {
        lock(&self.entropy.job).as_ref().map(JobState::snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_of_circular_ranges() {
        let r = |start, end| RingRange { start, end };
        assert!(overlaps(r(0, 10), r(5, 20)));
        assert!(overlaps(r(5, 20), r(0, 10)));
        assert!(!overlaps(r(0, 10), r(10, 20)));
        assert!(overlaps(r(u64::MAX - 3, 2), r(1, 5)));
        assert!(overlaps(r(7, 7), r(100, 200)));
        assert!(overlaps(r(0, 100), r(20, 30)));
        assert!(!overlaps(r(0, 100), r(200, 300)));
    }
}
