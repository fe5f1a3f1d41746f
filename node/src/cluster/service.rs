//! The QUIC service: accepts connections from peers and clients (mutual TLS, checked by the
//! endpoint), reads one request frame per bidirectional stream and answers one response frame.
//! A frame that is too large or of another protocol version is refused by stopping the stream
//! (`STOP_FRAME_REFUSED`); a frame that does not decode is answered with `bad_request`.

use std::sync::Arc;

use floe_wire::proto::{
    DigestResponse, ErrorCode, ErrorResponse, QueryRange, QueryRequest, QueryResult, QuerySeries,
    Request, Response, SelectRequest, SelectResponse, TopologyResponse, WriteMode, WriteRequest,
    WriteResponse,
};
use floe_wire::role::Role;
use floe_wire::{MAX_FRAME_BYTES, STOP_FRAME_REFUSED, WireError};
use tokio::sync::watch;

use super::Cluster;
use super::metrics::SERVED;
use super::read::encode_rows;
use super::write::SeriesBatch;
use crate::server::AppState;
use crate::server::evaluate::EvalFailure;
use crate::server::sink::IngestError;

/// Serves the cluster protocol until `stop` turns true.
pub(crate) async fn serve(
    cluster: Arc<Cluster>,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) {
    let endpoint = cluster.peers.endpoint().clone();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => i,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(incoming) = incoming else { break };
        let (cluster, state) = (cluster.clone(), state.clone());
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => connection(cluster, state, conn).await,
                Err(e) => tracing::info!(error = %e, "QUIC handshake refused or failed"),
            }
        });
    }
}

async fn connection(cluster: Arc<Cluster>, state: Arc<AppState>, conn: quinn::Connection) {
    let role = match floe_wire::role::peer_role(&conn) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::warn!(remote = %conn.remote_address(), error = %e, "connection refused: no usable role in the certificate");
            conn.close(
                quinn::VarInt::from_u32(STOP_FRAME_REFUSED),
                b"certificate has no role",
            );
            return;
        }
    };
    while let Ok((send, recv)) = conn.accept_bi().await {
        let (cluster, state, role) = (cluster.clone(), state.clone(), role.clone());
        tokio::spawn(async move { stream(cluster, state, &role, send, recv).await });
    }
}

/// Refuses node-only requests (replica writes, selects) from a client certificate.
fn allowed(role: &Role, req: &Request) -> Result<(), Response> {
    let node_only = matches!(
        req,
        Request::Select(_)
            | Request::Series(_)
            | Request::RangeRead(_)
            | Request::RangeDigest(_)
            | Request::Ring(_)
            | Request::TreeDigest(_)
            | Request::Samples(_)
            | Request::Write(WriteRequest {
                mode: WriteMode::Replica,
                ..
            })
    );
    match role {
        Role::Client(name) if node_only => Err(error(
            ErrorCode::Forbidden,
            format!(
                "client {name:?} may not send a {} request: it is for nodes (a node \
                 certificate, OU=node)",
                req.name()
            ),
        )),
        _ => Ok(()),
    }
}

async fn stream(
    cluster: Arc<Cluster>,
    state: Arc<AppState>,
    role: &Role,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let req: Request = match floe_wire::read_frame(&mut recv, MAX_FRAME_BYTES).await {
        Ok(r) => r,
        Err(WireError::Decode { reason }) => {
            let resp = error(
                ErrorCode::BadRequest,
                format!("request does not decode: {reason}"),
            );
            answer(&cluster, "undecodable", &mut send, &resp).await;
            return;
        }
        Err(e) => {
            tracing::info!(error = %e, "request frame refused");
            let code = quinn::VarInt::from_u32(STOP_FRAME_REFUSED);
            let _ = recv.stop(code);
            let _ = send.reset(code);
            return;
        }
    };
    let name = req.name();
    let resp = match allowed(role, &req) {
        Ok(()) => dispatch(&cluster, &state, req).await,
        Err(refused) => refused,
    };
    answer(&cluster, name, &mut send, &resp).await;
}

async fn answer(cluster: &Cluster, name: &str, send: &mut quinn::SendStream, resp: &Response) {
    let outcome = match resp {
        Response::Error(e) => e.code.as_str(),
        _ => "ok",
    };
    cluster
        .metrics
        .add(SERVED, &[("request", name), ("outcome", outcome)], 1);
    if let Err(e) = floe_wire::write_frame(send, resp).await {
        tracing::debug!(error = %e, "cannot send a response");
        return;
    }
    let _ = send.finish();
}

