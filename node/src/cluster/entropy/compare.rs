//! Comparing two replicas of a set of ranges: digests first, drill down the tree to the
//! series that differ, then exchange exactly the samples each side lacks.
//!
//! The walk, per pair and time window:
//!
//! 1. `Set`: one digest per time bucket (the engine's partition) for all shared ranges. Equal
//!    everywhere: done — the common case costs one small request per side.
//! 2. For each differing bucket, `Range`: one digest per range.
//! 3. Ranges holding more than [`SERIES_LEVEL_MAX`] samples are split into [`SPLIT`] equal
//!    parts (`Split`), repeatedly (at most [`MAX_SPLITS`] times), keeping only differing parts.
//! 4. `Series` on the remaining (sub-)ranges: the ids of the series that differ.
//! 5. Both sides' samples of those series in that bucket are fetched, merged by the merge rule
//!    (`floe_storage_format::normalize`), and each side is sent the samples it does not hold
//!    bit for bit (`repair::missing`), through the same store path read repair uses.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_ring::Node;
use floe_storage_format::{Sample, SeriesKey, normalize};
use floe_wire::proto::{
    ErrorResponse, Matcher, Request, Response, RingRange, SamplesRequest, TreeBucket,
    TreeDigestRequest, TreeDigestResponse, TreeLevel,
};

use super::serve::{self, sub_range};
use crate::cluster::Cluster;
use crate::cluster::repair::missing;
use crate::server::AppState;

/// A (sub-)range with at most this many samples is compared series by series.
pub(crate) const SERIES_LEVEL_MAX: u64 = 4096;
/// Parts a large range is split into at each level.
pub(crate) const SPLIT: u32 = 16;
/// Most split levels below a range.
pub(crate) const MAX_SPLITS: u32 = 4;
/// Series whose samples are fetched in one request.
const FETCH_BATCH: usize = 512;
/// … and at most about this many samples (one side's), so an answer stays far below the
/// frame limit.
const FETCH_SAMPLES: u64 = 200_000;

/// `ids` (with the larger side's sample count) cut into fetch batches: at most
/// [`FETCH_BATCH`] series and about [`FETCH_SAMPLES`] samples each (a larger series alone).
fn fetch_batches(ids: &[(u128, u64)]) -> Vec<Vec<u128>> {
    let mut out = Vec::new();
    let (mut cur, mut samples) = (Vec::new(), 0u64);
    for &(id, n) in ids {
        if !cur.is_empty() && (cur.len() >= FETCH_BATCH || samples + n > FETCH_SAMPLES) {
            out.push(std::mem::take(&mut cur));
            samples = 0;
        }
        cur.push(id);
        samples += n;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One side of a comparison: this node's engine or a peer.
#[derive(Debug, Clone)]
pub(crate) enum Side {
    /// This node.
    Local,
    /// Another node.
    Peer(Node),
}

/// What one comparison found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PairReport {
    /// Samples compared: the larger side's count over the compared window.
    pub(crate) compared_samples: u64,
    /// Encoded bytes of the requests and answers that crossed the network.
    pub(crate) bytes: u64,
    /// Requests sent to peers.
    pub(crate) requests: u64,
    /// Time buckets whose digests differed at the top.
    pub(crate) differing_buckets: u64,
    /// Series found to differ (per bucket).
    pub(crate) differing_series: u64,
    /// Samples stored on side A / side B to repair them.
    pub(crate) repaired: [u64; 2],
}

impl PairReport {
    /// Adds another report's counts.
    pub(crate) fn add(&mut self, o: &PairReport) {
        self.compared_samples += o.compared_samples;
        self.bytes += o.bytes;
        self.requests += o.requests;
        self.differing_buckets += o.differing_buckets;
        self.differing_series += o.differing_series;
        self.repaired[0] += o.repaired[0];
        self.repaired[1] += o.repaired[1];
    }
}

/// What a comparison covers.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The ranges both sides hold.
    pub(crate) ranges: Vec<RingRange>,
    /// First timestamp compared.
    pub(crate) start: i64,
    /// Last timestamp compared.
    pub(crate) end: i64,
    /// Time bucket width (the engine's partition length).
    pub(crate) bucket_ms: i64,
    /// Only compare, do not repair.
    pub(crate) dry_run: bool,
    /// The two sides' node ids when `ranges` are all the ranges they share: the top level
    /// then names the other node instead of listing the ranges.
    pub(crate) shared: Option<[String; 2]>,
}

/// Spreads repair traffic: at most `bytes_per_s` on average (0: unlimited).
#[derive(Debug)]
pub(crate) struct Throttle {
    bytes_per_s: u64,
    started: Instant,
    sent: u64,
}

