//! OpenTSDB ingest: the telnet-style `put` command on TCP port 4242 and the JSON body of
//! `POST /api/put`.
//!
//! [`parse_telnet_line`] decodes one telnet line; [`TelnetDecoder`] frames a TCP stream with the
//! same [`StreamDecoder`] as Graphite and counts malformed lines by reason. [`parse_put_json`]
//! decodes an `/api/put` body (gzip is undone by the HTTP layer first) into good points and
//! rejected ones, and [`PutBatch::response`] builds OpenTSDB's answer. Floe stores nothing
//! from a request with a bad point: see `docs/protocol-graphite-opentsdb.md` for this and
//! every other rule. [`to_series_key`] is the one mapping onto a Floe series: the metric is
//! the name, the tags are labels.

mod put_json;

use floe_storage_format::{MAX_LABELS, MAX_NAME_LEN, SeriesKey};

use crate::ingest::graphite::framer::{LineFormat, StreamDecoder};

pub use crate::ingest::graphite::framer::DEFAULT_MAX_LINE_LEN;
pub use put_json::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_POINTS, PutBatch, PutLimits, RejectedPoint, error_response,
    parse_put_json, put_flags, put_response,
};

/// Largest timestamp accepted, in milliseconds (OpenTSDB's limit: 13 digits).
pub const MAX_TIMESTAMP_MS: i64 = 9_999_999_999_999;
/// Timestamps below this are seconds, at or above it milliseconds (OpenTSDB's `SECOND_MASK`:
/// a seconds timestamp fits in 32 bits).
pub const FIRST_MILLISECOND_TIMESTAMP: i64 = 1 << 32;

/// Longest piece of input quoted in an error message, in bytes.
const QUOTE_MAX: usize = 64;

/// One OpenTSDB data point.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTsdbPoint {
    /// The metric name, as sent.
    pub metric: String,
    /// Tags in the order sent; names are unique.
    pub tags: Vec<(String, String)>,
    /// The value; always finite.
    pub value: f64,
    /// Milliseconds since the Unix epoch, positive.
    pub timestamp_ms: i64,
}

impl OpenTsdbPoint {
    /// The Floe series of this point: see [`to_series_key`].
    pub fn series_key(&self) -> Result<SeriesKey, OpenTsdbError> {
        to_series_key(self)
    }
}

/// A decoded telnet line.
#[derive(Debug, Clone, PartialEq)]
pub enum TelnetCommand {
    /// `put <metric> <timestamp> <value> [<tagk>=<tagv> ...]`: store the point.
    Put(OpenTsdbPoint),
    /// `version`: answer with a line ([`version_reply`]); tcollector sends it to check that
    /// the connection is alive and drops the connection if nothing comes back.
    Version,
    /// `help`: answer with [`HELP_REPLY`].
    Help,
    /// `stats`: recognised so that it is not counted as an error; Floe answers nothing (its
    /// own statistics are on `/metrics`).
    Stats,
    /// `exit`: close the connection.
    Exit,
}

/// The answer to `help`.
pub const HELP_REPLY: &str = "available commands: exit help put stats version\n";

/// The answer to `version`.
pub fn version_reply(floe_version: &str) -> String {
    format!("floe {floe_version} (OpenTSDB telnet put)\n")
}

