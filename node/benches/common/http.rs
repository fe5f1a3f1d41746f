//! A minimal HTTP/1.1 keep-alive client: enough for the benchmarks (Content-Length and chunked
//! responses), with no dependency that could differ between the systems compared.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// One keep-alive connection to one server.
pub struct Conn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        s.set_nodelay(true).expect("set TCP_NODELAY");
        Conn {
            stream: BufReader::new(s),
            addr,
        }
    }

    /// `POST path` with `extra` header lines (each ending in `\r\n`).
    pub fn post(&mut self, path: &str, extra: &str, body: &[u8]) -> Response {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n{extra}\r\n",
            self.addr,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).expect("send request head");
        s.write_all(body).expect("send request body");
        self.response()
    }

    /// `GET path_and_query`.
    pub fn get(&mut self, path_and_query: &str) -> Response {
        let head = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: identity\r\n\r\n",
            self.addr
        );
        self.stream
            .get_mut()
            .write_all(head.as_bytes())
            .expect("send request");
        self.response()
    }

    fn response(&mut self) -> Response {
        let mut status = 0;
        let mut len = None;
        let mut chunked = false;
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stream
                .read_line(&mut line)
                .expect("read response head");
            assert!(
                n > 0,
                "{}: connection closed before the response",
                self.addr
            );
            let l = line.trim_end();
            if status == 0 {
                status = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            } else if l.is_empty() {
                break;
            } else if let Some((n, v)) = l.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().ok();
                } else if n.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        let body = if chunked {
            self.chunked_body()
        } else {
            let mut body = vec![0u8; len.unwrap_or(0)];
            self.stream.read_exact(&mut body).expect("read body");
            body
        };
        Response { status, body }
    }

    fn chunked_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("read chunk size");
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16)
                .unwrap_or_else(|_| panic!("bad chunk size {line:?}"));
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    line.clear();
                    self.stream.read_line(&mut line).expect("read trailer");
                    if line.trim().is_empty() {
                        return body;
                    }
                }
            }
            let at = body.len();
            body.resize(at + size, 0);
            self.stream.read_exact(&mut body[at..]).expect("read chunk");
            let mut crlf = [0u8; 2];
            self.stream.read_exact(&mut crlf).expect("read chunk end");
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
