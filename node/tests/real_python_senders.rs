//! Real senders from PyPI against a real floed: `graphyte` (Graphite plaintext over TCP) and
//! the official `influxdb-client` (InfluxDB 2 line protocol over HTTP). `scripts/test`
//! installs both with pip.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use floe_node::index::Matcher;
use support::floed::{Floed, open_engine, request};

fn python(script: &str) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python sender failed (scripts/test installs graphyte and influxdb-client with pip):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn values(engine: &floe_node::engine::Engine, name: &str) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for (r, _) in engine.select(&[Matcher::equal("__name__", name)]) {
        out.extend(
            engine
                .read(r, i64::MIN, i64::MAX)
                .expect("read")
                .iter()
                .map(|s| (s.ts, s.value)),
        );
    }
    out
}

#[test]
fn graphyte_and_influxdb_client_write_into_floed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let floed = Floed::start(&data, &[]);
    let graphite = floed.graphite.expect("graphite listener");
    python(&format!(
        "import graphyte\n\
         s = graphyte.Sender('{}', port={}, raise_send_errors=True)\n\
         s.send('servers.web1.load', 1.5, timestamp=1700000000)\n\
         s.send('servers.web2.load', 2.5, timestamp=1700000000, tags={{'dc': 'eu'}})\n",
        graphite.ip(),
        graphite.port()
    ));
    python(&format!(
        "from influxdb_client import InfluxDBClient, Point\n\
         from influxdb_client.client.write_api import SYNCHRONOUS\n\
         c = InfluxDBClient(url='http://{}', token='unused', org='o')\n\
         w = c.write_api(write_options=SYNCHRONOUS)\n\
         w.write(bucket='weather', record='temperature,city=paris\\\\ 15e celsius=21.5 1700000000000000000')\n\
         w.write(bucket='weather', record=Point('rain').tag('city', 'oslo').field('mm', 3).field('heavy', True).time(1700000000000000000))\n\
         c.close()\n",
        floed.http
    ));
    // graphyte's TCP sends are stored asynchronously: wait until both are counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !request(floed.http, "GET", "/metrics", &[], b"")
        .text()
        .contains("floe_ingested_samples_total{protocol=\"graphite\"} 2")
    {
        assert!(Instant::now() < deadline, "graphite samples never arrived");
        std::thread::yield_now();
    }
    floed.stop(&[]);
    let engine = open_engine(&data);
    assert_eq!(
        values(&engine, "servers.web1.load"),
        vec![(1_700_000_000_000, 1.5)]
    );
    assert_eq!(
        values(&engine, "servers.web2.load"),
        vec![(1_700_000_000_000, 2.5)]
    );
    assert_eq!(engine.select(&[Matcher::equal("dc", "eu")]).len(), 1);
    assert_eq!(
        values(&engine, "temperature_celsius"),
        vec![(1_700_000_000_000, 21.5)]
    );
    let paris = engine.select(&[Matcher::equal("__name__", "temperature_celsius")]);
    assert_eq!(
        paris[0].1.label("city"),
        Some("paris 15e"),
        "escaped space in a tag value"
    );
    assert_eq!(
        paris[0].1.label("db"),
        Some("weather"),
        "the v2 bucket becomes the db label"
    );
    assert_eq!(values(&engine, "rain_mm"), vec![(1_700_000_000_000, 3.0)]);
    assert_eq!(
        values(&engine, "rain_heavy"),
        vec![(1_700_000_000_000, 1.0)]
    );
}
