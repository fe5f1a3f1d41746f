//! The [`Client`]: connects through the seeds, keeps the topology and its ring, retries
//! requests over nodes, and answers queries, digests and topology questions. Writes are in
//! `write.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use floe_ring::Topology;
use floe_wire::proto::{
    DigestRequest, QueryRange, QueryRequest, QueryResult, Request, Response, TopologyRef,
};

use crate::conn::{Pool, Target};
use crate::topology::RingState;
use crate::{ClientConfig, ClientError};

/// A connection to a Floe cluster over QUIC with mutual TLS: token-aware batched writes,
/// PromQL queries, digests. Cheap to clone (the clones share connections and topology);
/// use one per process. Needs a tokio runtime.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

/// What the clones of a client share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) pool: Pool,
    state: RwLock<Arc<RingState>>,
    /// Round-robin start for requests any node can answer.
    next: AtomicUsize,
}

/// A successful answer and how it was obtained.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) resp: Response,
    pub(crate) node: String,
    pub(crate) retries: u32,
}

impl Client {
    /// Checks `config`, binds one QUIC endpoint, and fetches the topology from the first
    /// seed that answers (seeds in order). A seed is dialled with the TLS server name
    /// `localhost`, which every node certificate carries; nodes of the topology are then
    /// dialled by their ids. A certificate the cluster refuses fails here with `tls_refused`
    /// (at the first request, as TLS 1.3 reports it) without trying further seeds.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        config.validate()?;
        let pool = Pool::bind(
            &config.tls,
            config.seeds[0],
            config.request_timeout,
            config.max_in_flight,
        )?;
        let seeds: Vec<Target> = config.seeds.iter().map(|&a| Target::Seed(a)).collect();
        let state = fetch_first(&pool, &seeds).await?;
        tracing::info!(topology = %state.tref, nodes = state.ring.node_count(), "connected");
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                pool,
                state: RwLock::new(Arc::new(state)),
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// The configuration the client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The topology the client routes under now.
    pub fn topology(&self) -> Arc<Topology> {
        self.state().topology.clone()
    }

    /// The version and content hash of [`Client::topology`].
    pub fn topology_ref(&self) -> TopologyRef {
        self.state().tref
    }

    /// Fetches the topology again (from the nodes of the current one, round robin, then the
    /// seeds; the first answer wins) and routes under it from now on.
    pub async fn refresh_topology(&self) -> Result<Arc<Topology>, ClientError> {
        let state = self.state();
        let mut targets = state.targets_from(self.next());
        targets.extend(self.seeds());
        let fresh = fetch_first(&self.inner.pool, &targets).await?;
        Ok(self.install(fresh))
    }

    /// The topology node `node_id` has adopted, as it states it.
    pub async fn node_topology(&self, node_id: &str) -> Result<TopologyRef, ClientError> {
        let target = self.state().target_by_id(node_id)?;
        let answer = self.send_retrying(&[target], &Request::Topology).await?;
        match answer.resp {
            Response::Topology(t) => Ok(t.topology),
            other => Err(unexpected(answer.node, &Request::Topology, &other)),
        }
    }

    /// The digest of what node `node_id` stores in `[start, end]` (ms, inclusive). Retried
    /// on the same node; after a topology mismatch the topology is refetched once.
    pub async fn digest(&self, node_id: &str, start: i64, end: i64) -> Result<u128, ClientError> {
        let make = |state: &RingState| {
            let target = state.target_by_id(node_id)?;
            let req = Request::Digest(DigestRequest {
                topology: state.tref,
                start,
                end,
            });
            Ok((vec![target], req))
        };
        let (answer, req) = self.under_topology(make).await?;
        match answer.resp {
            Response::Digest(d) => Ok(d.digest),
            other => Err(unexpected(answer.node, &req, &other)),
        }
    }

    /// Evaluates a PromQL expression at `time_ms` over the whole cluster (any node
    /// coordinates; retried on the next node).
    pub async fn query(&self, promql: &str, time_ms: i64) -> Result<QueryResult, ClientError> {
        self.run_query(promql, QueryRange::Instant { time: time_ms })
            .await
    }

    /// Evaluates a PromQL expression at every `step` ms from `start` to `end` (ms, inclusive).
    pub async fn query_range(
        &self,
        promql: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, ClientError> {
        self.run_query(promql, QueryRange::Range { start, end, step })
            .await
    }

    /// Closes every connection; later requests fail.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    async fn run_query(&self, promql: &str, range: QueryRange) -> Result<QueryResult, ClientError> {
        let req = Request::Query(QueryRequest {
            query: promql.to_owned(),
            range,
            consistency: self.inner.config.consistency,
        });
        let targets = self.state().targets_from(self.next());
        let answer = self.send_retrying(&targets, &req).await?;
        match answer.resp {
            Response::Query(r) => Ok(r),
            other => Err(unexpected(answer.node, &req, &other)),
        }
    }

    /// The current ring state.
    pub(crate) fn state(&self) -> Arc<RingState> {
        let guard = self.inner.state.read().unwrap_or_else(|p| p.into_inner());
        guard.clone()
    }

