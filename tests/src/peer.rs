//! Raw cluster-protocol requests from a test, blocking: [`WireClient`] holds a QUIC endpoint
//! with any certificate (the cluster's client or node certificates, or another CA's) and sends
//! one [`Request`] to one node, so tests can impersonate a peer (replica writes under any
//! topology) or an impostor, bypassing `floe-client`'s routing and retries.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use floe_ring::Topology;
use floe_storage_format::{Sample, SeriesKey};
use floe_wire::proto::{
    Consistency, Request, Response, SeriesSamples, TopologyRef, WriteMode, WriteRequest,
};
use floe_wire::{MAX_FRAME_BYTES, TlsFiles, WireError};

/// Bound on connecting plus one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A QUIC endpoint with one certificate, and a runtime to drive it from blocking code.
#[derive(Debug)]
pub struct WireClient {
    runtime: tokio::runtime::Runtime,
    endpoint: quinn::Endpoint,
}

impl WireClient {
    /// An endpoint presenting `tls` (and trusting its `ca`).
    pub fn new(tls: &TlsFiles) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("build a tokio runtime")?;
        let config = floe_wire::tls::client_config(tls).context("load the TLS files")?;
        let endpoint = runtime.block_on(async {
            let mut e = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            e.set_default_client_config(config);
            Ok::<_, std::io::Error>(e)
        })?;
        Ok(Self { runtime, endpoint })
    }

    /// Connects to `addr` (checking that its certificate names `server_name`, e.g. a node id)
    /// and sends `req`; the node's answer, or the wire error (e.g. `tls_refused`).
    pub fn request(
        &self,
        addr: SocketAddr,
        server_name: &str,
        req: &Request,
    ) -> Result<Response, WireError> {
        self.runtime.block_on(async {
            let work = async {
                let conn = floe_wire::connect(&self.endpoint, addr, server_name).await?;
                let resp = floe_wire::request(&conn, req, MAX_FRAME_BYTES).await;
                conn.close(0u32.into(), b"done");
                resp
            };
            tokio::time::timeout(REQUEST_TIMEOUT, work)
                .await
                .unwrap_or_else(|_| {
                    Err(WireError::Io {
                        op: "request",
                        reason: format!("no answer within {REQUEST_TIMEOUT:?}"),
                    })
                })
        })
    }
}

impl Drop for WireClient {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"bye");
    }
}

/// The reference a request carries for `topology`.
pub fn topology_ref(topology: &Topology) -> TopologyRef {
    TopologyRef {
        version: topology.version(),
        hash: topology.content_hash().0,
    }
}

/// A write request of `samples` (grouped by series) in `mode` under `topology`.
pub fn write_request(
    topology: TopologyRef,
    mode: WriteMode,
    consistency: Consistency,
    samples: &[(SeriesKey, Sample)],
) -> anyhow::Result<Request> {
    let mut by_series: std::collections::BTreeMap<&SeriesKey, Vec<Sample>> = Default::default();
    for (k, s) in samples {
        by_series.entry(k).or_default().push(*s);
    }
    let series = by_series
        .into_iter()
        .map(|(k, s)| SeriesSamples::encode(k, &s))
        .collect::<Result<Vec<_>, _>>()
        .context("encode samples")?;
    Ok(Request::Write(WriteRequest {
        topology,
        consistency,
        mode,
        series,
    }))
}
