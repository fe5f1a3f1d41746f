//! Prometheus remote write 1.0: the decoder of `POST /api/v1/write` bodies.
//!
//! A body is a snappy **block** (not the framed stream format) holding a protobuf
//! `prometheus.WriteRequest` ([`proto::WriteRequest`]). [`decode_write_request`] checks the
//! body against [`Limits`] (the snappy-declared length before anything is allocated for it),
//! decodes it one series at a time, validates every series and returns them all, or the first
//! error: a request is accepted whole or rejected whole, so nothing of a rejected request is
//! ever stored. Every error is the sender's fault ([`RemoteWriteError::is_client_error`]):
//! the HTTP layer answers 400, which senders do not retry; it answers 204 on success.
//!
//! What the decoder returns, per series ([`DecodedSeries`]): the labels sorted by name,
//! unique, without empty values, the metric name among them as `__name__`; the float samples
//! as sent, `(timestamp ms, value)`, every value bit-exact (the stale marker NaN
//! [`floe_storage_format::STALE_NAN_BITS`] included). Series without float samples are
//! validated and skipped; exemplars and native histograms are counted and skipped
//! ([`WriteStats`]); metadata-only requests are accepted. [`DecodedSeries::to_series_key`] maps
//! a series onto Floe's [`SeriesKey`]. `docs/protocol-remote-write.md` gives the rules and
//! their sources.
//!
//! The [`proto`] module holds the `prompb` messages, remote read's included.

pub mod proto;

mod error;
mod validate;

use floe_storage_format::SeriesKey;
use prost::Message;

pub use error::{MAX_QUOTED, RemoteWriteError};
pub use validate::{is_label_name, is_metric_name};

/// The label that carries the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// Bounds on one request; exceeding one rejects the request with an error naming the limit.
///
/// The defaults run on a laptop and accept what real senders send (Prometheus sends at most
/// 2,000 samples per request by default). Memory for a request is bounded by
/// `max_decompressed_bytes` times a small factor (each label on the wire costs at least
/// 8 bytes and at most about 100 bytes decoded), whatever the content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest compressed body accepted, in bytes.
    pub max_compressed_bytes: usize,
    /// Largest decompressed body accepted, in bytes: checked against the length the snappy
    /// header declares, before the buffer is allocated.
    pub max_decompressed_bytes: usize,
    /// Most series (`TimeSeries` messages, with or without samples) in one request.
    pub max_series_per_request: usize,
    /// Most float samples in one request, all series together.
    pub max_samples_per_request: usize,
    /// Most labels on one series, `__name__` included, counted as sent.
    pub max_labels_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_len: usize,
    /// Longest label value, the metric name included, in bytes.
    pub max_label_value_len: usize,
    /// Longest canonical series key (see [`SeriesKey`]), in bytes. Above
    /// [`floe_storage_format::MAX_KEY_LEN`], [`DecodedSeries::to_series_key`] can fail.
    pub max_series_key_bytes: usize,
    /// Accept any non-empty UTF-8 metric and label names (Prometheus 3's UTF-8 names) instead
    /// of the remote write 1.0 grammars `[a-zA-Z_:][a-zA-Z0-9_:]*` and `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub allow_utf8_names: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_compressed_bytes: 16 << 20,
            max_decompressed_bytes: 32 << 20,
            max_series_per_request: 100_000,
            max_samples_per_request: 1_000_000,
            max_labels_per_series: 128,
            max_label_name_len: 1024,
            max_label_value_len: floe_storage_format::MAX_NAME_LEN,
            max_series_key_bytes: floe_storage_format::MAX_KEY_LEN,
            allow_utf8_names: false,
        }
    }
}

/// One decoded series: validated labels and its float samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedSeries {
    /// Sorted by name, unique, no empty value; the metric name is the `__name__` label.
    pub labels: Vec<(String, String)>,
    /// `(milliseconds since the Unix epoch, value)`, in the order sent; values bit-exact.
    pub samples: Vec<(i64, f64)>,
}

