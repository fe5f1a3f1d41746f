//! `cargo bench -p floe-storage-format --bench format`
//!
//! Encodes 1,000 hosts × 10 fields × 1 day at 10 s (86.4 M samples; `FLOE_BENCH_HOSTS` and
//! `FLOE_BENCH_POINTS` change the size) into one block file per value mode of the data
//! generator, then prints bytes/sample (whole file ÷ samples) against the generator's entropy
//! bound, encode and decode samples/s on one core, and the latency of reading one series from
//! the memory-mapped block. Then, for the `float` and `jitter` modes, it rolls every series up
//! at 1 m, 5 m and 1 h into one rollup block per resolution and prints bytes per rollup row
//! (whole file ÷ rows), rollup, encode and decode speeds. The last line is one JSON object.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use floe_datagen::{Config, Generator, METRIC_NAMES, ValueMode};
use floe_storage_format::block::{BlockHeader, BlockReader, BlockWriter};
use floe_storage_format::wal::SampleType;
use floe_storage_format::{Columns, RollupColumns, SeriesId, SeriesKey, rollup};

struct Series {
    key: SeriesKey,
    ts: std::rc::Rc<Vec<i64>>,
    values: Vec<f64>,
}

struct ModeResult {
    samples: u64,
    file_bytes: u64,
    entropy_bytes: f64,
    encode_s: f64,
    encode_verified_s: f64,
    decode_s: f64,
    read_one_p50_us: f64,
    read_one_p99_us: f64,
    zstd_bytes: Option<u64>,
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn generate(mode: ValueMode, hosts: u32, points: u32) -> (Vec<Series>, f64) {
    let generator = Generator::new(Config {
        hosts,
        points,
        mode,
        ..Config::default()
    })
    .expect("valid config");
    let mut all = Vec::with_capacity(hosts as usize * 10);
    let mut entropy = floe_datagen::EntropyCounter::new();
    for h in 0..hosts {
        let hs = generator.host_series(h);
        entropy.merge(&hs.entropy);
        let ts = std::rc::Rc::new(hs.timestamps);
        for (f, values) in hs.fields.into_iter().enumerate() {
            let key = SeriesKey::new(
                METRIC_NAMES[f],
                hs.tags.iter().map(|(k, v)| (*k, v.as_str())),
            )
            .expect("valid key");
            all.push(Series {
                key,
                ts: ts.clone(),
                values,
            });
        }
    }
    all.sort_by_key(|s| s.key.id());
    (all, entropy.report().bytes_per_sample)
}

fn write_block(path: &std::path::Path, series: &[Series], verify: bool) -> (u64, Duration) {
    let _ = std::fs::remove_file(path);
    let start = series.iter().map(|s| s.ts[0]).min().unwrap_or(0);
    let end = series
        .iter()
        .map(|s| s.ts[s.ts.len() - 1])
        .max()
        .unwrap_or(0)
        + 1;
    let header = BlockHeader {
        sample_type: SampleType::Float,
        has_keys: true,
        partition_start: start,
        partition_end: end,
    };
    let versions = vec![0u64; series.iter().map(|s| s.ts.len()).max().unwrap_or(0)];
    let t = Instant::now();
    let mut w = BlockWriter::create(path, header).expect("create block");
    if !verify {
        w = w.without_verification();
    }
    for s in series {
        w.add_series(
            s.key.id(),
            Some(&s.key),
            &s.ts,
            &s.values,
            &versions[..s.ts.len()],
        )
        .expect("add series");
    }
    let summary = w.finish().expect("finish block");
    (summary.bytes, t.elapsed())
}

fn decode_all(path: &std::path::Path) -> (u64, Duration) {
    let t = Instant::now();
    let r = BlockReader::open(path).expect("open block");
    let mut cols = Columns::default();
    let mut n = 0u64;
    for i in 0..r.series_count() {
        r.read_entry(i, &mut cols).expect("decode");
        n += cols.len() as u64;
        std::hint::black_box(&cols);
    }
    (n, t.elapsed())
}

fn read_one_latency(path: &std::path::Path, ids: &[SeriesId]) -> (f64, f64) {
    let r = BlockReader::open(path).expect("open block");
    let mut cols = Columns::default();
    let mut lat = Vec::with_capacity(2000);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = ids[(x % ids.len() as u64) as usize];
        let t = Instant::now();
        assert!(r.read_series(id, &mut cols).expect("read"));
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(&cols);
    }
    lat.sort_by(f64::total_cmp);
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

fn zstd_baseline(series: &[Series]) -> u64 {
    let mut total = 0u64;
    let mut raw = Vec::new();
    for s in series {
        raw.clear();
        for (t, v) in s.ts.iter().zip(&s.values) {
            raw.extend_from_slice(&t.to_le_bytes());
            raw.extend_from_slice(&v.to_le_bytes());
        }
        total += zstd::bulk::compress(&raw, 3).expect("zstd").len() as u64;
    }
    total
}

fn run_mode(dir: &std::path::Path, mode: ValueMode, hosts: u32, points: u32) -> ModeResult {
    let (series, entropy_bytes) = generate(mode, hosts, points);
    let samples: u64 = series.iter().map(|s| s.ts.len() as u64).sum();
    let path = dir.join(format!("{}.blk", mode.name()));
    let (file_bytes, encode) = write_block(&path, &series, false);
    let (_, encode_verified) = write_block(&path, &series, true);
    let (decoded, decode) = decode_all(&path);
    assert_eq!(decoded, samples);
    let ids: Vec<SeriesId> = series.iter().map(|s| s.key.id()).collect();
    let (p50, p99) = read_one_latency(&path, &ids);
    let zstd_bytes =
        matches!(mode, ValueMode::Integer | ValueMode::Float2).then(|| zstd_baseline(&series));
    ModeResult {
        samples,
        file_bytes,
        entropy_bytes,
        encode_s: encode.as_secs_f64(),
        encode_verified_s: encode_verified.as_secs_f64(),
        decode_s: decode.as_secs_f64(),
        read_one_p50_us: p50,
        read_one_p99_us: p99,
        zstd_bytes,
    }
}

fn main() {
    let hosts = env_u32("FLOE_BENCH_HOSTS", 1000);
    let points = env_u32("FLOE_BENCH_POINTS", 8640);
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "format bench: {hosts} hosts x 10 fields x {points} points per mode, one block file per mode, one core"
    );
    let mut json = BTreeMap::new();
    for mode in ValueMode::ALL {
        let r = run_mode(dir.path(), mode, hosts, points);
        let bps = r.file_bytes as f64 / r.samples as f64;
        let m = r.samples as f64;
        println!(
            "{:>7}: {:.4} B/sample ({} bytes), entropy bound {:.4} B/sample, ratio {:.3}; encode {:.1} M/s (verified {:.1} M/s); decode {:.1} M/s; read one series p50 {:.1} us p99 {:.1} us{}",
            mode.name(),
            bps,
            r.file_bytes,
            r.entropy_bytes,
            bps / r.entropy_bytes,
            m / r.encode_s / 1e6,
            m / r.encode_verified_s / 1e6,
            m / r.decode_s / 1e6,
            r.read_one_p50_us,
            r.read_one_p99_us,
            r.zstd_bytes
                .map(|z| format!("; zstd-3 on raw (ts, value) {:.3} B/sample", z as f64 / m))
                .unwrap_or_default(),
        );
        let name = mode.name();
        json.insert(format!("bytes_per_sample_{name}"), bps);
        json.insert(format!("entropy_bound_{name}"), r.entropy_bytes);
        json.insert(format!("ratio_to_entropy_{name}"), bps / r.entropy_bytes);
        json.insert(format!("encode_samples_per_s_{name}"), m / r.encode_s);
        json.insert(
            format!("encode_verified_samples_per_s_{name}"),
            m / r.encode_verified_s,
        );
        json.insert(format!("decode_samples_per_s_{name}"), m / r.decode_s);
        json.insert(format!("read_one_series_p50_us_{name}"), r.read_one_p50_us);
        json.insert(format!("read_one_series_p99_us_{name}"), r.read_one_p99_us);
        if let Some(z) = r.zstd_bytes {
            json.insert(format!("zstd_raw_bytes_per_sample_{name}"), z as f64 / m);
        }
    }
    for mode in [ValueMode::Float2, ValueMode::Jitter] {
        let (series, _) = generate(mode, hosts, points);
        for res in ROLLUP_RESOLUTIONS {
            let r = run_rollup(dir.path(), &series, res);
            let rows = r.rows as f64;
            let label = format!("{}_{}", mode.name(), res_name(res));
            println!(
                "{:>7} rollup {:>2}: {:.3} B/row ({} bytes, {} rows, {:.1} rows/series); rollup {:.1} M samples/s; encode {:.2} M rows/s; decode {:.2} M rows/s",
                mode.name(),
                res_name(res),
                r.file_bytes as f64 / rows,
                r.file_bytes,
                r.rows,
                rows / series.len() as f64,
                r.samples as f64 / r.rollup_s / 1e6,
                rows / r.encode_s / 1e6,
                rows / r.decode_s / 1e6,
            );
            json.insert(
                format!("rollup_bytes_per_row_{label}"),
                r.file_bytes as f64 / rows,
            );
            json.insert(
                format!("rollup_samples_per_s_{label}"),
                r.samples as f64 / r.rollup_s,
            );
            json.insert(
                format!("rollup_encode_rows_per_s_{label}"),
                rows / r.encode_s,
            );
            json.insert(
                format!("rollup_decode_rows_per_s_{label}"),
                rows / r.decode_s,
            );
        }
    }
    // Headline figures: the slower of the two modes the targets name (TSBS integers and
    // 2-decimal floats); counter and jitter keep their own keys.
    let min_of = |prefix: &str| {
        ["int", "float"]
            .iter()
            .filter_map(|mode| json.get(&format!("{prefix}{mode}")))
            .fold(f64::INFINITY, |a, &b| a.min(b))
    };
    let encode = min_of("encode_samples_per_s_");
    let decode = min_of("decode_samples_per_s_");
    json.insert("encode_samples_per_s".into(), encode);
    json.insert("decode_samples_per_s".into(), decode);
    json.insert(
        "samples_per_mode".into(),
        f64::from(hosts) * 10.0 * f64::from(points),
    );
    let body: Vec<String> = json
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}", fmt_num(*v)))
        .collect();
    println!("{{{}}}", body.join(","));
}

