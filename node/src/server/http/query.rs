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
use floe_query::{QueryError, QueryOptions, QueryStats, QueryValue, Storage};
use floe_wire::proto::{
    Consistency, ErrorCode as WireCode, MatchOp as WireOp, Matcher as WireMatcher, SelectRequest,
};

use super::query_api::{ApiError, Params, now_ms, parse_duration, parse_time, success, thousands};
use super::query_json::{format_rfc3339, json_string, labels_json, query_data, string_list};
use crate::engine::Engine;
use crate::query::{labels_of, parse_match_params};
use crate::server::AppState;
use crate::server::evaluate::EvalFailure;
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
        Ok((text, time, opts, level)) => {
            evaluate(&state, opts, text, level, move |s, q, o| {
                floe_query::instant_query(s, q, time, o)
            })
            .await
        }
        Err(e) => Err(e).into(),
    };
    respond(&state, "query", started, outcome)
}

type InstantArgs = (String, i64, QueryOptions, Option<Consistency>);

fn instant_args(state: &AppState, req: &Request) -> Result<InstantArgs, ApiError> {
    let p = params(req)?;
    let time = p.time_or("time", now_ms())?;
    let opts = options(state, &p)?;
    let level = consistency(&p)?;
    Ok((p.get("query").unwrap_or("").to_string(), time, opts, level))
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
        Ok((text, (start, end, step), opts, level)) => {
            evaluate(&state, opts, text, level, move |s, q, o| {
                floe_query::range_query(s, q, start, end, step, o)
            })
            .await
        }
        Err(e) => Err(e).into(),
    };
    respond(&state, "query_range", started, outcome)
}

