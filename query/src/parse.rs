//! Parsing with the limits that keep a hostile query from exhausting the stack or the CPU:
//! the text's length, its operator count (checked before the parser runs: `promql-parser` is
//! quadratic on long operator chains, and 20,000 nested parentheses overflowed a 2 MiB
//! stack) and the depth of the expression tree (the evaluator recurses once per level).
//! Neither the depth walk nor the disposal of a refused tree recurses.

use promql_parser::parser::{Expr, NumberLiteral};

use crate::QueryError;

/// Longest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Most operators, parentheses and brackets a query may hold. The parser's time grows with
/// the square of an operator chain's length (60,000 unary minus signs take seconds), so the
/// count is checked before parsing.
pub const MAX_QUERY_OPERATORS: usize = 5_000;

/// Deepest expression tree a query may have (parentheses, operators, function calls,
/// aggregations and subqueries each add a level). Hand-written queries stay far below it.
pub const MAX_QUERY_DEPTH: usize = 1_000;

/// Stack a thread needs to parse, evaluate and drop any expression [`parse`] admits, with a
/// wide margin for debug builds (whose frames are several times larger). Run
/// [`crate::instant_query`] and [`crate::range_query`] on a thread with at least this much.
pub const EVAL_STACK_BYTES: usize = 64 << 20;

/// Parses a PromQL expression; the error is `bad_data` and carries the parser's message, or
/// names the limit exceeded: [`MAX_QUERY_BYTES`], [`MAX_QUERY_OPERATORS`] (before parsing)
/// or [`MAX_QUERY_DEPTH`].
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(QueryError::BadData(format!(
            "query is {} bytes, more than the limit of {MAX_QUERY_BYTES}",
            query.len()
        )));
    }
    if operator_count(query) > MAX_QUERY_OPERATORS {
        return Err(QueryError::BadData(format!(
            "invalid parameter \"query\": more than {MAX_QUERY_OPERATORS} operators, parentheses and brackets"
        )));
    }
    register_prometheus_2_functions();
    let expr = promql_parser::parser::parse(query)
        .map_err(|msg| QueryError::BadData(format!("invalid parameter \"query\": {msg}")))?;
    if depth_exceeds(&expr, MAX_QUERY_DEPTH) {
        dismantle(expr);
        return Err(QueryError::BadData(format!(
            "invalid parameter \"query\": expression nested more than {MAX_QUERY_DEPTH} levels deep"
        )));
    }
    Ok(expr)
}

/// Whether `expr` is more than `max` levels deep, found without recursion.
fn depth_exceeds(expr: &Expr, max: usize) -> bool {
    let mut stack: Vec<(&Expr, usize)> = vec![(expr, 1)];
    while let Some((e, depth)) = stack.pop() {
        if depth > max {
            return true;
        }
        let next = depth + 1;
        match e {
            Expr::Aggregate(a) => {
                stack.push((&a.expr, next));
                stack.extend(a.param.iter().map(|p| (&**p, next)));
            }
            Expr::Unary(u) => stack.push((&u.expr, next)),
            Expr::Binary(b) => stack.extend([(&*b.lhs, next), (&*b.rhs, next)]),
            Expr::Paren(p) => stack.push((&p.expr, next)),
            Expr::Subquery(s) => stack.push((&s.expr, next)),
            Expr::Call(c) => stack.extend(c.args.args.iter().map(|a| (&**a, next))),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
    }
    false
}

/// The number of nodes of `expr`, counted without recursion.
pub(crate) fn node_count(expr: &Expr) -> usize {
    let mut stack: Vec<&Expr> = vec![expr];
    let mut count = 0;
    while let Some(e) = stack.pop() {
        count += 1;
        match e {
            Expr::Aggregate(a) => {
                stack.push(&a.expr);
                stack.extend(a.param.as_deref());
            }
            Expr::Unary(u) => stack.push(&u.expr),
            Expr::Binary(b) => stack.extend([&*b.lhs, &*b.rhs]),
            Expr::Paren(p) => stack.push(&p.expr),
            Expr::Subquery(s) => stack.push(&s.expr),
            Expr::Call(c) => stack.extend(c.args.args.iter().map(|a| &**a)),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
    }
    count
}

/// Drops an expression tree without recursion (the derived drop recurses once per level).
pub(crate) fn dismantle(expr: Expr) {
    let leaf = || Expr::NumberLiteral(NumberLiteral { val: 0.0 });
    let mut stack = vec![expr];
    while let Some(mut e) = stack.pop() {
        match &mut e {
            Expr::Aggregate(a) => {
                stack.push(std::mem::replace(&mut *a.expr, leaf()));
                stack.extend(a.param.take().map(|p| *p));
            }
            Expr::Unary(u) => stack.push(std::mem::replace(&mut *u.expr, leaf())),
            Expr::Binary(b) => {
                stack.push(std::mem::replace(&mut *b.lhs, leaf()));
                stack.push(std::mem::replace(&mut *b.rhs, leaf()));
            }
            Expr::Paren(p) => stack.push(std::mem::replace(&mut *p.expr, leaf())),
            Expr::Subquery(s) => stack.push(std::mem::replace(&mut *s.expr, leaf())),
            Expr::Call(c) => stack.extend(c.args.args.drain(..).map(|a| *a)),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
    }
}

/// An expression that [`dismantle`]s itself when dropped, however evaluation ends.
pub(crate) struct Tree(Expr);

impl Tree {
    pub(crate) fn new(expr: Expr) -> Tree {
        Tree(expr)
    }
}

impl std::ops::Deref for Tree {
    type Target = Expr;

    fn deref(&self) -> &Expr {
        &self.0
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let leaf = Expr::NumberLiteral(NumberLiteral { val: 0.0 });
        dismantle(std::mem::replace(&mut self.0, leaf));
    }
}

/// Operator characters, parentheses, brackets and the words `and`, `or`, `unless` and
/// `atan2` outside string literals and comments (an over-estimate of the parser's operators).
fn operator_count(text: &str) -> usize {
    let (mut count, mut quote, mut escaped, mut comment) = (0, None, false, false);
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if comment {
            comment = c != '\n';
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        if matches!(word.as_str(), "and" | "or" | "unless" | "atan2") {
            count += 1;
        }
        word.clear();
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '#' => comment = true,
            '(' | '[' | '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!' => count += 1,
            _ => {}
        }
    }
    count
}

/// Teaches the parser the Prometheus 2.x functions it no longer knows (`holt_winters`, renamed
/// `double_exponential_smoothing` in Prometheus 3). Runs once per process.
fn register_prometheus_2_functions() {
    use promql_parser::parser::{Function, register_extra_functions, value::ValueType};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let holt_winters = Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        // Fails only if a later parser version defines the function itself, which is fine.
        let _ = register_extra_functions(vec![holt_winters]);
    });
}

#[cfg(test)]
mod tests;
