//! The request and response types of the cluster protocol, shared by `floed` (node↔node) and
//! `floe-client` (client↔node). One request frame and one response frame per bidirectional
//! stream (see [`crate::request`]). Every type here crosses the wire: any change to one bumps
//! [`crate::PROTOCOL_VERSION`] (and the ALPN), and `docs/protocol-wire.md` describes each byte.
//!
//! Samples travel as already-encoded columns: per series, the canonical series key
//! (`SeriesKey::encode_into`) and one storage chunk (`floe_storage_format::chunk`: timestamps,
//! values and versions, each column encoded for time series and the chunk crc32-checked), so a
//! coordinator forwards a batch to the other owners without re-encoding it, and a receiver
//! checks the chunk's checksum before it decodes a value.

use floe_storage_format::chunk::{decode_chunk, encode_chunk};
use floe_storage_format::{Columns, Sample, SeriesKey, normalize};
use serde::{Deserialize, Serialize};

use crate::WireError;

/// Which topology a request was made under: its version number and content hash
/// (`floe_ring::Topology::content_hash`). A node refuses a request made under a topology it
/// has not adopted ([`ErrorCode::TopologyMismatch`]), naming both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TopologyRef {
    /// The document's `version`.
    pub version: u64,
    /// The document's content hash.
    pub hash: u128,
}

impl std::fmt::Display for TopologyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "version {} (hash {:032x})", self.version, self.hash)
    }
}

/// How many owners must answer: of a write, before it is acknowledged; of a read, for every
/// token range, before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Consistency {
    /// One owner.
    One,
    /// A majority of the replication factor, `N / 2 + 1`.
    #[default]
    Quorum,
    /// Every owner.
    All,
}

impl Consistency {
    /// Owners needed out of `replicas` (at least 1, at most `replicas`).
    pub fn required(self, replicas: usize) -> usize {
        let need = match self {
            Consistency::One => 1,
            Consistency::Quorum => replicas / 2 + 1,
            Consistency::All => replicas,
        };
        need.clamp(1, replicas.max(1))
    }

    /// `one`, `quorum` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::One => "one",
            Consistency::Quorum => "quorum",
            Consistency::All => "all",
        }
    }
}

impl std::str::FromStr for Consistency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "one" => Ok(Consistency::One),
            "quorum" => Ok(Consistency::Quorum),
            "all" => Ok(Consistency::All),
            _ => Err(format!(
                "unknown consistency {s:?}: expected one, quorum or all"
            )),
        }
    }
}

impl std::fmt::Display for Consistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a sample holds. Only floats today; room for histograms and text later (a new variant
/// is a protocol version bump).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SampleKind {
    /// `f64` values.
    #[default]
    Float,
}

/// One series' samples: its canonical key and one chunk of encoded columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesSamples {
    /// `SeriesKey::encode_into` of the series.
    pub key: Vec<u8>,
    /// What the values are.
    pub kind: SampleKind,
    /// `floe_storage_format::chunk::encode_chunk` of the samples (strictly increasing
    /// timestamps, at least one sample). Empty for a series sent without samples (a
    /// [`Request::Series`] answer).
    pub chunk: Vec<u8>,
}

impl SeriesSamples {
    /// Encodes `samples` of `key`, normalizing them first (sorted by timestamp, one per
    /// timestamp by the merge rule). An empty `samples` gives an empty chunk.
    pub fn encode(key: &SeriesKey, samples: &[Sample]) -> Result<Self, WireError> {
        let mut owned = samples.to_vec();
        normalize(&mut owned);
        Self::encode_normalized(key, &owned)
    }

    /// Encodes samples that are already normalized (strictly increasing timestamps).
    pub fn encode_normalized(key: &SeriesKey, samples: &[Sample]) -> Result<Self, WireError> {
        let mut k = Vec::with_capacity(64);
        key.encode_into(&mut k);
        let mut chunk = Vec::new();
        if !samples.is_empty() {
            let c = Columns::from_samples(samples);
            encode_chunk(&c.ts, &c.values, &c.versions, &mut chunk).map_err(|e| {
                WireError::Encode {
                    reason: format!("series {key}: {e}"),
                }
            })?;
        }
        Ok(Self {
            key: k,
            kind: SampleKind::Float,
            chunk,
        })
    }

