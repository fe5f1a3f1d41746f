//! Property tests of the line-protocol decoder: arbitrary bytes never panic, mutated valid
//! bodies never panic, and random points with random escapes survive serialize → parse.
//!
//! proptest prints the failing input and saves its seed under `proptest-regressions/`, so a
//! failure replays with the same command.

use std::borrow::Cow;

use floe_node::ingest::line_protocol::{
    FieldValue, LineError, LineParser, Precision, SeriesMapper, append_samples,
};
use proptest::prelude::*;

/// Parses `body`, returning the number of points or the error; the property is that this
/// returns at all.
fn run(body: &[u8]) -> Result<usize, LineError> {
    let mut n = 0;
    LineParser::new(Precision::Nanoseconds)
        .parse(body, |l| {
            assert!(l.line_no >= 1);
            assert!(!l.fields.is_empty());
            assert!(!l.measurement.is_empty());
            n += 1;
            Ok(())
        })
        .map(|stats| {
            assert_eq!(stats.lines, n);
            n
        })
}

/// Bytes that matter to the grammar, and some that do not.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b", =\\\"#\n\r\t.-+eEiutfTF0123456789".to_vec()),
        2 => b'a'..=b'z',
        1 => any::<u8>(),
    ]
}

// --- A model of a point, its serializer and its generator --------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Float(f64),
    Int(i64),
    Uint(u64),
    Bool(bool, &'static str),
    Str(String),
}

#[derive(Debug, Clone)]
struct Point {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Value)>,
    timestamp: Option<i64>,
    /// Extra spaces between sections, and the line ending.
    spaces: usize,
    crlf: bool,
}

/// Escapes `s` for a name: every backslash doubled, every special character escaped.
fn escape(s: &str, specials: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == '\\' || specials.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn serialize(p: &Point, out: &mut String) {
    out.push_str(&escape(&p.measurement, ", "));
    for (k, v) in &p.tags {
        out.push(',');
        out.push_str(&escape(k, ",= "));
        out.push('=');
        out.push_str(&escape(v, ",= "));
    }
    out.push_str(&" ".repeat(p.spaces));
    for (i, (k, v)) in p.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&escape(k, ",= "));
        out.push('=');
        match v {
            Value::Float(x) if i % 2 == 0 => out.push_str(&format!("{x:?}")),
            Value::Float(x) => out.push_str(&format!("{x}")),
            Value::Int(x) => out.push_str(&format!("{x}i")),
            Value::Uint(x) => out.push_str(&format!("{x}u")),
            Value::Bool(_, spelling) => out.push_str(spelling),
            Value::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    if let Some(t) = p.timestamp {
        out.push_str(&" ".repeat(p.spaces));
        out.push_str(&t.to_string());
    }
    out.push_str(if p.crlf { "\r\n" } else { "\n" });
}

/// Names over an alphabet rich in characters that need escaping (no control characters:
/// they are refused outside strings).
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'z', '_', '0', '.', ',', ' ', '=', '\\', '"', '#', '\'', 'é', '🍭',
        ]),
        1..8,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::Float),
        (-1e6f64..1e6).prop_map(Value::Float),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::Uint),
        prop::sample::select(vec![
            (true, "t"),
            (true, "T"),
            (true, "true"),
            (true, "True"),
            (true, "TRUE"),
            (false, "f"),
            (false, "F"),
            (false, "false"),
            (false, "False"),
            (false, "FALSE"),
        ])
        .prop_map(|(b, s)| Value::Bool(b, s)),
        prop::collection::vec(
            prop::sample::select(vec!['a', ' ', ',', '=', '"', '\\', '\n', '\t', 'ß', '🚀']),
            0..10
        )
        .prop_map(|cs| Value::Str(cs.into_iter().collect())),
    ]
}

fn point() -> impl Strategy<Value = Point> {
    (
        // A measurement may not start with `#` (that line would be a comment).
        name().prop_filter("not a comment", |m| !m.starts_with('#')),
        prop::collection::btree_map(name(), name(), 0..6),
        prop::collection::btree_map(name(), value(), 1..6),
        prop::option::of(any::<i64>()),
        1usize..3,
        any::<bool>(),
    )
        .prop_map(
            |(measurement, tags, fields, timestamp, spaces, crlf)| Point {
                measurement,
                tags: tags.into_iter().collect(),
                fields: fields.into_iter().collect(),
                timestamp,
                spaces,
                crlf,
            },
        )
}

