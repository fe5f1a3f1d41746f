//! Token-aware routing, pure (no I/O): samples are grouped by series, normalized, encoded
//! once per part, and packed into batches per primary owner, each within the sample and byte
//! limits of one write request.

use std::collections::{BTreeMap, HashMap};

use floe_ring::{NodeIndex, Ring};
use floe_storage_format::{Sample, SeriesKey, normalize};
use floe_wire::proto::SeriesSamples;

use crate::ClientError;

/// Bytes of a write request besides its series: the `Request` and `WriteRequest` tags, the
/// topology reference (two varints, at most 10 + 19 bytes), consistency, mode and the series
/// count. Generous on purpose.
pub(crate) const REQUEST_OVERHEAD: usize = 64;

/// Limits of one write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most samples.
    pub(crate) max_samples: usize,
    /// Most encoded payload bytes ([`REQUEST_OVERHEAD`] included).
    pub(crate) max_bytes: usize,
}

/// One series' samples, or a slice of them, encoded once.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The series' ring position.
    pub(crate) position: u64,
    /// Samples in the part.
    pub(crate) samples: usize,
    /// Its encoded size inside a request.
    pub(crate) bytes: usize,
    /// The encoded key and chunk.
    pub(crate) series: SeriesSamples,
}

/// Parts sharing one primary owner, within the limits of one request.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    /// The primary owner of every part.
    pub(crate) primary: NodeIndex,
    /// Nodes to try, in order: the primary, then the other owners of the parts, those owning
    /// the most parts first.
    pub(crate) candidates: Vec<NodeIndex>,
    /// The parts.
    pub(crate) parts: Vec<Part>,
    /// Samples in all parts.
    pub(crate) samples: usize,
    /// Encoded request size (an upper bound), [`REQUEST_OVERHEAD`] included.
    pub(crate) bytes: usize,
}

impl Batch {
    fn new(primary: NodeIndex) -> Self {
        Self {
            primary,
            candidates: Vec::new(),
            parts: Vec::new(),
            samples: 0,
            bytes: REQUEST_OVERHEAD,
        }
    }

    fn fits(&self, part: &Part, limits: Limits) -> bool {
        self.parts.is_empty()
            || (self.samples + part.samples <= limits.max_samples
                && self.bytes + part.bytes <= limits.max_bytes)
    }

    fn push(&mut self, part: Part) {
        self.samples += part.samples;
        self.bytes += part.bytes;
        self.parts.push(part);
    }

    fn close(mut self, ring: &Ring) -> Self {
        self.candidates = candidates(ring, self.primary, &self.parts);
        self
    }
}

/// Groups samples by series, in the order each series first appears.
pub(crate) fn group<'a, I>(items: I) -> Vec<(&'a SeriesKey, Vec<Sample>)>
where
    I: IntoIterator<Item = (&'a SeriesKey, &'a [Sample])>,
{
    let mut index: HashMap<&SeriesKey, usize> = HashMap::new();
    let mut groups: Vec<(&SeriesKey, Vec<Sample>)> = Vec::new();
    for (key, samples) in items {
        let i = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.extend_from_slice(samples);
    }
    groups
}

/// Normalizes each series (sorted, one sample per timestamp by the merge rule) and encodes
/// it in parts of at most `limits.max_samples` samples, halved further until each part fits
/// in a request of `limits.max_bytes` (a single sample always makes a part). Series without
/// samples are skipped.
pub(crate) fn encode_parts(
    groups: Vec<(&SeriesKey, Vec<Sample>)>,
    limits: Limits,
) -> Result<Vec<Part>, ClientError> {
    let mut parts = Vec::new();
    for (key, mut samples) in groups {
        normalize(&mut samples);
        let position = key.id().ring_position();
        for chunk in samples.chunks(limits.max_samples.max(1)) {
            encode_fitting(key, position, chunk, limits.max_bytes, &mut parts)?;
        }
    }
    Ok(parts)
}

fn encode_fitting(
    key: &SeriesKey,
    position: u64,
    samples: &[Sample],
    max_bytes: usize,
    out: &mut Vec<Part>,
) -> Result<(), ClientError> {
    let series =
        SeriesSamples::encode_normalized(key, samples).map_err(|source| ClientError::Encode {
            series: key.to_string(),
            source,
        })?;
    let bytes = encoded_len(&series);
    if bytes + REQUEST_OVERHEAD > max_bytes && samples.len() > 1 {
        let (left, right) = samples.split_at(samples.len() / 2);
        encode_fitting(key, position, left, max_bytes, out)?;
        return encode_fitting(key, position, right, max_bytes, out);
    }
    out.push(Part {
        position,
        samples: samples.len(),
        bytes,
        series,
    });
    Ok(())
}

