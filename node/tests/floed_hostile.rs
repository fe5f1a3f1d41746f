//! Hostile input over HTTP: every endpoint answers 4xx with a message, nothing of the request
//! is stored, and the node keeps serving.

mod support;

use std::io::Write;

use floe_node::ingest::remote_write::compress;
use support::floed::{Floed, open_engine, request};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// `(method, path, headers, body)`.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>);

#[test]
fn hostile_bodies_are_refused_with_a_message_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let floed = Floed::start(&data, &["--max-body-bytes", "1048576"]);
    let http = floed.http;
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            "/write?db=x",
            vec![],
            b"cpu,host=a v=1 notatimestamp\n".to_vec(),
        ),
        (
            "POST",
            "/write?db=x",
            vec![],
            b"cpu,host=a v=NaN 1\n".to_vec(),
        ),
        (
            "POST",
            "/write?db=x",
            vec![],
            b"cpu,host=\xff\xfe v=1 1\n".to_vec(),
        ),
        (
            "POST",
            "/write?db=x",
            vec![],
            b"cpu,host=a v=1 99999999999999999999999\n".to_vec(),
        ),
        (
            "POST",
            "/write?db=x&precision=fortnights",
            vec![],
            b"cpu v=1 1\n".to_vec(),
        ),
        (
            "POST",
            "/write?db=x",
            vec![],
            format!(
                "cpu,{} v=1 1\n",
                (0..100_000)
                    .map(|i| format!("l{i}=v"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .into_bytes(),
        ),
        (
            "POST",
            "/write?db=x",
            vec![("Content-Encoding", "gzip")],
            b"not gzip".to_vec(),
        ),
        (
            "POST",
            "/write?db=x",
            vec![("Content-Encoding", "gzip")],
            gzip(&vec![b'a'; 8 << 20]),
        ),
        (
            "POST",
            "/api/v1/write",
            vec![],
            compress(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        ),
        ("POST", "/api/v1/write", vec![], vec![0xff; 64]),
        (
            "POST",
            "/api/put",
            vec![],
            br#"{"metric":"m","timestamp":"NaN","value":1,"tags":{"a":"b"}}"#.to_vec(),
        ),
        ("POST", "/api/put", vec![], vec![b'['; 100_000]),
    ];
    for (method, path, headers, body) in &cases {
        let r = request(http, method, path, headers, body);
        assert!(
            (400..500).contains(&r.status),
            "{path} answered {} to a hostile body: {}",
            r.status,
            r.text()
        );
        assert!(
            !r.body.is_empty() || r.status == 413,
            "{path}: a 4xx must say what was wrong"
        );
    }
    // Over the body limit before decompression.
    let big = vec![b'x'; 2 << 20];
    assert_eq!(request(http, "POST", "/write", &[], &big).status, 413);
    // Still serving.
    assert_eq!(
        request(
            http,
            "POST",
            "/write?db=x",
            &[],
            b"ok v=1 1700000000000000000\n"
        )
        .status,
        204
    );
    floed.stop(&[]);
    let engine = open_engine(&data);
    assert_eq!(
        engine.series_count(),
        1,
        "only the last, good request stored a series"
    );
}
