//! The Prometheus HTTP query API: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<name>/values`, and the status endpoints Grafana and
//! promtool ask for. Every endpoint takes its parameters from the URL query and, on a POST,
//! from a form-encoded body; answers and errors are shaped and worded as Prometheus's
//! (`docs/protocol-query-api.md`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use floe_query::{QueryError, QueryOptions, QueryStats, QueryValue};

use super::query_api::{ApiError, Params, now_ms, parse_duration, parse_time, success, thousands};
use super::query_json::{format_rfc3339, json_string, labels_json, query_data, string_list};
use crate::engine::Engine;
use crate::query::{EngineStorage, labels_of, parse_match_params};
use crate::server::AppState;
use crate::server::metrics::{QUERIES, QUERY_SAMPLES, QUERY_SERIES};

/// What an endpoint answered, and what it read from storage.
struct Outcome {
    result: Result<String, ApiError>,
    series: usize,
    samples: usize,
}

impl From<Result<String, ApiError>> for Outcome {
    fn from(result: Result<String, ApiError>) -> Self {
        Self {
            result,
            series: 0,
            samples: 0,
        }
    }
}

/// Counts the request and builds the response.
fn respond(state: &AppState, endpoint: &'static str, started: Instant, o: Outcome) -> Response {
    let m = state.sink.metrics();
    let outcome = match &o.result {
        Ok(_) => "success",
        Err(e) => e.error_type,
    };
    m.add(QUERIES, &[endpoint, outcome], 1);
    m.add(QUERY_SERIES, &[endpoint], o.series as u64);
    m.add(QUERY_SAMPLES, &[endpoint], o.samples as u64);
    m.observe_query(endpoint, started.elapsed().as_secs_f64());
    match o.result {
        Ok(data) => success(&data),
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(endpoint, error = e.message(), "query failed");
            }
            e.into_response()
        }
    }
}

/// The arguments every handler takes.
type Request = (Option<String>, HeaderMap, Bytes);

fn params((query, headers, body): &Request) -> Result<Params, ApiError> {
    Params::parse(query.as_deref(), headers, body)
}

/// `GET|POST /api/v1/query`
pub(super) async fn instant(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let outcome = match instant_args(&state, &(query, headers, body)) {
        Ok((text, time, opts)) => {
            evaluate(&state, opts, text, move |s, q, o| {
                floe_query::instant_query(s, q, time, o)
            })
            .await
        }
        Err(e) => Err(e).into(),
    };
    respond(&state, "query", started, outcome)
}

fn instant_args(state: &AppState, req: &Request) -> Result<(String, i64, QueryOptions), ApiError> {
    let p = params(req)?;
    let time = p.time_or("time", now_ms())?;
    let opts = options(state, &p)?;
    Ok((p.get("query").unwrap_or("").to_string(), time, opts))
}

/// `GET|POST /api/v1/query_range`
pub(super) async fn range(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let outcome = match range_args(&state, &(query, headers, body)) {
        Ok((text, (start, end, step), opts)) => {
            evaluate(&state, opts, text, move |s, q, o| {
                floe_query::range_query(s, q, start, end, step, o)
            })
            .await
        }
        Err(e) => Err(e).into(),
    };
    respond(&state, "query_range", started, outcome)
}

type RangeArgs = (String, (i64, i64, i64), QueryOptions);

/// Parameters checked in Prometheus's order, with its messages.
fn range_args(state: &AppState, req: &Request) -> Result<RangeArgs, ApiError> {
    let p = params(req)?;
    let time = |name| parse_time(p.get(name).unwrap_or("")).map_err(|e| ApiError::param(name, e));
    let (start, end) = (time("start")?, time("end")?);
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let step =
        parse_duration(p.get("step").unwrap_or("")).map_err(|e| ApiError::param("step", e))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let max = state.query.max_steps;
    if (i128::from(end) - i128::from(start)) / i128::from(step) > max as i128 {
        return Err(ApiError::bad_data(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(max)
        )));
    }
    let opts = options(state, &p)?;
    Ok((
        p.get("query").unwrap_or("").to_string(),
        (start, end, step),
        opts,
    ))
}

