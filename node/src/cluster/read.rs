//! The coordinator's read path: ask the owners, wait until every ring segment has been
//! answered by as many owners as the consistency level needs (a `one` read asks one covering
//! set of nodes first and the rest after the hedge delay or a failure), merge the replicas'
//! samples with the merge rule, and after a `quorum` or `all` read repair the owners whose
//! copy differs (`repair.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use floe_ring::{Node, NodeIndex};
use floe_storage_format::{Sample, SeriesId, SeriesKey, merge_sorted_columns};
use floe_wire::proto::{
    Consistency, ErrorCode, ErrorResponse, MatchOp as WireOp, Matcher as WireMatcher, Request,
    Response, SelectRequest, SeriesSamples,
};
use tokio::sync::mpsc;

use super::metrics::SENT;
use super::{Cluster, RingView};
use crate::engine::Engine;
use crate::index::{MatchOp, Matcher};

/// One node's answer: its series (and samples, unless only series were asked).
pub(crate) type Rows = Vec<(SeriesKey, Vec<Sample>)>;

/// A node's answer (by its index in the read ring) or why it failed.
type Answer = (NodeIndex, Result<Rows, ErrorResponse>);

/// One series merged over the replicas that answered.
#[derive(Debug)]
pub(crate) struct Merged {
    pub(crate) key: SeriesKey,
    pub(crate) samples: Vec<Sample>,
}

/// What a fan-out gathered: answers in time for the consistency level, and the channel on
/// which the slower nodes still answer (for read repair).
pub(crate) struct Gathered {
    /// The ring the answers' node indexes refer to.
    pub(crate) ring: Arc<RingView>,
    pub(crate) answers: Vec<(NodeIndex, Rows)>,
    pub(crate) late: mpsc::UnboundedReceiver<Answer>,
    pub(crate) outstanding: usize,
}

/// Converts wire matchers to the index's (a bad regex is the asker's fault).
pub(crate) fn index_matchers(ms: &[WireMatcher]) -> Result<Vec<Matcher>, ErrorResponse> {
    ms.iter()
        .map(|m| {
            let op = match m.op {
                WireOp::Equal => MatchOp::Equal,
                WireOp::NotEqual => MatchOp::NotEqual,
                WireOp::Re => MatchOp::RegexMatch,
                WireOp::NotRe => MatchOp::RegexNoMatch,
            };
            Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| ErrorResponse {
                code: ErrorCode::BadRequest,
                message: e.to_string(),
            })
        })
        .collect()
}

fn limit(what: &str, max: u64) -> ErrorResponse {
    ErrorResponse {
        code: ErrorCode::Limit,
        message: format!("limit max_{what} = {max} exceeded by the selection"),
    }
}

impl Cluster {
    /// This node's answer to a select: the series matching `req` with samples in range (only
    /// those it owns when `owned_only`), within the request's limits. Blocking.
    pub(crate) fn local_select(
        &self,
        engine: &Engine,
        req: &SelectRequest,
        with_samples: bool,
    ) -> Result<Rows, ErrorResponse> {
        let matchers = index_matchers(&req.matchers)?;
        let selected = engine.select_in_range(&matchers, req.start, req.end);
        let view = self.view();
        let mut out = Vec::new();
        let mut total = 0u64;
        for (r, key) in selected {
            if req.owned_only && !view.owns(key.id()) {
                continue;
            }
            if out.len() as u64 >= req.max_series {
                return Err(limit("series", req.max_series));
            }
            let samples = if with_samples {
                engine
                    .read(r, req.start, req.end)
                    .map_err(|e| ErrorResponse {
                        code: ErrorCode::Internal,
                        message: format!("read series {key}: {e}"),
                    })?
            } else {
                Vec::new()
            };
            total += samples.len() as u64;
            if total > req.max_samples {
                return Err(limit("samples", req.max_samples));
            }
            if with_samples && samples.is_empty() {
                continue;
            }
            out.push((key, samples));
        }
        Ok(out)
    }

