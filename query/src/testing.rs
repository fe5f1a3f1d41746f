//! An in-memory [`Storage`] for tests and benchmarks: a list of series, selected by matching
//! every matcher against every series (fine for thousands of series, not for production).

use regex::Regex;

use crate::error::StorageError;
use crate::storage::{LabelMatcher, MatchOp, Storage};
use crate::value::{Labels, Series, is_stale_marker};

/// Series held in memory; `select` scans them all.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    series: Vec<Series>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// Adds one series; `samples` are sorted by timestamp here, and a later sample at the
    /// same timestamp replaces the earlier one.
    pub fn add(&mut self, labels: Labels, mut samples: Vec<(i64, f64)>) {
        samples.reverse();
        samples.sort_by_key(|s| s.0);
        samples.dedup_by_key(|s| s.0);
        let stale_markers = samples.iter().any(|s| is_stale_marker(s.1));
        self.series.push(Series {
            labels,
            samples,
            stale_markers,
        });
    }

    /// Adds one series given as `[("__name__", "up"), ("job", "a")]`-style pairs.
    pub fn add_series(&mut self, labels: &[(&str, &str)], samples: Vec<(i64, f64)>) {
        let pairs = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.add(Labels::new(pairs), samples);
    }

    /// All series held.
    pub fn series(&self) -> &[Series] {
        &self.series
    }
}

/// A matcher with its regex compiled (anchored at both ends, as Prometheus anchors it).
struct Compiled<'a> {
    matcher: &'a LabelMatcher,
    regex: Option<Regex>,
}

impl Compiled<'_> {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.matcher.name).unwrap_or("");
        match (self.matcher.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.matcher.value,
            (MatchOp::NotEqual, _) => value != self.matcher.value,
            (MatchOp::Re, Some(re)) => re.is_match(value),
            (MatchOp::NotRe, Some(re)) => !re.is_match(value),
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

fn compile(matcher: &LabelMatcher) -> Result<Compiled<'_>, StorageError> {
    let regex = match matcher.op {
        MatchOp::Re | MatchOp::NotRe => {
            let re = Regex::new(&format!("^(?:{})$", matcher.value)).map_err(|e| StorageError {
                message: format!("invalid regex {:?}: {e}", matcher.value),
            })?;
            Some(re)
        }
        MatchOp::Equal | MatchOp::NotEqual => None,
    };
    Ok(Compiled { matcher, regex })
}

impl Storage for MemoryStorage {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let compiled = matchers
            .iter()
            .map(compile)
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for s in &self.series {
            if !compiled.iter().all(|m| m.matches(&s.labels)) {
                continue;
            }
            let lo = s.samples.partition_point(|x| x.0 < start_ms);
            let hi = s.samples.partition_point(|x| x.0 <= end_ms);
            if lo < hi {
                out.push(Series {
                    labels: s.labels.clone(),
                    samples: s.samples[lo..hi].to_vec(),
                    stale_markers: s.stale_markers,
                });
            }
        }
        Ok(out)
    }
}
