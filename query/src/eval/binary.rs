//! Binary operators: scalar–scalar, vector–scalar and vector–vector with `on`/`ignoring`,
//! `group_left`/`group_right` and the set operators, following Prometheus 2.42's
//! `VectorBinop`, `VectorscalarBinop`, `VectorAnd`/`Or`/`Unless` and `resultMetric`.

use std::rc::Rc;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::rows::{FastMap, Row, RowSet, fast_map, merge_rows};
use super::{Evaluator, Value};
use crate::value::Labels;
use crate::{METRIC_NAME, QueryError};

/// Whether `op` drops the metric name (Prometheus 2.42's `shouldDropMetricName`: the
/// arithmetic operators other than `atan2`).
fn drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD)
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Prometheus's `vectorElemBinop`: the value and whether a comparison keeps the element.
fn elem_binop(op: TokenId, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// Prometheus's `scalarBinop`: comparisons give 1 or 0.
fn scalar_binop(op: TokenId, l: f64, r: f64) -> f64 {
    let (v, keep) = elem_binop(op, l, r);
    if is_comparison(op) {
        f64::from(u8::from(keep))
    } else {
        v
    }
}

/// How two vectors' series are matched.
struct Matching<'m> {
    card: &'m VectorMatchCardinality,
    /// `on(...)` (true) or `ignoring(...)` (false).
    on: bool,
    names: &'m [String],
}

