//! Errors of query parsing and evaluation, with the Prometheus error type each maps to.

/// A storage failure while a query read its series.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    /// What failed, for the user.
    pub message: String,
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query or one of its parameters is malformed (Prometheus `bad_data`, HTTP 400).
    #[error("{0}")]
    BadData(String),
    /// The query names a function Floe does not evaluate (`bad_data`, HTTP 400).
    #[error("function {name:?} is not supported by Floe")]
    UnsupportedFunction {
        /// The function's name as written.
        name: String,
    },
    /// The query uses a feature Floe does not evaluate (`bad_data`, HTTP 400).
    #[error("{feature} is not supported by Floe")]
    Unsupported {
        /// What is not supported.
        feature: String,
    },
    /// A limit was exceeded (`execution`, HTTP 422).
    #[error("query exceeded the limit {limit} = {max}: {detail}")]
    Limit {
        /// Name of the limit as configured (`max_series`, `max_samples`, `max_points`).
        limit: &'static str,
        /// The limit's value.
        max: usize,
        /// What the query tried to do.
        detail: String,
    },
    /// The evaluation took longer than the query timeout (`timeout`, HTTP 503).
    #[error("query timed out after {after_ms} ms (limit query_timeout)")]
    Timeout {
        /// The timeout in milliseconds.
        after_ms: u64,
    },
    /// An error of the expression's evaluation, e.g. duplicate series on one side of a
    /// one-to-one match (`execution`, HTTP 422).
    #[error("{0}")]
    Execution(String),
    /// Storage failed (`internal`, HTTP 500).
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Too few replicas answered to read at the requested consistency (`unavailable`, HTTP
    /// 503; retryable).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl QueryError {
    /// The `errorType` of the Prometheus API response.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_)
            | QueryError::UnsupportedFunction { .. }
            | QueryError::Unsupported { .. } => "bad_data",
            QueryError::Limit { .. } | QueryError::Execution(_) => "execution",
            QueryError::Timeout { .. } => "timeout",
            QueryError::Storage(_) => "internal",
            QueryError::Unavailable(_) => "unavailable",
        }
    }

    /// The HTTP status Prometheus answers with for this error type.
    pub fn http_status(&self) -> u16 {
        match self.error_type() {
            "bad_data" => 400,
            "execution" => 422,
            "timeout" | "unavailable" => 503,
            _ => 500,
        }
    }
}
