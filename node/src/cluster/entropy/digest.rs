//! The cluster digest: one digest of a whole cluster's data, per time partition and in total
//! (`floectl digest`, `GET /api/v1/admin/digest`), comparable between clusters of any size and
//! topology (`floectl digest compare`).
//!
//! The cluster's data is, per series, the merge (by the merge rule) of its replicas. The ring
//! positions are cut into 256 fixed *position buckets* (the top byte of the position), which
//! do not depend on the topology, and each ring range into its pieces per bucket. Every owner
//! is asked for the digest of each piece it holds per time bucket (`TreeLevel::Range`); where
//! all answering owners agree, that is the piece's digest; where they differ, the piece is
//! resolved series by series (`TreeLevel::Series`) and the series that differ are fetched from
//! every owner and merged, so the digest is the merged data's even while replicas disagree
//! (counted in `replicas_disagree`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use floe_ring::{Node, TokenRange};
use floe_storage_format::{Digest, Sample, SeriesId, SeriesKey, normalize};
use floe_wire::proto::{
    Matcher, RingRange, SamplesRequest, TopologyRef, TreeDigestRequest, TreeLevel,
};
use serde::Serialize;

use super::compare::{PairReport, Side};
use crate::cluster::Cluster;
use crate::server::AppState;

/// Bits of a ring position that name its position bucket.
pub(crate) const BUCKET_BITS: u32 = 8;

/// What to digest.
#[derive(Debug, Clone)]
pub(crate) struct DigestQuery {
    /// First timestamp, inclusive.
    pub(crate) start: i64,
    /// Last timestamp, inclusive.
    pub(crate) end: i64,
    /// Time bucket width.
    pub(crate) bucket_ms: i64,
    /// Only series matching every matcher.
    pub(crate) matchers: Vec<Matcher>,
    /// List the series of this position bucket (and time bucket `series_time`, if set).
    pub(crate) series_of: Option<u8>,
    /// With `series_of`: only this time bucket.
    pub(crate) series_time: Option<i64>,
}

/// One cell: a time bucket × position bucket.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct Cell {
    /// The time bucket's start.
    pub(crate) partition: i64,
    /// The position bucket (top byte of the ring position).
    pub(crate) position_bucket: u8,
    /// Stored samples.
    pub(crate) samples: u64,
    /// Their digest, 32 hex digits.
    #[serde(serialize_with = "hex")]
    pub(crate) digest: u128,
}

/// One series' digest in a listing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct SeriesCell {
    /// The time bucket's start.
    pub(crate) partition: i64,
    /// The series (Prometheus text form).
    pub(crate) series: String,
    /// Stored samples.
    pub(crate) samples: u64,
    /// Their digest, 32 hex digits.
    #[serde(serialize_with = "hex")]
    pub(crate) digest: u128,
}

fn hex<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:032x}"))
}

/// A cluster's digest.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClusterDigest {
    /// The node that computed it.
    pub(crate) node: String,
    /// The topology version it read.
    pub(crate) topology_version: u64,
    /// The window and bucket width.
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) bucket_ms: i64,
    /// Total samples and digest.
    pub(crate) samples: u64,
    #[serde(serialize_with = "hex")]
    pub(crate) digest: u128,
    /// Per time bucket: `(start, samples, digest)`.
    pub(crate) partitions: Vec<Cell>,
    /// Per time bucket × position bucket (non-empty only).
    pub(crate) cells: Vec<Cell>,
    /// Series listing, when asked.
    pub(crate) series: Vec<SeriesCell>,
    /// Pieces (range × position bucket × time bucket) whose replicas disagreed and were
    /// merged; in a series listing, series (× time bucket).
    pub(crate) replicas_disagree: u64,
    /// Owners that could not be asked: the digest covers the other replicas only.
    pub(crate) unreachable: Vec<String>,
}

/// The pieces of ring range `r` cut at position-bucket boundaries, with their bucket.
pub(crate) fn pieces(r: RingRange) -> Vec<(RingRange, u8)> {
    let len = TokenRange {
        start: r.start,
        end: r.end,
    }
    .len();
    let shift = 64 - BUCKET_BITS;
    let mut out = Vec::new();
    let mut off: u128 = 0;
    while off < len {
        let first = r.start.wrapping_add(1).wrapping_add(off as u64);
        let bucket_last = first | ((1u64 << shift) - 1);
        let span = u128::from(bucket_last - first) + 1;
        let take = span.min(len - off);
        let last = first.wrapping_add((take - 1) as u64);
        out.push((
            RingRange {
                start: first.wrapping_sub(1),
                end: last,
            },
            (first >> shift) as u8,
        ));
        off += take;
    }
    out
}

