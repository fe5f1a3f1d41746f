//! The body of OpenTSDB's `POST /api/put` and the answer to it.
//!
//! The body is one data point object or an array of them. It is read with a streaming serde
//! visitor, not into a `serde_json::Value` tree: each field keeps only what it needs (arrays
//! and objects where a scalar belongs are skipped, not stored; at most [`MAX_LABELS`] + 1
//! tags are kept), so memory stays proportional to the body, whose size the caller bounds
//! with [`PutLimits`].
//!
//! Numbers in `value` are read from their JSON text with Rust's exact `f64` parser
//! (serde_json's default float parser is best-effort and reads about one value in ten of
//! those written with 17 significant digits one or two ULPs off). This uses serde_json's
//! `raw_value` feature, which the workspace gets through axum today.
//!
//! Floe differs from OpenTSDB on one point on purpose: OpenTSDB stores the good points of a
//! request and reports the bad ones; Floe stores nothing from a request with any bad point
//! and reports every bad point (see [`PutBatch::response`]).

use std::cell::Cell;
use std::fmt;

use floe_storage_format::MAX_LABELS;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value, json};

use super::{
    OpenTsdbError, OpenTsdbPoint, add_tag, check_name, parse_timestamp, parse_value,
    timestamp_to_ms, to_series_key,
};

/// Default largest body, after decompression: 8 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;
/// Default most data points in one request (OpenTSDB suggests about 50).
pub const DEFAULT_MAX_POINTS: usize = 100_000;

/// Bounds on one `/api/put` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutLimits {
    /// Largest body accepted, in bytes after gzip is undone. The HTTP layer must also stop
    /// decompressing at this size: a small gzip body can expand without bound.
    pub max_body_bytes: usize,
    /// Most data points accepted in one request.
    pub max_points: usize,
}

impl Default for PutLimits {
    fn default() -> Self {
        PutLimits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

/// A data point of the request that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedPoint {
    /// Its position in the request (0 for a body with a single object).
    pub index: usize,
    /// The point as received, for the `details` answer (`metric`, `timestamp`, `value` and
    /// `tags` as given; an array or object where a scalar belongs shows as `"<array>"` or
    /// `"<object>"`; an element that is not an object shows as `null`).
    pub datapoint: Value,
    /// What was wrong with it.
    pub error: OpenTsdbError,
}

/// A decoded `/api/put` body: the good points and the rejected ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PutBatch {
    /// The points that passed every check, in request order.
    pub points: Vec<OpenTsdbPoint>,
    /// The points that did not, in request order.
    pub rejected: Vec<RejectedPoint>,
}

impl PutBatch {
    /// Data points in the request.
    pub fn total(&self) -> usize {
        self.points.len() + self.rejected.len()
    }

    /// Whether the request may be stored: Floe stores a request only if every point is good.
    pub fn is_accepted(&self) -> bool {
        self.rejected.is_empty()
    }

    /// The HTTP answer, once the points are stored (if [`Self::is_accepted`]) or not at all
    /// (otherwise): `details` and `summary` are the query flags ([`put_flags`]).
    ///
    /// Accepted: 204 with no body, or 200 with `{"success":N,"failed":0}` (and `"errors":[]`
    /// with `details`). Rejected: 400, and since nothing was stored `success` is 0 and
    /// `failed` counts every point of the request, while `errors` lists each bad point with
    /// its error; without flags the 400 body names the first bad point.
    pub fn response(&self, details: bool, summary: bool) -> (u16, Option<String>) {
        match self.is_accepted() {
            true => put_response(self.points.len(), 0, &[], details, summary),
            false => put_response(0, self.total(), &self.rejected, details, summary),
        }
    }
}

/// OpenTSDB's answer to a put: 204 without flags when nothing failed; with `summary`, the
/// counts; with `details` (which wins over `summary`), the counts and `errors`; 400 whenever
/// `failed` is not 0.
pub fn put_response(
    success: usize,
    failed: usize,
    errors: &[RejectedPoint],
    details: bool,
    summary: bool,
) -> (u16, Option<String>) {
    let status = if failed == 0 { 200 } else { 400 };
    if details {
        let errors: Vec<Value> = errors
            .iter()
            .map(|r| json!({"datapoint": r.datapoint, "error": r.error.to_string()}))
            .collect();
        let body = json!({"success": success, "failed": failed, "errors": errors});
        return (status, Some(body.to_string()));
    }
    if summary {
        let body = json!({"success": success, "failed": failed});
        return (status, Some(body.to_string()));
    }
    if failed == 0 {
        return (204, None);
    }
    let first = match errors.first() {
        Some(r) => format!("data point {}: {}", r.index, r.error),
        None => "one or more data points had errors".to_owned(),
    };
    let body = error_body(
        400,
        &format!("{failed} data points not stored: {first}"),
        "nothing from this request was stored; append ?details to the request to see every error",
    );
    (400, Some(body))
}