impl Throttle {
    pub(crate) fn new(bytes_per_s: u64) -> Self {
        Self {
            bytes_per_s,
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Counts `bytes` and waits until the average rate is back under the limit.
    async fn pace(&mut self, bytes: u64) {
        self.sent += bytes;
        if self.bytes_per_s == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.sent as f64 / self.bytes_per_s as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}

/// The differing `(time, key)` groups of two answers with the larger sample count of each.
fn differing(a: &[TreeBucket], b: &[TreeBucket]) -> Vec<(i64, u128, u64)> {
    let mut m: BTreeMap<(i64, u128), [(u64, u128); 2]> = BTreeMap::new();
    for x in a {
        m.entry((x.time, x.key)).or_default()[0] = (x.samples, x.digest);
    }
    for x in b {
        m.entry((x.time, x.key)).or_default()[1] = (x.samples, x.digest);
    }
    m.into_iter()
        .filter(|(_, [x, y])| x != y)
        .map(|((t, k), [x, y])| (t, k, x.0.max(y.0)))
        .collect()
}

/// The item a group key of an answer names; a key outside the request is the answerer's bug.
pub(crate) fn group<T>(items: &[T], key: u128) -> Result<&T, String> {
    usize::try_from(key)
        .ok()
        .and_then(|k| items.get(k))
        .ok_or_else(|| {
            format!(
                "an answer names group {key}, outside the {} asked for",
                items.len()
            )
        })
}

fn frame_len<T: serde::Serialize>(v: &T) -> u64 {
    floe_wire::encode_frame(v).map_or(0, |f| f.len() as u64)
}

impl Cluster {
    /// One side's digests for `req`.
    pub(crate) async fn tree_of(
        &self,
        state: &Arc<AppState>,
        side: &Side,
        req: TreeDigestRequest,
        report: &mut PairReport,
    ) -> Result<TreeDigestResponse, String> {
        match side {
            Side::Local => {
                let req = self.resolve_tree(req).map_err(|e| e.message)?;
                let engine = state.sink.engine().clone();
                tokio::task::spawn_blocking(move || serve::tree_digest(&engine, &req))
                    .await
                    .map_err(|e| format!("digest task failed: {e}"))?
                    .map_err(|e: ErrorResponse| e.message)
            }
            Side::Peer(node) => {
                let req = Request::TreeDigest(req);
                report.bytes += frame_len(&req);
                report.requests += 1;
                match self.peers.probe(node, &req).await {
                    Ok(Response::TreeDigest(r)) => {
                        report.bytes += frame_len(&Response::TreeDigest(r.clone()));
                        Ok(r)
                    }
                    Ok(other) => Err(format!(
                        "{} answered a tree digest with {}",
                        node.id,
                        other.name()
                    )),
                    Err(e) => Err(format!("tree digest from {}: {e}", node.id)),
                }
            }
        }
    }

    /// One side's stored samples of `series` in `[start, end]`.
    pub(crate) async fn samples_of(
        &self,
        state: &Arc<AppState>,
        side: &Side,
        req: SamplesRequest,
        report: &mut PairReport,
    ) -> Result<Vec<(SeriesKey, Vec<Sample>)>, String> {
        let series = match side {
            Side::Local => {
                let engine = state.sink.engine().clone();
                tokio::task::spawn_blocking(move || serve::samples(&engine, &req))
                    .await
                    .map_err(|e| format!("samples task failed: {e}"))?
                    .map_err(|e| e.message)?
                    .series
            }
            Side::Peer(node) => {
                let req = Request::Samples(req);
                report.bytes += frame_len(&req);
                report.requests += 1;
                match self.peers.probe(node, &req).await {
                    Ok(Response::Samples(r)) => {
                        report.bytes += r
                            .series
                            .iter()
                            .map(|s| (s.key.len() + s.chunk.len() + 4) as u64)
                            .sum::<u64>();
                        r.series
                    }
                    Ok(other) => {
                        return Err(format!(
                            "{} answered a samples request with {}",
                            node.id,
                            other.name()
                        ));
                    }
                    Err(e) => return Err(format!("samples from {}: {e}", node.id)),
                }
            }
        };
        series
            .iter()
            .map(|s| s.decode().map_err(|e| format!("samples answer: {e}")))
            .collect()
    }

    /// Stores `todo` on `side` (through the read-repair store path).
    async fn store_on_side(
        &self,
        state: &Arc<AppState>,
        side: &Side,
        todo: Vec<(SeriesKey, Vec<Sample>)>,
        report: &mut PairReport,
    ) -> Result<(), String> {
        if todo.is_empty() {
            return Ok(());
        }
        let node = match side {
            Side::Local => None,
            Side::Peer(n) => {
                report.requests += 1;
                report.bytes += todo
                    .iter()
                    .map(|(k, s)| (k.to_string().len() + 18 * s.len()) as u64)
                    .sum::<u64>();
                Some(n)
            }
        };
        self.send_repair(state, node, todo).await
    }

    /// Compares sides `a` and `b` over `scope` and, unless it is a dry run, repairs what
    /// differs. `matchers` restrict the series (none: all).
    pub(crate) async fn compare_pair(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        sides: [&Side; 2],
        scope: &Scope,
        throttle: &mut Throttle,
    ) -> Result<PairReport, String> {
        let mut report = PairReport::default();
        let topology = self.topology();
        let ask =
            |ranges: Vec<RingRange>, start: i64, end: i64, level: TreeLevel| TreeDigestRequest {
                topology,
                ranges,
                shared_with: None,
                start,
                end,
                bucket_ms: scope.bucket_ms,
                level,
                matchers: Vec::<Matcher>::new(),
                keys: false,
            };
        let top = match &scope.shared {
            Some([x, y]) => {
                let mut to_a = ask(Vec::new(), scope.start, scope.end, TreeLevel::Set);
                let mut to_b = to_a.clone();
                to_a.shared_with = Some(y.clone());
                to_b.shared_with = Some(x.clone());
                [to_a, to_b]
            }
            None => {
                let req = ask(scope.ranges.clone(), scope.start, scope.end, TreeLevel::Set);
                [req.clone(), req]
            }
        };
        let (a, b) = self.both_of(state, sides, top, &mut report).await?;
        let total = |r: &TreeDigestResponse| r.buckets.iter().map(|x| x.samples).sum::<u64>();
        report.compared_samples = total(&a).max(total(&b));
        let times = differing(&a.buckets, &b.buckets);
        report.differing_buckets = times.len() as u64;
        for (time, _, _) in times {
            let start = time.max(scope.start);
            let end = time.saturating_add(scope.bucket_ms - 1).min(scope.end);
            // Level 2: which ranges differ in this bucket.
            let req = ask(scope.ranges.clone(), start, end, TreeLevel::Range);
            let (a, b) = self.both(state, sides, req, &mut report).await?;
            let mut todo: Vec<(RingRange, u64)> = differing(&a.buckets, &b.buckets)
                .into_iter()
                .map(|(_, k, n)| Ok((*group(&scope.ranges, k)?, n)))
                .collect::<Result<_, String>>()?;
            let mut depth = 0;
            while !todo.is_empty() {
                let (small, large): (Vec<_>, Vec<_>) = todo
                    .into_iter()
                    .partition(|&(_, n)| n <= SERIES_LEVEL_MAX || depth >= MAX_SPLITS);
                todo = Vec::new();
                if !large.is_empty() {
                    let ranges: Vec<RingRange> = large.iter().map(|(r, _)| *r).collect();
                    let req = ask(ranges.clone(), start, end, TreeLevel::Split(SPLIT));
                    let (a, b) = self.both(state, sides, req, &mut report).await?;
                    for (_, k, n) in differing(&a.buckets, &b.buckets) {
                        let (range, part) = (k / u128::from(SPLIT), (k % u128::from(SPLIT)) as u32);
                        // An empty part holds no series: an answer naming one is ignored.
                        if let Some(sub) = sub_range(*group(&ranges, range)?, SPLIT, part) {
                            todo.push((sub, n));
                        }
                    }
                }
                if !small.is_empty() {
                    let ranges: Vec<RingRange> = small.iter().map(|(r, _)| *r).collect();
                    let req = ask(ranges, start, end, TreeLevel::Series);
                    let (a, b) = self.both(state, sides, req, &mut report).await?;
                    let ids: Vec<(u128, u64)> = differing(&a.buckets, &b.buckets)
                        .into_iter()
                        .map(|(_, id, n)| (id, n))
                        .collect();
                    report.differing_series += ids.len() as u64;
                    if !scope.dry_run {
                        for chunk in fetch_batches(&ids) {
                            self.repair_series(
                                state,
                                sides,
                                &chunk,
                                (start, end),
                                &mut report,
                                throttle,
                            )
                            .await?;
                        }
                    }
                }
                depth += 1;
            }
        }
        Ok(report)
    }

    /// Both sides' answers to `req`, asked at once.
    async fn both(
        &self,
        state: &Arc<AppState>,
        sides: [&Side; 2],
        req: TreeDigestRequest,
        report: &mut PairReport,
    ) -> Result<(TreeDigestResponse, TreeDigestResponse), String> {
        self.both_of(state, sides, [req.clone(), req], report).await
    }

    /// Side A's answer to `reqs[0]` and side B's to `reqs[1]`, asked at once.
    async fn both_of(
        &self,
        state: &Arc<AppState>,
        sides: [&Side; 2],
        reqs: [TreeDigestRequest; 2],
        report: &mut PairReport,
    ) -> Result<(TreeDigestResponse, TreeDigestResponse), String> {
        let (mut ra, mut rb) = (PairReport::default(), PairReport::default());
        let [qa, qb] = reqs;
        let (a, b) = tokio::join!(
            self.tree_of(state, sides[0], qa, &mut ra),
            self.tree_of(state, sides[1], qb, &mut rb)
        );
        report.add(&ra);
        report.add(&rb);
        Ok((a?, b?))
    }

    /// Fetches both sides' samples of `ids` in `window`, merges them by the merge rule and
    /// stores on each side what it lacks.
    async fn repair_series(
        &self,
        state: &Arc<AppState>,
        sides: [&Side; 2],
        ids: &[u128],
        window: (i64, i64),
        report: &mut PairReport,
        throttle: &mut Throttle,
    ) -> Result<(), String> {
        let req = SamplesRequest {
            topology: self.topology(),
            series: ids.to_vec(),
            start: window.0,
            end: window.1,
        };
        let before = report.bytes;
        let (mut ra, mut rb) = (PairReport::default(), PairReport::default());
        let (a, b) = tokio::join!(
            self.samples_of(state, sides[0], req.clone(), &mut ra),
            self.samples_of(state, sides[1], req, &mut rb)
        );
        report.add(&ra);
        report.add(&rb);
        let held: [HashMap<u128, (SeriesKey, Vec<Sample>)>; 2] =
            [a?, b?].map(|rows| rows.into_iter().map(|(k, s)| (k.id().0, (k, s))).collect());
        let mut todo: [Vec<(SeriesKey, Vec<Sample>)>; 2] = [Vec::new(), Vec::new()];
        for id in ids {
            let (x, y) = (held[0].get(id), held[1].get(id));
            let Some(key) = x.or(y).map(|(k, _)| k.clone()) else {
                continue;
            };
            let empty = Vec::new();
            let (xs, ys) = (x.map_or(&empty, |v| &v.1), y.map_or(&empty, |v| &v.1));
            let mut merged: Vec<Sample> = xs.iter().chain(ys.iter()).copied().collect();
            normalize(&mut merged);
            for (i, theirs) in [xs, ys].into_iter().enumerate() {
                let lacking = missing(&merged, theirs);
                if !lacking.is_empty() {
                    report.repaired[i] += lacking.len() as u64;
                    todo[i].push((key.clone(), lacking));
                }
            }
        }
        let [ta, tb] = todo;
        let (mut ra, mut rb) = (PairReport::default(), PairReport::default());
        let (x, y) = tokio::join!(
            self.store_on_side(state, sides[0], ta, &mut ra),
            self.store_on_side(state, sides[1], tb, &mut rb)
        );
        report.add(&ra);
        report.add(&rb);
        x?;
        y?;
        throttle.pace(report.bytes - before).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(time: i64, key: u128, samples: u64, digest: u128) -> TreeBucket {
        TreeBucket {
            time,
            key,
            samples,
            digest,
        }
    }

    #[test]
    fn fetch_batches_bound_series_and_samples() {
        let ids: Vec<(u128, u64)> = (0..1000).map(|i| (i, 100)).collect();
        let b = fetch_batches(&ids);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].len(), FETCH_BATCH);
        let big: Vec<(u128, u64)> = vec![(1, 150_000), (2, 150_000), (3, 10), (4, 300_000)];
        assert_eq!(fetch_batches(&big), vec![vec![1], vec![2, 3], vec![4]]);
    }

    #[test]
    fn a_group_outside_the_request_is_an_error_not_a_panic() {
        let items = [10, 20];
        assert_eq!(group(&items, 1), Ok(&20));
        assert!(group(&items, 2).is_err());
        assert!(group(&items, u128::MAX).is_err());
    }

    #[test]
    fn differing_treats_missing_as_empty() {
        let a = [b(0, 1, 5, 10), b(0, 2, 3, 7), b(10, 1, 1, 1)];
        let bb = [b(0, 1, 5, 10), b(0, 2, 4, 8), b(20, 3, 2, 2)];
        assert_eq!(differing(&a, &bb), vec![(0, 2, 4), (10, 1, 1), (20, 3, 2)]);
        assert!(differing(&a, &a).is_empty());
    }
}