    fn install(&self, fresh: RingState) -> Arc<Topology> {
        let topology = fresh.topology.clone();
        let mut guard = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        if guard.tref != fresh.tref {
            tracing::info!(from = %guard.tref, to = %fresh.tref, "topology changed");
        }
        *guard = Arc::new(fresh);
        topology
    }

    fn next(&self) -> usize {
        self.inner.next.fetch_add(1, Ordering::Relaxed)
    }

    fn seeds(&self) -> impl Iterator<Item = Target> + '_ {
        self.inner.config.seeds.iter().map(|&a| Target::Seed(a))
    }

    /// After `error` (a topology mismatch), refetches the topology, asking the node that
    /// complained first (its topology is the one it accepts), then the others, then seeds.
    pub(crate) async fn refresh_after_mismatch(
        &self,
        error: &ClientError,
    ) -> Result<(), ClientError> {
        let state = self.state();
        let mut targets = Vec::new();
        if let ClientError::Server { node, .. } = error {
            targets.extend(state.target_by_id(node).ok());
        }
        for t in state
            .targets_from(self.next())
            .into_iter()
            .chain(self.seeds())
        {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        tracing::info!(error = %error, "refetching the topology");
        let fresh = fetch_first(&self.inner.pool, &targets).await?;
        self.install(fresh);
        Ok(())
    }

    /// Sends a request built under the current topology; after a topology mismatch,
    /// refetches the topology once and sends it again, built under the new one.
    async fn under_topology<F>(&self, make: F) -> Result<(Answer, Request), ClientError>
    where
        F: Fn(&RingState) -> Result<(Vec<Target>, Request), ClientError>,
    {
        let (targets, req) = make(&self.state())?;
        match self.send_retrying(&targets, &req).await {
            Err(e) if e.is_topology_mismatch() => {
                self.refresh_after_mismatch(&e).await?;
                let (targets, req) = make(&self.state())?;
                let answer = self.send_retrying(&targets, &req).await?;
                Ok((answer, req))
            }
            other => Ok((other?, req)),
        }
    }

    /// Sends `req` to `targets[0]`, and on a retryable failure, after a backoff, to the next
    /// target (round), up to `retry.attempts` tries; a target marked down is passed over for
    /// the next one that is not (if any). Other failures return at once. A `node_down`
    /// failure never hides an earlier, more telling one in `no_node_answered`.
    pub(crate) async fn send_retrying(
        &self,
        targets: &[Target],
        req: &Request,
    ) -> Result<Answer, ClientError> {
        let policy = self.inner.config.retry;
        let mut last = None;
        for attempt in 0..policy.attempts {
            if attempt > 0 {
                tokio::time::sleep(policy.delay(attempt - 1)).await;
            }
            let target = self.pick(targets, attempt as usize);
            match self.inner.pool.call(target, req).await {
                Ok(resp) => return Ok(answer(resp, target, attempt)),
                Err(e) if e.is_retryable() => {
                    tracing::debug!(request = req.name(), attempt, error = %e, "will retry");
                    if last.is_none() || !matches!(e, ClientError::NodeDown { .. }) {
                        last = Some(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(exhausted(policy.attempts, last))
    }

    /// The target of try `attempt`: `targets[attempt]` (round), or the next one after it
    /// that is not marked down; if all are, `targets[attempt]` anyway.
    fn pick<'t>(&self, targets: &'t [Target], attempt: usize) -> &'t Target {
        let n = targets.len();
        let mut round = (0..n).map(|i| &targets[(attempt + i) % n]);
        let up = round.find(|t| !self.inner.pool.is_down(t));
        up.unwrap_or(&targets[attempt % n])
    }
}

fn answer(resp: Response, target: &Target, retries: u32) -> Answer {
    Answer {
        resp,
        node: target.name(),
        retries,
    }
}

fn exhausted(attempts: u32, last: Option<ClientError>) -> ClientError {
    let last = last.unwrap_or_else(|| ClientError::Config {
        reason: "no node to send the request to".into(),
    });
    ClientError::NoNodeAnswered {
        attempts,
        last: Box::new(last),
    }
}

/// Asks each target in turn for its topology; the first valid answer wins. Moves on after a
/// retryable failure or an invalid document; any other failure (a refused certificate)
/// returns at once.
async fn fetch_first(pool: &Pool, targets: &[Target]) -> Result<RingState, ClientError> {
    let mut last = None;
    for target in targets {
        match fetch(pool, target).await {
            Ok(state) => return Ok(state),
            Err(e) if e.is_retryable() || e.code() == "topology" => {
                tracing::warn!(node = %target.name(), error = %e, "no topology from this node");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(exhausted(targets.len() as u32, last))
}

async fn fetch(pool: &Pool, target: &Target) -> Result<RingState, ClientError> {
    match pool.call(target, &Request::Topology).await? {
        Response::Topology(t) => RingState::from_response(&target.name(), &t),
        other => Err(unexpected(target.name(), &Request::Topology, &other)),
    }
}

pub(crate) fn unexpected(node: String, req: &Request, resp: &Response) -> ClientError {
    let got = resp.name();
    ClientError::UnexpectedResponse {
        node,
        request: req.name(),
        got,
    }
}
