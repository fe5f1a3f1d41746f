//! Administrative endpoints: persist and compact on demand.
//!
//! `POST /api/v1/admin/flush` writes the in-memory head into blocks now (what floed otherwise
//! does every `flush_interval` or at `flush_max_samples`); `POST /api/v1/admin/compact` runs
//! one round of compaction, rollups and retention now. Both answer when the work is done, with
//! what it did, in the Prometheus API's JSON envelope. Benchmarks use them to measure the
//! bytes a data set takes at rest; operators use them before a backup or a planned stop.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::query_api::{ApiError, success};
use crate::engine::{Engine, EngineError};
use crate::server::AppState;

/// `POST /api/v1/admin/flush`.
pub(super) async fn flush(State(state): State<Arc<AppState>>) -> Response {
    maintain(&state, "flush", Engine::flush, |r| {
        format!(
            "{{\"blocks\":{},\"series\":{},\"samples\":{},\"walSegmentsRemoved\":{}}}",
            r.blocks, r.series, r.samples, r.wal_segments_removed
        )
    })
    .await
}

/// `POST /api/v1/admin/compact`.
pub(super) async fn compact(State(state): State<Arc<AppState>>) -> Response {
    maintain(&state, "compaction", Engine::compact, |r| {
        format!(
            "{{\"spansMerged\":{},\"blocksMerged\":{},\"rollupBlocks\":{},\"expired\":{},\"failedSpans\":{}}}",
            r.spans_merged, r.blocks_merged, r.rollup_blocks, r.expired, r.failed_spans
        )
    })
    .await
}

/// Runs `work` on a blocking thread and answers its report as `render` writes it.
async fn maintain<R: Send + 'static>(
    state: &AppState,
    what: &'static str,
    work: fn(&Engine) -> Result<R, EngineError>,
    render: fn(&R) -> String,
) -> Response {
    let engine = state.sink.engine().clone();
    match tokio::task::spawn_blocking(move || work(&engine)).await {
        Ok(Ok(report)) => {
            let data = render(&report);
            tracing::info!(report = %data, "{what} requested over HTTP done");
            success(&data)
        }
        Ok(Err(e)) => ApiError::internal(format!("{what} failed: {e}")).into_response(),
        Err(e) => ApiError::internal(format!("{what} task failed: {e}")).into_response(),
    }
}