type RangeArgs = (String, (i64, i64, i64), QueryOptions, Option<Consistency>);

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
    let level = consistency(&p)?;
    Ok((
        p.get("query").unwrap_or("").to_string(),
        (start, end, step),
        opts,
        level,
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
/// overruns its budget, time waiting for a worker included. On a cluster node it reads the
/// whole cluster at the request's `consistency` (default: the configured read consistency).
async fn evaluate<F>(
    state: &Arc<AppState>,
    opts: QueryOptions,
    text: String,
    consistency: Option<Consistency>,
    eval: F,
) -> Outcome
where
    F: FnOnce(&dyn Storage, &str, &QueryOptions) -> Result<(QueryValue, QueryStats), QueryError>
        + Send
        + 'static,
{
    match crate::server::evaluate::evaluate(state, opts, text, consistency, eval).await {
        Err(EvalFailure::Busy(e)) => Err(ApiError::unavailable(e)).into(),
        Err(EvalFailure::Timeout { after_ms }) => {
            Err(ApiError::query(&QueryError::Timeout { after_ms })).into()
        }
        Err(EvalFailure::Lost) => Err(ApiError::internal(
            "query evaluation failed without an answer (see the log)",
        ))
        .into(),
        Ok((res, (series, samples))) => Outcome {
            result: res
                .map(|(value, _)| query_data(&value))
                .map_err(|e| ApiError::query(&e)),
            series,
            samples,
        },
    }
}

/// The request's `consistency` argument (cluster reads), if any.
fn consistency(p: &Params) -> Result<Option<Consistency>, ApiError> {
    p.get("consistency")
        .map(|c| {
            c.parse()
                .map_err(|e: String| ApiError::param("consistency", e))
        })
        .transpose()
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
    /// Replicas that must answer per token range on a cluster node.
    consistency: Option<Consistency>,
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
        consistency: consistency(&p)?,
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
        Ok(sel) if state.cluster.is_some() => match cluster_keys(&state, &sel).await {
            Ok(keys) => Ok(series_list(keys.iter().map(labels_of).collect(), &sel)).into(),
            Err(e) => Err(e).into(),
        },
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
    Ok(series_list(
        found.iter().map(|(_, key)| labels_of(key)).collect(),
        sel,
    ))
}

/// The JSON list of the series' label sets, sorted, deduplicated and limited.
fn series_list(mut labels: Vec<floe_query::Labels>, sel: &Selection) -> String {
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
    with_warning(out, truncated)
}

/// The series selected by any of `sel`'s matcher sets (every series when there is none)
/// over the whole cluster: each owner answers for the series it owns.
async fn cluster_keys(
    state: &Arc<AppState>,
    sel: &Selection,
) -> Result<Vec<floe_storage_format::SeriesKey>, ApiError> {
    let Some(cluster) = &state.cluster else {
        return Err(ApiError::internal("not a cluster node"));
    };
    let every = vec![vec![WireMatcher {
        name: crate::index::METRIC_NAME_LABEL.into(),
        op: WireOp::Re,
        value: ".+".into(),
    }]];
    let sets: Vec<Vec<WireMatcher>> = if sel.sets.is_empty() {
        every
    } else {
        sel.sets
            .iter()
            .map(|set| set.iter().map(wire_matcher).collect())
            .collect()
    };
    let max = state.query.max_series;
    let mut keys = std::collections::BTreeMap::new();
    for matchers in sets {
        let req = SelectRequest {
            topology: cluster.topology(),
            matchers,
            start: sel.start,
            end: sel.end,
            owned_only: true,
            max_series: max as u64,
            max_samples: u64::MAX,
        };
        let g = cluster
            .gather(
                state.sink.engine(),
                req,
                false,
                sel.consistency
                    .unwrap_or(cluster.settings().read_consistency),
            )
            .await
            .map_err(|e| match e.code {
                WireCode::BadRequest => ApiError::bad_data(e.message),
                WireCode::Limit => ApiError::query(&QueryError::Limit {
                    limit: "max_series",
                    max,
                    detail: e.message,
                }),
                _ => ApiError::unavailable(e.to_string()),
            })?;
        for (_, rows) in g.answers {
            keys.extend(rows.into_iter().map(|(k, _)| (k.id(), k)));
        }
        if keys.len() > max {
            return Err(ApiError::query(&QueryError::Limit {
                limit: "max_series",
                max,
                detail: format!("match[] selected more than {max} series"),
            }));
        }
    }
    Ok(keys.into_values().collect())
}

pub(super) fn wire_matcher(m: &crate::index::Matcher) -> WireMatcher {
    WireMatcher {
        name: m.name().to_string(),
        op: match m.op() {
            crate::index::MatchOp::Equal => WireOp::Equal,
            crate::index::MatchOp::NotEqual => WireOp::NotEqual,
            crate::index::MatchOp::RegexMatch => WireOp::Re,
            crate::index::MatchOp::RegexNoMatch => WireOp::NotRe,
        },
        value: m.value().to_string(),
    }
}

/// Label names of `keys`, `__name__` included, sorted.
fn names_of(keys: &[floe_storage_format::SeriesKey]) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for k in keys {
        names.insert(crate::index::METRIC_NAME_LABEL.to_string());
        names.extend(k.labels().iter().map(|(n, _)| n.clone()));
    }
    names.into_iter().collect()
}

/// Values of label `name` over `keys`, sorted.
fn values_of(keys: &[floe_storage_format::SeriesKey], name: &str) -> Vec<String> {
    let values: std::collections::BTreeSet<String> = keys
        .iter()
        .filter_map(|k| {
            if name == crate::index::METRIC_NAME_LABEL {
                Some(k.name().to_string())
            } else {
                k.label(name).map(str::to_string)
            }
        })
        .collect();
    values.into_iter().collect()
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
        Ok(sel) if state.cluster.is_some() => match cluster_keys(&state, &sel).await {
            Ok(keys) => Ok(limited(names_of(&keys), sel.limit)).into(),
            Err(e) => Err(e).into(),
        },
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
            Ok(sel) if state.cluster.is_some() => match cluster_keys(&state, &sel).await {
                Ok(keys) => Ok(limited(values_of(&keys, &name), sel.limit)).into(),
                Err(e) => Err(e).into(),
            },
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
