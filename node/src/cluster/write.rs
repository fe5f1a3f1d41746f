//! The coordinator's write path: route each series to its owners, store this node's share,
//! forward the rest (already-encoded columns, never re-encoded), acknowledge once every series
//! is stored on W owners, and journal the copies of owners that failed or timed out.

use std::collections::HashMap;
use std::sync::Arc;

use floe_ring::Node;
use floe_storage_format::{Sample, SeriesKey};
use floe_wire::proto::{
    Consistency, ErrorCode, Request, SeriesSamples, WriteMode, WriteRequest, WriteResponse,
};
use tokio::sync::mpsc;

use super::metrics::{DROPPED, JOURNALED, SENT, WRITES};
use super::peers::PeerError;
use super::{Cluster, View};
use crate::server::AppState;
use crate::server::sink::IngestError;

/// One series of a write: decoded (for the local store) and encoded (for the peers).
#[derive(Debug, Clone)]
pub(crate) struct SeriesBatch {
    /// The series.
    pub(crate) key: SeriesKey,
    /// Its samples, normalized.
    pub(crate) samples: Vec<Sample>,
    /// The same, as sent on the wire.
    pub(crate) wire: SeriesSamples,
}

impl SeriesBatch {
    /// Groups a request's samples by series and encodes each series once.
    pub(crate) fn from_parts(
        keys: &[SeriesKey],
        samples: &[(u32, Sample)],
    ) -> Result<Vec<SeriesBatch>, IngestError> {
        let mut per: Vec<Vec<Sample>> = vec![Vec::new(); keys.len()];
        for &(slot, s) in samples {
            let v = per.get_mut(slot as usize).ok_or_else(|| {
                IngestError::BadRequest(format!("sample refers to series {slot} of {}", keys.len()))
            })?;
            v.push(s);
        }
        let mut out = Vec::with_capacity(keys.len());
        for (key, mut samples) in keys.iter().zip(per) {
            if samples.is_empty() {
                continue;
            }
            floe_storage_format::normalize(&mut samples);
            let wire = SeriesSamples::encode_normalized(key, &samples)
                .map_err(|e| IngestError::BadRequest(e.to_string()))?;
            out.push(SeriesBatch {
                key: key.clone(),
                samples,
                wire,
            });
        }
        Ok(out)
    }

    /// Decodes series received on the wire (checking every key and chunk).
    pub(crate) fn from_wire(series: Vec<SeriesSamples>) -> Result<Vec<SeriesBatch>, String> {
        let mut out = Vec::with_capacity(series.len());
        for (i, wire) in series.into_iter().enumerate() {
            let (key, samples) = wire.decode().map_err(|e| format!("series {i}: {e}"))?;
            if samples.is_empty() {
                continue;
            }
            out.push(SeriesBatch { key, samples, wire });
        }
        Ok(out)
    }

    /// Number of samples in `batch`.
    pub(crate) fn count(batch: &[SeriesBatch]) -> usize {
        batch.iter().map(|s| s.samples.len()).sum()
    }
}

/// The keys and indexed samples of `idx` in `batch`, as the sink takes them.
fn local_parts(batch: &[SeriesBatch], idx: &[usize]) -> (Vec<SeriesKey>, Vec<(u32, Sample)>) {
    let mut keys = Vec::with_capacity(idx.len());
    let mut samples = Vec::new();
    for (slot, &i) in idx.iter().enumerate() {
        keys.push(batch[i].key.clone());
        samples.extend(batch[i].samples.iter().map(|&s| (slot as u32, s)));
    }
    (keys, samples)
}

/// What one owner did with its share.
#[derive(Debug)]
enum Outcome {
    Stored,
    /// Failed; `journaled` says whether the copy waits in the journal.
    Failed {
        journaled: bool,
    },
    /// The local store refused the request (the client's fault): nothing else will do better.
    Refused(IngestError),
}

/// Which owners must store which series, grouped by owner list (during a rebalance each
/// series has two: its owners in the current and in the target topology, and the write needs
/// its acknowledgements in both).
struct Plan {
    /// Per owner list: its members, and acknowledgements so far.
    groups: Vec<(Vec<usize>, usize)>,
    /// Per member: the series it owns, and the groups it belongs to.
    per_node: Vec<(Vec<usize>, Vec<usize>)>,
}

