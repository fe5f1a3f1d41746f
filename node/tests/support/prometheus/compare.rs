//! The answers of `/api/v1/query` and `/api/v1/query_range`, parsed into a form that can be
//! compared, and the comparison itself.
//!
//! Two answers agree when their HTTP status, `status` and, for errors, `errorType` are equal
//! (the messages may differ), or, for successes, when their `resultType` is equal and:
//! - a scalar or string has the same timestamp and value;
//! - a vector or matrix has the same series, as sets keyed by their exact label sets; each
//!   series has the same timestamps and, at each, the same value.
//!
//! Values are equal when both are NaN, both the same infinity, or within 1e-9 relative (with
//! an absolute floor of 1e-12 for results of cancellation, such as a variance of 0 computed as
//! 1e-17). When the outermost function is `sort` or `sort_desc` the order of an instant
//! vector matters too, but only between different values: the sequences of values must be
//! equal, so tied series may come in any order. Warnings are not compared.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A series' labels, sorted by name.
pub(crate) type Labels = BTreeMap<String, String>;

/// A parsed answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) http: u16,
    /// What the body said.
    pub(crate) body: Body,
}

/// The body of an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// `status: success`.
    Success(Data),
    /// `status: error`, with its `errorType` and `error` message.
    Error { error_type: String, message: String },
    /// Not an API answer at all (not JSON, or not the API's shape).
    Unparsable(String),
}

/// The `data` of a successful answer; times in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    Scalar(i64, f64),
    String(i64, String),
    Vector(Vec<(Labels, i64, f64)>),
    Matrix(Vec<(Labels, Vec<(i64, f64)>)>),
}

impl Data {
    fn result_type(&self) -> &'static str {
        match self {
            Data::Scalar(..) => "scalar",
            Data::String(..) => "string",
            Data::Vector(_) => "vector",
            Data::Matrix(_) => "matrix",
        }
    }

    /// Number of series (1 for a scalar or string).
    pub(crate) fn series(&self) -> usize {
        match self {
            Data::Scalar(..) | Data::String(..) => 1,
            Data::Vector(v) => v.len(),
            Data::Matrix(m) => m.len(),
        }
    }
}

impl Answer {
    /// Parses a response of the query API.
    pub(crate) fn parse(http: u16, body: &[u8]) -> Answer {
        let body = match parse_body(body) {
            Ok(b) => b,
            Err(reason) => Body::Unparsable(format!(
                "{reason}; body: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )),
        };
        Answer { http, body }
    }

    /// A one-line summary of the answer.
    pub(crate) fn summary(&self) -> String {
        match &self.body {
            Body::Success(d) => format!(
                "{} {} with {} series",
                self.http,
                d.result_type(),
                d.series()
            ),
            Body::Error {
                error_type,
                message,
            } => format!("{} error {error_type}: {message}", self.http),
            Body::Unparsable(why) => format!("{} unparsable: {why}", self.http),
        }
    }
}

fn parse_body(body: &[u8]) -> Result<Body, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["status"].as_str() {
        Some("success") => parse_data(&v["data"]).map(Body::Success),
        Some("error") => Ok(Body::Error {
            error_type: v["errorType"]
                .as_str()
                .ok_or("error without errorType")?
                .to_string(),
            message: v["error"].as_str().unwrap_or_default().to_string(),
        }),
        other => Err(format!("status is {other:?}")),
    }
}

fn parse_data(data: &Value) -> Result<Data, String> {
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = point(result)?;
            Ok(Data::Scalar(t, v))
        }
        Some("string") => {
            let t = time(&result[0])?;
            let s = result[1].as_str().ok_or("string value is not a string")?;
            Ok(Data::String(t, s.to_string()))
        }
        Some("vector") => array(result)?
            .iter()
            .map(|s| {
                let (t, v) = point(&s["value"])?;
                Ok((labels(&s["metric"])?, t, v))
            })
            .collect::<Result<_, String>>()
            .map(Data::Vector),
        Some("matrix") => array(result)?
            .iter()
            .map(|s| {
                let points = array(&s["values"])?
                    .iter()
                    .map(point)
                    .collect::<Result<_, _>>()?;
                Ok((labels(&s["metric"])?, points))
            })
            .collect::<Result<_, String>>()
            .map(Data::Matrix),
        other => Err(format!("resultType is {other:?}")),
    }
}