/// Why an OpenTSDB line, body or data point was rejected. [`OpenTsdbError::reason`] gives a
/// stable code for each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpenTsdbError {
    // Telnet lines.
    #[error("empty line")]
    Empty,
    #[error("not valid UTF-8 at byte {at}")]
    NotUtf8 { at: usize },
    #[error("unknown command: {command}.  Try `help'.")]
    UnknownCommand { command: String },
    #[error("command {command} is not supported by Floe")]
    UnsupportedCommand { command: &'static str },
    #[error("not enough arguments (need at least 3: metric timestamp value, got {got})")]
    NotEnoughArguments { got: usize },
    #[error("line longer than {max} bytes")]
    LineTooLong { max: usize },

    // Data points (telnet and JSON).
    #[error("empty {what}")]
    EmptyName { what: &'static str },
    #[error("invalid {what} ({name:?}): illegal character: {ch:?}")]
    IllegalCharacter {
        what: &'static str,
        name: String,
        ch: char,
    },
    #[error("{what} is {len} bytes long, at most {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("invalid tag {tag:?}: expected tagk=tagv")]
    BadTag { tag: String },
    #[error("tag {tag:?} is reserved")]
    ReservedTag { tag: String },
    #[error("duplicate tag {tag:?} with different values")]
    DuplicateTag { tag: String },
    #[error("{count} tags, at most {max}")]
    TooManyTags { count: usize, max: usize },
    #[error("timestamp {timestamp:?} is not a number (seconds, milliseconds or seconds.millis)")]
    BadTimestamp { timestamp: String },
    #[error("invalid timestamp {timestamp:?} (must be positive and at most {MAX_TIMESTAMP_MS} ms)")]
    InvalidTimestamp { timestamp: String },
    #[error("value {value:?} is not a number")]
    BadValue { value: String },
    #[error("value {value:?} is NaN or infinite")]
    NonFiniteValue { value: String },
    #[error("series key: {reason}")]
    SeriesKey { reason: String },

    // `/api/put` bodies and their data points.
    #[error("request body is {len} bytes, at most {max}")]
    BodyTooLarge { len: usize, max: usize },
    #[error("missing request content")]
    EmptyBody,
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    InvalidJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("expected a data point object or an array of them, found {found}")]
    NotObjectOrArray { found: &'static str },
    #[error("no datapoints found in content")]
    NoDatapoints,
    #[error("more than {max} data points in one request")]
    TooManyPoints { max: usize },
    #[error("data point is {found}, not an object")]
    NotAnObject { found: &'static str },
    #[error("missing {field}")]
    MissingField { field: &'static str },
    #[error("{field} is {found}, expected {expected}")]
    WrongType {
        field: &'static str,
        found: &'static str,
        expected: &'static str,
    },
    #[error("field {field:?} given twice")]
    DuplicateField { field: String },
}

impl OpenTsdbError {
    /// A stable, machine-readable code for the kind of error.
    pub fn reason(&self) -> &'static str {
        use OpenTsdbError as E;
        match self {
            E::Empty => "empty",
            E::NotUtf8 { .. } => "not_utf8",
            E::UnknownCommand { .. } => "unknown_command",
            E::UnsupportedCommand { .. } => "unsupported_command",
            E::NotEnoughArguments { .. } => "not_enough_arguments",
            E::LineTooLong { .. } => "line_too_long",
            E::EmptyName { .. } => "empty_name",
            E::IllegalCharacter { .. } => "illegal_character",
            E::TooLong { .. } => "too_long",
            E::BadTag { .. } => "bad_tag",
            E::ReservedTag { .. } => "reserved_tag",
            E::DuplicateTag { .. } => "duplicate_tag",
            E::TooManyTags { .. } => "too_many_tags",
            E::BadTimestamp { .. } => "bad_timestamp",
            E::InvalidTimestamp { .. } => "invalid_timestamp",
            E::BadValue { .. } => "bad_value",
            E::NonFiniteValue { .. } => "non_finite_value",
            E::SeriesKey { .. } => "series_key",
            E::BodyTooLarge { .. } => "body_too_large",
            E::EmptyBody => "empty_body",
            E::InvalidJson { .. } => "invalid_json",
            E::NotObjectOrArray { .. } => "not_object_or_array",
            E::NoDatapoints => "no_datapoints",
            E::TooManyPoints { .. } => "too_many_points",
            E::NotAnObject { .. } => "not_an_object",
            E::MissingField { .. } => "missing_field",
            E::WrongType { .. } => "wrong_type",
            E::DuplicateField { .. } => "duplicate_field",
        }
    }

    /// The line OpenTSDB writes back on the telnet connection for this error, newline
    /// included (`put: invalid value: ...`, `put: illegal argument: ...`,
    /// `unknown command: ...`).
    pub fn telnet_reply(&self) -> String {
        match self {
            OpenTsdbError::UnknownCommand { .. } | OpenTsdbError::UnsupportedCommand { .. } => {
                format!("{self}\n")
            }
            OpenTsdbError::BadValue { .. }
            | OpenTsdbError::NonFiniteValue { .. }
            | OpenTsdbError::BadTimestamp { .. } => format!("put: invalid value: {self}\n"),
            _ => format!("put: illegal argument: {self}\n"),
        }
    }
}

/// Decodes one telnet line, given without its newline. Fields are separated by runs of
/// spaces or tabs; leading and trailing ones are ignored.
pub fn parse_telnet_line(line: &[u8]) -> Result<TelnetCommand, OpenTsdbError> {
    let line = std::str::from_utf8(line).map_err(|e| OpenTsdbError::NotUtf8 {
        at: e.valid_up_to(),
    })?;
    let mut words = line.split([' ', '\t', '\r']).filter(|w| !w.is_empty());
    let Some(command) = words.next() else {
        return Err(OpenTsdbError::Empty);
    };
    match command {
        "put" => parse_put(words).map(TelnetCommand::Put),
        "version" => Ok(TelnetCommand::Version),
        "help" => Ok(TelnetCommand::Help),
        "stats" => Ok(TelnetCommand::Stats),
        "exit" => Ok(TelnetCommand::Exit),
        "rollup" => Err(OpenTsdbError::UnsupportedCommand { command: "rollup" }),
        "histogram" => Err(OpenTsdbError::UnsupportedCommand {
            command: "histogram",
        }),
        "dropcaches" => Err(OpenTsdbError::UnsupportedCommand {
            command: "dropcaches",
        }),
        "diediedie" => Err(OpenTsdbError::UnsupportedCommand {
            command: "diediedie",
        }),
        other => Err(OpenTsdbError::UnknownCommand {
            command: quote(other),
        }),
    }
}

/// `<metric> <timestamp> <value> [<tagk>=<tagv> ...]`, after `put`.
fn parse_put<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<OpenTsdbPoint, OpenTsdbError> {
    let metric = words.next();
    let timestamp = words.next();
    let value = words.next();
    let (Some(metric), Some(timestamp), Some(value)) = (metric, timestamp, value) else {
        let got = [metric, timestamp, value].iter().flatten().count();
        return Err(OpenTsdbError::NotEnoughArguments { got });
    };
    check_name("metric", metric)?;
    let timestamp_ms = parse_timestamp(timestamp)?;
    let value = parse_value(value)?;
    let mut tags = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(OpenTsdbError::BadTag { tag: quote(word) });
        };
        add_tag(&mut tags, k, v)?;
    }
    Ok(OpenTsdbPoint {
        metric: metric.to_owned(),
        tags,
        value,
        timestamp_ms,
    })
}