    /// Decodes and checks the series key (its canonical encoding).
    pub fn decode_key(&self) -> Result<SeriesKey, WireError> {
        SeriesKey::decode(&self.key).map_err(|e| WireError::Decode {
            reason: format!("series key: {e}"),
        })
    }

    /// Decodes the chunk (after checking its crc32) into `dst`; an empty chunk gives no
    /// samples. The timestamps come out strictly increasing (the chunk decoder checks).
    pub fn decode_columns(&self, dst: &mut Columns) -> Result<(), WireError> {
        dst.ts.clear();
        dst.values.clear();
        dst.versions.clear();
        if self.chunk.is_empty() {
            return Ok(());
        }
        decode_chunk(&self.chunk, dst).map_err(|e| WireError::Decode {
            reason: format!("samples chunk: {e}"),
        })
    }

    /// Decodes key and samples.
    pub fn decode(&self) -> Result<(SeriesKey, Vec<Sample>), WireError> {
        let key = self.decode_key()?;
        let mut c = Columns::default();
        self.decode_columns(&mut c)?;
        Ok((key, c.samples().collect()))
    }
}

/// Who is asking a node to write: a client (the node coordinates: stores its share and
/// forwards to the other owners) or another node (store locally only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WriteMode {
    /// Coordinate: write to every owner of each series, acknowledge after W of them.
    Coordinate,
    /// Store the samples here (a coordinator's forward, a journal replay or a read repair).
    Replica,
}

/// A batch of samples to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRequest {
    /// The topology the sender routed under.
    pub topology: TopologyRef,
    /// Owners that must store the batch before it is acknowledged (for
    /// [`WriteMode::Coordinate`]; ignored for replicas).
    pub consistency: Consistency,
    /// Coordinate or store locally.
    pub mode: WriteMode,
    /// The samples, per series.
    pub series: Vec<SeriesSamples>,
}

/// The answer to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResponse {
    /// Samples in the request.
    pub samples: u64,
    /// The fewest owners that stored any series of the batch (a replica answers 1).
    pub acks: u32,
    /// Owners that were required (the consistency level applied to N).
    pub required: u32,
    /// Owner copies that went to a coordinator's journal instead (replayed later).
    pub journaled: u32,
}

/// How a matcher compares a label's value (Prometheus semantics; regexes anchored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

/// One label matcher.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Matcher {
    /// Label name, `__name__` for the metric name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value or regex.
    pub value: String,
}

/// Series matching every matcher with samples in `[start, end]`, and those samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectRequest {
    /// The topology the coordinator planned under.
    pub topology: TopologyRef,
    /// Label matchers (all must match).
    pub matchers: Vec<Matcher>,
    /// First timestamp, inclusive (ms).
    pub start: i64,
    /// Last timestamp, inclusive (ms).
    pub end: i64,
    /// Return only series this node owns under `topology` (what a coordinator asks: stale
    /// copies of series the node no longer owns must not count as a replica's answer).
    pub owned_only: bool,
    /// Most series to return; more is a [`ErrorCode::Limit`] error.
    pub max_series: u64,
    /// Most samples to return; more is a [`ErrorCode::Limit`] error.
    pub max_samples: u64,
}

/// The selected series (with `samples = false` in [`Request::Series`], with empty chunks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectResponse {
    /// Series, each with its samples in range.
    pub series: Vec<SeriesSamples>,
}

/// A PromQL query, evaluated by the node over the whole cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// The PromQL expression.
    pub query: String,
    /// Instant or range.
    pub range: QueryRange,
    /// Replicas that must answer for every token range.
    pub consistency: Consistency,
}

/// When a query is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryRange {
    /// At one instant (ms).
    Instant {
        /// Evaluation time.
        time: i64,
    },
    /// At every `step` from `start` to `end` (ms, inclusive).
    Range {
        /// First step.
        start: i64,
        /// Last step (inclusive).
        end: i64,
        /// Step, > 0.
        step: i64,
    },
}

