//! InfluxDB line protocol over HTTP: `POST /write` (v1), `POST /api/v2/write`, `GET /ping`.
//!
//! The `db` label comes from the v1 `db` argument or the v2 `bucket` (when the line has no
//! `db` tag); `rp` and `org` are accepted and ignored; `consistency` (`one`, `quorum`, `all`)
//! sets the write's consistency in a cluster (the router's `write_consistency` layer applies
//! it before this handler runs; an unknown level is a 400). Errors answer 400 with
//! `{"error": "… line N …"}` like InfluxDB, and nothing of the request is stored.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use floe_storage_format::{Sample, SeriesKey};

use super::{Args, decoded_body, now_ms, status_of, store_parts};
use crate::ingest::line_protocol::{LineParser, Precision, SeriesMapper};
use crate::server::AppState;
use crate::server::metrics::SKIPPED_VALUES;
use crate::server::sink::IngestError;

const PROTOCOL: &str = "influx";

fn error(state: &AppState, e: IngestError) -> Response {
    state.sink.reject(PROTOCOL, &e);
    let status = status_of(&e);
    (
        status,
        [("X-Influxdb-Error", e.to_string())],
        Json(serde_json::json!({ "error": e.to_string() })),
    )
        .into_response()
}

/// `POST /write?db=…&precision=…`
pub(super) async fn write_v1(
    State(state): State<Arc<AppState>>,
    args: Args,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(
        state,
        args.get("db").map(String::as_str),
        args.get("precision").map(String::as_str),
        headers,
        body,
    )
    .await
}

/// `POST /api/v2/write?org=…&bucket=…&precision=…`
pub(super) async fn write_v2(
    State(state): State<Arc<AppState>>,
    args: Args,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(
        state,
        args.get("bucket").map(String::as_str),
        args.get("precision").map(String::as_str),
        headers,
        body,
    )
    .await
}

async fn write(
    state: Arc<AppState>,
    db: Option<&str>,
    precision: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let precision = match precision.map(str::parse::<Precision>).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(_) => {
            let p = precision.unwrap_or_default();
            return error(
                &state,
                IngestError::BadRequest(format!(
                    "invalid precision {p:?}: expected ns, us, ms, s, m or h"
                )),
            );
        }
    };
    let body = match decoded_body(&headers, body, state.sink.limits().max_body_bytes) {
        Ok(b) => b,
        Err(e) => return error(&state, e),
    };
    let (keys, samples) = match decode(&body, precision, db) {
        Ok((parts, skipped)) => {
            state
                .sink
                .metrics()
                .add(SKIPPED_VALUES, &[PROTOCOL, "string_field"], skipped as u64);
            parts
        }
        Err(e) => return error(&state, e),
    };
    match store_parts(&state, PROTOCOL, keys, samples).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let status = status_of(&e);
            (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
        }
    }
}

/// The distinct series of a request and its samples indexing into them.
type Parts = (Vec<SeriesKey>, Vec<(u32, Sample)>);

/// Parses the whole body first: a bad line rejects the request before anything is stored.
/// Each distinct series key is built once per request (`SeriesMapper`).
fn decode(
    body: &[u8],
    precision: Precision,
    db: Option<&str>,
) -> Result<(Parts, usize), IngestError> {
    let mut mapper = SeriesMapper::new(db, now_ms());
    let stats = LineParser::new(precision)
        .parse(body, |line| mapper.add(line).map(|_| ()))
        .map_err(|e| IngestError::BadRequest(e.to_string()))?;
    Ok((mapper.into_parts(), stats.skipped_string_fields))
}

/// `GET|HEAD /ping`: 204 with the version headers InfluxDB clients look for.
pub(super) async fn ping() -> Response {
    let version = concat!("floe-", env!("CARGO_PKG_VERSION"));
    (
        StatusCode::NO_CONTENT,
        [
            ("X-Influxdb-Version", "1.8.10"),
            ("X-Influxdb-Build", "OSS"),
            ("X-Floe-Version", version),
        ],
    )
        .into_response()
}