/// One owner's answer for a group: `(owner, samples, digest)`.
type Answer = (usize, u64, u128);

/// One piece: where it lies and who holds it.
struct Piece {
    range: RingRange,
    bucket: u8,
    owners: Vec<usize>,
}

impl Cluster {
    /// Computes the cluster digest of `q` from every owner of every range.
    pub(crate) async fn cluster_digest(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        q: DigestQuery,
    ) -> Result<ClusterDigest, String> {
        if q.bucket_ms <= 0 {
            return Err(format!("bucket_ms {} must be positive", q.bucket_ms));
        }
        let view = self.view();
        let rv = view.read_ring().clone();
        let me = self.node_id().to_string();
        // Sides: one per ring node.
        let sides: Vec<Side> = (0..rv.ring.node_count())
            .map(|i| {
                let n: &Node = rv.ring.node(floe_ring::NodeIndex(i as u32));
                if n.id == me {
                    Side::Local
                } else {
                    Side::Peer(n.clone())
                }
            })
            .collect();
        let mut list: Vec<Piece> = Vec::new();
        for (range, owners) in rv.ring.ranges() {
            let r = RingRange {
                start: range.start,
                end: range.end,
            };
            for (p, bucket) in pieces(r) {
                if q.series_of.is_some_and(|b| b != bucket) {
                    continue;
                }
                list.push(Piece {
                    range: p,
                    bucket,
                    owners: owners.iter().map(|o| o.get()).collect(),
                });
            }
        }
        let tree = |ranges: Vec<RingRange>, start: i64, end: i64, level: TreeLevel, keys: bool| {
            TreeDigestRequest {
                topology: rv.tref,
                ranges,
                shared_with: None,
                start,
                end,
                bucket_ms: q.bucket_ms,
                level,
                matchers: q.matchers.clone(),
                keys,
            }
        };
        let (start, end) = match q.series_time {
            Some(t) => (t.max(q.start), t.saturating_add(q.bucket_ms - 1).min(q.end)),
            None => (q.start, q.end),
        };
        // Ask every node for the pieces it holds, all at once.
        let mut per_node: Vec<Vec<usize>> = vec![Vec::new(); sides.len()];
        for (i, p) in list.iter().enumerate() {
            for &o in &p.owners {
                per_node[o].push(i);
            }
        }
        let level = if q.series_of.is_some() {
            TreeLevel::Series
        } else {
            TreeLevel::Range
        };
        let mut asks = Vec::new();
        for (node, idx) in per_node.iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let ranges: Vec<RingRange> = idx.iter().map(|&i| list[i].range).collect();
            let req = tree(ranges, start, end, level, q.series_of.is_some());
            let (cluster, state, side) = (self.clone(), state.clone(), sides[node].clone());
            asks.push((
                node,
                tokio::spawn(async move {
                    let mut r = PairReport::default();
                    cluster.tree_of(&state, &side, req, &mut r).await
                }),
            ));
        }
        // (piece, time) → per owner (samples, digest); for series listings also per series.
        let mut got: HashMap<(usize, i64), Vec<Answer>> = HashMap::new();
        let mut by_series: HashMap<(usize, i64, u128), Vec<Answer>> = HashMap::new();
        let mut keys: HashMap<u128, String> = HashMap::new();
        let mut answered = vec![false; sides.len()];
        let mut unreachable = Vec::new();
        for (node, task) in asks {
            let res = task.await.map_err(|e| format!("digest task failed: {e}"))?;
            match res {
                Ok(r) => {
                    answered[node] = true;
                    let idx = &per_node[node];
                    if q.series_of.is_some() {
                        for (id, bytes) in r.keys {
                            if let Ok(k) = SeriesKey::decode(&bytes) {
                                keys.insert(id, k.to_string());
                            }
                        }
                        let finder = super::serve::RangeFinder::new(
                            &idx.iter().map(|&i| list[i].range).collect::<Vec<_>>(),
                        );
                        for b in r.buckets {
                            let pos = SeriesId(b.key).ring_position();
                            if let Some(j) = finder.find(pos) {
                                by_series
                                    .entry((idx[j], b.time, b.key))
                                    .or_default()
                                    .push((node, b.samples, b.digest));
                            }
                        }
                    } else {
                        for b in r.buckets {
                            let piece = *super::compare::group(idx, b.key)?;
                            got.entry((piece, b.time))
                                .or_default()
                                .push((node, b.samples, b.digest));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(node = rv.ring.node_id(floe_ring::NodeIndex(node as u32)), error = %e, "cluster digest: an owner did not answer");
                    unreachable.push(
                        rv.ring
                            .node_id(floe_ring::NodeIndex(node as u32))
                            .to_string(),
                    );
                }
            }
        }
        let mut disagree = 0u64;
        let mut cells: BTreeMap<(i64, u8), (u64, Digest)> = BTreeMap::new();
        let mut series_out = Vec::new();
        if q.series_of.is_some() {
            // Group by (time, series) across pieces (a series lies in exactly one piece).
            let mut todo: Vec<(usize, i64, u128)> = Vec::new();
            for (&(piece, time, id), answers) in &by_series {
                let owners: Vec<usize> = list[piece]
                    .owners
                    .iter()
                    .copied()
                    .filter(|&o| answered[o])
                    .collect();
                match agreed(&owners, answers) {
                    Some((samples, digest)) => series_out.push(SeriesCell {
                        partition: time,
                        series: keys
                            .get(&id)
                            .cloned()
                            .unwrap_or_else(|| format!("{id:032x}")),
                        samples,
                        digest,
                    }),
                    None => todo.push((piece, time, id)),
                }
            }
            disagree += todo.len() as u64;
            for (piece, time, id) in todo {
                let (key, merged) = self
                    .merged_series(
                        state,
                        rv.tref,
                        &sides,
                        &list[piece].owners,
                        &answered,
                        id,
                        (
                            time.max(q.start),
                            time.saturating_add(q.bucket_ms - 1).min(q.end),
                        ),
                    )
                    .await?;
                let mut d = Digest::EMPTY;
                merged.iter().for_each(|s| d.add_sample(SeriesId(id), s));
                if !merged.is_empty() {
                    series_out.push(SeriesCell {
                        partition: time,
                        series: key.map_or_else(|| format!("{id:032x}"), |k| k.to_string()),
                        samples: merged.len() as u64,
                        digest: d.0,
                    });
                }
            }
            series_out.sort_by(|a, b| (a.partition, &a.series).cmp(&(b.partition, &b.series)));
            for s in &series_out {
                let bucket = q.series_of.unwrap_or(0);
                let c = cells.entry((s.partition, bucket)).or_default();
                c.0 += s.samples;
                c.1.add(Digest(s.digest));
            }
        } else {
            for (&(piece, time), answers) in &got {
                let p = &list[piece];
                let owners: Vec<usize> =
                    p.owners.iter().copied().filter(|&o| answered[o]).collect();
                let (samples, digest) = match agreed(&owners, answers) {
                    Some(v) => v,
                    None => {
                        disagree += 1;
                        self.merged_piece(state, rv.tref, &sides, p, &answered, &q, time)
                            .await?
                    }
                };
                let c = cells.entry((time, p.bucket)).or_default();
                c.0 += samples;
                c.1.add(Digest(digest));
            }
        }
        let mut partitions: BTreeMap<i64, (u64, Digest)> = BTreeMap::new();
        let mut total = (0u64, Digest::EMPTY);
        let cells: Vec<Cell> = cells
            .into_iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|((t, b), (n, d))| {
                let p = partitions.entry(t).or_default();
                p.0 += n;
                p.1.add(d);
                total.0 += n;
                total.1.add(d);
                Cell {
                    partition: t,
                    position_bucket: b,
                    samples: n,
                    digest: d.0,
                }
            })
            .collect();
        Ok(ClusterDigest {
            node: me,
            topology_version: rv.tref.version,
            start: q.start,
            end: q.end,
            bucket_ms: q.bucket_ms,
            samples: total.0,
            digest: total.1.0,
            partitions: partitions
                .into_iter()
                .map(|(t, (n, d))| Cell {
                    partition: t,
                    position_bucket: 0,
                    samples: n,
                    digest: d.0,
                })
                .collect(),
            cells,
            series: series_out,
            replicas_disagree: disagree,
            unreachable,
        })
    }

