//! Aggregation operators, following Prometheus 2.42's `aggregation()`: `sum`, `avg`, `min`,
//! `max`, `count`, `group`, `stddev`, `stdvar` per group and step; `topk`/`bottomk` with Go's
//! heap; `quantile`; `count_values`.

use std::rc::Rc;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUM, T_TOPK, TokenId,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::rows::{FastMap, Row, RowSet, fast_map};
use super::{Evaluator, Value};
use crate::functions;
use crate::value::Labels;
use crate::{METRIC_NAME, QueryError};

/// The `by (...)` or `without (...)` clause.
struct Grouping {
    without: bool,
    names: Vec<String>,
}

impl Grouping {
    fn of(modifier: &Option<LabelModifier>) -> Grouping {
        match modifier {
            None => Grouping {
                without: false,
                names: Vec::new(),
            },
            Some(LabelModifier::Include(l)) => Grouping {
                without: false,
                names: l.labels.clone(),
            },
            Some(LabelModifier::Exclude(l)) => Grouping {
                without: true,
                names: l.labels.clone(),
            },
        }
    }

    /// The group's labels (also its identity): `by` keeps the listed labels, `without`
    /// removes them and `__name__`.
    fn labels(&self, l: &Labels) -> Labels {
        let pairs = l
            .pairs()
            .iter()
            .filter(|(n, _)| {
                let listed = self.names.iter().any(|x| x == n);
                if self.without {
                    !listed && n != METRIC_NAME
                } else {
                    listed
                }
            })
            .cloned()
            .collect();
        Labels::new(pairs)
    }
}

/// Assigns each row its group: returns the group of every row and the groups' labels.
fn assign_groups(rows: &[Row], g: &Grouping) -> (Vec<usize>, Vec<Rc<Labels>>) {
    let mut ids: FastMap<Rc<Labels>, usize> = fast_map();
    let mut groups = Vec::new();
    let of_row = rows
        .iter()
        .map(|r| {
            let l = Rc::new(g.labels(&r.labels));
            *ids.entry(Rc::clone(&l)).or_insert_with(|| {
                groups.push(l);
                groups.len() - 1
            })
        })
        .collect();
    (of_row, groups)
}

/// Running state of one group at one step.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    seen: bool,
    value: f64,
    mean: f64,
    count: u64,
}

impl Acc {
    fn first(op: TokenId, v: f64) -> Acc {
        let value = match op {
            T_STDDEV | T_STDVAR => 0.0,
            T_GROUP => 1.0,
            _ => v,
        };
        Acc {
            seen: true,
            value,
            mean: v,
            count: 1,
        }
    }

    fn add(&mut self, op: TokenId, v: f64) {
        match op {
            T_SUM => self.value += v,
            T_AVG => {
                self.count += 1;
                if self.mean.is_infinite() {
                    if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                        return;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        return;
                    }
                }
                let n = self.count as f64;
                self.mean += v / n - self.mean / n;
            }
            T_MAX if self.value < v || self.value.is_nan() => self.value = v,
            T_MIN if self.value > v || self.value.is_nan() => self.value = v,
            T_COUNT => self.count += 1,
            T_STDDEV | T_STDVAR => {
                self.count += 1;
                let delta = v - self.mean;
                self.mean += delta / self.count as f64;
                self.value += delta * (v - self.mean);
            }
            _ => {}
        }
    }

    fn result(&self, op: TokenId) -> f64 {
        let n = self.count as f64;
        match op {
            T_AVG => self.mean,
            T_COUNT => n,
            T_STDVAR => self.value / n,
            T_STDDEV => (self.value / n).sqrt(),
            _ => self.value,
        }
    }
}

