//! Storage engine benchmark: ingest through the Rust API with the WAL on (fsync every 100 ms)
//! at 10 k, 100 k and 1 M TSBS-like series, one writer and one writer per core; WAL replay rate
//! on restart; resident memory per active series; query latency for one series × 1 day raw and
//! for aggregates over 1,000 series.
//!
//! `cargo bench -p floe-node --bench engine` (under a minute after the build);
//! `FLOE_BENCH_SMOKE=1` runs tiny sizes in about a second, and its figures mean nothing. Each case runs in a child process (this
//! binary again, with `--child …`) so that resident memory and allocator state start clean; the
//! parent prints the children's lines and, last, one JSON object of every figure. Asserts
//! nothing about time. What each figure measures is in `docs/benchmarks.md` (section Engine).
//!
//! To profile one case: `perf record --call-graph dwarf <bench binary> --child ingest 100000 1
//! 30 <new dir>` (arguments: series, writers, rounds, data directory).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_datagen::{Config, Generator, METRIC_NAMES};
use floe_node::engine::{Clock, Engine, EngineConfig, ManualClock, SystemClock};
use floe_node::index::SeriesRef;
use floe_storage_format::{Sample, SeriesKey};

/// Named figures of one run; printed as the final JSON line.
type Figures = BTreeMap<String, f64>;

/// Samples per `append` call (one scrape-sized batch).
const BATCH: usize = 10_000;
/// Spacing of a series' samples.
const STEP_MS: i64 = 10_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Hosts whose keys are built and resolved at a time (10 series each): small, so that the
/// freed key buffers barely move the resident-memory figure.
const RESOLVE_HOSTS: u32 = 100;

/// One ingest size: series, the label used in the JSON keys, and rounds (samples per series).
struct Size {
    series: u32,
    label: &'static str,
    rounds: u32,
}

/// What a run measures.
struct Plan {
    sizes: Vec<Size>,
    /// The size whose figures fill the headline keys (100 k; the smallest in smoke mode).
    headline: &'static str,
    /// Fresh-process repetitions of each ingest and replay case; the median is reported.
    runs: usize,
    query_hosts: u32,
    reads: usize,
    reps: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let figures = child(&args[1..]);
        println!("{}", to_json(&figures));
    } else {
        let smoke = std::env::var_os("FLOE_BENCH_SMOKE").is_some_and(|v| v != "0");
        run_all(&plan(smoke), smoke);
    }
}

fn plan(smoke: bool) -> Plan {
    let size = |series, label, rounds| Size {
        series,
        label,
        rounds,
    };
    if smoke {
        return Plan {
            sizes: vec![size(1_000, "1k", 20)],
            headline: "1k",
            runs: 1,
            query_hosts: 10,
            reads: 100,
            reps: 20,
        };
    }
    // Rounds: 30 at 100 k series is what a series holds in the head at 10 s steps just before
    // the default 5-minute flush; 7 at 1 M keeps the head under the default 8 M-sample flush.
    Plan {
        sizes: vec![
            size(10_000, "10k", 300),
            size(100_000, "100k", 30),
            size(1_000_000, "1m", 7),
        ],
        headline: "100k",
        runs: 3,
        query_hosts: 100,
        reads: 1_000,
        reps: 50,
    }
}

