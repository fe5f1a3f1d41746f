//! Answers the anti-entropy requests: [`TreeDigestRequest`] (grouped digests, the levels of
//! the tree) and [`SamplesRequest`] (the samples of the series found to differ).

use std::collections::BTreeMap;

use floe_ring::TokenRange;
use floe_storage_format::{Digest, SeriesId, SeriesKey};
use floe_wire::proto::{
    ErrorCode, ErrorResponse, RingRange, SamplesRequest, SamplesResponse, SeriesSamples,
    TreeBucket, TreeDigestRequest, TreeDigestResponse, TreeLevel,
};

use crate::cluster::read::index_matchers;
use crate::engine::Engine;
use crate::index::SeriesRef;

/// Most ranges or series ids in one request.
pub(crate) const MAX_ITEMS: usize = 65_536;
/// Most encoded bytes of series in a [`SamplesResponse`] (below the 16 MiB frame limit).
pub(crate) const MAX_ANSWER_BYTES: usize = 12 << 20;
/// Most parts a range may be split into.
pub(crate) const MAX_PARTS: u32 = 256;

fn bad(message: String) -> ErrorResponse {
    ErrorResponse {
        code: ErrorCode::BadRequest,
        message,
    }
}

fn internal(message: String) -> ErrorResponse {
    ErrorResponse {
        code: ErrorCode::Internal,
        message,
    }
}

/// Finds which of a set of ranges holds a ring position: the ranges cut into non-wrapping
/// inclusive pieces, sorted, searched by binary search.
pub(crate) struct RangeFinder {
    /// `(first, last, range index)`, sorted by `first`.
    pieces: Vec<(u64, u64, usize)>,
}

impl RangeFinder {
    /// Pieces of `ranges` (which must not overlap: see [`RangeFinder::overlapping`]).
    pub(crate) fn new(ranges: &[RingRange]) -> Self {
        let mut pieces = Vec::with_capacity(ranges.len() + 1);
        for (i, r) in ranges.iter().enumerate() {
            let first = r.start.wrapping_add(1);
            if r.start == r.end {
                pieces.push((0, u64::MAX, i));
            } else if first <= r.end && r.start != u64::MAX {
                pieces.push((first, r.end, i));
            } else {
                // Wraps through u64::MAX (or starts right after it).
                if r.start != u64::MAX {
                    pieces.push((first, u64::MAX, i));
                }
                pieces.push((0, r.end, i));
            }
        }
        pieces.sort_unstable();
        Self { pieces }
    }

    /// Whether two of the ranges share a position.
    pub(crate) fn overlapping(&self) -> bool {
        self.pieces.windows(2).any(|w| w[1].0 <= w[0].1)
    }

    /// The index of the range holding `position`.
    pub(crate) fn find(&self, position: u64) -> Option<usize> {
        let at = self.pieces.partition_point(|p| p.0 <= position);
        let (_, last, i) = *self.pieces.get(at.checked_sub(1)?)?;
        (position <= last).then_some(i)
    }
}

/// Which of `parts` equal parts of `range` holds `position` (which the range contains).
pub(crate) fn part_of(range: RingRange, parts: u32, position: u64) -> u32 {
    let r = TokenRange {
        start: range.start,
        end: range.end,
    };
    let offset = u128::from(position.wrapping_sub(range.start).wrapping_sub(1));
    ((offset * u128::from(parts)) / r.len()).min(u128::from(parts - 1)) as u32
}

/// The sub-range of `range` that is its part `part` of `parts` (the inverse of [`part_of`]);
/// `None` for an empty part (a range shorter than `parts` positions) or `part >= parts`.
pub(crate) fn sub_range(range: RingRange, parts: u32, part: u32) -> Option<RingRange> {
    if part >= parts {
        return None;
    }
    let len = TokenRange {
        start: range.start,
        end: range.end,
    }
    .len();
    // Part k holds the offsets o with floor(o * parts / len) == k: o in [ceil(k*len/parts), …).
    let lo = |k: u32| -> u128 { (u128::from(k) * len).div_ceil(u128::from(parts)) };
    let (a, b) = (lo(part), lo(part + 1));
    (a < b).then(|| RingRange {
        start: range.start.wrapping_add(a as u64),
        end: range.start.wrapping_add(b as u64),
    })
}

