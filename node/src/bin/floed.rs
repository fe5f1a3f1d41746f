//! `floed`: the Floe storage node.
//!
//! `floed --config floed.toml`; every setting is also a flag and a `FLOE_*` environment
//! variable (flags win over the environment, which wins over the file). See
//! `docs/floed.example.toml` and `docs/operations.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use floe_node::server::config::{QueryConfig, ServerConfig};

/// The Floe storage node.
#[derive(Debug, Parser)]
#[command(name = "floed", version, about = "The Floe storage node")]
struct Args {
    /// Configuration file (TOML). Without it, defaults plus flags and environment.
    #[arg(long, env = "FLOE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory.
    #[arg(long, env = "FLOE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// HTTP listen address.
    #[arg(long, env = "FLOE_HTTP_LISTEN")]
    http_listen: Option<std::net::SocketAddr>,
    /// Graphite plaintext listen address ("" disables).
    #[arg(long, env = "FLOE_GRAPHITE_LISTEN")]
    graphite_listen: Option<String>,
    /// OpenTSDB telnet listen address ("" disables).
    #[arg(long, env = "FLOE_OPENTSDB_LISTEN")]
    opentsdb_listen: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "FLOE_LOG_FORMAT")]
    log_format: Option<String>,
    /// Log filter, e.g. info or floe_node=debug.
    #[arg(long, env = "FLOE_LOG_LEVEL")]
    log_level: Option<String>,
    /// WAL fsync policy: `always`, `never` or `interval:<ms>`.
    #[arg(long, env = "FLOE_FSYNC")]
    fsync: Option<String>,
    /// Time partition length, e.g. 2h.
    #[arg(long, env = "FLOE_PARTITION")]
    partition: Option<String>,
    /// Head flush interval, e.g. 5m.
    #[arg(long, env = "FLOE_FLUSH_INTERVAL")]
    flush_interval: Option<String>,
    /// Flush the head when it holds this many samples.
    #[arg(long, env = "FLOE_FLUSH_MAX_SAMPLES")]
    flush_max_samples: Option<usize>,
    /// Bytes of decoded block chunks cached for repeated reads (0: no cache).
    #[arg(long, env = "FLOE_CHUNK_CACHE_BYTES")]
    chunk_cache_bytes: Option<usize>,
    /// Late-data grace after a partition's end, e.g. 1h.
    #[arg(long, env = "FLOE_LATE_GRACE")]
    late_grace: Option<String>,
    /// Raw data retention, e.g. 15d.
    #[arg(long, env = "FLOE_RAW_RETENTION")]
    raw_retention: Option<String>,
    /// Rollups as resolution:retention, comma-separated, e.g. 1m:90d,1h:1825d.
    #[arg(long, env = "FLOE_ROLLUPS", value_delimiter = ',')]
    rollups: Option<Vec<String>>,
    /// Largest request body after decompression, bytes.
    #[arg(long, env = "FLOE_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Most samples per request.
    #[arg(long, env = "FLOE_MAX_SAMPLES_PER_REQUEST")]
    max_samples_per_request: Option<usize>,
    /// Most labels per series.
    #[arg(long, env = "FLOE_MAX_LABELS_PER_SERIES")]
    max_labels_per_series: Option<usize>,
    /// Longest label name, bytes.
    #[arg(long, env = "FLOE_MAX_LABEL_NAME_BYTES")]
    max_label_name_bytes: Option<usize>,
    /// Longest label value, bytes.
    #[arg(long, env = "FLOE_MAX_LABEL_VALUE_BYTES")]
    max_label_value_bytes: Option<usize>,
    /// Most series held by this node.
    #[arg(long, env = "FLOE_MAX_SERIES")]
    max_series: Option<usize>,
    /// How far back an instant selector looks for a sample, e.g. 5m.
    #[arg(long, env = "FLOE_QUERY_LOOKBACK_DELTA")]
    query_lookback_delta: Option<String>,
    /// Longest query evaluation, e.g. 2m.
    #[arg(long, env = "FLOE_QUERY_TIMEOUT")]
    query_timeout: Option<String>,
    /// Most series one query may read.
    #[arg(long, env = "FLOE_QUERY_MAX_SERIES")]
    query_max_series: Option<usize>,
    /// Most samples one query may read.
    #[arg(long, env = "FLOE_QUERY_MAX_SAMPLES")]
    query_max_samples: Option<usize>,
    /// Most points (series x steps) one query result may hold.
    #[arg(long, env = "FLOE_QUERY_MAX_POINTS")]
    query_max_points: Option<usize>,
    /// Most steps of a range query.
    #[arg(long, env = "FLOE_QUERY_MAX_STEPS")]
    query_max_steps: Option<usize>,
    /// Remove metric names at the end of PromQL evaluation (Prometheus 3's
    /// promql-delayed-name-removal), e.g. for TSBS's `by (__name__)` queries; `true` or
    /// `false`, the bare flag meaning `true`.
    #[arg(
        long,
        env = "FLOE_QUERY_DELAYED_NAME_REMOVAL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    query_delayed_name_removal: Option<bool>,
    /// Most queries evaluating at once.
    #[arg(long, env = "FLOE_QUERY_MAX_CONCURRENCY")]
    query_max_concurrency: Option<usize>,
    /// This node's id in the cluster topology ("" for a single node).
    #[arg(long, env = "FLOE_NODE_ID")]
    node_id: Option<String>,
    /// The cluster topology file (TOML).
    #[arg(long, env = "FLOE_TOPOLOGY")]
    topology: Option<String>,
    /// Directory of the cluster certificates (floectl certs).
    #[arg(long, env = "FLOE_CERTS_DIR")]
    certs_dir: Option<String>,
    /// QUIC listen address ("" for the node's quic_addr in the topology).
    #[arg(long, env = "FLOE_QUIC_LISTEN")]
    quic_listen: Option<String>,
    /// Default write consistency of a cluster node: one, quorum or all.
    #[arg(long, env = "FLOE_WRITE_CONSISTENCY")]
    write_consistency: Option<String>,
    /// Default read consistency of a cluster node: one, quorum or all.
    #[arg(long, env = "FLOE_READ_CONSISTENCY")]
    read_consistency: Option<String>,
    /// Longest wait for one request to a peer, e.g. 5s.
    #[arg(long, env = "FLOE_REQUEST_TIMEOUT")]
    request_timeout: Option<String>,
    /// A `one` read asks more replicas after this, e.g. 50ms.
    #[arg(long, env = "FLOE_HEDGE_DELAY")]
    hedge_delay: Option<String>,
    /// Most bytes held in the journal of one peer.
    #[arg(long, env = "FLOE_JOURNAL_MAX_BYTES")]
    journal_max_bytes: Option<u64>,
    /// How often a journal with pending records retries its peer, e.g. 1s.
    #[arg(long, env = "FLOE_JOURNAL_RETRY_INTERVAL")]
    journal_retry_interval: Option<String>,
    /// Most bytes per second streamed in by a rebalance or a rebuild (0: unlimited).
    #[arg(long, env = "FLOE_REBALANCE_MAX_BYTES_PER_S")]
    rebalance_max_bytes_per_s: Option<u64>,
    /// Refill this node from its peers (after its data was lost); it serves meanwhile.
    #[arg(long, env = "FLOE_REBUILD")]
    rebuild: bool,
}

