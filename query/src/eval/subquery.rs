//! Subqueries: `expr[range:step]` evaluates `expr` on its own grid of absolute multiples of
//! the step, as Prometheus's engine does, and yields the points as a range vector.

use promql_parser::parser::SubqueryExpr;

use super::rows::{RangeSet, SampleSeries};
use super::{DEFAULT_SUBQUERY_STEP_MS, Evaluator, Grid, duration_ms, offset_ms};
use crate::QueryError;

/// The first multiple of `step` at or after `t` (Prometheus's subquery start alignment).
pub(crate) fn align_up(t: i64, step: i64) -> i64 {
    let down = t.div_euclid(step).saturating_mul(step);
    if down < t {
        down.saturating_add(step)
    } else {
        down
    }
}

impl Evaluator<'_> {
    /// Evaluates a subquery for every step of this evaluator's grid: the inner expression
    /// runs once on the grid from the first aligned time after `first step − offset − range`
    /// to `last step − offset` (the `@` time instead of the steps if there is one).
    pub(crate) fn eval_subquery(
        &self,
        sq: &SubqueryExpr,
        slide: bool,
    ) -> Result<RangeSet, QueryError> {
        let offset = offset_ms(&sq.offset);
        let range = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
        let at = self.at_ms(&sq.at);
        let mut set = RangeSet {
            series: Vec::new(),
            range,
            offset,
            at,
            slide_from: (slide && at.is_some()).then_some(self.grid.start),
        };
        let first_end = set.window_end(self.grid.start);
        let last_end = set.window_end(self.grid.end());
        let start = align_up(first_end.saturating_sub(range), step);
        if start > last_end {
            return Ok(set);
        }
        let steps = (i128::from(last_end) - i128::from(start)) / i128::from(step) + 1;
        let len = usize::try_from(steps).unwrap_or(usize::MAX);
        // Every node of the inner expression may hold a value of `len` points while a later
        // one is evaluated (`1 + (1 + …)`): bound them all, before anything is allocated.
        let nodes = crate::parse::node_count(&sq.expr);
        let max = self.ctx.opts.max_points;
        if len.saturating_mul(nodes) > max {
            return Err(QueryError::Limit {
                limit: "max_points",
                max,
                detail: format!(
                    "a subquery of {len} steps over an expression of {nodes} nodes, each of which may hold a value per step"
                ),
            });
        }
        let inner = Evaluator::new(self.ctx, Grid { start, step, len });
        let rows = inner.eval_vector(&sq.expr)?;
        set.series = rows
            .into_iter()
            .map(|r| SampleSeries {
                samples: r
                    .vals
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (inner.grid.ts(i), v)))
                    .collect(),
                labels: r.labels,
                drop_name: r.drop_name,
            })
            .collect();
        Ok(set)
    }
}
