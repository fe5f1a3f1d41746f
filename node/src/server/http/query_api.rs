//! What the Prometheus API endpoints share: form parameters (URL query and form-encoded
//! body), Prometheus's time and duration formats, error answers, and the JSON envelope.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use floe_query::QueryError;

pub(super) use super::query_json::{json_string, success};

/// An API error: `{"status":"error","errorType":…,"error":…}` with Prometheus's status.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) error_type: &'static str,
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// `bad_data`, 400: the request is malformed.
    pub(super) fn bad_data(message: impl Into<String>) -> Self {
        Self {
            error_type: "bad_data",
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// `internal`, 500.
    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self {
            error_type: "internal",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// `unavailable`, 503: the node cannot take the query now (retryable).
    pub(super) fn unavailable(message: impl Into<String>) -> Self {
        Self {
            error_type: "unavailable",
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    /// `conflict`, 409: the request contradicts the state (e.g. a rebalance runs).
    pub(super) fn conflict(message: impl Into<String>) -> Self {
        Self {
            error_type: "conflict",
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }

    /// `not_found`, 404.
    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self {
            error_type: "not_found",
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// The error type and status the query error maps to.
    pub(super) fn query(e: &QueryError) -> Self {
        Self {
            error_type: e.error_type(),
            status: StatusCode::from_u16(e.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: e.to_string(),
        }
    }

    /// `invalid parameter "name": reason`, `bad_data`.
    pub(super) fn param(name: &str, reason: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter \"{name}\": {reason}"))
    }

    /// The HTTP status.
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub(super) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = format!(
            "{{\"status\":\"error\",\"errorType\":\"{}\",\"error\":{}}}",
            self.error_type,
            json_string(&self.message)
        );
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// The parameters of a request: the form-encoded body's (of a POST with
/// `Content-Type: application/x-www-form-urlencoded`) first, then the URL query's, as Go's
/// `Request.ParseForm` orders them.
#[derive(Debug, Default)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes the URL query and, when form-encoded, the body.
    pub(super) fn parse(
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, ApiError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let mut pairs = Vec::new();
        if form {
            decode_form(body, &mut pairs)?;
        }
        decode_form(query.unwrap_or("").as_bytes(), &mut pairs)?;
        Ok(Self { pairs })
    }

    /// The first value of `name` (`""` counts as absent, as in Go's `FormValue`).
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name`, in order.
    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter, or `default` when absent; errors as Prometheus words them.
    pub(super) fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_time(v).map_err(|e| {
                ApiError::param(name, format!("invalid time value for '{name}': {e}"))
            }),
        }
    }

    /// An optional `limit` parameter (0 or absent: no limit).
    pub(super) fn limit(&self) -> Result<Option<usize>, ApiError> {
        match self.get("limit") {
            None => Ok(None),
            Some(v) => match v.parse::<usize>() {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(ApiError::param(
                    "limit",
                    format!("cannot parse {v:?} to a valid limit"),
                )),
            },
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs into `out`. Unlike most decoders, bytes
/// that are not UTF-8 after percent-decoding are an error naming the parameter, not replaced.
fn decode_form(raw: &[u8], out: &mut Vec<(String, String)>) -> Result<(), ApiError> {
    for piece in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &b""[..]),
        };
        let key = String::from_utf8(unescape(k)?).map_err(|_| {
            ApiError::bad_data("error parsing form values: a parameter name is not valid UTF-8")
        })?;
        let value = String::from_utf8(unescape(v)?)
            .map_err(|e| ApiError::param(&key, format!("not valid UTF-8: {e}")))?;
        out.push((key, value));
    }
    Ok(())
}

fn unescape(s: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                let Some(b) = hex else {
                    let bad = String::from_utf8_lossy(&s[i..s.len().min(i + 3)]).into_owned();
                    return Err(ApiError::bad_data(format!(
                        "error parsing form values: invalid URL escape {bad:?}"
                    )));
                };
                out.push(b);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

/// Prometheus's earliest and latest representable times, as its clients send them.
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// A time as unix seconds (fractions rounded to the millisecond) or RFC 3339, in ms.
pub(super) fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        let ms = (f.trunc() * 1000.0) + (f.fract() * 1000.0).round();
        // `as` saturates; the range check keeps the saturated ends out.
        return if ms.is_finite() && ms.abs() < 9.2e18 {
            Ok(ms as i64)
        } else {
            Err(err())
        };
    }
    match s {
        MIN_TIME_FORMATTED => return Ok(i64::MIN),
        MAX_TIME_FORMATTED => return Ok(i64::MAX),
        _ => {}
    }
    super::query_json::parse_rfc3339(s).ok_or_else(err)
}

/// A duration as seconds (with fractions) or as Prometheus writes it (`1h30m`, `15s`, `100ms`),
/// in ms (sub-millisecond parts dropped).
pub(super) fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        return if ms.is_finite() && ms.abs() < 9.2e18 {
            Ok(ms as i64)
        } else {
            Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ))
        };
    }
    prometheus_duration(s).ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// `[0-9]+` followed by a unit, units in the order y w d h m s ms, each at most once.
fn prometheus_duration(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return None;
    }
    let (mut rest, mut total, mut next_unit) = (s, 0i64, 0usize);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..digits].parse().ok()?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        let at = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        total = total.checked_add(n.checked_mul(UNITS[at].1)?)?;
        next_unit = at + 1;
        rest = &after[unit_len..];
    }
    Some(total)
}

/// A number with thousands separators, as Prometheus writes its 11,000 points limit.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    super::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_prometheus() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.1234"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(i64::MAX));
        for bad in [
            "",
            "x",
            "NaN",
            "inf",
            "1e300",
            "2023-11-14",
            "2023-13-14T00:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("1m"), Ok(60_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("2d100ms"), Ok(172_800_100));
        for bad in ["", "1x", "m", "30m1h", "1m1m", "99999999999999999999y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forms_decode_and_refuse_bad_bytes() {
        let mut out = Vec::new();
        decode_form(b"query=sum+by%20(x)&match%5B%5D=a&&empty", &mut out).expect("valid");
        assert_eq!(
            out,
            vec![
                ("query".into(), "sum by (x)".into()),
                ("match[]".into(), "a".into()),
                ("empty".into(), String::new()),
            ]
        );
        let e = decode_form(b"query=%ff%fe", &mut out).expect_err("not UTF-8");
        assert!(e.message().contains("\"query\": not valid UTF-8"), "{e:?}");
        let e = decode_form(b"query=%zz", &mut out).expect_err("bad escape");
        assert!(e.message().contains("invalid URL escape \"%zz\""), "{e:?}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(11_000), "11,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