impl DecodedSeries {
    /// The metric name (the `__name__` label).
    pub fn metric_name(&self) -> Option<&str> {
        self.label(METRIC_NAME_LABEL)
    }

    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The Floe series: name = the `__name__` value, labels = every other label. This is the
    /// one place that mapping is written. [`SeriesKey::new`] validates again; a series from
    /// [`decode_write_request`] under default [`Limits`] always passes.
    pub fn to_series_key(&self) -> Result<SeriesKey, RemoteWriteError> {
        let wrap = |source| RemoteWriteError::SeriesKey {
            labels: error::describe(self.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            source,
        };
        let name = self.metric_name().unwrap_or_default();
        let labels = self
            .labels
            .iter()
            .filter(|(n, _)| n != METRIC_NAME_LABEL)
            .map(|(n, v)| (n.as_str(), v.as_str()));
        SeriesKey::new(name, labels).map_err(wrap)
    }

    /// Bit-exact equality: labels equal, and samples equal with values compared by their
    /// bits (`NaN == NaN` when the bits agree, `0.0 != -0.0`).
    pub fn bit_eq(&self, other: &Self) -> bool {
        self.labels == other.labels
            && self.samples.len() == other.samples.len()
            && self
                .samples
                .iter()
                .zip(&other.samples)
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

/// What a decoded request held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStats {
    /// Series returned (those with at least one float sample).
    pub series: usize,
    /// Float samples returned.
    pub samples: usize,
    /// `MetricMetadata` entries (parsed, not stored).
    pub metadata: usize,
    /// Native histogram samples skipped (not supported yet).
    pub skipped_histograms: usize,
    /// Exemplars skipped (not supported yet).
    pub skipped_exemplars: usize,
    /// Series validated but not returned because they had no float sample.
    pub skipped_empty_series: usize,
    /// Series whose labels the sender did not sort by name (accepted, sorted here).
    pub resorted_series: usize,
}

/// Decodes a remote write body: snappy block, then protobuf `WriteRequest`, then validation.
/// Returns every series with samples, or the first error; see the module documentation.
pub fn decode_write_request(
    body: &[u8],
    limits: &Limits,
) -> Result<(Vec<DecodedSeries>, WriteStats), RemoteWriteError> {
    let raw = decompress(body, limits)?;
    decode_write_protobuf(&raw, limits)
}

/// Decompresses a snappy block body (remote write and remote read requests), checking
/// [`Limits::max_compressed_bytes`] and, before allocating, the declared decompressed length
/// against [`Limits::max_decompressed_bytes`].
pub fn decompress(body: &[u8], limits: &Limits) -> Result<Vec<u8>, RemoteWriteError> {
    if body.len() > limits.max_compressed_bytes {
        return Err(RemoteWriteError::BodyTooLarge {
            len: body.len(),
            max: limits.max_compressed_bytes,
        });
    }
    let snappy = |e: snap::Error| RemoteWriteError::Snappy {
        reason: e.to_string(),
    };
    let len = snap::raw::decompress_len(body).map_err(snappy)?;
    if len > limits.max_decompressed_bytes {
        return Err(RemoteWriteError::DecompressedTooLarge {
            len,
            max: limits.max_decompressed_bytes,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(snappy)
}

/// Decodes and validates an uncompressed protobuf `WriteRequest`; [`decode_write_request`]
/// without the snappy step. Only [`Limits::max_decompressed_bytes`] applies to the length.
pub fn decode_write_protobuf(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<DecodedSeries>, WriteStats), RemoteWriteError> {
    if bytes.len() > limits.max_decompressed_bytes {
        return Err(RemoteWriteError::DecompressedTooLarge {
            len: bytes.len(),
            max: limits.max_decompressed_bytes,
        });
    }
    let mut out = Vec::new();
    let mut stats = WriteStats::default();
    let mut seen_series = 0;
    let mut fields = Fields { bytes, pos: 0 };
    while let Some((tag, field)) = fields.next()? {
        match (tag, field) {
            (1, Field::Bytes(msg)) => {
                if seen_series == limits.max_series_per_request {
                    return Err(RemoteWriteError::TooManySeries {
                        max: limits.max_series_per_request,
                    });
                }
                decode_series(seen_series, msg, limits, &mut stats, &mut out)?;
                seen_series += 1;
            }
            (3, Field::Bytes(msg)) => {
                proto::MetricMetadata::decode(msg).map_err(|source| {
                    RemoteWriteError::MalformedMetadata {
                        index: stats.metadata,
                        source,
                    }
                })?;
                stats.metadata += 1;
            }
            (1 | 3, Field::Other { at, wire_type }) => {
                return Err(RemoteWriteError::Malformed {
                    offset: at,
                    reason: format!(
                        "field {tag} has wire type {wire_type}, expected 2 (length-delimited)"
                    ),
                });
            }
            _ => {} // unknown and reserved fields are skipped (proto3)
        }
    }
    Ok((out, stats))
}

fn decode_series(
    index: usize,
    msg: &[u8],
    limits: &Limits,
    stats: &mut WriteStats,
    out: &mut Vec<DecodedSeries>,
) -> Result<(), RemoteWriteError> {
    // Count before decoding, so that an oversized series is refused before it is allocated.
    let (label_count, sample_count) = count_series_fields(index, msg)?;
    let samples_after = stats.samples + sample_count;
    if samples_after > limits.max_samples_per_request {
        return Err(RemoteWriteError::TooManySamples {
            series: index,
            max: limits.max_samples_per_request,
        });
    }
    if label_count > limits.max_labels_per_series {
        return Err(RemoteWriteError::TooManyLabels {
            series: index,
            labels: describe_first_labels(msg),
            count: label_count,
            max: limits.max_labels_per_series,
        });
    }
    let ts =
        proto::skim::TimeSeries::decode(msg).map_err(|e| RemoteWriteError::MalformedSeries {
            series: index,
            reason: e.to_string(),
        })?;
    // Same-size element types: both collects reuse the decoded vectors' memory.
    let labels: Vec<(String, String)> = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
    let checked = validate::check_labels(index, labels, limits)?;
    stats.skipped_histograms += ts.histograms.len();
    stats.skipped_exemplars += ts.exemplars.len();
    stats.resorted_series += usize::from(checked.resorted);
    if ts.samples.is_empty() {
        stats.skipped_empty_series += 1;
        return Ok(());
    }
    let samples: Vec<(i64, f64)> = ts
        .samples
        .into_iter()
        .map(|s| (s.timestamp, s.value))
        .collect();
    stats.series += 1;
    stats.samples = samples_after;
    out.push(DecodedSeries {
        labels: checked.labels,
        samples,
    });
    Ok(())
}

/// Labels (field 1) and samples (field 2) in a `TimeSeries` message, from its framing alone.
fn count_series_fields(index: usize, msg: &[u8]) -> Result<(usize, usize), RemoteWriteError> {
    let mut fields = Fields { bytes: msg, pos: 0 };
    let (mut labels, mut samples) = (0, 0);
    loop {
        match fields.next() {
            Ok(Some((1, Field::Bytes(_)))) => labels += 1,
            Ok(Some((2, Field::Bytes(_)))) => samples += 1,
            Ok(Some(_)) => {}
            Ok(None) => return Ok((labels, samples)),
            Err(RemoteWriteError::Malformed { offset, reason }) => {
                return Err(RemoteWriteError::MalformedSeries {
                    series: index,
                    reason: format!("byte {offset}: {reason}"),
                });
            }
            Err(e) => return Err(e),
        }
    }
}

/// The first labels of a `TimeSeries` message as sent, for an error message about a series
/// too large to decode.
fn describe_first_labels(msg: &[u8]) -> String {
    const SHOWN: usize = 16;
    let mut fields = Fields { bytes: msg, pos: 0 };
    let mut labels = Vec::new();
    while let Ok(Some((tag, field))) = fields.next() {
        if let (1, Field::Bytes(b)) = (tag, field) {
            if labels.len() == SHOWN {
                let text = error::describe(
                    labels
                        .iter()
                        .map(|l: &proto::Label| (l.name.as_str(), l.value.as_str())),
                );
                return format!("{}, …}}", text.strip_suffix('}').unwrap_or(&text));
            }
            labels.push(proto::Label::decode(b).unwrap_or_default());
        }
    }
    error::describe(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

/// Encodes series as a remote write body (protobuf `WriteRequest`, snappy block), for tests,
/// load generators and mirroring. Labels and samples are written as given, unchecked; every
/// value bit-exact (`-0.0` included).
///
/// # Panics
///
/// If the encoded request is 4 GiB or more, beyond what one snappy block can hold.
pub fn encode_write_request(series: &[DecodedSeries]) -> Vec<u8> {
    let req = proto::WriteRequest {
        timeseries: series.iter().map(to_proto).collect(),
        metadata: Vec::new(),
    };
    compress(&req.encode_to_vec())
}

/// Compresses bytes as one snappy block, the body format of remote write and remote read.
///
/// # Panics
///
/// If `bytes` is 4 GiB or more, beyond what one snappy block can hold.
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .expect("input within snappy's block limit (documented panic)")
}

fn to_proto(s: &DecodedSeries) -> proto::TimeSeries {
    time_series(
        s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        &s.samples,
    )
}

/// The protobuf time series of `labels` and `(timestamp ms, value)` samples, as remote-write
/// requests and remote-read responses carry them.
pub fn time_series<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    samples: &[(i64, f64)],
) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels
            .into_iter()
            .map(|(name, value)| proto::Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| proto::Sample { value, timestamp })
            .collect(),
        exemplars: Vec::new(),
        histograms: Vec::new(),
    }
}

/// One top-level protobuf field.
enum Field<'a> {
    /// A length-delimited field's payload.
    Bytes(&'a [u8]),
    /// Any other wire type (skipped), with the offset of its key.
    Other { at: usize, wire_type: u64 },
}

/// A reader of the top-level fields of a message, so that series are decoded (and limits
/// checked) one at a time instead of all at once.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, RemoteWriteError> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let (tag, wire_type) = (key >> 3, key & 7);
        if tag == 0 || tag > u64::from(u32::MAX >> 3) {
            return Err(self.malformed(at, format!("invalid field number {tag}")));
        }
        let field = match wire_type {
            0 => {
                self.varint()?;
                Field::Other { at, wire_type }
            }
            1 => self.take(at, 8).map(|_| Field::Other { at, wire_type })?,
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                Field::Bytes(self.take(at, len)?)
            }
            5 => self.take(at, 4).map(|_| Field::Other { at, wire_type })?,
            3 | 4 => return Err(self.malformed(at, "groups are not supported".into())),
            _ => return Err(self.malformed(at, format!("invalid wire type {wire_type}"))),
        };
        Ok(Some((tag, field)))
    }