/// Applies `--query-*` flags (named with a prefix, unlike the `[query]` keys).
fn apply_query(args: &mut Args, q: &mut QueryConfig) {
    if let Some(v) = args.query_lookback_delta.take() {
        q.lookback_delta = v;
    }
    if let Some(v) = args.query_timeout.take() {
        q.timeout = v;
    }
    if let Some(v) = args.query_delayed_name_removal.take() {
        q.delayed_name_removal = v;
    }
    let sizes = [
        (args.query_max_series.take(), &mut q.max_series),
        (args.query_max_samples.take(), &mut q.max_samples),
        (args.query_max_points.take(), &mut q.max_points),
        (args.query_max_steps.take(), &mut q.max_steps),
        (args.query_max_concurrency.take(), &mut q.max_concurrency),
    ];
    for (v, field) in sizes {
        if let Some(v) = v {
            *field = v;
        }
    }
}

macro_rules! apply {
    ($args:ident, $cfg:ident, $($field:ident),*) => {
        $(if let Some(v) = $args.$field.take() { $cfg.$field = v; })*
    };
}

fn load(mut args: Args) -> anyhow::Result<ServerConfig> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read configuration file {}", path.display()))?;
            ServerConfig::from_toml(&text)
                .with_context(|| format!("parse configuration file {}", path.display()))?
        }
        None => ServerConfig::default(),
    };
    apply!(
        args,
        cfg,
        data_dir,
        http_listen,
        graphite_listen,
        opentsdb_listen,
        log_format,
        log_level,
        fsync
    );
    apply!(
        args,
        cfg,
        partition,
        flush_interval,
        flush_max_samples,
        chunk_cache_bytes,
        late_grace,
        raw_retention,
        rollups
    );
    let limits = &mut cfg.limits;
    apply!(
        args,
        limits,
        max_body_bytes,
        max_samples_per_request,
        max_labels_per_series
    );
    apply!(
        args,
        limits,
        max_label_name_bytes,
        max_label_value_bytes,
        max_series
    );
    apply_query(&mut args, &mut cfg.query);
    let cluster = &mut cfg.cluster;
    apply!(
        args,
        cluster,
        node_id,
        topology,
        certs_dir,
        quic_listen,
        write_consistency,
        read_consistency
    );
    apply!(
        args,
        cluster,
        request_timeout,
        hedge_delay,
        journal_max_bytes,
        journal_retry_interval,
        rebalance_max_bytes_per_s
    );
    if args.rebuild {
        cfg.cluster.rebuild = true;
    }
    cfg.engine().context("check configuration")?;
    Ok(cfg)
}

fn init_logs(cfg: &ServerConfig) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)
        .with_context(|| format!("parse log_level {:?}", cfg.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

/// Registers SIGTERM and SIGINT handlers now (inside the runtime, before anything listens:
/// a signal sent as soon as the listening line is printed must stop floed cleanly, not kill
/// it) and returns the future that resolves on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

fn main() -> ExitCode {
    let cfg = match load(Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("floed: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logs(&cfg) {
        eprintln!("floed: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("floed: start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let shutdown = {
        let _inside = runtime.enter();
        match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("floed: install the signal handlers: {e}");
                return ExitCode::from(1);
            }
        }
    };
    let result = runtime.block_on(floe_node::server::run(cfg, shutdown, |addrs| {
        // One machine-readable line for scripts and tests that asked for port 0.
        println!(
            "floed listening http={} graphite={} opentsdb={} quic={}",
            addrs.http,
            opt(addrs.graphite),
            opt(addrs.opentsdb),
            opt(addrs.quic)
        );
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "floed could not start");
            eprintln!("floed: {e}");
            ExitCode::from(1)
        }
    }
}

fn opt(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| "off".to_string(), |a| a.to_string())
}
