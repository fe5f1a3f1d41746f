//! `floectl certs` end to end: the real binary writes the CA, node and client certificates;
//! then a QUIC server with the node certificate and clients with various certificates check
//! the mutual TLS and the framing of `floe-wire`. Every await is bounded by a timeout; nothing
//! sleeps to synchronise.

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use floe_wire::tls::{self, TlsFiles};
use floe_wire::{MAX_FRAME_BYTES, STOP_FRAME_REFUSED, WireError, read_frame, write_frame};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Bound on every await: generous for a loaded CI machine, short enough to fail fast.
const T: Duration = Duration::from_secs(20);
/// The test server's frame limit (smaller than the default, to test refusal cheaply).
const SERVER_MAX: u32 = 64 * 1024;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Req {
    Echo(String),
    Blob(Vec<u8>),
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Resp {
    Echo(String),
    Len(u64),
}

async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(T, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {T:?}"))
}

fn floectl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_floectl"))
        .args(args)
        .env_remove("FLOE_CERTS_DIR")
        .output()
        .expect("run floectl")
}

fn floectl_ok(args: &[&str]) {
    let out = floectl(args);
    assert!(
        out.status.success(),
        "floectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Cluster CA in `a/` with node `n1` and client `app`; another CA in `b/` with client `rogue`.
fn cluster() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let (a, b) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
    floectl_ok(&["certs", "init", "--dir", a]);
    floectl_ok(&["certs", "issue", "--dir", a, "--node", "n1"]);
    floectl_ok(&["certs", "issue", "--dir", a, "--client", "app"]);
    floectl_ok(&["certs", "init", "--dir", b]);
    floectl_ok(&["certs", "issue", "--dir", b, "--client", "rogue"]);
    tmp
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

struct Server {
    addr: SocketAddr,
    /// Errors the server's stream handlers met reading a request.
    errors: mpsc::UnboundedReceiver<WireError>,
    _endpoint: quinn::Endpoint,
}

fn start_server(files: &TlsFiles) -> Server {
    let config = tls::server_config(files).expect("server config");
    let endpoint = quinn::Endpoint::server(config, ([127, 0, 0, 1], 0).into()).expect("bind");
    let addr = endpoint.local_addr().expect("local addr");
    let (tx, errors) = mpsc::unbounded_channel();
    let accept = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            tokio::spawn(serve_connection(incoming, tx.clone()));
        }
    });
    Server {
        addr,
        errors,
        _endpoint: endpoint,
    }
}

async fn serve_connection(incoming: quinn::Incoming, errors: mpsc::UnboundedSender<WireError>) {
    // A refused handshake ends here; the client learns of it at its first request.
    let Ok(conn) = incoming.await else { return };
    while let Ok((send, recv)) = conn.accept_bi().await {
        tokio::spawn(serve_stream(send, recv, errors.clone()));
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    errors: mpsc::UnboundedSender<WireError>,
) {
    let resp = match read_frame::<Req>(&mut recv, SERVER_MAX).await {
        Ok(Req::Echo(s)) => Resp::Echo(s),
        Ok(Req::Blob(b)) => Resp::Len(b.len() as u64),
        Err(e) => {
            let code = quinn::VarInt::from_u32(STOP_FRAME_REFUSED);
            let _ = recv.stop(code);
            let _ = send.reset(code);
            let _ = errors.send(e);
            return;
        }
    };
    if write_frame(&mut send, &resp).await.is_ok() {
        let _ = send.finish();
    }
}

fn client(config: quinn::ClientConfig) -> quinn::Endpoint {
    let mut endpoint = quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).expect("bind client");
    endpoint.set_default_client_config(config);
    endpoint
}

fn echo(s: &str) -> Req {
    Req::Echo(s.to_owned())
}

/// Connects and sends one request. A TLS refusal of our certificate may only show here, at
/// the first request: with TLS 1.3 the client's handshake completes before the server has
/// checked the client certificate.
async fn connect_then_request(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    name: &str,
) -> (bool, Result<Resp, WireError>) {
    let conn = match bounded("connect", floe_wire::connect(endpoint, addr, name)).await {
        Ok(conn) => conn,
        Err(e) => return (false, Err(e)),
    };
    let req = echo("hello");
    let resp = floe_wire::request(&conn, &req, MAX_FRAME_BYTES);
    (true, bounded("first request", resp).await)
}

