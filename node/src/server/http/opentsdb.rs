//! OpenTSDB `POST /api/put` (JSON, gzip, `details`, `summary`).
//!
//! Unlike OpenTSDB, which stores the good points of a request and reports the bad ones, Floe
//! stores a request only when every point is good (nothing of a rejected request is stored);
//! the `details` answer still lists every bad point with its error.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use floe_storage_format::{Sample, SeriesKey};

use super::{decoded_body, status_of, store};
use crate::ingest::opentsdb::{PutLimits, parse_put_json, put_flags};
use crate::server::AppState;
use crate::server::sink::IngestError;

const PROTOCOL: &str = "opentsdb";

fn json(status: u16, body: Option<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    match body {
        Some(b) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            b,
        )
            .into_response(),
        None => status.into_response(),
    }
}

/// `POST /api/put[?details][&summary]`
pub(super) async fn put(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (details, summary) = put_flags(query.as_deref().unwrap_or(""));
    let limits = state.sink.limits();
    let body = match decoded_body(&headers, body, limits.max_body_bytes) {
        Ok(b) => b,
        Err(e) => {
            state.sink.reject(PROTOCOL, &e);
            return (status_of(&e), format!("{e}\n")).into_response();
        }
    };
    let put_limits = PutLimits {
        max_body_bytes: limits.max_body_bytes,
        max_points: limits.max_samples_per_request,
    };
    let batch = match parse_put_json(&body, &put_limits) {
        Ok(b) => b,
        Err(e) => {
            let err = IngestError::BadRequest(e.to_string());
            state.sink.reject(PROTOCOL, &err);
            let body = serde_json::json!({ "error": { "code": 400, "message": e.to_string() } });
            return json(400, Some(body.to_string()));
        }
    };
    if !batch.is_accepted() {
        state
            .sink
            .reject(PROTOCOL, &IngestError::BadRequest(String::new()));
        let (status, body) = batch.response(details, summary);
        return json(status, body);
    }
    let mut rows: Vec<(SeriesKey, Sample)> = Vec::with_capacity(batch.points.len());
    for p in &batch.points {
        match p.series_key() {
            Ok(k) => rows.push((k, Sample::new(p.timestamp_ms, p.value, 0))),
            Err(e) => {
                let err = IngestError::BadRequest(e.to_string());
                state.sink.reject(PROTOCOL, &err);
                return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
            }
        }
    }
    match store(&state, PROTOCOL, rows).await {
        Ok(_) => {
            let (status, body) = batch.response(details, summary);
            json(status, body)
        }
        Err(e) => (status_of(&e), format!("{e}\n")).into_response(),
    }
}
