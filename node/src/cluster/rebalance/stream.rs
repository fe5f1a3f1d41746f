//! Streaming jobs: a node that gains ranges in a rebalance (or refills everything it owns in
//! a rebuild) reads each range page by page from its owners, stores it with the merge rule,
//! and verifies it by digest before it records the range as done. Also the serving side of the
//! two range requests.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use floe_ring::{TokenRange, diff};
use floe_storage_format::{Digest, Sample, SeriesId, SeriesKey, merge};
use floe_wire::proto::{
    ErrorCode, ErrorResponse, JobKind, RangeCursor, RangeDigestRequest, RangeDigestResponse,
    RangeReadRequest, RangeReadResponse, Request, Response, RingRange, SeriesSamples,
};
use tokio::sync::watch;

use super::Progress;
use crate::cluster::Cluster;
use crate::engine::{Engine, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};
use crate::server::AppState;

/// Ranges streamed at once (each is a few round trips; several hide the latency).
const PARALLEL_RANGES: usize = 4;
/// Encoded bytes per page of a range read.
const PAGE_BYTES: u32 = 2 << 20;
/// Longest wait for one page.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Digest comparisons of a range: the first compares totals, the next ones compare per series
/// and re-read the series that differ; after the last, the differing series are checked
/// sample by sample (so 3 re-reads at most).
const VERIFY_ROUNDS: usize = 4;
/// Samples per local append while storing a page.
const APPEND_SAMPLES: usize = 100_000;

/// One range to stream: its positions and the nodes that hold it (ids; best source first).
#[derive(Debug, Clone)]
struct Work {
    range: RingRange,
    sources: Vec<String>,
}

fn wire_range(r: TokenRange) -> RingRange {
    RingRange {
        start: r.start,
        end: r.end,
    }
}

fn contains(r: RingRange, position: u64) -> bool {
    TokenRange {
        start: r.start,
        end: r.end,
    }
    .contains(position)
}

fn internal(message: String) -> ErrorResponse {
    ErrorResponse {
        code: ErrorCode::Internal,
        message,
    }
}

impl Cluster {
    /// The ranges a job must stream, with their sources.
    fn job_work(&self, kind: JobKind) -> Option<(floe_wire::proto::TopologyRef, Vec<Work>)> {
        let view = self.view();
        let me = self.node_id();
        match kind {
            JobKind::Rebalance => {
                let target = view.target.as_ref()?;
                let d = diff(&view.current.ring, &target.ring);
                let work = d
                    .changes()
                    .iter()
                    .filter(|c| c.gained.iter().any(|g| g == me))
                    .map(|c| {
                        // Owners that stay first: they keep serving, a leaving node may go.
                        let mut sources: Vec<String> =
                            c.before.iter().filter(|b| *b != me).cloned().collect();
                        sources.sort_by_key(|s| c.lost.contains(s));
                        Work {
                            range: wire_range(c.range),
                            sources,
                        }
                    })
                    .collect();
                Some((target.tref, work))
            }
            JobKind::Rebuild => {
                let rv = &view.current;
                let mine = rv.me?;
                let work = rv
                    .ring
                    .ranges()
                    .filter(|(_, owners)| owners.contains(&mine))
                    .map(|(r, owners)| Work {
                        range: wire_range(r),
                        sources: owners
                            .iter()
                            .filter(|&&o| o != mine)
                            .map(|&o| rv.ring.node_id(o).to_string())
                            .collect(),
                    })
                    .collect();
                Some((rv.tref, work))
            }
        }
    }

