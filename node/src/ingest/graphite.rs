//! Graphite plaintext protocol: `path value [timestamp]`, one sample a line, as carbon reads it
//! on TCP port 2003, with tagged paths `path;tag1=value1;tag2=value2`.
//!
//! [`parse_graphite_line`] decodes one line; [`GraphiteDecoder`] frames a TCP stream into lines
//! (with the [`framer`] shared with OpenTSDB telnet), skips and counts malformed ones by reason,
//! and never stops on bad input: relays forward whatever they receive. [`to_series_key`] is
//! the one mapping of a line onto a Floe series: the dotted path is the metric name as it is,
//! the tags are labels. Every rule and the reasons for it are in
//! `docs/protocol-graphite-opentsdb.md`.

pub mod framer;

use std::borrow::Cow;

use floe_storage_format::{MAX_LABELS, MAX_NAME_LEN, SeriesKey};

pub use framer::{
    DEFAULT_MAX_LINE_LEN, Frame, LineFormat, LineFramer, MalformedCounts, StreamDecoder,
};

/// Largest timestamp accepted, in seconds: 9999-12-31T23:59:59Z. A larger one is almost
/// always milliseconds sent where Graphite expects seconds, and is rejected rather than stored
/// thousands of years ahead.
pub const MAX_TIMESTAMP_SECS: i64 = 253_402_300_799;

/// Longest piece of input quoted in an error message, in bytes.
const QUOTE_MAX: usize = 64;

/// One decoded Graphite line.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphiteLine<'a> {
    /// The metric path before any `;`, as sent (dots kept).
    pub name: Cow<'a, str>,
    /// Tags in the order sent; names are unique.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The sample value; never NaN, may be ±infinity.
    pub value: f64,
    /// Milliseconds since the Unix epoch; `None` means "now" (missing, `-1` or `0`): the
    /// caller stamps it with its clock.
    pub timestamp_ms: Option<i64>,
}

impl GraphiteLine<'_> {
    /// The Floe series of this line: see [`to_series_key`].
    pub fn series_key(&self) -> Result<SeriesKey, GraphiteError> {
        to_series_key(self)
    }
}

/// Why a Graphite line was rejected. [`GraphiteError::reason`] gives a stable code for each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphiteError {
    #[error("empty line")]
    Empty,
    #[error("not valid UTF-8 at byte {at}")]
    NotUtf8 { at: usize },
    #[error("expected `path value [timestamp]`, found {found} fields")]
    FieldCount { found: usize },
    #[error("empty metric path")]
    EmptyName,
    #[error("path {path:?}: empty segment at byte {at} (`..`, or a leading or trailing dot)")]
    EmptySegment { path: String, at: usize },
    #[error("{what} {text:?}: control character {ch:?} at byte {at}")]
    ControlChar {
        what: &'static str,
        text: String,
        ch: char,
        at: usize,
    },
    #[error("{what} is {len} bytes long, at most {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("tag {segment:?}: {problem}")]
    BadTag {
        segment: String,
        problem: &'static str,
    },
    #[error("tag {tag:?} is reserved")]
    ReservedTag { tag: String },
    #[error("tag {tag:?} given twice")]
    DuplicateTag { tag: String },
    #[error("{count} tags, at most {max}")]
    TooManyTags { count: usize, max: usize },
    #[error("value {value:?} is not a number")]
    BadValue { value: String },
    #[error("value is NaN (carbon drops NaN samples too)")]
    NanValue,
    #[error("timestamp {timestamp:?} is not a number of seconds")]
    BadTimestamp { timestamp: String },
    #[error(
        "timestamp {timestamp:?} is out of range (seconds from 0 to {MAX_TIMESTAMP_SECS}, or -1 \
         for now; milliseconds sent as seconds?)"
    )]
    TimestampOutOfRange { timestamp: String },
    #[error("line longer than {max} bytes")]
    LineTooLong { max: usize },
    #[error("series key: {reason}")]
    SeriesKey { reason: String },
}

