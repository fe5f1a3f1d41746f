//! [`BlockingClient`]: `floe-client` driven from blocking test code, with its own runtime —
//! the way a test writes token-aware over QUIC, queries, and compares the nodes' digests.

use floe_client::{Client, ClientConfig, ClientError, Sample, SeriesKey, WriteSummary};
use floe_wire::proto::QueryResult;

use crate::TestCluster;

/// A `floe-client` [`Client`] with a runtime of its own.
#[derive(Debug)]
pub struct BlockingClient {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl BlockingClient {
    /// Connects with `config`.
    pub fn connect(config: ClientConfig) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let client = runtime.block_on(Client::connect(config))?;
        Ok(Self { runtime, client })
    }

    /// The async client, e.g. for [`BlockingClient::block_on`].
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs a future on this client's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// [`Client::write`].
    pub fn write(&self, samples: &[(SeriesKey, Sample)]) -> Result<WriteSummary, ClientError> {
        self.runtime.block_on(self.client.write(samples))
    }

    /// [`Client::query`].
    pub fn query(&self, promql: &str, time_ms: i64) -> Result<QueryResult, ClientError> {
        self.runtime.block_on(self.client.query(promql, time_ms))
    }

    /// [`Client::digest`] of one node over `[start, end]` ms.
    pub fn digest(&self, node_id: &str, start: i64, end: i64) -> Result<u128, ClientError> {
        self.runtime
            .block_on(self.client.digest(node_id, start, end))
    }

    /// Every node's digest over `[start, end]` ms, by node id (ids in topology order).
    pub fn digests(&self, start: i64, end: i64) -> Result<Vec<(String, u128)>, ClientError> {
        let ids: Vec<String> = self
            .client
            .topology()
            .nodes()
            .iter()
            .map(|n| n.id.clone())
            .collect();
        ids.into_iter()
            .map(|id| Ok((id.clone(), self.digest(&id, start, end)?)))
            .collect()
    }
}

impl Drop for BlockingClient {
    fn drop(&mut self) {
        self.client.close();
    }
}

impl TestCluster {
    /// A client config for this cluster: every node a seed, the `test` client certificate.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new(self.quic_addrs(), self.client_tls())
    }

    /// A connected [`BlockingClient`] with [`TestCluster::client_config`].
    pub fn client(&self) -> anyhow::Result<BlockingClient> {
        BlockingClient::connect(self.client_config())
    }
}
