//! Prometheus remote write 1.0: `POST /api/v1/write` (snappy block + protobuf).
//!
//! 204 on success; 400 for anything malformed or refused (senders do not retry 4xx, and
//! nothing of the request is stored); 503 only for storage trouble, which senders retry.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use floe_storage_format::{Sample, SeriesKey};

use super::{status_of, store_parts};
use crate::ingest::remote_write::{Limits, decode_write_request};
use crate::server::AppState;
use crate::server::metrics::SKIPPED_VALUES;
use crate::server::sink::IngestError;

const PROTOCOL: &str = "remote_write";

fn error(state: &AppState, e: IngestError) -> Response {
    state.sink.reject(PROTOCOL, &e);
    (status_of(&e), format!("{e}\n")).into_response()
}

fn limits(state: &AppState) -> Limits {
    let l = state.sink.limits();
    Limits {
        max_compressed_bytes: l.max_body_bytes,
        max_decompressed_bytes: l.max_body_bytes,
        max_samples_per_request: l.max_samples_per_request,
        max_labels_per_series: l.max_labels_per_series + 1,
        max_label_name_len: l.max_label_name_bytes,
        max_label_value_len: l.max_label_value_bytes,
        // Floe's series names are any UTF-8 (Graphite's dotted paths live beside Prometheus
        // names), and Prometheus 3 sends UTF-8 names: accept them as VictoriaMetrics does.
        allow_utf8_names: true,
        ..Limits::default()
    }
}

/// `POST /api/v1/write`
pub(super) async fn write(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let (series, stats) = match decode_write_request(&body, &limits(&state)) {
        Ok(d) => d,
        // Every decode error is the sender's (400: not retried, nothing stored).
        Err(e) => return error(&state, IngestError::BadRequest(e.to_string())),
    };
    let m = state.sink.metrics();
    m.add(
        SKIPPED_VALUES,
        &[PROTOCOL, "histogram"],
        stats.skipped_histograms as u64,
    );
    m.add(
        SKIPPED_VALUES,
        &[PROTOCOL, "exemplar"],
        stats.skipped_exemplars as u64,
    );
    let mut keys: Vec<SeriesKey> = Vec::with_capacity(series.len());
    let mut samples: Vec<(u32, Sample)> = Vec::with_capacity(stats.samples);
    for s in &series {
        let key = match s.to_series_key() {
            Ok(k) => k,
            Err(e) => return error(&state, IngestError::BadRequest(e.to_string())),
        };
        let slot = keys.len() as u32;
        keys.push(key);
        samples.extend(
            s.samples
                .iter()
                .map(|&(ts, v)| (slot, Sample::new(ts, v, 0))),
        );
    }
    match store_parts(&state, PROTOCOL, keys, samples).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (status_of(&e), format!("{e}\n")).into_response(),
    }
}