    fn take(&mut self, at: usize, len: usize) -> Result<&'a [u8], RemoteWriteError> {
        let rest = &self.bytes[self.pos..];
        if len > rest.len() {
            return Err(self.malformed(
                at,
                format!("field of {len} bytes but {} remain", rest.len()),
            ));
        }
        self.pos += len;
        Ok(&rest[..len])
    }

    fn varint(&mut self) -> Result<u64, RemoteWriteError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.malformed(start, "truncated varint".into()));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.malformed(start, "varint overflows 64 bits".into()));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(self.malformed(start, "varint longer than 10 bytes".into()))
    }

    fn malformed(&self, offset: usize, reason: String) -> RemoteWriteError {
        RemoteWriteError::Malformed { offset, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, samples: &[(i64, f64)]) -> DecodedSeries {
        DecodedSeries {
            labels: vec![
                (METRIC_NAME_LABEL.into(), name.into()),
                ("job".into(), "api".into()),
            ],
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn round_trips_one_series() {
        let s = series("up", &[(1, 1.0), (2, -0.0)]);
        let (got, stats) = decode_write_request(
            &encode_write_request(std::slice::from_ref(&s)),
            &Limits::default(),
        )
        .expect("valid");
        assert_eq!(got.len(), 1);
        assert!(got[0].bit_eq(&s));
        assert_eq!((stats.series, stats.samples), (1, 2));
    }

    #[test]
    fn top_level_reader_skips_unknown_fields() {
        // field 2 varint, field 5 fixed32, field 6 fixed64, field 2 bytes: all skipped.
        let bytes = [
            0x10, 0x96, 0x01, 0x2d, 1, 2, 3, 4, 0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x12, 0x01, 0xff,
        ];
        let (got, stats) = decode_write_protobuf(&bytes, &Limits::default()).expect("skipped");
        assert!(got.is_empty());
        assert_eq!(stats, WriteStats::default());
    }

    #[test]
    fn top_level_reader_rejects_bad_framing() {
        let cases: &[&[u8]] = &[
            &[0x0a],             // key, then no length
            &[0x0a, 0x05, 0x00], // length beyond the end
            &[0x08, 0x01],       // field 1 as a varint
            &[0x00],             // field number 0
            &[0x0b, 0x0c],       // a group
            &[0x0f],             // wire type 7
            &[0xff; 11],         // varint too long
            &[
                0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ], // overflow
        ];
        for bytes in cases {
            let err = decode_write_protobuf(bytes, &Limits::default()).expect_err("malformed");
            assert!(
                matches!(err, RemoteWriteError::Malformed { .. }),
                "{bytes:02x?}: {err}"
            );
        }
    }
}
