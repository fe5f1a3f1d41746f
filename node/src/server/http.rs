//! HTTP endpoints: ingest (Prometheus remote write, InfluxDB line protocol, OpenTSDB), the
//! Prometheus query API and remote read, self-monitoring and health.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use floe_storage_format::{Sample, SeriesKey};

use super::AppState;
use super::sink::IngestError;

mod admin;
mod entropy;
mod influx;
mod opentsdb;
mod query;
mod query_api;
mod query_json;
mod remote_read;
mod remote_write;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    // The compressed body may not exceed the decompressed limit either.
    let limit = state.sink.limits().max_body_bytes;
    let ingest = Router::new()
        .route("/api/v1/write", post(remote_write::write))
        .route("/write", post(influx::write_v1))
        .route("/api/v2/write", post(influx::write_v2))
        .route("/api/put", post(opentsdb::put))
        .route_layer(axum::middleware::from_fn(write_consistency));
    Router::new()
        .merge(ingest)
        .route("/ping", get(influx::ping).head(influx::ping))
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route("/api/v1/series", get(query::series).post(query::series))
        .route("/api/v1/labels", get(query::labels).post(query::labels))
        .route(
            "/api/v1/label/{name}/values",
            get(query::label_values).post(query::label_values),
        )
        .route("/api/v1/metadata", get(query::metadata))
        .route("/api/v1/status/buildinfo", get(query::buildinfo))
        .route("/api/v1/status/config", get(query::status_config))
        .route("/api/v1/status/flags", get(query::status_flags))
        .route("/api/v1/status/runtimeinfo", get(query::runtimeinfo))
        .route("/api/v1/read", post(remote_read::read))
        .route("/api/v1/admin/flush", post(admin::flush))
        .route("/api/v1/admin/compact", post(admin::compact))
        .route("/api/v1/admin/ring/status", get(admin::ring_status))
        .route("/api/v1/admin/ring/apply", post(admin::ring_apply))
        .route("/api/v1/admin/ring/abort", post(admin::ring_abort))
        .route("/api/v1/admin/node/rebuild", post(admin::node_rebuild))
        .route("/api/v1/admin/mirror/status", get(admin::mirror_status))
        .route(
            "/api/v1/admin/digest",
            get(entropy::digest).post(entropy::digest),
        )
        .route("/api/v1/admin/repair", post(entropy::repair))
        .route("/api/v1/admin/repair/status", get(entropy::repair_status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/ready", get(ready))
        .fallback(query::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Runs an ingest handler with the `consistency` its URL asks for (cluster writes); an
/// unknown level is a 400 naming it.
async fn write_consistency(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let asked = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "consistency")
            .map(|(_, v)| v.to_string())
    });
    match asked.map(|v| v.parse::<floe_wire::proto::Consistency>()) {
        None => next.run(req).await,
        Some(Ok(level)) => super::WRITE_CONSISTENCY.scope(level, next.run(req)).await,
        Some(Err(e)) => (StatusCode::BAD_REQUEST, format!("consistency: {e}\n")).into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = state.sink.engine().metrics().render_prometheus();
    state.sink.metrics().render(&mut out);
    let series = state.sink.engine().series_count();
    out.push_str("# HELP floe_series Series held by this node.\n# TYPE floe_series gauge\n");
    out.push_str(&format!("floe_series {series}\n"));
    if let Some(c) = &state.cluster {
        c.render_metrics(&mut out);
    }
    let ct = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(header::CONTENT_TYPE, ct)], out).into_response()
}

/// The request body, gunzipped when `Content-Encoding: gzip`, never larger than the limit.
pub(super) fn decoded_body(
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(&body[..]).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| IngestError::BadRequest(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::Limit {
            limit: "max_body_bytes",
            detail: "decompressed body".into(),
            max: limit,
        });
    }
    Ok(out)
}

/// Stores a request's series and indexed samples on a blocking thread.
pub(super) async fn store_parts(
    state: &Arc<AppState>,
    protocol: &'static str,
    keys: Vec<SeriesKey>,
    samples: Vec<(u32, Sample)>,
) -> Result<usize, IngestError> {
    state.ingest(protocol, keys, samples).await
}

/// Stores rows on a blocking thread (the engine may wait for an fsync).
pub(super) async fn store(
    state: &Arc<AppState>,
    protocol: &'static str,
    rows: Vec<(SeriesKey, Sample)>,
) -> Result<usize, IngestError> {
    state.ingest_rows(protocol, rows).await
}

/// The status for an ingest error: 4xx for the sender's mistakes, 413 for size limits,
/// 503 for storage trouble (retryable).
pub(super) fn status_of(e: &IngestError) -> StatusCode {
    match e {
        IngestError::Limit {
            limit: "max_body_bytes",
            ..
        } => StatusCode::PAYLOAD_TOO_LARGE,
        IngestError::Limit { .. } | IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
        IngestError::Engine(_) if e.is_client_error() => StatusCode::BAD_REQUEST,
        IngestError::Engine(_) | IngestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Milliseconds since the Unix epoch, for samples sent without a timestamp.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Query arguments as a map.
pub(super) type Args = Query<std::collections::HashMap<String, String>>;
