//! The InfluxDB line-protocol decoder's errors (InfluxDB's wording, line and column), limits,
//! hostile input (truncation and corruption anywhere), and the mapping of points onto series.

use std::borrow::Cow;

use floe_node::ingest::line_protocol::{
    DB_LABEL, FieldValue, Line, LineError, LineLimits, LineParser, Precision, Problem,
    SeriesMapper, append_samples, metric_name, series_key,
};
use floe_storage_format::SeriesKey;

mod support;

use support::line_protocol::{err, one, parse, parse_with, problem};

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
// Errors

#[test]
fn structural_errors() {
    for (body, want) in [
        (",t=a v=1", Problem::MissingMeasurement),
        ("cpu", Problem::MissingFields),
        ("cpu ", Problem::MissingFields),
        ("cpu   \n", Problem::MissingFields),
        ("cpu,t=a", Problem::MissingFields),
        ("cpu,t=a ", Problem::MissingFields),
        ("cpu,", Problem::MissingTagKey),
        ("cpu, v=1", Problem::MissingTagKey),
        ("cpu,,t=a v=1", Problem::MissingTagKey),
        ("cpu,=a v=1", Problem::MissingTagKey),
        ("cpu,t=a, v=1", Problem::MissingTagKey),
        ("cpu,t v=1", Problem::MissingTagValue),
        ("cpu,t", Problem::MissingTagValue),
        ("cpu,t= v=1", Problem::MissingTagValue),
        ("cpu,t=,u=b v=1", Problem::MissingTagValue),
        ("cpu,t==a v=1", Problem::InvalidTagFormat),
        ("cpu,t=a=b v=1", Problem::InvalidTagFormat),
        ("cpu v", Problem::InvalidFieldFormat),
        ("cpu v=1,w", Problem::InvalidFieldFormat),
        ("cpu v=1,w x=1", Problem::InvalidFieldFormat),
        ("cpu =1", Problem::MissingFieldKey),
        ("cpu v=1,=2", Problem::MissingFieldKey),
        ("cpu v=1,", Problem::MissingFieldKey),
        ("cpu v=1, w=2", Problem::MissingFieldKey),
        ("cpu v=1,,w=2", Problem::MissingFieldKey),
        ("cpu v=", Problem::MissingFieldValue),
        ("cpu v= 1", Problem::MissingFieldValue),
        ("cpu v=,w=1", Problem::MissingFieldValue),
        ("cpu v=\r\n", Problem::MissingFieldValue),
        ("cpu v=\"", Problem::UnbalancedQuotes),
        ("cpu v=\"abc\nm v=1", Problem::UnbalancedQuotes),
        ("cpu v=1 1 1", Problem::TrailingText),
    ] {
        assert_eq!(problem(body), want, "{body:?}");
    }
}

#[test]
fn control_characters_are_refused_outside_strings() {
    for body in [
        "c\tpu v=1",
        "cpu,t=a\tb v=1",
        "cpu v\t=1",
        "cpu v=1\t",
        "cpu\0 v=1",
        "cpu,t=\x7f v=1",
        "cpu v=1\r1",
        "\rcpu v=1",
    ] {
        let p = problem(body);
        assert!(
            matches!(p, Problem::ControlCharacter { .. }),
            "{body:?}: {p:?}"
        );
    }
    assert_eq!(
        problem("cpu,t=a\x01 v=1").to_string(),
        "invalid control character 0x01"
    );
    // Inside a string value they are data.
    assert_eq!(field(&one("m s=\"a\tb\x01\""), "s"), s("a\tb\x01"));
}

