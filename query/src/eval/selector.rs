//! Vector and matrix selectors: one storage read per selector for the whole query range,
//! then the lookback rule (instant selectors) or raw windows (matrix selectors).

use std::rc::Rc;

use promql_parser::label::MatchOp as ParserOp;
use promql_parser::parser::{Expr, MatrixSelector, VectorSelector};

use super::rows::{RangeSet, Row, SampleSeries};
use super::{Evaluator, Grid, duration_ms, offset_ms};
use crate::value::{Series, is_stale_marker};
use crate::{LabelMatcher, METRIC_NAME, MatchOp, QueryError};

/// The storage matchers of a selector: the metric name (if written before the braces) and
/// the matchers in the braces.
pub(crate) fn storage_matchers(vs: &VectorSelector) -> Result<Vec<LabelMatcher>, QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::Unsupported {
            feature: "`or` between label matchers".into(),
        });
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(LabelMatcher {
            name: METRIC_NAME.into(),
            op: MatchOp::Equal,
            value: name.clone(),
        });
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            ParserOp::Equal => MatchOp::Equal,
            ParserOp::NotEqual => MatchOp::NotEqual,
            ParserOp::Re(_) => MatchOp::Re,
            ParserOp::NotRe(_) => MatchOp::NotRe,
        };
        out.push(LabelMatcher {
            name: m.name.clone(),
            op,
            value: m.value.clone(),
        });
    }
    Ok(out)
}

/// One selected series and the sample (own timestamp, value) it yields at each step.
pub(crate) type SelectedPoints = (crate::Labels, Vec<Option<(i64, f64)>>);