impl GraphiteError {
    /// A stable, machine-readable code for the kind of error (used to count malformed lines).
    pub fn reason(&self) -> &'static str {
        match self {
            GraphiteError::Empty => "empty",
            GraphiteError::NotUtf8 { .. } => "not_utf8",
            GraphiteError::FieldCount { .. } => "field_count",
            GraphiteError::EmptyName => "empty_name",
            GraphiteError::EmptySegment { .. } => "empty_segment",
            GraphiteError::ControlChar { .. } => "control_char",
            GraphiteError::TooLong { .. } => "too_long",
            GraphiteError::BadTag { .. } => "bad_tag",
            GraphiteError::ReservedTag { .. } => "reserved_tag",
            GraphiteError::DuplicateTag { .. } => "duplicate_tag",
            GraphiteError::TooManyTags { .. } => "too_many_tags",
            GraphiteError::BadValue { .. } => "bad_value",
            GraphiteError::NanValue => "nan_value",
            GraphiteError::BadTimestamp { .. } => "bad_timestamp",
            GraphiteError::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            GraphiteError::LineTooLong { .. } => "line_too_long",
            GraphiteError::SeriesKey { .. } => "series_key",
        }
    }
}

/// Decodes one Graphite plaintext line, given without its newline (a trailing `\r` and
/// surrounding spaces or tabs are ignored).
pub fn parse_graphite_line(line: &[u8]) -> Result<GraphiteLine<'_>, GraphiteError> {
    let line = std::str::from_utf8(line).map_err(|e| GraphiteError::NotUtf8 {
        at: e.valid_up_to(),
    })?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Fields { rest: line };
    let (Some(path), Some(value)) = (fields.next(), fields.next()) else {
        return Err(match line.trim_matches([' ', '\t']).is_empty() {
            true => GraphiteError::Empty,
            false => GraphiteError::FieldCount { found: 1 },
        });
    };
    let timestamp = fields.next();
    let extra = fields.count();
    if extra > 0 {
        return Err(GraphiteError::FieldCount { found: 3 + extra });
    }
    let (name, tags) = parse_path(path)?;
    let value = parse_value(value)?;
    let timestamp_ms = match timestamp {
        Some(t) => parse_timestamp(t)?,
        None => None,
    };
    Ok(GraphiteLine {
        name: Cow::Borrowed(name),
        tags,
        value,
        timestamp_ms,
    })
}

/// The fields of a line: runs of characters between runs of spaces and tabs. Both are ASCII,
/// so every cut falls on a character boundary.
struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let is_space = |b: &u8| *b == b' ' || *b == b'\t';
        let bytes = self.rest.as_bytes();
        let start = bytes.iter().position(|b| !is_space(b))?;
        let end = (bytes[start..].iter().position(is_space)).map_or(bytes.len(), |n| start + n);
        let field = &self.rest[start..end];
        self.rest = &self.rest[end..];
        Some(field)
    }
}

type Tags<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Splits `name;tag=value;...` and checks every part.
fn parse_path(path: &str) -> Result<(&str, Tags<'_>), GraphiteError> {
    let mut segments = path.split(';');
    let name = segments.next().unwrap_or_default();
    check_name(name)?;
    let mut tags: Tags<'_> = Vec::new();
    for segment in segments {
        if tags.len() == MAX_LABELS {
            return Err(GraphiteError::TooManyTags {
                count: path.split(';').count() - 1,
                max: MAX_LABELS,
            });
        }
        let (tag, value) = parse_tag(segment)?;
        if tags.iter().any(|(t, _)| t == tag) {
            return Err(GraphiteError::DuplicateTag { tag: quote(tag) });
        }
        tags.push((Cow::Borrowed(tag), Cow::Borrowed(value)));
    }
    Ok((name, tags))
}