fn error(code: ErrorCode, message: String) -> Response {
    Response::Error(ErrorResponse { code, message })
}

async fn dispatch(cluster: &Arc<Cluster>, state: &Arc<AppState>, req: Request) -> Response {
    match req {
        Request::Topology => {
            let view = cluster.view();
            let rv = view.read_ring();
            Response::Topology(TopologyResponse {
                topology: rv.tref,
                toml: rv.topology.to_toml(),
                node: cluster.node_id().to_string(),
            })
        }
        Request::RangeRead(r) => {
            if let Err(e) = cluster.check_topology(r.topology) {
                return Response::Error(e);
            }
            let engine = state.sink.engine().clone();
            match tokio::task::spawn_blocking(move || super::rebalance::range_read(&engine, &r))
                .await
            {
                Ok(Ok(page)) => Response::RangeRead(page),
                Ok(Err(e)) => Response::Error(e),
                Err(e) => error(ErrorCode::Internal, format!("range read task failed: {e}")),
            }
        }
        Request::RangeDigest(d) => {
            if let Err(e) = cluster.check_topology(d.topology) {
                return Response::Error(e);
            }
            let engine = state.sink.engine().clone();
            match tokio::task::spawn_blocking(move || {
                super::rebalance::range_digest(&engine, d.range, d.per_series)
            })
            .await
            {
                Ok(Ok(digest)) => Response::RangeDigest(digest),
                Ok(Err(e)) => Response::Error(e),
                Err(e) => error(
                    ErrorCode::Internal,
                    format!("range digest task failed: {e}"),
                ),
            }
        }
        Request::TreeDigest(t) => {
            if let Err(e) = cluster.check_topology(t.topology) {
                return Response::Error(e);
            }
            let t = match cluster.resolve_tree(t) {
                Ok(t) => t,
                Err(e) => return Response::Error(e),
            };
            let engine = state.sink.engine().clone();
            match tokio::task::spawn_blocking(move || {
                super::entropy::serve::tree_digest(&engine, &t)
            })
            .await
            {
                Ok(Ok(r)) => Response::TreeDigest(r),
                Ok(Err(e)) => Response::Error(e),
                Err(e) => error(ErrorCode::Internal, format!("tree digest task failed: {e}")),
            }
        }
        Request::Samples(q) => {
            if let Err(e) = cluster.check_topology(q.topology) {
                return Response::Error(e);
            }
            let engine = state.sink.engine().clone();
            match tokio::task::spawn_blocking(move || super::entropy::serve::samples(&engine, &q))
                .await
            {
                Ok(Ok(r)) => Response::Samples(r),
                Ok(Err(e)) => Response::Error(e),
                Err(e) => error(ErrorCode::Internal, format!("samples task failed: {e}")),
            }
        }
        Request::Ring(r) => match cluster.handle_ring(r).await {
            Ok(status) => Response::Ring(Box::new(status)),
            Err(e) => Response::Error(e),
        },
        Request::Write(w) => match write(cluster, state, w).await {
            Ok(r) => Response::Write(r),
            Err(e) => Response::Error(e),
        },
        Request::Select(s) => select(cluster, state, s, true).await,
        Request::Series(s) => select(cluster, state, s, false).await,
        Request::Query(q) => query(state, q).await,
        Request::Digest(d) => {
            if let Err(e) = cluster.check_topology(d.topology) {
                return Response::Error(e);
            }
            let engine = state.sink.engine().clone();
            let res = tokio::task::spawn_blocking(move || engine.digest(d.start, d.end)).await;
            match res {
                Ok(Ok(digest)) => Response::Digest(DigestResponse {
                    node: cluster.node_id().to_string(),
                    digest: digest.0,
                }),
                Ok(Err(e)) => error(ErrorCode::Internal, format!("digest: {e}")),
                Err(e) => error(ErrorCode::Internal, format!("digest task failed: {e}")),
            }
        }
    }
}

fn ingest_error(e: IngestError) -> ErrorResponse {
    let code = match &e {
        IngestError::Limit { .. } => ErrorCode::Limit,
        IngestError::BadRequest(_) => ErrorCode::BadRequest,
        IngestError::Engine(_) if e.is_client_error() => ErrorCode::BadRequest,
        IngestError::Engine(_) => ErrorCode::Internal,
        IngestError::Unavailable(_) => ErrorCode::Unavailable,
    };
    ErrorResponse {
        code,
        message: e.to_string(),
    }
}

