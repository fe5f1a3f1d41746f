//! Smoke tests of `floe-client` against fake nodes (`fake.rs`): real QUIC and mutual TLS,
//! the real protocol, scripted answers. They check token-aware routing, batch limits, the
//! in-flight bound, retries on the next owner, the topology refetch after a mismatch, queries,
//! digests, and that a certificate from another CA is refused at the first request. Every
//! await is bounded; nothing sleeps to synchronise.

mod fake;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fake::FakeNode;
use floe_client::{
    Batcher, Client, ClientConfig, Consistency, ErrorCode, QueryResult, RetryPolicy, Sample,
    SeriesKey, TlsFiles, WriteSummary,
};
use floe_ring::Ring;
use floe_wire::proto::WriteMode;

/// Bound on every await of a test.
const T: Duration = Duration::from_secs(30);

async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(T, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {T:?}"))
}

struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<Arc<FakeNode>>,
}

impl Cluster {
    async fn start(count: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        fake::certificates(dir.path(), count);
        let nodes = fake::start(dir.path(), count).await;
        Cluster { dir, nodes }
    }

    fn config(&self) -> ClientConfig {
        let tls = TlsFiles::client(&self.dir.path().join("a"), "app");
        let mut c = ClientConfig::new(vec![self.nodes[0].addr], tls);
        c.request_timeout = Duration::from_secs(2);
        c.retry = RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(40),
            jitter: 0.5,
        };
        c
    }

    async fn client(&self, config: ClientConfig) -> Client {
        bounded("connect", Client::connect(config))
            .await
            .expect("connect")
    }

    fn node(&self, id: &str) -> &FakeNode {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("a node of the cluster")
    }

    fn write_requests(&self) -> u32 {
        self.nodes.iter().map(|n| n.state().write_requests).sum()
    }
}

fn key(i: usize) -> SeriesKey {
    SeriesKey::new("requests_total", [("host", format!("h{i}"))]).expect("key")
}

fn series(count: usize, samples: usize) -> Vec<(SeriesKey, Vec<Sample>)> {
    (0..count)
        .map(|i| {
            let s = (0..samples).map(|t| Sample::new(t as i64 * 1000, (i + t) as f64, 0));
            (key(i), s.collect())
        })
        .collect()
}

/// The owners of `key` under the client's topology, primary first.
fn owners(client: &Client, key: &SeriesKey) -> Vec<String> {
    let ring = Ring::new(&client.topology());
    let ids = ring.owner_ids(key.id().ring_position());
    ids.map(str::to_owned).collect()
}

/// The nodes that accepted a write of `key`.
fn holders(cluster: &Cluster, key: &SeriesKey) -> Vec<String> {
    let mut ids = Vec::new();
    for node in &cluster.nodes {
        let state = node.state();
        let keys = state.writes.iter().flat_map(|w| &w.series);
        if keys
            .map(|s| s.decode_key().expect("key"))
            .any(|k| &k == key)
        {
            ids.push(node.id.clone());
        }
    }
    ids
}

#[tokio::test]
async fn writes_go_straight_to_each_series_primary() {
    let cluster = Cluster::start(3).await;
    let mut config = cluster.config();
    // A dead seed first: the client moves on to the next one.
    config.seeds.insert(0, "127.0.0.1:9".parse().expect("addr"));
    config.request_timeout = Duration::from_millis(500);
    let client = cluster.client(config).await;
    assert_eq!(client.topology().version(), 1);
    assert_eq!(client.topology().nodes().len(), 3);

    let data = series(120, 3);
    let summary = bounded("write", client.write_series(&data))
        .await
        .expect("write");
    assert_eq!(summary.samples, 360);
    assert_eq!(summary.retries, 0);
    assert_eq!(summary.journaled, summary.batches);
    for (key, _) in &data {
        assert_eq!(
            holders(&cluster, key),
            [owners(&client, key)[0].clone()],
            "{key}"
        );
    }
    let tref = client.topology_ref();
    for node in &cluster.nodes {
        for w in &node.state().writes {
            assert_eq!(w.mode, WriteMode::Coordinate);
            assert_eq!(w.consistency, Consistency::Quorum);
            assert_eq!(w.topology, tref);
        }
    }
    let batches: usize = cluster.nodes.iter().map(|n| n.state().writes.len()).sum();
    assert_eq!(batches as u64, summary.batches);
    assert!(
        cluster.nodes.iter().all(|n| n.samples() > 0),
        "120 series reach every node"
    );
}

#[tokio::test]
async fn batches_respect_the_sample_limit() {
    let cluster = Cluster::start(3).await;
    let mut config = cluster.config();
    config.max_batch_samples = 50;
    let client = cluster.client(config).await;
    let summary = bounded("write", client.write_series(&series(20, 30)))
        .await
        .expect("write");
    assert_eq!(summary.samples, 600);
    assert!(summary.batches >= 12, "{summary:?}");
    for node in &cluster.nodes {
        for w in &node.state().writes {
            assert!(fake::samples_of(w) <= 50);
        }
    }
}