/// A metric path: not empty, not too long, no control character, no empty segment — in one
/// pass over the bytes.
fn check_name(name: &str) -> Result<(), GraphiteError> {
    if name.is_empty() {
        return Err(GraphiteError::EmptyName);
    }
    check_len("metric path", name)?;
    let empty_segment = |at| GraphiteError::EmptySegment {
        path: quote(name),
        at,
    };
    // A leading dot starts with an empty segment.
    let mut after_dot = true;
    for (at, &b) in name.as_bytes().iter().enumerate() {
        if is_control(b) {
            return Err(control_char("metric path", name, at));
        }
        if b == b'.' {
            if after_dot {
                return Err(empty_segment(at));
            }
            after_dot = true;
        } else {
            after_dot = false;
        }
    }
    match after_dot {
        true => Err(empty_segment(name.len())),
        false => Ok(()),
    }
}

/// One `tag=value` segment, with carbon's rules: the name is not empty and has none of
/// `;!^=`; the value is not empty and does not start with `~`.
fn parse_tag(segment: &str) -> Result<(&str, &str), GraphiteError> {
    let bad = |problem| GraphiteError::BadTag {
        segment: quote(segment),
        problem,
    };
    let Some((tag, value)) = segment.split_once('=') else {
        return Err(bad("no `=` between tag name and value"));
    };
    if tag.is_empty() {
        return Err(bad("empty tag name"));
    }
    if value.is_empty() {
        return Err(bad("empty tag value"));
    }
    if tag.contains(['!', '^']) {
        return Err(bad("tag names may not contain `!` or `^`"));
    }
    if value.starts_with('~') {
        return Err(bad("tag values may not start with `~`"));
    }
    if tag == "name" || tag == "__name__" {
        return Err(GraphiteError::ReservedTag { tag: tag.into() });
    }
    check_len("tag name", tag)?;
    check_len("tag value", value)?;
    check_controls("tag name", tag)?;
    check_controls("tag value", value)?;
    Ok((tag, value))
}

