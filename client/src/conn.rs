//! The client's QUIC endpoint and its connections: one per node, opened at first use, reused
//! by every request, reopened after it fails. Each request runs under the request timeout
//! (connect included), and at most `max_in_flight` requests run at once per node.
//!
//! A node whose connect failed, or that let a request time out without sending a single
//! datagram meanwhile (a live QUIC peer acknowledges a request within milliseconds, even when
//! it is slow to answer it), is marked down for a short while ([`Pool::down_period`]):
//! requests to it fail at once with a retryable `node_down` error, so retries move on to the
//! next owner instead of each waiting out the timeout. The next answer from the node clears the
//! mark. Retries pick the next candidate that is not marked down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use floe_wire::proto::{Request, Response};
use floe_wire::{MAX_FRAME_BYTES, TlsFiles, WireError};
use tokio::sync::Semaphore;

use crate::ClientError;

/// The name a seed is dialled with before its id is known. Every node certificate carries
/// `localhost` among its names (and client certificates cannot serve), so this checks "a
/// node of this cluster's CA", which is all a seed must be.
pub(crate) const SEED_SERVER_NAME: &str = "localhost";

/// Where a request goes: a node of the topology (dialled by its id), or a seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A node: its id (the TLS server name) and QUIC address.
    Node {
        /// Node id.
        id: String,
        /// QUIC address.
        addr: SocketAddr,
    },
    /// A seed address, before the topology is known.
    Seed(SocketAddr),
}

impl Target {
    /// How errors name the target.
    pub(crate) fn name(&self) -> String {
        match self {
            Target::Node { id, .. } => id.clone(),
            Target::Seed(addr) => format!("seed {addr}"),
        }
    }

    fn server_name(&self) -> &str {
        match self {
            Target::Node { id, .. } => id,
            Target::Seed(_) => SEED_SERVER_NAME,
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Target::Node { addr, .. } | Target::Seed(addr) => *addr,
        }
    }

    /// Connections are cached per node id; seeds by address.
    fn slot_key(&self) -> String {
        match self {
            Target::Node { id, .. } => format!("node {id}"),
            Target::Seed(addr) => format!("seed {addr}"),
        }
    }
}

/// One destination's connection and its in-flight bound.
#[derive(Debug)]
struct Slot {
    addr: SocketAddr,
    server_name: String,
    conn: tokio::sync::Mutex<Option<quinn::Connection>>,
    permits: Semaphore,
    down_until: Mutex<Option<Instant>>,
}

impl Slot {
    fn mark_down(&self, period: Duration) {
        *self.lock_down() = Some(Instant::now() + period);
    }

    fn mark_up(&self) {
        *self.lock_down() = None;
    }