impl<'m> Matching<'m> {
    fn of(modifier: &'m Option<BinModifier>) -> Matching<'m> {
        static ONE_TO_ONE: VectorMatchCardinality = VectorMatchCardinality::OneToOne;
        let Some(m) = modifier else {
            return Matching {
                card: &ONE_TO_ONE,
                on: false,
                names: &[],
            };
        };
        let (on, names): (bool, &[String]) = match &m.matching {
            Some(LabelModifier::Include(l)) => (true, &l.labels),
            Some(LabelModifier::Exclude(l)) => (false, &l.labels),
            None => (false, &[]),
        };
        Matching {
            card: &m.card,
            on,
            names,
        }
    }

    /// The labels two series are matched on (Prometheus's `MatchLabels`): with `on`, only
    /// the listed labels; with `ignoring`, all but the listed ones and `__name__`.
    fn signature(&self, labels: &Labels) -> Labels {
        let pairs = labels
            .pairs()
            .iter()
            .filter(|(n, _)| {
                let listed = self.names.iter().any(|x| x == n);
                if self.on {
                    listed
                } else {
                    !listed && n != METRIC_NAME
                }
            })
            .cloned()
            .collect();
        Labels::new(pairs)
    }

    fn include(&self) -> &[String] {
        match self.card {
            VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => {
                &l.labels
            }
            _ => &[],
        }
    }

    /// Prometheus's `resultMetric`: the many side's labels, name dropped for arithmetic,
    /// reduced to the matching labels for one-to-one, plus the `group_x` labels of the one
    /// side.
    fn result_labels(&self, op: TokenId, many: &Labels, one: &Labels) -> Labels {
        let mut l = many.clone();
        if drops_name(op) {
            l.remove(METRIC_NAME);
        }
        if matches!(self.card, VectorMatchCardinality::OneToOne) {
            if self.on {
                let keep = l
                    .pairs()
                    .iter()
                    .filter(|(n, _)| self.names.contains(n))
                    .cloned()
                    .collect();
                l = Labels::new(keep);
            } else {
                self.names.iter().for_each(|n| l.remove(n));
            }
        }
        for n in self.include() {
            match one.get(n) {
                Some(v) => l.set(n, v),
                None => l.remove(n),
            }
        }
        l
    }
}

/// Interns signatures as small integers so that per-step matching is array indexing.
fn signature_ids(m: &Matching<'_>, lhs: &[Row], rhs: &[Row]) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ids: FastMap<Labels, usize> = fast_map();
    let mut id_of = |r: &Row| {
        let sig = m.signature(&r.labels);
        let next = ids.len();
        *ids.entry(sig).or_insert(next)
    };
    let l = lhs.iter().map(&mut id_of).collect();
    let r = rhs.iter().map(&mut id_of).collect();
    (l, r, ids.len())
}

impl Evaluator<'_> {
    /// Evaluates a binary expression.
    pub(crate) fn eval_binary(&self, b: &BinaryExpr) -> Result<Value, QueryError> {
        if let Some(m) = &b.modifier
            && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
        {
            return Err(QueryError::Unsupported {
                feature: "fill modifiers".into(),
            });
        }
        let op = b.op.id();
        let return_bool = b.return_bool();
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(a, b)| scalar_binop(op, *a, *b))
                    .collect(),
            )),
            (Value::Vector(l), Value::Scalar(r)) => {
                self.vector_scalar(op, l, &r, false, return_bool)
            }
            (Value::Scalar(l), Value::Vector(r)) => {
                self.vector_scalar(op, r, &l, true, return_bool)
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let m = Matching::of(&b.modifier);
                let rows = match op {
                    T_LAND | T_LOR | T_LUNLESS => self.set_op(op, &m, l, r)?,
                    _ => self.vector_binop(op, &m, &l, &r, return_bool)?,
                };
                Ok(Value::Vector(rows))
            }
            _ => Err(QueryError::Execution(
                "binary expression must contain only scalar and instant vector types".into(),
            )),
        }
    }

    /// Prometheus's `VectorscalarBinop`; `swap` when the scalar is on the left.
    fn vector_scalar(
        &self,
        op: TokenId,
        mut rows: Vec<Row>,
        scalar: &[f64],
        swap: bool,
        return_bool: bool,
    ) -> Result<Value, QueryError> {
        let rename = drops_name(op) || return_bool;
        for r in &mut rows {
            if rename {
                self.remove_name(r);
            }
            for (slot, s) in r.vals.iter_mut().zip(scalar) {
                let Some(v) = *slot else { continue };
                let (lv, rv) = if swap { (*s, v) } else { (v, *s) };
                let (mut value, mut keep) = elem_binop(op, lv, rv);
                if is_comparison(op) && swap {
                    value = rv;
                }
                if return_bool {
                    value = f64::from(u8::from(keep));
                    keep = true;
                }
                *slot = keep.then_some(value);
            }
        }
        let rows = if rename {
            merge_rows(rows, self.grid.len, self.ctx.opts.max_points)?
        } else {
            rows.into_iter().filter(Row::any).collect()
        };
        Ok(Value::Vector(rows))
    }

    /// `and`, `or`, `unless` (Prometheus's `VectorAnd`, `VectorOr`, `VectorUnless`): the
    /// elements are passed through with their labels.
    fn set_op(
        &self,
        op: TokenId,
        m: &Matching<'_>,
        lhs: Vec<Row>,
        rhs: Vec<Row>,
    ) -> Result<Vec<Row>, QueryError> {
        let (lsig, rsig, nsig) = signature_ids(m, &lhs, &rhs);
        let steps = self.grid.len;
        let mut out_l: Vec<Vec<Option<f64>>> = lhs.iter().map(|_| vec![None; steps]).collect();
        let mut out_r: Vec<Vec<Option<f64>>> = rhs.iter().map(|_| vec![None; steps]).collect();
        // stamp[sig] == step + 1: the signature is present on the side looked at, this step.
        let mut stamp = vec![0usize; nsig];
        for step in 0..steps {
            self.ctx.check_timeout()?;
            let (side, sigs) = if op == T_LOR {
                (&lhs, &lsig)
            } else {
                (&rhs, &rsig)
            };
            for (r, &s) in side.iter().zip(sigs) {
                if r.vals[step].is_some() {
                    stamp[s] = step + 1;
                }
            }
            for (i, r) in lhs.iter().enumerate() {
                let Some(v) = r.vals[step] else { continue };
                let matched = stamp[lsig[i]] == step + 1;
                let keep = match op {
                    T_LAND => matched,
                    T_LUNLESS => !matched,
                    _ => true,
                };
                if keep {
                    out_l[i][step] = Some(v);
                }
            }
            if op == T_LOR {
                for (j, r) in rhs.iter().enumerate() {
                    if let Some(v) = r.vals[step].filter(|_| stamp[rsig[j]] != step + 1) {
                        out_r[j][step] = Some(v);
                    }
                }
            }
        }
        let rows = lhs
            .into_iter()
            .zip(out_l)
            .chain(rhs.into_iter().zip(out_r))
            .map(|(r, vals)| Row {
                labels: r.labels,
                vals,
                drop_name: r.drop_name,
            })
            .collect();
        merge_rows(rows, steps, self.ctx.opts.max_points)
    }

    /// Arithmetic and comparison between two vectors (Prometheus's `VectorBinop`).
    fn vector_binop(
        &self,
        op: TokenId,
        m: &Matching<'_>,
        lhs: &[Row],
        rhs: &[Row],
        return_bool: bool,
    ) -> Result<Vec<Row>, QueryError> {
        let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
        let (lsig, rsig, nsig) = signature_ids(m, lhs, rhs);
        // After the swap, `many` is Prometheus's lhs and `one` its rhs.
        let (many, one, many_sig, one_sig) = if one_to_many {
            (rhs, lhs, rsig, lsig)
        } else {
            (lhs, rhs, lsig, rsig)
        };
        let mut st = BinopState {
            one_at: vec![(0, 0); nsig],
            matched: vec![0; nsig],
            cache: fast_map(),
            out: RowSet::new(self.grid.len, self.ctx.opts.max_points),
            writer: Vec::new(),
            delayed: self.delayed_name_removal(),
        };
        for step in 0..self.grid.len {
            self.ctx.check_timeout()?;
            let tag = step + 1;
            if !many.iter().any(|r| r.vals[step].is_some()) {
                continue;
            }
            let mut any_one = false;
            for (j, r) in one.iter().enumerate() {
                if r.vals[step].is_none() {
                    continue;
                }
                any_one = true;
                let s = one_sig[j];
                if st.one_at[s].0 == tag {
                    return Err(duplicate_error(
                        m,
                        one_to_many,
                        &r.labels,
                        &one[st.one_at[s].1].labels,
                    ));
                }
                st.one_at[s] = (tag, j);
            }
            if !any_one {
                continue;
            }
            let mut conflict = false;
            for (i, r) in many.iter().enumerate() {
                let Some(mv) = r.vals[step] else { continue };
                let s = many_sig[i];
                if st.one_at[s].0 != tag {
                    continue;
                }
                let j = st.one_at[s].1;
                let Some(ov) = one[j].vals[step] else {
                    continue;
                };
                let (vl, vr) = if one_to_many { (ov, mv) } else { (mv, ov) };
                let (mut value, keep) = elem_binop(op, vl, vr);
                if return_bool {
                    value = f64::from(u8::from(keep));
                } else if !keep {
                    continue;
                }
                let row = st.result_row(m, op, return_bool, (i, r), (j, &one[j].labels))?;
                conflict |= st.record(m, s, row, tag, step, value)?;
            }
            if conflict {
                return Err(super::rows::same_labelset_error());
            }
        }
        Ok(st.out.finish())
    }
}

