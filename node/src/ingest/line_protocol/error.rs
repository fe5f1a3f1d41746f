//! What can be wrong with a line-protocol request, worded like InfluxDB's own messages.

use std::fmt;

/// Longest excerpt of an offending value quoted in a message, in bytes.
const MAX_QUOTED: usize = 64;

/// Why a request was refused. Every variant that comes from the body names its line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineError {
    /// A line does not parse. `Display` is InfluxDB's shape
    /// (`unable to parse '<line>': <problem>`) followed by where: `at line N, column C`.
    #[error("unable to parse '{text}': {problem} at line {line}, column {column}")]
    Parse {
        /// 1-based number of the (physical) line where the point starts.
        line: usize,
        /// 1-based byte column of the problem, counted from the start of that line.
        column: usize,
        /// What was wrong.
        problem: Problem,
        /// The line as sent (lossily decoded, at most 256 bytes).
        text: String,
    },
    /// A line parsed but cannot become a series (a reserved tag key, or a storage limit on
    /// names, labels or key size).
    #[error("line {line}: {reason}")]
    Series {
        /// 1-based number of the line.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// The `precision` query argument is not one Floe knows.
    #[error("invalid precision {given:?} (use ns, n, us, u, µs, ms, s, m or h)")]
    UnknownPrecision {
        /// The argument as given.
        given: String,
    },
}

impl LineError {
    /// The line the error is about, when it is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            LineError::Parse { line, .. } | LineError::Series { line, .. } => Some(*line),
            LineError::UnknownPrecision { .. } => None,
        }
    }

    /// A short, stable code a client (and the `floe_rejected` metric) can match on.
    pub fn code(&self) -> &'static str {
        match self {
            LineError::Parse { problem, .. } => problem.code(),
            LineError::Series { .. } => "invalid_series",
            LineError::UnknownPrecision { .. } => "invalid_precision",
        }
    }
}