    /// How much longer the slot stays marked down, if it is.
    fn down_left(&self) -> Option<Duration> {
        let until = (*self.lock_down())?;
        Some(until.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    fn check_up(&self) -> Result<(), Failure> {
        self.down_left()
            .map_or(Ok(()), |left| Err(Failure::Down(left)))
    }

    fn lock_down(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.down_until.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a request got no answer (short of a timeout).
#[derive(Debug)]
enum Failure {
    /// Connecting or the request failed.
    Wire(WireError),
    /// The node is marked down for this much longer.
    Down(Duration),
}

impl From<WireError> for Failure {
    fn from(e: WireError) -> Self {
        Failure::Wire(e)
    }
}

/// The endpoint and the connection slots.
#[derive(Debug)]
pub(crate) struct Pool {
    endpoint: quinn::Endpoint,
    timeout: Duration,
    max_in_flight: usize,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Pool {
    /// Binds a client endpoint of the family of `family_of` (unspecified address, any port)
    /// presenting `tls`.
    pub(crate) fn bind(
        tls: &TlsFiles,
        family_of: SocketAddr,
        timeout: Duration,
        max_in_flight: usize,
    ) -> Result<Pool, ClientError> {
        let config =
            floe_wire::tls::client_config(tls).map_err(|source| ClientError::Tls { source })?;
        let local: SocketAddr = match family_of {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let mut endpoint = quinn::Endpoint::client(local).map_err(|source| ClientError::Bind {
            addr: local,
            source,
        })?;
        endpoint.set_default_client_config(config);
        Ok(Pool {
            endpoint,
            timeout,
            max_in_flight,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// How long a node stays marked down: the request timeout, at most 2 s.
    pub(crate) fn down_period(&self) -> Duration {
        self.timeout.min(Duration::from_secs(2))
    }

    /// Closes every connection and the endpoint.
    pub(crate) fn close(&self) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"client closed");
    }

    /// Sends `req` to `target` and returns its answer: waits for a free in-flight permit,
    /// then connects if needed and makes the request within the timeout. An error answer is
    /// a [`ClientError::Server`].
    pub(crate) async fn call(
        &self,
        target: &Target,
        req: &Request,
    ) -> Result<Response, ClientError> {
        let slot = self.slot(target);
        let _permit = slot
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let node = target.name();
        if let Some(left) = slot.down_left() {
            return Err(ClientError::NodeDown { node, left });
        }
        let mut probe = None;
        let work = self.request(&slot, req, &mut probe);
        let res = tokio::time::timeout(self.timeout, work).await;
        match &res {
            Err(_) if is_silent(probe.as_ref()) => {
                slot.mark_down(self.down_period());
                // A connection the node sent nothing on is dead or the node restarted (the new
                // process does not know it): connect anew next time instead of waiting out
                // the idle timeout on it.
                // Not waiting for the slot if a connect holds it (that connect replaces it).
                if let Some(p) = &probe
                    && let Ok(mut cached) = slot.conn.try_lock()
                    && cached
                        .as_ref()
                        .is_some_and(|c| c.stable_id() == p.conn.stable_id())
                {
                    *cached = None;
                }
            }
            Ok(Ok(_)) => slot.mark_up(),
            _ => {}
        }
        match res {
            Err(_) => Err(ClientError::Timeout {
                node,
                after: self.timeout,
            }),
            Ok(Err(Failure::Down(left))) => Err(ClientError::NodeDown { node, left }),
            Ok(Err(Failure::Wire(source))) => Err(ClientError::Wire { node, source }),
            Ok(Ok(Response::Error(e))) => Err(ClientError::Server {
                node,
                code: e.code,
                message: e.message,
            }),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// Connects if needed and makes the request; `probe` gets the connection and the count
    /// of datagrams received on it so far, to tell after a timeout whether the peer is silent.
    async fn request(
        &self,
        slot: &Slot,
        req: &Request,
        probe: &mut Option<Probe>,
    ) -> Result<Response, Failure> {
        let conn = self.connection(slot).await?;
        *probe = Some(Probe::new(&conn));
        let res = floe_wire::request::<Request, Response>(&conn, req, MAX_FRAME_BYTES).await;
        if res.is_err() && conn.close_reason().is_some() {
            forget(slot, &conn).await;
        }
        Ok(res?)
    }

    /// True when `target` is marked down now (a target never used is not).
    pub(crate) fn is_down(&self, target: &Target) -> bool {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.get(&target.slot_key());
        slot.is_some_and(|s| s.addr == target.addr() && s.down_left().is_some())
    }

    /// The slot of `target`, made (or remade, if the node moved) on first use.
    fn slot(&self, target: &Target) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let key = target.slot_key();
        if let Some(slot) = slots.get(&key).filter(|s| s.addr == target.addr()) {
            return slot.clone();
        }
        let slot = Arc::new(Slot {
            addr: target.addr(),
            server_name: target.server_name().to_owned(),
            conn: tokio::sync::Mutex::new(None),
            permits: Semaphore::new(self.max_in_flight),
            down_until: Mutex::new(None),
        });
        slots.insert(key, slot.clone());
        slot
    }

    /// The open connection of `slot`, or a new one (one connect at a time per slot).
    async fn connection(&self, slot: &Slot) -> Result<quinn::Connection, Failure> {
        let mut cached = slot.conn.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(c.clone());
        }
        slot.check_up()?;
        let connecting = floe_wire::connect(&self.endpoint, slot.addr, &slot.server_name);
        let conn = connecting.await.inspect_err(|e| {
            if e.code() == "io" {
                slot.mark_down(self.down_period());
            }
        })?;
        tracing::debug!(addr = %slot.addr, name = %slot.server_name, "connected");
        *cached = Some(conn.clone());
        Ok(conn)
    }
}

/// A connection and the datagrams received on it when a request started.
#[derive(Debug)]
struct Probe {
    conn: quinn::Connection,
    received: u64,
}

impl Probe {
    fn new(conn: &quinn::Connection) -> Self {
        Self {
            conn: conn.clone(),
            received: conn.stats().udp_rx.datagrams,
        }
    }
}

/// After a timeout: true when no connection was made, or the peer sent nothing since the
/// request started (down or unreachable, not merely slow).
fn is_silent(probe: Option<&Probe>) -> bool {
    probe.is_none_or(|p| p.conn.stats().udp_rx.datagrams == p.received)
}

/// Drops a failed connection from its slot, unless it was replaced meanwhile.
async fn forget(slot: &Slot, conn: &quinn::Connection) {
    let mut cached = slot.conn.lock().await;
    if cached
        .as_ref()
        .is_some_and(|c| c.stable_id() == conn.stable_id())
    {
        *cached = None;
    }
}
