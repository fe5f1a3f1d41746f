//! Convergence endpoints (`docs/anti-entropy.md`):
//!
//! - `GET /api/v1/admin/digest?start=&end=&match[]=&bucket_ms=&position_bucket=&partition=`:
//!   the cluster digest (per time partition, per partition × position bucket, total); with
//!   `position_bucket` the series of that bucket (of one partition with `partition`).
//! - `POST /api/v1/admin/repair?range=START:END&node=ID&dry_run=true`: starts a repair job
//!   (202), refused with 409 while one runs.
//! - `GET /api/v1/admin/repair/status`: the last or running repair job.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use floe_wire::proto::RingRange;

use super::admin::cluster;
use super::query::wire_matcher;
use super::query_api::{ApiError, Params, success};
use crate::cluster::{DigestQuery, RepairRequest};
use crate::engine::{MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};
use crate::query::parse_match_params;
use crate::server::AppState;

/// Smallest time bucket of a cluster digest: finer buckets would make answers as large as the
/// data.
const MIN_BUCKET_MS: i64 = 60_000;

/// Most matchers sets: one (the digest is of the series matching every matcher).
fn matchers(p: &Params) -> Result<Vec<floe_wire::proto::Matcher>, ApiError> {
    let matches = p.all("match[]");
    if matches.len() > 1 {
        return Err(ApiError::bad_data(
            "one match[] selector at most: the digest is of the series matching it",
        ));
    }
    let sets = parse_match_params(&matches).map_err(ApiError::bad_data)?;
    Ok(sets
        .into_iter()
        .next()
        .unwrap_or_default()
        .iter()
        .map(wire_matcher)
        .collect())
}

fn int<T: std::str::FromStr>(p: &Params, name: &str) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    p.get(name)
        .map(|v| {
            v.parse::<T>()
                .map_err(|e| ApiError::param(name, format!("invalid {name} {v:?}: {e}")))
        })
        .transpose()
}

/// `GET /api/v1/admin/digest`.
pub(super) async fn digest(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = match cluster(&state) {
        Ok(c) => c.clone(),
        Err(r) => return r,
    };
    let q = match (|| {
        let p = Params::parse(query.as_deref(), &headers, &body)?;
        let start = p.time_or("start", MIN_TIMESTAMP_MS)?.max(MIN_TIMESTAMP_MS);
        let end = p.time_or("end", MAX_TIMESTAMP_MS)?.min(MAX_TIMESTAMP_MS);
        if start > end {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        let bucket_ms =
            int::<i64>(&p, "bucket_ms")?.unwrap_or(state.sink.engine().config().partition_ms);
        if bucket_ms < MIN_BUCKET_MS {
            return Err(ApiError::param(
                "bucket_ms",
                format!(
                    "bucket_ms {bucket_ms} is below the smallest accepted, {MIN_BUCKET_MS} (one minute)"
                ),
            ));
        }
        Ok(DigestQuery {
            start,
            end,
            bucket_ms,
            matchers: matchers(&p)?,
            series_of: int::<u8>(&p, "position_bucket")?,
            series_time: int::<i64>(&p, "partition")?,
        })
    })() {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match c.cluster_digest(&state, q).await {
        Ok(d) => match serde_json::to_string(&d) {
            Ok(s) => success(&s),
            Err(e) => ApiError::internal(format!("digest: {e}")).into_response(),
        },
        Err(e) => ApiError::unavailable(format!("cluster digest failed: {e}")).into_response(),
    }
}

/// A ring range `START:END` (decimal or 0x-hex positions, `(START, END]`).
fn ring_range(s: &str) -> Result<RingRange, ApiError> {
    let num = |v: &str| -> Result<u64, ApiError> {
        let v = v.trim();
        let parsed = match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse::<u64>(),
        };
        parsed.map_err(|e| ApiError::param("range", format!("invalid range {s:?}: {e}")))
    };
    let (a, b) = s.split_once(':').ok_or_else(|| {
        ApiError::param(
            "range",
            format!("invalid range {s:?}: expected START:END ring positions"),
        )
    })?;
    Ok(RingRange {
        start: num(a)?,
        end: num(b)?,
    })
}

/// `POST /api/v1/admin/repair`.
pub(super) async fn repair(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = match cluster(&state) {
        Ok(c) => c.clone(),
        Err(r) => return r,
    };
    let req = match (|| {
        let p = Params::parse(query.as_deref(), &headers, &body)?;
        let ranges = p
            .all("range")
            .into_iter()
            .map(ring_range)
            .collect::<Result<Vec<_>, _>>()?;
        let dry_run = match p.get("dry_run") {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(v) => return Err(ApiError::param("dry_run", format!("invalid dry_run {v:?}"))),
        };
        Ok(RepairRequest {
            ranges,
            node: p.get("node").map(str::to_string),
            dry_run,
        })
    })() {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match c.start_repair_job(&state, req) {
        Ok(job) => match serde_json::to_string(&job) {
            Ok(s) => {
                tracing::info!(job = job.id, "repair requested over HTTP");
                (StatusCode::ACCEPTED, success(&s)).into_response()
            }
            Err(e) => ApiError::internal(format!("repair: {e}")).into_response(),
        },
        Err(e) if e.contains("still running") => ApiError::conflict(e).into_response(),
        Err(e) => ApiError::bad_data(e).into_response(),
    }
}

/// `GET /api/v1/admin/repair/status`.
pub(super) async fn repair_status(State(state): State<Arc<AppState>>) -> Response {
    let c = match cluster(&state) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let job = c.repair_job();
    let body = serde_json::json!({ "node": c.node_id(), "job": job });
    success(&body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_in_decimal_and_hex() {
        assert_eq!(
            ring_range("10:0x20").ok(),
            Some(RingRange { start: 10, end: 32 })
        );
        assert!(ring_range("10").is_err());
        assert!(ring_range("x:1").is_err());
    }
}