/// One series of a query result: labels and points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuerySeries {
    /// Labels, metric name as `__name__` when kept.
    pub labels: Vec<(String, String)>,
    /// Point times (ms).
    pub timestamps: Vec<i64>,
    /// Point values.
    pub values: Vec<f64>,
}

/// A query's result, in Prometheus's four result types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryResult {
    /// A scalar at a time.
    Scalar {
        /// Time (ms).
        time: i64,
        /// Value.
        value: f64,
    },
    /// A string at a time.
    String {
        /// Time (ms).
        time: i64,
        /// Value.
        value: String,
    },
    /// One point per series.
    Vector(Vec<QuerySeries>),
    /// Points per series over a range.
    Matrix(Vec<QuerySeries>),
}

/// The digest of what a node stores in `[start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRequest {
    /// The topology of the asker.
    pub topology: TopologyRef,
    /// First timestamp, inclusive (ms).
    pub start: i64,
    /// Last timestamp, inclusive (ms).
    pub end: i64,
}

/// A node's digest (`floe_storage_format::Digest`) of everything it stores in the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestResponse {
    /// The node that answered.
    pub node: String,
    /// The digest.
    pub digest: u128,
}

/// The topology a node has adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyResponse {
    /// Its version and content hash.
    pub topology: TopologyRef,
    /// The TOML document (`floe_ring::Topology::to_toml`).
    pub toml: String,
    /// The id of the node that answered.
    pub node: String,
}

/// A range of ring positions, `(start, end]` clockwise (wrapping); `start == end` is the whole
/// circle (`floe_ring::TokenRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RingRange {
    /// Exclusive start.
    pub start: u64,
    /// Inclusive end.
    pub end: u64,
}

/// Where a paged range read resumes: after this series, in (ring position, series id) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RangeCursor {
    /// The last series' ring position.
    pub position: u64,
    /// The last series' id.
    pub series: u128,
}

/// Every sample a node stores of the series whose ring position lies in `range` (node↔node:
/// rebalance streaming and rebuild). Paged: at most about `max_bytes` of encoded series per
/// answer, in (ring position, series id) order, resuming after `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeReadRequest {
    /// The topology of the asker.
    pub topology: TopologyRef,
    /// The positions.
    pub range: RingRange,
    /// When not empty, only these series ids (a re-read of series whose digests differ).
    pub series: Vec<u128>,
    /// Resume after this series; `None` from the start of the range.
    pub after: Option<RangeCursor>,
    /// Soft limit on the answer's encoded bytes (one series is always sent whole).
    pub max_bytes: u32,
}

/// One page of a range read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeReadResponse {
    /// Series with all their stored samples.
    pub series: Vec<SeriesSamples>,
    /// Where the next page starts; `None` when the range is done.
    pub next: Option<RangeCursor>,
}

/// The digest of what a node stores of the series in `range` (all time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeDigestRequest {
    /// The topology of the asker.
    pub topology: TopologyRef,
    /// The positions.
    pub range: RingRange,
    /// Also list one digest per series.
    pub per_series: bool,
}

/// A node's digest of a range: total, counts and optionally per series (sorted by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeDigestResponse {
    /// Series with at least one sample.
    pub series: u64,
    /// Stored samples.
    pub samples: u64,
    /// The digest of them all.
    pub digest: u128,
    /// `(series id, digest)` per series, when asked.
    pub per_series: Vec<(u128, u128)>,
}

/// Topology changes and rebuilds (node↔node; operators use a node's HTTP admin endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingRequest {
    /// The node's rebalance state and progress.
    Status,
    /// Adopt `new` as the target of a rebalance from `old` (both TOML documents): write to
    /// the owners of both, stream the ranges gained.
    Prepare {
        /// The current topology.
        old: String,
        /// The target topology.
        new: String,
        /// An operator applied it (again): a target aborted before may be prepared anew.
        /// The driver's catch-up prepares are not forced, so a node that missed an abort
        /// cannot revive the change.
        force: bool,
    },
    /// Every gained range is verified everywhere: read from the target's owners.
    Commit {
        /// The target being committed.
        target: TopologyRef,
    },
    /// Give up the rebalance to `target` and return to the current topology.
    Abort {
        /// The target being abandoned.
        target: TopologyRef,
    },
    /// Refill this node from its peers (every range it owns).
    Rebuild,
}

