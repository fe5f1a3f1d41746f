//! Administrative endpoints: persist and compact on demand; topology changes and rebuilds
//! (`docs/rebalance.md`, "Live commands").
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

/// The cluster, or a 400 in single-node mode.
#[allow(clippy::result_large_err)]
pub(super) fn cluster(state: &AppState) -> Result<&Arc<crate::cluster::Cluster>, Response> {
    state.cluster.as_ref().ok_or_else(|| {
        ApiError::bad_data("this node runs alone (no [cluster] node_id): there is no ring")
            .into_response()
    })
}

fn ring_error(e: crate::cluster::RingError) -> Response {
    match e.status {
        400 => ApiError::bad_data(e.message),
        404 => ApiError::not_found(e.message),
        409 => ApiError::conflict(e.message),
        503 => ApiError::unavailable(e.message),
        _ => ApiError::internal(e.message),
    }
    .into_response()
}

/// `GET /api/v1/admin/ring/status`: every node's phase and streaming progress.
pub(super) async fn ring_status(State(state): State<Arc<AppState>>) -> Response {
    match cluster(&state) {
        Ok(c) => success(&c.admin_status().await.to_string()),
        Err(r) => r,
    }
}

/// `GET /api/v1/admin/mirror/status`: this node's mirror targets (`docs/mirroring.md`); on a
/// node running alone, which cannot mirror, `{"node": null, "mirrors": []}`.
pub(super) async fn mirror_status(State(state): State<Arc<AppState>>) -> Response {
    let data = match &state.cluster {
        Some(c) => c.mirror_status(),
        None => serde_json::json!({"node": null, "mirrors": []}),
    };
    success(&data.to_string())
}

/// `POST /api/v1/admin/ring/apply` with a topology document: starts the change.
pub(super) async fn ring_apply(State(state): State<Arc<AppState>>, body: String) -> Response {
    let c = match cluster(&state) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match c.admin_apply(&body).await {
        Ok(v) => {
            tracing::info!("topology change applied over HTTP");
            success(&v.to_string())
        }
        Err(e) => ring_error(e),
    }
}

/// `POST /api/v1/admin/ring/abort`: abandons the running change.
pub(super) async fn ring_abort(State(state): State<Arc<AppState>>) -> Response {
    let c = match cluster(&state) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match c.admin_abort().await {
        Ok(v) => {
            tracing::warn!("topology change aborted over HTTP");
            success(&v.to_string())
        }
        Err(e) => ring_error(e),
    }
}

/// Query of `POST /api/v1/admin/node/rebuild`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct RebuildQuery {
    node: Option<String>,
}

/// `POST /api/v1/admin/node/rebuild?node=ID`: refills node ID from its peers.
pub(super) async fn node_rebuild(
    State(state): State<Arc<AppState>>,
    axum::extract::Query(q): axum::extract::Query<RebuildQuery>,
) -> Response {
    let c = match cluster(&state) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let node = q.node.unwrap_or_else(|| c.node_id().to_string());
    match c.admin_rebuild(&node).await {
        Ok(v) => {
            tracing::info!(node, "rebuild requested over HTTP");
            (axum::http::StatusCode::ACCEPTED, success(&v.to_string())).into_response()
        }
        Err(e) => ring_error(e),
    }
}
