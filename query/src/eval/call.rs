//! Function calls: the per-step, per-series driving of the kernels in `crate::functions`,
//! and the functions that need the evaluator itself (`absent`, `scalar`, `vector`, `time`,
//! `timestamp`, `sort`, `label_*`, `histogram_quantile`, …), as Prometheus 2.42's engine and
//! `functions.go` evaluate them.

use std::rc::Rc;

use promql_parser::parser::{Call, Expr, VectorSelector};

use super::rows::{
    FastMap, RangeSet, Row, RowSet, WindowSpec, advance_window, check_unique_series, fast_map,
    function_row, merge_rows,
};
use super::{Evaluator, Grid, Value};
use crate::functions::{self, InstantFn, RangeFn, RangeWindow};
use crate::value::Labels;
use crate::{METRIC_NAME, QueryError};

/// Functions that take no argument and default to `vector(time())`.
const DATE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
];

/// Prometheus 2.42 functions over native histograms: with float samples only they never
/// produce an element.
const NATIVE_HISTOGRAM_FUNCTIONS: &[&str] =
    &["histogram_count", "histogram_sum", "histogram_fraction"];

/// Samples a range function must visit before its series are split across cores.
const PARALLEL_SAMPLES: usize = 200_000;

/// A range function at every step of the grid: what each series' evaluation needs, shareable
/// across threads.
struct Kernel<'a> {
    name: &'a str,
    f: RangeFn,
    spec: WindowSpec,
    grid: Grid,
    eval_steps: usize,
    /// The scalar arguments, one value per step each.
    scalars: &'a [Vec<f64>],
}

impl Kernel<'_> {
    /// One series' value at each step (`None` where its window is empty or the function
    /// gives nothing).
    fn values(&self, samples: &[(i64, f64)]) -> Result<Vec<Option<f64>>, QueryError> {
        let mut vals = vec![None; self.grid.len];
        let (mut lo, mut hi) = (0, 0);
        let mut argv = Vec::with_capacity(self.scalars.len());
        for (i, slot) in vals.iter_mut().enumerate().take(self.eval_steps) {
            let t = self.grid.ts(i);
            let end = self.spec.end(t);
            let start = end.saturating_sub(self.spec.range);
            advance_window(samples, &mut lo, &mut hi, start, end);
            if lo >= hi {
                continue;
            }
            argv.clear();
            argv.extend(self.scalars.iter().map(|a| a[i]));
            functions::check_range_args(self.name, &argv)?;
            let w = RangeWindow {
                samples: &samples[lo..hi],
                range_start: start,
                range_end: end,
                eval_ts: t,
            };
            *slot = (self.f)(&w, &argv);
        }
        Ok(vals)
    }
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

fn string_arg(e: &Expr) -> Result<String, QueryError> {
    match unparen(e) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => Err(QueryError::BadData(
            "expected a string literal argument".into(),
        )),
    }
}

/// Prometheus's `createLabelsForAbsentFunction`: the labels of the selector's equality
/// matchers, except `__name__` and names matched more than once or otherwise.
fn absent_labels(vs: Option<&VectorSelector>) -> Result<Labels, QueryError> {
    let mut m = Labels::default();
    let Some(vs) = vs else { return Ok(m) };
    let mut dropped = Vec::new();
    for lm in super::selector::storage_matchers(vs)? {
        if lm.name == METRIC_NAME {
            continue;
        }
        if lm.op == crate::MatchOp::Equal && m.get(&lm.name).is_none() {
            m.set(&lm.name, &lm.value);
        } else {
            dropped.push(lm.name);
        }
    }
    dropped.iter().for_each(|n| m.remove(n));
    Ok(m)
}