    /// The merged digest of a piece in time bucket `time` whose owners disagree: per series,
    /// the agreed digest or the digest of the merge of every owner's samples.
    #[allow(clippy::too_many_arguments)]
    async fn merged_piece(
        self: &Arc<Self>,
        state: &Arc<AppState>,
        tref: TopologyRef,
        sides: &[Side],
        p: &Piece,
        answered: &[bool],
        q: &DigestQuery,
        time: i64,
    ) -> Result<(u64, u128), String> {
        let window = (
            time.max(q.start),
            time.saturating_add(q.bucket_ms - 1).min(q.end),
        );
        let mut per: HashMap<u128, Vec<(usize, u64, u128)>> = HashMap::new();
        let owners: Vec<usize> = p.owners.iter().copied().filter(|&o| answered[o]).collect();
        for &o in &owners {
            let req = TreeDigestRequest {
                topology: tref,
                ranges: vec![p.range],
                shared_with: None,
                start: window.0,
                end: window.1,
                bucket_ms: q.bucket_ms,
                level: TreeLevel::Series,
                matchers: q.matchers.clone(),
                keys: false,
            };
            let mut r = PairReport::default();
            let ans = self.tree_of(state, &sides[o], req, &mut r).await?;
            for b in ans.buckets {
                per.entry(b.key).or_default().push((o, b.samples, b.digest));
            }
        }
        let (mut samples, mut digest) = (0u64, Digest::EMPTY);
        for (id, answers) in per {
            match agreed(&owners, &answers) {
                Some((n, d)) => {
                    samples += n;
                    digest.add(Digest(d));
                }
                None => {
                    let (_, merged) = self
                        .merged_series(state, tref, sides, &p.owners, answered, id, window)
                        .await?;
                    samples += merged.len() as u64;
                    merged
                        .iter()
                        .for_each(|s| digest.add_sample(SeriesId(id), s));
                }
            }
        }
        Ok((samples, digest.0))
    }

