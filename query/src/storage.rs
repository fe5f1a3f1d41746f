//! What the evaluator needs from storage: series selected by label matchers and time range.

use crate::error::StorageError;
use crate::value::Series;

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
}
