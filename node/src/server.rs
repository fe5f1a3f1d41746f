//! The `floed` daemon: configuration, the HTTP and TCP listeners, and graceful shutdown
//! around one storage engine.

pub mod config;
pub(crate) mod evaluate;
mod http;
pub mod metrics;
mod query_pool;
pub mod sink;
mod tcp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::sync::watch;

use self::config::{ServerConfig, optional_addr};
use self::metrics::ServerMetrics;
use self::sink::{IngestError, Sink};
use crate::cluster::{Cluster, SeriesBatch};
use crate::engine::{Engine, SystemClock};
use floe_storage_format::{Sample, SeriesKey};
use floe_wire::proto::Consistency;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The storage engine could not open its data directory.
    #[error("cannot open the data directory: {0}")]
    Engine(#[from] crate::engine::EngineError),
    /// The cluster layer could not start.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The addresses a running daemon listens on (useful when port 0 was asked for).
#[derive(Debug, Clone, Copy)]
pub struct BoundAddrs {
    /// HTTP.
    pub http: SocketAddr,
    /// Graphite plaintext, if enabled.
    pub graphite: Option<SocketAddr>,
    /// OpenTSDB telnet, if enabled.
    pub opentsdb: Option<SocketAddr>,
    /// The cluster's QUIC endpoint, on a cluster node.
    pub quic: Option<SocketAddr>,
}

/// Shared by every handler.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) sink: Sink,
    pub(crate) ready: AtomicBool,
    /// Settings and limits of every query.
    pub(crate) query: floe_query::QueryOptions,
    /// The threads that evaluate queries.
    pub(crate) query_pool: query_pool::QueryPool,
    /// When the daemon started (`/api/v1/status/runtimeinfo`).
    pub(crate) started: std::time::SystemTime,
    /// The raw retention as configured (`/api/v1/status/runtimeinfo`).
    pub(crate) raw_retention: String,
    /// The cluster layer; `None` on a single node.
    pub(crate) cluster: Option<Arc<Cluster>>,
}

tokio::task_local! {
    /// The `consistency` a request asked for (`?consistency=` on an ingest URL), set around
    /// the handler by a middleware.
    pub(crate) static WRITE_CONSISTENCY: Consistency;
}

impl AppState {
    /// Stores a request's series and indexed samples: on a single node into the engine (on a
    /// blocking thread), on a cluster node on every owner, acknowledged at the request's (or
    /// the configured) write consistency.
    pub(crate) async fn ingest(
        self: &Arc<Self>,
        protocol: &'static str,
        keys: Vec<SeriesKey>,
        samples: Vec<(u32, Sample)>,
    ) -> Result<usize, IngestError> {
        let Some(cluster) = &self.cluster else {
            let state = self.clone();
            return tokio::task::spawn_blocking(move || {
                state.sink.write_parts(protocol, &keys, &samples)
            })
            .await
            .map_err(|e| IngestError::BadRequest(format!("ingest task failed: {e}")))?;
        };
        let level = WRITE_CONSISTENCY
            .try_with(|c| *c)
            .unwrap_or(cluster.settings().write_consistency);
        let batch = SeriesBatch::from_parts(&keys, &samples)?;
        cluster
            .coordinate(self, protocol, batch, level)
            .await
            .map(|r| r.samples as usize)
    }

