//! A fake cluster for the client's smoke tests: real QUIC endpoints with mutual TLS (node
//! certificates from `floe_ctl::certs`) speaking the protocol of `floe_wire::proto`. Each node
//! answers `Topology`, records every `Write` it accepts, answers `Query` and `Digest`, and can
//! be told to fail, to slow down, to adopt another topology, or to stop. Each node is reached
//! through a UDP relay that can drop every datagram (a node that went silent: killed, or cut
//! off by a partition).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_ctl::certs::{self, Options, Subject};
use floe_ring::Topology;
use floe_wire::proto::{
    DigestResponse, ErrorCode, ErrorResponse, QueryRange, QueryResult, QuerySeries, Request,
    Response, TopologyRef, TopologyResponse, WriteRequest, WriteResponse,
};
use floe_wire::{MAX_FRAME_BYTES, TlsFiles};
use tokio::net::UdpSocket;

const CERT_OPTIONS: Options = Options {
    force: false,
    days: 2,
};

/// The CA of the cluster in `dir/a` with nodes `n0..n{count}` and client `app`; another CA
/// in `dir/b` with client `rogue`.
pub(crate) fn certificates(dir: &Path, count: usize) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    certs::init(&a, CERT_OPTIONS).expect("cluster CA");
    for i in 0..count {
        let node = Subject::Node(format!("n{i}"));
        certs::issue(&a, &node, CERT_OPTIONS).expect("node certificate");
    }
    certs::issue(&a, &Subject::Client("app".into()), CERT_OPTIONS).expect("client");
    certs::init(&b, CERT_OPTIONS).expect("other CA");
    certs::issue(&b, &Subject::Client("rogue".into()), CERT_OPTIONS).expect("rogue");
}

/// A topology document naming `addrs` as nodes `n0..`, each in its own zone.
pub(crate) fn topology(version: u64, vnodes: u32, addrs: &[SocketAddr]) -> Topology {
    let mut doc = format!(
        "cluster = \"smoke\"\nversion = {version}\nreplication_factor = 2\n\
         vnodes_per_weight = {vnodes}\n"
    );
    for (i, addr) in addrs.iter().enumerate() {
        doc.push_str(&format!(
            "\n[[nodes]]\nid = \"n{i}\"\nzone = \"z{i}\"\nquic_addr = \"{addr}\"\n\
             http_addr = \"127.0.0.1:{}\"\n",
            20_000 + i
        ));
    }
    Topology::parse(&doc).expect("valid topology")
}

fn reference(t: &Topology) -> TopologyRef {
    TopologyRef {
        version: t.version(),
        hash: t.content_hash().0,
    }
}

/// What a node does and what it saw.
#[derive(Debug, Default)]
pub(crate) struct NodeState {
    /// The topology it has adopted and serves.
    pub(crate) topology: Option<(TopologyRef, String)>,
    /// Writes accepted, in order.
    pub(crate) writes: Vec<WriteRequest>,
    /// Write requests received, accepted or not.
    pub(crate) write_requests: u32,
    /// Topology requests received.
    pub(crate) topology_requests: u32,
    /// Answer the next this many writes with `unavailable`.
    pub(crate) fail_writes: u32,
    /// Answer the next this many queries with `internal`.
    pub(crate) fail_queries: u32,
    /// Answer every write with this error.
    pub(crate) reject_writes: Option<ErrorCode>,
    /// Hold each accepted write this long before answering.
    pub(crate) delay: Duration,
    /// Writes being held now.
    pub(crate) in_flight: u32,
    /// The most writes held at once.
    pub(crate) peak_in_flight: u32,
}

/// One fake node.
#[derive(Debug)]
pub(crate) struct FakeNode {
    pub(crate) id: String,
    /// The address clients dial: the relay's.
    pub(crate) addr: SocketAddr,
    /// Drop every datagram to and from the node.
    pub(crate) silent: Arc<AtomicBool>,
    /// Connections that reached the endpoint (refused handshakes included).
    pub(crate) incoming: AtomicU32,
    endpoint: quinn::Endpoint,
    state: Mutex<NodeState>,
}

impl FakeNode {
    /// The node's state, to read or change.
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, NodeState> {
        self.state.lock().expect("state lock")
    }

    /// Adopts `topology`.
    pub(crate) fn adopt(&self, topology: &Topology) {
        self.state().topology = Some((reference(topology), topology.to_toml()));
    }

    /// Drops every datagram to and from the node from now on.
    pub(crate) fn go_silent(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }

    /// Closes the endpoint: every connection to it fails from now on.
    pub(crate) fn stop(&self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"stopped");
    }

    /// Samples of every accepted write.
    pub(crate) fn samples(&self) -> usize {
        let state = self.state();
        state.writes.iter().map(samples_of).sum()
    }

    fn tref(&self) -> TopologyRef {
        self.state().topology.as_ref().expect("adopted").0
    }

    async fn handle(&self, req: Request) -> Response {
        match req {
            Request::Topology => self.topology(),
            Request::Write(w) => self.write(w).await,
            Request::Query(q) => self.query(q.range),
            Request::Digest(d) if d.topology != self.tref() => mismatch(),
            Request::Digest(_) => Response::Digest(DigestResponse {
                node: self.id.clone(),
                digest: digest_of(&self.id),
            }),
            other => error(
                ErrorCode::Forbidden,
                format!("{} is node-only", other.name()),
            ),
        }
    }

    fn topology(&self) -> Response {
        let mut state = self.state();
        state.topology_requests += 1;
        let (topology, toml) = state.topology.clone().expect("adopted");
        Response::Topology(TopologyResponse {
            topology,
            toml,
            node: self.id.clone(),
        })
    }

    async fn write(&self, w: WriteRequest) -> Response {
        let delay = {
            let mut s = self.state();
            s.write_requests += 1;
            if Some(w.topology) != s.topology.as_ref().map(|t| t.0) {
                return mismatch();
            }
            if let Some(code) = s.reject_writes {
                return error(code, "rejected by the test".into());
            }
            if s.fail_writes > 0 {
                s.fail_writes -= 1;
                return error(ErrorCode::Unavailable, "failing on purpose".into());
            }
            s.in_flight += 1;
            s.peak_in_flight = s.peak_in_flight.max(s.in_flight);
            s.delay
        };
        tokio::time::sleep(delay).await;
        let samples = samples_of(&w) as u64;
        let mut s = self.state();
        s.in_flight -= 1;
        s.writes.push(w);
        Response::Write(WriteResponse {
            samples,
            acks: 2,
            required: 2,
            journaled: 1,
        })
    }

    fn query(&self, range: QueryRange) -> Response {
        let mut s = self.state();
        if s.fail_queries > 0 {
            s.fail_queries -= 1;
            return error(ErrorCode::Internal, "failing on purpose".into());
        }
        let series = |timestamps: Vec<i64>| QuerySeries {
            labels: vec![("node".into(), self.id.clone())],
            values: vec![1.0; timestamps.len()],
            timestamps,
        };
        Response::Query(match range {
            QueryRange::Instant { time } => QueryResult::Vector(vec![series(vec![time])]),
            QueryRange::Range { start, end, step } => {
                let ts = (start..=end).step_by(step.max(1) as usize).collect();
                QueryResult::Matrix(vec![series(ts)])
            }
        })
    }
}

/// The digest a fake node reports: a function of its id.
pub(crate) fn digest_of(id: &str) -> u128 {
    id.bytes().fold(0xf10e_u128, |h, b| h * 31 + u128::from(b))
}

/// Samples in a write request.
pub(crate) fn samples_of(w: &WriteRequest) -> usize {
    let decoded = w.series.iter().map(|s| s.decode().expect("valid series"));
    decoded.map(|(_, samples)| samples.len()).sum()
}

fn error(code: ErrorCode, message: String) -> Response {
    Response::Error(ErrorResponse { code, message })
}

fn mismatch() -> Response {
    error(ErrorCode::TopologyMismatch, "another topology".into())
}

/// Nodes `n0..n{count}` serving topology `version` 1, with certificates in `dir`.
pub(crate) async fn start(dir: &Path, count: usize) -> Vec<Arc<FakeNode>> {
    let mut nodes = Vec::new();
    for i in 0..count {
        let files = TlsFiles::node(&dir.join("a"), &format!("n{i}"));
        let config = floe_wire::tls::server_config(&files).expect("server config");
        let endpoint = quinn::Endpoint::server(config, ([127, 0, 0, 1], 0).into()).expect("bind");
        let silent = Arc::new(AtomicBool::new(false));
        let target = endpoint.local_addr().expect("addr");
        let node = Arc::new(FakeNode {
            id: format!("n{i}"),
            addr: relay(target, silent.clone()).await,
            silent,
            incoming: AtomicU32::new(0),
            endpoint,
            state: Mutex::new(NodeState::default()),
        });
        nodes.push(node);
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let v1 = topology(1, 16, &addrs);
    for node in &nodes {
        node.adopt(&v1);
        tokio::spawn(serve(node.clone()));
    }
    nodes
}

async fn serve(node: Arc<FakeNode>) {
    let endpoint = node.endpoint.clone();
    while let Some(incoming) = endpoint.accept().await {
        node.incoming.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(connection(node.clone(), incoming));
    }
}

async fn connection(node: Arc<FakeNode>, incoming: quinn::Incoming) {
    let Ok(conn) = incoming.await else { return };
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let node = node.clone();
        tokio::spawn(async move {
            let Ok(req) = floe_wire::read_frame::<Request>(&mut recv, MAX_FRAME_BYTES).await else {
                return;
            };
            let resp = node.handle(req).await;
            if floe_wire::write_frame(&mut send, &resp).await.is_ok() {
                let _ = send.finish();
            }
        });
    }
}

/// A UDP relay to `target`: one front socket (the address returned) and one back socket per
/// client address, datagrams copied both ways unless `silent`.
async fn relay(target: SocketAddr, silent: Arc<AtomicBool>) -> SocketAddr {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind relay"));
    let addr = front.local_addr().expect("relay addr");
    tokio::spawn(async move {
        let mut backs: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = front.recv_from(&mut buf).await {
            if silent.load(Ordering::SeqCst) {
                continue;
            }
            let back = match backs.get(&from) {
                Some(b) => b.clone(),
                None => {
                    let b = back_socket(front.clone(), from, silent.clone()).await;
                    backs.insert(from, b.clone());
                    b
                }
            };
            let _ = back.send_to(&buf[..n], target).await;
        }
    });
    addr
}

/// The socket relaying one client's datagrams to the node, and the node's answers back.
async fn back_socket(
    front: Arc<UdpSocket>,
    client: SocketAddr,
    silent: Arc<AtomicBool>,
) -> Arc<UdpSocket> {
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind back"));
    let reader = back.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, _)) = reader.recv_from(&mut buf).await {
            if !silent.load(Ordering::SeqCst) {
                let _ = front.send_to(&buf[..n], client).await;
            }
        }
    });
    back
}
