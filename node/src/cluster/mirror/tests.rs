//! Mirror configuration, filter, record format, and the tee → journal path (the sender is
//! exercised against real clusters by `tests/tests/mirror.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use floe_storage_format::{Sample, SeriesKey};

use super::config::{MIN_MIRROR_JOURNAL_BYTES, mirror_settings};
use super::*;
use crate::cluster::ClusterConfig;

const TABLE: &str = r#"
node_id = "n1"
topology = "topology.toml"
certs_dir = "certs"

[[mirror]]
name = "dev"
seeds = ["127.0.0.1:7400", "[::1]:7401"]
ca = "dev/ca.pem"
cert = "dev/client-prod.pem"
key = "dev/client-prod-key.pem"

[[mirror]]
name = "cpu_only-2"
seeds = ["10.0.0.1:7400"]
ca = "staging/ca.pem"
cert = "staging/client-prod.pem"
key = "staging/client-prod-key.pem"
match = '{__name__=~"cpu_.*",env="prod"}'
consistency = "one"
journal_max_bytes = 2097152
"#;

fn cluster_config(text: &str) -> ClusterConfig {
    toml::from_str(text).expect("valid TOML")
}

/// `TABLE`'s first mirror with `key = value` replacing or adding one line.
fn with(key: &str, value: &str) -> String {
    let mut out =
        String::from("node_id = \"n1\"\ntopology = \"t\"\ncerts_dir = \"c\"\n[[mirror]]\n");
    let mut lines = vec![
        ("name", "\"dev\""),
        ("seeds", "[\"127.0.0.1:7400\"]"),
        ("ca", "\"ca.pem\""),
        ("cert", "\"c.pem\""),
        ("key", "\"k.pem\""),
    ];
    match lines.iter_mut().find(|(k, _)| *k == key) {
        Some(line) => line.1 = value,
        None => lines.push((key, value)),
    }
    for (k, v) in lines {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out
}

fn error_of(text: &str) -> String {
    match cluster_config(text).settings() {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn mirror_tables_parse_with_defaults() {
    let s = cluster_config(TABLE)
        .settings()
        .expect("valid")
        .expect("cluster mode");
    assert_eq!(s.mirrors.len(), 2);
    let dev = &s.mirrors[0];
    assert_eq!(dev.name, "dev");
    assert_eq!(dev.seeds.len(), 2);
    assert_eq!(dev.seeds[1].to_string(), "[::1]:7401");
    assert_eq!(dev.tls.ca, std::path::PathBuf::from("dev/ca.pem"));
    assert_eq!(dev.consistency, floe_wire::proto::Consistency::Quorum);
    assert_eq!(dev.journal_max_bytes, 1 << 30);
    assert!(dev.filter.is_none());
    let cpu = &s.mirrors[1];
    assert_eq!(cpu.consistency, floe_wire::proto::Consistency::One);
    assert_eq!(cpu.journal_max_bytes, 2 << 20);
    let f = cpu.filter.as_ref().expect("filter");
    assert_eq!(f.text(), r#"{__name__=~"cpu_.*",env="prod"}"#);
}

#[test]
fn no_mirror_by_default() {
    let s = cluster_config("node_id = \"n1\"\ntopology = \"t\"\ncerts_dir = \"c\"\n")
        .settings()
        .expect("valid")
        .expect("cluster mode");
    assert!(s.mirrors.is_empty());
}

#[test]
fn every_bad_setting_is_named() {
    let cases = [
        (with("name", "\"Dev!\""), "cluster.mirror.name"),
        (with("name", "\"\""), "cluster.mirror.name"),
        (with("seeds", "[]"), "cluster.mirror.seeds"),
        (with("seeds", "[\"dev-1:7400\"]"), "cluster.mirror.seeds"),
        (with("ca", "\"\""), "cluster.mirror.ca"),
        (with("cert", "\" \""), "cluster.mirror.cert"),
        (with("key", "\"\""), "cluster.mirror.key"),
        (with("match", "\"cpu(\""), "cluster.mirror.match"),
        (with("match", "'{a=\"\"}'"), "cluster.mirror.match"),
        (with("match", "\"rate(cpu[5m])\""), "cluster.mirror.match"),
        (
            with("consistency", "\"most\""),
            "cluster.mirror.consistency",
        ),
        (
            with(
                "journal_max_bytes",
                &(MIN_MIRROR_JOURNAL_BYTES - 1).to_string(),
            ),
            "cluster.mirror.journal_max_bytes",
        ),
    ];
    for (text, setting) in cases {
        let e = error_of(&text);
        assert!(e.contains(setting), "{setting}: {e}");
        assert!(
            e.contains("mirror \"") || e.contains("mirror \\\""),
            "names the mirror: {e}"
        );
    }
}

#[test]
fn duplicate_names_unknown_keys_and_missing_fields_are_refused() {
    let twice = format!(
        "{}[[mirror]]\nname = \"dev\"\nseeds = [\"127.0.0.1:1\"]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n",
        with("name", "\"dev\"")
    );
    assert!(error_of(&twice).contains("two [[cluster.mirror]] tables"));
    let typo = toml::from_str::<ClusterConfig>(&with("sedes", "[]")).expect_err("unknown key");
    assert!(typo.to_string().contains("sedes"), "{typo}");
    let missing = toml::from_str::<ClusterConfig>(
        "node_id = \"n1\"\n[[mirror]]\nname = \"dev\"\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n",
    )
    .expect_err("no seeds");
    assert!(missing.to_string().contains("seeds"), "{missing}");
}

#[test]
fn mirroring_needs_cluster_mode() {
    let text = with("name", "\"dev\"").replace("node_id = \"n1\"", "node_id = \"\"");
    let e = error_of(&text);
    assert!(
        e.contains("cluster.mirror") && e.contains("cluster mode"),
        "{e}"
    );
    assert!(mirror_settings(&[], false).expect("no mirror").is_empty());
}

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(name, labels.iter().copied()).expect("valid key")
}

#[test]
fn the_filter_matches_series_keys_like_promql() {
    let f = SeriesFilter::parse(r#"{__name__=~"cpu_.*",env="prod"}"#).expect("valid");
    assert!(f.matches(&key("cpu_user", &[("env", "prod"), ("host", "a")])));
    assert!(!f.matches(&key("cpu_user", &[("env", "dev")])));
    assert!(!f.matches(&key("cpu_user", &[])), "absent label is \"\"");
    assert!(!f.matches(&key("mem_used", &[("env", "prod")])));
    assert!(
        !f.matches(&key("xcpu_user", &[("env", "prod")])),
        "anchored regex"
    );

    let f = SeriesFilter::parse("up").expect("a bare name");
    assert!(f.matches(&key("up", &[("job", "x")])));
    assert!(!f.matches(&key("upx", &[])));

    let f = SeriesFilter::parse(r#"{__name__=~".+", env!="dev", team!~"a|b"}"#).expect("negations");
    assert!(f.matches(&key("m", &[])));
    assert!(f.matches(&key("m", &[("env", "prod"), ("team", "c")])));
    assert!(!f.matches(&key("m", &[("team", "b")])));

    let f = SeriesFilter::parse(r#"{env="prod" or team="db"}"#).expect("or");
    assert!(f.matches(&key("m", &[("team", "db")])));
    assert!(f.matches(&key("m", &[("env", "prod")])));
    assert!(!f.matches(&key("m", &[("env", "dev")])));

    for bad in ["", "{}", "sum(up)", "up[5m]", "{a=~\"(\"}", "up offset 5m"] {
        assert!(SeriesFilter::parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn records_round_trip_and_refuse_damage() {
    let batch = batch(&[("cpu_user", "prod", 3), ("mem", "prod", 2)]);
    let wire: Vec<_> = batch.iter().map(|s| s.wire.clone()).collect();
    let bytes = record::encode(1_700_000_000_123, wire).expect("encodes");
    let d = record::decode(&bytes).expect("decodes");
    assert_eq!(d.teed_ms, 1_700_000_000_123);
    assert_eq!(d.samples, 5);
    assert_eq!(d.series.len(), 2);
    assert_eq!(d.series[0].0, batch[0].key);
    assert_eq!(d.series[0].1, batch[0].samples);
    for cut in [0, 3, bytes.len() / 2, bytes.len() - 1] {
        assert!(record::decode(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(
        record::decode(&flipped).is_err(),
        "a flipped chunk byte is caught"
    );
    let other = floe_wire::encode_frame(&record::MirrorRecord {
        version: record::RECORD_VERSION + 1,
        teed_ms: 0,
        series: Vec::new(),
    })
    .expect("encodes");
    let e = record::decode(&other).expect_err("unknown version");
    assert!(e.contains("format version"), "{e}");
}

/// A batch of `(metric, env, samples)` series.
fn batch(series: &[(&str, &str, usize)]) -> Vec<SeriesBatch> {
    let keys: Vec<SeriesKey> = series
        .iter()
        .map(|(n, e, _)| key(n, &[("env", e)]))
        .collect();
    let mut samples = Vec::new();
    for (slot, (_, _, n)) in series.iter().enumerate() {
        for i in 0..*n {
            // Noisy values, so that chunks do not compress to nothing.
            let h = (i as u64 ^ (slot as u64) << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let value = (h >> 11) as f64 / 3.0;
            samples.push((slot as u32, Sample::new(1_000 + i as i64, value, 0)));
        }
    }
    SeriesBatch::from_parts(&keys, &samples).expect("valid batch")
}

fn target(dir: &std::path::Path, filter: Option<&str>, max: u64) -> Target {
    let settings = MirrorSettings {
        name: "dev".into(),
        seeds: vec!["127.0.0.1:1".parse().expect("addr")],
        tls: floe_wire::TlsFiles::client(dir, "x"),
        filter: filter.map(|f| SeriesFilter::parse(f).expect("filter")),
        consistency: floe_wire::proto::Consistency::Quorum,
        journal_max_bytes: max,
    };
    Target::open(settings, &dir.join("mirror").join("dev")).expect("opens")
}

fn journaled(t: &Target) -> Vec<record::Decoded> {
    let records = t.journal.peek(1000, 64 << 20).expect("peek");
    records
        .iter()
        .map(|(_, b)| record::decode(b).expect("decodes"))
        .collect()
}

#[test]
fn teed_writes_reach_the_journal_filtered_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = target(dir.path(), Some(r#"{__name__=~"cpu_.*"}"#), 1 << 30);
    t.tee(
        10,
        &Arc::new(batch(&[("cpu_user", "prod", 2), ("mem", "prod", 4)])),
    );
    t.tee(11, &Arc::new(batch(&[("mem", "prod", 1)])));
    t.tee(12, &Arc::new(batch(&[("cpu_sys", "dev", 3)])));
    assert_eq!(t.pending().0, 2, "queued, the unmatched write not at all");
    assert_eq!(t.journal.pending_records(), 0);
    t.flush();
    assert_eq!(t.journal.pending_records(), 2);
    assert_eq!(t.pending().0, 2);
    let got = journaled(&t);
    assert_eq!(got.iter().map(|r| r.teed_ms).collect::<Vec<_>>(), [10, 12]);
    assert_eq!(got[0].series.len(), 1, "mem filtered out");
    assert_eq!(got[0].series[0].0.name(), "cpu_user");
    assert_eq!(got[1].samples, 3);
    t.flush();
    assert_eq!(
        t.journal.pending_records(),
        2,
        "an empty flush appends nothing"
    );
}

#[test]
fn a_full_journal_drops_the_copy_and_counts_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = target(dir.path(), None, MIN_MIRROR_JOURNAL_BYTES);
    let names = ["a", "b", "c", "d", "e", "f"];
    let big = batch(&names.map(|n| (n, "p", 40_000)));
    let size: u64 = big.iter().map(series_bytes).sum();
    assert!(size > MIN_MIRROR_JOURNAL_BYTES / 2, "{size} bytes");
    let big = Arc::new(big);
    t.tee(1, &big);
    t.tee(2, &big);
    assert_eq!(t.pending().0, 1, "the second copy would pass the bound");
    assert_eq!(t.dropped(DropReason::Full), 240_000);
    t.flush();
    t.tee(3, &big);
    assert_eq!(
        t.dropped(DropReason::Full),
        480_000,
        "journaled bytes count too"
    );
    t.tee(4, &Arc::new(batch(&[("small", "p", 1)])));
    t.flush();
    assert_eq!(
        journaled(&t).iter().map(|r| r.teed_ms).collect::<Vec<_>>(),
        [1, 4]
    );
}

#[test]
fn status_and_metrics_show_every_target() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = Arc::new(target(dir.path(), Some("{env=\"prod\"}"), 1 << 30));
    let mirrors = Mirrors {
        targets: vec![t.clone()],
    };
    mirrors.tee(&Arc::new(batch(&[("cpu", "prod", 5)])));
    mirrors.close();
    assert_eq!(t.journal.pending_records(), 1, "close flushes the queue");
    let now = now_ms();
    t.stats.head_ms.store(now - 2_500, Ordering::Relaxed);
    let status = mirrors.status();
    assert_eq!(status.len(), 1);
    let s = &status[0];
    assert_eq!(s["name"], "dev");
    assert_eq!(s["pending_records"], 1);
    assert!(s["pending_bytes"].as_u64().expect("bytes") > 0);
    assert!(s["lag_seconds"].as_f64().expect("lag") >= 2.5);
    assert_eq!(s["match"], "{env=\"prod\"}");
    assert_eq!(s["connected"], false);
    assert!(s["last_error"].is_null());
    let mut out = String::new();
    mirrors.render(&mut out);
    for line in [
        "floe_mirror_pending_records{target=\"dev\"} 1",
        "floe_mirror_connected{target=\"dev\"} 0",
        "floe_mirror_sent_samples_total{target=\"dev\"} 0",
        "floe_mirror_send_errors_total{target=\"dev\"} 0",
        "floe_mirror_dropped_samples_total{target=\"dev\",reason=\"full\"} 0",
        "# TYPE floe_mirror_lag_seconds gauge",
    ] {
        assert!(out.contains(line), "{line} missing in\n{out}");
    }
    let mut none = String::new();
    Mirrors::default().render(&mut none);
    assert!(none.is_empty(), "no families without targets");
}

#[test]
fn a_journal_left_by_a_removed_target_does_not_stop_the_node() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("mirror").join("old")).expect("mkdir");
    let m = Mirrors::open(&[], dir.path()).expect("opens");
    assert!(m.targets.is_empty());
}

#[test]
fn the_commented_example_in_the_docs_is_valid() {
    let text = include_str!("../../../../docs/floed.example.toml");
    let block: String = text
        .lines()
        .skip_while(|l| *l != "# [[cluster.mirror]]")
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(block.starts_with("[[cluster.mirror]]\nname = "), "{block}");
    let full = format!("[cluster]\nnode_id = \"n1\"\ntopology = \"t\"\ncerts_dir = \"c\"\n{block}");
    let config = crate::server::config::ServerConfig::from_toml(&full).expect("parses");
    let s = config
        .cluster
        .settings()
        .expect("valid")
        .expect("cluster mode");
    assert_eq!(s.mirrors.len(), 1);
    assert_eq!(s.mirrors[0].name, "dev");
    assert!(s.mirrors[0].filter.is_some());
}

#[test]
fn a_stalled_journal_bounds_the_queue_in_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = target(dir.path(), None, 1 << 30);
    let names = ["a", "b", "c", "d", "e", "f"];
    let big = Arc::new(batch(&names.map(|n| (n, "p", 40_000))));
    let size: u64 = big.iter().map(series_bytes).sum();
    let fits = (QUEUE_BYTES / (size + RECORD_OVERHEAD)) as usize;
    for i in 0..fits + 3 {
        t.tee(i as i64, &big);
    }
    assert_eq!(
        t.pending().0,
        fits as u64,
        "the queue holds what fits in QUEUE_BYTES"
    );
    assert_eq!(t.dropped(DropReason::Queue), 3 * 240_000);
    assert_eq!(t.dropped(DropReason::Full), 0);
    *lock(&t.queue) = Queue::default(); // as a group commit would take it
    t.tee(99, &big);
    assert_eq!(
        t.dropped(DropReason::Queue),
        3 * 240_000,
        "the queue takes copies again"
    );
}
