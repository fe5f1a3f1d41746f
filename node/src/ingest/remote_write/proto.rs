//! The Prometheus `prompb` protobuf messages, written by hand as `prost` structs (no `protoc`,
//! no build script).
//!
//! Field numbers follow `prompb/remote.proto` and `prompb/types.proto` of the Prometheus
//! repository; `docs/protocol-remote-write.md` lists them with their sources. Remote write 1.0
//! uses [`WriteRequest`], [`TimeSeries`], [`Label`], [`Sample`] and [`MetricMetadata`]; remote
//! read uses [`ReadRequest`], [`Query`], [`LabelMatcher`], [`ReadHints`], [`ReadResponse`],
//! [`QueryResult`] and, for the streamed response type, [`ChunkedReadResponse`].
//!
//! [`Sample`] implements [`prost::Message`] by hand: the derived encoder skips a `double`
//! that compares equal to `0.0`, which drops `-0.0`; Floe's merge rule tells `-0.0` from `0.0`
//! (`f64::total_cmp`), so [`Sample`] writes every value whose bits are not all zero. The bytes
//! are valid proto3 either way, and decoding is unchanged.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};

/// `prometheus.WriteRequest`: the body of a remote write request (after snappy).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// Field 1: the series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    // Field 2 is reserved (Cortex used it for the request's source).
    /// Field 3: metric metadata (type, help, unit); outside the 1.0 spec, sent by Prometheus.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: one label set and its samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Field 1: the labels, the metric name as `__name__` among them, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Field 2: float samples, in timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Field 3: exemplars (Floe skips them).
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Field 4: native histogram samples (Floe skips them).
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Label {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: `double value = 1; int64 timestamp = 2;` (milliseconds since the Unix
/// epoch). [`prost::Message`] is implemented by hand so that `-0.0` is written (see the module
/// documentation).
#[derive(Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Field 1: the value; any bit pattern, including the stale-marker NaN.
    pub value: f64,
    /// Field 2: milliseconds since the Unix epoch.
    pub timestamp: i64,
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("value", &self.value)
            .field("bits", &format_args!("{:#018x}", self.value.to_bits()))
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

impl prost::Message for Sample {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.value.to_bits() != 0 {
            prost::encoding::double::encode(1, &self.value, buf);
        }
        if self.timestamp != 0 {
            prost::encoding::int64::encode(2, &self.timestamp, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match tag {
            1 => prost::encoding::double::merge(wire_type, &mut self.value, buf, ctx),
            2 => prost::encoding::int64::merge(wire_type, &mut self.timestamp, buf, ctx),
            _ => prost::encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let value = if self.value.to_bits() != 0 {
            prost::encoding::double::encoded_len(1, &self.value)
        } else {
            0
        };
        let timestamp = if self.timestamp != 0 {
            prost::encoding::int64::encoded_len(2, &self.timestamp)
        } else {
            0
        };
        value + timestamp
    }

    fn clear(&mut self) {
        *self = Sample::default();
    }
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Field 1: the exemplar's own labels (e.g. a trace id).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Field 2.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Field 3: milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// Field 1: a [`MetricType`].
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Field 4 (there is no field 3).
    #[prost(string, tag = "4")]
    pub help: String,
    /// Field 5.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// 0.
    Unknown = 0,
    /// 1.
    Counter = 1,
    /// 2.
    Gauge = 2,
    /// 3.
    Histogram = 3,
    /// 4.
    Gaugehistogram = 4,
    /// 5.
    Summary = 5,
    /// 6.
    Info = 6,
    /// 7.
    Stateset = 7,
}

/// `prometheus.Histogram`: a native histogram sample. Floe does not store these yet; the type
/// is here so requests and responses carrying them are described completely.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Fields 1 and 2: the count of observations.
    #[prost(oneof = "HistogramCount", tags = "1, 2")]
    pub count: Option<HistogramCount>,
    /// Field 3: the sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Field 4: the bucket schema.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Field 5: the breadth of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Fields 6 and 7: the count in the zero bucket.
    #[prost(oneof = "HistogramZeroCount", tags = "6, 7")]
    pub zero_count: Option<HistogramZeroCount>,
    /// Field 8.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Field 9: integer histograms, deltas between buckets.
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Field 10: float histograms, absolute counts.
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Field 11.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Field 12.
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Field 13.
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Field 14: a [`ResetHint`].
    #[prost(enumeration = "ResetHint", tag = "14")]
    pub reset_hint: i32,
    /// Field 15: milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Field 16: custom bucket bounds (not part of the remote write specification).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

/// `oneof count` of [`Histogram`].
#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub enum HistogramCount {
    /// Field 1: integer histograms.
    #[prost(uint64, tag = "1")]
    CountInt(u64),
    /// Field 2: float histograms.
    #[prost(double, tag = "2")]
    CountFloat(f64),
}

/// `oneof zero_count` of [`Histogram`].
#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub enum HistogramZeroCount {
    /// Field 6: integer histograms.
    #[prost(uint64, tag = "6")]
    ZeroCountInt(u64),
    /// Field 7: float histograms.
    #[prost(double, tag = "7")]
    ZeroCountFloat(f64),
}

/// `prometheus.Histogram.ResetHint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResetHint {
    /// 0.
    Unknown = 0,
    /// 1.
    Yes = 1,
    /// 2.
    No = 2,
    /// 3.
    Gauge = 3,
}

/// `prometheus.BucketSpan`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct BucketSpan {
    /// Field 1: the gap to the previous span, or the start index of the first.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Field 2: the number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// `prometheus.ReadRequest`: the body of a remote read request (after snappy).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// Field 2: [`ResponseType`]s the client accepts, in order of preference; empty means
    /// [`ResponseType::Samples`].
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `prometheus.ReadRequest.ResponseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// 0: one snappy-compressed [`ReadResponse`].
    Samples = 0,
    /// 1: a stream of length-delimited [`ChunkedReadResponse`] frames.
    StreamedXorChunks = 1,
}

/// `prometheus.ReadResponse`, for [`ResponseType::Samples`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// Field 1: one result per query, in the request's order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// `prometheus.Query`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// Field 1: milliseconds since the Unix epoch, inclusive.
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// Field 2: milliseconds since the Unix epoch, inclusive.
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    /// Field 4.
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// `prometheus.LabelMatcher`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct LabelMatcher {
    /// Field 1: a [`MatchType`].
    #[prost(enumeration = "MatchType", tag = "1")]
    pub r#type: i32,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Field 3.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.LabelMatcher.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchType {
    /// 0: `=`.
    Eq = 0,
    /// 1: `!=`.
    Neq = 1,
    /// 2: `=~`.
    Re = 2,
    /// 3: `!~`.
    Nre = 3,
}

/// `prometheus.ReadHints`: what the querying PromQL engine will do with the data.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ReadHints {
    /// Field 1: the query step, in milliseconds.
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    /// Field 2: the surrounding function or aggregation.
    #[prost(string, tag = "2")]
    pub func: String,
    /// Field 3: milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// Field 4: milliseconds since the Unix epoch.
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// Field 5: the label names of the aggregation.
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    /// Field 6: `by` (true) or `without` (false).
    #[prost(bool, tag = "6")]
    pub by: bool,
    /// Field 7: the range of a range vector selector, in milliseconds.
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// `prometheus.QueryResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    /// Field 1: samples within a series ordered by time.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.ChunkedReadResponse`, one frame of [`ResponseType::StreamedXorChunks`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// Field 2: the index of the query in [`ReadRequest::queries`].
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// `prometheus.ChunkedSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    /// Field 1: sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Field 2: in start time order, possibly overlapping.
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// `prometheus.Chunk`: a Prometheus TSDB chunk; the time range is inclusive.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Chunk {
    /// Field 1.
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    /// Field 2.
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// Field 3: a [`ChunkEncoding`].
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    /// Field 4: the chunk bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// `prometheus.Chunk.Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    /// 0.
    Unknown = 0,
    /// 1: Gorilla XOR float chunks.
    Xor = 1,
    /// 2.
    Histogram = 2,
    /// 3.
    FloatHistogram = 3,
}

/// The decode-side view of the messages: the same fields, but exemplars and histograms are
/// parsed for framing only and counted ([`Skipped`](skim::Skipped) keeps nothing), so a
/// request full of them costs no memory. Named like the real messages so that decode errors
/// read `TimeSeries.labels: ...`.
pub(crate) mod skim {
    use super::{Label, Sample};

    /// `prometheus.TimeSeries`, exemplars and histograms skipped.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub(crate) exemplars: Vec<Skipped>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) histograms: Vec<Skipped>,
    }

    /// A message whose fields are all skipped (a zero-sized type: a `Vec<Skipped>` never
    /// allocates).
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub(crate) struct Skipped {}
}