/// Where a node is in a topology change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RingPhase {
    /// One topology, no change running.
    Stable,
    /// A target is adopted: writes go to old and new owners, reads to the old ones; gained
    /// ranges are streamed.
    Prepared,
    /// The target is committed: writes still go to both, reads to the new owners.
    Committed,
    /// Stable, and this node is not in the topology any more: it may be stopped.
    Removed,
}

impl RingPhase {
    /// `stable`, `prepared`, `committed` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RingPhase::Stable => "stable",
            RingPhase::Prepared => "prepared",
            RingPhase::Committed => "committed",
            RingPhase::Removed => "removed",
        }
    }
}

/// What a node's streaming job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobKind {
    /// Streams the ranges this node gains in a rebalance.
    Rebalance,
    /// Refills every range this node owns.
    Rebuild,
}

/// A streaming job's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    /// What it does.
    pub kind: JobKind,
    /// Ranges to stream and verify.
    pub ranges_total: u32,
    /// Ranges verified.
    pub ranges_done: u32,
    /// Samples received so far.
    pub samples: u64,
    /// Encoded bytes received so far.
    pub bytes: u64,
    /// Recent rate.
    pub samples_per_s: f64,
    /// Recent rate.
    pub bytes_per_s: f64,
    /// Estimated time left, when known.
    pub eta_ms: Option<u64>,
    /// Finished: every range verified.
    pub done: bool,
    /// The last failure (the job retries), if any.
    pub error: Option<String>,
}

/// A node's answer to [`RingRequest`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RingStatus {
    /// The node.
    pub node: String,
    /// Its adopted topology.
    pub current: TopologyRef,
    /// The target of a running change.
    pub target: Option<TopologyRef>,
    /// The topology adopted before the current one (`None` for a node that has only ever had
    /// one, such as a node waiting to join).
    pub previous: Option<TopologyRef>,
    /// Where it is.
    pub phase: RingPhase,
    /// Its streaming job, if one runs or ran for the current change.
    pub job: Option<JobProgress>,
}

/// How a [`TreeDigestRequest`] groups the stored samples it digests: the levels of the
/// anti-entropy tree (set of ranges → range → sub-range → series), each a finer split of the
/// one above, so two replicas find the series that differ by exchanging digests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TreeLevel {
    /// One bucket per time bucket for all the ranges together (key 0).
    Set,
    /// One bucket per range and time bucket (key = the range's index in the request).
    Range,
    /// Each range split into this many equal parts of its positions, 1..=256 (key = range
    /// index × parts + part).
    Split(u32),
    /// One bucket per series and time bucket (key = the series id).
    Series,
}

/// The digests of what a node stores of the series in `ranges` with `start ≤ ts ≤ end`,
/// grouped by `level` and by time bucket (`ts.div_euclid(bucket_ms)`) (node↔node and
/// operator tools; since version 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeDigestRequest {
    /// The topology of the asker.
    pub topology: TopologyRef,
    /// Position ranges (at most 65536).
    pub ranges: Vec<RingRange>,
    /// When set, `ranges` must be empty: the ranges are every range of the topology that the
    /// answering node and this node both hold (anti-entropy's top level, sent without listing
    /// the ranges), in ring order.
    pub shared_with: Option<String>,
    /// First timestamp, inclusive.
    pub start: i64,
    /// Last timestamp, inclusive.
    pub end: i64,
    /// Width of a time bucket in ms (positive). Equal to the node's partition length, the
    /// node answers whole buckets from its maintained digests.
    pub bucket_ms: i64,
    /// The grouping.
    pub level: TreeLevel,
    /// When not empty, only the series matching every matcher.
    pub matchers: Vec<Matcher>,
    /// With [`TreeLevel::Series`]: also send each listed series' key.
    pub keys: bool,
}

