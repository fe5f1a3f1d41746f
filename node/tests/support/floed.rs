//! A real `floed` process on loopback for integration tests, and a minimal HTTP/1.1 client.
//!
//! The process is started with ports 0 and reports the bound addresses on its first stdout
//! line; its stderr goes to a log file that [`Floed::stop`] checks for unexpected ERROR
//! lines. Dropping a `Floed` kills it by its PID.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Floed {
    child: Option<Child>,
    pub(crate) http: SocketAddr,
    pub(crate) graphite: Option<SocketAddr>,
    pub(crate) opentsdb: Option<SocketAddr>,
    pub(crate) log: PathBuf,
    pub(crate) data_dir: PathBuf,
}

fn parse_addr(word: &str, key: &str) -> Option<SocketAddr> {
    word.strip_prefix(key)?.parse().ok()
}

impl Floed {
    /// Starts floed on `data_dir` with every listener on an ephemeral loopback port and
    /// `extra` flags.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Floed {
        let log = data_dir.with_extension("log");
        let stderr = std::fs::File::create(&log).expect("create log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_floed"))
            .args(["--data-dir", data_dir.to_str().expect("utf-8 path")])
            .args([
                "--http-listen",
                "127.0.0.1:0",
                "--graphite-listen",
                "127.0.0.1:0",
                "--opentsdb-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env_remove("FLOE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn floed");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read floed's first line");
        let words: Vec<&str> = line.split_whitespace().collect();
        let find = |key: &str| words.iter().find_map(|w| parse_addr(w, key));
        let Some(http) = find("http=") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "floed did not start: {line:?}; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Floed {
            graphite: find("graphite="),
            opentsdb: find("opentsdb="),
            http,
            child: Some(child),
            log,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Sends SIGTERM, waits for a clean exit, and fails on ERROR lines in the log other than
    /// those `allowed` (substrings).
    pub(crate) fn stop(mut self, allowed: &[&str]) -> String {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = child.wait().expect("wait for floed");
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(exit.success(), "floed exited with {exit}; log:\n{log}");
        for line in log
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("panicked"))
        {
            assert!(
                allowed.iter().any(|a| line.contains(a)),
                "unexpected error in floed's log: {line}\nfull log:\n{log}"
            );
        }
        log
    }
}

impl Drop for Floed {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A response: status, headers (lower-case names), body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send head");
    s.write_all(body).expect("send body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// Opens the engine on a stopped floed's data directory, to check what it stored.
pub(crate) fn open_engine(dir: &Path) -> floe_node::engine::Engine {
    let mut c = floe_node::engine::EngineConfig::new(dir);
    c.background = false;
    floe_node::engine::Engine::open(c, std::sync::Arc::new(floe_node::engine::SystemClock))
        .expect("open engine")
        .0
}
