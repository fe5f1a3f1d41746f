//! PromQL over the whole cluster: the [`floe_query::Storage`] the evaluator reads through on
//! a cluster node. Each selection is sent to the owners (the selection itself — matchers and
//! time range — runs on every owner, which answers only the series it owns), the replicas'
//! samples are merged with the merge rule, and `quorum`/`all` reads repair the replicas that
//! differ. The query's limits and deadline are kept as on a single node.

use std::sync::Arc;

use floe_query::{
    LabelMatcher, MatchOp as QueryOp, QueryError, Series, Storage, StorageError, is_stale_marker,
};
use floe_wire::proto::{
    Consistency, ErrorCode, MatchOp as WireOp, Matcher as WireMatcher, SelectRequest,
};

use super::Cluster;
use super::read::merge_answers;
use crate::query::{EngineStorage, QueryStorage, labels_of};
use crate::server::AppState;

/// One query evaluation's reads over the cluster.
#[derive(Debug)]
pub(crate) struct ClusterStorage {
    cluster: Arc<Cluster>,
    state: Arc<AppState>,
    consistency: Consistency,
    handle: tokio::runtime::Handle,
    /// Limits and deadline (and the local engine, unused for reading here).
    budget: EngineStorage,
}

impl ClusterStorage {
    /// Reads for one evaluation with `opts`' limits, at `consistency`. Call from inside the
    /// runtime; the evaluation itself runs on a query worker thread.
    pub(crate) fn new(
        cluster: Arc<Cluster>,
        state: Arc<AppState>,
        opts: &floe_query::QueryOptions,
        consistency: Consistency,
    ) -> Self {
        let budget = EngineStorage::new(state.sink.engine().clone(), opts);
        Self {
            cluster,
            state,
            consistency,
            handle: tokio::runtime::Handle::current(),
            budget,
        }
    }

    fn request(&self, matchers: &[LabelMatcher], start: i64, end: i64) -> SelectRequest {
        let (series, samples) = self.budget.headroom();
        SelectRequest {
            topology: self.cluster.topology(),
            matchers: matchers.iter().map(wire_matcher).collect(),
            start,
            end,
            owned_only: true,
            max_series: series as u64,
            max_samples: samples as u64,
        }
    }
}

/// A query matcher as sent on the wire.
pub(crate) fn wire_matcher(m: &LabelMatcher) -> WireMatcher {
    WireMatcher {
        name: m.name.clone(),
        op: match m.op {
            QueryOp::Equal => WireOp::Equal,
            QueryOp::NotEqual => WireOp::NotEqual,
            QueryOp::Re => WireOp::Re,
            QueryOp::NotRe => WireOp::NotRe,
        },
        value: m.value.clone(),
    }
}

impl Storage for ClusterStorage {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let left = self.budget.remaining()?;
        let req = self.request(matchers, start_ms, end_ms);
        let engine = self.state.sink.engine().clone();
        let work = self.cluster.gather(&engine, req, true, self.consistency);
        let gathered = match self
            .handle
            .block_on(async { tokio::time::timeout(left, work).await })
        {
            Err(_) => {
                return Err(self.budget.remaining().err().unwrap_or(StorageError {
                    message: "query timed out reading from the cluster".into(),
                }));
            }
            Ok(Err(e)) => {
                return Err(match e.code {
                    ErrorCode::BadRequest => self.budget.refuse_bad_data(e.message),
                    ErrorCode::Limit => self
                        .budget
                        .refuse_limit(e.message.contains("series"), e.message),
                    ErrorCode::Unavailable | ErrorCode::Timeout | ErrorCode::TopologyMismatch => {
                        self.budget.refuse_unavailable(e.to_string())
                    }
                    _ => StorageError {
                        message: format!("cluster read failed: {e}"),
                    },
                });
            }
            Ok(Ok(g)) => g,
        };
        let merged = merge_answers(&gathered.answers);
        if self.consistency != Consistency::One {
            let _guard = self.handle.enter();
            self.cluster.spawn_repair(&self.state, gathered);
        }
        let samples: usize = merged.iter().map(|m| m.samples.len()).sum();
        self.budget.count(merged.len(), samples)?;
        Ok(merged
            .into_iter()
            .map(|m| {
                let points: Vec<(i64, f64)> = m.samples.iter().map(|s| (s.ts, s.value)).collect();
                let stale_markers = points.iter().any(|p| is_stale_marker(p.1));
                Series {
                    labels: labels_of(&m.key),
                    samples: points,
                    stale_markers,
                }
            })
            .collect())
    }
}

impl QueryStorage for ClusterStorage {
    fn touched(&self) -> (usize, usize) {
        self.budget.touched()
    }

    fn stopped(&self) -> Option<QueryError> {
        self.budget.stopped()
    }
}
