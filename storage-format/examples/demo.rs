//! Floe format demo: generate a day of TSBS-shaped data, write it as a WAL segment and as a
//! block file, read both back, and show that the stored state is the same whatever order or
//! duplication the samples arrived in (equal digests).
//!
//! `cargo run --release -p floe-storage-format --example demo -- [--hosts N] [--dir PATH]`

use std::path::PathBuf;
use std::time::Instant;

use floe_datagen::{Config, Generator, METRIC_NAMES, ValueMode};
use floe_storage_format::block::{BlockHeader, BlockReader, BlockWriter};
use floe_storage_format::wal::{self, SampleBatch, SampleType, SegmentHeader, SegmentReader};
use floe_storage_format::{Columns, Digest, Sample, SeriesId, SeriesKey, normalize};

struct Args {
    hosts: u32,
    dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        hosts: 100,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--hosts" => {
                args.hosts = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--hosts needs a number")?
            }
            "--dir" => args.dir = Some(it.next().ok_or("--dir needs a path")?.into()),
            "-h" | "--help" => return Err("usage: demo [--hosts N] [--dir PATH]".into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: demo [--hosts N] [--dir PATH]"
                ));
            }
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let tmp = tempfile::tempdir().expect("create a temporary directory");
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("create the output directory");
    if let Err(e) = run(&args, &dir) {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args, dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let generator = Generator::new(Config {
        hosts: args.hosts,
        mode: ValueMode::Float2,
        ..Config::default()
    })?;
    println!(
        "Floe format demo: {} hosts x 10 cpu fields x 1 day at 10 s = {} samples",
        args.hosts,
        generator.sample_count()
    );

    // 1. Generate the series, keyed by their canonical SeriesId.
    let t = Instant::now();
    let mut series: Vec<(SeriesKey, Columns)> = Vec::new();
    let mut entropy = floe_datagen::EntropyCounter::new();
    for h in 0..args.hosts {
        let hs = generator.host_series(h);
        entropy.merge(&hs.entropy);
        for (f, values) in hs.fields.into_iter().enumerate() {
            let key = SeriesKey::new(
                METRIC_NAMES[f],
                hs.tags.iter().map(|(k, v)| (*k, v.as_str())),
            )?;
            let versions = vec![0; values.len()];
            series.push((
                key,
                Columns {
                    ts: hs.timestamps.clone(),
                    values,
                    versions,
                },
            ));
        }
    }
    series.sort_by_key(|(k, _)| k.id());
    let expected: Digest = series
        .iter()
        .map(|(k, c)| Digest::of_columns(k.id(), &c.ts, &c.values, &c.versions))
        .sum();
    println!(
        "1. generated in {:.2?}; digest of the data set {expected}",
        t.elapsed()
    );

    // 2. Write one block file for the day and read it back.
    let path = dir.join("day.blk");
    let (start, end) = (
        Config::default().start_ms,
        Config::default().start_ms + 86_400_000,
    );
    let header = BlockHeader {
        sample_type: SampleType::Float,
        has_keys: true,
        partition_start: start,
        partition_end: end,
    };
    let t = Instant::now();
    let mut w = BlockWriter::create(&path, header)?;
    for (key, c) in &series {
        w.add_series(key.id(), Some(key), &c.ts, &c.values, &c.versions)?;
    }
    let summary = w.finish()?;
    let samples = summary.samples as f64;
    let bound = entropy.report();
    println!(
        "2. block {} written in {:.2?}: {} bytes, {:.3} bytes/sample (entropy bound {:.3}, raw 16.000)",
        path.display(),
        t.elapsed(),
        summary.bytes,
        summary.bytes as f64 / samples,
        bound.bytes_per_sample
    );
    let reader = BlockReader::open(&path)?;
    let t = Instant::now();
    let block_digest = reader.digest()?;
    println!(
        "   read back and digested in {:.2?}: {block_digest} {}",
        t.elapsed(),
        verdict(block_digest == expected)
    );
    let (key, _) = &series[series.len() / 2];
    let mut cols = Columns::default();
    let t = Instant::now();
    reader.read_series(key.id(), &mut cols)?;
    println!("   one series by id in {:.2?}: {key}", t.elapsed());
    println!(
        "   first samples: {:?}",
        cols.samples()
            .take(3)
            .map(|s| (s.ts, s.value))
            .collect::<Vec<_>>()
    );

    // 3. Write a WAL segment of a shuffled, 20 %-duplicated copy of the first hour and replay it.
    let hour: Vec<(SeriesId, Sample)> = series
        .iter()
        .flat_map(|(k, c)| c.samples().take(360).map(move |s| (k.id(), s)))
        .collect();
    let mut noisy: Vec<(SeriesId, Sample)> = hour
        .iter()
        .copied()
        .chain(hour.iter().copied().step_by(5))
        .collect();
    shuffle(&mut noisy, 42);
    let mut seg = SegmentHeader { segment_id: 1 }.encode().to_vec();
    for part in noisy.chunks(10_000) {
        let mut batch = SampleBatch::new();
        for &(id, s) in part {
            batch.push(id, s);
        }
        wal::frame_samples_record(&batch, &mut seg)?;
    }
    let wal_path = dir.join("hour.wal");
    std::fs::write(&wal_path, &seg)?;
    let replayed = replay(&std::fs::read(&wal_path)?)?;
    let hour_digest: Digest = hour.iter().map(|(id, s)| Digest::of_sample(*id, s)).sum();
    println!(
        "3. WAL {} of {} samples ({} duplicates, shuffled), {} bytes; replayed digest {} {}",
        wal_path.display(),
        noisy.len(),
        noisy.len() - hour.len(),
        seg.len(),
        replayed,
        verdict(replayed == hour_digest)
    );
    if block_digest != expected || replayed != hour_digest {
        return Err("digests differ: the stored state is not what was written".into());
    }
    println!("Done: the same data gives the same digest whatever the order or duplication.");
    Ok(())
}

/// Replays a segment into per-series state with the merge rule and digests the result.
fn replay(seg: &[u8]) -> Result<Digest, Box<dyn std::error::Error>> {
    let (_, mut r) = SegmentReader::new(seg)?;
    let mut state: std::collections::HashMap<SeriesId, Vec<Sample>> = Default::default();
    let mut batch = SampleBatch::new();
    while let Some(p) = r.next_payload() {
        wal::decode_payload(p, &mut batch)?;
        for (id, s) in batch.samples() {
            state.entry(id).or_default().push(s);
        }
    }
    if let Some(problem) = r.problem() {
        return Err(format!("replay stopped early: {problem}").into());
    }
    let mut d = Digest::EMPTY;
    for (id, mut samples) in state {
        normalize(&mut samples);
        d.add(samples.iter().map(|s| Digest::of_sample(id, s)).sum());
    }
    Ok(d)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "(matches)" } else { "(MISMATCH)" }
}

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}