fn array(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("expected an array, got {v}"))
}

fn labels(v: &Value) -> Result<Labels, String> {
    let map = v
        .as_object()
        .ok_or_else(|| format!("metric is not an object: {v}"))?;
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(format!("label {k} is not a string: {v}")),
        })
        .collect()
}

/// `[seconds, "value"]`.
fn point(v: &Value) -> Result<(i64, f64), String> {
    let t = time(&v[0])?;
    let s = v[1]
        .as_str()
        .ok_or_else(|| format!("value is not a string: {v}"))?;
    let value = s
        .parse::<f64>()
        .map_err(|_| format!("value {s:?} is not a number"))?;
    Ok((t, value))
}

/// Seconds (a JSON number with up to 3 decimals) to milliseconds.
fn time(v: &Value) -> Result<i64, String> {
    let s = v
        .as_f64()
        .ok_or_else(|| format!("timestamp is not a number: {v}"))?;
    Ok((s * 1000.0).round() as i64)
}

/// What differs between the reference's and the subject's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// The subject's answer is not an API answer.
    Unparsable,
    /// One succeeded and the other failed.
    Status,
    /// Both failed, with different `errorType`s.
    ErrorType,
    /// Same `status`, different HTTP status codes.
    HttpStatus,
    /// Different `resultType`s.
    ResultType,
    /// A series is in one answer only.
    SeriesSet,
    /// A label set appears twice in one answer.
    DuplicateSeries,
    /// A series (or scalar) has different timestamps.
    Timestamps,
    /// A value differs.
    Value,
    /// A sorted vector's values come in a different order.
    Order,
}

/// A difference: its kind and a description naming the first differing series and point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Difference {
    pub(crate) kind: Kind,
    pub(crate) detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

fn diff(kind: Kind, detail: String) -> Result<(), Difference> {
    Err(Difference { kind, detail })
}

/// Whether two values are equal in the sense of the module documentation.
pub(crate) fn values_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let d = (a - b).abs();
    d <= 1e-9 * a.abs().max(b.abs()) || d <= 1e-12
}

/// Renders labels as `{a="1", b="2"}`.
pub(crate) fn show(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Compares the subject's answer with the reference's; `ordered` when the order of an instant
/// vector matters (outermost `sort`/`sort_desc`).
pub(crate) fn compare(
    reference: &Answer,
    subject: &Answer,
    ordered: bool,
) -> Result<(), Difference> {
    let (r, s) = (&reference.body, &subject.body);
    match (r, s) {
        (_, Body::Unparsable(why)) => diff(Kind::Unparsable, format!("subject: {why}")),
        (Body::Unparsable(why), _) => diff(Kind::Unparsable, format!("reference: {why}")),
        (Body::Error { .. }, Body::Success(_)) | (Body::Success(_), Body::Error { .. }) => diff(
            Kind::Status,
            format!(
                "reference: {}; subject: {}",
                reference.summary(),
                subject.summary()
            ),
        ),
        (Body::Error { error_type: a, .. }, Body::Error { error_type: b, .. }) if a != b => diff(
            Kind::ErrorType,
            format!(
                "reference: {}; subject: {}",
                reference.summary(),
                subject.summary()
            ),
        ),
        _ if reference.http != subject.http => diff(
            Kind::HttpStatus,
            format!(
                "reference: {}; subject: {}",
                reference.summary(),
                subject.summary()
            ),
        ),
        (Body::Success(a), Body::Success(b)) => compare_data(a, b, ordered),
        _ => Ok(()),
    }
}

fn compare_data(r: &Data, s: &Data, ordered: bool) -> Result<(), Difference> {
    match (r, s) {
        (Data::Scalar(t1, v1), Data::Scalar(t2, v2)) => {
            compare_points("scalar", &[(*t1, *v1)], &[(*t2, *v2)])
        }
        (Data::String(t1, v1), Data::String(t2, v2)) => {
            if t1 != t2 || v1 != v2 {
                return diff(
                    Kind::Value,
                    format!("string: reference {t1} {v1:?}, subject {t2} {v2:?}"),
                );
            }
            Ok(())
        }
        (Data::Vector(a), Data::Vector(b)) => {
            let wrap = |v: &Vec<(Labels, i64, f64)>| -> Vec<(Labels, Vec<(i64, f64)>)> {
                v.iter()
                    .map(|(l, t, x)| (l.clone(), vec![(*t, *x)]))
                    .collect()
            };
            compare_series(&wrap(a), &wrap(b))?;
            if ordered {
                compare_order(a, b)?;
            }
            Ok(())
        }
        (Data::Matrix(a), Data::Matrix(b)) => compare_series(a, b),
        _ => diff(
            Kind::ResultType,
            format!("reference {}, subject {}", r.result_type(), s.result_type()),
        ),
    }
}

fn keyed(
    side: &str,
    series: &[(Labels, Vec<(i64, f64)>)],
) -> Result<BTreeMap<Labels, Vec<(i64, f64)>>, Difference> {
    let mut map = BTreeMap::new();
    for (labels, points) in series {
        if map.insert(labels.clone(), points.clone()).is_some() {
            return Err(Difference {
                kind: Kind::DuplicateSeries,
                detail: format!("{side} has {} twice", show(labels)),
            });
        }
    }
    Ok(map)
}

fn compare_series(
    r: &[(Labels, Vec<(i64, f64)>)],
    s: &[(Labels, Vec<(i64, f64)>)],
) -> Result<(), Difference> {
    let (r, s) = (keyed("reference", r)?, keyed("subject", s)?);
    let missing: Vec<String> = r.keys().filter(|l| !s.contains_key(*l)).map(show).collect();
    let extra: Vec<String> = s.keys().filter(|l| !r.contains_key(*l)).map(show).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return diff(
            Kind::SeriesSet,
            format!(
                "reference has {} series, subject {}; missing from subject: [{}]; extra in subject: [{}]",
                r.len(),
                s.len(),
                abbreviate(&missing),
                abbreviate(&extra)
            ),
        );
    }
    for (labels, points) in &r {
        compare_points(&show(labels), points, &s[labels])?;
    }
    Ok(())
}

