//! The evaluator (being written).

use crate::{QueryError, QueryOptions, QueryValue, Storage};

/// What one evaluation read from storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Series selected, summed over the query's selectors.
    pub series: usize,
    /// Samples loaded, summed over the query's selectors.
    pub samples: usize,
}

pub(crate) fn instant(
    _storage: &dyn Storage,
    query: &str,
    _time_ms: i64,
    _opts: &QueryOptions,
) -> Result<(QueryValue, QueryStats), QueryError> {
    crate::parse(query)?;
    Err(QueryError::Unsupported {
        feature: "evaluation (not yet written)".into(),
    })
}

pub(crate) fn range(
    _storage: &dyn Storage,
    query: &str,
    _start_ms: i64,
    _end_ms: i64,
    _step_ms: i64,
    _opts: &QueryOptions,
) -> Result<(QueryValue, QueryStats), QueryError> {
    crate::parse(query)?;
    Err(QueryError::Unsupported {
        feature: "evaluation (not yet written)".into(),
    })
}
