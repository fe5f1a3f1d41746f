//! `floe-query` evaluates PromQL with Prometheus's semantics over any storage that can select
//! series by label matchers and time range.
//!
//! Expressions are parsed with the `promql-parser` crate and evaluated here: selectors with the
//! lookback window and staleness markers, `offset` and `@`, subqueries, aggregations, binary
//! operators with vector matching, and the function library. A range query is evaluated for all
//! of its steps at once (each node of the expression yields one series of step-aligned points),
//! the way Prometheus's own engine does.
//!
//! It must never depend on `floe-node`, tokio or the network: the node (and later the cluster
//! coordinator) implements [`Storage`] and calls [`instant_query`] or [`range_query`].

mod error;
mod functions;
mod parse;
mod storage;
pub mod testing;
mod value;

pub use error::{QueryError, StorageError};
pub use parse::{EVAL_STACK_BYTES, MAX_QUERY_BYTES, MAX_QUERY_DEPTH, MAX_QUERY_OPERATORS, parse};
pub use storage::{LabelMatcher, MatchOp, RollupSeries, Storage};
pub use value::{InstantSample, Labels, QueryValue, RangeSeries, Series, is_stale_marker};

use std::time::Duration;

/// Name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// How many threads the machine can run at once, read once per process
/// (`available_parallelism` reads cgroup files on Linux: not something to do per query).
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Limits and settings of one query evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOptions {
    /// How far back an instant vector selector looks for a sample (Prometheus: 5 minutes).
    pub lookback_ms: i64,
    /// Most series one query may select from storage, summed over its selectors.
    pub max_series: usize,
    /// Most samples one query may load from storage, summed over its selectors.
    pub max_samples: usize,
    /// Most points (series × steps) any one intermediate or final result may hold.
    pub max_points: usize,
    /// Wall-clock budget of one evaluation.
    pub timeout: Duration,
    /// Most steps a range query may have, counted as `(end - start) / step` (one less than
    /// its points), as Prometheus counts them: it refuses more than 11,000.
    pub max_steps: usize,
    /// Prometheus 3's `promql-delayed-name-removal`: functions and operators that drop the
    /// metric name only mark their series, and the names go at the end of the evaluation, so
    /// `by (__name__)`, `on (__name__)` and `label_replace` still see them and the "same
    /// labelset" check runs on the final result. Off: Prometheus 2.42's semantics. See
    /// `docs/promql.md` for the one place it departs from Prometheus 3.
    pub delayed_name_removal: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            lookback_ms: 5 * 60 * 1000,
            max_series: 100_000,
            max_samples: 50_000_000,
            max_points: 50_000_000,
            timeout: Duration::from_secs(120),
            max_steps: 11_000,
            delayed_name_removal: false,
        }
    }
}

mod eval;

pub use eval::QueryStats;

/// Evaluates `query` at one instant (`time_ms`), as Prometheus's `/api/v1/query` does.
pub fn instant_query(
    storage: &dyn Storage,
    query: &str,
    time_ms: i64,
    opts: &QueryOptions,
) -> Result<(QueryValue, QueryStats), QueryError> {
    eval::instant(storage, query, time_ms, opts)
}

/// Evaluates `query` at every step from `start_ms` to `end_ms` (inclusive) as Prometheus's
/// `/api/v1/query_range` does; the result is always a [`QueryValue::Matrix`].
pub fn range_query(
    storage: &dyn Storage,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &QueryOptions,
) -> Result<(QueryValue, QueryStats), QueryError> {
    eval::range(storage, query, start_ms, end_ms, step_ms, opts)
}