/// Per-query scratch state of [`Evaluator::vector_binop`].
struct BinopState {
    /// Per signature: (step tag, index of the one-side row) when present this step.
    one_at: Vec<(usize, usize)>,
    /// Per signature: step tag when a one-to-one match was made this step.
    matched: Vec<usize>,
    /// (many row, one row) → output row.
    cache: FastMap<(usize, usize), usize>,
    out: RowSet,
    /// Per output row: (step tag, signature) of its last write.
    writer: Vec<(usize, usize)>,
    /// Delayed name removal: `bool` comparisons mark their result instead of dropping the
    /// name.
    delayed: bool,
}

impl BinopState {
    fn result_row(
        &mut self,
        m: &Matching<'_>,
        op: TokenId,
        return_bool: bool,
        many: (usize, &Row),
        one: (usize, &Rc<Labels>),
    ) -> Result<usize, QueryError> {
        if let Some(&row) = self.cache.get(&(many.0, one.0)) {
            return Ok(row);
        }
        let mut labels = m.result_labels(op, &many.1.labels, one.1);
        // Arithmetic has dropped the name already; a filtering comparison passes the many
        // side's mark on (Prometheus 3 loses it there, keeping a name 2.42 drops).
        let mut mark = many.1.drop_name && labels.get(METRIC_NAME).is_some();
        if return_bool {
            if self.delayed {
                mark = labels.get(METRIC_NAME).is_some();
            } else {
                labels.remove(METRIC_NAME);
            }
        }
        let row = self.out.row_marked(Rc::new(labels), mark)?;
        if self.writer.len() <= row {
            self.writer.resize(row + 1, (0, 0));
        }
        self.cache.insert((many.0, one.0), row);
        Ok(row)
    }

    /// Writes one result; returns whether it collides with another signature's result
    /// (reported after the step, as Prometheus's labelset check runs after the operator).
    fn record(
        &mut self,
        m: &Matching<'_>,
        sig: usize,
        row: usize,
        tag: usize,
        step: usize,
        value: f64,
    ) -> Result<bool, QueryError> {
        if matches!(m.card, VectorMatchCardinality::OneToOne) {
            if self.matched[sig] == tag {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            self.matched[sig] = tag;
        } else if self.writer[row] == (tag, sig) {
            return Err(QueryError::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        if self.out.is_set(row, step) {
            return Ok(true);
        }
        self.writer[row] = (tag, sig);
        self.out.set(row, step, value)?;
        Ok(false)
    }
}

fn duplicate_error(
    m: &Matching<'_>,
    one_to_many: bool,
    dup: &Labels,
    first: &Labels,
) -> QueryError {
    let side = if one_to_many { "left" } else { "right" };
    QueryError::Execution(format!(
        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{dup}, {first}];many-to-many matching not allowed: matching labels must be unique on one side",
        m.signature(dup)
    ))
}
