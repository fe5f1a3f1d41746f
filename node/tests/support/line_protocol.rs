//! Helpers shared by the line-protocol decoder's tests: parse into owned lines, and take the
//! first error or problem.

#![allow(dead_code)]

use std::borrow::Cow;

use floe_node::ingest::line_protocol::{
    FieldValue, Line, LineError, LineParser, Precision, Problem, Stats,
};

pub(crate) fn parse_with(
    parser: &mut LineParser,
    body: &[u8],
) -> Result<(Vec<Line<'static>>, Stats), LineError> {
    let mut out = Vec::new();
    let stats = parser.parse(body, |l| {
        out.push(owned(l));
        Ok(())
    })?;
    Ok((out, stats))
}

/// A `'static` copy of a line, so tests can keep it past the body.
pub(crate) fn owned(l: &Line<'_>) -> Line<'static> {
    let s = |c: &Cow<'_, str>| Cow::Owned(c.to_string());
    Line {
        line_no: l.line_no,
        measurement: s(&l.measurement),
        series: Vec::leak(l.series.to_vec()),
        tags: l.tags.iter().map(|(k, v)| (s(k), s(v))).collect(),
        fields: l
            .fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FieldValue::String(x) => FieldValue::String(s(x)),
                    FieldValue::Float(x) => FieldValue::Float(*x),
                    FieldValue::Integer(x) => FieldValue::Integer(*x),
                    FieldValue::Unsigned(x) => FieldValue::Unsigned(*x),
                    FieldValue::Boolean(x) => FieldValue::Boolean(*x),
                };
                (s(k), v)
            })
            .collect(),
        timestamp_ms: l.timestamp_ms,
    }
}

pub(crate) fn parse(body: &str) -> Vec<Line<'static>> {
    match parse_with(
        &mut LineParser::new(Precision::Nanoseconds),
        body.as_bytes(),
    ) {
        Ok((lines, _)) => lines,
        Err(e) => panic!("{body:?}: {e}"),
    }
}

pub(crate) fn one(body: &str) -> Line<'static> {
    let mut lines = parse(body);
    assert_eq!(lines.len(), 1, "{body:?}");
    lines.remove(0)
}

pub(crate) fn err(body: &str) -> LineError {
    match parse_with(
        &mut LineParser::new(Precision::Nanoseconds),
        body.as_bytes(),
    ) {
        Ok((lines, _)) => panic!("{body:?} parsed: {lines:?}"),
        Err(e) => e,
    }
}

pub(crate) fn problem(body: &str) -> Problem {
    match err(body) {
        LineError::Parse { problem, .. } => problem,
        e => panic!("{body:?}: {e}"),
    }
}
