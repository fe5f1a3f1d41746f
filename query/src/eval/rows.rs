//! The evaluator's intermediate values: step-aligned rows of an instant vector, raw sample
//! series of a range vector, and the builder that merges rows by label set with Prometheus's
//! duplicate check.

use std::collections::HashMap;
use std::rc::Rc;

use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::value::Labels;
use crate::{METRIC_NAME, QueryError};

/// A hash map keyed by label sets (or signatures), with a fast hash.
pub(crate) type FastMap<K, V> = HashMap<K, V, Xxh3DefaultBuilder>;

/// A new, empty [`FastMap`].
pub(crate) fn fast_map<K, V>() -> FastMap<K, V> {
    HashMap::with_hasher(Xxh3DefaultBuilder)
}

/// One series of an instant vector: its labels and a value (or none) at every step.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) labels: Rc<Labels>,
    pub(crate) vals: Vec<Option<f64>>,
    /// With delayed name removal: the name is still in `labels` but goes at the end of the
    /// evaluation (Prometheus 3's `DropName`). Always false otherwise.
    pub(crate) drop_name: bool,
}

impl Row {
    /// A row without the delayed-removal mark.
    pub(crate) fn new(labels: Rc<Labels>, vals: Vec<Option<f64>>) -> Row {
        Row {
            labels,
            vals,
            drop_name: false,
        }
    }

    /// Whether the row has a value at some step.
    pub(crate) fn any(&self) -> bool {
        self.vals.iter().any(Option::is_some)
    }
}

/// Prometheus's error for two elements with the same labels at one step.
pub(crate) fn same_labelset_error() -> QueryError {
    QueryError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// The labels without `__name__` (shared, not copied, when there is no name).
pub(crate) fn drop_name(labels: &Rc<Labels>) -> Rc<Labels> {
    if labels.get(METRIC_NAME).is_none() {
        return Rc::clone(labels);
    }
    let mut l = (**labels).clone();
    l.remove(METRIC_NAME);
    Rc::new(l)
}

/// Delayed name removal's last step (Prometheus 3's `cleanupMetricLabels`): drops the name of
/// every marked row, then merges rows that now share a label set; values at one step of the
/// same label set are the "same labelset" error.
pub(crate) fn remove_marked_names(
    mut rows: Vec<Row>,
    steps: usize,
    max_points: usize,
) -> Result<Vec<Row>, QueryError> {
    for r in &mut rows {
        if std::mem::take(&mut r.drop_name) {
            r.labels = drop_name(&r.labels);
        }
    }
    merge_rows(rows, steps, max_points)
}

/// [`remove_marked_names`] for a range vector (an instant query of a subquery): series that
/// end up with one label set are merged, unless they have samples at one timestamp.
pub(crate) fn remove_marked_series_names(
    series: Vec<SampleSeries>,
) -> Result<Vec<SampleSeries>, QueryError> {
    let mut out: Vec<SampleSeries> = Vec::with_capacity(series.len());
    let mut index = fast_map::<Rc<Labels>, usize>();
    for mut s in series {
        if std::mem::take(&mut s.drop_name) {
            s.labels = drop_name(&s.labels);
        }
        match index.get(&s.labels) {
            None => {
                index.insert(Rc::clone(&s.labels), out.len());
                out.push(s);
            }
            Some(&i) => {
                let merged = &mut out[i].samples;
                merged.extend(s.samples);
                merged.sort_by_key(|p| p.0);
                if merged.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(same_labelset_error());
                }
            }
        }
    }
    Ok(out)
}

/// Fails if two rows have the same labels, whatever their steps (Prometheus's check on a
/// whole matrix, after unary minus and range-vector functions).
pub(crate) fn check_unique_series(rows: &[Row]) -> Result<(), QueryError> {
    if rows.len() < 2 {
        return Ok(());
    }
    let mut seen = fast_map::<&Labels, ()>();
    for r in rows {
        if seen.insert(&r.labels, ()).is_some() {
            return Err(same_labelset_error());
        }
    }
    Ok(())
}

/// Rows under construction, merged by label set: two values for one label set at one step
/// are Prometheus's "same labelset" error (checked at every step of its `rangeEval`).
pub(crate) struct RowSet {
    steps: usize,
    max_points: usize,
    rows: Vec<Row>,
    index: FastMap<Rc<Labels>, usize>,
}

impl RowSet {
    /// An empty set for a grid of `steps` steps.
    pub(crate) fn new(steps: usize, max_points: usize) -> RowSet {
        RowSet {
            steps,
            max_points,
            rows: Vec::new(),
            index: fast_map(),
        }
    }

    /// The index of the row with `labels`, created (unmarked) if new.
    pub(crate) fn row(&mut self, labels: Rc<Labels>) -> Result<usize, QueryError> {
        self.row_marked(labels, false)
    }

    /// The index of the row with `labels`, created if new with the delayed-removal mark
    /// `drop_name` (the first row of a label set decides, as in Prometheus's `rangeEval`).
    pub(crate) fn row_marked(
        &mut self,
        labels: Rc<Labels>,
        drop_name: bool,
    ) -> Result<usize, QueryError> {
        if let Some(&i) = self.index.get(&labels) {
            return Ok(i);
        }
        let points = (self.rows.len() + 1).saturating_mul(self.steps);
        if points > self.max_points {
            return Err(QueryError::Limit {
                limit: "max_points",
                max: self.max_points,
                detail: format!(
                    "an intermediate result of more than {} series",
                    self.rows.len()
                ),
            });
        }
        let i = self.rows.len();
        self.rows.push(Row {
            labels: Rc::clone(&labels),
            vals: vec![None; self.steps],
            drop_name,
        });
        self.index.insert(labels, i);
        Ok(i)
    }

