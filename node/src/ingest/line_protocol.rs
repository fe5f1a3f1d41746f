//! InfluxDB line protocol decoder: the body of `POST /write` (v1) and `POST /api/v2/write`
//! (v2), already gunzipped by the HTTP layer.
//!
//! ```text
//! <measurement>[,<tag_key>=<tag_value>...] <field_key>=<field_value>[,...] [<timestamp>]
//! ```
//!
//! [`LineParser::parse`] walks a body once and hands each point to a callback as a [`Line`]
//! whose names borrow from the body (they are copied only when they hold escapes), then
//! returns [`Stats`]; it stops at the first bad line with a [`LineError`] that names the line
//! and column in InfluxDB's wording. The rules, limits and the mapping onto Floe series
//! ([`metric_name`], [`series_key`], [`append_samples`], and [`SeriesMapper`], which builds
//! each distinct series once per request) are described in `docs/protocol-line.md`.
//!
//! **Whole-request semantics.** A request is stored entirely or not at all: the caller only
//! collects during `parse` and stores what it collected after `parse` returns `Ok`. On `Err`
//! it drops what it collected (lines before the bad one were handed over already).
//!
//! The decoder is pure: no I/O, no clock (a line without a timestamp yields `None`; the
//! caller supplies "now").

use std::borrow::Cow;
use std::str::FromStr;

mod error;
mod mapping;
mod number;
mod scan;

pub use error::{LineError, Problem};
pub use mapping::{
    DB_LABEL, MEASUREMENT_FIELD_SEPARATOR, SeriesMapper, append_samples, metric_name, series_key,
};

/// Longest excerpt of a bad line quoted in an error, in bytes.
const MAX_EXCERPT: usize = 256;

/// The unit of the timestamps in a request (`precision` query argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// `ns` or `n` (the default).
    #[default]
    Nanoseconds,
    /// `us`, `u` or `µs`.
    Microseconds,
    /// `ms`.
    Milliseconds,
    /// `s`.
    Seconds,
    /// `m` (v1 only).
    Minutes,
    /// `h` (v1 only).
    Hours,
}

impl Precision {
    /// The canonical spelling (`ns`, `us`, `ms`, `s`, `m`, `h`).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
            Precision::Minutes => "m",
            Precision::Hours => "h",
        }
    }

    /// `ts` in this unit as milliseconds since the epoch, rounded down (towards negative
    /// infinity); `None` when the result does not fit an `i64`.
    pub fn to_millis(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(ts.div_euclid(1_000_000)),
            Precision::Microseconds => Some(ts.div_euclid(1_000)),
            Precision::Milliseconds => Some(ts),
            Precision::Seconds => ts.checked_mul(1_000),
            Precision::Minutes => ts.checked_mul(60_000),
            Precision::Hours => ts.checked_mul(3_600_000),
        }
    }
}

impl FromStr for Precision {
    type Err = LineError;

    /// The v1 (`n`, `u`, `ms`, `s`, `m`, `h`) and v2 (`ns`, `us`, `ms`, `s`) spellings, plus
    /// `µs`/`μs`; the empty string is the default, nanoseconds.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "n" | "ns" => Precision::Nanoseconds,
            "u" | "us" | "µs" | "μs" | "µ" | "μ" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => {
                return Err(LineError::UnknownPrecision {
                    given: error::quoted(s.as_bytes()),
                });
            }
        })
    }
}

/// A field value as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// `1.5`, `-3`, `1e9`: a 64-bit float (never NaN or infinite).
    Float(f64),
    /// `42i`.
    Integer(i64),
    /// `42u`.
    Unsigned(u64),
    /// `t`, `T`, `true`, `True`, `TRUE`, `f`, `F`, `false`, `False`, `FALSE`.
    Boolean(bool),
    /// `"text"`, unescaped. Floe stores no strings: [`append_samples`] skips them.
    String(Cow<'a, str>),
}

impl FieldValue<'_> {
    /// The sample value: floats as they are, integers to the nearest `f64` (exact up to
    /// 2^53), booleans as 1 and 0, strings `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            FieldValue::Float(v) => Some(v),
            FieldValue::Integer(v) => Some(v as f64),
            FieldValue::Unsigned(v) => Some(v as f64),
            FieldValue::Boolean(v) => Some(if v { 1.0 } else { 0.0 }),
            FieldValue::String(_) => None,
        }
    }
}

/// One point, as handed to the [`LineParser::parse`] callback.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line<'a> {
    /// 1-based number of the line the point starts on, counting every line of the body
    /// (blank lines and comments included), as InfluxDB reports them.
    pub line_no: usize,
    /// The measurement, unescaped.
    pub measurement: Cow<'a, str>,
    /// The measurement and tag set exactly as sent (`cpu,host=a\ b`): a cache key for the
    /// series of this line.
    pub series: &'a [u8],
    /// The tags, unescaped, in the order sent (no key twice).
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The fields, unescaped, in the order sent; of fields sent with the same key only the
    /// last is kept.
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// The timestamp converted to milliseconds (rounded down), `None` when the line has none.
    pub timestamp_ms: Option<i64>,
}

