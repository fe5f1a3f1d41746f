//! What the evaluator needs from storage: series selected by label matchers and time range.

use floe_storage_format::rollup::RollupColumns;

use crate::error::StorageError;
use crate::value::{Labels, Series};

/// One series' rollup rows (per bucket: count, sum, min, max, first and last of its samples,
/// staleness markers excluded; `floe_storage_format::rollup` defines them).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Rows for the buckets that hold samples, in time order.
    pub rollup: RollupColumns,
}

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`, the regex anchored at both ends
    Re,
    /// `!~`, the regex anchored at both ends
    NotRe,
}

/// One label matcher of a selector, as written in the query. An absent label has the value
/// `""`, so `foo=""` selects series without `foo` (Prometheus's rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelMatcher {
    /// Label name (`__name__` for the metric name).
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value or regular expression (unanchored as written; anchoring is the storage's job).
    pub value: String,
}

/// A source of series for the evaluator.
///
/// Implementations return every series that matches all matchers and has samples in
/// `[start_ms, end_ms]` (both inclusive), with those samples sorted by timestamp, one per
/// timestamp, staleness markers included (the evaluator interprets them). A series with no
/// sample in the range may be returned with no samples or left out.
pub trait Storage: Sync {
    /// Selects series and their samples in `[start_ms, end_ms]`.
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, StorageError>;

    /// Rollup rows at `resolution_ms` of the series matching every matcher, for the buckets
    /// starting in `[start_ms, end_ms]`, when the storage holds the range (or part of it) only
    /// as rollups — raw samples past their retention. `None` (the default) means "use
    /// [`Storage::select`]": the raw samples are there and exact. Rows must be exactly the
    /// rollup of the samples the storage held (`floe_storage_format::rollup::rollup`).
    fn select_rollup(
        &self,
        _matchers: &[LabelMatcher],
        _resolution_ms: i64,
        _start_ms: i64,
        _end_ms: i64,
    ) -> Result<Option<Vec<RollupSeries>>, StorageError> {
        Ok(None)
    }
}
