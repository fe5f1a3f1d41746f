//! Anti-entropy: replicas compare digests per (token range, time partition), drill down a
//! tree (set of ranges → range → sub-range → series) to the series that differ without
//! sending data, and exchange exactly the samples one side lacks, merged by the merge rule.
//!
//! Every node runs rounds every `[cluster] anti_entropy_interval`: for each peer that shares
//! ranges with it and whose id sorts after its own (so each pair is compared by one of its
//! two nodes), it compares all the shared ranges (`compare.rs`). A round is skipped while a
//! topology change runs (the rebalance verifies its own streams). On demand, an operator runs
//! a repair job over every replica of every range (or of some ranges) through any node
//! (`job.rs`, `floectl repair`). See `docs/anti-entropy.md`.

pub(crate) mod compare;
pub(crate) mod digest;
pub(crate) mod job;
pub(crate) mod serve;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use floe_ring::{NodeIndex, Ring};
use floe_wire::proto::{ErrorCode, ErrorResponse, RingPhase, RingRange, TreeDigestRequest};
use tokio::sync::watch;

use self::compare::{PairReport, Scope, Side, Throttle};
use super::Cluster;
use crate::engine::{MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};
use crate::server::AppState;

/// Anti-entropy counters and the on-demand repair job.
#[derive(Debug, Default)]
pub(crate) struct Entropy {
    stats: Mutex<Stats>,
    pub(crate) job: Mutex<Option<job::JobState>>,
}