#[test]
fn floectl_writes_private_keys_0600_and_refuses_to_overwrite() {
    let tmp = cluster();
    let a = tmp.path().join("a");
    for key in ["ca-key.pem", "node-n1-key.pem", "client-app-key.pem"] {
        assert_eq!(mode(&a.join(key)), 0o600, "{key}");
    }
    for cert in ["ca.pem", "node-n1.pem", "client-app.pem"] {
        assert_eq!(mode(&a.join(cert)), 0o644, "{cert}");
    }
    assert_eq!(mode(&a), 0o700, "certificate directory");
    let dir = a.to_str().expect("utf-8");
    let before = std::fs::read(a.join("node-n1-key.pem")).expect("read key");
    for args in [
        &["certs", "init", "--dir", dir][..],
        &["certs", "issue", "--dir", dir, "--node", "n1"][..],
    ] {
        let out = floectl(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} must refuse");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    }
    assert_eq!(
        std::fs::read(a.join("node-n1-key.pem")).expect("read"),
        before
    );
    floectl_ok(&["certs", "issue", "--dir", dir, "--node", "n1", "--force"]);
    assert_ne!(
        std::fs::read(a.join("node-n1-key.pem")).expect("read"),
        before
    );
    assert_eq!(mode(&a.join("node-n1-key.pem")), 0o600);
    // Issuing without a CA names the missing file.
    let none = tmp.path().join("none");
    let out = floectl(&[
        "certs",
        "issue",
        "--dir",
        none.to_str().expect("utf-8"),
        "--client",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ca-key.pem"));
}

#[tokio::test]
async fn request_response_round_trip_and_connection_reuse() {
    let tmp = cluster();
    let a = tmp.path().join("a");
    let server = start_server(&TlsFiles::node(&a, "n1"));
    let endpoint = client(tls::client_config(&TlsFiles::client(&a, "app")).expect("client"));
    for name in ["n1", "localhost", "127.0.0.1"] {
        let (connected, resp) = connect_then_request(&endpoint, server.addr, name).await;
        assert!(connected, "{name}");
        assert_eq!(resp.expect(name), Resp::Echo("hello".into()));
    }
    // One connection, many requests, some at once (one stream each).
    let conn = bounded("connect", floe_wire::connect(&endpoint, server.addr, "n1"))
        .await
        .expect("connect");
    let requests = (0..20).map(|i| {
        let conn = conn.clone();
        async move {
            let req = echo(&format!("r{i}"));
            floe_wire::request::<_, Resp>(&conn, &req, MAX_FRAME_BYTES).await
        }
    });
    let mut handles = Vec::new();
    for fut in requests {
        handles.push(tokio::spawn(fut));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let resp = bounded("request", h).await.expect("task").expect("request");
        assert_eq!(resp, Resp::Echo(format!("r{i}")));
    }
    let blob = Req::Blob(vec![7; 60_000]);
    let resp = bounded(
        "blob",
        floe_wire::request::<_, Resp>(&conn, &blob, MAX_FRAME_BYTES),
    );
    assert_eq!(resp.await.expect("blob"), Resp::Len(60_000));
}

#[tokio::test]
async fn client_signed_by_another_ca_is_refused_at_its_first_request() {
    let tmp = cluster();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let server = start_server(&TlsFiles::node(&a, "n1"));
    // Trusts the real CA (so the server verifies), presents a certificate from CA b.
    let files = TlsFiles {
        ca: a.join("ca.pem"),
        ..TlsFiles::client(&b, "rogue")
    };
    let endpoint = client(tls::client_config(&files).expect("client config"));
    let (connected, resp) = connect_then_request(&endpoint, server.addr, "n1").await;
    assert!(connected, "with TLS 1.3 the connect itself succeeds");
    let err = resp.expect_err("a certificate from another CA must be refused");
    assert_eq!(err.code(), "tls_refused", "{err}");
}

#[tokio::test]
async fn client_without_certificate_is_refused() {
    let tmp = cluster();
    let a = tmp.path().join("a");
    let server = start_server(&TlsFiles::node(&a, "n1"));
    let roots = tls::load_roots(&a.join("ca.pem")).expect("roots");
    let mut config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![floe_wire::ALPN.to_vec()];
    let endpoint = client(tls::quic_client_config(config).expect("client config"));
    let (_, resp) = connect_then_request(&endpoint, server.addr, "n1").await;
    let err = resp.expect_err("a client without a certificate must be refused");
    assert_eq!(err.code(), "tls_refused", "{err}");
}

#[tokio::test]
async fn server_not_named_as_expected_is_refused_by_the_client() {
    let tmp = cluster();
    let a = tmp.path().join("a");
    let server = start_server(&TlsFiles::node(&a, "n1"));
    let endpoint = client(tls::client_config(&TlsFiles::client(&a, "app")).expect("client"));
    let (_, resp) = connect_then_request(&endpoint, server.addr, "n2").await;
    let err = resp.expect_err("n1's certificate does not name n2");
    assert_eq!(err.code(), "tls_refused", "{err}");
}

#[tokio::test]
async fn frame_above_the_limit_is_refused_with_too_large() {
    let tmp = cluster();
    let a = tmp.path().join("a");
    let mut server = start_server(&TlsFiles::node(&a, "n1"));
    let endpoint = client(tls::client_config(&TlsFiles::client(&a, "app")).expect("client"));
    let conn = bounded("connect", floe_wire::connect(&endpoint, server.addr, "n1"))
        .await
        .expect("connect");
    // A whole frame one byte over the server's limit: refused, the client sees the reset.
    let blob = Req::Blob(vec![0; SERVER_MAX as usize]);
    let resp = bounded(
        "oversized request",
        floe_wire::request::<_, Resp>(&conn, &blob, MAX_FRAME_BYTES),
    );
    assert_eq!(resp.await.expect_err("refused").code(), "io");
    let err = bounded("server error", server.errors.recv())
        .await
        .expect("error");
    assert!(
        matches!(err, WireError::TooLarge { max: SERVER_MAX, len } if len > u64::from(SERVER_MAX)),
        "{err}"
    );
    // A header alone claiming 4 GiB, stream left open: refused at once, before any payload
    // is awaited or allocated.
    let (mut send, _recv) = bounded("open", conn.open_bi()).await.expect("open");
    let mut header = u32::MAX.to_le_bytes().to_vec();
    header.extend_from_slice(&floe_wire::PROTOCOL_VERSION.to_le_bytes());
    bounded("write header", send.write_all(&header))
        .await
        .expect("write");
    let err = bounded("server error", server.errors.recv())
        .await
        .expect("error");
    assert!(
        matches!(err, WireError::TooLarge { len, max: SERVER_MAX } if len == u64::from(u32::MAX)),
        "{err}"
    );
    // The connection is still usable after refused frames.
    let req = echo("after");
    let ok = floe_wire::request::<_, Resp>(&conn, &req, MAX_FRAME_BYTES);
    assert_eq!(
        bounded("request", ok).await.expect("ok"),
        Resp::Echo("after".into())
    );
}

#[test]
fn missing_or_malformed_pem_errors_name_the_file() {
    let tmp = cluster();
    let a = tmp.path().join("a");
    let missing = TlsFiles::node(&a, "n9");
    let err = tls::server_config(&missing).expect_err("missing");
    assert_eq!(err.code(), "pem");
    assert!(err.to_string().contains("node-n9.pem"), "{err}");

    let garbage = a.join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").expect("write");
    let bad_ca = TlsFiles {
        ca: garbage.clone(),
        ..TlsFiles::node(&a, "n1")
    };
    let err = tls::client_config(&bad_ca).expect_err("garbage CA");
    assert!(err.to_string().contains("garbage.pem"), "{err}");
    let bad_key = TlsFiles {
        key: garbage,
        ..TlsFiles::node(&a, "n1")
    };
    let err = tls::server_config(&bad_key).expect_err("garbage key");
    assert!(err.to_string().contains("garbage.pem"), "{err}");
    // A key that is not the certificate's.
    let swapped = TlsFiles {
        key: a.join("client-app-key.pem"),
        ..TlsFiles::node(&a, "n1")
    };
    let err = tls::check_files(&swapped, Some("n1")).expect_err("wrong key");
    assert_eq!(err.code(), "tls_config", "{err}");
    // A certificate from another CA does not check against this one.
    let b = tmp.path().join("b");
    let foreign = TlsFiles {
        ca: a.join("ca.pem"),
        ..TlsFiles::client(&b, "rogue")
    };
    let err = tls::check_files(&foreign, None).expect_err("another CA");
    assert!(err.to_string().contains("client-rogue.pem"), "{err}");
}