    /// Asks the owners (this node included) for `req` and returns once every segment has
    /// `consistency` answers. `with_samples = false` asks for series only.
    pub(crate) async fn gather(
        self: &Arc<Self>,
        engine: &Arc<Engine>,
        req: SelectRequest,
        with_samples: bool,
        consistency: Consistency,
    ) -> Result<Gathered, ErrorResponse> {
        let view = self.view();
        let rv = view.read_ring().clone();
        let need = consistency.required(rv.replicas());
        let order = ask_order(&rv);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let req = Arc::new(req);
        let mut launched = 0;
        let first = if consistency == Consistency::One {
            cover(&rv, &order)
        } else {
            order.len()
        };
        for &n in &order[..first] {
            self.launch(&rv, n, engine, &req, with_samples, &tx);
            launched += 1;
        }
        let mut coverage = vec![0usize; rv.ring.segment_count()];
        let mut short = coverage.len();
        let mut answers = Vec::new();
        let mut failures = Vec::new();
        let hedge = tokio::time::sleep(self.settings.hedge_delay);
        tokio::pin!(hedge);
        let mut answered = 0;
        while short > 0 {
            let hedged = launched == order.len();
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = &mut hedge, if !hedged => None,
            };
            let Some((node, res)) = msg else {
                if hedged && answered == launched {
                    break;
                }
                self.launch_rest(&rv, &order, &mut launched, engine, &req, with_samples, &tx);
                continue;
            };
            answered += 1;
            match res {
                Ok(rows) => {
                    for &seg in &rv.segments_of[node.get()] {
                        coverage[seg as usize] += 1;
                        if coverage[seg as usize] == need {
                            short -= 1;
                        }
                    }
                    answers.push((node, rows));
                }
                Err(e) => {
                    if matches!(e.code, ErrorCode::Limit | ErrorCode::BadRequest) {
                        return Err(e);
                    }
                    failures.push(format!("{}: {e}", rv.ring.node_id(node)));
                    self.launch_rest(&rv, &order, &mut launched, engine, &req, with_samples, &tx);
                }
            }
            if answered == launched && launched == order.len() && short > 0 {
                break;
            }
        }
        if short > 0 {
            return Err(ErrorResponse {
                code: ErrorCode::Unavailable,
                message: format!(
                    "{short} of {} ring segments were answered by fewer than {need} owners \
                     (consistency {consistency}); failures: {}",
                    coverage.len(),
                    failures.join("; ")
                ),
            });
        }
        Ok(Gathered {
            ring: rv,
            answers,
            late: rx,
            outstanding: launched - answered,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_rest(
        self: &Arc<Self>,
        rv: &Arc<RingView>,
        order: &[NodeIndex],
        launched: &mut usize,
        engine: &Arc<Engine>,
        req: &Arc<SelectRequest>,
        with_samples: bool,
        tx: &mpsc::UnboundedSender<Answer>,
    ) {
        while *launched < order.len() {
            self.launch(rv, order[*launched], engine, req, with_samples, tx);
            *launched += 1;
        }
    }

    /// Starts asking node `n` (this node: a blocking local read).
    fn launch(
        self: &Arc<Self>,
        rv: &Arc<RingView>,
        n: NodeIndex,
        engine: &Arc<Engine>,
        req: &Arc<SelectRequest>,
        with_samples: bool,
        tx: &mpsc::UnboundedSender<Answer>,
    ) {
        let (cluster, engine, req, tx) = (self.clone(), engine.clone(), req.clone(), tx.clone());
        let node = rv.ring.node(n).clone();
        let local = rv.me == Some(n);
        tokio::spawn(async move {
            let res = if local {
                let c = cluster.clone();
                tokio::task::spawn_blocking(move || c.local_select(&engine, &req, with_samples))
                    .await
                    .unwrap_or_else(|e| {
                        Err(ErrorResponse {
                            code: ErrorCode::Internal,
                            message: format!("local read failed: {e}"),
                        })
                    })
            } else {
                cluster.remote_select(&node, &req, with_samples).await
            };
            let _ = tx.send((n, res));
        });
    }

    async fn remote_select(
        &self,
        n: &Node,
        req: &SelectRequest,
        with_samples: bool,
    ) -> Result<Rows, ErrorResponse> {
        let request = if with_samples {
            Request::Select(req.clone())
        } else {
            Request::Series(req.clone())
        };
        let peer = n.id.as_str();
        let res = self.peers.call(n, &request).await;
        let outcome = res.as_ref().map_or_else(|e| e.code(), |_| "ok");
        self.metrics.add(
            SENT,
            &[
                ("peer", peer),
                ("request", request.name()),
                ("outcome", outcome),
            ],
            1,
        );
        let series = match res {
            Ok(Response::Select(s)) => s.series,
            Ok(other) => {
                return Err(ErrorResponse {
                    code: ErrorCode::Internal,
                    message: format!("peer {peer} answered a select with {other:?}"),
                });
            }
            Err(super::peers::PeerError::Server { error, .. }) => return Err(error),
            Err(e) => {
                return Err(ErrorResponse {
                    code: ErrorCode::Unavailable,
                    message: e.to_string(),
                });
            }
        };
        decode_rows(series).map_err(|message| ErrorResponse {
            code: ErrorCode::Internal,
            message: format!("peer {peer}: {message}"),
        })
    }
}

/// Nodes in the order a read asks them: this node first (no network), then the others.
fn ask_order(rv: &RingView) -> Vec<NodeIndex> {
    let mut order: Vec<NodeIndex> = rv.me.into_iter().collect();
    order.extend(
        (0..rv.ring.node_count() as u32)
            .map(NodeIndex)
            .filter(|&n| Some(n) != rv.me),
    );
    order
}

/// How many nodes of `order` cover every segment once (greedy).
fn cover(rv: &RingView, order: &[NodeIndex]) -> usize {
    let mut covered = vec![false; rv.ring.segment_count()];
    let mut left = covered.len();
    for (i, n) in order.iter().enumerate() {
        for &s in &rv.segments_of[n.get()] {
            if !covered[s as usize] {
                covered[s as usize] = true;
                left -= 1;
            }
        }
        if left == 0 {
            return i + 1;
        }
    }
    order.len()
}

/// Decodes a select answer.
pub(crate) fn decode_rows(series: Vec<SeriesSamples>) -> Result<Rows, String> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| s.decode().map_err(|e| format!("series {i}: {e}")))
        .collect()
}

