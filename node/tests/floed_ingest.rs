//! Every ingest protocol into a real `floed` process, including bad input; then the stored
//! data is checked by opening the stopped node's data directory.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use floe_node::index::Matcher;
use floe_node::ingest::remote_write::{DecodedSeries, encode_write_request};
use support::floed::{Floed, open_engine, request};

/// Polls `/metrics` until `line` appears (the TCP listeners store asynchronously).
fn wait_for_metric(floed: &Floed, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = request(floed.http, "GET", "/metrics", &[], b"").text();
        if text.contains(line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "metric {line:?} never appeared:\n{text}"
        );
        std::thread::yield_now();
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn values(engine: &floe_node::engine::Engine, name: &str) -> Vec<f64> {
    let series = engine.select(&[Matcher::equal("__name__", name)]);
    let mut out = Vec::new();
    for (r, _) in series {
        out.extend(
            engine
                .read(r, i64::MIN, i64::MAX)
                .expect("read")
                .iter()
                .map(|s| s.value),
        );
    }
    out
}

#[test]
fn every_protocol_stores_good_input_and_rejects_bad_input_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let floed = Floed::start(&data, &["--max-labels-per-series", "8"]);
    let http = floed.http;

    // InfluxDB line protocol, v1 and v2, plain and gzip.
    let lines = b"cpu,host=a usage_user=1.5,usage_idle=98i,up=true,note=\"str\" 1700000000000000000\n\n# comment\ncpu,host=b usage_user=2.5 1700000000000000000\n";
    assert_eq!(
        request(http, "POST", "/write?db=telegraf", &[], lines).status,
        204
    );
    let gz = gzip(b"mem,host=a used=7 1700000000\n");
    assert_eq!(
        request(
            http,
            "POST",
            "/api/v2/write?org=o&bucket=b&precision=s",
            &[("Content-Encoding", "gzip")],
            &gz
        )
        .status,
        204
    );
    let bad = request(
        http,
        "POST",
        "/write?db=telegraf",
        &[],
        b"cpu,host=c usage_user=9 1700000000000000000\ncpu,host=c usage_user= 1\n",
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("\"error\"") && bad.text().contains("line 2"),
        "{}",
        bad.text()
    );

    // Prometheus remote write.
    let series = vec![DecodedSeries {
        labels: vec![
            ("__name__".into(), "http_requests_total".into()),
            ("job".into(), "api".into()),
        ],
        samples: vec![(1_700_000_000_000, 10.0), (1_700_000_010_000, 12.0)],
    }];
    let body = encode_write_request(&series);
    assert_eq!(
        request(
            http,
            "POST",
            "/api/v1/write",
            &[("Content-Encoding", "snappy")],
            &body
        )
        .status,
        204
    );
    assert_eq!(
        request(http, "POST", "/api/v1/write", &[], b"not snappy at all").status,
        400
    );

    // OpenTSDB HTTP: a request with one bad point is refused whole.
    let put = br#"[{"metric":"sys.load","timestamp":1700000000,"value":0.5,"tags":{"host":"a"}}]"#;
    assert_eq!(request(http, "POST", "/api/put", &[], put).status, 204);
    let mixed = br#"[{"metric":"sys.disk","timestamp":1700000000,"value":1,"tags":{"host":"a"}},{"metric":"sys.disk","timestamp":1700000000,"value":"x","tags":{"host":"b"}}]"#;
    let r = request(http, "POST", "/api/put?details", &[], mixed);
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("\"failed\":2") && r.text().contains("errors"),
        "{}",
        r.text()
    );

    // A limit names itself and stores nothing.
    let many = b"wide,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9 v=1 1700000000000000000\n";
    let r = request(http, "POST", "/write", &[], many);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("max_labels_per_series"), "{}", r.text());

    // Graphite plaintext: garbage lines are skipped and counted, the connection goes on.
    let mut g =
        TcpStream::connect(floed.graphite.expect("graphite listener")).expect("connect graphite");
    g.write_all(b"servers.a.load 1.25 1700000000\nthis is garbage\nservers.b.load;dc=eu  2.5   1700000000\n").expect("send");
    drop(g);
    wait_for_metric(
        &floed,
        "floe_ingested_samples_total{protocol=\"graphite\"} 2",
    );
    wait_for_metric(&floed, "floe_skipped_lines_total{protocol=\"graphite\"");

    // OpenTSDB telnet.
    let mut t =
        TcpStream::connect(floed.opentsdb.expect("opentsdb listener")).expect("connect opentsdb");
    t.write_all(b"put sys.cpu  1700000000 42 host=a\nversion\n")
        .expect("send");
    let mut reply = [0u8; 64];
    let n = std::io::Read::read(&mut t, &mut reply).expect("version reply");
    assert!(String::from_utf8_lossy(&reply[..n]).contains("floe"));
    drop(t);
    wait_for_metric(
        &floed,
        "floe_ingested_samples_total{protocol=\"opentsdb_telnet\"} 1",
    );

    let metrics = request(http, "GET", "/metrics", &[], b"").text();
    assert!(
        metrics
            .contains("floe_rejected_requests_total{protocol=\"influx\",reason=\"bad_request\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("floe_skipped_values_total{protocol=\"influx\",kind=\"string_field\"} 1"),
        "{metrics}"
    );
    floed.stop(&[]);

    let engine = open_engine(&data);
    assert_eq!(values(&engine, "cpu_usage_user"), vec![1.5, 2.5]);
    assert_eq!(values(&engine, "cpu_usage_idle"), vec![98.0]);
    assert_eq!(values(&engine, "cpu_up"), vec![1.0]);
    assert!(
        values(&engine, "cpu_note").is_empty(),
        "string fields are not stored"
    );
    assert_eq!(values(&engine, "mem_used"), vec![7.0]);
    assert_eq!(values(&engine, "http_requests_total"), vec![10.0, 12.0]);
    assert_eq!(values(&engine, "sys.load"), vec![0.5]);
    assert!(
        values(&engine, "sys.disk").is_empty(),
        "a refused request stores nothing"
    );
    assert!(values(&engine, "wide_v").is_empty());
    assert_eq!(values(&engine, "servers.a.load"), vec![1.25]);
    assert_eq!(values(&engine, "servers.b.load"), vec![2.5]);
    assert_eq!(values(&engine, "sys.cpu"), vec![42.0]);
    // The bad request's good first line was not stored either.
    let host_c = engine.select(&[Matcher::equal("host", "c")]);
    assert!(host_c.is_empty(), "{host_c:?}");
    // The db label from the v1 argument and the v2 bucket.
    let mem = engine.select(&[Matcher::equal("__name__", "mem_used")]);
    assert_eq!(mem[0].1.label("db"), Some("b"));
    let cpu = engine.select(&[Matcher::equal("__name__", "cpu_usage_user")]);
    assert!(cpu.iter().all(|(_, k)| k.label("db") == Some("telegraf")));
}
