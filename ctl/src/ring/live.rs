//! A node's HTTP admin endpoints as the live commands see them: a small HTTP/1.1 client over
//! `std::net::TcpStream` (one request per connection, `Connection: close`) and the STATUS JSON
//! it returns, parsed leniently (unknown fields ignored, missing numbers 0 or `None`) so the
//! CLI survives small server changes. Wire contract and fields: `docs/rebalance.md`.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use floe_ring::RingError;
use serde_json::Value;

/// The node URL when neither `--node` nor `FLOE_NODE_URL` gives one.
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:8480";
/// How long a TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a read (or write) may block.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body accepted.
const MAX_BODY: u64 = 16 << 20;
/// Largest status or header line accepted, and most header lines.
const MAX_LINE: u64 = 16 << 10;
const MAX_HEADERS: usize = 100;

/// Everything the live commands can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// `--node` is not `http://HOST:PORT` or `HOST:PORT`.
    #[error("invalid node URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The topology file to apply is not a valid topology.
    #[error("{path}: {source}")]
    Topology {
        /// The file.
        path: PathBuf,
        /// The rule it breaks, as `floe-ring` words it.
        #[source]
        source: Box<RingError>,
    },
    /// The topology file cannot be read.
    #[error("read topology {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The node's address does not resolve or the TCP connection fails.
    #[error("cannot reach node at {url}: {reason}")]
    Unreachable {
        /// The node URL.
        url: String,
        /// Why, e.g. `connection refused`.
        reason: String,
    },
    /// The connection broke, timed out or carried something that is not an HTTP response.
    #[error("node at {url}: {request}: {reason}")]
    Exchange {
        /// The node URL.
        url: String,
        /// Method and path, e.g. `GET /api/v1/admin/ring/status`.
        request: String,
        /// What went wrong.
        reason: String,
    },
    /// The node answered with the API's error envelope.
    #[error("node at {url}: {request}: {error_type} (HTTP {http}): {message}")]
    Api {
        /// The node URL.
        url: String,
        /// Method and path.
        request: String,
        /// The HTTP status code.
        http: u16,
        /// `errorType`: `bad_data`, `conflict`, `not_found`, `unavailable`, `internal`.
        error_type: String,
        /// `error`: the node's message.
        message: String,
    },
    /// The node answered with something other than the API envelope.
    #[error("node at {url}: {request}: unexpected response (HTTP {http}): {detail}")]
    Unexpected {
        /// The node URL.
        url: String,
        /// Method and path.
        request: String,
        /// The HTTP status code.
        http: u16,
        /// What is wrong, with the start of the body.
        detail: String,
    },
    /// `--timeout` passed before the awaited state.
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout {
        /// The timeout.
        secs: u64,
        /// What was awaited.
        what: String,
    },
    /// The awaited job ended otherwise: the rebalance was aborted or replaced, or the rebuild
    /// failed.
    #[error("{0}")]
    Ended(String),
}

impl LiveError {
    /// The process exit code: 2 for bad flags or an invalid topology file, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BadUrl { .. } | Self::Topology { .. } => 2,
            _ => 1,
        }
    }
}

/// A node's HTTP base URL: `http://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUrl {
    host: String,
    port: u16,
}

impl NodeUrl {
    /// Parses `http://HOST[:PORT][/]` or `HOST[:PORT]` (IPv6 in brackets); the port defaults
    /// to 80. Other schemes, paths, queries and user info are refused.
    pub fn parse(text: &str) -> Result<Self, LiveError> {
        let bad = |reason: &str| LiveError::BadUrl {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = text.trim();
        let rest = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "scheme {scheme:?} is not supported (only http)"
                )));
            }
            None => trimmed,
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(bad("give only http://HOST:PORT, without a path"));
        }
        if authority.contains('@') {
            return Err(bad("user info is not supported"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("expected HOST:PORT"))?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad("no valid host"));
        }
        let port = match port {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad(&format!("invalid port {p:?}"))),
            },
        };
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// `host:port` as the `Host` header carries it (IPv6 in brackets).
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

/// `host[:port]` or `[v6][:port]` into host and optional port.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// An HTTP response: status code, headers (names lowercased) and the decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().rev().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }
}