/// What was wrong with one line. The wording follows InfluxDB's parser where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The line starts with a comma.
    MissingMeasurement,
    /// A comma in the tag set is not followed by a tag key.
    MissingTagKey,
    /// A tag key has no `=` or an empty value.
    MissingTagValue,
    /// An unescaped `=` in a tag value.
    InvalidTagFormat,
    /// The same tag key twice in one line.
    DuplicateTag {
        /// The key (unescaped, shortened).
        key: String,
    },
    /// The line ends before its field set.
    MissingFields,
    /// A field with an empty key.
    MissingFieldKey,
    /// A field key without `=` (or text where a field should be).
    InvalidFieldFormat,
    /// `key=` with nothing after the `=`.
    MissingFieldValue,
    /// A value that starts like a number but is not one.
    InvalidNumber {
        /// The value as sent (shortened).
        value: String,
    },
    /// `NaN` or an infinity: InfluxDB rejects them, so does Floe.
    NonFiniteNumber {
        /// The value as sent (shortened).
        value: String,
    },
    /// An `i` integer outside the signed 64-bit range.
    IntegerOutOfRange {
        /// The value as sent (shortened).
        value: String,
    },
    /// A `u` integer outside the unsigned 64-bit range.
    UnsignedOutOfRange {
        /// The value as sent (shortened).
        value: String,
    },
    /// A float too large for a 64-bit float.
    FloatOutOfRange {
        /// The value as sent (shortened).
        value: String,
    },
    /// A value starting with `t`, `T`, `f` or `F` that is not one of the ten boolean spellings.
    InvalidBoolean {
        /// The value as sent (shortened).
        value: String,
    },
    /// A value that is none of number, boolean or double-quoted string.
    InvalidFieldValue {
        /// The value as sent (shortened).
        value: String,
    },
    /// A string field value without its closing quote.
    UnbalancedQuotes,
    /// Text after a string field value other than `,`, a space or the end of the line.
    UnexpectedAfterString,
    /// A timestamp that is not an optionally negative decimal integer.
    BadTimestamp {
        /// The timestamp as sent (shortened).
        value: String,
    },
    /// A timestamp that does not fit 64 bits, or whose milliseconds do not.
    TimestampOutOfRange {
        /// The timestamp as sent (shortened).
        value: String,
        /// The request's precision.
        precision: &'static str,
    },
    /// Something after the timestamp.
    TrailingText,
    /// A name or string that is not valid UTF-8.
    InvalidUtf8,
    /// A control character (tab, NUL, a carriage return not before a newline...) in a
    /// measurement, key or tag value.
    ControlCharacter {
        /// The byte.
        byte: u8,
    },
    /// The line is longer than [`LineLimits::max_line_bytes`](super::LineLimits).
    LineTooLong {
        /// The line's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Measurement and tags together are longer than
    /// [`LineLimits::max_key_bytes`](super::LineLimits).
    KeyTooLong {
        /// Their length in bytes, as sent.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More tags than [`LineLimits::max_tags`](super::LineLimits).
    TooManyTags {
        /// The limit.
        max: usize,
    },
    /// More fields than [`LineLimits::max_fields`](super::LineLimits).
    TooManyFields {
        /// The limit.
        max: usize,
    },
}

impl Problem {
    /// A short, stable code for the problem.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::MissingMeasurement => "missing_measurement",
            Problem::MissingTagKey => "missing_tag_key",
            Problem::MissingTagValue => "missing_tag_value",
            Problem::InvalidTagFormat => "invalid_tag_format",
            Problem::DuplicateTag { .. } => "duplicate_tag",
            Problem::MissingFields => "missing_fields",
            Problem::MissingFieldKey => "missing_field_key",
            Problem::InvalidFieldFormat => "invalid_field_format",
            Problem::MissingFieldValue => "missing_field_value",
            Problem::InvalidNumber { .. } => "invalid_number",
            Problem::NonFiniteNumber { .. } => "non_finite_number",
            Problem::IntegerOutOfRange { .. } => "integer_out_of_range",
            Problem::UnsignedOutOfRange { .. } => "unsigned_out_of_range",
            Problem::FloatOutOfRange { .. } => "float_out_of_range",
            Problem::InvalidBoolean { .. } => "invalid_boolean",
            Problem::InvalidFieldValue { .. } => "invalid_field_value",
            Problem::UnbalancedQuotes => "unbalanced_quotes",
            Problem::UnexpectedAfterString => "invalid_field_format",
            Problem::BadTimestamp { .. } => "bad_timestamp",
            Problem::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            Problem::TrailingText => "invalid_point",
            Problem::InvalidUtf8 => "invalid_utf8",
            Problem::ControlCharacter { .. } => "control_character",
            Problem::LineTooLong { .. } => "line_too_long",
            Problem::KeyTooLong { .. } => "key_too_long",
            Problem::TooManyTags { .. } => "too_many_tags",
            Problem::TooManyFields { .. } => "too_many_fields",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingMeasurement => f.write_str("missing measurement"),
            Problem::MissingTagKey => f.write_str("missing tag key"),
            Problem::MissingTagValue => f.write_str("missing tag value"),
            Problem::InvalidTagFormat => {
                f.write_str("invalid tag format (unescaped '=' in a tag value)")
            }
            Problem::DuplicateTag { key } => {
                write!(f, "duplicate tags (tag key \"{key}\" appears twice)")
            }
            Problem::MissingFields => f.write_str("missing fields"),
            Problem::MissingFieldKey => f.write_str("missing field key"),
            Problem::InvalidFieldFormat => f.write_str("invalid field format (expected key=value)"),
            Problem::MissingFieldValue => f.write_str("missing field value"),
            Problem::InvalidNumber { value } => write!(f, "invalid number \"{value}\""),
            Problem::NonFiniteNumber { value } => {
                write!(
                    f,
                    "invalid number \"{value}\" (NaN and infinity are not supported)"
                )
            }
            Problem::IntegerOutOfRange { value } => {
                write!(f, "unable to parse integer {value}: value out of range")
            }
            Problem::UnsignedOutOfRange { value } => {
                write!(f, "unable to parse unsigned {value}: value out of range")
            }
            Problem::FloatOutOfRange { value } => {
                write!(f, "invalid float {value}: value out of range")
            }
            Problem::InvalidBoolean { value } => write!(f, "invalid boolean \"{value}\""),
            Problem::InvalidFieldValue { value } => {
                write!(
                    f,
                    "invalid field value \"{value}\" (not a number, boolean or double-quoted string)"
                )
            }
            Problem::UnbalancedQuotes => f.write_str("unbalanced quotes"),
            Problem::UnexpectedAfterString => {
                f.write_str("invalid field format (text after a closing quote)")
            }
            Problem::BadTimestamp { value } => write!(f, "bad timestamp \"{value}\""),
            Problem::TimestampOutOfRange { value, precision } => {
                write!(
                    f,
                    "bad timestamp {value}: out of range for precision {precision}"
                )
            }
            Problem::TrailingText => f.write_str("point is invalid (text after the timestamp)"),
            Problem::InvalidUtf8 => f.write_str("invalid UTF-8"),
            Problem::ControlCharacter { byte } => {
                write!(f, "invalid control character 0x{byte:02x}")
            }
            Problem::LineTooLong { len, max } => write!(f, "line too long: {len} > {max} bytes"),
            Problem::KeyTooLong { len, max } => write!(f, "max key length exceeded: {len} > {max}"),
            Problem::TooManyTags { max } => write!(f, "too many tags (max {max})"),
            Problem::TooManyFields { max } => write!(f, "too many fields (max {max})"),
        }
    }
}

/// `bytes` as text for a message: lossily decoded, at most [`MAX_QUOTED`] bytes.
pub(super) fn quoted(bytes: &[u8]) -> String {
    shorten(bytes, MAX_QUOTED)
}

/// `bytes` lossily decoded, cut to at most `max` bytes (then marked with `…`).
pub(super) fn shorten(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut s = String::from_utf8_lossy(&bytes[..max]).into_owned();
    s.push('…');
    s
}
