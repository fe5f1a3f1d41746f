//! The QUIC endpoint a node serves on and dials its peers from, and the reused connection to
//! each peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use floe_ring::Node;
use floe_wire::proto::{ErrorResponse, Request, Response};
use floe_wire::{MAX_FRAME_BYTES, TlsFiles, WireError};

/// Why a request to a peer failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    /// Connecting, sending or receiving failed.
    #[error("peer {peer}: {source}")]
    Wire {
        /// The peer's id.
        peer: String,
        /// What failed.
        source: WireError,
    },
    /// The peer could not be reached recently; not tried again before its mark expires
    /// (the journal replay probes it meanwhile).
    #[error("peer {peer}: down (unreachable {for_ms} ms ago); not tried")]
    Down {
        /// The peer's id.
        peer: String,
        /// How long ago it was marked.
        for_ms: u64,
    },
    /// The peer did not answer in time.
    #[error("peer {peer}: no answer within {after:?}")]
    Timeout {
        /// The peer's id.
        peer: String,
        /// The timeout.
        after: Duration,
    },
    /// The peer answered with an error.
    #[error("peer {peer}: {error}")]
    Server {
        /// The peer's id.
        peer: String,
        /// Its answer.
        error: ErrorResponse,
    },
}

impl PeerError {
    /// The stable code, for metrics.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            PeerError::Wire { source, .. } => source.code(),
            PeerError::Timeout { .. } => "timeout",
            PeerError::Down { .. } => "down",
            PeerError::Server { error, .. } => error.code.as_str(),
        }
    }
}

/// The endpoint and one cached connection per peer, by node id (the members change with the
/// topology; a peer's address is given with each call).
#[derive(Debug)]
pub(crate) struct Peers {
    endpoint: quinn::Endpoint,
    slots: Mutex<HashMap<String, Slot>>,
    timeout: Duration,
}

#[derive(Debug, Default)]
struct Slot {
    addr: Option<SocketAddr>,
    conn: Option<quinn::Connection>,
    /// When a connect to it last failed (it is skipped for [`DOWN_FOR`]).
    down: Option<Instant>,
}

/// Longest wait for a QUIC handshake with a peer (loopback or LAN: milliseconds).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a peer whose connect failed is skipped by writes and reads.
const DOWN_FOR: Duration = Duration::from_secs(1);

impl Peers {
    /// Binds the endpoint on `listen`: it accepts peers and clients with certificates of the
    /// cluster CA, and dials peers presenting this node's certificate.
    pub(crate) fn bind(
        files: &TlsFiles,
        listen: SocketAddr,
        timeout: Duration,
    ) -> Result<Peers, String> {
        let server = floe_wire::tls::server_config(files).map_err(|e| e.to_string())?;
        let client = floe_wire::tls::client_config(files).map_err(|e| e.to_string())?;
        let mut endpoint = quinn::Endpoint::server(server, listen).map_err(|e| e.to_string())?;
        endpoint.set_default_client_config(client);
        Ok(Peers {
            endpoint,
            slots: Mutex::new(HashMap::new()),
            timeout,
        })
    }

    /// The endpoint (the service accepts on it).
    pub(crate) fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// Closes the endpoint.
    pub(crate) fn close(&self) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"shutting down");
    }

    /// Sends `req` to node `to` and returns its answer, within the request timeout; an error
    /// answer is a [`PeerError::Server`].
    pub(crate) async fn call(&self, to: &Node, req: &Request) -> Result<Response, PeerError> {
        self.call_inner(to, req, false, self.timeout).await
    }

    /// [`Peers::call`] even when the peer is marked down (the journal replay's probe).
    pub(crate) async fn probe(&self, to: &Node, req: &Request) -> Result<Response, PeerError> {
        self.call_inner(to, req, true, self.timeout).await
    }

    /// [`Peers::probe`] with its own time limit (streaming pages can take longer).
    pub(crate) async fn probe_within(
        &self,
        to: &Node,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, PeerError> {
        self.call_inner(to, req, true, timeout).await
    }

    async fn call_inner(
        &self,
        to: &Node,
        req: &Request,
        probe: bool,
        timeout: Duration,
    ) -> Result<Response, PeerError> {
        let peer = &to.id;
        if !probe && let Some(since) = self.down_since(peer) {
            return Err(PeerError::Down {
                peer: peer.clone(),
                for_ms: since.elapsed().as_millis() as u64,
            });
        }
        // The connection used and the datagrams received on it before the request.
        let used: Mutex<Option<(quinn::Connection, u64)>> = Mutex::new(None);
        let work = async {
            let conn = self.connection(to).await?;
            *used.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((conn.clone(), conn.stats().udp_rx.datagrams));
            let res = floe_wire::request::<Request, Response>(&conn, req, MAX_FRAME_BYTES).await;
            if res.is_err() && conn.close_reason().is_some() {
                self.forget(peer, &conn);
            }
            res
        };
        match tokio::time::timeout(timeout, work).await {
            Err(_) => {
                // Nothing at all came back on the connection while waiting: the peer is gone
                // or restarted (a new process does not know the old connection, and nothing
                // tells this side so before the idle timeout). Drop it so the next call
                // connects anew instead of waiting out the idle timeout on a dead one.
                let used = used.into_inner().unwrap_or_else(|p| p.into_inner());
                if let Some((conn, rx)) = used
                    && conn.stats().udp_rx.datagrams == rx
                {
                    self.forget(peer, &conn);
                }
                Err(PeerError::Timeout {
                    peer: peer.clone(),
                    after: timeout,
                })
            }
            Ok(Err(source)) => Err(PeerError::Wire {
                peer: peer.clone(),
                source,
            }),
            Ok(Ok(Response::Error(error))) => Err(PeerError::Server {
                peer: peer.clone(),
                error,
            }),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// The cached connection to `to`, or a new one (a cached connection to an older address
    /// of the node is dropped).
    async fn connection(&self, to: &Node) -> Result<quinn::Connection, WireError> {
        {
            let mut slots = self.lock();
            let slot = slots.entry(to.id.clone()).or_default();
            if slot.addr != Some(to.quic_addr) {
                slot.addr = Some(to.quic_addr);
                slot.conn = None;
            }
            if let Some(c) = slot.conn.as_ref()
                && c.close_reason().is_none()
            {
                return Ok(c.clone());
            }
        }
        let connecting = floe_wire::connect(&self.endpoint, to.quic_addr, &to.id);
        let res = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Io {
                op: "connect",
                reason: format!("no handshake within {CONNECT_TIMEOUT:?}"),
            }),
        };
        let mut slots = self.lock();
        let slot = slots.entry(to.id.clone()).or_default();
        match res {
            Ok(conn) => {
                slot.down = None;
                slot.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                slot.down = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// When the peer was marked down, if the mark is still in force.
    fn down_since(&self, peer: &str) -> Option<Instant> {
        self.lock()
            .get(peer)
            .and_then(|s| s.down)
            .filter(|t| t.elapsed() < DOWN_FOR)
    }

    /// Drops a failed connection from the cache (unless it was replaced meanwhile).
    fn forget(&self, peer: &str, conn: &quinn::Connection) {
        let mut slots = self.lock();
        if let Some(slot) = slots.get_mut(peer)
            && slot
                .conn
                .as_ref()
                .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            slot.conn = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}