#[derive(Debug, Default, Clone)]
struct Stats {
    rounds: u64,
    pairs: u64,
    errors: u64,
    total: PairReport,
    last_round_s: f64,
    last_round_unix_s: f64,
    peers_out_of_sync: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Entropy {
    /// Counts one comparison's outcome (background rounds and repair jobs alike).
    pub(crate) fn record(&self, r: &PairReport) {
        let mut s = lock(&self.stats);
        s.pairs += 1;
        s.total.add(r);
    }

    fn error(&self) {
        lock(&self.stats).errors += 1;
    }

    /// Renders the `floe_ae_*` families.
    pub(crate) fn render(&self, out: &mut String) {
        let s = lock(&self.stats).clone();
        let counters: [(&str, &str, u64); 8] = [
            (
                "floe_ae_rounds_total",
                "Anti-entropy rounds run by this node.",
                s.rounds,
            ),
            (
                "floe_ae_comparisons_total",
                "Replica pairs compared (rounds and repair jobs).",
                s.pairs,
            ),
            (
                "floe_ae_errors_total",
                "Comparisons that failed (a peer unreachable or an error answer).",
                s.errors,
            ),
            (
                "floe_ae_compared_samples_total",
                "Samples covered by the digests compared (the larger side of each pair).",
                s.total.compared_samples,
            ),
            (
                "floe_ae_bytes_total",
                "Encoded bytes of anti-entropy requests and answers exchanged with peers.",
                s.total.bytes,
            ),
            (
                "floe_ae_requests_total",
                "Anti-entropy requests sent to peers.",
                s.total.requests,
            ),
            (
                "floe_ae_differing_buckets_total",
                "Time partitions whose top digests differed between two replicas.",
                s.total.differing_buckets,
            ),
            (
                "floe_ae_differing_series_total",
                "Series (per time partition) found to differ between two replicas.",
                s.total.differing_series,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let name = "floe_ae_repaired_samples_total";
        let _ = writeln!(
            out,
            "# HELP {name} Samples stored by anti-entropy repairs, by side of the comparison \
             (a: the comparing node or the first owner, b: the other replica).\n\
             # TYPE {name} counter\n{name}{{side=\"a\"}} {}\n{name}{{side=\"b\"}} {}",
            s.total.repaired[0], s.total.repaired[1]
        );
        let gauges: [(&str, &str, f64); 3] = [
            (
                "floe_ae_last_round_seconds",
                "Duration of the last anti-entropy round.",
                s.last_round_s,
            ),
            (
                "floe_ae_last_round_timestamp_seconds",
                "When the last anti-entropy round ended (Unix seconds).",
                s.last_round_unix_s,
            ),
            (
                "floe_ae_peers_out_of_sync",
                "Peers whose shared ranges differed in the last round.",
                s.peers_out_of_sync as f64,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
    }
}

impl Cluster {
    /// The oldest timestamp anti-entropy compares: the start of the partition after the one
    /// retention is about to drop, so replicas that drop it a moment apart do not "repair"
    /// expired data back.
    pub(crate) fn entropy_floor(&self, state: &AppState) -> i64 {
        let cfg = state.sink.engine().config();
        let retention = i64::try_from(cfg.raw_retention.as_millis()).unwrap_or(i64::MAX);
        let oldest = now_ms().saturating_sub(retention);
        if oldest <= MIN_TIMESTAMP_MS {
            return MIN_TIMESTAMP_MS;
        }
        cfg.partition_of(oldest).saturating_add(cfg.partition_ms)
    }

    /// The scope of a comparison of `ranges` over everything retained (`shared`: the two
    /// nodes whose shared ranges `ranges` are, all of them).
    pub(crate) fn entropy_scope(
        &self,
        state: &AppState,
        ranges: Vec<RingRange>,
        shared: Option<[String; 2]>,
    ) -> Scope {
        Scope {
            shared,
            ranges,
            start: self.entropy_floor(state),
            end: MAX_TIMESTAMP_MS,
            bucket_ms: state.sink.engine().config().partition_ms,
            dry_run: false,
        }
    }

    /// Starts the background rounds (unless `anti_entropy_interval` is 0).
    pub(crate) fn start_entropy(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        mut stop: watch::Receiver<bool>,
    ) {
        let interval = self.settings.anti_entropy_interval;
        if interval.is_zero() {
            tracing::info!("anti-entropy is off (cluster.anti_entropy_interval = 0)");
            return;
        }
        let (cluster, state) = (self.clone(), state.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => return,
                }
                if *stop.borrow() {
                    return;
                }
                cluster.entropy_round(&state).await;
            }
        });
    }

    /// The ranges this node shares with each peer it compares with (those whose id sorts
    /// after its own), from the current topology.
    fn entropy_pairs(&self) -> Option<BTreeMap<String, (floe_ring::Node, Vec<RingRange>)>> {
        let view = self.view();
        if view.phase != RingPhase::Stable || view.target.is_some() {
            return None;
        }
        let rv = &view.current;
        let me = rv.me?;
        let my_id = rv.ring.node_id(me);
        let mut pairs = BTreeMap::new();
        for i in 0..rv.ring.node_count() {
            let o = floe_ring::NodeIndex(i as u32);
            let id = rv.ring.node_id(o);
            if o == me || id < my_id {
                continue;
            }
            let shared = shared_ranges(&rv.ring, me, o);
            if !shared.is_empty() {
                pairs.insert(id.to_string(), (rv.ring.node(o).clone(), shared));
            }
        }
        Some(pairs)
    }

    /// `req` with its ranges filled in when it names the node they are shared with.
    pub(crate) fn resolve_tree(
        &self,
        mut req: TreeDigestRequest,
    ) -> Result<TreeDigestRequest, ErrorResponse> {
        let Some(other) = req.shared_with.take() else {
            return Ok(req);
        };
        let bad = |message: String| ErrorResponse {
            code: ErrorCode::BadRequest,
            message,
        };
        if !req.ranges.is_empty() {
            return Err(bad(
                "a tree digest names either ranges or shared_with, not both".into(),
            ));
        }
        let view = self.view();
        let rv = &view.current;
        let me = rv
            .me
            .ok_or_else(|| bad("this node holds no ranges in its topology".into()))?;
        let o = rv.ring.node_index(&other).ok_or_else(|| {
            bad(format!(
                "shared_with: node {other:?} is not in topology version {}",
                rv.tref.version
            ))
        })?;
        req.ranges = shared_ranges(&rv.ring, me, o);
        if req.ranges.is_empty() {
            return Err(bad(format!("this node shares no range with {other}")));
        }
        Ok(req)
    }

    /// One round: compares this node's shared ranges with each peer in turn and repairs.
    pub(crate) async fn entropy_round(self: &Arc<Self>, state: &Arc<AppState>) {
        let Some(pairs) = self.entropy_pairs() else {
            tracing::debug!("anti-entropy round skipped: a topology change runs");
            return;
        };
        let began = Instant::now();
        let mut throttle = Throttle::new(self.settings.anti_entropy_max_bytes_per_s);
        let mut out_of_sync = 0;
        let me = self.node_id().to_string();
        for (peer, (node, ranges)) in pairs {
            let scope = self.entropy_scope(state, ranges, Some([me.clone(), peer.clone()]));
            let sides = [&Side::Local, &Side::Peer(node)];
            match self.compare_pair(state, sides, &scope, &mut throttle).await {
                Ok(r) => {
                    self.entropy.record(&r);
                    if r.differing_buckets > 0 {
                        out_of_sync += 1;
                    }
                    if r.repaired != [0, 0] {
                        tracing::info!(
                            peer,
                            differing_series = r.differing_series,
                            stored_here = r.repaired[0],
                            stored_on_peer = r.repaired[1],
                            "anti-entropy repaired replicas"
                        );
                    } else {
                        tracing::debug!(
                            peer,
                            samples = r.compared_samples,
                            bytes = r.bytes,
                            "anti-entropy: in sync"
                        );
                    }
                }
                Err(e) => {
                    self.entropy.error();
                    tracing::warn!(peer, error = %e, "anti-entropy comparison failed; the next round retries");
                }
            }
        }
        let mut s = lock(&self.entropy.stats);
        s.rounds += 1;
        s.last_round_s = began.elapsed().as_secs_f64();
        s.last_round_unix_s = now_ms() as f64 / 1000.0;
        s.peers_out_of_sync = out_of_sync;
    }
}

/// The ranges of `ring` that nodes `a` and `b` both hold, in ring order.
pub(crate) fn shared_ranges(ring: &Ring, a: NodeIndex, b: NodeIndex) -> Vec<RingRange> {
    ring.ranges()
        .filter(|(_, owners)| owners.contains(&a) && owners.contains(&b))
        .map(|(r, _)| RingRange {
            start: r.start,
            end: r.end,
        })
        .collect()
}