fn check_len(what: &'static str, s: &str) -> Result<(), GraphiteError> {
    if s.len() > MAX_NAME_LEN {
        return Err(GraphiteError::TooLong {
            what,
            len: s.len(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}

fn check_controls(what: &'static str, s: &str) -> Result<(), GraphiteError> {
    match s.bytes().position(is_control) {
        Some(at) => Err(control_char(what, s, at)),
        None => Ok(()),
    }
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn control_char(what: &'static str, s: &str, at: usize) -> GraphiteError {
    GraphiteError::ControlChar {
        what,
        text: quote(s),
        ch: char::from(s.as_bytes()[at]),
        at,
    }
}

/// A float as carbon's Python `float()` reads it: decimal, exponent, `inf`; NaN is refused.
fn parse_value(text: &str) -> Result<f64, GraphiteError> {
    let value: f64 = text
        .parse()
        .map_err(|_| GraphiteError::BadValue { value: quote(text) })?;
    if value.is_nan() {
        return Err(GraphiteError::NanValue);
    }
    Ok(value)
}

/// Seconds since the epoch, possibly fractional, to milliseconds (below a millisecond is
/// truncated). `-1` and `0` (whole seconds, after truncation) mean "now".
fn parse_timestamp(text: &str) -> Result<Option<i64>, GraphiteError> {
    let (secs, millis) = match split_decimal(text) {
        Some(parts) => parts,
        None => float_seconds(text)?,
    };
    if secs == 0 || secs == -1 {
        return Ok(None);
    }
    if !(0..=MAX_TIMESTAMP_SECS).contains(&secs) {
        return Err(GraphiteError::TimestampOutOfRange {
            timestamp: quote(text),
        });
    }
    Ok(Some(secs * 1000 + millis))
}

/// `[+-]digits[.digits]` to (whole seconds truncated toward zero, milliseconds of the
/// fraction), exactly; `None` if `text` is not of that form or too large for `i64`.
fn split_decimal(text: &str) -> Option<(i64, i64)> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut secs: i64 = 0;
    for b in int.bytes() {
        secs = secs.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let millis = (frac.bytes().chain(std::iter::repeat(b'0')).take(3))
        .fold(0, |ms, b| ms * 10 + i64::from(b - b'0'));
    Some(match negative {
        true => (-secs, -millis),
        false => (secs, millis),
    })
}

/// Exponent forms (`1.7e9`), as Python's `float()` accepts them.
fn float_seconds(text: &str) -> Result<(i64, i64), GraphiteError> {
    let bad = || GraphiteError::BadTimestamp {
        timestamp: quote(text),
    };
    let secs: f64 = text.parse().map_err(|_| bad())?;
    if !secs.is_finite() {
        return Err(bad());
    }
    // Out-of-range values saturate; the range check that follows rejects them.
    let whole = secs.trunc() as i64;
    let millis = ((secs - secs.trunc()) * 1000.0).trunc() as i64;
    Ok((whole, millis))
}

/// At most [`QUOTE_MAX`] bytes of `s`, cut at a character boundary, for error messages.
fn quote(s: &str) -> String {
    if s.len() <= QUOTE_MAX {
        return s.to_owned();
    }
    let mut end = QUOTE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The Floe series of a Graphite line: the metric name is the path exactly as sent (dots
/// kept, as VictoriaMetrics and carbon's tag database keep it), each tag is a label.
pub fn to_series_key(line: &GraphiteLine<'_>) -> Result<SeriesKey, GraphiteError> {
    let labels = line.tags.iter().map(|(t, v)| (t.as_ref(), v.as_ref()));
    SeriesKey::new(line.name.as_ref(), labels).map_err(|e| GraphiteError::SeriesKey {
        reason: e.to_string(),
    })
}

/// The Graphite plaintext line format, for [`StreamDecoder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GraphiteFormat;

impl LineFormat for GraphiteFormat {
    type Line<'a> = GraphiteLine<'a>;
    type Error = GraphiteError;

    fn parse(bytes: &[u8]) -> Result<GraphiteLine<'_>, GraphiteError> {
        parse_graphite_line(bytes)
    }

    fn too_long(max: usize) -> GraphiteError {
        GraphiteError::LineTooLong { max }
    }

    fn reason(e: &GraphiteError) -> Option<&'static str> {
        (!matches!(e, GraphiteError::Empty)).then(|| e.reason())
    }
}

/// Decodes the Graphite stream of one TCP connection (see [`StreamDecoder`]).
pub type GraphiteDecoder = StreamDecoder<GraphiteFormat>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_tagged_lines() {
        let l = parse_graphite_line(b"servers.web1.cpu 12.5 1700000000").expect("valid");
        assert_eq!(l.name, "servers.web1.cpu");
        assert_eq!(l.value, 12.5);
        assert_eq!(l.timestamp_ms, Some(1_700_000_000_000));
        let l = parse_graphite_line(b"disk.used;dc=eu;rack=a1 1 1700000000").expect("valid");
        assert_eq!(l.tags.len(), 2);
        let key = l.series_key().expect("valid key");
        assert_eq!(key.to_string(), r#"disk.used{dc="eu",rack="a1"}"#);
    }

    #[test]
    fn timestamps() {
        let ts = |s: &str| parse_timestamp(s);
        assert_eq!(ts("1700000000.5"), Ok(Some(1_700_000_000_500)));
        assert_eq!(ts("1700000000.1239"), Ok(Some(1_700_000_000_123)));
        assert_eq!(ts("1.7e9"), Ok(Some(1_700_000_000_000)));
        assert_eq!(ts("-1"), Ok(None));
        assert_eq!(ts("0"), Ok(None));
        assert_eq!(ts("-1.5"), Ok(None));
        assert!(ts("-2").is_err());
        assert!(ts("1700000000000").is_err());
        assert!(ts("99999999999999999999999").is_err());
        assert!(ts("nan").is_err());
        assert!(ts(".").is_err());
        assert!(ts("-").is_err());
    }
}
