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
use crate::server::AppState;

/// `POST /api/v1/admin/flush`.
pub(super) async fn flush(State(state): State<Arc<AppState>>) -> Response {
    let engine = state.sink.engine().clone();
    let done = tokio::task::spawn_blocking(move || engine.flush()).await;
    match done {
        Ok(Ok(r)) => {
            tracing::info!(
                blocks = r.blocks,
                samples = r.samples,
                "flush requested over HTTP done"
            );
            success(&format!(
                "{{\"blocks\":{},\"series\":{},\"samples\":{},\"walSegmentsRemoved\":{}}}",
                r.blocks, r.series, r.samples, r.wal_segments_removed
            ))
        }
        Ok(Err(e)) => ApiError::internal(format!("flush failed: {e}")).into_response(),
        Err(e) => ApiError::internal(format!("flush task failed: {e}")).into_response(),
    }
}

/// `POST /api/v1/admin/compact`.
pub(super) async fn compact(State(state): State<Arc<AppState>>) -> Response {
    let engine = state.sink.engine().clone();
    let done = tokio::task::spawn_blocking(move || engine.compact()).await;
    match done {
        Ok(Ok(r)) => {
            tracing::info!(
                spans = r.spans_merged,
                rollups = r.rollup_blocks,
                "compaction requested over HTTP done"
            );
            success(&format!(
                "{{\"spansMerged\":{},\"blocksMerged\":{},\"rollupBlocks\":{},\"expired\":{},\"failedSpans\":{}}}",
                r.spans_merged, r.blocks_merged, r.rollup_blocks, r.expired, r.failed_spans
            ))
        }
        Ok(Err(e)) => ApiError::internal(format!("compaction failed: {e}")).into_response(),
        Err(e) => ApiError::internal(format!("compaction task failed: {e}")).into_response(),
    }
}