fn same_value(got: &FieldValue<'_>, want: &Value) -> bool {
    match (got, want) {
        (FieldValue::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
        (FieldValue::Integer(a), Value::Int(b)) => a == b,
        (FieldValue::Unsigned(a), Value::Uint(b)) => a == b,
        (FieldValue::Boolean(a), Value::Bool(b, _)) => a == b,
        (FieldValue::String(a), Value::Str(b)) => a == b,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = run(&body);
    }

    #[test]
    fn grammar_soup_never_panics(body in prop::collection::vec(interesting_byte(), 0..512)) {
        let _ = run(&body);
    }

    #[test]
    fn mutated_valid_bodies_never_panic(
        points in prop::collection::vec(point(), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), interesting_byte(), 0u8..3), 1..6),
    ) {
        let mut body = String::new();
        for p in &points {
            serialize(p, &mut body);
        }
        let mut body = body.into_bytes();
        for (at, byte, op) in edits {
            if body.is_empty() {
                break;
            }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => { body.remove(i); }
            }
        }
        let _ = run(&body);
    }

    #[test]
    fn the_series_mapper_agrees_with_append_samples(
        points in prop::collection::vec(point(), 1..6),
        repeat in 1usize..4,
    ) {
        let mut body = String::new();
        for _ in 0..repeat {
            for p in &points {
                serialize(p, &mut body);
            }
        }
        let mut mapper = SeriesMapper::new(Some("db0"), 7);
        let mut rows = Vec::new();
        let mapped = LineParser::new(Precision::Nanoseconds).parse(body.as_bytes(), |l| {
            let a = mapper.add(l);
            let b = append_samples(l, Some("db0"), 7, &mut rows);
            assert_eq!(a.is_ok(), b.is_ok());
            a.map(|_| ())
        });
        if mapped.is_ok() {
            prop_assert_eq!(mapper.into_rows(), rows);
        }
    }

    #[test]
    fn serialize_then_parse_round_trips(points in prop::collection::vec(point(), 1..8)) {
        let mut body = String::new();
        for p in &points {
            serialize(p, &mut body);
        }
        let mut got = Vec::new();
        let stats = LineParser::new(Precision::Milliseconds)
            .parse(body.as_bytes(), |l| {
                got.push((
                    l.line_no,
                    l.measurement.to_string(),
                    l.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>(),
                    l.fields
                        .iter()
                        .map(|(k, v)| (k.to_string(), match v {
                            FieldValue::String(s) => FieldValue::String(Cow::Owned(s.to_string())),
                            FieldValue::Float(x) => FieldValue::Float(*x),
                            FieldValue::Integer(x) => FieldValue::Integer(*x),
                            FieldValue::Unsigned(x) => FieldValue::Unsigned(*x),
                            FieldValue::Boolean(x) => FieldValue::Boolean(*x),
                        }))
                        .collect::<Vec<_>>(),
                    l.timestamp_ms,
                ));
                Ok(())
            });
        prop_assert!(stats.is_ok(), "{:?}\n{body}", stats);
        prop_assert_eq!(got.len(), points.len());
        let mut line_no = 1;
        for (p, (n, m, tags, fields, ts)) in points.iter().zip(&got) {
            prop_assert_eq!(*n, line_no);
            prop_assert_eq!(m, &p.measurement);
            prop_assert_eq!(tags, &p.tags);
            prop_assert_eq!(fields.len(), p.fields.len());
            for ((gk, gv), (wk, wv)) in fields.iter().zip(&p.fields) {
                prop_assert_eq!(gk, wk);
                prop_assert!(same_value(gv, wv), "{:?} != {:?}", gv, wv);
            }
            prop_assert_eq!(*ts, p.timestamp);
            // Newlines inside string values shift the next point's line number.
            line_no += 1 + p.fields.iter().map(|(_, v)| match v {
                Value::Str(s) => s.matches('\n').count(),
                _ => 0,
            }).sum::<usize>();
        }
    }
}
