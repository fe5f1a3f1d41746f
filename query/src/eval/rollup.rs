//! `max_over_time`, `min_over_time` and `count_over_time` of a plain range selector answered
//! from storage rollups, where the storage keeps a range only as rollups (raw samples past
//! their retention) and the query's windows fall on bucket boundaries, so the answer is
//! exactly the one the raw samples gave.
//!
//! With a window `[t − range, t]` (2.x windows are closed), `t − offset` a multiple of the
//! resolution `R` and `range` a multiple of `R`, the window is the buckets starting in
//! `[t − range, t)` — whole — plus the one sample that may sit exactly at `t`: the first of
//! the bucket starting at `t`, when its `first_ts` is `t`. Max and min of whole buckets are
//! their rows' (NaN only when every value is; staleness markers excluded, as range selectors
//! exclude them), counts add. Sums, averages and the rest are not taken from rollups: a sum of
//! bucket sums is not bit for bit the sum of the samples.

use std::rc::Rc;

use floe_storage_format::rollup::RollupColumns;
use promql_parser::parser::Expr;

use super::rows::{Row, check_unique_series, function_row};
use super::selector::storage_matchers;
use super::{Evaluator, duration_ms, offset_ms};
use crate::QueryError;

/// Rollup resolutions tried, coarsest first (the engine's default levels).
const RESOLUTIONS_MS: [i64; 3] = [3_600_000, 300_000, 60_000];

#[derive(Debug, Clone, Copy)]
enum Agg {
    Max,
    Min,
    Count,
}

impl Evaluator<'_> {
    /// The rows of `name(arg)` from rollups, or `None` when the function, the selector or the
    /// step grid does not allow an exact answer from them, or the storage has none to offer.
    pub(crate) fn rollup_call(
        &self,
        name: &str,
        arg: &Expr,
    ) -> Result<Option<Vec<Row>>, QueryError> {
        let agg = match name {
            "max_over_time" => Agg::Max,
            "min_over_time" => Agg::Min,
            "count_over_time" => Agg::Count,
            _ => return Ok(None),
        };
        let Expr::MatrixSelector(ms) = unparen(arg) else {
            return Ok(None);
        };
        if ms.vs.at.is_some() {
            return Ok(None);
        }
        let range = duration_ms(&ms.range);
        let offset = offset_ms(&ms.vs.offset);
        let grid = self.grid;
        let first_end = grid.start.saturating_sub(offset);
        let Some(res) = RESOLUTIONS_MS.into_iter().find(|&r| {
            range > 0
                && range % r == 0
                && (grid.len <= 1 || grid.step % r == 0)
                && first_end.rem_euclid(r) == 0
        }) else {
            return Ok(None);
        };
        let last_end = grid.end().saturating_sub(offset);
        let matchers = storage_matchers(&ms.vs)?;
        let Some(mut series) = self.ctx.storage.select_rollup(
            &matchers,
            res,
            first_end.saturating_sub(range),
            last_end,
        )?
        else {
            return Ok(None);
        };
        let rows_read: usize = series.iter().map(|s| s.rollup.ts.len()).sum();
        self.account(series.len(), rows_read)?;
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let delayed = self.delayed_name_removal();
        let mut rows = Vec::new();
        for s in series {
            self.ctx.check_timeout()?;
            let vals: Vec<Option<f64>> = (0..grid.len)
                .map(|i| {
                    let end = grid.ts(i).saturating_sub(offset);
                    window(&s.rollup, agg, end.saturating_sub(range), end)
                })
                .collect();
            if vals.iter().any(Option::is_some) {
                rows.push(function_row(
                    &Rc::new(s.labels),
                    false,
                    vals,
                    false,
                    delayed,
                ));
            }
        }
        if !delayed {
            check_unique_series(&rows)?;
        }
        Ok(Some(rows))
    }
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        _ => e,
    }
}

/// `agg` over the window `[start, end]` (`end` on a bucket boundary): the buckets starting in
/// `[start, end)` and the first sample of the bucket at `end` if it sits exactly at `end`.
fn window(r: &RollupColumns, agg: Agg, start: i64, end: i64) -> Option<f64> {
    let lo = r.ts.partition_point(|&t| t < start);
    let hi = r.ts.partition_point(|&t| t < end);
    let edge = (r.ts.get(hi) == Some(&end) && r.first_ts[hi] == end).then(|| r.first[hi]);
    match agg {
        Agg::Count => {
            let n: u64 = r.count[lo..hi].iter().sum::<u64>() + u64::from(edge.is_some());
            (n > 0).then_some(n as f64)
        }
        Agg::Max => fold(r.max[lo..hi].iter().copied().chain(edge), |cur, acc| {
            cur > acc
        }),
        Agg::Min => fold(r.min[lo..hi].iter().copied().chain(edge), |cur, acc| {
            cur < acc
        }),
    }
}

/// Prometheus's `max_over_time`/`min_over_time` loop: the first value, replaced by a later
/// one that `wins` or whenever the kept one is NaN.
fn fold(values: impl Iterator<Item = f64>, wins: impl Fn(f64, f64) -> bool) -> Option<f64> {
    let mut acc: Option<f64> = None;
    for v in values {
        acc = Some(match acc {
            Some(a) if !(wins(v, a) || a.is_nan()) => a,
            _ => v,
        });
    }
    acc
}