/// The answer to a body that could not be read at all (not JSON, too large, empty): 413 for
/// size limits, 400 otherwise, with OpenTSDB's error object.
pub fn error_response(error: &OpenTsdbError) -> (u16, String) {
    let status = match error {
        OpenTsdbError::BodyTooLarge { .. } | OpenTsdbError::TooManyPoints { .. } => 413,
        _ => 400,
    };
    (status, error_body(status, &error.to_string(), ""))
}

fn error_body(code: u16, message: &str, details: &str) -> String {
    let mut error = json!({"code": code, "message": message});
    if !details.is_empty() {
        error["details"] = Value::from(details);
    }
    json!({ "error": error }).to_string()
}

/// The `(details, summary)` flags of a put request's query string (without the `?`): each is
/// set by its mere presence, whatever its value, as in OpenTSDB.
pub fn put_flags(query: &str) -> (bool, bool) {
    let mut flags = (false, false);
    for param in query.split('&') {
        match param.split('=').next() {
            Some("details") => flags.0 = true,
            Some("summary") => flags.1 = true,
            _ => {}
        }
    }
    flags
}

/// Decodes an `/api/put` body. A body that cannot be read as a whole (too large, empty, not
/// JSON, neither an object nor an array, no points, too many points) is an error; otherwise
/// every point is checked on its own and lands in [`PutBatch::points`] or
/// [`PutBatch::rejected`].
pub fn parse_put_json(body: &[u8], limits: &PutLimits) -> Result<PutBatch, OpenTsdbError> {
    if body.len() > limits.max_body_bytes {
        return Err(OpenTsdbError::BodyTooLarge {
            len: body.len(),
            max: limits.max_body_bytes,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(OpenTsdbError::EmptyBody);
    }
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = de
        .deserialize_any(BodyVisitor {
            max_points: limits.max_points,
            too_many: &too_many,
        })
        .and_then(|body| de.end().map(|()| body));
    let raw = match parsed {
        Ok(Body::Points(raw)) => raw,
        Ok(Body::Other(found)) => return Err(OpenTsdbError::NotObjectOrArray { found }),
        Err(_) if too_many.get() => {
            return Err(OpenTsdbError::TooManyPoints {
                max: limits.max_points,
            });
        }
        Err(e) => {
            return Err(OpenTsdbError::InvalidJson {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            });
        }
    };
    if raw.is_empty() {
        return Err(OpenTsdbError::NoDatapoints);
    }
    let mut batch = PutBatch::default();
    for (index, raw) in raw.into_iter().enumerate() {
        match validate(&raw) {
            Ok(point) => batch.points.push(point),
            Err(error) => batch.rejected.push(RejectedPoint {
                index,
                datapoint: raw.echo(),
                error,
            }),
        }
    }
    Ok(batch)
}

/// Checks one point as OpenTSDB does, and that it makes a valid Floe series key.
fn validate(raw: &RawPoint) -> Result<OpenTsdbPoint, OpenTsdbError> {
    if let Some(found) = raw.not_object {
        return Err(OpenTsdbError::NotAnObject { found });
    }
    if let Some(field) = &raw.duplicate {
        return Err(OpenTsdbError::DuplicateField {
            field: field.clone(),
        });
    }
    let metric = text("metric", raw.metric.as_ref())?;
    check_name("metric", &metric)?;
    let timestamp_ms = timestamp(raw.timestamp.as_ref())?;
    let value = match raw.exact_value {
        Some(v) if v.is_finite() => v,
        _ => value(raw.value.as_ref())?,
    };
    let mut tags = Vec::new();
    match &raw.tags {
        None => {}
        Some(Tags::Map { entries, skipped }) => {
            if *skipped > 0 {
                return Err(OpenTsdbError::TooManyTags {
                    count: entries.len() + skipped,
                    max: MAX_LABELS,
                });
            }
            for (k, v) in entries {
                add_tag(&mut tags, k, &text("tag value", Some(v))?)?;
            }
        }
        Some(Tags::Other(found)) => {
            return Err(OpenTsdbError::WrongType {
                field: "tags",
                found,
                expected: "an object",
            });
        }
    }
    let point = OpenTsdbPoint {
        metric,
        tags,
        value,
        timestamp_ms,
    };
    to_series_key(&point)?;
    Ok(point)
}

/// A string, or a number taken as its text (Jackson's coercion, which OpenTSDB relies on).
fn text(field: &'static str, f: Option<&Field>) -> Result<String, OpenTsdbError> {
    match f {
        Some(Field::Str(s)) => Ok(s.clone()),
        Some(Field::Num(n)) => Ok(n.to_string()),
        Some(Field::Null) | None => Err(OpenTsdbError::MissingField { field }),
        Some(other) => Err(wrong_type(field, other, "a string")),
    }
}

fn timestamp(f: Option<&Field>) -> Result<i64, OpenTsdbError> {
    match f {
        Some(Field::Num(n)) => {
            let invalid = || OpenTsdbError::InvalidTimestamp {
                timestamp: n.to_string(),
            };
            if let Some(i) = n.as_i64() {
                return timestamp_to_ms(i).ok_or_else(invalid);
            }
            match n.as_f64() {
                _ if n.is_u64() => Err(invalid()),
                // `1.7e9` or `1700000000.0`: an integer written as a float.
                Some(x) if x.fract() == 0.0 && x.abs() < 1e18 => {
                    timestamp_to_ms(x as i64).ok_or_else(invalid)
                }
                _ => Err(OpenTsdbError::BadTimestamp {
                    timestamp: n.to_string(),
                }),
            }
        }
        Some(Field::Str(s)) => parse_timestamp(s),
        Some(Field::Null) | None => Err(OpenTsdbError::MissingField { field: "timestamp" }),
        Some(other) => Err(wrong_type("timestamp", other, "an integer")),
    }
}

fn value(f: Option<&Field>) -> Result<f64, OpenTsdbError> {
    match f {
        Some(Field::Num(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(v),
            _ => Err(OpenTsdbError::NonFiniteValue {
                value: n.to_string(),
            }),
        },
        Some(Field::Str(s)) => parse_value(s),
        Some(Field::Null) | None => Err(OpenTsdbError::MissingField { field: "value" }),
        Some(other) => Err(wrong_type("value", other, "a number")),
    }
}

fn wrong_type(field: &'static str, found: &Field, expected: &'static str) -> OpenTsdbError {
    OpenTsdbError::WrongType {
        field,
        found: found.kind(),
        expected,
    }
}

/// A JSON value where a scalar is expected; arrays and objects are skipped, not kept.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Array,
    Object,
}

impl Field {
    fn kind(&self) -> &'static str {
        match self {
            Field::Null => "null",
            Field::Bool(_) => "a boolean",
            Field::Num(_) => "a number",
            Field::Str(_) => "a string",
            Field::Array => "an array",
            Field::Object => "an object",
        }
    }

    fn echo(&self) -> Value {
        match self {
            Field::Null => Value::Null,
            Field::Bool(b) => Value::Bool(*b),
            Field::Num(n) => Value::Number(n.clone()),
            Field::Str(s) => Value::String(s.clone()),
            Field::Array => Value::from("<array>"),
            Field::Object => Value::from("<object>"),
        }
    }
}

/// The `tags` member: up to [`MAX_LABELS`] + 1 entries kept, the rest only counted.
#[derive(Debug, Clone, PartialEq)]
enum Tags {
    Map {
        entries: Vec<(String, Field)>,
        skipped: usize,
    },
    Other(&'static str),
}

/// One element of the request, as read.
#[derive(Debug, Clone, PartialEq, Default)]
struct RawPoint {
    metric: Option<Field>,
    timestamp: Option<Field>,
    value: Option<Field>,
    /// `value` read from its JSON text with Rust's exact parser, when it is a number.
    exact_value: Option<f64>,
    tags: Option<Tags>,
    /// The first member given twice.
    duplicate: Option<String>,
    /// What the element was, if it was not an object.
    not_object: Option<&'static str>,
}

impl RawPoint {
    fn echo(&self) -> Value {
        if self.not_object.is_some() {
            return Value::Null;
        }
        let mut out = serde_json::Map::new();
        let fields = [
            ("metric", &self.metric),
            ("timestamp", &self.timestamp),
            ("value", &self.value),
        ];
        for (name, field) in fields {
            if let Some(f) = field {
                out.insert(name.into(), f.echo());
            }
        }
        match &self.tags {
            Some(Tags::Map { entries, .. }) => {
                let tags = entries.iter().map(|(k, v)| (k.clone(), v.echo()));
                out.insert("tags".into(), Value::Object(tags.collect()));
            }
            Some(Tags::Other(kind)) => {
                out.insert("tags".into(), Value::from(format!("<{kind}>")));
            }
            None => {}
        }
        Value::Object(out)
    }
}

/// Reads the members of one point object.
fn read_point<'de, A: MapAccess<'de>>(mut map: A) -> Result<RawPoint, A::Error> {
    let mut p = RawPoint::default();
    while let Some(key) = map.next_key::<String>()? {
        let seen = match key.as_str() {
            "metric" => p.metric.replace(map.next_value()?).is_some(),
            "timestamp" => p.timestamp.replace(map.next_value()?).is_some(),
            "value" => {
                let raw: &'de RawValue = map.next_value()?;
                let field: Field = serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
                p.exact_value = match field {
                    Field::Num(_) => raw.get().parse().ok(),
                    _ => None,
                };
                p.value.replace(field).is_some()
            }
            "tags" => p.tags.replace(map.next_value_seed(TagsSeed)?).is_some(),
            _ => {
                map.next_value::<IgnoredAny>()?;
                false
            }
        };
        if seen && p.duplicate.is_none() {
            p.duplicate = Some(key);
        }
    }
    Ok(p)
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The visits of every JSON type but objects, mapped to `$wrap(kind)`.
macro_rules! visit_non_objects {
    ($wrap:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($wrap("a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($wrap("a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($wrap("a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($wrap("a number"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($wrap("a string"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($wrap("null"))
        }
    };
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Field, E> {
        Ok(Field::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Num(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
        Ok(Field::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field, E> {
        Ok(Number::from_f64(v).map_or(Field::Null, Field::Num))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
        Ok(Field::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field, A::Error> {
        drain_seq(seq).map(|()| Field::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field, A::Error> {
        drain_map(map).map(|()| Field::Object)
    }
}

struct TagsSeed;

impl<'de> DeserializeSeed<'de> for TagsSeed {
    type Value = Tags;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Tags, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TagsSeed {
    type Value = Tags;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tags object")
    }
    visit_non_objects!(Tags::Other);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Tags, A::Error> {
        drain_seq(seq).map(|()| Tags::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
        let mut entries = Vec::new();
        let mut skipped = 0;
        while let Some(key) = map.next_key::<String>()? {
            if entries.len() <= MAX_LABELS {
                entries.push((key, map.next_value::<Field>()?));
            } else {
                map.next_value::<IgnoredAny>()?;
                skipped += 1;
            }
        }
        Ok(Tags::Map { entries, skipped })
    }
}

/// One element of the top-level array: a point object, or a note of what it was instead.
struct PointSeed;

impl<'de> DeserializeSeed<'de> for PointSeed {
    type Value = RawPoint;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawPoint, D::Error> {
        d.deserialize_any(self)
    }
}

fn not_object(kind: &'static str) -> RawPoint {
    RawPoint {
        not_object: Some(kind),
        ..RawPoint::default()
    }
}

impl<'de> Visitor<'de> for PointSeed {
    type Value = RawPoint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a data point object")
    }
    visit_non_objects!(not_object);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawPoint, A::Error> {
        drain_seq(seq).map(|()| not_object("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPoint, A::Error> {
        read_point(map)
    }
}

enum Body {
    Points(Vec<RawPoint>),
    Other(&'static str),
}

struct BodyVisitor<'a> {
    max_points: usize,
    /// Set when the array has more than `max_points` elements (reading stops with an error).
    too_many: &'a Cell<bool>,
}

impl<'de> Visitor<'de> for BodyVisitor<'_> {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a data point object or an array of them")
    }
    visit_non_objects!(Body::Other);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
        let mut points = Vec::new();
        while let Some(point) = seq.next_element_seed(PointSeed)? {
            if points.len() == self.max_points {
                self.too_many.set(true);
                return Err(de::Error::custom("too many data points"));
            }
            points.push(point);
        }
        Ok(Body::Points(points))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body, A::Error> {
        read_point(map).map(|p| Body::Points(vec![p]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_set_by_presence() {
        assert_eq!(put_flags("details"), (true, false));
        assert_eq!(put_flags("summary=false&sync"), (false, true));
        assert_eq!(put_flags("details=&summary"), (true, true));
        assert_eq!(put_flags(""), (false, false));
    }

    #[test]
    fn numbers_coerce_to_text_and_composites_are_skipped() {
        let body = br#"{"metric":"m","timestamp":"1479496100","value":"42","tags":{"cpu":0}}"#;
        let batch = parse_put_json(body, &PutLimits::default()).expect("body");
        assert_eq!(batch.points[0].tags, [("cpu".to_owned(), "0".to_owned())]);
        assert_eq!(batch.points[0].value, 42.0);
        let body = br#"{"metric":["x",[1,2]],"timestamp":1,"value":1}"#;
        let batch = parse_put_json(body, &PutLimits::default()).expect("body");
        assert_eq!(batch.rejected[0].datapoint["metric"], "<array>");
    }
}