async fn write(
    cluster: &Arc<Cluster>,
    state: &Arc<AppState>,
    w: WriteRequest,
) -> Result<WriteResponse, ErrorResponse> {
    cluster.check_topology(w.topology)?;
    let bad = |message| ErrorResponse {
        code: ErrorCode::BadRequest,
        message,
    };
    let batch = tokio::task::spawn_blocking(move || SeriesBatch::from_wire(w.series))
        .await
        .map_err(|e| bad(format!("decode task failed: {e}")))?
        .map_err(bad)?;
    match w.mode {
        WriteMode::Coordinate => cluster
            .coordinate(state, "cluster", batch, w.consistency)
            .await
            .map_err(ingest_error),
        WriteMode::Replica => {
            let samples = SeriesBatch::count(&batch) as u64;
            let keys: Vec<_> = batch.iter().map(|s| s.key.clone()).collect();
            let rows: Vec<_> = batch
                .iter()
                .enumerate()
                .flat_map(|(i, s)| s.samples.iter().map(move |&x| (i as u32, x)))
                .collect();
            let st = state.clone();
            tokio::task::spawn_blocking(move || st.sink.write_parts("replica", &keys, &rows))
                .await
                .map_err(|e| bad(format!("write task failed: {e}")))?
                .map_err(ingest_error)?;
            Ok(WriteResponse {
                samples,
                acks: 1,
                required: 1,
                journaled: 0,
            })
        }
    }
}

async fn select(
    cluster: &Arc<Cluster>,
    state: &Arc<AppState>,
    s: SelectRequest,
    with_samples: bool,
) -> Response {
    if let Err(e) = cluster.check_topology(s.topology) {
        return Response::Error(e);
    }
    let (c, engine) = (cluster.clone(), state.sink.engine().clone());
    let res = tokio::task::spawn_blocking(move || {
        let rows = c.local_select(&engine, &s, with_samples)?;
        encode_rows(&rows)
    })
    .await;
    match res {
        Ok(Ok(series)) => Response::Select(SelectResponse { series }),
        Ok(Err(e)) => Response::Error(e),
        Err(e) => error(ErrorCode::Internal, format!("select task failed: {e}")),
    }
}

async fn query(state: &Arc<AppState>, q: QueryRequest) -> Response {
    let opts = state.query.clone();
    let range = q.range;
    let res = crate::server::evaluate::evaluate(
        state,
        opts,
        q.query,
        Some(q.consistency),
        move |s, text, o| match range {
            QueryRange::Instant { time } => floe_query::instant_query(s, text, time, o),
            QueryRange::Range { start, end, step } => {
                floe_query::range_query(s, text, start, end, step, o)
            }
        },
    )
    .await;
    match res {
        Ok((Ok((value, _)), _)) => Response::Query(query_result(value)),
        Ok((Err(e), _)) => {
            let code = match &e {
                floe_query::QueryError::Unavailable(_) => ErrorCode::Unavailable,
                floe_query::QueryError::Timeout { .. } => ErrorCode::Timeout,
                floe_query::QueryError::Storage(_) => ErrorCode::Internal,
                _ => ErrorCode::Query,
            };
            error(code, e.to_string())
        }
        Err(EvalFailure::Busy(e)) => error(ErrorCode::Unavailable, e),
        Err(EvalFailure::Timeout { after_ms }) => error(
            ErrorCode::Timeout,
            format!("query timed out after {after_ms} ms"),
        ),
        Err(EvalFailure::Lost) => error(
            ErrorCode::Internal,
            "query evaluation failed without an answer".into(),
        ),
    }
}

fn query_result(value: floe_query::QueryValue) -> QueryResult {
    use floe_query::QueryValue as V;
    let series = |labels: &floe_query::Labels, points: Vec<(i64, f64)>| QuerySeries {
        labels: labels.pairs().to_vec(),
        timestamps: points.iter().map(|p| p.0).collect(),
        values: points.iter().map(|p| p.1).collect(),
    };
    match value {
        V::Scalar { t, v } => QueryResult::Scalar { time: t, value: v },
        V::String { t, v } => QueryResult::String { time: t, value: v },
        V::Vector(samples) => QueryResult::Vector(
            samples
                .iter()
                .map(|s| series(&s.labels, vec![(s.t, s.v)]))
                .collect(),
        ),
        V::Matrix(m) => QueryResult::Matrix(
            m.iter()
                .map(|s| series(&s.labels, s.points.clone()))
                .collect(),
        ),
    }
}