/// The admin API client of one node.
#[derive(Debug, Clone)]
pub struct Client {
    url: NodeUrl,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl Client {
    /// A client with the default timeouts ([`CONNECT_TIMEOUT`], [`READ_TIMEOUT`]).
    pub fn new(url: NodeUrl) -> Self {
        Self::with_timeouts(url, CONNECT_TIMEOUT, READ_TIMEOUT)
    }

    /// A client with other timeouts (tests).
    pub fn with_timeouts(url: NodeUrl, connect: Duration, read: Duration) -> Self {
        Self {
            url,
            connect_timeout: connect,
            read_timeout: read,
        }
    }

    /// The node's URL.
    pub fn url(&self) -> &NodeUrl {
        &self.url
    }

    /// `GET /api/v1/admin/ring/status`.
    pub fn status(&self) -> Result<RingStatus, LiveError> {
        self.call("GET", "/api/v1/admin/ring/status", None)
    }

    /// `POST /api/v1/admin/ring/apply` with the topology document as the body.
    pub fn apply(&self, topology_toml: &str) -> Result<RingStatus, LiveError> {
        self.call(
            "POST",
            "/api/v1/admin/ring/apply",
            Some(topology_toml.as_bytes()),
        )
    }

    /// `POST /api/v1/admin/ring/abort`.
    pub fn abort(&self) -> Result<RingStatus, LiveError> {
        self.call("POST", "/api/v1/admin/ring/abort", Some(b""))
    }

    /// `POST /api/v1/admin/node/rebuild?node=ID`.
    pub fn rebuild(&self, node: &str) -> Result<RingStatus, LiveError> {
        let target = format!("/api/v1/admin/node/rebuild?node={}", percent_encode(node));
        self.call("POST", &target, Some(b""))
    }

    /// Sends one request and returns the API envelope's `data` (any admin endpoint).
    pub fn json(
        &self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
    ) -> Result<Value, LiveError> {
        let request = format!("{method} {}", target.split('?').next().unwrap_or(target));
        let response = self.send(method, target, body)?;
        self.envelope(&request, &response)
    }

    /// Sends one request and unwraps the API envelope into a STATUS.
    fn call(
        &self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
    ) -> Result<RingStatus, LiveError> {
        let request = format!("{method} {}", target.split('?').next().unwrap_or(target));
        let response = self.send(method, target, body)?;
        let data = self.envelope(&request, &response)?;
        RingStatus::from_json(data).map_err(|detail| LiveError::Unexpected {
            url: self.url.to_string(),
            request,
            http: response.status,
            detail,
        })
    }

    /// Sends one request (`body` as `text/plain`, always with `Content-Length`) and reads the
    /// whole response.
    pub fn send(
        &self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, LiveError> {
        let mut stream = self.connect()?;
        let exchange = |reason: String| LiveError::Exchange {
            url: self.url.to_string(),
            request: format!("{method} {}", target.split('?').next().unwrap_or(target)),
            reason,
        };
        let timeouts = stream
            .set_read_timeout(Some(self.read_timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.read_timeout)));
        timeouts.map_err(|e| exchange(format!("set socket timeouts: {e}")))?;
        let request = encode_request(method, target, &self.url.authority(), body);
        let written = stream.write_all(&request).and_then(|()| stream.flush());
        written.map_err(|e| {
            exchange(format!(
                "send request: {}",
                io_reason(&e, self.read_timeout)
            ))
        })?;
        read_response(&mut BufReader::new(stream)).map_err(|e| match e {
            ReadError::Io(e) => exchange(format!(
                "read response: {}",
                io_reason(&e, self.read_timeout)
            )),
            ReadError::Malformed(m) => exchange(format!("malformed HTTP response: {m}")),
        })
    }

    fn connect(&self) -> Result<TcpStream, LiveError> {
        let unreachable = |reason: String| LiveError::Unreachable {
            url: self.url.to_string(),
            reason,
        };
        let addrs = (self.url.host.as_str(), self.url.port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("resolve {}: {e}", self.url.host)))?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(unreachable(match last {
            Some(e) => io_reason(&e, self.connect_timeout),
            None => format!("{} resolves to no address", self.url.host),
        }))
    }

