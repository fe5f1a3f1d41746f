//! [`RemoteWriteError`]: why a remote write request was rejected, and where.

/// Why a remote write request was rejected. Every variant is the sender's fault (HTTP 400,
/// never retried): a rejected request stores nothing.
///
/// Series are named by their index in the request (from 0) and their label set in
/// Prometheus text form, cut to [`MAX_QUOTED`] bytes; label names are quoted the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// The compressed body is larger than [`Limits::max_compressed_bytes`].
    ///
    /// [`Limits::max_compressed_bytes`]: super::Limits::max_compressed_bytes
    #[error("request body of {len} bytes exceeds max_compressed_bytes ({max})")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The snappy block header declares more than [`Limits::max_decompressed_bytes`]; nothing
    /// was allocated for it.
    ///
    /// [`Limits::max_decompressed_bytes`]: super::Limits::max_decompressed_bytes
    #[error(
        "snappy header declares {len} decompressed bytes, exceeding max_decompressed_bytes ({max})"
    )]
    DecompressedTooLarge {
        /// The declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not a valid snappy block (remote write uses the block format, not the
    /// framed stream format).
    #[error("body is not a valid snappy block ({reason})")]
    Snappy {
        /// What the snappy decoder found.
        reason: String,
    },
    /// The `WriteRequest` message itself is malformed (bad key, wire type or length).
    #[error("malformed WriteRequest at byte {offset}: {reason}")]
    Malformed {
        /// Offset in the decompressed protobuf.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// One `TimeSeries` message is malformed (bad framing, a string that is not UTF-8, ...).
    #[error("series {series}: malformed TimeSeries: {reason}")]
    MalformedSeries {
        /// Index of the series in the request.
        series: usize,
        /// What the protobuf decoder found.
        reason: String,
    },
    /// One `MetricMetadata` message is malformed.
    #[error("metadata {index}: malformed MetricMetadata: {source}")]
    MalformedMetadata {
        /// Index of the metadata entry in the request.
        index: usize,
        /// The protobuf decoder's error.
        source: prost::DecodeError,
    },
    /// More series than [`Limits::max_series_per_request`].
    ///
    /// [`Limits::max_series_per_request`]: super::Limits::max_series_per_request
    #[error("more than max_series_per_request ({max}) series in the request")]
    TooManySeries {
        /// The limit.
        max: usize,
    },
    /// More samples than [`Limits::max_samples_per_request`].
    ///
    /// [`Limits::max_samples_per_request`]: super::Limits::max_samples_per_request
    #[error("series {series}: more than max_samples_per_request ({max}) samples in the request")]
    TooManySamples {
        /// Index of the series that crossed the limit.
        series: usize,
        /// The limit.
        max: usize,
    },
    /// A series has more labels (`__name__` included) than
    /// [`Limits::max_labels_per_series`].
    ///
    /// [`Limits::max_labels_per_series`]: super::Limits::max_labels_per_series
    #[error("series {series} {labels}: {count} labels exceed max_labels_per_series ({max})")]
    TooManyLabels {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
        /// How many labels it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A label name is longer than [`Limits::max_label_name_len`].
    ///
    /// [`Limits::max_label_name_len`]: super::Limits::max_label_name_len
    #[error(
        "series {series} {labels}: label name {label} of {len} bytes exceeds max_label_name_len ({max})"
    )]
    LabelNameTooLong {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
        /// The label name, cut.
        label: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A label value (the metric name included) is longer than
    /// [`Limits::max_label_value_len`].
    ///
    /// [`Limits::max_label_value_len`]: super::Limits::max_label_value_len
    #[error(
        "series {series} {labels}: value of label {label} of {len} bytes exceeds max_label_value_len ({max})"
    )]
    LabelValueTooLong {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
        /// The label name, cut.
        label: String,
        /// The value's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The series' canonical key would be longer than [`Limits::max_series_key_bytes`].
    ///
    /// [`Limits::max_series_key_bytes`]: super::Limits::max_series_key_bytes
    #[error(
        "series {series} {labels}: series key of {len} bytes exceeds max_series_key_bytes ({max})"
    )]
    SeriesKeyTooLong {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
        /// The canonical key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A series has no `__name__` label, or an empty one.
    #[error("series {series} {labels}: no metric name (label __name__)")]
    MissingMetricName {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
    },
    /// The metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("series {series} {labels}: invalid metric name {name}")]
    InvalidMetricName {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
        /// The metric name, cut.
        name: String,
    },
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*` (or is empty).
    #[error("series {series} {labels}: invalid label name {label}")]
    InvalidLabelName {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
        /// The label name, cut.
        label: String,
    },
    /// A label name appears twice in one series.
    #[error("series {series} {labels}: duplicate label name {label}")]
    DuplicateLabel {
        /// Index of the series.
        series: usize,
        /// The series' labels, cut.
        labels: String,
        /// The label name, cut.
        label: String,
    },
    /// [`DecodedSeries::to_series_key`] failed: the series passed this decoder's limits but
    /// not the storage format's (possible only when [`Limits`] were raised above the storage
    /// format's maxima).
    ///
    /// [`DecodedSeries::to_series_key`]: super::DecodedSeries::to_series_key
    /// [`Limits`]: super::Limits
    #[error("series {labels}: not a valid Floe series key: {source}")]
    SeriesKey {
        /// The series' labels, cut.
        labels: String,
        /// The storage format's error.
        source: floe_storage_format::FormatError,
    },
}

/// Longest quoted name or label set in an error message, in bytes (the rest is cut and
/// marked with `…`), so a hostile request cannot make a huge error message.
pub const MAX_QUOTED: usize = 200;

impl RemoteWriteError {
    /// True when the sender is at fault: answer HTTP 400 and the sender will not retry. False
    /// would mean a retryable server-side failure (HTTP 5xx); no decode error is one.
    pub fn is_client_error(&self) -> bool {
        true
    }

    /// A stable code for the error's kind, for clients and metrics to match on.
    pub fn code(&self) -> &'static str {
        use RemoteWriteError::*;
        match self {
            BodyTooLarge { .. } => "remote_write.body_too_large",
            DecompressedTooLarge { .. } => "remote_write.decompressed_too_large",
            Snappy { .. } => "remote_write.bad_snappy",
            Malformed { .. } => "remote_write.malformed_request",
            MalformedSeries { .. } => "remote_write.malformed_series",
            MalformedMetadata { .. } => "remote_write.malformed_metadata",
            TooManySeries { .. } => "remote_write.too_many_series",
            TooManySamples { .. } => "remote_write.too_many_samples",
            TooManyLabels { .. } => "remote_write.too_many_labels",
            LabelNameTooLong { .. } => "remote_write.label_name_too_long",
            LabelValueTooLong { .. } => "remote_write.label_value_too_long",
            SeriesKeyTooLong { .. } => "remote_write.series_key_too_long",
            MissingMetricName { .. } => "remote_write.missing_metric_name",
            InvalidMetricName { .. } => "remote_write.invalid_metric_name",
            InvalidLabelName { .. } => "remote_write.invalid_label_name",
            DuplicateLabel { .. } => "remote_write.duplicate_label",
            SeriesKey { .. } => "remote_write.invalid_series_key",
        }
    }
}

/// `s` quoted (Rust debug escaping), cut to at most [`MAX_QUOTED`] bytes of `s`.
pub(crate) fn quote(s: &str) -> String {
    quote_cut(s, MAX_QUOTED)
}

/// `s` quoted, cut to at most `max` bytes of `s` and marked `…` when cut.
fn quote_cut(s: &str, max: usize) -> String {
    let cut = cut_at_char_boundary(s, max);
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{s:?}")
    }
}

/// Labels in Prometheus text form `{a="1", b="2"}` (names quoted when they are not plain),
/// cut after about [`MAX_QUOTED`] bytes.
pub(crate) fn describe<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.into_iter().enumerate() {
        if out.len() > MAX_QUOTED {
            out.push('…');
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        if !name.is_empty() && name.len() <= MAX_QUOTED / 4 && is_plain(name) {
            out.push_str(name);
        } else {
            out.push_str(&quote_cut(name, MAX_QUOTED / 4));
        }
        out.push('=');
        out.push_str(&quote_cut(value, MAX_QUOTED / 2));
    }
    out.push('}');
    out
}

fn is_plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn cut_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