    /// Series `id`'s samples in `window`, merged over every answering owner.
    #[allow(clippy::too_many_arguments)]
    async fn merged_series(
        &self,
        state: &Arc<AppState>,
        tref: TopologyRef,
        sides: &[Side],
        owners: &[usize],
        answered: &[bool],
        id: u128,
        window: (i64, i64),
    ) -> Result<(Option<SeriesKey>, Vec<Sample>), String> {
        let mut all = Vec::new();
        let mut key = None;
        for &o in owners.iter().filter(|&&o| answered[o]) {
            let req = SamplesRequest {
                topology: tref,
                series: vec![id],
                start: window.0,
                end: window.1,
            };
            let mut r = PairReport::default();
            for (k, s) in self.samples_of(state, &sides[o], req, &mut r).await? {
                key = Some(k);
                all.extend(s);
            }
        }
        normalize(&mut all);
        Ok((key, all))
    }
}

/// The common `(samples, digest)` when every owner in `owners` answered the same (an owner
/// that answered without listing the group holds nothing of it); `None` when they differ.
fn agreed(owners: &[usize], answers: &[(usize, u64, u128)]) -> Option<(u64, u128)> {
    let value = |o: usize| {
        answers
            .iter()
            .find(|a| a.0 == o)
            .map_or((0, 0), |a| (a.1, a.2))
    };
    let first = value(*owners.first()?);
    owners.iter().all(|&o| value(o) == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cut_at_bucket_boundaries() {
        let whole = pieces(RingRange { start: 5, end: 5 });
        assert_eq!(
            whole.len(),
            257,
            "a range starting inside a bucket ends in it"
        );
        let total: u128 = whole
            .iter()
            .map(|(r, _)| {
                TokenRange {
                    start: r.start,
                    end: r.end,
                }
                .len()
            })
            .sum();
        assert_eq!(total, 1u128 << 64);
        let r = RingRange {
            start: (3u64 << 56) - 10,
            end: (3u64 << 56) + 10,
        };
        let p = pieces(r);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0],
            (
                RingRange {
                    start: (3u64 << 56) - 10,
                    end: (3u64 << 56) - 1
                },
                2
            )
        );
        assert_eq!(
            p[1],
            (
                RingRange {
                    start: (3u64 << 56) - 1,
                    end: (3u64 << 56) + 10
                },
                3
            )
        );
        let wrap = pieces(RingRange {
            start: u64::MAX - 2,
            end: 4,
        });
        assert_eq!(wrap.len(), 2);
        assert_eq!(wrap[0].1, 255);
        assert_eq!(wrap[1].1, 0);
    }

    #[test]
    fn agreement_counts_silence_as_empty() {
        assert_eq!(agreed(&[0, 1], &[(0, 3, 9), (1, 3, 9)]), Some((3, 9)));
        assert_eq!(agreed(&[0, 1], &[(0, 3, 9)]), None);
        assert_eq!(agreed(&[0, 1], &[]), Some((0, 0)));
        assert_eq!(agreed(&[], &[]), None);
    }
}