/// Encodes rows for a select answer.
pub(crate) fn encode_rows(rows: &Rows) -> Result<Vec<SeriesSamples>, ErrorResponse> {
    rows.iter()
        .map(|(k, s)| {
            SeriesSamples::encode_normalized(k, s).map_err(|e| ErrorResponse {
                code: ErrorCode::Internal,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Merges the replicas' answers series by series with the merge rule, in series-id order.
pub(crate) fn merge_answers(answers: &[(NodeIndex, Rows)]) -> Vec<Merged> {
    let mut by_id: HashMap<SeriesId, Merged> = HashMap::new();
    let mut scratch = Vec::new();
    for (_, rows) in answers {
        for (key, samples) in rows {
            match by_id.get_mut(&key.id()) {
                None => {
                    by_id.insert(
                        key.id(),
                        Merged {
                            key: key.clone(),
                            samples: samples.clone(),
                        },
                    );
                }
                Some(m) if m.samples == *samples => {}
                Some(m) => {
                    scratch.clear();
                    merge_sorted_columns(&m.samples, samples, &mut scratch);
                    std::mem::swap(&mut m.samples, &mut scratch);
                }
            }
        }
    }
    let mut out: Vec<Merged> = by_id.into_values().collect();
    out.sort_unstable_by_key(|m| m.key.id());
    out
}