/// Checks a tag and appends it, as OpenTSDB's `Tags.parse` does: a tag given twice with the
/// same value counts once, with different values it is an error.
fn add_tag(tags: &mut Vec<(String, String)>, k: &str, v: &str) -> Result<(), OpenTsdbError> {
    check_name("tag name", k)?;
    check_name("tag value", v)?;
    if k == "__name__" {
        return Err(OpenTsdbError::ReservedTag { tag: k.to_owned() });
    }
    if let Some((_, old)) = tags.iter().find(|(t, _)| t == k) {
        return match old == v {
            true => Ok(()),
            false => Err(OpenTsdbError::DuplicateTag { tag: quote(k) }),
        };
    }
    if tags.len() == MAX_LABELS {
        return Err(OpenTsdbError::TooManyTags {
            count: tags.len() + 1,
            max: MAX_LABELS,
        });
    }
    tags.push((k.to_owned(), v.to_owned()));
    Ok(())
}

/// OpenTSDB's character rule for metric names, tag names and tag values (`Tags
/// .validateString`): ASCII letters and digits, `-`, `_`, `.`, `/` and Unicode letters;
/// not empty; at most [`MAX_NAME_LEN`] bytes.
fn check_name(what: &'static str, name: &str) -> Result<(), OpenTsdbError> {
    if name.is_empty() {
        return Err(OpenTsdbError::EmptyName { what });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(OpenTsdbError::TooLong {
            what,
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') || c.is_alphabetic()
    };
    match name.chars().find(|&c| !allowed(c)) {
        Some(ch) => Err(OpenTsdbError::IllegalCharacter {
            what,
            name: quote(name),
            ch,
        }),
        None => Ok(()),
    }
}

/// A finite number: integer, decimal or scientific notation.
fn parse_value(text: &str) -> Result<f64, OpenTsdbError> {
    let value: f64 = text
        .parse()
        .map_err(|_| OpenTsdbError::BadValue { value: quote(text) })?;
    if !value.is_finite() {
        return Err(OpenTsdbError::NonFiniteValue { value: quote(text) });
    }
    Ok(value)
}

/// A timestamp in the text forms OpenTSDB accepts: whole seconds (below 2^32), whole
/// milliseconds (2^32 and above), or `seconds.millis` with one to three fraction digits.
fn parse_timestamp(text: &str) -> Result<i64, OpenTsdbError> {
    let bad = || OpenTsdbError::BadTimestamp {
        timestamp: quote(text),
    };
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) if (1..=3).contains(&frac.len()) => (int, Some(frac)),
        Some(_) => return Err(bad()),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        // A leading `-` lands here too: OpenTSDB rejects negative timestamps.
        return Err(match text.starts_with('-') && digits(&text[1..]) {
            true => OpenTsdbError::InvalidTimestamp {
                timestamp: quote(text),
            },
            false => bad(),
        });
    }
    let whole: i64 = int.parse().map_err(|_| invalid_timestamp(text))?;
    match frac {
        None => timestamp_to_ms(whole).ok_or_else(|| invalid_timestamp(text)),
        Some(frac) => {
            let scale = [100, 10, 1][frac.len() - 1];
            let millis: i64 = frac.parse::<i64>().map_err(|_| bad())? * scale;
            whole
                .checked_mul(1000)
                .and_then(|ms| ms.checked_add(millis))
                .filter(|ms| (1..=MAX_TIMESTAMP_MS).contains(ms))
                .ok_or_else(|| invalid_timestamp(text))
        }
    }
}

