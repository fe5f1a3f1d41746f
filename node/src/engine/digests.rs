//! Per-series, per-time-bucket digests: the leaves of the anti-entropy tree.
//!
//! [`Engine::series_digests`] answers, for a list of series, the digest (the one digest
//! function of `floe-storage-format`) and sample count of each series' stored samples in each
//! time bucket of `[start, end]`.

use floe_storage_format::{Digest, SeriesId};

use super::error::EngineError;
use super::read::read_series;
use super::{Engine, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, read_lock};
use crate::index::SeriesRef;

/// The digest and sample count of one series in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestCell {
    /// Index of the series in the list asked for.
    pub series: usize,
    /// The bucket's start: `ts.div_euclid(bucket_ms) * bucket_ms`.
    pub bucket: i64,
    /// Stored samples in it.
    pub samples: u64,
    /// Their digest.
    pub digest: Digest,
}

impl Engine {
    /// The non-empty `(series, bucket)` cells of `refs` over `start ≤ ts ≤ end`, bucketed by
    /// `bucket_ms` (positive), in the order of `refs` then buckets. Unknown refs have no cells.
    pub fn series_digests(
        &self,
        refs: &[SeriesRef],
        start: i64,
        end: i64,
        bucket_ms: i64,
    ) -> Result<Vec<DigestCell>, EngineError> {
        if bucket_ms <= 0 {
            return Err(EngineError::Config {
                reason: format!("digest bucket width {bucket_ms} ms must be positive"),
            });
        }
        let inner = &self.inner;
        let (start, end) = (start.max(MIN_TIMESTAMP_MS), end.min(MAX_TIMESTAMP_MS));
        let mut out = Vec::new();
        if start > end {
            return Ok(out);
        }
        let ids: Vec<Option<SeriesId>> = {
            let index = read_lock(&inner.index);
            refs.iter().map(|&r| index.try_id(r)).collect()
        };
        let state = read_lock(&inner.state).clone();
        for (i, (&r, id)) in refs.iter().zip(ids).enumerate() {
            let Some(id) = id else { continue };
            let samples = read_series(inner, &state, r, id, start, end)?;
            let mut cur: Option<DigestCell> = None;
            for s in &samples {
                let bucket = s.ts.div_euclid(bucket_ms) * bucket_ms;
                match &mut cur {
                    Some(c) if c.bucket == bucket => {
                        c.samples += 1;
                        c.digest.add_sample(id, s);
                    }
                    _ => {
                        out.extend(cur.take());
                        cur = Some(DigestCell {
                            series: i,
                            bucket,
                            samples: 1,
                            digest: Digest::of_sample(id, s),
                        });
                    }
                }
            }
            out.extend(cur);
        }
        Ok(out)
    }
}