/// The exact postcard size of `s`: two length-prefixed byte strings and a one-byte tag.
pub(crate) fn encoded_len(s: &SeriesSamples) -> usize {
    varint_len(s.key.len()) + s.key.len() + 1 + varint_len(s.chunk.len()) + s.chunk.len()
}

fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

/// Packs parts into batches: one open batch per primary owner, closed when the next part
/// would break a limit. A batch never mixes primaries. Batches come out in the order they
/// closed, then the remaining ones by primary.
pub(crate) fn pack(ring: &Ring, parts: Vec<Part>, limits: Limits) -> Vec<Batch> {
    let mut open: BTreeMap<NodeIndex, Batch> = BTreeMap::new();
    let mut done = Vec::new();
    for part in parts {
        let primary = ring.primary(part.position);
        let batch = open.entry(primary).or_insert_with(|| Batch::new(primary));
        if !batch.fits(&part, limits) {
            let full = std::mem::replace(batch, Batch::new(primary));
            done.push(full.close(ring));
        }
        batch.push(part);
    }
    done.extend(open.into_values().map(|b| b.close(ring)));
    done
}

/// The primary, then every other owner of the parts, most parts owned first (ties: earlier
/// in an owner list first, then by index).
fn candidates(ring: &Ring, primary: NodeIndex, parts: &[Part]) -> Vec<NodeIndex> {
    // Per node: parts owned, and its best place in an owner list (ties keep ring order).
    let mut counts: BTreeMap<NodeIndex, (usize, usize)> = BTreeMap::new();
    for part in parts {
        for (rank, &owner) in ring.owners(part.position).iter().enumerate() {
            let entry = counts.entry(owner).or_insert((0, rank));
            entry.0 += 1;
            entry.1 = entry.1.min(rank);
        }
    }
    counts.remove(&primary);
    let mut rest: Vec<(NodeIndex, (usize, usize))> = counts.into_iter().collect();
    rest.sort_by(|a, b| {
        b.1.0
            .cmp(&a.1.0)
            .then(a.1.1.cmp(&b.1.1))
            .then(a.0.cmp(&b.0))
    });
    std::iter::once(primary)
        .chain(rest.into_iter().map(|(n, _)| n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_ring::{Node, Topology};
    use floe_wire::proto::{Consistency, Request, TopologyRef, WriteMode, WriteRequest};

    fn ring(nodes: usize, replicas: u32) -> Ring {
        let nodes = (0..nodes)
            .map(|i| Node {
                id: format!("n{i}"),
                quic_addr: format!("10.0.0.{i}:7400").parse().expect("addr"),
                http_addr: format!("10.0.0.{i}:8080").parse().expect("addr"),
                zone: format!("z{}", i % 2),
                weight: 1,
            })
            .collect();
        Ring::new(&Topology::new("test", 1, replicas, 64, nodes).expect("topology"))
    }

    fn key(i: usize) -> SeriesKey {
        SeriesKey::new("cpu", [("host", format!("h{i}"))]).expect("key")
    }

    fn samples(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|t| Sample::new(t as i64 * 1000, t as f64 * 0.37, 0))
            .collect()
    }

    /// Samples whose values do not compress (a xorshift sequence).
    fn noisy(n: usize) -> Vec<Sample> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|t| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Sample::new(t as i64 * 1000 + (x % 7) as i64, f64::from_bits(x >> 2), 0)
            })
            .collect()
    }

    fn limits(max_samples: usize, max_bytes: usize) -> Limits {
        Limits {
            max_samples,
            max_bytes,
        }
    }

    fn plan(ring: &Ring, series: &[(SeriesKey, Vec<Sample>)], l: Limits) -> Vec<Batch> {
        let groups = group(series.iter().map(|(k, s)| (k, s.as_slice())));
        pack(ring, encode_parts(groups, l).expect("encode"), l)
    }

    #[test]
    fn each_series_goes_to_its_primary_and_batches_never_mix_primaries() {
        let ring = ring(5, 3);
        let series: Vec<_> = (0..300).map(|i| (key(i), samples(1 + i % 7))).collect();
        let batches = plan(&ring, &series, limits(100, 1 << 20));
        let mut seen = 0;
        for b in &batches {
            for p in &b.parts {
                assert_eq!(ring.owners(p.position)[0], b.primary);
                let (k, _) = p.series.decode().expect("decode");
                assert_eq!(k.id().ring_position(), p.position);
                seen += p.samples;
            }
        }
        let total: usize = series.iter().map(|(_, s)| s.len()).sum();
        assert_eq!(seen, total);
        let primaries: std::collections::BTreeSet<_> = batches.iter().map(|b| b.primary).collect();
        assert_eq!(primaries.len(), 5, "300 series reach every node");
    }

    #[test]
    fn batches_respect_the_sample_limit_and_split_large_series() {
        let ring = ring(3, 2);
        let series = vec![(key(1), samples(1050)), (key(2), samples(10))];
        let batches = plan(&ring, &series, limits(100, 1 << 20));
        for b in &batches {
            assert!(b.samples <= 100, "{} samples", b.samples);
            assert_eq!(b.samples, b.parts.iter().map(|p| p.samples).sum::<usize>());
        }
        let of_1: usize = batches
            .iter()
            .flat_map(|b| &b.parts)
            .filter(|p| p.position == key(1).id().ring_position())
            .map(|p| p.samples)
            .sum();
        assert_eq!(of_1, 1050);
    }

    #[test]
    fn batches_respect_the_byte_limit_and_the_estimate_bounds_the_real_frame() {
        let ring = ring(3, 2);
        let series: Vec<_> = (0..50).map(|i| (key(i), noisy(1000))).collect();
        let max_bytes = 4096;
        let batches = plan(&ring, &series, limits(100_000, max_bytes));
        assert!(batches.len() > 3, "the byte limit splits batches");
        let split = batches
            .iter()
            .flat_map(|b| &b.parts)
            .any(|p| p.samples < 1000);
        assert!(split, "a series too large for one request is halved");
        for b in batches {
            assert!(b.bytes <= max_bytes, "{} bytes", b.bytes);
            let req = Request::Write(WriteRequest {
                topology: TopologyRef {
                    version: u64::MAX,
                    hash: u128::MAX,
                },
                consistency: Consistency::Quorum,
                mode: WriteMode::Coordinate,
                series: b.parts.into_iter().map(|p| p.series).collect(),
            });
            let frame = floe_wire::encode_frame(&req).expect("frame");
            let payload = frame.len() - floe_wire::HEADER_BYTES;
            assert!(
                payload <= b.bytes,
                "payload {payload} > estimate {}",
                b.bytes
            );
        }
    }

    #[test]
    fn duplicate_keys_are_grouped_and_samples_normalized() {
        let k = key(7);
        let input = [
            (
                k.clone(),
                vec![Sample::new(20, 2.0, 0), Sample::new(10, 1.0, 0)],
            ),
            (key(8), vec![Sample::new(5, 5.0, 0)]),
            (k.clone(), vec![Sample::new(10, 3.0, 0)]),
        ];
        let groups = group(input.iter().map(|(k, s)| (k, s.as_slice())));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, &k);
        let parts = encode_parts(groups, limits(10, 1 << 20)).expect("encode");
        let (_, back) = parts[0].series.decode().expect("decode");
        let got: Vec<(i64, f64)> = back.iter().map(|s| (s.ts, s.value)).collect();
        assert_eq!(
            got,
            [(10, 3.0), (20, 2.0)],
            "merge rule keeps the larger value"
        );
        assert_eq!(parts[0].samples, 2);
    }

    #[test]
    fn candidates_start_with_the_primary_and_cover_every_owner() {
        let ring = ring(6, 3);
        let series: Vec<_> = (0..40).map(|i| (key(i), samples(3))).collect();
        for b in plan(&ring, &series, limits(1000, 1 << 20)) {
            assert_eq!(b.candidates[0], b.primary);
            let mut unique = b.candidates.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), b.candidates.len(), "no node twice");
            for p in &b.parts {
                for o in ring.owners(p.position) {
                    assert!(b.candidates.contains(o));
                }
            }
        }
    }

    #[test]
    fn a_single_series_batch_tries_exactly_its_owners_in_ring_order() {
        let ring = ring(6, 3);
        let series = vec![(key(3), samples(5))];
        let b = plan(&ring, &series, limits(1000, 1 << 20));
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].candidates, ring.owners(key(3).id().ring_position()));
    }

    #[test]
    fn empty_input_makes_no_batch_and_varints_are_sized_right() {
        let ring = ring(3, 2);
        assert!(plan(&ring, &[], limits(10, 1 << 20)).is_empty());
        assert!(plan(&ring, &[(key(1), vec![])], limits(10, 1 << 20)).is_empty());
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16_383), 2);
        assert_eq!(varint_len(16_384), 3);
    }
}
