//! The QUIC endpoint a node serves on and dials its peers from, and the reused connection to
//! each peer.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use floe_ring::{NodeIndex, Ring};
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
            PeerError::Server { error, .. } => error.code.as_str(),
        }
    }
}

/// The endpoint and one cached connection per peer.
#[derive(Debug)]
pub(crate) struct Peers {
    endpoint: quinn::Endpoint,
    /// Per node index: id and QUIC address.
    nodes: Vec<(String, SocketAddr)>,
    conns: Mutex<Vec<Option<quinn::Connection>>>,
    timeout: Duration,
}

impl Peers {
    /// Binds the endpoint on `listen`: it accepts peers and clients with certificates of the
    /// cluster CA, and dials peers presenting this node's certificate.
    pub(crate) fn bind(
        ring: &Ring,
        files: &TlsFiles,
        listen: SocketAddr,
        timeout: Duration,
    ) -> Result<Peers, String> {
        let server = floe_wire::tls::server_config(files).map_err(|e| e.to_string())?;
        let client = floe_wire::tls::client_config(files).map_err(|e| e.to_string())?;
        let mut endpoint = quinn::Endpoint::server(server, listen).map_err(|e| e.to_string())?;
        endpoint.set_default_client_config(client);
        let nodes = (0..ring.node_count())
            .map(|i| {
                let n = ring.node(NodeIndex(i as u32));
                (n.id.clone(), n.quic_addr)
            })
            .collect::<Vec<_>>();
        Ok(Peers {
            endpoint,
            conns: Mutex::new(vec![None; nodes.len()]),
            nodes,
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
    pub(crate) async fn call(&self, to: NodeIndex, req: &Request) -> Result<Response, PeerError> {
        let peer = &self.nodes[to.get()].0;
        let work = async {
            let conn = self.connection(to).await?;
            let res = floe_wire::request::<Request, Response>(&conn, req, MAX_FRAME_BYTES).await;
            if res.is_err() && conn.close_reason().is_some() {
                self.forget(to, &conn);
            }
            res
        };
        match tokio::time::timeout(self.timeout, work).await {
            Err(_) => Err(PeerError::Timeout {
                peer: peer.clone(),
                after: self.timeout,
            }),
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

    /// The cached connection to `to`, or a new one.
    async fn connection(&self, to: NodeIndex) -> Result<quinn::Connection, WireError> {
        if let Some(c) = self.lock()[to.get()].as_ref()
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let (id, addr) = &self.nodes[to.get()];
        let conn = floe_wire::connect(&self.endpoint, *addr, id).await?;
        self.lock()[to.get()] = Some(conn.clone());
        Ok(conn)
    }

    /// Drops a failed connection from the cache (unless it was replaced meanwhile).
    fn forget(&self, to: NodeIndex, conn: &quinn::Connection) {
        let mut conns = self.lock();
        if conns[to.get()]
            .as_ref()
            .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            conns[to.get()] = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<quinn::Connection>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}
