//! Series, labels and query results.

use std::fmt;

/// Whether `v` is a Prometheus staleness marker (the NaN with bit pattern
/// `0x7ff0000000000002`); any other NaN is an ordinary value. The one definition lives in
/// `floe-storage-format`, beside the rollups that skip the marker.
pub use floe_storage_format::is_stale_marker;

/// A label set, sorted by name, names unique. Empty values are dropped (Prometheus treats an
/// empty label as absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order; later duplicates of a name win; empty
    /// values are dropped.
    pub fn new(mut pairs: Vec<(String, String)>) -> Labels {
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, first| later.0 == first.0);
        Labels(pairs)
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Sets (or with an empty value removes) one label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (name.to_string(), value.to_string())),
        }
    }

    /// Removes one label.
    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            self.0.remove(i);
        }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// One stored series as storage returns it: labels and `(timestamp ms, value)` samples sorted
/// by time, staleness markers included.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels, metric name as `__name__`.
    pub labels: Labels,
    /// Samples sorted by timestamp, one per timestamp.
    pub samples: Vec<(i64, f64)>,
    /// Whether `samples` may hold staleness markers. `false` promises there are none, which
    /// spares range selectors a pass to remove them; storage that does not know says `true`.
    pub stale_markers: bool,
}

/// One element of an instant vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The element's labels.
    pub labels: Labels,
    /// Evaluation timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a range query result (or of a range vector selector at an instant).
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// `(timestamp ms, value)` points sorted by time.
    pub points: Vec<(i64, f64)>,
}

/// The result of a query, as the Prometheus API's `resultType` names them.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// `scalar`: one value at the evaluation time.
    Scalar {
        /// Timestamp, ms.
        t: i64,
        /// Value.
        v: f64,
    },
    /// `string`.
    String {
        /// Timestamp, ms.
        t: i64,
        /// Value.
        v: String,
    },
    /// `vector`: an instant vector.
    Vector(Vec<InstantSample>),
    /// `matrix`: a range query's result, or a range vector selector in an instant query.
    Matrix(Vec<RangeSeries>),
}