impl Evaluator<'_> {
    /// Evaluates a function call.
    pub(crate) fn eval_call(&self, c: &Call) -> Result<Value, QueryError> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
        let n = self.grid.len;
        match name {
            "time" => {
                return Ok(Value::Scalar(
                    (0..n).map(|i| self.grid.ts(i) as f64 / 1000.0).collect(),
                ));
            }
            "pi" => return Ok(Value::Scalar(vec![std::f64::consts::PI; n])),
            "vector" => {
                let vals = self.eval_scalar(arg(&args, 0)?)?;
                let labels = Rc::new(Labels::default());
                return Ok(Value::Vector(vec![Row::new(
                    labels,
                    vals.into_iter().map(Some).collect(),
                )]));
            }
            "scalar" => return self.scalar(arg(&args, 0)?),
            "absent" => return self.absent(arg(&args, 0)?),
            "absent_over_time" => return self.absent_over_time(arg(&args, 0)?),
            "timestamp" => return self.timestamp(arg(&args, 0)?),
            "sort" | "sort_desc" => return self.sort(name == "sort_desc", arg(&args, 0)?),
            "label_replace" | "label_join" => return self.label_fn(name, &args),
            "histogram_quantile" => return self.histogram_quantile(&args),
            _ if NATIVE_HISTOGRAM_FUNCTIONS.contains(&name) => {
                for a in &args {
                    self.eval(a)?;
                }
                return Ok(Value::Vector(Vec::new()));
            }
            _ => {}
        }
        if !functions::is_supported(name) {
            return Err(QueryError::UnsupportedFunction {
                name: name.to_string(),
            });
        }
        if let Some(f) = functions::range_function(name) {
            return self.range_call(name, f, &args).map(Value::Vector);
        }
        if let Some(f) = functions::instant_function(name) {
            return self.instant_call(name, f, &args).map(Value::Vector);
        }
        Err(QueryError::UnsupportedFunction {
            name: name.to_string(),
        })
    }

    /// Every series' values of `kernel`, split across the cores when there are enough samples
    /// to pay for the threads; in series order either way.
    fn all_series_values(
        &self,
        set: &RangeSet,
        kernel: &Kernel<'_>,
    ) -> Result<Vec<Vec<Option<f64>>>, QueryError> {
        let samples: Vec<&[(i64, f64)]> = set.series.iter().map(|s| s.samples.as_slice()).collect();
        let total: usize = samples.iter().map(|s| s.len()).sum();
        let cores = crate::cores();
        let threads = cores.min(samples.len());
        if threads <= 1 || total < PARALLEL_SAMPLES {
            let mut out = Vec::with_capacity(samples.len());
            for s in samples {
                self.ctx.check_timeout()?;
                out.push(kernel.values(s)?);
            }
            return Ok(out);
        }
        self.ctx.check_timeout()?;
        let per = samples.len().div_ceil(threads);
        let parts: Vec<Result<Vec<Vec<Option<f64>>>, QueryError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = samples
                .chunks(per)
                .map(|part| scope.spawn(move || part.iter().map(|s| kernel.values(s)).collect()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(QueryError::Execution(
                            "a range function thread panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        self.ctx.check_timeout()?;
        let mut out = Vec::with_capacity(samples.len());
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }

    /// A function over a range vector: the kernel runs on each series' window at each step;
    /// the other (scalar) arguments may differ per step.
    fn range_call(&self, name: &str, f: RangeFn, args: &[&Expr]) -> Result<Vec<Row>, QueryError> {
        let midx = args
            .iter()
            .position(|a| matches!(unparen(a), Expr::MatrixSelector(_) | Expr::Subquery(_)))
            .ok_or_else(|| QueryError::BadData(format!("{name} needs a range vector argument")))?;
        if let Some(rows) = self.rollup_call(name, args[midx])? {
            return Ok(rows);
        }
        let set = self.eval_range(args[midx], name == "predict_linear")?;
        let mut scalars = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != midx {
                scalars.push(self.eval_scalar(a)?);
            }
        }
        let keep_name = name == "last_over_time";
        let delayed = self.delayed_name_removal();
        let grid = self.grid;
        // With `@` (and no slide) every step sees the same window: compute once, at the first
        // step, as Prometheus's step-invariant evaluation does.
        let pinned = set.at.is_some() && set.slide_from.is_none();
        let eval_steps = if pinned { 1.min(grid.len) } else { grid.len };
        self.ctx.check_points(set.series.len(), grid.len)?;
        let kernel = Kernel {
            name,
            f,
            spec: set.spec(),
            grid,
            eval_steps,
            scalars: &scalars,
        };
        let all_vals = self.all_series_values(&set, &kernel)?;
        let mut rows = Vec::new();
        for (s, mut vals) in set.series.iter().zip(all_vals) {
            if pinned {
                let v = vals.first().copied().flatten();
                vals.iter_mut().for_each(|x| *x = v);
            }
            if vals.iter().any(Option::is_some) {
                rows.push(function_row(
                    &s.labels,
                    s.drop_name,
                    vals,
                    keep_name,
                    delayed,
                ));
            }
        }
        // Prometheus 3 skips this check under delayed name removal (names still tell apart).
        if !delayed {
            check_unique_series(&rows)?;
        }
        Ok(rows)
    }

    /// A function applied to each element of an instant vector; the first argument is the
    /// vector (`vector(time())` for a date function called without one), the rest scalars.
    fn instant_call(
        &self,
        name: &str,
        f: InstantFn,
        args: &[&Expr],
    ) -> Result<Vec<Row>, QueryError> {
        let rows = match args.first() {
            Some(a) => self.eval_vector(a)?,
            None if DATE_FUNCTIONS.contains(&name) => {
                let vals = (0..self.grid.len)
                    .map(|i| Some(self.grid.ts(i) as f64 / 1000.0))
                    .collect();
                vec![Row::new(Rc::new(Labels::default()), vals)]
            }
            None => return Err(QueryError::BadData(format!("{name} needs an argument"))),
        };
        let mut scalars = Vec::new();
        for a in args.iter().skip(1) {
            scalars.push(self.eval_scalar(a)?);
        }
        let mut argv = Vec::with_capacity(scalars.len());
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows {
            self.ctx.check_timeout()?;
            self.remove_name(&mut r);
            for (i, slot) in r.vals.iter_mut().enumerate() {
                let Some(v) = *slot else { continue };
                argv.clear();
                argv.extend(scalars.iter().map(|a| a[i]));
                *slot = f(v, &argv);
            }
            out.push(r);
        }
        merge_rows(out, self.grid.len, self.ctx.opts.max_points)
    }

    /// `scalar(v)`: the value of the only element, NaN if there is not exactly one.
    fn scalar(&self, a: &Expr) -> Result<Value, QueryError> {
        let rows = self.eval_vector(a)?;
        let vals = (0..self.grid.len)
            .map(|i| {
                let mut present = rows.iter().filter_map(|r| r.vals[i]);
                match (present.next(), present.next()) {
                    (Some(v), None) => v,
                    _ => f64::NAN,
                }
            })
            .collect();
        Ok(Value::Scalar(vals))
    }

    /// `absent(v)`: 1 at the steps where `v` has no element.
    fn absent(&self, a: &Expr) -> Result<Value, QueryError> {
        let rows = self.eval_vector(a)?;
        let vs = match unparen(a) {
            Expr::VectorSelector(vs) => Some(vs),
            _ => None,
        };
        let labels = Rc::new(absent_labels(vs)?);
        let vals: Vec<Option<f64>> = (0..self.grid.len)
            .map(|i| (!rows.iter().any(|r| r.vals[i].is_some())).then_some(1.0))
            .collect();
        let row = Row::new(labels, vals);
        Ok(Value::Vector(if row.any() {
            vec![row]
        } else {
            Vec::new()
        }))
    }

    /// `absent_over_time(r)`: 1 at the steps where no series has a sample in its window.
    fn absent_over_time(&self, a: &Expr) -> Result<Value, QueryError> {
        let set = self.eval_range(a, false)?;
        let grid = self.grid;
        let mut present = vec![false; grid.len];
        for s in &set.series {
            self.ctx.check_timeout()?;
            let (mut lo, mut hi) = (0, 0);
            for (i, p) in present.iter_mut().enumerate() {
                let end = set.window_end(grid.ts(i));
                advance_window(
                    &s.samples,
                    &mut lo,
                    &mut hi,
                    end.saturating_sub(set.range),
                    end,
                );
                *p |= lo < hi;
            }
        }
        let vs = match unparen(a) {
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        let row = Row::new(
            Rc::new(absent_labels(vs)?),
            present.iter().map(|p| (!p).then_some(1.0)).collect(),
        );
        Ok(Value::Vector(if row.any() {
            vec![row]
        } else {
            Vec::new()
        }))
    }

    /// `timestamp(v)`: the sample's own timestamp for a selector, else the step's time.
    fn timestamp(&self, a: &Expr) -> Result<Value, QueryError> {
        let rows = if let Expr::VectorSelector(vs) = unparen(a) {
            self.selector_points(vs, true)?
                .into_iter()
                .map(|(labels, pts)| {
                    let mut r = Row::new(
                        Rc::new(labels),
                        pts.iter()
                            .map(|p| p.map(|(t, _)| t as f64 / 1000.0))
                            .collect(),
                    );
                    self.remove_name(&mut r);
                    r
                })
                .filter(Row::any)
                .collect()
        } else {
            let mut rows = self.eval_vector(a)?;
            for r in &mut rows {
                self.remove_name(r);
                for (i, slot) in r.vals.iter_mut().enumerate() {
                    if slot.is_some() {
                        *slot = Some(self.grid.ts(i) as f64 / 1000.0);
                    }
                }
            }
            rows
        };
        merge_rows(rows, self.grid.len, self.ctx.opts.max_points).map(Value::Vector)
    }

    /// `sort(v)` / `sort_desc(v)`: orders an instant query's elements by value, NaN last
    /// (a range query's result is ordered by labels anyway).
    fn sort(&self, desc: bool, a: &Expr) -> Result<Value, QueryError> {
        let mut rows = self.eval_vector(a)?;
        if self.grid.len == 1 {
            let key = |r: &Row| r.vals[0].unwrap_or(f64::NAN);
            rows.sort_by(|x, y| {
                let (a, b) = (key(x), key(y));
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => b.total_cmp(&a),
                    _ => a.total_cmp(&b),
                }
            });
        }
        Ok(Value::Vector(rows))
    }

    /// `label_replace(v, dst, replacement, src, regex)` and
    /// `label_join(v, dst, separator, src...)`.
    fn label_fn(&self, name: &str, args: &[&Expr]) -> Result<Value, QueryError> {
        let rows = self.eval_vector(arg(args, 0)?)?;
        let strings = args[1..]
            .iter()
            .map(|a| string_arg(a))
            .collect::<Result<Vec<_>, _>>()?;
        let apply = |l: &Labels| -> Result<Labels, QueryError> {
            if name == "label_replace" {
                let [dst, repl, src, re] = strings.as_slice() else {
                    return Err(QueryError::BadData(
                        "label_replace needs 5 arguments".into(),
                    ));
                };
                functions::label_replace(l, dst, repl, src, re)
            } else {
                let (Some(dst), Some(sep)) = (strings.first(), strings.get(1)) else {
                    return Err(QueryError::BadData(
                        "label_join needs at least 3 arguments".into(),
                    ));
                };
                functions::label_join(l, dst, sep, &strings[2..])
            }
        };
        let dst_is_name = strings.first().is_some_and(|d| d == METRIC_NAME);
        // Prometheus checks the arguments at every step, with or without elements.
        apply(&Labels::default())?;
        let mut cache: FastMap<Rc<Labels>, Rc<Labels>> = fast_map();
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows {
            let new = match cache.get(&r.labels) {
                Some(l) => Rc::clone(l),
                None => {
                    let l = Rc::new(apply(&r.labels)?);
                    cache.insert(Rc::clone(&r.labels), Rc::clone(&l));
                    l
                }
            };
            r.labels = new;
            // Setting `__name__` keeps it (Prometheus 3 clears the delayed-removal mark).
            if dst_is_name {
                r.drop_name = false;
            }
            out.push(r);
        }
        merge_rows(out, self.grid.len, self.ctx.opts.max_points).map(Value::Vector)
    }

    /// `histogram_quantile(φ, buckets)`: groups the buckets by their labels without `le`
    /// (and by metric name, which the result drops with `le`).
    fn histogram_quantile(&self, args: &[&Expr]) -> Result<Value, QueryError> {
        let q = self.eval_scalar(arg(args, 0)?)?;
        let rows = self.eval_vector(arg(args, 1)?)?;
        let mut groups: FastMap<(Labels, Option<String>), usize> = fast_map();
        let mut out = RowSet::new(self.grid.len, self.ctx.opts.max_points);
        let mut members: Vec<Vec<(usize, f64)>> = Vec::new();
        let mut group_row: Vec<usize> = Vec::new();
        for (ri, r) in rows.iter().enumerate() {
            let Some(le) = r.labels.get("le").and_then(|s| s.parse::<f64>().ok()) else {
                continue;
            };
            let mut l = (*r.labels).clone();
            let name = l.get(METRIC_NAME).map(str::to_string);
            l.remove("le");
            l.remove(METRIC_NAME);
            let key = (l, name);
            let gi = match groups.get(&key) {
                Some(&gi) => gi,
                None => {
                    let gi = members.len();
                    group_row.push(out.row(Rc::new(key.0.clone()))?);
                    members.push(Vec::new());
                    groups.insert(key, gi);
                    gi
                }
            };
            members[gi].push((ri, le));
        }
        let mut buckets = Vec::new();
        for (step, &q) in q.iter().enumerate().take(self.grid.len) {
            self.ctx.check_timeout()?;
            for (gi, m) in members.iter().enumerate() {
                buckets.clear();
                buckets.extend(
                    m.iter()
                        .filter_map(|&(ri, le)| rows[ri].vals[step].map(|v| (le, v))),
                );
                if !buckets.is_empty() {
                    let v = functions::histogram_quantile(q, &mut buckets);
                    out.set(group_row[gi], step, v)?;
                }
            }
        }
        Ok(Value::Vector(out.finish()))
    }
}

fn arg<'e>(args: &[&'e Expr], i: usize) -> Result<&'e Expr, QueryError> {
    args.get(i)
        .copied()
        .ok_or_else(|| QueryError::BadData(format!("missing argument {}", i + 1)))
}
