//! Remote-write bodies in time order, the order Prometheus itself sends: the in-order head of
//! Prometheus only takes samples newer than its newest sample minus one hour, so bodies that
//! hold one host's whole day (`load::remote_write_bodies`) would be refused.

use floe_datagen::{Generator, METRIC_NAMES};
use floe_node::ingest::remote_write::{DecodedSeries, encode_write_request};

/// Most hosts per request (10 series each).
pub const MAX_HOSTS_PER_REQUEST: u32 = 10;
/// Timestamps per series and request: at 10 s, 1,000 s of data; 10 hosts × 10 series × 100 =
/// 10,000 samples per request.
pub const POINTS_PER_REQUEST: usize = 100;

/// Remote-write bodies of up to 10,000 samples: a group of hosts (at most
/// `MAX_HOSTS_PER_REQUEST`, fewer with fewer than 80 hosts so that a time slice has at least 8
/// groups) × 10 series × `POINTS_PER_REQUEST` timestamps, ordered by time slice first, then by
/// host group. With 4 loader connections a series' slice `k + 1` is taken only after every group
/// of slice `k` has been taken, so per-series order holds unless one request stalls while the
/// other connections send a whole slice (Prometheus would count such samples as out of order;
/// the bench reports that count).
pub fn remote_write_time_ordered(generator: &Generator) -> Vec<Vec<u8>> {
    let hosts = generator.config().hosts;
    let points = generator.config().points as usize;
    let per_request = (hosts / 8).clamp(1, MAX_HOSTS_PER_REQUEST);
    let slices = points.div_ceil(POINTS_PER_REQUEST);
    // bodies[slice][group]
    let mut by_slice: Vec<Vec<Vec<u8>>> = vec![Vec::new(); slices];
    for first in (0..hosts).step_by(per_request as usize) {
        let group: Vec<_> = (first..(first + per_request).min(hosts))
            .map(|h| {
                let hs = generator.host_series(h);
                let labels: Vec<Vec<(String, String)>> = (0..10)
                    .map(|f| {
                        let mut l: Vec<(String, String)> = hs
                            .tags
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.clone()))
                            .collect();
                        l.push(("__name__".into(), METRIC_NAMES[f].into()));
                        l.sort();
                        l
                    })
                    .collect();
                (hs, labels)
            })
            .collect();
        for (slice, bodies) in by_slice.iter_mut().enumerate() {
            let start = slice * POINTS_PER_REQUEST;
            let end = (start + POINTS_PER_REQUEST).min(points);
            let mut series = Vec::with_capacity(group.len() * 10);
            for (hs, labels) in &group {
                for (f, l) in labels.iter().enumerate() {
                    series.push(DecodedSeries {
                        labels: l.clone(),
                        samples: (start..end)
                            .map(|i| (hs.timestamps[i], hs.fields[f][i]))
                            .collect(),
                    });
                }
            }
            bodies.push(encode_write_request(&series));
        }
    }
    by_slice.into_iter().flatten().collect()
}