/// The configured options with the request's `timeout` (which can only shorten the
/// configured one) and `lookback_delta`.
fn options(state: &AppState, p: &Params) -> Result<QueryOptions, ApiError> {
    let mut opts = state.query.clone();
    if let Some(t) = p.get("timeout") {
        let ms = parse_duration(t).map_err(|e| ApiError::param("timeout", e))?;
        let asked = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        opts.timeout = opts.timeout.min(asked);
    }
    if let Some(l) = p.get("lookback_delta") {
        let ms = parse_duration(l).map_err(|e| ApiError::param("lookback_delta", e))?;
        if ms < 0 {
            return Err(ApiError::param(
                "lookback_delta",
                "lookback delta must be a positive duration",
            ));
        }
        if ms > 0 {
            opts.lookback_ms = ms;
        }
    }
    Ok(opts)
}

/// Evaluates `text` on a query worker (a thread with [`floe_query::EVAL_STACK_BYTES`] of
/// stack: the evaluator recurses once per level of the expression, up to
/// [`floe_query::MAX_QUERY_DEPTH`], which its parser enforces), answering `timeout` if it
/// overruns its budget, time waiting for a worker included.
async fn evaluate<F>(state: &AppState, opts: QueryOptions, text: String, eval: F) -> Outcome
where
    F: FnOnce(&EngineStorage, &str, &QueryOptions) -> Result<(QueryValue, QueryStats), QueryError>
        + Send
        + 'static,
{
    let engine = state.sink.engine().clone();
    let budget = opts.timeout;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The deadline starts now, so time in line counts against the timeout.
    let storage = EngineStorage::new(engine, &opts);
    let submitted = state.query_pool.submit(move || {
        let res = eval(&storage, &text, &opts);
        let _ = tx.send((storage.finish(res), storage.touched()));
    });
    if let Err(e) = submitted {
        return Err(ApiError::unavailable(e.to_string())).into();
    }
    // The evaluator and the storage adapter both watch the deadline; this is the backstop.
    let timed_out = || {
        let after_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX);
        ApiError::query(&QueryError::Timeout { after_ms })
    };
    match tokio::time::timeout(budget + Duration::from_secs(1), rx).await {
        Err(_) => Err(timed_out()).into(),
        Ok(Err(_)) => Err(ApiError::internal(
            "query evaluation failed without an answer (see the log)",
        ))
        .into(),
        Ok(Ok((res, (series, samples)))) => Outcome {
            result: res
                .map(|(value, _)| query_data(&value))
                .map_err(|e| ApiError::query(&e)),
            series,
            samples,
        },
    }
}

/// Runs label-index work on a blocking thread.
async fn on_index<F>(state: &AppState, work: F) -> Outcome
where
    F: FnOnce(&Engine, &QueryOptions) -> Result<String, ApiError> + Send + 'static,
{
    let engine = state.sink.engine().clone();
    let opts = state.query.clone();
    match tokio::task::spawn_blocking(move || work(&engine, &opts)).await {
        Ok(res) => res.into(),
        Err(e) => Err(ApiError::internal(format!("index lookup failed: {e}"))).into(),
    }
}

/// `match[]`, `start`, `end` and `limit` of the series and label endpoints.
struct Selection {
    sets: Vec<Vec<crate::index::Matcher>>,
    start: i64,
    end: i64,
    limit: Option<usize>,
}

fn selection(req: &Request, match_required: bool) -> Result<Selection, ApiError> {
    let p = params(req)?;
    let matches = p.all("match[]");
    if match_required && matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time_or("start", i64::MIN)?;
    let end = p.time_or("end", i64::MAX)?;
    let sets = parse_match_params(&matches).map_err(ApiError::bad_data)?;
    Ok(Selection {
        sets,
        start,
        end,
        limit: p.limit()?,
    })
}

/// `GET|POST /api/v1/series`
pub(super) async fn series(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let outcome = match selection(&(query, headers, body), true) {
        Ok(sel) => on_index(&state, move |engine, opts| series_json(engine, opts, &sel)).await,
        Err(e) => Err(e).into(),
    };
    respond(&state, "series", started, outcome)
}