fn run_all(plan: &Plan, smoke: bool) {
    let root = tempfile::Builder::new()
        .prefix("floe-engine-bench-")
        .tempdir()
        .expect("create bench directory");
    println!(
        "engine bench{}: default EngineConfig (WAL fsync every 100 ms, background flush and \
         compaction on), appends of {BATCH} samples at {} s steps; each case runs {} time(s), \
         each in a fresh process and data directory under {}, and the median run is shown; \
         load average at start: {}",
        if smoke {
            " (SMOKE: tiny sizes, figures mean nothing)"
        } else {
            ""
        },
        STEP_MS / 1000,
        plan.runs,
        root.path().display(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let mut json = Figures::new();
    for size in &plan.sizes {
        ingest_size(plan, size, root.path(), &mut json);
    }
    let h = plan.headline;
    let replay_dir = root.path().join(format!("ingest-{h}-1"));
    let f = median_of(plan.runs, "samples_per_s", |_| {
        vec!["replay".into(), path_arg(&replay_dir)]
    });
    for (k, v) in f {
        json.insert(format!("replay_{k}"), v);
    }
    let (lines, f) = run_child(&["flush".into(), path_arg(&replay_dir)]);
    lines.iter().for_each(|l| println!("{l}"));
    json.insert("flush_samples_per_s".into(), f["samples_per_s"]);
    std::fs::remove_dir_all(&replay_dir).expect("remove replay directory");
    let (lines, f) = run_child(&[
        "query".into(),
        plan.query_hosts.to_string(),
        plan.reads.to_string(),
        plan.reps.to_string(),
    ]);
    lines.iter().for_each(|l| println!("{l}"));
    for (k, v) in f {
        json.insert(format!("query_{k}"), v);
    }
    headline_keys(&mut json, h);
    println!("{}", to_json(&json));
}

/// Runs the 1-writer and 2-writer cases of one size; the last 1-writer run of the headline
/// size keeps its data directory for the replay.
fn ingest_size(plan: &Plan, size: &Size, root: &Path, json: &mut Figures) {
    let label = size.label;
    let mut best = 0.0_f64;
    for writers in [1_usize, 2] {
        let dir = root.join(format!("ingest-{label}-{writers}"));
        let f = median_of(plan.runs, "samples_per_s", |_| {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).expect("remove ingest directory");
            }
            vec![
                "ingest".into(),
                size.series.to_string(),
                writers.to_string(),
                size.rounds.to_string(),
                path_arg(&dir),
            ]
        });
        if !(label == plan.headline && writers == 1) {
            std::fs::remove_dir_all(&dir).expect("remove ingest directory");
        }
        let suffix = if writers == 1 {
            "1_writer"
        } else {
            "2_writers"
        };
        for key in [
            "samples_per_s",
            "cpu_us_per_sample",
            "flushes",
            "wal_bytes_per_sample",
        ] {
            json.insert(format!("ingest_{key}_{label}_series_{suffix}"), f[key]);
        }
        best = best.max(f["samples_per_s"]);
        if writers == 1 {
            for key in [
                "resolve_us_per_series",
                "rss_bytes_per_series",
                "engine_memory_bytes_per_series",
                "head_samples_per_series",
            ] {
                json.insert(format!("{key}_{label}_series"), f[key]);
            }
        }
    }
    json.insert(format!("ingest_samples_per_s_{label}_series"), best);
}

/// Runs a child `runs` times (`args(run)`), prints the lines of the run with the median `key`
/// and every run's `key`, and returns the median run's figures.
fn median_of(runs: usize, key: &str, mut args: impl FnMut(usize) -> Vec<String>) -> Figures {
    let mut all: Vec<(Vec<String>, Figures)> = (0..runs).map(|run| run_child(&args(run))).collect();
    let values: Vec<String> = all
        .iter()
        .map(|(_, f)| format!("{:.3}", f[key] / 1e6))
        .collect();
    all.sort_by(|a, b| a.1[key].total_cmp(&b.1[key]));
    let (lines, figures) = all.swap_remove(runs / 2);
    for line in lines {
        println!("{line}");
    }
    if runs > 1 {
        println!(
            "        (M {key} of the {runs} runs, in order: {})",
            values.join(", ")
        );
    }
    figures
}

/// The keys the issue names, copied from the figures of the headline size.
fn headline_keys(json: &mut Figures, h: &str) {
    let get = |json: &Figures, k: &str| *json.get(k).unwrap_or_else(|| panic!("figure {k}"));
    let pairs = [
        (
            "ingest_samples_per_s_100k_series",
            format!("ingest_samples_per_s_{h}_series"),
        ),
        ("replay_samples_per_s", "replay_samples_per_s".into()),
        (
            "bytes_per_active_series",
            format!("rss_bytes_per_series_{h}_series"),
        ),
        (
            "query_one_series_day_us",
            "query_one_series_day_p50_us".into(),
        ),
        (
            "query_aggregate_1000_series_1h_ms",
            "query_aggregate_1h_p50_ms".into(),
        ),
    ];
    for (key, from) in pairs {
        let v = get(json, &from);
        json.insert(key.into(), v);
    }
}

fn path_arg(p: &Path) -> String {
    p.to_str().expect("UTF-8 temporary path").to_owned()
}

/// Runs this binary with `--child args`; returns its lines and its figures (last line).
fn run_child(args: &[String]) -> (Vec<String>, Figures) {
    let exe = std::env::current_exe().expect("path of the bench binary");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run bench child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(
        out.status.success(),
        "child {args:?} failed: {}\n{text}",
        out.status
    );
    let last = lines.pop().expect("child printed its figures");
    (lines, from_json(&last))
}