impl Plan {
    fn new(view: &View, batch: &[SeriesBatch]) -> Plan {
        let mut index: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut groups: Vec<(Vec<usize>, usize)> = Vec::new();
        let mut per_node = vec![(Vec::new(), Vec::new()); view.members.len()];
        let mut seen: Vec<usize> = Vec::new();
        for (i, s) in batch.iter().enumerate() {
            seen.clear();
            for rv in view.write_rings() {
                let owners: Vec<usize> = rv
                    .ring
                    .owners(s.key.id().ring_position())
                    .iter()
                    .map(|o| rv.member_of[o.get()])
                    .collect();
                for &m in &owners {
                    if !seen.contains(&m) {
                        seen.push(m);
                        per_node[m].0.push(i);
                    }
                }
                let next = groups.len();
                let g = *index.entry(owners.clone()).or_insert(next);
                if g == next {
                    for &m in &owners {
                        per_node[m].1.push(g);
                    }
                    groups.push((owners, 0));
                }
            }
        }
        Plan { groups, per_node }
    }

    /// Counts `node`'s acknowledgement; true when every group has `need`.
    fn ack(&mut self, node: usize, need: usize) -> bool {
        for &g in &self.per_node[node].1 {
            self.groups[g].1 += 1;
        }
        self.satisfied(need)
    }

    fn satisfied(&self, need: usize) -> bool {
        self.groups.iter().all(|(_, acks)| *acks >= need)
    }

    fn min_acks(&self) -> usize {
        self.groups.iter().map(|(_, a)| *a).min().unwrap_or(0)
    }
}

impl Cluster {
    /// Stores `batch` on every owner of each series and answers once each series is on
    /// `consistency` of its owners (the rest finish in the background; an owner that fails
    /// gets its copy in this node's journal for it). Limits are checked before anything is
    /// stored.
    pub(crate) async fn coordinate(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        protocol: &'static str,
        batch: Vec<SeriesBatch>,
        consistency: Consistency,
    ) -> Result<WriteResponse, IngestError> {
        let samples = SeriesBatch::count(&batch) as u64;
        let keys: Vec<&SeriesKey> = batch.iter().map(|s| &s.key).collect();
        state.sink.check_request(&keys, samples as usize)?;
        let view = self.view();
        let replicas = view.current.replicas();
        let need = consistency.required(replicas);
        let mut plan = Plan::new(&view, &batch);
        let batch = Arc::new(batch);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut launched = 0;
        for node in 0..plan.per_node.len() {
            let idx = std::mem::take(&mut plan.per_node[node].0);
            if idx.is_empty() {
                continue;
            }
            launched += 1;
            let to = node;
            let (cluster, state, batch, tx, view) = (
                self.clone(),
                state.clone(),
                batch.clone(),
                tx.clone(),
                view.clone(),
            );
            tokio::spawn(async move {
                let outcome = cluster
                    .store_on(&state, &view, protocol, to, &batch, &idx)
                    .await;
                let _ = tx.send((to, outcome));
            });
        }
        drop(tx);
        let (mut journaled, mut done) = (0u32, 0);
        while let Some((node, outcome)) = rx.recv().await {
            done += 1;
            match outcome {
                Outcome::Stored => {
                    if plan.ack(node, need) {
                        break;
                    }
                }
                Outcome::Failed { journaled: j } => journaled += u32::from(j),
                Outcome::Refused(e) => {
                    self.metrics.add(WRITES, &[("outcome", "rejected")], 1);
                    return Err(e);
                }
            }
            if done == launched {
                break;
            }
        }
        let acks = plan.min_acks();
        if !plan.satisfied(need) {
            self.metrics.add(WRITES, &[("outcome", "unavailable")], 1);
            return Err(IngestError::Unavailable(format!(
                "only {acks} of the {} owners of some series stored the write, {need} needed \
                 for consistency {consistency}; {journaled} missed copies wait in this node's \
                 journals so far (retrying the write is safe; see this node's log if an \
                 owner refused it)",
                replicas
            )));
        }
        // Acknowledged: tee it to the mirror targets (queued in memory, never blocks).
        self.mirrors.tee(&batch);
        self.metrics.add(WRITES, &[("outcome", "ok")], 1);
        Ok(WriteResponse {
            samples,
            acks: acks as u32,
            required: need as u32,
            journaled,
        })
    }