fn series_json(engine: &Engine, opts: &QueryOptions, sel: &Selection) -> Result<String, ApiError> {
    let mut found = Vec::new();
    for set in &sel.sets {
        found.extend(engine.select_in_range(set, sel.start, sel.end));
        if found.len() > opts.max_series {
            return Err(ApiError::query(&QueryError::Limit {
                limit: "max_series",
                max: opts.max_series,
                detail: format!("match[] selected more than {} series", opts.max_series),
            }));
        }
    }
    let mut labels: Vec<_> = found.iter().map(|(_, key)| labels_of(key)).collect();
    labels.sort_unstable();
    labels.dedup();
    let truncated = sel.limit.is_some_and(|l| labels.len() > l);
    labels.truncate(sel.limit.unwrap_or(usize::MAX));
    let mut out = String::from("[");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        labels_json(l, &mut out);
    }
    out.push(']');
    Ok(with_warning(out, truncated))
}

/// Prometheus adds a warning when `limit` cut a list; the envelope has room for it after
/// `data`, so the data string carries it.
fn with_warning(data: String, truncated: bool) -> String {
    if truncated {
        format!("{data},\"warnings\":[\"results truncated due to limit\"]")
    } else {
        data
    }
}

/// `GET|POST /api/v1/labels`
pub(super) async fn labels(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let outcome = match selection(&(query, headers, body), false) {
        Ok(sel) => {
            on_index(&state, move |engine, _| {
                let names = engine.label_names(&sel.sets, sel.start, sel.end);
                Ok(limited(names, sel.limit))
            })
            .await
        }
        Err(e) => Err(e).into(),
    };
    respond(&state, "labels", started, outcome)
}

fn limited(mut items: Vec<String>, limit: Option<usize>) -> String {
    let truncated = limit.is_some_and(|l| items.len() > l);
    items.truncate(limit.unwrap_or(usize::MAX));
    with_warning(string_list(&items), truncated)
}

/// `GET|POST /api/v1/label/<name>/values`
pub(super) async fn label_values(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let outcome = if name.is_empty() {
        Err(ApiError::bad_data(format!("invalid label name: {name:?}"))).into()
    } else {
        match selection(&(query, headers, body), false) {
            Ok(sel) => {
                on_index(&state, move |engine, _| {
                    let values = engine.label_values(&name, &sel.sets, sel.start, sel.end);
                    Ok(limited(values, sel.limit))
                })
                .await
            }
            Err(e) => Err(e).into(),
        }
    };
    respond(&state, "label_values", started, outcome)
}

/// `GET /api/v1/status/buildinfo`: Prometheus's fields, holding Floe's build.
pub(super) async fn buildinfo() -> Response {
    let data = format!(
        "{{\"version\":{},\"revision\":\"unknown\",\"branch\":\"unknown\",\"buildUser\":\"floe\",\"buildDate\":\"unknown\",\"goVersion\":\"none (floe is written in Rust)\"}}",
        json_string(env!("CARGO_PKG_VERSION"))
    );
    success(&data)
}

/// `GET /api/v1/metadata`: Floe keeps no metric metadata.
pub(super) async fn metadata() -> Response {
    success("{}")
}

/// `GET /api/v1/status/config`: Floe has no Prometheus configuration.
pub(super) async fn status_config() -> Response {
    success("{\"yaml\":\"\"}")
}

/// `GET /api/v1/status/flags`: Floe's settings are not Prometheus flags.
pub(super) async fn status_flags() -> Response {
    success("{}")
}

/// `GET /api/v1/status/runtimeinfo`: the fields Prometheus has, where Floe has them.
pub(super) async fn runtimeinfo(State(state): State<Arc<AppState>>) -> Response {
    let started = state
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let cpus = floe_query::cores();
    let data = format!(
        "{{\"startTime\":\"{start}\",\"CWD\":{},\"serverTime\":\"{}\",\"reloadConfigSuccess\":true,\"lastConfigTime\":\"{start}\",\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":{cpus},\"GOMEMLIMIT\":0,\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":{}}}",
        json_string(&cwd),
        format_rfc3339(now_ms()),
        json_string(&state.raw_retention),
        start = format_rfc3339(started),
    );
    success(&data)
}

/// Unknown paths: a Prometheus-shaped 404 under `/api/`, a plain one elsewhere.
pub(super) async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") {
        ApiError::not_found(format!("unknown API endpoint {method} {path}")).into_response()
    } else {
        (axum::http::StatusCode::NOT_FOUND, "404 page not found\n").into_response()
    }
}
