//! A real collectd (the distribution's `collectd-core`) sends its load and memory readings to a
//! real floed twice: with `write_graphite` (Graphite plaintext) and `write_tsdb` (OpenTSDB telnet
//! `put`). `scripts/test` installs the package with its service kept from starting; collectd
//! runs here in the foreground and is stopped by its PID.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floe_node::index::{MatchOp, Matcher};
use support::floed::{Floed, open_engine, request};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn counter(floed: &Floed, protocol: &str) -> u64 {
    let text = request(floed.http, "GET", "/metrics", &[], b"").text();
    let prefix = format!("floe_ingested_samples_total{{protocol=\"{protocol}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn collectd_writes_graphite_and_opentsdb_into_floed() {
    let collectd = "/usr/sbin/collectd";
    assert!(
        std::path::Path::new(collectd).exists(),
        "collectd is not installed: scripts/test installs the Debian package collectd-core"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let floed = Floed::start(&data, &[]);
    let (g, t) = (
        floed.graphite.expect("graphite"),
        floed.opentsdb.expect("opentsdb"),
    );
    let conf = format!(
        r#"Hostname "floe-test"
FQDNLookup false
Interval 1
BaseDir "{base}"
PIDFile "{base}/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin load
LoadPlugin memory
LoadPlugin write_graphite
LoadPlugin write_tsdb
<Plugin write_graphite>
  <Node "floe">
    Host "{gh}"
    Port "{gp}"
    Protocol "tcp"
    Prefix "collectd."
  </Node>
</Plugin>
<Plugin write_tsdb>
  <Node "floe">
    Host "{th}"
    Port "{tp}"
  </Node>
</Plugin>
"#,
        base = dir.path().display(),
        gh = g.ip(),
        gp = g.port(),
        th = t.ip(),
        tp = t.port()
    );
    let conf_path = dir.path().join("collectd.conf");
    std::fs::write(&conf_path, conf).expect("write collectd.conf");
    let log = std::fs::File::create(dir.path().join("collectd.log")).expect("log");
    let proc = Proc(
        Command::new(collectd)
            .args(["-f", "-C", conf_path.to_str().expect("utf-8")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start collectd"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter(&floed, "graphite") < 20 || counter(&floed, "opentsdb_telnet") < 20 {
        assert!(
            Instant::now() < deadline,
            "collectd delivered graphite={} opentsdb={}; its log:\n{}",
            counter(&floed, "graphite"),
            counter(&floed, "opentsdb_telnet"),
            std::fs::read_to_string(dir.path().join("collectd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200)); // polling a real external process's progress
    }
    drop(proc);
    let metrics = request(floed.http, "GET", "/metrics", &[], b"").text();
    assert!(
        !metrics.contains("floe_skipped_lines_total{protocol=\"graphite\""),
        "collectd lines were skipped:\n{metrics}"
    );
    assert!(
        !metrics.contains("floe_skipped_lines_total{protocol=\"opentsdb_telnet\""),
        "collectd lines were skipped:\n{metrics}"
    );
    floed.stop(&[]);

    let engine = open_engine(&data);
    let regex = |re: &str| Matcher::new(MatchOp::RegexMatch, "__name__", re).expect("regex");
    let graphite = engine.select(&[regex(r"collectd\.floe-test\.load\..*")]);
    assert!(
        !graphite.is_empty(),
        "no Graphite series from collectd's load plugin"
    );
    // write_tsdb names a metric plugin.type.type_instance and tags it with fqdn.
    let tsdb = engine.select(&[
        regex(r"load\.load\..*term"),
        Matcher::equal("fqdn", "floe-test"),
    ]);
    assert_eq!(
        tsdb.len(),
        3,
        "OpenTSDB series from collectd's load plugin: {tsdb:?}"
    );
    for (r, key) in graphite.iter().chain(&tsdb) {
        let samples = engine.read(*r, i64::MIN, i64::MAX).expect("read");
        assert!(
            !samples.is_empty()
                && samples
                    .iter()
                    .all(|s| s.value.is_finite() && s.value >= 0.0),
            "{key}: {samples:?}"
        );
    }
}