#[tokio::test]
async fn in_flight_requests_per_node_are_bounded() {
    let cluster = Cluster::start(2).await;
    for node in &cluster.nodes {
        node.state().delay = Duration::from_millis(50);
    }
    let mut config = cluster.config();
    config.max_batch_samples = 1;
    config.max_in_flight = 2;
    let client = cluster.client(config).await;
    let summary = bounded("write", client.write_series(&series(16, 1)))
        .await
        .expect("write");
    assert_eq!(summary.batches, 16);
    let peak = cluster.nodes.iter().map(|n| n.state().peak_in_flight);
    assert_eq!(
        peak.max(),
        Some(2),
        "batches run concurrently, two at most per node"
    );
}

#[tokio::test]
async fn a_failing_primary_is_retried_on_the_next_owner() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(cluster.config()).await;
    let k = key(7);
    let owners = owners(&client, &k);
    cluster.node(&owners[0]).state().fail_writes = 1;
    let one = [(k.clone(), Sample::new(1, 1.0, 0))];
    let write = client.write(&one);
    let summary = bounded("write", write).await.expect("write");
    assert_eq!((summary.samples, summary.retries), (1, 1));
    assert_eq!(holders(&cluster, &k), [owners[1].clone()]);
}

#[tokio::test]
async fn a_stopped_primary_is_retried_on_the_next_owner() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(cluster.config()).await;
    let k = key(3);
    let owners = owners(&client, &k);
    cluster.node(&owners[0]).stop();
    let one = [(k.clone(), Sample::new(1, 1.0, 0))];
    let write = client.write(&one);
    let summary = bounded("write", write).await.expect("write");
    assert!(summary.retries >= 1, "{summary:?}");
    assert_eq!(holders(&cluster, &k), [owners[1].clone()]);
}

#[tokio::test]
async fn a_silent_node_is_skipped_after_its_first_timeouts() {
    let cluster = Cluster::start(3).await;
    let mut config = cluster.config();
    config.request_timeout = Duration::from_secs(1);
    config.max_batch_samples = 1;
    config.max_in_flight = 2;
    let client = cluster.client(config).await;
    let warm = bounded("first write", client.write_series(&series(30, 1))).await;
    assert_eq!(
        warm.expect("write").samples,
        30,
        "connections to every node are open"
    );
    cluster.node("n1").go_silent();
    let data: Vec<_> = series(120, 1).into_iter().skip(30).collect();
    let started = std::time::Instant::now();
    let summary = bounded("write", client.write_series(&data))
        .await
        .expect("write");
    let took = started.elapsed();
    assert_eq!(summary.samples, 90);
    let moved = data
        .iter()
        .filter(|(k, _)| owners(&client, k)[0] == "n1")
        .count();
    assert!(moved > 8, "{moved} series have n1 as primary");
    assert!(summary.retries >= 1, "{summary:?}");
    // Only the requests in flight when the first timed out waited (one timeout); the others
    // skipped n1 at once. Waiting out every timeout would take moved / 2 seconds.
    assert!(
        took < Duration::from_secs(4),
        "{moved} batches took {took:?}"
    );
}

#[tokio::test]
async fn a_slow_node_that_still_acknowledges_packets_is_not_marked_down() {
    let cluster = Cluster::start(3).await;
    let mut config = cluster.config();
    config.request_timeout = Duration::from_millis(300);
    let client = cluster.client(config).await;
    let k = (0..)
        .map(key)
        .find(|k| owners(&client, k)[0] == "n1")
        .expect("a key");
    cluster.node("n1").state().delay = Duration::from_secs(3600);
    let one = [(k.clone(), Sample::new(1, 1.0, 0))];
    let summary = bounded("write", client.write(&one)).await.expect("write");
    assert_eq!(
        summary.retries, 1,
        "timed out on n1, then written by the next owner"
    );
    assert_eq!(holders(&cluster, &k), [owners(&client, &k)[1].clone()]);
    // n1 timed out but is alive: asked again at once, not skipped.
    let tref = bounded("node topology", client.node_topology("n1")).await;
    assert_eq!(tref.expect("n1 answers"), client.topology_ref());
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_error_is_kept() {
    let cluster = Cluster::start(3).await;
    for node in &cluster.nodes {
        node.state().fail_writes = 100;
    }
    let client = cluster.client(cluster.config()).await;
    let one = [(key(1), Sample::new(1, 1.0, 0))];
    let write = client.write(&one);
    let err = bounded("write", write).await.expect_err("every try fails");
    assert_eq!(err.code(), "no_node_answered", "{err}");
    assert_eq!(err.server_code(), Some(ErrorCode::Unavailable));
    assert!(err.is_retryable());
    assert_eq!(cluster.write_requests(), 4, "retry.attempts tries, no more");
}

#[tokio::test]
async fn non_retryable_errors_return_at_once() {
    let cluster = Cluster::start(3).await;
    for node in &cluster.nodes {
        node.state().reject_writes = Some(ErrorCode::Limit);
    }
    let client = cluster.client(cluster.config()).await;
    let one = [(key(1), Sample::new(1, 1.0, 0))];
    let write = client.write(&one);
    let err = bounded("write", write).await.expect_err("limit");
    assert_eq!(err.code(), "limit", "{err}");
    assert_eq!(cluster.write_requests(), 1);
}

#[tokio::test]
async fn a_topology_mismatch_refetches_the_topology_and_reroutes() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(cluster.config()).await;
    let addrs: Vec<_> = cluster.nodes.iter().map(|n| n.addr).collect();
    let v2 = fake::topology(2, 32, &addrs);
    for node in &cluster.nodes {
        node.adopt(&v2);
    }
    let data = series(60, 2);
    let summary = bounded("write", client.write_series(&data))
        .await
        .expect("write");
    assert_eq!(summary.samples, 120);
    assert!(summary.retries >= 1, "{summary:?}");
    assert_eq!(client.topology().version(), 2);
    for (key, _) in &data {
        assert_eq!(
            holders(&cluster, key),
            [owners(&client, key)[0].clone()],
            "{key}"
        );
    }
    let tref = bounded("node topology", client.node_topology("n1"))
        .await
        .expect("node topology");
    assert_eq!(tref, client.topology_ref());
}

