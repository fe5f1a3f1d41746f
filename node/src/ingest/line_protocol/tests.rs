//! Unit tests of the parser's internals and of its shortest paths; the full behaviour is
//! tested through the public API in `node/tests/ingest_line_protocol*.rs`.

use super::*;

fn lines(body: &str) -> Result<Vec<Line<'_>>, LineError> {
    let mut out = Vec::new();
    LineParser::new(Precision::Nanoseconds).parse(body.as_bytes(), |l| {
        out.push(l.clone());
        Ok(())
    })?;
    Ok(out)
}

fn problem(body: &str) -> Problem {
    match lines(body) {
        Err(LineError::Parse { problem, .. }) => problem,
        other => panic!("{body:?}: expected a parse error, got {other:?}"),
    }
}

#[test]
fn one_point_with_everything() {
    let ls = lines("cpu,host=a,region=eu usage=1.5,count=3i,big=4u,up=t,msg=\"hi\" 1000000000\n")
        .unwrap();
    assert_eq!(ls.len(), 1);
    let l = &ls[0];
    assert_eq!(l.line_no, 1);
    assert_eq!(l.measurement, "cpu");
    assert_eq!(l.series, b"cpu,host=a,region=eu");
    assert_eq!(
        l.tags,
        vec![("host".into(), "a".into()), ("region".into(), "eu".into())]
    );
    assert_eq!(
        l.fields,
        vec![
            ("usage".into(), FieldValue::Float(1.5)),
            ("count".into(), FieldValue::Integer(3)),
            ("big".into(), FieldValue::Unsigned(4)),
            ("up".into(), FieldValue::Boolean(true)),
            ("msg".into(), FieldValue::String("hi".into())),
        ]
    );
    assert_eq!(l.timestamp_ms, Some(1000));
}

#[test]
fn names_without_escapes_are_borrowed() {
    let ls = lines("cpu,host=a v=1,s=\"x\"").unwrap();
    assert!(matches!(ls[0].measurement, Cow::Borrowed(_)));
    assert!(matches!(ls[0].tags[0].1, Cow::Borrowed(_)));
    assert!(matches!(
        ls[0].fields[1].1,
        FieldValue::String(Cow::Borrowed(_))
    ));
    let ls = lines("c\\ pu,host=a\\,b v=1").unwrap();
    assert!(matches!(ls[0].measurement, Cow::Owned(_)));
    assert!(matches!(ls[0].tags[0].1, Cow::Owned(_)));
}

#[test]
fn problems_in_influxdb_words() {
    assert_eq!(problem(",host=a v=1"), Problem::MissingMeasurement);
    assert_eq!(problem("cpu"), Problem::MissingFields);
    assert_eq!(problem("cpu,host=a"), Problem::MissingFields);
    assert_eq!(problem("cpu,=a v=1"), Problem::MissingTagKey);
    assert_eq!(problem("cpu,host v=1"), Problem::MissingTagValue);
    assert_eq!(problem("cpu,host= v=1"), Problem::MissingTagValue);
    assert_eq!(problem("cpu,host=a=b v=1"), Problem::InvalidTagFormat);
    assert_eq!(problem("cpu v="), Problem::MissingFieldValue);
    assert_eq!(problem("cpu =1"), Problem::MissingFieldKey);
    assert_eq!(problem("cpu v=1,"), Problem::MissingFieldKey);
    assert_eq!(problem("cpu v"), Problem::InvalidFieldFormat);
    assert_eq!(problem("cpu v=\"abc"), Problem::UnbalancedQuotes);
    assert_eq!(
        problem("cpu v=1 12x"),
        Problem::BadTimestamp {
            value: "12x".into()
        }
    );
    assert_eq!(problem("cpu v=1 12 13"), Problem::TrailingText);
    assert_eq!(
        problem("cpu,a=1,a=2 v=1"),
        Problem::DuplicateTag { key: "a".into() }
    );
}

#[test]
fn duplicate_detection_is_exact_for_long_lists() {
    // More than 16 keys take the sorting path; keys sharing length, prefix and suffix
    // collide in the cheap hash and must still be told apart.
    let keys: Vec<String> = (0..40).map(|i| format!("aaaaaaaa{i:02}zzzzzzzz")).collect();
    let tags: String = keys.iter().map(|k| format!(",{k}=v")).collect();
    assert_eq!(lines(&format!("m{tags} f=1")).unwrap()[0].tags.len(), 40);
    let dup = format!("m{tags},{}=w f=1", keys[17]);
    assert_eq!(
        problem(&dup),
        Problem::DuplicateTag {
            key: keys[17].clone()
        }
    );
    let fields: String = keys.iter().map(|k| format!("{k}=1i,")).collect();
    let body = format!("m {fields}{}=2i,{}=3i", keys[3], keys[3]);
    let l = &lines(&body).unwrap()[0];
    assert_eq!(l.fields.len(), 40);
    assert_eq!(
        l.fields.last().unwrap(),
        &(keys[3].clone().into(), FieldValue::Integer(3))
    );
}