/// What one body held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Points (lines that are not blank or comments).
    pub lines: usize,
    /// Numeric and boolean fields: the samples the body yields.
    pub fields: usize,
    /// String fields, which Floe does not store.
    pub skipped_string_fields: usize,
}

/// Bounds on one line. A body within them costs memory proportional to its size only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLimits {
    /// Longest point, in bytes, without its line ending (default 1 MiB).
    pub max_line_bytes: usize,
    /// Longest measurement plus tag set as sent (default 65 535, InfluxDB's `MaxKeyLength`).
    pub max_key_bytes: usize,
    /// Most tags on one line (default 256).
    pub max_tags: usize,
    /// Most fields on one line (default 1 024).
    pub max_fields: usize,
}

impl Default for LineLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: 1 << 20,
            max_key_bytes: 65_535,
            max_tags: 256,
            max_fields: 1_024,
        }
    }
}

/// A reusable line-protocol parser for one precision.
///
/// Parsing allocates nothing per line unless a name or string holds escapes; the two vectors
/// of each [`Line`] are allocated once per [`parse`](Self::parse) call.
#[derive(Debug, Default)]
pub struct LineParser {
    precision: Precision,
    limits: LineLimits,
    scratch: scan::Scratch,
}

impl LineParser {
    /// A parser for timestamps in `precision`, with the default limits.
    pub fn new(precision: Precision) -> Self {
        Self {
            precision,
            ..Self::default()
        }
    }

    /// The same parser with other limits.
    pub fn with_limits(mut self, limits: LineLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The precision timestamps are read in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The limits applied to each line.
    pub fn limits(&self) -> &LineLimits {
        &self.limits
    }

    /// Parses every line of `body`, calling `f` for each point in order. Stops at the first
    /// bad line, or the first error `f` returns, and returns that error.
    ///
    /// Blank lines, lines of spaces and tabs, and comment lines (first non-blank character
    /// `#`) are skipped; lines end with `\n` or `\r\n`.
    pub fn parse<'a, F>(&mut self, body: &'a [u8], mut f: F) -> Result<Stats, LineError>
    where
        F: FnMut(&Line<'a>) -> Result<(), LineError>,
    {
        let text = match std::str::from_utf8(body) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut scanner = scan::Scanner {
            body,
            text,
            limits: &self.limits,
            precision: self.precision,
            scratch: &mut self.scratch,
            strings: 0,
        };
        let mut line = Line::default();
        let mut stats = Stats::default();
        let mut pos = 0;
        let mut line_no = 1;
        while pos < body.len() {
            let line_start = pos;
            while matches!(body.get(pos), Some(b' ' | b'\t')) {
                pos += 1;
            }
            match body.get(pos) {
                None => break,
                Some(b'\n') => {
                    pos += 1;
                    line_no += 1;
                    continue;
                }
                Some(b'\r') if scan::at_eol(body, pos) => {
                    pos += 1;
                    continue;
                }
                Some(b'#') => {
                    match body[pos..].iter().position(|&c| c == b'\n') {
                        Some(n) => {
                            pos += n + 1;
                            line_no += 1;
                        }
                        None => pos = body.len(),
                    }
                    continue;
                }
                Some(_) => {}
            }
            line.tags.clear();
            line.fields.clear();
            line.line_no = line_no;
            let bad =
                |at: usize, problem: Problem| parse_error(body, line_no, line_start, at, problem);
            let (end, newlines) = scanner
                .point(pos, &mut line)
                .map_err(|e| bad(e.at, *e.problem))?;
            if end - pos > self.limits.max_line_bytes {
                let max = self.limits.max_line_bytes;
                return Err(bad(
                    pos + max,
                    Problem::LineTooLong {
                        len: end - pos,
                        max,
                    },
                ));
            }
            scanner.dedup_fields(&mut line);
            let strings = scanner.strings;
            stats.lines += 1;
            stats.skipped_string_fields += strings;
            stats.fields += line.fields.len() - strings;
            f(&line)?;
            pos = end;
            line_no += newlines;
            if body.get(pos) == Some(&b'\r') {
                pos += 1;
            }
            if body.get(pos) == Some(&b'\n') {
                pos += 1;
                line_no += 1;
            }
        }
        Ok(stats)
    }
}

/// The error for `problem` at body offset `at` in the point on line `line_no`, which starts
/// at `line_start` (the column counts from there).
fn parse_error(
    body: &[u8],
    line_no: usize,
    line_start: usize,
    at: usize,
    problem: Problem,
) -> LineError {
    let at = at.clamp(line_start, body.len());
    let rest = &body[at..];
    let mut end = at + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    if end > line_start && body[end - 1] == b'\r' {
        end -= 1;
    }
    let mut start = line_start;
    while matches!(body.get(start), Some(b' ' | b'\t')) && start < end {
        start += 1;
    }
    LineError::Parse {
        line: line_no,
        column: at - line_start + 1,
        problem,
        text: error::shorten(&body[start..end.max(start)], MAX_EXCERPT),
    }
}

#[cfg(test)]
mod tests;