fn invalid_timestamp(text: &str) -> OpenTsdbError {
    OpenTsdbError::InvalidTimestamp {
        timestamp: quote(text),
    }
}

/// A whole timestamp to milliseconds with OpenTSDB's rule: positive; below 2^32 it is
/// seconds, from 2^32 on milliseconds up to [`MAX_TIMESTAMP_MS`].
fn timestamp_to_ms(ts: i64) -> Option<i64> {
    match ts {
        ..=0 => None,
        1..FIRST_MILLISECOND_TIMESTAMP => Some(ts * 1000),
        _ if ts <= MAX_TIMESTAMP_MS => Some(ts),
        _ => None,
    }
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

/// The Floe series of an OpenTSDB point: the metric is the name exactly as sent, each tag is
/// a label.
pub fn to_series_key(point: &OpenTsdbPoint) -> Result<SeriesKey, OpenTsdbError> {
    let labels = point.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    SeriesKey::new(point.metric.as_str(), labels).map_err(|e| OpenTsdbError::SeriesKey {
        reason: e.to_string(),
    })
}

/// The OpenTSDB telnet line format, for [`StreamDecoder`]; [`OpenTsdbError::telnet_reply`]
/// gives OpenTSDB's answer to a bad line.
#[derive(Debug, Clone, Copy, Default)]
pub struct TelnetFormat;

impl LineFormat for TelnetFormat {
    type Line<'a> = TelnetCommand;
    type Error = OpenTsdbError;

    fn parse(bytes: &[u8]) -> Result<TelnetCommand, OpenTsdbError> {
        parse_telnet_line(bytes)
    }

    fn too_long(max: usize) -> OpenTsdbError {
        OpenTsdbError::LineTooLong { max }
    }

    fn reason(e: &OpenTsdbError) -> Option<&'static str> {
        (!matches!(e, OpenTsdbError::Empty)).then(|| e.reason())
    }
}

/// Decodes the telnet stream of one TCP connection, with the same framing as Graphite (see
/// [`StreamDecoder`]).
pub type TelnetDecoder = StreamDecoder<TelnetFormat>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1479496100"), Ok(1_479_496_100_000));
        assert_eq!(parse_timestamp("1479496100123"), Ok(1_479_496_100_123));
        assert_eq!(parse_timestamp("1479496100.123"), Ok(1_479_496_100_123));
        assert_eq!(parse_timestamp("1479496100.5"), Ok(1_479_496_100_500));
        assert_eq!(parse_timestamp("4294967295"), Ok(4_294_967_295_000));
        assert_eq!(parse_timestamp("4294967296"), Ok(4_294_967_296));
        assert_eq!(parse_timestamp("9999999999999"), Ok(MAX_TIMESTAMP_MS));
        for bad in [
            "0",
            "-5",
            "10000000000000",
            "1.1234",
            "1.",
            ".5",
            "x",
            "",
            "1e9",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
