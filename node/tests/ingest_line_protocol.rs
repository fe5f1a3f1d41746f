//! The InfluxDB line-protocol decoder through its public API: escaping (the examples of
//! InfluxDB's documentation), field types, precisions and timestamps, line endings and comments.
//! Errors, limits, hostile input and the mapping onto series are in `ingest_line_protocol_errors.rs`.

use std::borrow::Cow;

use floe_node::ingest::line_protocol::{
    FieldValue, Line, LineError, LineParser, Precision, Problem, Stats,
};

mod support;

use support::line_protocol::{err, one, parse, parse_with, problem};

fn tags(l: &Line<'_>) -> Vec<(String, String)> {
    l.tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(l: &Line<'static>, key: &str) -> FieldValue<'static> {
    let (_, v) = l
        .fields
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no field {key} in {l:?}"));
    v.clone()
}

fn s(x: &str) -> FieldValue<'static> {
    FieldValue::String(Cow::Owned(x.to_owned()))
}

// ---------------------------------------------------------------------------------------
// Escaping

#[test]
fn documented_examples_of_special_characters() {
    // The examples of InfluxDB 2's line protocol reference, "Special characters".
    let l = one(r#"my\ Measurement fieldKey="string value""#);
    assert_eq!(l.measurement, "my Measurement");
    assert_eq!(field(&l, "fieldKey"), s("string value"));

    let l = one(r#"myMeasurement fieldKey="\"string\" within a string""#);
    assert_eq!(field(&l, "fieldKey"), s(r#""string" within a string"#));

    let l = one(r"myMeasurement,tag\ Key1=tag\ Value1,tag\ Key2=tag\ Value2 fieldKey=100");
    assert_eq!(
        tags(&l),
        vec![
            ("tag Key1".into(), "tag Value1".into()),
            ("tag Key2".into(), "tag Value2".into())
        ]
    );
    assert_eq!(field(&l, "fieldKey"), FieldValue::Float(100.0));

    let l = one(r#"myMeasurement,tagKey=🍭 fieldKey="Launch 🚀" 1556813561098000000"#);
    assert_eq!(tags(&l), vec![("tagKey".into(), "🍭".into())]);
    assert_eq!(field(&l, "fieldKey"), s("Launch 🚀"));
    assert_eq!(l.timestamp_ms, Some(1_556_813_561_098));
}

#[test]
fn commas_spaces_and_equals_in_names() {
    // InfluxDB 1's tutorial examples.
    let l = one(r"cpu\,01,host=serverA,region=us-west value=1");
    assert_eq!(l.measurement, "cpu,01");
    assert_eq!(l.series, br"cpu\,01,host=serverA,region=us-west");
    let l = one(r"cpu,host=server\ A,region=us\ west value=1");
    assert_eq!(
        tags(&l),
        vec![
            ("host".into(), "server A".into()),
            ("region".into(), "us west".into())
        ]
    );
    let l = one(r"cpu,tag\=key=tag\=value,tag\,k=v\,v field\=key=1,field\ key=2,field\,key=3");
    assert_eq!(
        tags(&l),
        vec![
            ("tag=key".into(), "tag=value".into()),
            ("tag,k".into(), "v,v".into())
        ]
    );
    let keys: Vec<&str> = l.fields.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["field=key", "field key", "field,key"]);
}

#[test]
fn what_a_measurement_does_not_escape() {
    // A measurement escapes only commas and spaces: `=` is plain and `\=` stays two bytes.
    assert_eq!(one("a=b value=1").measurement, "a=b");
    assert_eq!(one(r"a\=b value=1").measurement, r"a\=b");
    // Quotes in names are part of the name.
    let l = one(r#""cpu",'host'="a" "f"=1"#);
    assert_eq!(l.measurement, r#""cpu""#);
    assert_eq!(tags(&l), vec![("'host'".into(), r#""a""#.into())]);
    assert_eq!(l.fields[0].0, r#""f""#);
}

#[test]
fn backslashes_as_documented() {
    // InfluxDB 2's "Escaping backslashes" table: with two contiguous backslashes the first
    // escapes the second; a lone one is literal.
    for (sent, meant) in [
        (r"\", r"\"),
        (r"\\", r"\"),
        (r"\\\", r"\\"),
        (r"\\\\", r"\\"),
        (r"\\\\\", r"\\\"),
        (r"\\\\\\", r"\\\"),
    ] {
        let l = one(&format!("m{sent}x,t=a{sent}b f{sent}k=1"));
        assert_eq!(l.measurement, format!("m{meant}x"), "measurement {sent}");
        assert_eq!(
            tags(&l),
            vec![("t".into(), format!("a{meant}b"))],
            "tag value {sent}"
        );
        assert_eq!(l.fields[0].0, format!("f{meant}k"), "field key {sent}");
    }
    // A backslash before any other character is literal, so Telegraf's `\t` stays `\t`.
    assert_eq!(
        tags(&one(r"m,path=C:\temp\new f=1")),
        vec![("path".into(), r"C:\temp\new".into())]
    );
    // An escaped backslash does not escape what follows it.
    let l = one(r"m,t=a\\ f=1");
    assert_eq!(tags(&l), vec![("t".into(), r"a\".into())]);
    // An escaped space does: here the tag value swallows the field set.
    assert_eq!(problem(r"m,t=a\ b"), Problem::MissingFields);
    assert_eq!(problem(r"m,t=a\ f=1"), Problem::InvalidTagFormat);
    // A trailing backslash at the end of the body is literal.
    assert_eq!(field(&one(r"m f=1,g=t"), "g"), FieldValue::Boolean(true));
    assert_eq!(problem(r"m\"), Problem::MissingFields);
}

#[test]
fn string_field_escapes() {
    let l = one(r#"m a="",b="x\"y",c="back\\slash",d="\n stays",e="a\b",f="a,b c=d""#);
    assert_eq!(field(&l, "a"), s(""));
    assert_eq!(field(&l, "b"), s(r#"x"y"#));
    assert_eq!(field(&l, "c"), s(r"back\slash"));
    assert_eq!(field(&l, "d"), s(r"\n stays"));
    assert_eq!(field(&l, "e"), s(r"a\b"));
    assert_eq!(field(&l, "f"), s("a,b c=d"));
    // A string value may hold a raw newline (InfluxDB accepts it); the point then spans two
    // lines and the next point's number counts both.
    let ls = parse("m s=\"two\nlines\",v=1 1000000\nm v=2\n");
    assert_eq!(ls.len(), 2);
    assert_eq!(field(&ls[0], "s"), s("two\nlines"));
    assert_eq!(ls[0].timestamp_ms, Some(1));
    assert_eq!((ls[0].line_no, ls[1].line_no), (1, 3));
    // Escaped quote at the very end: still unbalanced.
    assert_eq!(problem(r#"m s="abc\""#), Problem::UnbalancedQuotes);
    assert_eq!(problem(r#"m s="abc"x"#), Problem::UnexpectedAfterString);
    assert_eq!(problem(r#"m s="abc""def""#), Problem::UnexpectedAfterString);
}

// ---------------------------------------------------------------------------------------
// Field types

#[test]
fn floats() {
    for (sent, v) in [
        ("1", 1.0),
        ("1.0", 1.0),
        ("-1.5", -1.5),
        ("0", 0.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("1e+3", 1000.0),
        ("1.5e-3", 0.0015),
        ("-1.234456e+78", -1.234456e78),
        ("1.7976931348623157e308", f64::MAX),
        ("4.9e-324", 5e-324),
        ("1e-400", 0.0),
        ("00012.50", 12.5),
        ("3.141592653589793238462643383279", std::f64::consts::PI),
    ] {
        assert_eq!(
            field(&one(&format!("m v={sent}")), "v"),
            FieldValue::Float(v),
            "{sent}"
        );
    }
    let neg_zero = field(&one("m v=-0.0"), "v");
    assert!(matches!(neg_zero, FieldValue::Float(z) if z == 0.0 && z.is_sign_negative()));
    for bad in [
        "1.2.3", "1e", "1e+", "1ee3", "-", "-.", ".", "1x", "1-2", "0x1A", "1_000", "1,5e", "1.5f",
    ] {
        let p = problem(&format!("m v={bad} 1"));
        assert!(
            matches!(
                p,
                Problem::InvalidNumber { .. }
                    | Problem::MissingFieldKey
                    | Problem::InvalidFieldFormat
            ),
            "{bad}: {p:?}"
        );
    }
    assert_eq!(
        problem("m v=1e309"),
        Problem::FloatOutOfRange {
            value: "1e309".into()
        }
    );
    assert_eq!(
        problem("m v=-1e309"),
        Problem::FloatOutOfRange {
            value: "-1e309".into()
        }
    );
}

#[test]
fn nan_and_infinity_are_refused() {
    for bad in [
        "NaN",
        "nan",
        "-NaN",
        "Inf",
        "inf",
        "-inf",
        "+Inf",
        "Infinity",
        "-infinity",
    ] {
        let p = problem(&format!("m v={bad}"));
        assert!(matches!(p, Problem::NonFiniteNumber { .. }), "{bad}: {p:?}");
        assert!(
            p.to_string().contains("NaN and infinity are not supported"),
            "{p}"
        );
    }
}

#[test]
fn integers_and_unsigned() {
    let l = one(
        "m a=0i,b=-1i,c=9223372036854775807i,d=-9223372036854775808i,e=0u,f=18446744073709551615u,g=007i",
    );
    assert_eq!(field(&l, "a"), FieldValue::Integer(0));
    assert_eq!(field(&l, "b"), FieldValue::Integer(-1));
    assert_eq!(field(&l, "c"), FieldValue::Integer(i64::MAX));
    assert_eq!(field(&l, "d"), FieldValue::Integer(i64::MIN));
    assert_eq!(field(&l, "e"), FieldValue::Unsigned(0));
    assert_eq!(field(&l, "f"), FieldValue::Unsigned(u64::MAX));
    assert_eq!(field(&l, "g"), FieldValue::Integer(7));
    assert_eq!(
        problem("m v=9223372036854775808i"),
        Problem::IntegerOutOfRange {
            value: "9223372036854775808".into()
        }
    );
    assert_eq!(
        problem("m v=-9223372036854775809i"),
        Problem::IntegerOutOfRange {
            value: "-9223372036854775809".into()
        }
    );
    assert_eq!(
        problem("m v=18446744073709551616u"),
        Problem::UnsignedOutOfRange {
            value: "18446744073709551616".into()
        }
    );
    for bad in [
        "-1u", "1.5i", "1e3i", "i", "-i", "1ii", "1iu", "1ui", "--1i", "1i2", "1u2", ".i",
    ] {
        let p = problem(&format!("m v={bad}"));
        assert!(
            matches!(
                p,
                Problem::InvalidNumber { .. }
                    | Problem::InvalidFieldValue { .. }
                    | Problem::NonFiniteNumber { .. }
            ),
            "{bad}: {p:?}"
        );
    }
    assert_eq!(
        problem("m v=9223372036854775808i").to_string(),
        "unable to parse integer 9223372036854775808: value out of range"
    );
}

#[test]
fn booleans_all_ten_spellings() {
    for t in ["t", "T", "true", "True", "TRUE"] {
        assert_eq!(
            field(&one(&format!("m v={t}")), "v"),
            FieldValue::Boolean(true),
            "{t}"
        );
    }
    for f in ["f", "F", "false", "False", "FALSE"] {
        assert_eq!(
            field(&one(&format!("m v={f}")), "v"),
            FieldValue::Boolean(false),
            "{f}"
        );
    }
    for bad in ["tru", "tRUE", "TRue", "fals", "yes", "truee", "t1", "F0"] {
        let p = problem(&format!("m v={bad}"));
        assert!(
            matches!(
                p,
                Problem::InvalidBoolean { .. } | Problem::InvalidFieldValue { .. }
            ),
            "{bad}: {p:?}"
        );
    }
    assert_eq!(
        problem("m v=yes"),
        Problem::InvalidFieldValue {
            value: "yes".into()
        }
    );
    assert_eq!(
        problem("m v=tru"),
        Problem::InvalidBoolean {
            value: "tru".into()
        }
    );
}

#[test]
fn as_f64_maps_types_to_sample_values() {
    assert_eq!(FieldValue::Float(1.5).as_f64(), Some(1.5));
    assert_eq!(FieldValue::Integer(-3).as_f64(), Some(-3.0));
    assert_eq!(
        FieldValue::Unsigned(u64::MAX).as_f64(),
        Some(18_446_744_073_709_551_615.0)
    );
    assert_eq!(FieldValue::Boolean(true).as_f64(), Some(1.0));
    assert_eq!(FieldValue::Boolean(false).as_f64(), Some(0.0));
    assert_eq!(s("x").as_f64(), None);
    // Integers beyond 2^53 round to the nearest float.
    assert_eq!(
        FieldValue::Integer((1 << 53) + 1).as_f64(),
        Some(9_007_199_254_740_992.0)
    );
}

#[test]
fn duplicate_fields_keep_the_last_and_duplicate_tags_fail() {
    let l = one("m a=1,b=2,a=3,c=4,a=\"s\",b=5i");
    assert_eq!(
        l.fields,
        vec![
            ("c".into(), FieldValue::Float(4.0)),
            ("a".into(), s("s")),
            ("b".into(), FieldValue::Integer(5))
        ]
    );
    assert_eq!(
        problem("m,host=a,host=b v=1"),
        Problem::DuplicateTag { key: "host".into() }
    );
    // Equal after unescaping is equal: `a\b` is literal, `a\\b` an escaped backslash.
    assert_eq!(
        problem(r"m,a\b=1,a\\b=2 v=1"),
        Problem::DuplicateTag { key: r"a\b".into() }
    );
    // Tags in any order are fine and kept in the order sent.
    assert_eq!(
        tags(&one("m,z=1,a=2,m=3 v=1")),
        vec![
            ("z".into(), "1".into()),
            ("a".into(), "2".into()),
            ("m".into(), "3".into())
        ]
    );
    let e = err("m v=1\nm,host=a,region=b,host=c v=1");
    assert_eq!(e.line(), Some(2));
    assert!(e.to_string().contains("duplicate tags"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Timestamps and precisions

#[test]
fn every_precision_converts_to_milliseconds() {
    let cases = [
        (
            Precision::Nanoseconds,
            "1556813561098123456",
            1_556_813_561_098,
        ),
        (
            Precision::Microseconds,
            "1556813561098123",
            1_556_813_561_098,
        ),
        (Precision::Milliseconds, "1556813561098", 1_556_813_561_098),
        (Precision::Seconds, "1556813561", 1_556_813_561_000),
        (Precision::Minutes, "25946892", 1_556_813_520_000),
        (Precision::Hours, "432448", 1_556_812_800_000),
    ];
    for (p, ts, ms) in cases {
        let (lines, _) =
            parse_with(&mut LineParser::new(p), format!("m v=1 {ts}").as_bytes()).unwrap();
        assert_eq!(lines[0].timestamp_ms, Some(ms), "{p:?}");
        assert_eq!(p.as_str().parse::<Precision>().unwrap(), p);
    }
}

#[test]
fn sub_millisecond_timestamps_round_down_also_before_1970() {
    let ts = |p: Precision, t: &str| {
        parse_with(&mut LineParser::new(p), format!("m v=1 {t}").as_bytes())
            .unwrap()
            .0[0]
            .timestamp_ms
    };
    assert_eq!(ts(Precision::Nanoseconds, "1999999"), Some(1));
    assert_eq!(ts(Precision::Nanoseconds, "-1"), Some(-1));
    assert_eq!(ts(Precision::Nanoseconds, "-1000000"), Some(-1));
    assert_eq!(ts(Precision::Nanoseconds, "-1000001"), Some(-2));
    assert_eq!(ts(Precision::Microseconds, "-1"), Some(-1));
    assert_eq!(ts(Precision::Seconds, "-1"), Some(-1000));
    assert_eq!(ts(Precision::Nanoseconds, "0"), Some(0));
    assert_eq!(ts(Precision::Nanoseconds, "-0"), Some(0));
    assert_eq!(
        ts(Precision::Nanoseconds, "9223372036854775807"),
        Some(9_223_372_036_854)
    );
    assert_eq!(
        ts(Precision::Nanoseconds, "-9223372036854775808"),
        Some(-9_223_372_036_855)
    );
    assert_eq!(
        ts(Precision::Milliseconds, "9223372036854775807"),
        Some(i64::MAX)
    );
}

#[test]
fn absent_bad_and_out_of_range_timestamps() {
    assert_eq!(one("m v=1").timestamp_ms, None);
    assert_eq!(one("m v=1 ").timestamp_ms, None);
    assert_eq!(one("m v=1   \r\n").timestamp_ms, None);
    assert_eq!(one("m   v=1   1000000   ").timestamp_ms, Some(1));
    for bad in [
        "1.5", "1e9", "+1", "--1", "1-", "abc", "0x10", "1,2", "1_000", "-",
    ] {
        let p = problem(&format!("m v=1 {bad}"));
        assert!(matches!(p, Problem::BadTimestamp { .. }), "{bad}: {p:?}");
    }
    assert!(matches!(
        problem("m v=1 9223372036854775808"),
        Problem::TimestampOutOfRange { .. }
    ));
    assert!(matches!(
        problem("m v=1 -9223372036854775809"),
        Problem::TimestampOutOfRange { .. }
    ));
    assert!(matches!(
        problem("m v=1 99999999999999999999999999"),
        Problem::TimestampOutOfRange { .. }
    ));
    let e = parse_with(
        &mut LineParser::new(Precision::Seconds),
        b"m v=1 9223372036854776",
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            LineError::Parse {
                problem: Problem::TimestampOutOfRange { precision: "s", .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(
        parse_with(
            &mut LineParser::new(Precision::Seconds),
            b"m v=1 9223372036854776"
        )
        .unwrap_err()
        .to_string()
        .contains("out of range for precision s")
    );
    assert!(
        parse_with(
            &mut LineParser::new(Precision::Hours),
            b"m v=1 2562047788016"
        )
        .is_err()
    );
    assert_eq!(problem("m v=1 1 2"), Problem::TrailingText);
    assert_eq!(problem("m v=1 1 x"), Problem::TrailingText);
}

// ---------------------------------------------------------------------------------------
// Lines, comments, blank lines

#[test]
fn comments_blank_lines_and_crlf() {
    let body = "# a comment\n\ncpu v=1\r\n\r\n  \t \n   # indented comment\ncpu v=2\n\n#last";
    let ls = parse(body);
    assert_eq!(ls.iter().map(|l| l.line_no).collect::<Vec<_>>(), [3, 7]);
    assert_eq!(field(&ls[0], "v"), FieldValue::Float(1.0));
    // CRLF everywhere, no final newline, leading spaces and tabs.
    let ls = parse("a v=1 1000000\r\n \tb,t=x v=2i\r\nc v=t");
    assert_eq!(ls.len(), 3);
    assert_eq!(ls[0].timestamp_ms, Some(1));
    assert_eq!(tags(&ls[1]), vec![("t".into(), "x".into())]);
    assert_eq!((ls[1].line_no, ls[2].line_no), (2, 3));
    // A final lone CR is a line end.
    assert_eq!(parse("a v=1\r").len(), 1);
    // Nothing at all.
    let (lines, stats) = parse_with(&mut LineParser::new(Precision::Nanoseconds), b"").unwrap();
    assert!(lines.is_empty());
    assert_eq!(stats, Stats::default());
    assert!(parse("\n\n# only comments\n   \n").is_empty());
    // `#` in the middle of a line is no comment.
    assert_eq!(one("m,t=#1 v=1").tags[0].1, "#1");
    assert_eq!(one("m #=1").fields[0].0, "#");
}

#[test]
fn stats_count_points_samples_and_strings() {
    let (_, stats) = parse_with(
        &mut LineParser::new(Precision::Nanoseconds),
        b"# c\nm a=1,b=\"x\",c=t\nm d=\"y\"\n\nm e=1i,e=2i",
    )
    .unwrap();
    assert_eq!(
        stats,
        Stats {
            lines: 3,
            fields: 3,
            skipped_string_fields: 2
        }
    );
}

#[test]
fn the_callback_can_stop_the_parse() {
    let mut seen = 0;
    let e = LineParser::new(Precision::Nanoseconds)
        .parse(b"m v=1\nm v=2\nm v=3", |l| {
            seen += 1;
            if l.line_no == 2 {
                Err(LineError::Series {
                    line: l.line_no,
                    reason: "enough".into(),
                })
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert_eq!(seen, 2);
    assert_eq!(
        e,
        LineError::Series {
            line: 2,
            reason: "enough".into()
        }
    );
}

#[test]
fn a_parser_is_reusable_across_bodies() {
    let mut p = LineParser::new(Precision::Milliseconds);
    for i in 0..3 {
        let body = format!("m,t{i}=a v={i} {i}\nbad\n");
        let e = parse_with(&mut p, body.as_bytes()).unwrap_err();
        assert_eq!(e.line(), Some(2));
        let (lines, _) = parse_with(&mut p, format!("m,t{i}=a v={i} {i}").as_bytes()).unwrap();
        assert_eq!(lines[0].timestamp_ms, Some(i));
        assert_eq!(lines[0].tags.len(), 1);
    }
}
