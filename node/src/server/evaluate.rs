//! Runs one PromQL evaluation on a query worker over the node's storage: the local engine on
//! a single node, the whole cluster ([`crate::cluster::ClusterStorage`]) on a cluster node.
//! Shared by the HTTP query API and the cluster protocol's query request.

use std::sync::Arc;
use std::time::Duration;

use floe_query::{QueryError, QueryOptions, QueryStats, QueryValue, Storage};
use floe_wire::proto::Consistency;

use super::AppState;
use crate::cluster::ClusterStorage;
use crate::query::{EngineStorage, QueryStorage};

/// An evaluation's answer and the series and samples it read.
pub(crate) type Evaluated = (Result<(QueryValue, QueryStats), QueryError>, (usize, usize));

/// Why an evaluation produced no answer.
#[derive(Debug)]
pub(crate) enum EvalFailure {
    /// Every worker is busy and the line is full.
    Busy(String),
    /// The worker died without an answer.
    Lost,
    /// The backstop timeout passed.
    Timeout {
        /// The query's timeout.
        after_ms: u64,
    },
}

/// The storage one evaluation reads through.
pub(crate) fn storage_for(
    state: &Arc<AppState>,
    opts: &QueryOptions,
    consistency: Option<Consistency>,
) -> Box<dyn QueryStorage> {
    match &state.cluster {
        Some(c) => {
            let level = consistency.unwrap_or(c.settings().read_consistency);
            Box::new(ClusterStorage::new(c.clone(), state.clone(), opts, level))
        }
        None => Box::new(EngineStorage::new(state.sink.engine().clone(), opts)),
    }
}

/// Evaluates `text` with `eval` on a query worker, within `opts.timeout` (time waiting for a
/// worker included).
pub(crate) async fn evaluate<F>(
    state: &Arc<AppState>,
    opts: QueryOptions,
    text: String,
    consistency: Option<Consistency>,
    eval: F,
) -> Result<Evaluated, EvalFailure>
where
    F: FnOnce(&dyn Storage, &str, &QueryOptions) -> Result<(QueryValue, QueryStats), QueryError>
        + Send
        + 'static,
{
    let budget = opts.timeout;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The deadline starts now, so time in line counts against the timeout.
    let storage = storage_for(state, &opts, consistency);
    let submitted = state.query_pool.submit(move || {
        let res = eval(storage.as_ref() as &dyn Storage, &text, &opts);
        let _ = tx.send((storage.finish_with(res), storage.touched()));
    });
    if let Err(e) = submitted {
        return Err(EvalFailure::Busy(e.to_string()));
    }
    // The evaluator and the storage adapter both watch the deadline; this is the backstop.
    match tokio::time::timeout(budget + Duration::from_secs(1), rx).await {
        Err(_) => Err(EvalFailure::Timeout {
            after_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        }),
        Ok(Err(_)) => Err(EvalFailure::Lost),
        Ok(Ok(done)) => Ok(done),
    }
}