    /// Whether row `row` already has a value at `step`.
    pub(crate) fn is_set(&self, row: usize, step: usize) -> bool {
        self.rows[row].vals[step].is_some()
    }

    /// Sets row `row` at `step`; a second value there is the "same labelset" error.
    pub(crate) fn set(&mut self, row: usize, step: usize, v: f64) -> Result<(), QueryError> {
        let slot = &mut self.rows[row].vals[step];
        if slot.is_some() {
            return Err(same_labelset_error());
        }
        *slot = Some(v);
        Ok(())
    }

    /// The rows that have at least one value, in creation order.
    pub(crate) fn finish(self) -> Vec<Row> {
        self.rows.into_iter().filter(Row::any).collect()
    }
}

/// Merges rows that share a label set (values at different steps combine; values at the same
/// step are the "same labelset" error). Rows keep their first-seen order.
pub(crate) fn merge_rows(
    rows: Vec<Row>,
    steps: usize,
    max_points: usize,
) -> Result<Vec<Row>, QueryError> {
    if rows.len() < 2 {
        return Ok(rows.into_iter().filter(Row::any).collect());
    }
    let mut set = RowSet::new(steps, max_points);
    for r in rows {
        let i = set.row_marked(Rc::clone(&r.labels), r.drop_name)?;
        for (step, v) in r.vals.iter().enumerate() {
            if let Some(v) = v {
                set.set(i, step, *v)?;
            }
        }
    }
    Ok(set.finish())
}

/// One series of a range vector: labels and samples sorted by time, staleness markers
/// already removed.
#[derive(Debug, Clone)]
pub(crate) struct SampleSeries {
    pub(crate) labels: Rc<Labels>,
    pub(crate) samples: Vec<(i64, f64)>,
    /// The delayed-removal mark of the rows a subquery made this series from.
    pub(crate) drop_name: bool,
}

/// A range vector: the series of a matrix selector or a subquery, with what places their
/// window at each step.
#[derive(Debug, Clone)]
pub(crate) struct RangeSet {
    pub(crate) series: Vec<SampleSeries>,
    /// Length of the window, ms (both ends included, as in Prometheus 2.42).
    pub(crate) range: i64,
    /// `offset`, ms.
    pub(crate) offset: i64,
    /// `@` time, ms.
    pub(crate) at: Option<i64>,
    /// Prometheus quirk for `predict_linear(x[r] @ t)` in a range query: the `@` window moves
    /// with the step (the window ends at `at − offset + (step − first step)`).
    pub(crate) slide_from: Option<i64>,
}

/// A range function's result row for a series: its labels with the metric name dropped — or,
/// under delayed name removal, only marked for dropping — unless the function keeps the name
/// (`last_over_time`), which keeps the series' own mark (`marked`).
pub(crate) fn function_row(
    labels: &Rc<Labels>,
    marked: bool,
    vals: Vec<Option<f64>>,
    keep_name: bool,
    delayed: bool,
) -> Row {
    let (labels, drop_name_later) = match (keep_name, delayed) {
        (true, _) => (Rc::clone(labels), marked),
        (false, true) => (Rc::clone(labels), true),
        (false, false) => (drop_name(labels), false),
    };
    Row {
        labels,
        vals,
        drop_name: drop_name_later,
    }
}

/// Where a range vector's windows lie, without its series (so threads can share it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowSpec {
    /// Length of the window, ms.
    pub(crate) range: i64,
    /// `offset`, ms.
    pub(crate) offset: i64,
    /// `@` time, ms.
    pub(crate) at: Option<i64>,
    /// See [`RangeSet::slide_from`].
    pub(crate) slide_from: Option<i64>,
}

impl WindowSpec {
    /// End of the window at step time `t`.
    pub(crate) fn end(&self, t: i64) -> i64 {
        match (self.at, self.slide_from) {
            (Some(at), Some(first)) => at
                .saturating_sub(self.offset)
                .saturating_add(t.saturating_sub(first)),
            (Some(at), None) => at.saturating_sub(self.offset),
            (None, _) => t.saturating_sub(self.offset),
        }
    }
}

impl RangeSet {
    /// The windows' placement.
    pub(crate) fn spec(&self) -> WindowSpec {
        WindowSpec {
            range: self.range,
            offset: self.offset,
            at: self.at,
            slide_from: self.slide_from,
        }
    }

    /// End of the window at step time `t`.
    pub(crate) fn window_end(&self, t: i64) -> i64 {
        self.spec().end(t)
    }

    /// Each series' window at step `t`.
    pub(crate) fn windows_at(
        &self,
        t: i64,
    ) -> impl Iterator<Item = (&Rc<Labels>, &[(i64, f64)])> + '_ {
        let end = self.window_end(t);
        let start = end.saturating_sub(self.range);
        self.series.iter().map(move |s| {
            let lo = s.samples.partition_point(|x| x.0 < start);
            let hi = s.samples.partition_point(|x| x.0 <= end);
            (&s.labels, &s.samples[lo..hi.max(lo)])
        })
    }
}

/// Moves `[lo, hi)` over `samples` to the window `[start, end]`; windows must not move back.
pub(crate) fn advance_window(
    samples: &[(i64, f64)],
    lo: &mut usize,
    hi: &mut usize,
    start: i64,
    end: i64,
) {
    // Binary searches: a wide step skips most samples without reading them.
    *hi += samples[*hi..].partition_point(|s| s.0 <= end);
    *lo += samples[*lo..*hi].partition_point(|s| s.0 < start);
}