/// One group of a [`TreeDigestResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeBucket {
    /// The time bucket's start (a multiple of `bucket_ms`).
    pub time: i64,
    /// The group, as [`TreeLevel`] says.
    pub key: u128,
    /// Stored samples in it.
    pub samples: u64,
    /// Their digest.
    pub digest: u128,
}

/// A node's digests: only non-empty groups, sorted by `(time, key)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeDigestResponse {
    /// The groups.
    pub buckets: Vec<TreeBucket>,
    /// `(series id, canonical key bytes)` of the series listed, when asked.
    pub keys: Vec<(u128, Vec<u8>)>,
}

/// Stored samples of some series, by id, with `start ≤ ts ≤ end` (node↔node: anti-entropy
/// fetches exactly what differs; since version 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplesRequest {
    /// The topology of the asker.
    pub topology: TopologyRef,
    /// Series ids (at most 65536); unknown ones are left out of the answer.
    pub series: Vec<u128>,
    /// First timestamp, inclusive.
    pub start: i64,
    /// Last timestamp, inclusive.
    pub end: i64,
}

/// The samples asked for, one entry per known series (possibly with no samples).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplesResponse {
    /// Series with their samples in the window.
    pub series: Vec<SeriesSamples>,
}

/// Every request of the protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The node's topology (no topology is needed to ask).
    Topology,
    /// Store samples.
    Write(WriteRequest),
    /// Series and samples (node↔node).
    Select(SelectRequest),
    /// Series only, no samples (node↔node; the chunks of the answer are empty).
    Series(SelectRequest),
    /// A PromQL query over the cluster.
    Query(QueryRequest),
    /// The node's digest.
    Digest(DigestRequest),
    /// A page of the series in a ring range (node↔node; since version 3).
    RangeRead(RangeReadRequest),
    /// The digest of a ring range (node↔node; since version 3).
    RangeDigest(RangeDigestRequest),
    /// Topology change and rebuild control (node↔node; since version 3).
    Ring(RingRequest),
    /// Grouped digests: the anti-entropy tree and cluster digests (since version 4).
    TreeDigest(TreeDigestRequest),
    /// Samples of series by id in a time window (node↔node; since version 4).
    Samples(SamplesRequest),
}

impl Request {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Topology => "topology",
            Request::Write(_) => "write",
            Request::Select(_) => "select",
            Request::Series(_) => "series",
            Request::Query(_) => "query",
            Request::Digest(_) => "digest",
            Request::RangeRead(_) => "range_read",
            Request::RangeDigest(_) => "range_digest",
            Request::Ring(_) => "ring",
            Request::TreeDigest(_) => "tree_digest",
            Request::Samples(_) => "samples",
        }
    }
}

/// Every response of the protocol; [`Response::Error`] answers any request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// To [`Request::Topology`].
    Topology(TopologyResponse),
    /// To [`Request::Write`].
    Write(WriteResponse),
    /// To [`Request::Select`] and [`Request::Series`].
    Select(SelectResponse),
    /// To [`Request::Query`].
    Query(QueryResult),
    /// To [`Request::Digest`].
    Digest(DigestResponse),
    /// The request failed.
    Error(ErrorResponse),
    /// To [`Request::RangeRead`].
    RangeRead(RangeReadResponse),
    /// To [`Request::RangeDigest`].
    RangeDigest(RangeDigestResponse),
    /// To [`Request::Ring`] (boxed: it is the largest answer; the encoding is the same).
    Ring(Box<RingStatus>),
    /// To [`Request::TreeDigest`].
    TreeDigest(TreeDigestResponse),
    /// To [`Request::Samples`].
    Samples(SamplesResponse),
}

impl Response {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Response::Topology(_) => "topology",
            Response::Write(_) => "write",
            Response::Select(_) => "select",
            Response::Query(_) => "query",
            Response::Digest(_) => "digest",
            Response::Error(_) => "error",
            Response::RangeRead(_) => "range_read",
            Response::RangeDigest(_) => "range_digest",
            Response::Ring(_) => "ring",
            Response::TreeDigest(_) => "tree_digest",
            Response::Samples(_) => "samples",
        }
    }
}

