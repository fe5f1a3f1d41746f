//! The evaluator: walks the parsed expression and evaluates each node for all steps of the
//! query at once, as Prometheus 2.42's engine (`promql/engine.go`) does.
//!
//! An instant vector is a list of [`Row`]s, one per label set, each with one optional value
//! per step of the evaluation [`Grid`]; a scalar is one value per step. A range vector (a
//! matrix selector or a subquery) is kept as raw samples ([`RangeSet`]) and cut into windows
//! by the function that consumes it. An instant query is a grid of one step.
//!
//! Selection windows follow Prometheus 2.42, where both ends are closed: an instant selector
//! takes the latest sample in `[t − lookback, t]`, a range selector the samples in
//! `[t − range, t]` (Prometheus 3 made both left-open).

mod aggregate;
mod binary;
mod call;
mod rollup;
mod rows;
mod selector;
mod subquery;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_binary;
#[cfg(test)]
mod tests_call;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_names;
#[cfg(test)]
mod tests_rollup;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AggregateExpr, Expr, token};

use crate::value::{InstantSample, Labels, RangeSeries};
use crate::{QueryError, QueryOptions, QueryValue, Storage};

use rows::RangeSet;
pub(crate) use rows::Row;

/// What one evaluation read from storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Series selected, summed over the query's selectors.
    pub series: usize,
    /// Samples loaded, summed over the query's selectors.
    pub samples: usize,
}

/// Step of a subquery written without one (`x[1h:]`): Prometheus's default global
/// evaluation interval.
const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// Evaluates `query` at `time_ms`.
pub(crate) fn instant(
    storage: &dyn Storage,
    query: &str,
    time_ms: i64,
    opts: &QueryOptions,
) -> Result<(QueryValue, QueryStats), QueryError> {
    let expr = crate::parse::Tree::new(crate::parse(query)?);
    let ctx = Ctx::new(storage, opts, time_ms, time_ms);
    let ev = Evaluator::new(&ctx, Grid::instant(time_ms));
    let value = ev.eval_root(&expr)?;
    let out = shape_instant(value, &ev, keeps_order(&expr));
    Ok((out, ctx.stats.get()))
}

/// Evaluates `query` at every step of `[start_ms, end_ms]`.
pub(crate) fn range(
    storage: &dyn Storage,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &QueryOptions,
) -> Result<(QueryValue, QueryStats), QueryError> {
    let grid = range_grid(start_ms, end_ms, step_ms, opts)?;
    let expr = crate::parse::Tree::new(crate::parse(query)?);
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            let name = if other == ValueType::Matrix {
                "range vector"
            } else {
                "string"
            };
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
            )));
        }
    }
    let ctx = Ctx::new(storage, opts, start_ms, end_ms);
    let ev = Evaluator::new(&ctx, grid);
    let value = ev.eval_root(&expr)?;
    let series = match value {
        Value::Scalar(vals) => vec![RangeSeries {
            labels: Labels::default(),
            points: (0..grid.len).map(|i| (grid.ts(i), vals[i])).collect(),
        }],
        Value::Vector(rows) => range_rows(rows, grid),
        Value::String(_) | Value::Range(_) => {
            return Err(QueryError::BadData(
                "range query over an expression that is not a scalar or instant vector".into(),
            ));
        }
    };
    Ok((QueryValue::Matrix(series), ctx.stats.get()))
}

