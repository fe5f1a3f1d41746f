//! Prometheus remote read: `POST /api/v1/read`, a snappy-compressed protobuf `ReadRequest`
//! answered with a snappy-compressed protobuf `ReadResponse` (response type `SAMPLES`).
//!
//! Floe does not stream `STREAMED_XOR_CHUNKS`; a client that accepts `SAMPLES` as well gets
//! samples (as Prometheus answers a client that lists only `SAMPLES`), one that accepts
//! only chunks gets a 400 saying so. Errors are plain text, as Prometheus's: 400 for a
//! malformed request or an exceeded limit, 503 for a timeout, 500 for storage trouble.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use floe_query::QueryError;
use prost::Message;

use crate::index::{MatchOp, Matcher};
use crate::ingest::remote_write::{Limits, compress, decompress, proto};
use crate::query::EngineStorage;
use crate::server::AppState;
use crate::server::metrics::{QUERIES, QUERY_SAMPLES, QUERY_SERIES};

const ENDPOINT: &str = "read";

/// A refused request: status and plain-text message.
type Refusal = (StatusCode, &'static str, String);

fn bad(message: String) -> Refusal {
    (StatusCode::BAD_REQUEST, "bad_data", message)
}

/// `POST /api/v1/read`
pub(super) async fn read(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let started = Instant::now();
    let (result, series, samples) = match decode(&state, &body) {
        Ok(queries) => run(&state, queries).await,
        Err(e) => (Err(e), 0, 0),
    };
    let m = state.sink.metrics();
    let outcome = result.as_ref().map_or_else(|e| e.1, |_| "success");
    m.add(QUERIES, &[ENDPOINT, outcome], 1);
    m.add(QUERY_SERIES, &[ENDPOINT], series as u64);
    m.add(QUERY_SAMPLES, &[ENDPOINT], samples as u64);
    m.observe_query(ENDPOINT, started.elapsed().as_secs_f64());
    match result {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/x-protobuf"),
                (header::CONTENT_ENCODING, "snappy"),
            ],
            bytes,
        )
            .into_response(),
        Err((status, _, message)) => (status, format!("{message}\n")).into_response(),
    }
}

/// One query of the request: matchers and the inclusive time range.
type ReadQuery = (Vec<Matcher>, i64, i64);

fn decode(state: &AppState, body: &[u8]) -> Result<Vec<ReadQuery>, Refusal> {
    let max = state.sink.limits().max_body_bytes;
    let limits = Limits {
        max_compressed_bytes: max,
        max_decompressed_bytes: max,
        ..Limits::default()
    };
    let raw = decompress(body, &limits).map_err(|e| bad(e.to_string()))?;
    let req = proto::ReadRequest::decode(&raw[..])
        .map_err(|e| bad(format!("invalid ReadRequest protobuf: {e}")))?;
    negotiate(&req.accepted_response_types)?;
    req.queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let matchers = q
                .matchers
                .iter()
                .map(matcher)
                .collect::<Result<Vec<_>, String>>()
                .map_err(|e| bad(format!("query {i}: {e}")))?;
            if matchers.iter().all(|m| m.matches("")) {
                return Err(bad(format!(
                    "query {i}: at least one matcher must not match the empty value (it would select every series)"
                )));
            }
            Ok((matchers, q.start_timestamp_ms, q.end_timestamp_ms))
        })
        .collect()
}

/// Floe answers `SAMPLES`; an empty list means `SAMPLES` (remote read's first version).
fn negotiate(accepted: &[i32]) -> Result<(), Refusal> {
    let samples = proto::ResponseType::Samples as i32;
    if accepted.is_empty() || accepted.contains(&samples) {
        return Ok(());
    }
    let names: Vec<String> = accepted
        .iter()
        .map(|&t| match proto::ResponseType::try_from(t) {
            Ok(proto::ResponseType::StreamedXorChunks) => "STREAMED_XOR_CHUNKS".to_string(),
            Ok(proto::ResponseType::Samples) => "SAMPLES".to_string(),
            Err(_) => t.to_string(),
        })
        .collect();
    Err(bad(format!(
        "server does not support any of the requested response types: [{}]; supported: [SAMPLES]",
        names.join(" ")
    )))
}

fn matcher(m: &proto::LabelMatcher) -> Result<Matcher, String> {
    let op = match proto::MatchType::try_from(m.r#type) {
        Ok(proto::MatchType::Eq) => MatchOp::Equal,
        Ok(proto::MatchType::Neq) => MatchOp::NotEqual,
        Ok(proto::MatchType::Re) => MatchOp::RegexMatch,
        Ok(proto::MatchType::Nre) => MatchOp::RegexNoMatch,
        Err(_) => return Err(format!("unknown matcher type {}", m.r#type)),
    };
    Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| e.to_string())
}

/// Reads every query on a blocking thread, within the query limits and timeout; returns the
/// compressed response, and the series and samples read.
async fn run(
    state: &AppState,
    queries: Vec<ReadQuery>,
) -> (Result<Vec<u8>, Refusal>, usize, usize) {
    let engine = state.sink.engine().clone();
    let opts = state.query.clone();
    let task = tokio::task::spawn_blocking(move || {
        let storage = EngineStorage::new(engine, &opts);
        let mut results = Vec::with_capacity(queries.len());
        let mut failed = None;
        for (matchers, start, end) in &queries {
            match storage.read(matchers, *start, *end) {
                Ok(series) => results.push(proto::QueryResult {
                    timeseries: series.iter().map(to_proto).collect(),
                }),
                Err(e) => {
                    failed = Some(QueryError::Storage(e));
                    break;
                }
            }
        }
        let res = storage
            .finish(failed.map_or(Ok(()), Err))
            .map(|()| compress(&proto::ReadResponse { results }.encode_to_vec()));
        (res, storage.touched())
    });
    match task.await {
        Ok((res, (series, samples))) => (res.map_err(|e| refusal(&e)), series, samples),
        Err(e) => (
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("remote read failed: {e}"),
            )),
            0,
            0,
        ),
    }
}

fn refusal(e: &QueryError) -> Refusal {
    let status = match e {
        QueryError::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
        QueryError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, e.error_type(), e.to_string())
}

fn to_proto(s: &floe_query::Series) -> proto::TimeSeries {
    crate::ingest::remote_write::time_series(
        s.labels
            .pairs()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
        &s.samples,
    )
}