/// Checks a tree request's shape.
fn check(req: &TreeDigestRequest) -> Result<(), ErrorResponse> {
    if req.bucket_ms <= 0 {
        return Err(bad(format!("bucket_ms {} must be positive", req.bucket_ms)));
    }
    if req.ranges.is_empty() || req.ranges.len() > MAX_ITEMS {
        return Err(bad(format!(
            "{} ranges: between 1 and {MAX_ITEMS} are accepted",
            req.ranges.len()
        )));
    }
    if let TreeLevel::Split(n) = req.level
        && !(1..=MAX_PARTS).contains(&n)
    {
        return Err(bad(format!(
            "split into {n} parts: between 1 and {MAX_PARTS} are accepted"
        )));
    }
    Ok(())
}

/// The series of `engine` that lie in `req.ranges` and match its matchers, with the index of
/// their range.
fn series_in(
    engine: &Engine,
    req: &TreeDigestRequest,
) -> Result<Vec<(SeriesRef, SeriesKey, usize)>, ErrorResponse> {
    let finder = RangeFinder::new(&req.ranges);
    if finder.overlapping() {
        return Err(bad("the ranges of a tree digest must not overlap".into()));
    }
    let candidates = if req.matchers.is_empty() {
        engine.series_in(&|id: SeriesId| finder.find(id.ring_position()).is_some())
    } else {
        let matchers = index_matchers(&req.matchers)?;
        engine.select(&matchers)
    };
    Ok(candidates
        .into_iter()
        .filter_map(|(r, k)| {
            let i = finder.find(k.id().ring_position())?;
            Some((r, k, i))
        })
        .collect())
}

/// Serves a [`TreeDigestRequest`] (blocking).
pub(crate) fn tree_digest(
    engine: &Engine,
    req: &TreeDigestRequest,
) -> Result<TreeDigestResponse, ErrorResponse> {
    check(req)?;
    let series = series_in(engine, req)?;
    let refs: Vec<SeriesRef> = series.iter().map(|(r, _, _)| *r).collect();
    let cells = engine
        .series_digests(&refs, req.start, req.end, req.bucket_ms)
        .map_err(|e| internal(format!("digests: {e}")))?;
    let mut groups: BTreeMap<(i64, u128), (u64, Digest)> = BTreeMap::new();
    let mut listed = Vec::new();
    for c in cells {
        let (_, key, range) = &series[c.series];
        let id = key.id();
        let group = match req.level {
            TreeLevel::Set => 0,
            TreeLevel::Range => range_key(*range),
            TreeLevel::Split(n) => {
                let part = part_of(req.ranges[*range], n, id.ring_position());
                range_key(*range) * u128::from(n) + u128::from(part)
            }
            TreeLevel::Series => {
                if req.keys && listed.last() != Some(&c.series) {
                    listed.push(c.series);
                }
                id.0
            }
        };
        let g = groups.entry((c.bucket, group)).or_default();
        g.0 += c.samples;
        g.1.add(c.digest);
    }
    let keys = listed
        .into_iter()
        .map(|i| {
            let key = &series[i].1;
            let mut bytes = Vec::with_capacity(64);
            key.encode_into(&mut bytes);
            (key.id().0, bytes)
        })
        .collect();
    Ok(TreeDigestResponse {
        buckets: groups
            .into_iter()
            .map(|((time, key), (samples, digest))| TreeBucket {
                time,
                key,
                samples,
                digest: digest.0,
            })
            .collect(),
        keys,
    })
}

fn range_key(i: usize) -> u128 {
    i as u128
}