fn abbreviate(items: &[String]) -> String {
    let mut out = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        out.push_str(&format!(", … ({} more)", items.len() - 3));
    }
    out
}

fn compare_points(what: &str, r: &[(i64, f64)], s: &[(i64, f64)]) -> Result<(), Difference> {
    let (rt, st): (Vec<i64>, Vec<i64>) = (
        r.iter().map(|p| p.0).collect(),
        s.iter().map(|p| p.0).collect(),
    );
    if rt != st {
        let first = rt
            .iter()
            .zip(&st)
            .position(|(a, b)| a != b)
            .unwrap_or(rt.len().min(st.len()));
        return diff(
            Kind::Timestamps,
            format!(
                "{what}: reference has {} points, subject {}; first difference at index {first}: reference {:?}, subject {:?}",
                rt.len(),
                st.len(),
                rt.get(first),
                st.get(first)
            ),
        );
    }
    for (&(t, a), &(_, b)) in r.iter().zip(s) {
        if !values_equal(a, b) {
            return diff(
                Kind::Value,
                format!("{what} at {t} ms: reference {a:?}, subject {b:?}"),
            );
        }
    }
    Ok(())
}

/// The sequences of values must be equal; ties may come in any order.
fn compare_order(r: &[(Labels, i64, f64)], s: &[(Labels, i64, f64)]) -> Result<(), Difference> {
    for (i, (a, b)) in r.iter().zip(s).enumerate() {
        if !values_equal(a.2, b.2) {
            return diff(
                Kind::Order,
                format!(
                    "position {i}: reference {} = {:?}, subject {} = {:?}",
                    show(&a.0),
                    a.2,
                    show(&b.0),
                    b.2
                ),
            );
        }
    }
    Ok(())
}

/// Whether the order of the result matters: the outermost call is `sort` or `sort_desc`
/// (outer parentheses ignored).
pub(crate) fn is_sorted_query(expr: &str) -> bool {
    let mut e = expr.trim();
    while e.starts_with('(') && closing(e, 0) == Some(e.len() - 1) {
        e = e[1..e.len() - 1].trim();
    }
    for f in ["sort", "sort_desc"] {
        if let Some(rest) = e.strip_prefix(f) {
            let open = e.len() - rest.trim_start().len();
            if rest.trim_start().starts_with('(') && closing(e, open) == Some(e.len() - 1) {
                return true;
            }
        }
    }
    false
}

/// The index of the parenthesis closing the one at `open`, skipping quoted strings.
fn closing(e: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in e.char_indices().skip_while(|(i, _)| *i < open) {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}
