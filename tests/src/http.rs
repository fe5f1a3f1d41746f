//! A small blocking HTTP/1.1 client over `std::net::TcpStream` (one request per connection,
//! `Connection: close`), and helpers for the endpoints tests use: line-protocol writes, PromQL
//! queries and `/metrics`. No dependency beyond `serde_json`; every call is bounded by
//! [`TIMEOUT`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

/// Bound on connecting, sending and reading one request.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP response: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("parse JSON response body {:?}", self.text()))
    }
}

/// Sends one request and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Response> {
    request_within(addr, method, path, headers, body, TIMEOUT)
}

/// [`request`] with `timeout` for the connect and for each read and write instead of
/// [`TIMEOUT`] (the jepsen workloads give up on a paused node sooner).
pub fn request_within(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connect to {addr} for {method} {path}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .with_context(|| format!("send {method} {path} to {addr}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("read the response to {method} {path} from {addr}"))?;
    parse_response(&raw).with_context(|| format!("parse the response to {method} {path}"))
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Response> {
    request(addr, "GET", path, &[], b"")
}

/// `POST path` with `body`.
pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> anyhow::Result<Response> {
    request(addr, "POST", path, &[], body)
}

fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("no end of headers in {} bytes", raw.len());
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let Some(status) = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
    else {
        bail!("bad status line {status_line:?}");
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body)?;
    } else if let Some((_, len)) = headers.iter().find(|(n, _)| n == "content-length") {
        let len: usize = len
            .parse()
            .with_context(|| format!("bad Content-Length {len:?}"))?;
        if body.len() < len {
            bail!(
                "response cut short: {} of {len} body bytes (connection closed)",
                body.len()
            );
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            bail!("chunked body ends without a last chunk");
        };
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        if size == 0 {
            return Ok(out);
        }
        let data = b
            .get(eol + 2..eol + 2 + size)
            .context("chunk shorter than its size")?;
        out.extend_from_slice(data);
        b = b.get(eol + 2 + size + 2..).unwrap_or_default();
    }
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes InfluxDB line protocol (`lines`, one point per line, millisecond timestamps) through
/// `POST /write?db=DB&precision=ms[&consistency=C]`. Returns the response whatever its
/// status; [`write_lines_ok`] insists on 2xx.
pub fn write_lines(
    addr: SocketAddr,
    db: &str,
    lines: &str,
    consistency: Option<&str>,
) -> anyhow::Result<Response> {
    let mut path = format!("/write?db={}&precision=ms", encode_component(db));
    if let Some(c) = consistency {
        path.push_str(&format!("&consistency={}", encode_component(c)));
    }
    post(addr, &path, lines.as_bytes())
}

/// [`write_lines`], failing unless the answer is 2xx.
pub fn write_lines_ok(
    addr: SocketAddr,
    db: &str,
    lines: &str,
    consistency: Option<&str>,
) -> anyhow::Result<Response> {
    let r = write_lines(addr, db, lines, consistency)?;
    if !r.is_success() {
        bail!("write to {addr} answered {}: {}", r.status, r.text());
    }
    Ok(r)
}

/// One series of an instant query's vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// Labels, `__name__` included when the result keeps it, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Evaluation time, milliseconds.
    pub time_ms: i64,
    /// Value.
    pub value: f64,
}

impl VectorSample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET /api/v1/query?query=Q&time=T[&consistency=C]`: the raw response.
pub fn query(
    addr: SocketAddr,
    promql: &str,
    time_ms: i64,
    consistency: Option<&str>,
) -> anyhow::Result<Response> {
    let mut path = format!(
        "/api/v1/query?query={}&time={}.{:03}",
        encode_component(promql),
        time_ms.div_euclid(1000),
        time_ms.rem_euclid(1000)
    );
    if let Some(c) = consistency {
        path.push_str(&format!("&consistency={}", encode_component(c)));
    }
    get(addr, &path)
}

/// An instant query that must succeed with a vector result, sorted by labels.
pub fn query_vector(
    addr: SocketAddr,
    promql: &str,
    time_ms: i64,
    consistency: Option<&str>,
) -> anyhow::Result<Vec<VectorSample>> {
    let r = query(addr, promql, time_ms, consistency)?;
    if r.status != 200 {
        bail!(
            "query {promql:?} on {addr} answered {}: {}",
            r.status,
            r.text()
        );
    }
    let v = r.json()?;
    let data = &v["data"];
    if data["resultType"] != "vector" {
        bail!("query {promql:?} on {addr}: expected a vector result, got {v}");
    }
    let mut out = Vec::new();
    for s in data["result"]
        .as_array()
        .context("data.result is not an array")?
    {
        out.push(vector_sample(s).with_context(|| format!("result series {s}"))?);
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

fn vector_sample(s: &serde_json::Value) -> anyhow::Result<VectorSample> {
    let mut labels: Vec<(String, String)> = s["metric"]
        .as_object()
        .context("no metric object")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    labels.sort();
    let t = s["value"][0].as_f64().context("no value time")?;
    let value: f64 = s["value"][1]
        .as_str()
        .context("no value string")?
        .parse()
        .context("value is not a number")?;
    Ok(VectorSample {
        labels,
        time_ms: (t * 1000.0).round() as i64,
        value,
    })
}

/// The value of metric `name` in `addr`'s `/metrics`: the sum over every series of that name
/// whose labels include all of `labels`; `None` if no series matches.
pub fn metric(
    addr: SocketAddr,
    name: &str,
    labels: &[(&str, &str)],
) -> anyhow::Result<Option<f64>> {
    let r = get(addr, "/metrics")?;
    if r.status != 200 {
        bail!("/metrics on {addr} answered {}: {}", r.status, r.text());
    }
    Ok(metric_in(&r.text(), name, labels))
}

/// [`metric`] over an exposition text already fetched.
pub fn metric_in(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series_name, series_labels, value)) = parse_sample_line(line) else {
            continue;
        };
        let matches = series_name == name
            && labels
                .iter()
                .all(|(k, v)| series_labels.iter().any(|(sk, sv)| sk == k && sv == v));
        if matches {
            *sum.get_or_insert(0.0) += value;
        }
    }
    sum
}

/// Label pairs of one exposition line.
type Labels = Vec<(String, String)>;

/// `name{a="x",b="y"} value [timestamp]` or `name value [timestamp]`.
fn parse_sample_line(line: &str) -> Option<(&str, Labels, f64)> {
    let line = line.trim();
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end + 1..])?
    } else {
        (Vec::new(), &line[name_end..])
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((name, labels, value))
}

/// Parses `a="x",b="y"}` (after the opening brace); returns the labels and the text after `}`.
fn parse_labels(mut s: &str) -> Option<(Labels, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        let mut chars = s[eq + 1..].strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key, value));
        s = &s[eq + 1 + 1 + end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_parsed_and_summed() {
        let text = "# HELP x y\n\
            floe_journal_pending_records{peer=\"n2\"} 3\n\
            floe_journal_pending_records{peer=\"n3\"} 4\n\
            floe_series 10\n\
            odd{a=\"q\\\"u,o}te\",b=\"2\"} 1.5 1700000000000\n";
        let m = |n, l: &[(&str, &str)]| metric_in(text, n, l);
        assert_eq!(m("floe_journal_pending_records", &[]), Some(7.0));
        assert_eq!(
            m("floe_journal_pending_records", &[("peer", "n3")]),
            Some(4.0)
        );
        assert_eq!(m("floe_journal_pending_records", &[("peer", "n4")]), None);
        assert_eq!(m("floe_series", &[]), Some(10.0));
        assert_eq!(m("odd", &[("a", "q\"u,o}te"), ("b", "2")]), Some(1.5));
        assert_eq!(m("floe_serie", &[]), None);
    }

    #[test]
    fn responses_are_parsed_and_dechunked() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw).expect("parse");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "abcde");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(
            encode_component("sum(x{a=\"b c\"})"),
            "sum%28x%7Ba%3D%22b%20c%22%7D%29"
        );
    }
}