/// A failed request: a stable code to match on and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What went wrong and where.
    pub message: String,
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// Stable error codes. Never renumber or remove one; add new ones at the end (a protocol
/// version bump).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The request names another topology than the node's; refetch it.
    TopologyMismatch,
    /// The request is malformed or invalid; retrying it cannot help.
    BadRequest,
    /// A configured limit was exceeded; nothing was stored.
    Limit,
    /// Too few owners answered for the consistency level; a write may be partly stored
    /// (retrying is safe: writes are idempotent).
    Unavailable,
    /// The peer's certificate may not make this request (a client asking a node-only request).
    Forbidden,
    /// The node failed (storage error); retryable.
    Internal,
    /// The request ran out of time.
    Timeout,
    /// A PromQL query could not be parsed or evaluated.
    Query,
}

impl ErrorCode {
    /// The code as a string, e.g. `topology_mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::TopologyMismatch => "topology_mismatch",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Limit => "limit",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Internal => "internal",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Query => "query",
        }
    }

    /// True when retrying the same request (elsewhere or later) may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::Timeout
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_FRAME_BYTES, decode_frame, encode_frame};

    fn key() -> SeriesKey {
        SeriesKey::new("cpu", [("host", "a")]).expect("valid key")
    }

    #[test]
    fn series_samples_round_trip_normalized() {
        let samples = [
            Sample::new(20, 2.0, 0),
            Sample::new(10, 1.0, 0),
            Sample::new(10, 5.0, 0),
        ];
        let s = SeriesSamples::encode(&key(), &samples).expect("encode");
        let (k, back) = s.decode().expect("decode");
        assert_eq!(k, key());
        assert_eq!(back, vec![Sample::new(10, 5.0, 0), Sample::new(20, 2.0, 0)]);
    }

    #[test]
    fn a_flipped_chunk_byte_is_refused() {
        let mut s = SeriesSamples::encode(&key(), &[Sample::new(1, 1.0, 0)]).expect("encode");
        let last = s.chunk.len() - 1;
        s.chunk[last] ^= 0x40;
        assert!(s.decode().is_err());
        s.chunk.truncate(3);
        assert!(s.decode().is_err());
    }

    #[test]
    fn requests_round_trip_through_frames() {
        let req = Request::Write(WriteRequest {
            topology: TopologyRef {
                version: 3,
                hash: 0xabc,
            },
            consistency: Consistency::All,
            mode: WriteMode::Coordinate,
            series: vec![SeriesSamples::encode(&key(), &[Sample::new(1, 1.5, 2)]).expect("enc")],
        });
        let frame = encode_frame(&req).expect("frame");
        let back: Request = decode_frame(&frame, MAX_FRAME_BYTES).expect("decode");
        assert_eq!(back, req);
    }

    /// The worked example of `docs/protocol-wire.md`: a top-level tree digest.
    #[test]
    fn tree_digest_frame_is_as_documented() {
        let req = Request::TreeDigest(TreeDigestRequest {
            topology: TopologyRef {
                version: 3,
                hash: 0x1234,
            },
            ranges: Vec::new(),
            shared_with: Some("n1".into()),
            start: 0,
            end: 1000,
            bucket_ms: 7_200_000,
            level: TreeLevel::Set,
            matchers: Vec::new(),
            keys: false,
        });
        let frame = encode_frame(&req).expect("frame");
        let hex: Vec<String> = frame.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex.join(" "),
            "13 00 00 00 04 00 09 03 b4 24 00 01 02 6e 31 00 d0 0f 80 f4 ee 06 00 00 00"
        );
        let back: Request = decode_frame(&frame, MAX_FRAME_BYTES).expect("decode");
        assert_eq!(back, req);
    }

    #[test]
    fn consistency_counts_and_parses() {
        assert_eq!(Consistency::Quorum.required(3), 2);
        assert_eq!(Consistency::Quorum.required(1), 1);
        assert_eq!(Consistency::All.required(3), 3);
        assert_eq!(Consistency::One.required(3), 1);
        assert_eq!("QUORUM".parse::<Consistency>(), Ok(Consistency::Quorum));
        assert!("two".parse::<Consistency>().is_err());
    }
}