/// The steps of a range query, checked as Prometheus's API checks them.
fn range_grid(start: i64, end: i64, step: i64, opts: &QueryOptions) -> Result<Grid, QueryError> {
    if end < start {
        return Err(QueryError::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    if step <= 0 {
        return Err(QueryError::BadData(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    // Prometheus limits `(end - start) / step`, one less than the number of points.
    let steps = (i128::from(end) - i128::from(start)) / i128::from(step) + 1;
    if steps - 1 > opts.max_steps as i128 {
        return Err(QueryError::BadData(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(opts.max_steps)
        )));
    }
    let len = usize::try_from(steps).map_err(|_| QueryError::BadData("bad step count".into()))?;
    Ok(Grid { start, step, len })
}

/// `11000` → `11,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether an instant query's vector keeps the evaluator's order (Prometheus orders it only
/// for `sort`, `sort_desc`, `topk` and `bottomk`); otherwise it is sorted by labels.
fn keeps_order(expr: &Expr) -> bool {
    match expr {
        Expr::Paren(p) => keeps_order(&p.expr),
        Expr::Call(c) => matches!(c.func.name, "sort" | "sort_desc"),
        Expr::Aggregate(AggregateExpr { op, .. }) => {
            matches!(op.id(), token::T_TOPK | token::T_BOTTOMK)
        }
        _ => false,
    }
}

fn shape_instant(value: Value, ev: &Evaluator<'_>, keep_order: bool) -> QueryValue {
    let t = ev.grid.start;
    match value {
        Value::Scalar(v) => QueryValue::Scalar {
            t,
            v: v.first().copied().unwrap_or(f64::NAN),
        },
        Value::String(v) => QueryValue::String { t, v },
        Value::Vector(rows) => {
            let mut out: Vec<InstantSample> = rows
                .into_iter()
                .filter_map(|r| {
                    let v = r.vals.first().copied().flatten()?;
                    Some(InstantSample {
                        labels: unwrap_labels(r.labels),
                        t,
                        v,
                    })
                })
                .collect();
            if !keep_order {
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            QueryValue::Vector(out)
        }
        Value::Range(set) => {
            let mut out: Vec<RangeSeries> = set
                .windows_at(t)
                .filter(|(_, w)| !w.is_empty())
                .map(|(labels, w)| RangeSeries {
                    labels: (**labels).clone(),
                    points: w.to_vec(),
                })
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            QueryValue::Matrix(out)
        }
    }
}

fn range_rows(rows: Vec<Row>, grid: Grid) -> Vec<RangeSeries> {
    let mut out: Vec<RangeSeries> = rows
        .into_iter()
        .filter_map(|r| {
            let points: Vec<(i64, f64)> = r
                .vals
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (grid.ts(i), v)))
                .collect();
            (!points.is_empty()).then(|| RangeSeries {
                labels: unwrap_labels(r.labels),
                points,
            })
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

fn unwrap_labels(l: Rc<Labels>) -> Labels {
    Rc::try_unwrap(l).unwrap_or_else(|rc| (*rc).clone())
}

/// The evaluation steps: `len` timestamps `start, start + step, …`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub(crate) start: i64,
    pub(crate) step: i64,
    pub(crate) len: usize,
}

impl Grid {
    fn instant(t: i64) -> Grid {
        Grid {
            start: t,
            step: 1,
            len: 1,
        }
    }

    /// Timestamp of step `i`.
    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start
            .saturating_add((i as i64).saturating_mul(self.step))
    }

    /// Timestamp of the last step.
    pub(crate) fn end(&self) -> i64 {
        self.ts(self.len.saturating_sub(1))
    }
}

/// The value of an expression over the grid.
pub(crate) enum Value {
    /// One value per step.
    Scalar(Vec<f64>),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Row>),
    /// A range vector (matrix selector or subquery), not yet cut into windows.
    Range(RangeSet),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Range(_) => "range vector",
        }
    }
}

/// State shared by all evaluators of one query: storage, limits, the clock and the stats.
pub(crate) struct Ctx<'a> {
    storage: &'a dyn Storage,
    opts: &'a QueryOptions,
    started: Instant,
    /// The query's start and end, which `@ start()` and `@ end()` refer to.
    query_start: i64,
    query_end: i64,
    stats: Cell<QueryStats>,
}

impl<'a> Ctx<'a> {
    fn new(storage: &'a dyn Storage, opts: &'a QueryOptions, start: i64, end: i64) -> Ctx<'a> {
        Ctx {
            storage,
            opts,
            started: Instant::now(),
            query_start: start,
            query_end: end,
            stats: Cell::new(QueryStats::default()),
        }
    }

    /// Fails once the query has run longer than its timeout.
    pub(crate) fn check_timeout(&self) -> Result<(), QueryError> {
        if self.started.elapsed() > self.opts.timeout {
            return Err(QueryError::Timeout {
                after_ms: u64::try_from(self.opts.timeout.as_millis()).unwrap_or(u64::MAX),
            });
        }
        Ok(())
    }

    /// Fails if a result of `rows` series over `steps` steps exceeds `max_points`.
    pub(crate) fn check_points(&self, rows: usize, steps: usize) -> Result<(), QueryError> {
        let points = rows.saturating_mul(steps);
        if points > self.opts.max_points {
            return Err(QueryError::Limit {
                limit: "max_points",
                max: self.opts.max_points,
                detail: format!("an intermediate result of {rows} series × {steps} steps"),
            });
        }
        Ok(())
    }
}

/// Evaluates expressions over one grid (the query's, or a subquery's).
pub(crate) struct Evaluator<'a> {
    ctx: &'a Ctx<'a>,
    grid: Grid,
}