fn child(args: &[String]) -> Figures {
    let arg = |i: usize| -> &str { args.get(i).map_or("", String::as_str) };
    let num = |i: usize| -> u64 { arg(i).parse().expect("numeric child argument") };
    match arg(0) {
        "ingest" => ingest(
            num(1) as u32,
            num(2) as usize,
            num(3) as u32,
            Path::new(arg(4)),
        ),
        "replay" => replay(Path::new(arg(1))),
        "flush" => flush(Path::new(arg(1))),
        "query" => query(num(1) as u32, num(2) as usize, num(3) as usize),
        other => panic!("unknown child phase {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Ingest

/// Opens a fresh engine (defaults, system clock), resolves `series` TSBS-like series, then
/// appends `rounds` samples per series from `writers` threads and reports the rates. The
/// engine is dropped without `close`, so the head is left only in the WAL of `dir` (which the
/// parent removes, or reopens for the replay).
fn ingest(series: u32, writers: usize, rounds: u32, dir: &Path) -> Figures {
    let rss_before = rss_bytes();
    let (engine, _) =
        Engine::open(EngineConfig::new(dir), Arc::new(SystemClock)).expect("open engine");
    let (refs, resolve) = resolve_all(&engine, series);
    let t0 = (SystemClock.now_ms() / STEP_MS - i64::from(rounds)) * STEP_MS;
    let m = engine.metrics();
    let wal_before = load(&m.wal_bytes_total);
    let fsyncs_before = load(&m.wal_fsyncs_total);
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let in_append = write_concurrently(&engine, &refs, writers, rounds, t0);
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let samples = u64::from(series) * u64::from(rounds);
    let s = samples as f64;
    let flushes = load(&m.flushes_total);
    let wal_bytes = load(&m.wal_bytes_total) - wal_before;
    let who = format!(
        "{:>5} series, {writers} writer{}",
        short(u64::from(series)),
        if writers == 1 { " " } else { "s" }
    );
    println!(
        "ingest  {who}: {:.2} M samples ({rounds} rounds) in {wall:.2} s = {:.2} M samples/s \
         (counting only the writers' time in append: {:.2} M/s); CPU {:.3} µs/sample (whole process); \
         {} WAL fsyncs, {flushes} flushes; WAL {:.1} B/sample",
        s / 1e6,
        s / wall / 1e6,
        s / in_append.as_secs_f64() * writers as f64 / 1e6,
        cpu * 1e6 / s,
        load(&m.wal_fsyncs_total) - fsyncs_before,
        wal_bytes as f64 / s,
    );
    let mut f = Figures::new();
    f.insert("samples_per_s".into(), s / wall);
    f.insert("cpu_us_per_sample".into(), cpu * 1e6 / s);
    f.insert("flushes".into(), flushes as f64);
    f.insert("wal_bytes_per_sample".into(), wal_bytes as f64 / s);
    f.insert(
        "resolve_us_per_series".into(),
        resolve.as_secs_f64() * 1e6 / f64::from(series),
    );
    if writers == 1 {
        println!(
            "resolve {who}: {:.2} s = {:.2} µs/series (new series: index insert and WAL series \
             records; building the keys is not timed)",
            resolve.as_secs_f64(),
            resolve.as_secs_f64() * 1e6 / f64::from(series)
        );
    }
    drop(refs);
    let held = load(&m.head_samples) as f64 / f64::from(series);
    memory_figures(&engine, rss_before, series, held, &who, &mut f);
    if flushes > 0 {
        println!("WARNING: {flushes} flushes ran; the WAL no longer holds every sample");
    }
    drop(engine); // no close(): the head stays only in the WAL (Drop fsyncs it)
    f
}

/// Resolves every series, [`RESOLVE_HOSTS`] hosts at a time; returns the references in
/// host-major order and the time spent in `resolve`.
fn resolve_all(engine: &Engine, series: u32) -> (Vec<SeriesRef>, Duration) {
    let hosts = series / METRIC_NAMES.len() as u32;
    let generator = Generator::new(Config {
        hosts,
        ..Config::default()
    })
    .expect("valid datagen config");
    let mut refs = Vec::with_capacity(series as usize);
    let mut spent = Duration::ZERO;
    for start in (0..hosts).step_by(RESOLVE_HOSTS as usize) {
        let keys = host_keys(&generator, start..(start + RESOLVE_HOSTS).min(hosts));
        let t = Instant::now();
        refs.extend(engine.resolve(&keys).expect("resolve series"));
        spent += t.elapsed();
    }
    (refs, spent)
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

/// Splits the series into `writers` disjoint contiguous ranges, one thread each (the first on
/// this thread); returns the writers' summed time inside `append`.
fn write_concurrently(
    engine: &Engine,
    refs: &[SeriesRef],
    writers: usize,
    rounds: u32,
    t0: i64,
) -> Duration {
    let chunk = refs.len().div_ceil(writers);
    let mut parts = refs.chunks(chunk);
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|s| {
        let others: Vec<_> = parts
            .map(|part| s.spawn(move || write_rounds(engine, part, rounds, t0)))
            .collect();
        let mut total = write_rounds(engine, first, rounds, t0);
        for h in others {
            total += h.join().expect("writer thread");
        }
        total
    })
}

/// One writer: for each round, one sample per series at `t0 + round × 10 s`, appended in
/// batches of [`BATCH`]. Returns the time spent inside `append`.
fn write_rounds(engine: &Engine, refs: &[SeriesRef], rounds: u32, t0: i64) -> Duration {
    let mut batch = Vec::with_capacity(BATCH);
    let mut spent = Duration::ZERO;
    let mut send = |batch: &mut Vec<(SeriesRef, Sample)>| {
        let t = Instant::now();
        engine.append(batch).expect("append");
        spent += t.elapsed();
        batch.clear();
    };
    for round in 0..rounds {
        let ts = t0 + i64::from(round) * STEP_MS;
        for &r in refs {
            batch.push((r, Sample::new(ts, value(r, round), 0)));
            if batch.len() == BATCH {
                send(&mut batch);
            }
        }
    }
    if !batch.is_empty() {
        send(&mut batch);
    }
    spent
}

/// A cheap deterministic value with two decimals in 0..100 (the content does not matter to
/// the WAL, which stores raw values, nor to the head).
fn value(r: SeriesRef, round: u32) -> f64 {
    let q = (u64::from(r.0) * 7_919 + u64::from(round) * 104_729) % 10_000;
    q as f64 / 100.0
}

/// Prints and records resident memory and the engine's own accounting per series.
fn memory_figures(
    engine: &Engine,
    rss_before: u64,
    series: u32,
    held: f64,
    who: &str,
    f: &mut Figures,
) {
    let rss = rss_bytes().saturating_sub(rss_before) as f64 / f64::from(series);
    let own = engine.memory_bytes() as f64 / f64::from(series);
    println!(
        "memory  {who}: {held:.0} samples/series in the head: RSS +{:.1} MB = {rss:.0} B/series; \
         engine.memory_bytes() {own:.0} B/series",
        rss * f64::from(series) / 1e6,
    );
    f.insert("rss_bytes_per_series".into(), rss);
    f.insert("engine_memory_bytes_per_series".into(), own);
    f.insert("head_samples_per_series".into(), held);
}

// ---------------------------------------------------------------------------------------
// Replay

/// Reopens the data directory an ingest child left (head only in the WAL) and times
/// `Engine::open`; drops the engine without `close`, so the WAL can be replayed again.
fn replay(dir: &Path) -> Figures {
    let wal_bytes = dir_bytes(&dir.join("wal"));
    let rss_before = rss_bytes();
    let started = Instant::now();
    let (engine, report) =
        Engine::open(EngineConfig::new(dir), Arc::new(SystemClock)).expect("reopen engine");
    let secs = started.elapsed().as_secs_f64();
    let s = report.wal_samples as f64;
    println!(
        "replay  {} series: Engine::open replayed {:.2} M samples ({} segments, {:.1} MB of WAL, \
         read from the page cache; label index rebuilt from the WAL's series records) in \
         {secs:.2} s = {:.2} M samples/s ({:.0} MB/s); {} problems",
        short(report.series as u64),
        s / 1e6,
        report.wal_segments,
        wal_bytes as f64 / 1e6,
        s / secs / 1e6,
        wal_bytes as f64 / secs / 1e6,
        report.wal_problems.len(),
    );
    let mut f = Figures::new();
    f.insert("samples_per_s".into(), s / secs);
    let series = report.series as u32;
    let held = s / f64::from(series);
    memory_figures(&engine, rss_before, series, held, "after replay", &mut f);
    f
}

/// Reopens the data directory once more and times the flush of the replayed head (context:
/// the work the ingest figures leave for later).
fn flush(dir: &Path) -> Figures {
    let (engine, _) =
        Engine::open(EngineConfig::new(dir), Arc::new(SystemClock)).expect("reopen engine");
    let t = Instant::now();
    let flushed = engine.flush().expect("flush replayed head");
    let secs = t.elapsed().as_secs_f64();
    let s = flushed.samples as f64;
    println!(
        "flush   after replay: {:.2} M samples of {} series into {} block(s) in {secs:.2} s = \
         {:.2} M samples/s",
        s / 1e6,
        short(flushed.series),
        flushed.blocks,
        s / secs / 1e6,
    );
    engine.close().expect("close engine");
    Figures::from([("samples_per_s".to_owned(), s / secs)])
}

// ---------------------------------------------------------------------------------------
// Queries

/// One day at 10 s of `hosts × 10` series (generator, float mode), read from the head, from
/// the flushed 2-hour blocks, from the compacted day block, and (rollups) from rollup blocks
/// once raw retention expired the day. Manual clock, background work off.
fn query(hosts: u32, reads: usize, reps: usize) -> Figures {
    let dir = tempfile::Builder::new()
        .prefix("floe-engine-bench-query-")
        .tempdir()
        .expect("create query directory");
    let generator = Generator::new(Config {
        hosts,
        ..Config::default()
    })
    .expect("valid datagen config");
    let day = generator.config().start_ms;
    assert_eq!(day % DAY_MS, 0, "the generated day starts at midnight");
    let clock = Arc::new(ManualClock::new(day + DAY_MS));
    let mut config = EngineConfig::new(dir.path());
    config.background = false;
    let (late_grace, raw_retention) = (config.late_grace, config.raw_retention);
    let (engine, _) = Engine::open(config, clock.clone()).expect("open engine");
    let refs = load_day(&engine, &generator);
    let q = Queries {
        engine: &engine,
        refs: &refs,
        day,
        reads,
        reps,
    };
    let mut f = Figures::new();
    println!(
        "query   {} series × 1 day at 10 s (datagen float): {reads} one-series reads, {reps} \
         repetitions of each aggregate",
        refs.len()
    );
    q.raw_reads("head", "_head", &mut f);
    let flushed = engine.flush().expect("flush the day");
    q.raw_reads(
        &format!("{} flushed 2 h blocks", flushed.blocks),
        "_2h_blocks",
        &mut f,
    );
    clock.set(day + DAY_MS + late_grace.as_millis() as i64 + 1);
    let compacted = engine.compact().expect("compact the day");
    let blocks = load(&engine.metrics().blocks);
    println!(
        "query   compaction: {} spans merged, {} raw blocks merged, {} rollup blocks; {blocks} \
         blocks live (1 raw day block + rollups expected)",
        compacted.spans_merged, compacted.blocks_merged, compacted.rollup_blocks
    );
    q.raw_reads("day block", "", &mut f);
    q.rollups("raw day block", "from_raw", &mut f);
    clock.set(day + DAY_MS + raw_retention.as_millis() as i64 + HOUR_MS);
    let expired = engine.compact().expect("expire the raw day").expired;
    println!("query   raw retention passed: {expired} raw block expired");
    q.rollups("rollup blocks", "from_rollup_blocks", &mut f);
    f.insert("series".into(), refs.len() as f64);
    f
}

/// Writes the generator's day in time order (its rows), [`BATCH`] samples per append.
fn load_day(engine: &Engine, generator: &Generator) -> Vec<SeriesRef> {
    let keys = host_keys(generator, 0..generator.config().hosts);
    let refs = engine.resolve(&keys).expect("resolve series");
    let t = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for row in generator.rows() {
        let base = row.host as usize * METRIC_NAMES.len();
        for (field, &v) in row.values.iter().enumerate() {
            batch.push((refs[base + field], Sample::new(row.ts, v, 0)));
        }
        if batch.len() >= BATCH {
            engine.append(&batch).expect("append");
            batch.clear();
        }
    }
    engine.append(&batch).expect("append");
    println!(
        "query   loaded {:.2} M samples in {:.2} s (generator included)",
        generator.sample_count() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    refs
}

struct Queries<'a> {
    engine: &'a Engine,
    refs: &'a [SeriesRef],
    day: i64,
    reads: usize,
    reps: usize,
}

impl Queries<'_> {
    /// One random series × the whole day, and 1 h of every series summed; `tag` goes into
    /// the figures' keys.
    fn raw_reads(&self, from: &str, tag: &str, f: &mut Figures) {
        let (day, last) = (self.day, self.day + DAY_MS - 1);
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let (p50, p99) = latencies(self.reads, |_| {
            let r = self.refs[(xorshift(&mut rng) % self.refs.len() as u64) as usize];
            let samples = self.engine.read(r, day, last).expect("read one series");
            assert_eq!(samples.len(), (DAY_MS / STEP_MS) as usize);
            black_box(samples);
        });
        println!(
            "query   one series × 1 day raw ({from}): p50 {:.1} µs, p99 {:.1} µs",
            p50 * 1e6,
            p99 * 1e6
        );
        f.insert(format!("one_series_day{tag}_p50_us"), p50 * 1e6);
        f.insert(format!("one_series_day{tag}_p99_us"), p99 * 1e6);
        let (start, end) = (day + 12 * HOUR_MS, day + 13 * HOUR_MS - 1);
        let (p50, p99) = latencies(self.reps, |_| {
            let mut sum = 0.0;
            for &r in self.refs {
                let samples = self.engine.read(r, start, end).expect("read one hour");
                assert_eq!(samples.len(), (HOUR_MS / STEP_MS) as usize);
                sum += samples.iter().map(|s| s.value).sum::<f64>();
            }
            black_box(sum);
        });
        println!(
            "query   {} series × 1 h raw, summed ({from}): p50 {:.2} ms, p99 {:.2} ms",
            self.refs.len(),
            p50 * 1e3,
            p99 * 1e3
        );
        f.insert(format!("aggregate_1h{tag}_p50_ms"), p50 * 1e3);
        f.insert(format!("aggregate_1h{tag}_p99_ms"), p99 * 1e3);
    }

    /// `read_rollup` at 1 h over the day for every series.
    fn rollups(&self, from: &str, key: &str, f: &mut Figures) {
        let (day, last) = (self.day, self.day + DAY_MS - 1);
        let (p50, p99) = latencies(self.reps, |_| {
            let mut sum = 0.0;
            for &r in self.refs {
                let rows = self
                    .engine
                    .read_rollup(r, HOUR_MS, day, last)
                    .expect("read rollup");
                assert_eq!(rows.len(), 24);
                sum += rows.sum.iter().sum::<f64>();
            }
            black_box(sum);
        });
        println!(
            "query   read_rollup 1 h × 1 day of {} series ({from}): p50 {:.2} ms, p99 {:.2} ms",
            self.refs.len(),
            p50 * 1e3,
            p99 * 1e3
        );
        f.insert(format!("rollup_1h_day_{key}_p50_ms"), p50 * 1e3);
        f.insert(format!("rollup_1h_day_{key}_p99_ms"), p99 * 1e3);
    }
}

/// p50 and p99 of `n` timed calls, in seconds.
fn latencies(n: usize, mut f: impl FnMut(usize)) -> (f64, f64) {
    let mut lat: Vec<f64> = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed().as_secs_f64()
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

// ---------------------------------------------------------------------------------------
// Process measurements and output

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(std::sync::atomic::Ordering::Relaxed)
}

/// Resident set size of this process (`VmRSS` of `/proc/self/status`).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

/// User + system CPU time of every thread of this process, in seconds (`/proc/self/stat`,
/// clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let after_name = stat.rsplit_once(')').expect("comm field").1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime); `fields[0]` is field 3.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list directory")
        .map(|e| {
            e.expect("directory entry")
                .metadata()
                .expect("metadata")
                .len()
        })
        .sum()
}

fn short(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{} k", n / 1_000),
        n => n.to_string(),
    }
}

fn to_json(figures: &Figures) -> String {
    let body: Vec<String> = figures
        .iter()
        .map(|(k, v)| {
            let v = if v.abs() >= 1000.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.4}")
            };
            format!("\"{k}\":{v}")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Parses what [`to_json`] printed (flat, numbers only).
fn from_json(line: &str) -> Figures {
    let inner = line
        .trim()
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap_or_else(|| panic!("child's last line is not a JSON object: {line}"));
    inner
        .split(',')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once(':').expect("key:value");
            (
                k.trim_matches('"').to_owned(),
                v.parse().expect("numeric figure"),
            )
        })
        .collect()
}