impl Evaluator<'_> {
    /// Evaluates an aggregation.
    ///
    /// With delayed name removal the input rows still have their names, so `by (__name__)`
    /// groups by them. A group's row is never marked: its labels are the ones `by` asked for,
    /// name included, so `max by (__name__) (max_over_time(...))` answers one series per
    /// metric, named (as VictoriaMetrics does). Prometheus 3 marks a group if any member is
    /// marked, which drops the name at the end and makes two such groups collide; see
    /// `docs/promql.md`. `topk` and `bottomk` pass their elements' marks on.
    pub(crate) fn eval_aggregate(&self, a: &AggregateExpr) -> Result<Value, QueryError> {
        let op = a.op.id();
        let g = Grouping::of(&a.modifier);
        if op == T_COUNT_VALUES {
            let label = string_param(a.param.as_deref())?;
            let rows = self.eval_vector(&a.expr)?;
            return self.count_values(&label, &g, &rows).map(Value::Vector);
        }
        let param = match op {
            T_TOPK | T_BOTTOMK | T_QUANTILE => match a.param.as_deref() {
                Some(p) => Some(self.eval_scalar(p)?),
                None => return Err(QueryError::BadData(format!("{} needs a parameter", a.op))),
            },
            T_SUM | T_AVG | T_MIN | T_MAX | T_COUNT | T_GROUP | T_STDDEV | T_STDVAR => None,
            _ => {
                return Err(QueryError::Unsupported {
                    feature: format!("the {} aggregation", a.op),
                });
            }
        };
        let rows = self.eval_vector(&a.expr)?;
        let out = match (op, param) {
            (T_TOPK | T_BOTTOMK, Some(k)) => self.topk(op == T_TOPK, &k, &g, &rows)?,
            (T_QUANTILE, Some(q)) => self.quantile(&q, &g, &rows)?,
            _ => self.simple(op, &g, &rows)?,
        };
        Ok(Value::Vector(out))
    }

    /// `sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`, `stdvar`.
    fn simple(&self, op: TokenId, g: &Grouping, rows: &[Row]) -> Result<Vec<Row>, QueryError> {
        let steps = self.grid.len;
        let (of_row, groups) = assign_groups(rows, g);
        self.ctx.check_points(groups.len(), steps)?;
        let mut acc = vec![Acc::default(); groups.len() * steps];
        for (r, &gi) in rows.iter().zip(&of_row) {
            self.ctx.check_timeout()?;
            let accs = &mut acc[gi * steps..(gi + 1) * steps];
            for (a, v) in accs.iter_mut().zip(&r.vals) {
                let Some(v) = *v else { continue };
                if a.seen {
                    a.add(op, v)
                } else {
                    *a = Acc::first(op, v)
                }
            }
        }
        Ok(groups
            .into_iter()
            .enumerate()
            .map(|(gi, labels)| {
                let vals = acc[gi * steps..(gi + 1) * steps]
                    .iter()
                    .map(|a| a.seen.then(|| a.result(op)))
                    .collect();
                Row::new(labels, vals)
            })
            .collect())
    }

    /// `quantile(φ, v)`: the φ-quantile of each group at each step.
    fn quantile(&self, q: &[f64], g: &Grouping, rows: &[Row]) -> Result<Vec<Row>, QueryError> {
        let steps = self.grid.len;
        let (of_row, groups) = assign_groups(rows, g);
        self.ctx.check_points(groups.len(), steps)?;
        let mut out: Vec<Row> = groups
            .into_iter()
            .map(|labels| Row::new(labels, vec![None; steps]))
            .collect();
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); out.len()];
        for (step, &q) in q.iter().enumerate().take(steps) {
            self.ctx.check_timeout()?;
            values.iter_mut().for_each(Vec::clear);
            for (r, &gi) in rows.iter().zip(&of_row) {
                if let Some(v) = r.vals[step] {
                    values[gi].push(v);
                }
            }
            for (gi, vals) in values.iter_mut().enumerate() {
                if !vals.is_empty() {
                    out[gi].vals[step] = Some(functions::quantile(q, vals));
                }
            }
        }
        Ok(out.into_iter().filter(Row::any).collect())
    }

    /// `topk(k, v)` and `bottomk(k, v)`: the selected elements keep their own labels.
    fn topk(
        &self,
        top: bool,
        k: &[f64],
        g: &Grouping,
        rows: &[Row],
    ) -> Result<Vec<Row>, QueryError> {
        let steps = self.grid.len;
        let (of_row, groups) = assign_groups(rows, g);
        let mut out = RowSet::new(steps, self.ctx.opts.max_points);
        let mut out_of_row: Vec<Option<usize>> = vec![None; rows.len()];
        let mut heaps: Vec<Vec<(f64, usize)>> = vec![Vec::new(); groups.len()];
        let mut order: Vec<usize> = Vec::new();
        for step in 0..steps {
            self.ctx.check_timeout()?;
            let kf = k[step];
            if !(-9_223_372_036_854_775_808.0..=9_223_372_036_854_774_784.0).contains(&kf) {
                return Err(QueryError::Execution(format!(
                    "Scalar value {} overflows int64",
                    go_float(kf)
                )));
            }
            let k = kf as i64;
            if k < 1 {
                continue;
            }
            heaps.iter_mut().for_each(Vec::clear);
            order.clear();
            for (ri, (r, &gi)) in rows.iter().zip(&of_row).enumerate() {
                let Some(v) = r.vals[step] else { continue };
                if heaps[gi].is_empty() {
                    order.push(gi);
                }
                GoHeap { top }.offer(&mut heaps[gi], k, (v, ri));
            }
            for &gi in &order {
                let heap = &mut heaps[gi];
                // Prometheus sorts the heap in reverse: the best element first.
                heap.sort_by(|a, b| GoHeap { top }.best_first(a.0, b.0));
                for &(v, ri) in heap.iter() {
                    let oi = match out_of_row[ri] {
                        Some(oi) => oi,
                        None => {
                            let r = &rows[ri];
                            let oi = out.row_marked(Rc::clone(&r.labels), r.drop_name)?;
                            out_of_row[ri] = Some(oi);
                            oi
                        }
                    };
                    out.set(oi, step, v)?;
                }
            }
        }
        Ok(out.finish())
    }

    /// `count_values("label", v)`: counts the elements of each value, the value (formatted as
    /// Go's `FormatFloat(v, 'f', -1)`) in `label`.
    fn count_values(
        &self,
        label: &str,
        g: &Grouping,
        rows: &[Row],
    ) -> Result<Vec<Row>, QueryError> {
        if !is_label_name(label) {
            return Err(QueryError::Execution(format!(
                "invalid label name {label:?}"
            )));
        }
        let mut grouping = Grouping {
            without: g.without,
            names: g.names.clone(),
        };
        if !g.without {
            grouping.names.push(label.to_string());
        }
        let steps = self.grid.len;
        let mut out = RowSet::new(steps, self.ctx.opts.max_points);
        let mut counts: Vec<Vec<f64>> = Vec::new();
        for r in rows {
            self.ctx.check_timeout()?;
            for (step, v) in r.vals.iter().enumerate() {
                let Some(v) = v else { continue };
                let mut l = (*r.labels).clone();
                l.set(label, &go_float_f(*v));
                let oi = out.row(Rc::new(grouping.labels(&l)))?;
                if counts.len() <= oi {
                    counts.resize(oi + 1, vec![0.0; steps]);
                }
                counts[oi][step] += 1.0;
            }
        }
        for (oi, c) in counts.iter().enumerate() {
            for (step, n) in c.iter().enumerate() {
                if *n > 0.0 {
                    out.set(oi, step, *n)?;
                }
            }
        }
        Ok(out.finish())
    }
}