/// Serves a [`SamplesRequest`] (blocking).
pub(crate) fn samples(
    engine: &Engine,
    req: &SamplesRequest,
) -> Result<SamplesResponse, ErrorResponse> {
    if req.series.len() > MAX_ITEMS {
        return Err(bad(format!(
            "{} series: at most {MAX_ITEMS} are accepted",
            req.series.len()
        )));
    }
    let (mut out, mut bytes) = (Vec::new(), 0usize);
    for &id in &req.series {
        let Some(r) = engine.lookup(SeriesId(id)) else {
            continue;
        };
        let Some(key) = engine.key(r) else { continue };
        let stored = engine
            .read(r, req.start, req.end)
            .map_err(|e| internal(format!("read series {key}: {e}")))?;
        let s = SeriesSamples::encode_normalized(&key, &stored)
            .map_err(|e| internal(format!("encode series {key}: {e}")))?;
        bytes += s.key.len() + s.chunk.len();
        if bytes > MAX_ANSWER_BYTES {
            return Err(ErrorResponse {
                code: ErrorCode::Limit,
                message: format!(
                    "the samples of these {} series exceed {MAX_ANSWER_BYTES} bytes: ask fewer",
                    req.series.len()
                ),
            });
        }
        out.push(s);
    }
    Ok(SamplesResponse { series: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finder_handles_wrapping_and_whole_circle() {
        let ranges = [
            RingRange { start: 10, end: 20 },
            RingRange {
                start: u64::MAX - 5,
                end: 3,
            },
            RingRange {
                start: 20,
                end: 100,
            },
        ];
        let f = RangeFinder::new(&ranges);
        assert_eq!(f.find(10), None);
        assert_eq!(f.find(11), Some(0));
        assert_eq!(f.find(20), Some(0));
        assert_eq!(f.find(21), Some(2));
        assert_eq!(f.find(100), Some(2));
        assert_eq!(f.find(101), None);
        assert_eq!(f.find(u64::MAX), Some(1));
        assert_eq!(f.find(0), Some(1));
        assert_eq!(f.find(3), Some(1));
        assert_eq!(f.find(4), None);
        assert!(!f.overlapping());
        let r = |start, end| RingRange { start, end };
        assert!(RangeFinder::new(&[r(7, 7), r(1, 2)]).overlapping());
        assert!(RangeFinder::new(&[r(1, 5), r(4, 9)]).overlapping());
        assert!(!RangeFinder::new(&[r(1, 5), r(5, 9)]).overlapping());
        let whole = RangeFinder::new(&[RingRange { start: 7, end: 7 }]);
        assert_eq!(whole.find(0), Some(0));
        assert_eq!(whole.find(u64::MAX), Some(0));
        let after_max = RangeFinder::new(&[RingRange {
            start: u64::MAX,
            end: 5,
        }]);
        assert_eq!(after_max.find(u64::MAX), None);
        assert_eq!(after_max.find(0), Some(0));
    }

    #[test]
    fn parts_tile_the_range() {
        for range in [
            RingRange { start: 10, end: 20 },
            RingRange {
                start: u64::MAX - 5,
                end: 3,
            },
            RingRange { start: 9, end: 9 },
            RingRange {
                start: 0,
                end: 1 << 40,
            },
        ] {
            for parts in [1u32, 3, 16, 256] {
                // Empty parts (a range shorter than `parts`) are None; the others tile it.
                let subs: Vec<(usize, RingRange)> = (0..parts)
                    .filter_map(|p| sub_range(range, parts, p).map(|r| (p as usize, r)))
                    .collect();
                assert_eq!(subs[0].1.start, range.start);
                assert_eq!(subs[subs.len() - 1].1.end, range.end);
                for w in subs.windows(2) {
                    assert_eq!(w[0].1.end, w[1].1.start);
                }
                assert!(sub_range(range, parts, parts).is_none());
                // Positions near the part boundaries land in the part whose sub-range holds them.
                for &(p, s) in &subs {
                    let t = TokenRange {
                        start: s.start,
                        end: s.end,
                    };
                    if s.start == s.end && parts > 1 {
                        continue; // the whole circle split in one part
                    }
                    for pos in [s.start.wrapping_add(1), s.end] {
                        assert!(t.contains(pos));
                        assert_eq!(part_of(range, parts, pos), p as u32, "{range:?} {parts}");
                    }
                }
            }
        }
    }
}