    /// [`AppState::ingest`] of rows.
    pub(crate) async fn ingest_rows(
        self: &Arc<Self>,
        protocol: &'static str,
        rows: Vec<(SeriesKey, Sample)>,
    ) -> Result<usize, IngestError> {
        let (keys, samples) = sink::index_rows(&rows);
        self.ingest(protocol, keys, samples).await
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

/// Runs the daemon until `shutdown` resolves; then stops accepting, finishes in-flight
/// requests, and flushes the engine. `on_bound` is called once every listener is bound.
pub async fn run(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(BoundAddrs),
) -> Result<(), StartError> {
    let engine_config = config.engine()?;
    let cluster_settings = config.cluster.settings()?;
    let query = config.query_options()?;
    let query_pool = query_pool::QueryPool::start(config.query.max_concurrency).map_err(|e| {
        StartError::Config(config::ConfigError {
            setting: "query.max_concurrency",
            value: config.query.max_concurrency.to_string(),
            reason: format!("cannot start the query threads: {e}"),
        })
    })?;
    let graphite_addr = optional_addr("graphite_listen", &config.graphite_listen)?;
    let opentsdb_addr = optional_addr("opentsdb_listen", &config.opentsdb_listen)?;
    let http = bind("http", config.http_listen).await?;
    let graphite = match graphite_addr {
        Some(a) => Some(bind("graphite", a).await?),
        None => None,
    };
    let opentsdb = match opentsdb_addr {
        Some(a) => Some(bind("opentsdb", a).await?),
        None => None,
    };
    let (engine, report) =
        tokio::task::spawn_blocking(move || Engine::open(engine_config, Arc::new(SystemClock)))
            .await
            .map_err(|e| {
                StartError::Config(config::ConfigError {
                    setting: "engine",
                    value: String::new(),
                    reason: e.to_string(),
                })
            })??;
    if !report.wal_problems.is_empty() || !report.quarantined.is_empty() {
        tracing::warn!(?report, "recovered with problems");
    }
    let engine = Arc::new(engine);
    let cluster = match cluster_settings {
        Some(s) => Some(Cluster::open(s, &config.data_dir)?),
        None => None,
    };
    let metrics = Arc::new(ServerMetrics::default());
    let state = Arc::new(AppState {
        sink: Sink::new(engine.clone(), config.limits.clone(), metrics),
        ready: AtomicBool::new(false),
        query,
        query_pool,
        started: std::time::SystemTime::now(),
        raw_retention: config.raw_retention.clone(),
        cluster: cluster.clone(),
    });
    let bound = BoundAddrs {
        http: local(&http),
        graphite: graphite.as_ref().map(local),
        opentsdb: opentsdb.as_ref().map(local),
        quic: cluster.as_ref().and_then(|c| c.quic_addr()),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(c) = &cluster {
        c.start(&state, stop_rx.clone());
        tasks.push(tokio::spawn(crate::cluster::serve(
            c.clone(),
            state.clone(),
            stop_rx.clone(),
        )));
    }
    if let Some(l) = graphite {
        tasks.push(tokio::spawn(tcp::serve(
            l,
            tcp::Protocol::Graphite,
            state.clone(),
            stop_rx.clone(),
        )));
    }
    if let Some(l) = opentsdb {
        tasks.push(tokio::spawn(tcp::serve(
            l,
            tcp::Protocol::OpenTsdb,
            state.clone(),
            stop_rx.clone(),
        )));
    }
    let router = http::router(state.clone());
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(http, router)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
    });
    state.ready.store(true, Ordering::Release);
    tracing::info!(http = %bound.http, graphite = ?bound.graphite, opentsdb = ?bound.opentsdb, quic = ?bound.quic, node = cluster.as_ref().map(|c| c.node_id()), data_dir = %config.data_dir.display(), "floed ready");
    on_bound(bound);
    shutdown.await;
    tracing::info!("shutting down: no new connections, finishing requests, flushing");
    state.ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    if let Ok(Err(e)) = http_task.await {
        tracing::error!(error = %e, "HTTP server error");
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(c) = &cluster {
        c.close();
    }
    let closed = tokio::task::spawn_blocking(move || engine.close()).await;
    match closed {
        Ok(Ok(())) => tracing::info!("engine flushed and closed"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "engine close failed; the WAL still holds the data")
        }
        Err(e) => tracing::error!(error = %e, "engine close panicked"),
    }
    Ok(())
}

fn local(l: &TcpListener) -> SocketAddr {
    l.local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}