    /// The envelope's `data` on success; its error, or what is wrong with the body, otherwise.
    fn envelope(&self, request: &str, response: &Response) -> Result<Value, LiveError> {
        let unexpected = |detail: String| LiveError::Unexpected {
            url: self.url.to_string(),
            request: request.to_string(),
            http: response.status,
            detail,
        };
        let value: Value = serde_json::from_slice(&response.body).map_err(|e| {
            unexpected(format!(
                "body is not JSON ({e}): {}",
                snippet(&response.body)
            ))
        })?;
        match value.get("status").and_then(Value::as_str) {
            Some("success") if (200..300).contains(&response.status) => {
                Ok(value.get("data").cloned().unwrap_or(Value::Null))
            }
            Some("error") => Err(LiveError::Api {
                url: self.url.to_string(),
                request: request.to_string(),
                http: response.status,
                error_type: str_or(&value, "errorType", "unknown"),
                message: str_or(&value, "error", "(no message)"),
            }),
            _ => Err(unexpected(format!(
                "not the API envelope: {}",
                snippet(&response.body)
            ))),
        }
    }
}

/// An I/O error as a short phrase: `connection refused`, `no response within 10 s`, ….
fn io_reason(e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("no answer within {} s", timeout.as_secs_f64())
        }
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::UnexpectedEof => e.kind().to_string(),
        _ => e.to_string(),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

