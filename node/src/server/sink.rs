//! Where every protocol's decoded samples go: limits are checked, series resolved (created if
//! new) and the samples appended to the engine, all or nothing per request.

use std::collections::HashMap;
use std::sync::Arc;

use floe_storage_format::{Sample, SeriesId, SeriesKey};

use super::config::Limits;
use super::metrics::{INGESTED, REJECTED, ServerMetrics};
use crate::engine::{Engine, EngineError};
use crate::index::SeriesRef;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A configured limit was exceeded; nothing was stored.
    #[error("limit {limit} exceeded: {detail} (max {max})")]
    Limit {
        /// The limit's setting name.
        limit: &'static str,
        /// What exceeded it.
        detail: String,
        /// The configured maximum.
        max: usize,
    },
    /// The request could not be decoded or was invalid; nothing was stored.
    #[error("{0}")]
    BadRequest(String),
    /// The engine failed (a server problem, retryable).
    #[error("storage error: {0}")]
    Engine(#[from] EngineError),
    /// Too few of a series' owners stored the write for its consistency level (cluster
    /// mode; retryable, and retrying is safe: writes are idempotent).
    #[error("not enough replicas: {0}")]
    Unavailable(String),
}

impl IngestError {
    /// True when the sender is at fault (4xx); false for server trouble (5xx).
    pub fn is_client_error(&self) -> bool {
        match self {
            IngestError::Engine(e) => matches!(
                e,
                EngineError::TimestampOutOfRange { .. } | EngineError::UnknownSeries(_)
            ),
            IngestError::Unavailable(_) => false,
            _ => true,
        }
    }

    /// A short, stable reason for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::Limit { limit, .. } => limit,
            IngestError::BadRequest(_) => "bad_request",
            IngestError::Engine(_) => "storage_error",
            IngestError::Unavailable(_) => "unavailable",
        }
    }
}

/// Rows as their distinct series and samples indexing into them.
pub fn index_rows(rows: &[(SeriesKey, Sample)]) -> (Vec<SeriesKey>, Vec<(u32, Sample)>) {
    let mut unique: HashMap<SeriesId, u32> = HashMap::new();
    let mut keys: Vec<SeriesKey> = Vec::new();
    let mut samples = Vec::with_capacity(rows.len());
    for (key, s) in rows {
        let next = keys.len() as u32;
        let slot = *unique.entry(key.id()).or_insert(next);
        if slot == next {
            keys.push(key.clone());
        }
        samples.push((slot, *s));
    }
    (keys, samples)
}

/// The ingest sink shared by every protocol handler.
#[derive(Debug)]
pub struct Sink {
    engine: Arc<Engine>,
    limits: Limits,
    metrics: Arc<ServerMetrics>,
}

impl Sink {
    /// A sink writing into `engine`.
    pub fn new(engine: Arc<Engine>, limits: Limits, metrics: Arc<ServerMetrics>) -> Self {
        Self {
            engine,
            limits,
            metrics,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The daemon's counters.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// Counts a refused request.
    pub fn reject(&self, protocol: &str, err: &IngestError) {
        self.metrics.add(REJECTED, &[protocol, err.reason()], 1);
    }

    /// Stores one request's samples: all of them, or (on any error) none. Blocking: call from a
    /// blocking thread.
    pub fn write(
        &self,
        protocol: &str,
        rows: &[(SeriesKey, Sample)],
    ) -> Result<usize, IngestError> {
        let (keys, samples) = index_rows(rows);
        self.write_parts(protocol, &keys, &samples)
    }

    /// Stores one request given as its series and samples that index into them (what the
    /// decoders produce without cloning a key per sample): all of it, or nothing.
    pub fn write_parts(
        &self,
        protocol: &str,
        keys: &[SeriesKey],
        samples: &[(u32, Sample)],
    ) -> Result<usize, IngestError> {
        let res = self.write_inner(keys, samples);
        match &res {
            Ok(n) => self.metrics.add(INGESTED, &[protocol], *n as u64),
            Err(e) => {
                self.reject(protocol, e);
                if !e.is_client_error() {
                    tracing::error!(protocol, error = %e, "ingest failed on the server side");
                }
            }
        }
        res
    }

    /// Checks a request's size and series keys against the limits (what a coordinator
    /// checks before it routes anything).
    pub fn check_request(&self, keys: &[&SeriesKey], samples: usize) -> Result<(), IngestError> {
        let l = &self.limits;
        if samples > l.max_samples_per_request {
            return Err(IngestError::Limit {
                limit: "max_samples_per_request",
                detail: format!("{samples} samples"),
                max: l.max_samples_per_request,
            });
        }
        for key in keys {
            self.check_key(key)?;
        }
        Ok(())
    }

    fn write_inner(
        &self,
        keys: &[SeriesKey],
        samples: &[(u32, Sample)],
    ) -> Result<usize, IngestError> {
        let refs: Vec<&SeriesKey> = keys.iter().collect();
        self.check_request(&refs, samples.len())?;
        self.check_series_limit(keys)?;
        let refs: Vec<SeriesRef> = self.engine.resolve(keys)?;
        let mut items: Vec<(SeriesRef, Sample)> = Vec::with_capacity(samples.len());
        for &(slot, s) in samples {
            let r = refs.get(slot as usize).ok_or_else(|| {
                IngestError::BadRequest(format!("sample refers to series {slot} of {}", keys.len()))
            })?;
            items.push((*r, s));
        }
        self.engine.append(&items)?;
        Ok(items.len())
    }

    fn check_key(&self, key: &SeriesKey) -> Result<(), IngestError> {
        let l = &self.limits;
        let limit = |limit, detail: String, max| Err(IngestError::Limit { limit, detail, max });
        if key.labels().len() > l.max_labels_per_series {
            return limit(
                "max_labels_per_series",
                format!("series {key} has {} labels", key.labels().len()),
                l.max_labels_per_series,
            );
        }
        if key.name().len() > l.max_label_value_bytes {
            return limit(
                "max_label_value_bytes",
                format!("metric name of {} bytes", key.name().len()),
                l.max_label_value_bytes,
            );
        }
        for (name, value) in key.labels() {
            if name.len() > l.max_label_name_bytes {
                return limit(
                    "max_label_name_bytes",
                    format!("label name {:.64}… of {} bytes", name, name.len()),
                    l.max_label_name_bytes,
                );
            }
            if value.len() > l.max_label_value_bytes {
                return limit(
                    "max_label_value_bytes",
                    format!("label {name} value of {} bytes", value.len()),
                    l.max_label_value_bytes,
                );
            }
        }
        Ok(())
    }

    fn check_series_limit(&self, keys: &[SeriesKey]) -> Result<(), IngestError> {
        let max = self.limits.max_series;
        let known = self.engine.series_count();
        let new = keys
            .iter()
            .filter(|k| self.engine.lookup(k.id()).is_none())
            .count();
        if new > 0 && known + new > max {
            return Err(IngestError::Limit {
                limit: "max_series",
                detail: format!("{known} series held, {new} new in this request"),
                max,
            });
        }
        Ok(())
    }
}