#[test]
fn invalid_utf8_is_refused_naming_the_line() {
    let head = b"m v=1\n# comment \xff is skipped\n".to_vec();
    let body = [&head[..], b"m,t=a\xffb v=1\n"].concat();
    let e = parse_with(&mut LineParser::new(Precision::Nanoseconds), &body).unwrap_err();
    assert!(
        matches!(
            e,
            LineError::Parse {
                line: 3,
                problem: Problem::InvalidUtf8,
                column: 6,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("invalid UTF-8 at line 3"), "{e}");
    // Valid lines after an invalid comment still parse.
    let body = [&head[..], "m,t=é v=1\n".as_bytes()].concat();
    let (lines, _) = parse_with(&mut LineParser::new(Precision::Nanoseconds), &body).unwrap();
    assert_eq!(lines[1].tags[0].1, "é");
    for bad in [
        &b"m\xc3 v=1"[..],
        b"m f\xe2\x82=1",
        b"m s=\"\xc0\xaf\"",
        b"m,t\xff=a v=1",
        b"\xed\xa0\x80 v=1",
        b"m s=\"x\\\"\xff\"",
    ] {
        let e = parse_with(&mut LineParser::new(Precision::Nanoseconds), bad).unwrap_err();
        assert!(
            matches!(
                e,
                LineError::Parse {
                    problem: Problem::InvalidUtf8,
                    line: 1,
                    ..
                }
            ),
            "{bad:?}: {e}"
        );
    }
    // A non-UTF-8 byte where a number should be is a bad number.
    assert!(parse_with(&mut LineParser::new(Precision::Nanoseconds), b"m v=1\xff").is_err());
}

#[test]
fn messages_look_like_influxdb_and_name_the_line() {
    let e = err("cpu v=1\n\n# c\ncpu,host=a value=\ncpu v=2");
    assert_eq!(
        e.to_string(),
        "unable to parse 'cpu,host=a value=': missing field value at line 4, column 18"
    );
    assert_eq!(e.line(), Some(4));
    assert_eq!(e.code(), "missing_field_value");
    let e = err("cpu v=1\r\n  cpu v=1 12x\r\n");
    assert_eq!(
        e.to_string(),
        "unable to parse 'cpu v=1 12x': bad timestamp \"12x\" at line 2, column 11"
    );
    let e = err("a v=1\nb v=2\nc,t=1\n");
    assert_eq!(
        e.to_string(),
        "unable to parse 'c,t=1': missing fields at line 3, column 6"
    );
    // A very long bad line is shortened in the message.
    let long = format!("m,t={} v=", "x".repeat(10_000));
    let msg = err(&long).to_string();
    assert!(msg.len() < 400, "{}", msg.len());
    assert!(msg.contains("…"), "{msg}");
    // The message survives JSON as the HTTP layer sends it.
    let json = serde_json::json!({ "error": err("m v=\"\u{1}").to_string() }).to_string();
    assert!(json.contains("unbalanced quotes at line 1"), "{json}");
}

#[test]
fn line_numbers_count_every_kind_of_line() {
    let body = "\n# c\r\n\r\nm v=1\nm s=\"a\nb\nc\" 1\n\n   \nm v=1\nm\n";
    let e = err(body);
    assert_eq!(e.line(), Some(11), "{e}");
    assert_eq!(
        parse(&body[..body.len() - 2])
            .iter()
            .map(|l| l.line_no)
            .collect::<Vec<_>>(),
        [4, 5, 10]
    );
}

#[test]
fn unknown_precision() {
    let e = "nanoseconds".parse::<Precision>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid precision \"nanoseconds\" (use ns, n, us, u, µs, ms, s, m or h)"
    );
    assert_eq!(e.line(), None);
    assert_eq!(e.code(), "invalid_precision");
}

// ---------------------------------------------------------------------------------------
// Limits and hostile input

#[test]
fn limits_are_enforced_and_named() {
    let limits = LineLimits {
        max_line_bytes: 64,
        max_key_bytes: 20,
        max_tags: 3,
        max_fields: 4,
    };
    let run = |body: &str| {
        parse_with(
            &mut LineParser::new(Precision::Nanoseconds).with_limits(limits),
            body.as_bytes(),
        )
    };
    assert!(run("m,a=1,b=2,c=3 f=1,g=2,h=3,i=4").is_ok());
    let e = run("m,a=1,b=2,c=3,d=4 f=1").unwrap_err();
    assert!(
        matches!(
            e,
            LineError::Parse {
                problem: Problem::TooManyTags { max: 3 },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("too many tags (max 3)"));
    let e = run("m f=1,g=2,h=3,i=4,j=5").unwrap_err();
    assert!(
        matches!(
            e,
            LineError::Parse {
                problem: Problem::TooManyFields { max: 4 },
                ..
            }
        ),
        "{e}"
    );
    let e = run("measurement,tag=value12 f=1").unwrap_err();
    assert!(
        matches!(
            e,
            LineError::Parse {
                problem: Problem::KeyTooLong { len: 23, max: 20 },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("max key length exceeded: 23 > 20"));
    let e = run(&format!("m f=1\nm f=\"{}\"", "x".repeat(70))).unwrap_err();
    assert!(
        matches!(
            e,
            LineError::Parse {
                line: 2,
                problem: Problem::LineTooLong { len: 76, max: 64 },
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("line too long: 76 > 64 bytes"),
        "{e}"
    );
    // Exactly at the limit is fine, CR and LF not counted.
    let exact = format!("m f=\"{}\"", "x".repeat(58));
    assert_eq!(exact.len(), 64);
    assert!(run(&format!("{exact}\r\n")).is_ok());
    // The defaults.
    assert_eq!(
        LineLimits::default(),
        LineLimits {
            max_line_bytes: 1 << 20,
            max_key_bytes: 65_535,
            max_tags: 256,
            max_fields: 1024
        }
    );
}

#[test]
fn default_limits_bound_hostile_lines() {
    let tags: String = (0..300).map(|i| format!(",t{i}=v")).collect();
    assert!(matches!(
        problem(&format!("m{tags} f=1")),
        Problem::TooManyTags { max: 256 }
    ));
    let fields: String = (0..1100).map(|i| format!("f{i}=1,")).collect();
    assert!(matches!(
        problem(&format!("m {fields}z=1")),
        Problem::TooManyFields { max: 1024 }
    ));
    let big = format!("m,t={} f=1", "v".repeat(70_000));
    assert!(matches!(problem(&big), Problem::KeyTooLong { .. }));
    let huge = format!("m f=\"{}\"", "v".repeat(1 << 20));
    assert!(matches!(problem(&huge), Problem::LineTooLong { .. }));
}

/// Valid lines of every shape; the hostile tests cut and corrupt them.
const VALID: &[&str] = &[
    "cpu,host=a,region=eu usage=1.5,count=3i,big=4u,up=t,msg=\"hi \\\"there\\\"\" 1556813561098000000",
    r"my\ Measurement,tag\ Key1=tag\ Value1,t\=k=v\,v field\ key=100,f\,k=-1.5e-3 -1",
    "m s=\"multi\nline\",v=FALSE\r\n",
    "  m,t=🍭 f=\"🚀\",g=18446744073709551615u,h=-9223372036854775808i   42   ",
    r"m\\x,t=a\\\ b f\\=.5",
];

#[test]
fn truncation_at_every_byte_never_panics() {
    let mut p = LineParser::new(Precision::Nanoseconds);
    for line in VALID {
        let full = parse_with(&mut p, line.as_bytes())
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .0;
        assert_eq!(full.len(), 1, "{line:?}");
        for cut in 0..line.len() {
            let prefix = &line.as_bytes()[..cut];
            match parse_with(&mut p, prefix) {
                Ok((lines, stats)) => {
                    // A prefix that parses is a valid line of its own (or nothing at all).
                    assert!(lines.len() <= 1, "{prefix:?}");
                    assert_eq!(stats.lines, lines.len());
                }
                Err(e) => {
                    assert_eq!(e.line(), Some(1), "{prefix:?}: {e}");
                }
            }
        }
    }
}

#[test]
fn flipping_any_byte_never_panics() {
    let mut p = LineParser::new(Precision::Nanoseconds);
    for line in VALID {
        let mut body = line.as_bytes().to_vec();
        for i in 0..body.len() {
            for x in [
                0x00u8, b'\n', b'\r', b' ', b',', b'=', b'\\', b'"', b'#', 0xff, 0x80, b'i',
            ] {
                let old = body[i];
                body[i] = x;
                let _ = parse_with(&mut p, &body);
                body[i] = old;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Mapping onto series

#[test]
fn metric_names_join_measurement_and_field() {
    assert_eq!(metric_name("cpu", "usage_user"), "cpu_usage_user");
    assert_eq!(metric_name("cpu", "value"), "cpu_value");
    assert_eq!(metric_name("", "value"), "value");
    assert_eq!(metric_name("my measurement", "f,k"), "my measurement_f,k");
}

#[test]
fn series_keys_carry_tags_and_db() {
    let l = one("cpu,host=a,region=eu usage=1 1000000");
    let k = series_key(&l, "usage", Some("telegraf")).unwrap();
    assert_eq!(
        k,
        SeriesKey::new(
            "cpu_usage",
            [("host", "a"), ("region", "eu"), (DB_LABEL, "telegraf")]
        )
        .unwrap()
    );
    // No db argument, or an empty one: no db label.
    assert_eq!(
        series_key(&l, "usage", None).unwrap(),
        SeriesKey::new("cpu_usage", [("host", "a"), ("region", "eu")]).unwrap()
    );
    assert_eq!(
        series_key(&l, "usage", Some("")).unwrap(),
        series_key(&l, "usage", None).unwrap()
    );
    // The line's own db tag wins over the argument.
    let l = one("cpu,db=mine v=1");
    assert_eq!(
        series_key(&l, "v", Some("arg")).unwrap(),
        SeriesKey::new("cpu_v", [("db", "mine")]).unwrap()
    );
    // Tag order does not matter for identity.
    let a = series_key(&one("m,a=1,b=2 v=1"), "v", None).unwrap();
    let b = series_key(&one("m,b=2,a=1 v=1"), "v", None).unwrap();
    assert_eq!(a.id(), b.id());
}

#[test]
fn series_key_refuses_reserved_and_oversized_names() {
    let l = parse("m v=1\nm,__name__=x v=1").remove(1);
    let e = series_key(&l, "v", None).unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert!(e.to_string().contains("\"__name__\" is reserved"), "{e}");
    let tags: String = (0..130).map(|i| format!(",t{i}=v")).collect();
    let l = one(&format!("m{tags} f=1"));
    let e = series_key(&l, "f", None).unwrap_err();
    assert!(matches!(e, LineError::Series { line: 1, .. }), "{e}");
    assert_eq!(e.code(), "invalid_series");
}

#[test]
fn append_samples_maps_every_numeric_field() {
    let l = one("cpu,host=a f=1.5,i=2i,u=3u,b=t,c=F,s=\"skipped\" 5000000");
    let mut out = Vec::new();
    assert_eq!(append_samples(&l, Some("db0"), 99, &mut out).unwrap(), 5);
    let got: Vec<(String, i64, f64)> = out
        .iter()
        .map(|(k, s)| (k.name().to_owned(), s.ts, s.value))
        .collect();
    assert_eq!(
        got,
        [
            ("cpu_f".to_owned(), 5, 1.5),
            ("cpu_i".to_owned(), 5, 2.0),
            ("cpu_u".to_owned(), 5, 3.0),
            ("cpu_b".to_owned(), 5, 1.0),
            ("cpu_c".to_owned(), 5, 0.0),
        ]
    );
    assert!(out.iter().all(|(k, s)| k.label("db") == Some("db0")
        && k.label("host") == Some("a")
        && s.version == 0));
    // Without a timestamp the caller's clock is used.
    let mut out = Vec::new();
    append_samples(&one("m v=1"), None, 1234, &mut out).unwrap();
    assert_eq!(out[0].1.ts, 1234);
    // A line of strings only yields nothing; an error appends nothing.
    assert_eq!(
        append_samples(&one("m s=\"x\""), None, 0, &mut out).unwrap(),
        0
    );
    let before = out.len();
    assert!(append_samples(&one("m,__name__=x a=1,b=2"), None, 0, &mut out).is_err());
    assert_eq!(out.len(), before);
}

#[test]
fn the_series_mapper_builds_each_series_once_and_agrees_with_append_samples() {
    let body = "cpu,host=a u=1i,i=2 10\ncpu,host=b u=3i,i=4 20\ncpu,host=a i=5,u=6i,s=\"x\" 30\n\
                cpu,host=a u=7u 40\nmem,host=a free=8 50\ncpu,host=a,db=own u=9 60\ncpu v=10";
    let mut mapper = SeriesMapper::new(Some("d"), 99);
    let mut rows = Vec::new();
    LineParser::new(Precision::Nanoseconds)
        .parse(body.as_bytes(), |l| {
            let n = mapper.add(l)?;
            assert_eq!(append_samples(l, Some("d"), 99, &mut rows)?, n);
            Ok(())
        })
        .unwrap();
    assert_eq!(mapper.keys().len(), 7, "{:?}", mapper.keys());
    assert_eq!(mapper.samples().len(), rows.len());
    let (keys, samples) = (mapper.keys().to_vec(), mapper.samples().to_vec());
    for ((i, s), (k, r)) in samples.iter().zip(&rows) {
        assert_eq!(&keys[*i as usize], k);
        assert_eq!(s, r);
    }
    assert_eq!(mapper.into_rows(), rows);
    // Errors name the line and add nothing.
    let mut mapper = SeriesMapper::new(None, 0);
    let e = LineParser::new(Precision::Nanoseconds)
        .parse(b"m a=1\nm,__name__=x a=1,b=2", |l| {
            mapper.add(l).map(|_| ())
        })
        .unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert_eq!(mapper.samples().len(), 1);
    // An empty db argument is no db label.
    let mut mapper = SeriesMapper::new(Some(""), 0);
    LineParser::new(Precision::Nanoseconds)
        .parse(b"m a=1", |l| mapper.add(l).map(|_| ()))
        .unwrap();
    assert_eq!(
        mapper.keys()[0],
        SeriesKey::new("m_a", Vec::<(String, String)>::new()).unwrap()
    );
}