#[test]
fn precision_spellings() {
    for (s, p) in [
        ("", Precision::Nanoseconds),
        ("n", Precision::Nanoseconds),
        ("ns", Precision::Nanoseconds),
        ("u", Precision::Microseconds),
        ("us", Precision::Microseconds),
        ("µs", Precision::Microseconds),
        ("ms", Precision::Milliseconds),
        ("s", Precision::Seconds),
        ("m", Precision::Minutes),
        ("h", Precision::Hours),
    ] {
        assert_eq!(s.parse::<Precision>().unwrap(), p, "{s}");
    }
    assert!(matches!(
        "x".parse::<Precision>(),
        Err(LineError::UnknownPrecision { .. })
    ));
    assert!(matches!(
        "NS".parse::<Precision>(),
        Err(LineError::UnknownPrecision { .. })
    ));
}

#[test]
fn word_at_a_time_search_agrees_with_the_byte_table() {
    use scan::{BACKSLASH, CLASS, COMMA, CONTROL, EQUALS, SPACE, next_special};
    // Every byte value at every position of a 24-byte window, against every stop set used.
    let sets = [
        COMMA | SPACE | CONTROL | BACKSLASH,
        COMMA | SPACE | EQUALS | CONTROL | BACKSLASH,
        COMMA | SPACE | CONTROL,
        SPACE | CONTROL,
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..20_000 {
        let mut buf = [0u8; 24];
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly plain bytes, so that the special one is often far in.
            *b = if x.is_multiple_of(5) {
                (x >> 8) as u8
            } else {
                b'a' + (x >> 16) as u8 % 26
            };
        }
        let start = round % 8;
        for &set in &sets {
            let want = (start..buf.len())
                .find(|&i| CLASS[buf[i] as usize] & set != 0)
                .unwrap_or(buf.len());
            assert_eq!(
                next_special(&buf, start, set),
                want,
                "{buf:?} from {start}, set {set:#x}"
            );
        }
    }
    for v in 0..=255u8 {
        for pos in 0..16 {
            let mut buf = [b'a'; 16];
            buf[pos] = v;
            for &set in &sets {
                let want = if CLASS[v as usize] & set != 0 {
                    pos
                } else {
                    16
                };
                assert_eq!(
                    next_special(&buf, 0, set),
                    want,
                    "byte {v:#x} at {pos}, set {set:#x}"
                );
            }
        }
    }
}

#[test]
fn key_hash_from_the_body_equals_key_hash_of_the_key() {
    // Escaped keys are hashed from their unescaped copy and plain ones from the body:
    // equal keys must hash equal either way, wherever they sit in the body.
    let body: Vec<u8> = (0..40u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    for a in 0..body.len() {
        for e in a + 1..=body.len() {
            assert_eq!(
                scan::hash_at(&body, a, e),
                scan::key_hash(&body[a..e]),
                "{a}..{e}"
            );
        }
    }
    // And through the parser: an escaped duplicate of a plain key at the body's end.
    assert_eq!(
        problem(r"m,a\b=1,a\\b=2 v=1"),
        Problem::DuplicateTag { key: r"a\b".into() }
    );
    let l = &lines(r"m abcdefghij\\k=1,abcdefghij\k=2").unwrap()[0];
    assert_eq!(
        l.fields,
        vec![(r"abcdefghij\k".into(), FieldValue::Float(2.0))]
    );
}

#[test]
fn string_search_agrees_with_a_byte_loop() {
    for v in 0..=255u8 {
        for pos in 0..20 {
            let mut buf = [b'x'; 20];
            buf[pos] = v;
            let want = if matches!(v, b'"' | b'\\' | b'\n') {
                pos
            } else {
                20
            };
            for start in 0..=pos {
                assert_eq!(
                    scan::next_in_string(&buf, start),
                    want,
                    "byte {v:#x} at {pos} from {start}"
                );
            }
        }
    }
}

#[test]
fn lines_shaped_alike_still_get_their_duplicates_checked() {
    // The first lines teach the parser a distinct key sequence; the later ones must still be
    // checked on their own keys.
    let mut p = LineParser::new(Precision::Nanoseconds);
    let body = "m,a=1,b=2 x=1,y=2\nm,a=3,b=4 x=3,y=4\nm,a=5,b=6 x=5,x=6\nm,a=7,a=8 x=7,y=8\n";
    let mut seen = Vec::new();
    let e = p
        .parse(body.as_bytes(), |l| {
            seen.push(l.fields.len());
            Ok(())
        })
        .unwrap_err();
    assert_eq!(seen, [2, 2, 1]);
    assert!(
        matches!(
            e,
            LineError::Parse {
                line: 4,
                problem: Problem::DuplicateTag { .. },
                ..
            }
        ),
        "{e}"
    );
    // And across requests with the same parser.
    let e = p.parse(b"m,a=7,a=8 x=7,y=8", |_| Ok(())).unwrap_err();
    assert_eq!(e.line(), Some(1));
}