    /// Runs a job until every range is verified, the job is cancelled or the node stops.
    pub(crate) async fn run_job(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        kind: JobKind,
        stop: watch::Receiver<bool>,
    ) {
        let Some((tref, work)) = self.job_work(kind) else {
            return;
        };
        let Some(job) = self.persisted_job().filter(|j| j.is_for(kind, tref)) else {
            return;
        };
        let total = work.len() as u32;
        let done_before = work.iter().filter(|w| job.is_done(w.range)).count() as u32;
        *self.rebalance.progress() = Some(Progress {
            kind,
            ranges_total: total,
            ranges_done: done_before,
            samples: 0,
            bytes: 0,
            started: Instant::now(),
            ranges_at_start: done_before,
            done: false,
            error: None,
        });
        tracing::info!(
            job = super::state::job_kind_str(kind),
            ranges = total,
            already_done = done_before,
            "streaming job started"
        );
        let started = Instant::now();
        let streamed = Arc::new(AtomicU64::new(0));
        let mut failures = 0u32;
        let mut queue: VecDeque<Work> =
            work.into_iter().filter(|w| !job.is_done(w.range)).collect();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < PARALLEL_RANGES && !*stop.borrow() {
                let Some(w) = queue.pop_front() else { break };
                let (c, st, streamed, stop) =
                    (self.clone(), state.clone(), streamed.clone(), stop.clone());
                running.spawn(async move {
                    let res = c.stream_range(&st, &w, &streamed, started, &stop).await;
                    (w, res)
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            if *stop.borrow() {
                return;
            }
            let Ok((w, res)) = joined else {
                tracing::error!("a range streaming task failed; the job stops until the next tick");
                return;
            };
            match res {
                Ok(()) => {
                    if let Err(e) = self.job_range_done(w.range) {
                        tracing::info!(error = %e, "streaming job stopped");
                        return;
                    }
                    if let Some(p) = self.rebalance.progress().as_mut() {
                        p.ranges_done += 1;
                        p.error = None;
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(range = ?w.range, error = %e, "range not streamed; retrying later");
                    if let Some(p) = self.rebalance.progress().as_mut() {
                        p.error = Some(e);
                    }
                    queue.push_back(w);
                    // Back off before going round again: every source may be down.
                    let pause = Duration::from_millis(200 * u64::from(failures.min(10)));
                    tokio::time::sleep(pause).await;
                }
            }
            // A cancelled job (abort) or a change of the view ends this run.
            if self.persisted_job().is_none_or(|j| !j.is_for(kind, tref)) {
                tracing::info!("streaming job cancelled");
                running.abort_all();
                return;
            }
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = self.job_finished(kind, tref) {
            tracing::info!(error = %e, "streaming job stopped");
            return;
        }
        if let Some(p) = self.rebalance.progress().as_mut() {
            p.done = true;
            tracing::info!(
                job = super::state::job_kind_str(kind),
                ranges = p.ranges_total,
                samples = p.samples,
                bytes = p.bytes,
                secs = p.started.elapsed().as_secs_f64(),
                "streaming job done: every range verified"
            );
        }
    }

    /// Streams one range from its first answering source, then verifies it.
    async fn stream_range(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        w: &Work,
        streamed: &AtomicU64,
        started: Instant,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut errors = Vec::new();
        for source in &w.sources {
            match self
                .pull(state, source, w.range, Vec::new(), streamed, started, stop)
                .await
            {
                Ok(()) => return self.verify(state, w, source, streamed, started, stop).await,
                Err(e) => errors.push(format!("{source}: {e}")),
            }
        }
        if w.sources.is_empty() {
            // No other owner holds it (a replication factor of 1 and a wiped node): nothing
            // to fetch.
            return Ok(());
        }
        Err(errors.join("; "))
    }

    /// Reads `range` (or only `series`) from `source` page by page and stores it locally.
    #[allow(clippy::too_many_arguments)]
    async fn pull(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        source: &str,
        range: RingRange,
        series: Vec<u128>,
        streamed: &AtomicU64,
        started: Instant,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), String> {
        let node = self
            .member_node(source)
            .ok_or_else(|| format!("{source} is not a member"))?;
        let mut after = None;
        loop {
            if *stop.borrow() {
                return Err("stopping".into());
            }
            let page = self.read_page(&node, range, &series, after).await?;
            let bytes: u64 = page
                .series
                .iter()
                .map(|s| (s.key.len() + s.chunk.len()) as u64)
                .sum();
            let engine = state.sink.engine().clone();
            let samples = tokio::task::spawn_blocking(move || store(&engine, page.series))
                .await
                .map_err(|e| format!("store task failed: {e}"))??;
            self.count_streamed(samples, bytes);
            let total = streamed.fetch_add(bytes, Ordering::Relaxed) + bytes;
            self.throttle(total, started).await;
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
    }

    /// One page of `range` (only `series`, when not empty) from `node`, after `after`.
    async fn read_page(
        &self,
        node: &floe_ring::Node,
        range: RingRange,
        series: &[u128],
        after: Option<RangeCursor>,
    ) -> Result<RangeReadResponse, String> {
        let req = Request::RangeRead(RangeReadRequest {
            topology: self.topology(),
            range,
            series: series.to_vec(),
            after,
            max_bytes: PAGE_BYTES,
        });
        match self.peers.probe_within(node, &req, PAGE_TIMEOUT).await {
            Ok(Response::RangeRead(p)) => Ok(p),
            Ok(other) => Err(format!("unexpected answer {}", other.name())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sleeps as long as the stream is ahead of the configured rate.
    async fn throttle(&self, streamed: u64, started: Instant) {
        let max = self.max_bytes_per_s();
        if max == 0 {
            return;
        }
        let due = Duration::from_secs_f64(streamed as f64 / max as f64);
        let elapsed = started.elapsed();
        if due > elapsed {
            // Rate limiting, not synchronisation.
            tokio::time::sleep(due - elapsed).await;
        }
    }

    /// Checks the range against `source` by digest; re-reads the series that differ (from
    /// `source`, then from every source); a series still differing after that (it is being
    /// written right now)
    /// passes when this node holds every sample of the source's copy or a winner over it.
    async fn verify(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        w: &Work,
        source: &str,
        streamed: &AtomicU64,
        started: Instant,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), String> {
        let engine = state.sink.engine().clone();
        for round in 0..=VERIFY_ROUNDS {
            let e = engine.clone();
            let range = w.range;
            let per = round > 0;
            // Both sides digest at once (two processes).
            let (theirs, mine) = tokio::join!(
                self.remote_digest(source, range, per),
                tokio::task::spawn_blocking(move || range_digest(&e, range, per))
            );
            let theirs = theirs?;
            let mine = mine.map_err(|e| e.to_string())?.map_err(|e| e.message)?;
            if mine.digest == theirs.digest {
                return Ok(());
            }
            if round == 0 {
                self.count_mismatch();
                continue;
            }
            let ours: HashMap<u128, u128> = mine.per_series.iter().copied().collect();
            let differ: Vec<u128> = theirs
                .per_series
                .iter()
                .filter(|(id, d)| ours.get(id) != Some(d))
                .map(|(id, _)| *id)
                .collect();
            if differ.is_empty() {
                // Only this node has series the source lacks (written since): they are the
                // source's to receive, not a loss here.
                return Ok(());
            }
            if round == VERIFY_ROUNDS {
                return self.covers(&engine, source, w.range, differ).await;
            }
            tracing::debug!(range = ?w.range, series = differ.len(), round, "range digest differs; re-reading those series");
            // From the source compared against first (a write in flight is the usual cause);
            // from every source in the later rounds (a source may lack what another holds).
            let from: Vec<&str> = if round == 1 {
                vec![source]
            } else {
                w.sources.iter().map(String::as_str).collect()
            };
            for s in from {
                if let Err(e) = self
                    .pull(state, s, w.range, differ.clone(), streamed, started, stop)
                    .await
                {
                    tracing::debug!(source = s, error = %e, "re-read failed");
                }
            }
        }
        Err(format!(
            "range {:?} does not verify against {source}",
            w.range
        ))
    }

    async fn remote_digest(
        &self,
        source: &str,
        range: RingRange,
        per_series: bool,
    ) -> Result<RangeDigestResponse, String> {
        let node = self
            .member_node(source)
            .ok_or_else(|| format!("{source} is not a member"))?;
        let req = Request::RangeDigest(RangeDigestRequest {
            topology: self.topology(),
            range,
            per_series,
        });
        match self.peers.probe_within(&node, &req, PAGE_TIMEOUT).await {
            Ok(Response::RangeDigest(d)) => Ok(d),
            Ok(other) => Err(format!("unexpected answer {}", other.name())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// True (Ok) when this node holds, for each of `series`, every sample of `source`'s copy
    /// or a sample that wins over it by the merge rule.
    async fn covers(
        self: &Arc<Self>,
        engine: &Arc<Engine>,
        source: &str,
        range: RingRange,
        series: Vec<u128>,
    ) -> Result<(), String> {
        let node = self
            .member_node(source)
            .ok_or_else(|| format!("{source} is not a member"))?;
        let mut after = None;
        loop {
            let page = self.read_page(&node, range, &series, after).await?;
            let e = engine.clone();
            let series_page = page.series;
            let source = source.to_string();
            tokio::task::spawn_blocking(move || -> Result<(), String> {
                for s in series_page {
                    let (key, theirs) = s.decode().map_err(|e| e.to_string())?;
                    let mine = match e.lookup(key.id()) {
                        Some(r) => e
                            .read(r, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS)
                            .map_err(|e| e.to_string())?,
                        None => Vec::new(),
                    };
                    if let Some(lost) = first_uncovered(&theirs, &mine) {
                        return Err(format!(
                            "series {key} lacks the sample at {} ms that {source} holds",
                            lost.ts
                        ));
                    }
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())??;
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
    }
}

/// The first sample of `theirs` that `mine` neither holds nor beats by the merge rule.
fn first_uncovered(theirs: &[Sample], mine: &[Sample]) -> Option<Sample> {
    let mut j = 0;
    for s in theirs {
        while j < mine.len() && mine[j].ts < s.ts {
            j += 1;
        }
        let ok = j < mine.len() && mine[j].ts == s.ts && merge(mine[j], *s).bit_eq(&mine[j]);
        if !ok {
            return Some(*s);
        }
    }
    None
}

/// Stores decoded pages locally (resolve + append in bounded batches). Returns samples stored.
fn store(engine: &Engine, series: Vec<SeriesSamples>) -> Result<u64, String> {
    let mut keys: Vec<SeriesKey> = Vec::new();
    let mut rows: Vec<(usize, Sample)> = Vec::new();
    let mut total = 0u64;
    let flush =
        |keys: &mut Vec<SeriesKey>, rows: &mut Vec<(usize, Sample)>| -> Result<(), String> {
            if rows.is_empty() {
                keys.clear();
                return Ok(());
            }
            let refs = engine.resolve(keys).map_err(|e| e.to_string())?;
            let items: Vec<_> = rows.iter().map(|&(i, s)| (refs[i], s)).collect();
            engine.append(&items).map_err(|e| e.to_string())?;
            keys.clear();
            rows.clear();
            Ok(())
        };
    for (i, s) in series.into_iter().enumerate() {
        let (key, samples) = s.decode().map_err(|e| format!("series {i}: {e}"))?;
        total += samples.len() as u64;
        let slot = keys.len();
        keys.push(key);
        rows.extend(samples.into_iter().map(|x| (slot, x)));
        if rows.len() >= APPEND_SAMPLES {
            flush(&mut keys, &mut rows)?;
        }
    }
    flush(&mut keys, &mut rows)?;
    Ok(total)
}

/// The series of `range` (and of `only`, when not empty) this node holds, in cursor order.
fn series_of(
    engine: &Engine,
    range: RingRange,
    only: &[u128],
) -> Vec<(crate::index::SeriesRef, SeriesKey)> {
    let only: HashSet<u128> = only.iter().copied().collect();
    engine.series_in(&|id: SeriesId| {
        contains(range, id.ring_position()) && (only.is_empty() || only.contains(&id.0))
    })
}

/// Serves a [`RangeReadRequest`] (blocking).
pub(crate) fn range_read(
    engine: &Engine,
    req: &RangeReadRequest,
) -> Result<RangeReadResponse, ErrorResponse> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let all = series_of(engine, req.range, &req.series);
    let mut it = all
        .into_iter()
        .filter(|(_, k)| {
            let c = RangeCursor {
                position: k.id().ring_position(),
                series: k.id().0,
            };
            req.after.is_none_or(|a| c > a)
        })
        .peekable();
    while let Some((r, key)) = it.next() {
        let samples = engine
            .read(r, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS)
            .map_err(|e| internal(format!("read series {key}: {e}")))?;
        let last = Some(RangeCursor {
            position: key.id().ring_position(),
            series: key.id().0,
        });
        if samples.is_empty() {
            continue;
        }
        let s = SeriesSamples::encode_normalized(&key, &samples)
            .map_err(|e| internal(e.to_string()))?;
        bytes += s.key.len() + s.chunk.len();
        out.push(s);
        if bytes >= req.max_bytes as usize && it.peek().is_some() {
            return Ok(RangeReadResponse {
                series: out,
                next: last,
            });
        }
    }
    Ok(RangeReadResponse {
        series: out,
        next: None,
    })
}

/// Serves a [`RangeDigestRequest`] (blocking): the one digest function over the range.
pub(crate) fn range_digest(
    engine: &Engine,
    range: RingRange,
    per_series: bool,
) -> Result<RangeDigestResponse, ErrorResponse> {
    let mut total = Digest::EMPTY;
    let (mut series, mut samples) = (0u64, 0u64);
    let mut per = Vec::new();
    for (r, key) in series_of(engine, range, &[]) {
        let id = key.id();
        let stored = engine
            .read(r, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS)
            .map_err(|e| internal(format!("read series {key}: {e}")))?;
        if stored.is_empty() {
            continue;
        }
        let mut d = Digest::EMPTY;
        for s in &stored {
            d.add_sample(id, s);
        }
        total.add(d);
        series += 1;
        samples += stored.len() as u64;
        if per_series {
            per.push((id.0, d.0));
        }
    }
    per.sort_unstable();
    Ok(RangeDigestResponse {
        series,
        samples,
        digest: total.0,
        per_series: per,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_accepts_winners_and_refuses_gaps() {
        let theirs = [Sample::new(1, 1.0, 0), Sample::new(2, 2.0, 0)];
        assert_eq!(first_uncovered(&theirs, &theirs), None);
        // A newer version at ts 2 wins over theirs.
        let mine = [Sample::new(1, 1.0, 0), Sample::new(2, 0.5, 3)];
        assert_eq!(first_uncovered(&theirs, &mine), None);
        // A missing sample or a loser is not covered.
        assert_eq!(
            first_uncovered(&theirs, &[Sample::new(1, 1.0, 0)]),
            Some(Sample::new(2, 2.0, 0))
        );
        assert_eq!(
            first_uncovered(&theirs, &[Sample::new(1, 0.5, 0), Sample::new(2, 2.0, 0)]),
            Some(Sample::new(1, 1.0, 0))
        );
    }
}