fn str_or(value: &Value, key: &str, default: &str) -> String {
    let found = value.get(key).and_then(Value::as_str);
    found.unwrap_or(default).to_string()
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request bytes: request line, headers, body.
fn encode_request(method: &str, target: &str, host: &str, body: Option<&[u8]>) -> Vec<u8> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: floectl/{}\r\n\
         Accept: application/json\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(body) = body {
        head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    bytes
}

#[derive(Debug)]
enum ReadError {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

fn malformed<T>(what: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Malformed(what.into()))
}

/// Reads one response (skipping `1xx` interim ones) with a `Content-Length`, chunked or
/// until-close body.
fn read_response<R: BufRead>(r: &mut R) -> Result<Response, ReadError> {
    loop {
        let status = read_status_line(r)?;
        let headers = read_headers(r)?;
        if (100..200).contains(&status) {
            continue;
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 204 || status == 304 {
            return Ok(response);
        }
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        response.body = if chunked {
            read_chunked(r)?
        } else if let Some(len) = response.header("content-length") {
            let Ok(len) = len.trim().parse::<u64>() else {
                return malformed(format!("invalid Content-Length {len:?}"));
            };
            if len > MAX_BODY {
                return malformed(format!("body of {len} bytes exceeds {MAX_BODY}"));
            }
            let mut body = vec![0; usize::try_from(len).expect("at most MAX_BODY")];
            r.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            r.take(MAX_BODY + 1).read_to_end(&mut body)?;
            if body.len() as u64 > MAX_BODY {
                return malformed(format!("body exceeds {MAX_BODY} bytes"));
            }
            body
        };
        return Ok(response);
    }
}

/// One CRLF- (or LF-) terminated line without its terminator; EOF before it is an error.
fn read_line<R: BufRead>(r: &mut R) -> Result<String, ReadError> {
    let mut line = Vec::new();
    r.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        if line.len() as u64 >= MAX_LINE {
            return malformed(format!("line longer than {MAX_LINE} bytes"));
        }
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    match String::from_utf8(line) {
        Ok(line) => Ok(line),
        Err(_) => malformed("header line is not UTF-8"),
    }
}

fn read_status_line<R: BufRead>(r: &mut R) -> Result<u16, ReadError> {
    let line = read_line(r)?;
    let mut parts = line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return malformed(format!("status line {line:?}"));
    }
    match code.parse::<u16>() {
        Ok(code) if (100..600).contains(&code) => Ok(code),
        _ => malformed(format!("status line {line:?}")),
    }
}

fn read_headers<R: BufRead>(r: &mut R) -> Result<Vec<(String, String)>, ReadError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() == MAX_HEADERS {
            return malformed(format!("more than {MAX_HEADERS} headers"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return malformed(format!("header line {line:?}"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = u64::from_str_radix(size, 16) else {
            return malformed(format!("chunk size line {line:?}"));
        };
        if size == 0 {
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        if body.len() as u64 + size > MAX_BODY {
            return malformed(format!("body exceeds {MAX_BODY} bytes"));
        }
        let start = body.len();
        body.resize(start + usize::try_from(size).expect("at most MAX_BODY"), 0);
        r.read_exact(&mut body[start..])?;
        if !read_line(r)?.is_empty() {
            return malformed("chunk not followed by CRLF");
        }
    }
}

/// A topology version and its content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionRef {
    /// The topology version.
    pub version: u64,
    /// Its content hash (32 hex digits), empty if the node did not say.
    pub hash: String,
}

/// One node's part in the STATUS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStatus {
    /// Node id.
    pub id: String,
    /// Whether the answering node could ask it (missing: true unless `error` is set).
    pub reachable: bool,
    /// Why it is unreachable, or what failed.
    pub error: Option<String>,
    /// `stable`, `prepared`, `streaming`, `synced`, `committed`, `removed`, `rebuilding` or
    /// `unknown` (missing: `unknown`).
    pub phase: String,
    /// The topology version it serves.
    pub current_version: u64,
    /// The version it moves to.
    pub target_version: Option<u64>,
    /// `rebalance`, `rebuild` or none.
    pub job: Option<String>,
    /// Ranges its job must stream.
    pub ranges_total: u64,
    /// Ranges streamed so far.
    pub ranges_done: u64,
    /// Samples streamed by it in this job so far.
    pub samples: u64,
    /// Bytes streamed by it in this job so far.
    pub bytes: u64,
    /// Recent rate in samples per second.
    pub samples_per_s: f64,
    /// Recent rate in bytes per second.
    pub bytes_per_s: f64,
    /// Estimated seconds left.
    pub eta_s: Option<f64>,
}

/// STATUS: the cluster's topology change as one node sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RingStatus {
    /// The node that answered.
    pub node: String,
    /// `stable` or `rebalancing` (missing: `unknown`).
    pub state: String,
    /// The version the cluster serves.
    pub current: VersionRef,
    /// The version it moves to, during a rebalance.
    pub target: Option<VersionRef>,
    /// Every node.
    pub nodes: Vec<NodeStatus>,
    /// The JSON as received (for `--json`).
    pub raw: Value,
}

impl RingStatus {
    /// Parses STATUS leniently; only a non-object is an error.
    pub fn from_json(raw: Value) -> Result<Self, String> {
        if !raw.is_object() {
            return Err(format!("STATUS is not a JSON object: {}", raw));
        }
        let nodes = match raw.get("nodes") {
            Some(Value::Array(nodes)) => nodes.iter().filter(|n| n.is_object()).map(node).collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            node: opt_str(&raw, "node").unwrap_or_default(),
            state: opt_str(&raw, "state").unwrap_or_else(|| "unknown".into()),
            current: raw.get("current").map(version_ref).unwrap_or_default(),
            target: raw.get("target").filter(|t| t.is_object()).map(version_ref),
            nodes,
            raw,
        })
    }

    /// Parses a STATUS document (tests, or a saved `--json` line).
    pub fn parse(text: &str) -> Result<Self, String> {
        let value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        Self::from_json(value)
    }

    /// `state` is `stable` and no target is set.
    pub fn is_stable(&self) -> bool {
        self.state == "stable" && self.target.is_none()
    }
}

fn version_ref(v: &Value) -> VersionRef {
    VersionRef {
        version: u64_field(v, "version"),
        hash: opt_str(v, "hash").unwrap_or_default(),
    }
}

fn node(v: &Value) -> NodeStatus {
    let error = opt_str(v, "error");
    NodeStatus {
        id: opt_str(v, "id").unwrap_or_else(|| "?".into()),
        reachable: v
            .get("reachable")
            .and_then(Value::as_bool)
            .unwrap_or(error.is_none()),
        error,
        phase: opt_str(v, "phase").unwrap_or_else(|| "unknown".into()),
        current_version: u64_field(v, "current_version"),
        target_version: opt_f64(v, "target_version").map(to_u64),
        job: opt_str(v, "job"),
        ranges_total: u64_field(v, "ranges_total"),
        ranges_done: u64_field(v, "ranges_done"),
        samples: u64_field(v, "samples"),
        bytes: u64_field(v, "bytes"),
        samples_per_s: opt_f64(v, "samples_per_s").unwrap_or(0.0),
        bytes_per_s: opt_f64(v, "bytes_per_s").unwrap_or(0.0),
        eta_s: opt_f64(v, "eta_s"),
    }
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A finite, non-negative number (integers above 2^53 lose nothing: see [`u64_field`]).
fn opt_f64(v: &Value, key: &str) -> Option<f64> {
    let n = v.get(key).and_then(Value::as_f64)?;
    (n.is_finite() && n >= 0.0).then_some(n)
}

fn u64_field(v: &Value, key: &str) -> u64 {
    match v.get(key).and_then(Value::as_u64) {
        Some(n) => n,
        None => opt_f64(v, key).map(to_u64).unwrap_or(0),
    }
}

fn to_u64(f: f64) -> u64 {
    // `as` saturates; the input is finite and non-negative.
    f as u64
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread::{self, JoinHandle};

    use super::*;

    /// A one-connection server on loopback: reads one request (head and `Content-Length`
    /// body), answers `response`, and returns the request bytes.
    fn serve_once(response: impl Into<Vec<u8>>) -> (NodeUrl, JoinHandle<Vec<u8>>) {
        let response = response.into();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut reader = BufReader::new(stream);
            let mut request = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read request line");
                request.extend_from_slice(line.as_bytes());
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().expect("content length");
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("read body");
            request.extend_from_slice(&body);
            let mut stream = reader.into_inner();
            stream.write_all(&response).expect("write response");
            request
        });
        let url = NodeUrl::parse(&format!("127.0.0.1:{port}")).expect("url");
        (url, handle)
    }

    /// A response with a `Content-Length` body.
    fn respond(status: &str, body: &str) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        (head + body).into_bytes()
    }

    const STATUS: &str = r#"{"node":"n1","state":"rebalancing",
        "current":{"version":3,"hash":"00112233445566778899aabbccddeeff"},
        "target":{"version":4,"hash":"ffeeddccbbaa99887766554433221100"},
        "nodes":[{"id":"n1","reachable":true,"error":null,"phase":"streaming",
          "current_version":3,"target_version":4,"job":"rebalance","ranges_total":12,
          "ranges_done":5,"samples":123456,"bytes":789012,"samples_per_s":1.5e6,
          "bytes_per_s":2.0e7,"eta_s":12.5,"extra":"ignored"},
          {"id":"n2","reachable":false,"error":"connection refused"}]}"#;

    #[test]
    fn node_url_forms() {
        let ok = |s: &str| NodeUrl::parse(s).expect(s).to_string();
        assert_eq!(ok("http://127.0.0.1:8480"), "http://127.0.0.1:8480");
        assert_eq!(ok("HTTP://node1:9000/"), "http://node1:9000");
        assert_eq!(ok("10.0.0.1:8080"), "http://10.0.0.1:8080");
        assert_eq!(ok("node1"), "http://node1:80");
        assert_eq!(ok("[::1]:8480"), "http://[::1]:8480");
        assert_eq!(ok("http://[::1]"), "http://[::1]:80");
        for bad in [
            "https://n1:8480",
            "http://n1:8480/api",
            "n1:0",
            "n1:99999",
            "n1:x",
            "",
            "http://",
            "u@n1:1",
            "::1:80",
        ] {
            let e = NodeUrl::parse(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
        let e = NodeUrl::parse("https://n1").expect_err("https");
        assert!(e.to_string().contains("only http"), "{e}");
    }

    #[test]
    fn status_parses_leniently() {
        let s = RingStatus::parse(STATUS).expect("parse");
        assert_eq!(s.node, "n1");
        assert_eq!(s.state, "rebalancing");
        assert_eq!(s.current.version, 3);
        assert_eq!(s.target.as_ref().map(|t| t.version), Some(4));
        assert!(!s.is_stable());
        let n1 = &s.nodes[0];
        assert_eq!((n1.ranges_done, n1.ranges_total), (5, 12));
        assert_eq!((n1.samples, n1.bytes), (123_456, 789_012));
        assert_eq!(n1.samples_per_s, 1.5e6);
        assert_eq!(n1.eta_s, Some(12.5));
        assert_eq!(n1.job.as_deref(), Some("rebalance"));
        let n2 = &s.nodes[1];
        assert!(!n2.reachable);
        assert_eq!(n2.error.as_deref(), Some("connection refused"));
        assert_eq!(n2.phase, "unknown");
        assert_eq!((n2.ranges_total, n2.samples, n2.eta_s), (0, 0, None));

        let min = RingStatus::parse(r#"{"state":"stable","current":{"version":7},"target":null}"#)
            .expect("minimal");
        assert!(min.is_stable());
        assert_eq!(min.current.version, 7);
        assert!(min.nodes.is_empty());
        let floats = RingStatus::parse(r#"{"nodes":[{"id":"a","samples":2.5e3,"bytes":-1}]}"#)
            .expect("floats");
        assert_eq!((floats.nodes[0].samples, floats.nodes[0].bytes), (2500, 0));
        assert!(floats.nodes[0].reachable);
        assert!(RingStatus::parse("[1]").is_err());
        assert!(RingStatus::parse("nope").is_err());
    }

    #[test]
    fn apply_sends_request_and_reads_status() {
        let body = format!("{{\"status\":\"success\",\"data\":{STATUS}}}");
        let (url, server) = serve_once(respond("200 OK", &body));
        let port = url.port;
        let topology = "cluster = \"demo\"\nversion = 4\n";
        let status = Client::new(url).apply(topology).expect("apply");
        assert_eq!(status.target.map(|t| t.version), Some(4));
        let request = String::from_utf8(server.join().expect("server")).expect("utf-8");
        let (head, sent_body) = request.split_once("\r\n\r\n").expect("head and body");
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("POST /api/v1/admin/ring/apply HTTP/1.1"));
        let headers: Vec<&str> = lines.collect();
        for expected in [
            format!("Host: 127.0.0.1:{port}"),
            "Connection: close".to_string(),
            "Content-Type: text/plain; charset=utf-8".to_string(),
            format!("Content-Length: {}", topology.len()),
        ] {
            assert!(
                headers.contains(&expected.as_str()),
                "{expected} in {headers:?}"
            );
        }
        assert_eq!(sent_body, topology);
    }

    #[test]
    fn chunked_response_and_get_without_body() {
        let (url, server) = serve_once(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              14\r\n{\"status\":\"success\",\r\n\
              3c;ext=1\r\n\"data\":{\"state\":\"stable\",\"current\":{\"version\":9,\"hash\":\"\"}}}\r\n\
              0\r\nX-Trailer: 1\r\n\r\n"[..],
        );
        let status = Client::new(url).status().expect("status");
        assert!(status.is_stable());
        assert_eq!(status.current.version, 9);
        let request = String::from_utf8(server.join().expect("server")).expect("utf-8");
        assert!(
            request.starts_with("GET /api/v1/admin/ring/status HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            !request.to_ascii_lowercase().contains("content-length"),
            "{request}"
        );
        assert!(request.ends_with("\r\n\r\n"), "{request}");
    }

    #[test]
    fn error_envelope_becomes_api_error() {
        let (url, server) = serve_once(respond(
            "409 Conflict",
            r#"{"status":"error","errorType":"conflict","error":"rebalance to version 5 is running"}"#,
        ));
        let e = Client::new(url.clone()).rebuild("n 2/x").expect_err("409");
        let request = String::from_utf8(server.join().expect("server")).expect("utf-8");
        assert!(
            request.starts_with("POST /api/v1/admin/node/rebuild?node=n%202%2Fx HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("Content-Length: 0\r\n"), "{request}");
        match &e {
            LiveError::Api {
                http,
                error_type,
                message,
                ..
            } => {
                assert_eq!((*http, error_type.as_str()), (409, "conflict"));
                assert_eq!(message, "rebalance to version 5 is running");
            }
            other => panic!("expected an API error, got {other:?}"),
        }
        let text = e.to_string();
        assert!(text.contains(&url.to_string()), "{text}");
        assert!(text.contains("POST /api/v1/admin/node/rebuild"), "{text}");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn non_envelope_and_garbage_responses() {
        let (url, server) = serve_once(respond("404 Not Found", "not found"));
        let e = Client::new(url).status().expect_err("404");
        server.join().expect("server");
        assert!(matches!(e, LiveError::Unexpected { http: 404, .. }), "{e}");
        assert!(e.to_string().contains("\"not found\""), "{e}");

        let (url, server) = serve_once(&b"SSH-2.0-OpenSSH\r\n\r\n"[..]);
        let e = Client::new(url).status().expect_err("garbage");
        server.join().expect("server");
        assert!(e.to_string().contains("malformed HTTP response"), "{e}");

        let (url, server) =
            serve_once(&b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\""[..]);
        let e = Client::new(url).status().expect_err("short body");
        server.join().expect("server");
        assert!(e.to_string().contains("unexpected end of file"), "{e}");
    }

    #[test]
    fn refused_connection_names_url() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let url = NodeUrl::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let e = Client::new(url).status().expect_err("refused");
        assert_eq!(
            e.to_string(),
            format!("cannot reach node at http://127.0.0.1:{port}: connection refused")
        );
    }

    #[test]
    fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            thread::sleep(Duration::from_millis(500));
            drop(stream);
        });
        let url = NodeUrl::parse(&format!("127.0.0.1:{port}")).expect("url");
        let client = Client::with_timeouts(url, CONNECT_TIMEOUT, Duration::from_millis(100));
        let e = client.status().expect_err("timeout");
        server.join().expect("server");
        assert!(e.to_string().contains("no answer within 0.1 s"), "{e}");
    }
}