/// Rollup resolutions measured: 1 m, 5 m, 1 h.
const ROLLUP_RESOLUTIONS: [i64; 3] = [60_000, 300_000, 3_600_000];

fn res_name(res: i64) -> &'static str {
    match res {
        60_000 => "1m",
        300_000 => "5m",
        _ => "1h",
    }
}

struct RollupResult {
    samples: u64,
    rows: u64,
    file_bytes: u64,
    rollup_s: f64,
    encode_s: f64,
    decode_s: f64,
}

/// Rolls every series up at `res`, writes one rollup block, reads it back.
fn run_rollup(dir: &std::path::Path, series: &[Series], res: i64) -> RollupResult {
    let t = Instant::now();
    let rollups: Vec<RollupColumns> = series
        .iter()
        .map(|s| {
            let mut r = RollupColumns::default();
            rollup(&s.ts, &s.values, res, &mut r).expect("rollup");
            r
        })
        .collect();
    let rollup_s = t.elapsed().as_secs_f64();
    let samples = series.iter().map(|s| s.ts.len() as u64).sum();
    let start = rollups
        .iter()
        .map(|r| r.ts[0])
        .min()
        .unwrap_or(0)
        .div_euclid(res)
        * res;
    let end = rollups.iter().map(|r| r.ts[r.len() - 1]).max().unwrap_or(0) + res;
    let path = dir.join(format!("rollup-{res}.blk"));
    let _ = std::fs::remove_file(&path);
    let header = BlockHeader {
        sample_type: SampleType::Rollup,
        has_keys: true,
        partition_start: start,
        partition_end: end,
    };
    let t = Instant::now();
    let mut w = BlockWriter::create(&path, header)
        .expect("create rollup block")
        .without_verification();
    for (s, r) in series.iter().zip(&rollups) {
        w.add_rollup_series(s.key.id(), Some(&s.key), r)
            .expect("add rollup");
    }
    let summary = w.finish().expect("finish rollup block");
    let encode_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let reader = BlockReader::open(&path).expect("open rollup block");
    let mut back = RollupColumns::default();
    let mut rows = 0u64;
    for i in 0..reader.series_count() {
        reader
            .read_rollup_entry(i, &mut back)
            .expect("decode rollup");
        rows += back.len() as u64;
        std::hint::black_box(&back);
    }
    let decode_s = t.elapsed().as_secs_f64();
    assert_eq!(rows, summary.samples);
    RollupResult {
        samples,
        rows,
        file_bytes: summary.bytes,
        rollup_s,
        encode_s,
        decode_s,
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}