impl<'a> Evaluator<'a> {
    fn new(ctx: &'a Ctx<'a>, grid: Grid) -> Evaluator<'a> {
        Evaluator { ctx, grid }
    }

    /// Evaluates one node.
    pub(crate) fn eval(&self, expr: &Expr) -> Result<Value, QueryError> {
        self.ctx.check_timeout()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(vec![n.val; self.grid.len])),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => self.eval_unary(&u.expr),
            Expr::VectorSelector(vs) => self.eval_vector_selector(vs).map(Value::Vector),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                self.eval_range(expr, false).map(Value::Range)
            }
            Expr::Aggregate(a) => self.eval_aggregate(a),
            Expr::Binary(b) => self.eval_binary(b),
            Expr::Call(c) => self.eval_call(c),
            Expr::Extension(_) => Err(QueryError::Unsupported {
                feature: "extension expressions".into(),
            }),
        }
    }

    /// Evaluates a node that must yield an instant vector.
    pub(crate) fn eval_vector(&self, expr: &Expr) -> Result<Vec<Row>, QueryError> {
        match self.eval(expr)? {
            Value::Vector(rows) => Ok(rows),
            other => Err(type_error("instant vector", &other)),
        }
    }

    /// Evaluates a node that must yield a scalar: one value per step.
    pub(crate) fn eval_scalar(&self, expr: &Expr) -> Result<Vec<f64>, QueryError> {
        match self.eval(expr)? {
            Value::Scalar(vals) => Ok(vals),
            other => Err(type_error("scalar", &other)),
        }
    }

    /// `-expr`: negates, and drops the metric name of a vector's series.
    fn eval_unary(&self, expr: &Expr) -> Result<Value, QueryError> {
        match self.eval(expr)? {
            Value::Scalar(mut vals) => {
                vals.iter_mut().for_each(|v| *v = -*v);
                Ok(Value::Scalar(vals))
            }
            Value::Vector(mut rows) => {
                for r in &mut rows {
                    self.remove_name(r);
                    r.vals.iter_mut().flatten().for_each(|v| *v = -*v);
                }
                // Under delayed name removal the check waits for the end of the evaluation.
                if !self.delayed_name_removal() {
                    rows::check_unique_series(&rows)?;
                }
                Ok(Value::Vector(rows))
            }
            other => Err(type_error("scalar or instant vector", &other)),
        }
    }

    /// Whether names are removed at the end of the evaluation (Prometheus 3's
    /// `promql-delayed-name-removal`) rather than where an operation drops them.
    pub(crate) fn delayed_name_removal(&self) -> bool {
        self.ctx.opts.delayed_name_removal
    }

    /// Drops `row`'s metric name, or with delayed name removal marks it to be dropped at the
    /// end (the name stays visible to grouping, matching and label functions until then).
    pub(crate) fn remove_name(&self, row: &mut Row) {
        if self.delayed_name_removal() {
            row.drop_name = true;
        } else {
            row.labels = rows::drop_name(&row.labels);
        }
    }

    /// Evaluates the query's expression: with delayed name removal, then drops the names of
    /// the marked series and checks that no two series share a label set at one step.
    fn eval_root(&self, expr: &Expr) -> Result<Value, QueryError> {
        let value = self.eval(expr)?;
        if !self.delayed_name_removal() {
            return Ok(value);
        }
        Ok(match value {
            Value::Vector(rows) => Value::Vector(rows::remove_marked_names(
                rows,
                self.grid.len,
                self.ctx.opts.max_points,
            )?),
            Value::Range(mut set) => {
                set.series = rows::remove_marked_series_names(std::mem::take(&mut set.series))?;
                Value::Range(set)
            }
            other => other,
        })
    }

    /// Resolves an `@` modifier to milliseconds.
    pub(crate) fn at_ms(&self, at: &Option<promql_parser::parser::AtModifier>) -> Option<i64> {
        use promql_parser::parser::AtModifier;
        match at.as_ref()? {
            AtModifier::Start => Some(self.ctx.query_start),
            AtModifier::End => Some(self.ctx.query_end),
            AtModifier::At(t) => Some(match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
                Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
            }),
        }
    }
}

/// Milliseconds of a duration, saturating.
pub(crate) fn duration_ms(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds of an `offset` modifier (negative for `offset -5m`).
pub(crate) fn offset_ms(offset: &Option<promql_parser::parser::Offset>) -> i64 {
    use promql_parser::parser::Offset;
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => duration_ms(d).saturating_neg(),
    }
}

fn type_error(expected: &str, got: &Value) -> QueryError {
    QueryError::Execution(format!(
        "expected {expected}, got {} (unexpected expression type)",
        got.type_name()
    ))
}
