//! Label index micro-benchmark: insert, lookup, select, checkpoint and memory per series on
//! TSBS-like series (10 metric names × N hosts, 10 tags per host, `hostname` high-cardinality).
//!
//! `cargo bench -p floe-node --bench index` (hosts: `FLOE_BENCH_HOSTS`, default 10,000 and
//! 100,000, i.e. 100 k and 1 M series). Prints figures; asserts nothing about time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use floe_datagen::{Config, Generator, METRIC_NAMES};
use floe_node::index::{LabelIndex, MatchOp, Matcher, SeriesRef};
use floe_storage_format::{SeriesId, SeriesKey};

/// Hosts per batch of keys built before timing their inserts.
const BATCH_HOSTS: u32 = 1_000;

fn main() {
    let hosts: Vec<u32> = match std::env::var("FLOE_BENCH_HOSTS") {
        Ok(v) => v
            .split(',')
            .map(|h| h.trim().parse().expect("host count"))
            .collect(),
        Err(_) => vec![10_000, 100_000],
    };
    for h in hosts {
        run(h);
    }
}

fn host_keys(generator: &Generator, hosts: std::ops::Range<u32>) -> Vec<SeriesKey> {
    let mut keys = Vec::with_capacity(hosts.len() * METRIC_NAMES.len());
    for host in hosts {
        let tags = generator.host_tags(host);
        for metric in METRIC_NAMES {
            keys.push(SeriesKey::new(metric, tags.iter().cloned()).expect("valid key"));
        }
    }
    keys
}

fn run(hosts: u32) {
    let generator = Generator::new(Config {
        hosts,
        ..Config::default()
    })
    .expect("valid config");
    let mut index = LabelIndex::new();
    let mut ids = Vec::new();
    let (mut t_new, mut t_again, mut t_hash) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for start in (0..hosts).step_by(BATCH_HOSTS as usize) {
        let keys = host_keys(&generator, start..(start + BATCH_HOSTS).min(hosts));
        let t = Instant::now();
        let batch_ids: Vec<SeriesId> = keys.iter().map(SeriesKey::id).collect();
        t_hash += t.elapsed();
        let t = Instant::now();
        for (k, &id) in keys.iter().zip(&batch_ids) {
            black_box(index.insert_with_id(k, id));
        }
        t_new += t.elapsed();
        let t = Instant::now();
        for (k, &id) in keys.iter().zip(&batch_ids) {
            black_box(index.insert_with_id(k, id));
        }
        t_again += t.elapsed();
        ids.extend(batch_ids);
    }
    let n = index.len();
    println!(
        "\n== {n} series ({hosts} hosts × {}) ==",
        METRIC_NAMES.len()
    );
    let per = |d: Duration, count: usize| d.as_nanos() as f64 / count as f64;
    println!(
        "key.id() (canonical key + XXH3-128, not index)  {:7.1} ns/series",
        per(t_hash, n)
    );
    println!(
        "insert new series (id given)                    {:7.1} ns/series",
        per(t_new, n)
    );
    println!(
        "insert existing series (id given)               {:7.1} ns/series",
        per(t_again, n)
    );
    lookups(&index, &ids);
    println!(
        "memory_bytes                                    {:7.1} B/series",
        index.memory_bytes() as f64 / n as f64
    );
    selects(&index, hosts);
    checkpoint(&mut index);
}

fn lookups(index: &LabelIndex, ids: &[SeriesId]) {
    // A fixed pseudo-random order, so that lookups do not walk the table in insertion order.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let shuffled: Vec<SeriesId> = order.iter().map(|&i| ids[i]).collect();
    let t = Instant::now();
    for &id in &shuffled {
        black_box(index.lookup(id));
    }
    let hit = t.elapsed();
    let misses: Vec<SeriesId> = shuffled.iter().map(|id| SeriesId(!id.0)).collect();
    let t = Instant::now();
    for &id in &misses {
        black_box(index.lookup(id));
    }
    let miss = t.elapsed();
    let per = |d: Duration| d.as_nanos() as f64 / ids.len() as f64;
    println!(
        "lookup hit (random order)                       {:7.1} ns",
        per(hit)
    );
    println!(
        "lookup miss                                     {:7.1} ns",
        per(miss)
    );
}

fn selects(index: &LabelIndex, hosts: u32) {
    let m = |op, name: &str, v: &str| Matcher::new(op, name, v).expect("valid matcher");
    let host = format!("host_{}", hosts / 2);
    let queries: Vec<(&str, Vec<Matcher>)> = vec![
        (
            "cpu_usage_user{hostname=H}",
            vec![
                m(MatchOp::Equal, "__name__", "cpu_usage_user"),
                m(MatchOp::Equal, "hostname", &host),
            ],
        ),
        (
            "cpu_usage_user{region=\"eu-west-1\"}",
            vec![
                m(MatchOp::Equal, "__name__", "cpu_usage_user"),
                m(MatchOp::Equal, "region", "eu-west-1"),
            ],
        ),
        (
            "{hostname=~\"host_1.*\"}",
            vec![m(MatchOp::RegexMatch, "hostname", "host_1.*")],
        ),
        (
            "cpu_usage_idle{hostname=~\"host_(1|2|3)\"}",
            vec![
                m(MatchOp::Equal, "__name__", "cpu_usage_idle"),
                m(MatchOp::RegexMatch, "hostname", "host_1|host_2|host_3"),
            ],
        ),
        (
            "cpu_usage_user{service!=\"7\", os=~\"Ubuntu16.*\"}",
            vec![
                m(MatchOp::Equal, "__name__", "cpu_usage_user"),
                m(MatchOp::NotEqual, "service", "7"),
                m(MatchOp::RegexMatch, "os", "Ubuntu16.*"),
            ],
        ),
        (
            "{team!=\"SF\"} (exclude only)",
            vec![m(MatchOp::NotEqual, "team", "SF")],
        ),
    ];
    for (what, q) in queries {
        let rounds = 20;
        let t = Instant::now();
        let mut found = Vec::<SeriesRef>::new();
        for _ in 0..rounds {
            found = black_box(index.select(&q));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!("select {what:<46} {us:9.1} µs ({} series)", found.len());
    }
}

fn checkpoint(index: &mut LabelIndex) {
    let dir = std::env::temp_dir().join(format!("floe-index-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join("index.ckpt");
    let t = Instant::now();
    index.checkpoint(&path).expect("checkpoint");
    let write = t.elapsed();
    let size = std::fs::metadata(&path).expect("checkpoint size").len();
    let t = Instant::now();
    let loaded = LabelIndex::load(&path).expect("load");
    let load = t.elapsed();
    assert_eq!(loaded.len(), index.len());
    let n = index.len() as f64;
    println!(
        "checkpoint write {:.0} ms, load {:.0} ms, {:.1} B/series on disk; \
         after load memory_bytes {:.1} B/series",
        write.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3,
        size as f64 / n,
        loaded.memory_bytes() as f64 / n,
    );
    index.shrink_to_fit();
    std::fs::remove_dir_all(&dir).expect("remove bench dir");
}