impl Evaluator<'_> {
    /// Reads the selector's series with samples in `[start, end]`, counting them against the
    /// query's limits; the series come back sorted by labels, as Prometheus's TSDB gives them.
    pub(crate) fn select(
        &self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, QueryError> {
        let matchers = storage_matchers(vs)?;
        let mut series = self.ctx.storage.select(&matchers, start, end)?;
        let samples: usize = series.iter().map(|s| s.samples.len()).sum();
        self.account(series.len(), samples)?;
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.ctx.check_timeout()?;
        Ok(series)
    }

    /// Counts what a selector read (rollup rows count as samples) against the query's limits.
    pub(crate) fn account(&self, series: usize, samples: usize) -> Result<(), QueryError> {
        let mut stats = self.ctx.stats.get();
        stats.series = stats.series.saturating_add(series);
        stats.samples = stats.samples.saturating_add(samples);
        self.ctx.stats.set(stats);
        let opts = self.ctx.opts;
        if stats.series > opts.max_series {
            return Err(QueryError::Limit {
                limit: "max_series",
                max: opts.max_series,
                detail: format!("the query selected {} series", stats.series),
            });
        }
        if stats.samples > opts.max_samples {
            return Err(QueryError::Limit {
                limit: "max_samples",
                max: opts.max_samples,
                detail: format!("the query loaded {} samples", stats.samples),
            });
        }
        Ok(())
    }

    /// An instant vector selector: at each step `t` the latest sample in
    /// `[t' − lookback, t']` with `t' = t − offset` (or `@ − offset`), unless it is a
    /// staleness marker.
    pub(crate) fn eval_vector_selector(&self, vs: &VectorSelector) -> Result<Vec<Row>, QueryError> {
        let points = self.selector_points(vs, false)?;
        Ok(points
            .into_iter()
            .filter_map(|(labels, pts)| {
                let vals: Vec<Option<f64>> = pts.iter().map(|p| p.map(|(_, v)| v)).collect();
                vals.iter()
                    .any(Option::is_some)
                    .then(|| Row::new(Rc::new(labels), vals))
            })
            .collect())
    }

    /// The sample each series of an instant selector yields at each step, with its own
    /// timestamp (which `timestamp()` reports). With `timestamp_quirk`, an `@` selector
    /// ignores its `offset`, as Prometheus 2.42's `timestamp()` does.
    pub(crate) fn selector_points(
        &self,
        vs: &VectorSelector,
        timestamp_quirk: bool,
    ) -> Result<Vec<SelectedPoints>, QueryError> {
        let mut offset = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        if timestamp_quirk && at.is_some() {
            offset = 0;
        }
        let lookback = self.ctx.opts.lookback_ms;
        let grid = self.grid;
        let (first, last) = match at {
            Some(a) => (a.saturating_sub(offset), a.saturating_sub(offset)),
            None => (
                grid.start.saturating_sub(offset),
                grid.end().saturating_sub(offset),
            ),
        };
        let series = self.select(vs, first.saturating_sub(lookback), last)?;
        self.ctx.check_points(series.len(), grid.len)?;
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            self.ctx.check_timeout()?;
            let pts = match at {
                Some(_) => vec![latest(&s.samples, first, lookback); grid.len],
                None => lookback_points(&s.samples, grid, offset, lookback),
            };
            out.push((s.labels, pts));
        }
        Ok(out)
    }

    /// Evaluates a range-vector expression (a matrix selector or a subquery, possibly in
    /// parentheses). `slide` applies Prometheus's `predict_linear` `@` quirk.
    pub(crate) fn eval_range(&self, expr: &Expr, slide: bool) -> Result<RangeSet, QueryError> {
        match expr {
            Expr::Paren(p) => self.eval_range(&p.expr, slide),
            Expr::MatrixSelector(ms) => self.eval_matrix_selector(ms, slide),
            Expr::Subquery(sq) => self.eval_subquery(sq, slide),
            _ => Err(QueryError::Execution(
                "expected a range vector (a matrix selector or a subquery)".into(),
            )),
        }
    }

    fn eval_matrix_selector(
        &self,
        ms: &MatrixSelector,
        slide: bool,
    ) -> Result<RangeSet, QueryError> {
        let vs = &ms.vs;
        let offset = offset_ms(&vs.offset);
        let range = duration_ms(&ms.range);
        let at = self.at_ms(&vs.at);
        let mut set = RangeSet {
            series: Vec::new(),
            range,
            offset,
            at,
            slide_from: (slide && at.is_some()).then_some(self.grid.start),
        };
        let first_end = set.window_end(self.grid.start);
        let last_end = set.window_end(self.grid.end());
        let series = self.select(vs, first_end.saturating_sub(range), last_end)?;
        set.series = series
            .into_iter()
            .map(|s| {
                let mut samples = s.samples;
                if s.stale_markers {
                    samples.retain(|(_, v)| !is_stale_marker(*v));
                }
                SampleSeries {
                    labels: Rc::new(s.labels),
                    samples,
                    drop_name: false,
                }
            })
            .collect();
        Ok(set)
    }
}

/// The latest sample at or before `t` and not before `t − lookback`, unless stale.
fn latest(samples: &[(i64, f64)], t: i64, lookback: i64) -> Option<(i64, f64)> {
    let n = samples.partition_point(|s| s.0 <= t);
    let &(st, v) = samples.get(n.checked_sub(1)?)?;
    (st >= t.saturating_sub(lookback) && !is_stale_marker(v)).then_some((st, v))
}

/// [`latest`] at every step of the grid, with one forward pass over the samples.
fn lookback_points(
    samples: &[(i64, f64)],
    grid: Grid,
    offset: i64,
    lookback: i64,
) -> Vec<Option<(i64, f64)>> {
    let mut out = Vec::with_capacity(grid.len);
    let mut n = 0;
    for i in 0..grid.len {
        let t = grid.ts(i).saturating_sub(offset);
        while n < samples.len() && samples[n].0 <= t {
            n += 1;
        }
        let p = n
            .checked_sub(1)
            .map(|j| samples[j])
            .filter(|&(st, v)| st >= t.saturating_sub(lookback) && !is_stale_marker(v));
        out.push(p);
    }
    out
}