#[tokio::test]
async fn the_topology_is_refetched_only_once_per_write() {
    let cluster = Cluster::start(2).await;
    for node in &cluster.nodes {
        node.state().reject_writes = Some(ErrorCode::TopologyMismatch);
    }
    let client = cluster.client(cluster.config()).await;
    let before: u32 = cluster
        .nodes
        .iter()
        .map(|n| n.state().topology_requests)
        .sum();
    let one = [(key(1), Sample::new(1, 1.0, 0))];
    let write = client.write(&one);
    let err = bounded("write", write).await.expect_err("mismatch twice");
    assert_eq!(err.code(), "topology_mismatch", "{err}");
    let after: u32 = cluster
        .nodes
        .iter()
        .map(|n| n.state().topology_requests)
        .sum();
    assert_eq!(after - before, 1);
    assert_eq!(cluster.write_requests(), 2);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_first_request() {
    let cluster = Cluster::start(2).await;
    let mut config = cluster.config();
    let dir = cluster.dir.path();
    config.tls = TlsFiles {
        ca: dir.join("a").join("ca.pem"),
        ..TlsFiles::client(&dir.join("b"), "rogue")
    };
    config.seeds = vec![cluster.nodes[0].addr, cluster.nodes[1].addr];
    let err = bounded("connect", Client::connect(config))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "tls_refused", "{err}");
    assert!(!err.is_retryable());
    let tried = cluster.nodes[1].incoming.load(Ordering::SeqCst);
    assert_eq!(
        tried, 0,
        "a refused certificate is not tried on the next seed"
    );
}

#[tokio::test]
async fn queries_go_to_any_node_and_retry_on_another() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(cluster.config()).await;
    for node in &cluster.nodes {
        node.state().fail_queries = 1;
    }
    let result = bounded("query", client.query("up", 1_000))
        .await
        .expect("query");
    let QueryResult::Vector(series) = result else {
        panic!("a vector: {result:?}")
    };
    assert_eq!(series[0].timestamps, [1_000]);
    let range = client.query_range("up", 0, 30_000, 10_000);
    let QueryResult::Matrix(series) = bounded("range", range).await.expect("range") else {
        panic!("a matrix")
    };
    assert_eq!(series[0].timestamps, [0, 10_000, 20_000, 30_000]);
}

#[tokio::test]
async fn digests_are_asked_of_the_node_named() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(cluster.config()).await;
    let digest = bounded("digest", client.digest("n2", 0, 100))
        .await
        .expect("digest");
    assert_eq!(digest, fake::digest_of("n2"));
    let err = bounded("digest", client.digest("n9", 0, 100))
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), "unknown_node");
    // A digest after the node adopted another topology: refetched once, then answered.
    let addrs: Vec<_> = cluster.nodes.iter().map(|n| n.addr).collect();
    cluster.node("n2").adopt(&fake::topology(5, 16, &addrs));
    let digest = bounded("digest", client.digest("n2", 0, 100))
        .await
        .expect("digest");
    assert_eq!(digest, fake::digest_of("n2"));
    assert_eq!(client.topology().version(), 5);
}

#[tokio::test]
async fn the_batcher_flushes_when_full_and_on_demand() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(cluster.config()).await;
    let mut batcher = Batcher::with_capacity(client, 100);
    let mut flushed = WriteSummary::default();
    for i in 0..250 {
        let push = batcher.push(key(i % 10), Sample::new(i as i64, 1.0, 0));
        if let Some(s) = bounded("push", push).await.expect("push") {
            flushed += s;
        }
    }
    assert_eq!(flushed.samples, 200);
    assert_eq!(batcher.len(), 50);
    let last = bounded("flush", batcher.flush()).await.expect("flush");
    assert_eq!(last.samples, 50);
    assert!(batcher.is_empty());
    assert_eq!(batcher.total().samples, 250);
    let stored: usize = cluster.nodes.iter().map(|n| n.samples()).sum();
    assert_eq!(stored, 250);
}