/// Go's `container/heap` over `(value, row)` with Prometheus's `vectorByValueHeap` order
/// (`top`) or `vectorByReverseValueHeap` order; NaN sorts as the least wanted.
#[derive(Clone, Copy)]
struct GoHeap {
    top: bool,
}

impl GoHeap {
    fn less(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return true;
        }
        if self.top { a < b } else { a > b }
    }

    /// The order of Prometheus's reverse sort of the heap, best element first. A total
    /// order, as `sort_by` requires: `less` holds both ways between two NaNs, which are
    /// equal here (ties come in any order in Prometheus too).
    fn best_first(self, a: f64, b: f64) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        if a.is_nan() && b.is_nan() {
            Ordering::Equal
        } else if self.less(b, a) {
            Ordering::Less
        } else if self.less(a, b) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }

    /// One element of Prometheus's topk/bottomk loop.
    fn offer(self, h: &mut Vec<(f64, usize)>, k: i64, s: (f64, usize)) {
        if h.is_empty() {
            h.push(s);
            return;
        }
        let full = i64::try_from(h.len()).unwrap_or(i64::MAX) >= k;
        let better = if self.top { h[0].0 < s.0 } else { h[0].0 > s.0 };
        if !full || better || h[0].0.is_nan() {
            if full {
                if k == 1 {
                    h[0] = s;
                    return;
                }
                self.pop(h);
            }
            h.push(s);
            let last = h.len() - 1;
            self.up(h, last);
        }
    }

    fn pop(self, h: &mut Vec<(f64, usize)>) {
        let n = h.len() - 1;
        h.swap(0, n);
        self.down(h, 0, n);
        h.pop();
    }

    fn up(self, h: &mut [(f64, usize)], mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !self.less(h[j].0, h[i].0) {
                break;
            }
            h.swap(i, j);
            j = i;
        }
    }

    fn down(self, h: &mut [(f64, usize)], mut i: usize, n: usize) {
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && self.less(h[j1 + 1].0, h[j1].0) {
                j = j1 + 1;
            }
            if !self.less(h[j].0, h[i].0) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    }
}

/// The string parameter of `count_values`.
fn string_param(p: Option<&Expr>) -> Result<String, QueryError> {
    match p {
        Some(Expr::Paren(p)) => string_param(Some(&p.expr)),
        Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
        _ => Err(QueryError::BadData(
            "count_values needs a string literal parameter".into(),
        )),
    }
}

/// Whether `s` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn go_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Go's `%v` of a float64.
pub(crate) fn go_float(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if e.starts_with('-') => format!("{m}e-{:0>2}", &e[1..]),
            Some((m, e)) => format!("{m}e+{e:0>2}"),
            None => s,
        }
    } else {
        go_float_f(v)
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::GoHeap;

    #[test]
    fn heap_sort_order_is_total() {
        let values = [
            f64::NAN,
            f64::NEG_INFINITY,
            -1.0,
            0.0,
            2.0,
            f64::INFINITY,
            f64::NAN,
        ];
        for top in [true, false] {
            let h = GoHeap { top };
            for &a in &values {
                for &b in &values {
                    assert_eq!(
                        h.best_first(a, b),
                        h.best_first(b, a).reverse(),
                        "top {top}: {a} vs {b}"
                    );
                    for &c in &values {
                        if h.best_first(a, b) != Ordering::Greater
                            && h.best_first(b, c) != Ordering::Greater
                        {
                            assert_ne!(h.best_first(a, c), Ordering::Greater, "{a} {b} {c}");
                        }
                    }
                }
            }
            assert_eq!(h.best_first(f64::NAN, f64::NAN), Ordering::Equal);
            // NaN is the least wanted either way.
            assert_eq!(h.best_first(f64::NAN, 1.0), Ordering::Greater);
        }
    }
}