    /// Stores series `idx` of `batch` on node `to`: locally, or by a forward (journaled on
    /// failure).
    async fn store_on(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        view: &View,
        protocol: &'static str,
        to: usize,
        batch: &Arc<Vec<SeriesBatch>>,
        idx: &[usize],
    ) -> Outcome {
        if Some(to) == view.me {
            let (keys, samples) = local_parts(batch, idx);
            let st = state.clone();
            let res =
                tokio::task::spawn_blocking(move || st.sink.write_parts(protocol, &keys, &samples))
                    .await;
            return match res {
                Ok(Ok(_)) => Outcome::Stored,
                Ok(Err(e)) if e.is_client_error() => Outcome::Refused(e),
                Ok(Err(_)) | Err(_) => Outcome::Failed { journaled: false },
            };
        }
        let to = &view.members[to];
        let mut stored = true;
        let mut journaled = true;
        for part in split_by_bytes(batch, idx, FORWARD_BYTES) {
            let series: Vec<SeriesSamples> = part.iter().map(|&i| batch[i].wire.clone()).collect();
            if !stored && journaled {
                // The peer just failed: the rest goes straight to its journal.
                journaled &= self.journal(to, &series).await;
                continue;
            }
            match self.send_replica(to, series.clone()).await {
                Ok(()) => {}
                Err(PeerError::Server { error, .. }) if permanent(error.code) => {
                    // Replaying it would be refused again: say so loudly, do not journal.
                    tracing::error!(peer = to.id, %error, "an owner refused a forwarded write as invalid; that copy is missing there");
                    stored = false;
                    journaled = false;
                }
                Err(e) => {
                    tracing::debug!(peer = to.id, error = %e, "forward failed; journaling");
                    stored = false;
                    journaled &= self.journal(to, &series).await;
                }
            }
        }
        if stored {
            Outcome::Stored
        } else {
            Outcome::Failed { journaled }
        }
    }

    /// Sends `series` to node `to` to store (a forward, a replay or a repair).
    pub(crate) async fn send_replica(
        &self,
        to: &Node,
        series: Vec<SeriesSamples>,
    ) -> Result<(), super::peers::PeerError> {
        self.send_replica_with(to, series, false).await
    }

    /// [`Cluster::send_replica`]; with `probe`, even to a peer marked down.
    pub(crate) async fn send_replica_with(
        &self,
        to: &Node,
        series: Vec<SeriesSamples>,
        probe: bool,
    ) -> Result<(), super::peers::PeerError> {
        let req = Request::Write(WriteRequest {
            topology: self.topology(),
            consistency: Consistency::One,
            mode: WriteMode::Replica,
            series,
        });
        let peer = to.id.as_str();
        let res = if probe {
            self.peers.probe(to, &req).await
        } else {
            self.peers.call(to, &req).await
        }
        .map(|_| ());
        let outcome = match &res {
            Ok(()) => "ok",
            Err(e) => e.code(),
        };
        self.metrics.add(
            SENT,
            &[("peer", peer), ("request", "write"), ("outcome", outcome)],
            1,
        );
        res
    }

    /// Appends `series` to the journal of `to`; false (logged, counted) when it cannot.
    async fn journal(self: &Arc<Self>, to: &Node, series: &[SeriesSamples]) -> bool {
        let peer = to.id.clone();
        let (journal, wake) = match self.journal_of(&peer) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(peer, error = %e, "cannot open the journal of a peer; the copy is lost until anti-entropy");
                self.metrics
                    .add(DROPPED, &[("peer", &peer), ("reason", "journal")], 1);
                return false;
            }
        };
        let record = match floe_wire::encode_frame(series) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(peer, error = %e, "cannot encode a journal record; the copy is lost until anti-entropy");
                self.metrics
                    .add(DROPPED, &[("peer", &peer), ("reason", "encode")], 1);
                return false;
            }
        };
        let res = tokio::task::spawn_blocking(move || journal.append(&[&record])).await;
        match res {
            Ok(Ok(())) => {
                self.metrics.add(JOURNALED, &[("peer", &peer)], 1);
                wake.notify_one();
                true
            }
            Ok(Err(e)) => {
                tracing::error!(peer, error = %e, "JOURNAL FULL OR FAILING: a write for this peer was not journaled; it stays missing there until anti-entropy or a repair");
                self.metrics
                    .add(DROPPED, &[("peer", &peer), ("reason", "full")], 1);
                false
            }
            Err(e) => {
                tracing::error!(peer, error = %e, "journal append task failed");
                false
            }
        }
    }
}

/// Most encoded bytes of series in one forward (well under the frame limit, so a forward can
/// always be sent and journaled whole).
const FORWARD_BYTES: usize = 8 << 20;

/// `idx` cut into runs whose encoded series stay under `max` bytes (a single larger series
/// gets a run of its own).
fn split_by_bytes<'a>(
    batch: &[SeriesBatch],
    idx: &'a [usize],
    max: usize,
) -> impl Iterator<Item = &'a [usize]> {
    let mut cuts = vec![0];
    let mut size = 0;
    for (pos, &i) in idx.iter().enumerate() {
        let len = batch[i].wire.key.len() + batch[i].wire.chunk.len() + 16;
        if size > 0 && size + len > max {
            cuts.push(pos);
            size = 0;
        }
        size += len;
    }
    cuts.push(idx.len());
    let cuts: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    cuts.into_iter()
        .filter(|(a, b)| b > a)
        .map(move |(a, b)| &idx[a..b])
}

/// Whether a peer's refusal means the record can never be delivered.
pub(crate) fn permanent(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::BadRequest | ErrorCode::Limit)
}
