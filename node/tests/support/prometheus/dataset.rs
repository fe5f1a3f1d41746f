//! The data set of the PromQL differential test: a pure function of a seed and an end time.
//!
//! `POINTS` samples every 15 s ending at `end_ms` (2 h), of:
//! - gauges from `floe-datagen` (TSBS cpu-only hosts, float mode): `cpu_usage_user`,
//!   `cpu_usage_system`, `cpu_usage_idle` of 4 hosts with labels hostname, region,
//!   datacenter, service;
//! - counters `http_requests_total{job,instance,code,method}` from `floe-datagen`'s counter
//!   mode, with resets to 0 drawn from the seed;
//! - a classic histogram `request_duration_seconds_{bucket,sum,count}{job,instance}` with
//!   cumulative buckets up to `le="+Inf"` and one reset;
//! - `batch_progress{job="batch",instance}`: "a" stops at [`Dataset::stop_ms`] with a stale
//!   marker, "b" starts late at [`Dataset::late_ms`], "c" has a 30 min gap without a marker
//!   (its last sample before the gap at [`Dataset::gap_ms`]);
//! - `special_values{kind}`: normal NaN (bits 0x7ff8000000000001), ±Inf, negative values;
//! - `constant_gauge` (always 42), `build_time_seconds{instance}` (Unix times spread over
//!   months, for the date functions), and `path_hits{path}` with label values that need
//!   escaping in a URL and in PromQL.

use floe_datagen::{Config, Generator, ValueMode};
use floe_node::ingest::remote_write::DecodedSeries;
use floe_storage_format::STALE_NAN_BITS;

/// Samples per series (2 h at 15 s, both ends included).
pub(crate) const POINTS: u32 = 481;
/// Sample spacing.
pub(crate) const STEP_MS: i64 = 15_000;
/// The NaN Prometheus uses for a "normal" NaN value.
pub(crate) const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// The generated series and the times the corpus refers to.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    pub(crate) series: Vec<DecodedSeries>,
    /// First sample time.
    pub(crate) start_ms: i64,
    /// Last sample time.
    pub(crate) end_ms: i64,
    /// The stale marker of `batch_progress{instance="a"}`.
    pub(crate) stop_ms: i64,
    /// The first sample of `batch_progress{instance="b"}`.
    pub(crate) late_ms: i64,
    /// The last sample of `batch_progress{instance="c"}` before its gap.
    pub(crate) gap_ms: i64,
}

/// SplitMix64: the test's own small, specified PRNG.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn series(labels: &[(&str, &str)], samples: Vec<(i64, f64)>) -> DecodedSeries {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    labels.sort();
    DecodedSeries { labels, samples }
}

impl Dataset {
    /// The data set of `seed`, its last sample at `end_ms` (a multiple of 15 s).
    pub(crate) fn generate(seed: u64, end_ms: i64) -> Dataset {
        assert_eq!(end_ms % STEP_MS, 0, "end on the 15 s grid");
        let start_ms = end_ms - STEP_MS * i64::from(POINTS - 1);
        let at = |i: u32| start_ms + STEP_MS * i64::from(i);
        let mut d = Dataset {
            series: Vec::new(),
            start_ms,
            end_ms,
            stop_ms: at(280),
            late_ms: at(160),
            gap_ms: at(199),
        };
        let mut rng = SplitMix::new(seed ^ 0x5eed_f10e);
        d.gauges(seed);
        d.counters(seed, &mut rng);
        d.histogram(&mut rng);
        d.batch(&mut rng);
        d.specials(&mut rng);
        d
    }

    fn times(&self) -> impl Iterator<Item = (u32, i64)> + use<> {
        let start = self.start_ms;
        (0..POINTS).map(move |i| (i, start + STEP_MS * i64::from(i)))
    }

    fn gauges(&mut self, seed: u64) {
        let config = Config {
            seed,
            hosts: 4,
            start_ms: self.start_ms,
            interval_ms: STEP_MS,
            points: POINTS,
            mode: ValueMode::Float2,
        };
        let generator = Generator::new(config).expect("valid datagen config");
        for host in 0..4 {
            let h = generator.host_series(host);
            let tag = |k: &str| {
                h.tags
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.as_str())
            };
            let labels: Vec<(&str, &str)> = ["hostname", "region", "datacenter", "service"]
                .iter()
                .map(|k| (*k, tag(k).expect("datagen host tag")))
                .collect();
            for field in 0..3 {
                let name = floe_datagen::metric_name(field).expect("field index");
                let mut l = labels.clone();
                l.push(("__name__", name));
                let samples = h
                    .timestamps
                    .iter()
                    .copied()
                    .zip(h.fields[field].iter().copied());
                self.series.push(series(&l, samples.collect()));
            }
        }
    }

    fn counters(&mut self, seed: u64, rng: &mut SplitMix) {
        let config = Config {
            seed,
            hosts: 1,
            start_ms: self.start_ms,
            interval_ms: STEP_MS,
            points: POINTS,
            mode: ValueMode::Counter,
        };
        let base = Generator::new(config)
            .expect("valid datagen config")
            .host_series(0);
        let mut field = 0;
        for instance in ["10.0.0.1:9100", "10.0.0.2:9100"] {
            for code in ["200", "500"] {
                for method in ["get", "post"] {
                    // Code 500 counts fewer requests; a counter divided and floored is a counter.
                    let scale = if code == "500" { 37.0 } else { 1.0 };
                    let raw: Vec<f64> = base.fields[field]
                        .iter()
                        .map(|v| (v / scale).floor())
                        .collect();
                    field += 1;
                    let resets: Vec<usize> = (0..rng.below(3))
                        .map(|_| 1 + rng.below(u64::from(POINTS) - 1) as usize)
                        .collect();
                    let mut offset = 0.0;
                    let samples = self
                        .times()
                        .map(|(i, t)| {
                            if resets.contains(&(i as usize)) {
                                offset = raw[i as usize];
                            }
                            (t, raw[i as usize] - offset)
                        })
                        .collect();
                    let labels = [
                        ("__name__", "http_requests_total"),
                        ("job", "api"),
                        ("instance", instance),
                        ("code", code),
                        ("method", method),
                    ];
                    self.series.push(series(&labels, samples));
                }
            }
        }
    }

    fn histogram(&mut self, rng: &mut SplitMix) {
        const LE: [(&str, f64); 6] = [
            ("0.05", 0.05),
            ("0.1", 0.1),
            ("0.25", 0.25),
            ("0.5", 0.5),
            ("1", 1.0),
            ("+Inf", f64::INFINITY),
        ];
        for (n, instance) in ["10.0.0.1:9100", "10.0.0.2:9100"].into_iter().enumerate() {
            let mut buckets = [0u64; 6];
            let (mut count, mut sum_ms) = (0u64, 0u64);
            let mut out: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 8];
            let reset_at = if n == 1 { 300 } else { u32::MAX };
            for (i, t) in self.times() {
                if i == reset_at {
                    (buckets, count, sum_ms) = ([0; 6], 0, 0);
                }
                for _ in 0..rng.below(12 + 8 * n as u64) {
                    // A duration in ms, skewed towards short ones; some above 1 s.
                    let ms = (rng.unit() * rng.unit() * 1500.0) as u64;
                    let secs = ms as f64 / 1000.0;
                    for (b, (_, le)) in LE.iter().enumerate() {
                        buckets[b] += u64::from(secs <= *le);
                    }
                    count += 1;
                    sum_ms += ms;
                }
                for b in 0..6 {
                    out[b].push((t, buckets[b] as f64));
                }
                out[6].push((t, sum_ms as f64 / 1000.0));
                out[7].push((t, count as f64));
            }
            let mut out = out.into_iter();
            for (le, _) in LE {
                let labels = [
                    ("__name__", "request_duration_seconds_bucket"),
                    ("job", "api"),
                    ("instance", instance),
                    ("le", le),
                ];
                self.series
                    .push(series(&labels, out.next().expect("bucket")));
            }
            for name in [
                "request_duration_seconds_sum",
                "request_duration_seconds_count",
            ] {
                let labels = [("__name__", name), ("job", "api"), ("instance", instance)];
                self.series
                    .push(series(&labels, out.next().expect("sum and count")));
            }
        }
    }

    fn batch(&mut self, rng: &mut SplitMix) {
        let (stop, late, gap) = (self.stop_ms, self.late_ms, self.gap_ms);
        let gap_end = gap + 120 * STEP_MS;
        let mut walk = 50.0;
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for (i, t) in self.times() {
            if t < stop {
                a.push((t, f64::from(i) * 1.5));
            } else if t == stop {
                a.push((t, f64::from_bits(STALE_NAN_BITS)));
            }
            walk += rng.below(5) as f64 - 2.0;
            if t >= late {
                b.push((t, walk));
            }
            if t <= gap || t >= gap_end {
                c.push((t, (f64::from(i) / 10.0).sin() * 10.0));
            }
        }
        for (instance, samples) in [("a", a), ("b", b), ("c", c)] {
            let labels = [
                ("__name__", "batch_progress"),
                ("job", "batch"),
                ("instance", instance),
            ];
            self.series.push(series(&labels, samples));
        }
    }

    fn specials(&mut self, rng: &mut SplitMix) {
        let nan = f64::from_bits(NORMAL_NAN_BITS);
        let (mut n, mut inf, mut neg, mut constant, mut build) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, t) in self.times() {
            let x = rng.below(1000) as f64 / 10.0;
            n.push((t, if i % 10 == 3 { nan } else { x }));
            let special = match i % 40 {
                7 => f64::INFINITY,
                27 => f64::NEG_INFINITY,
                _ => x,
            };
            inf.push((t, special));
            neg.push((t, -x + 20.0));
            constant.push((t, 42.0));
            // Every 9 days and 3 h 7 min from 2024-01-31T23:59:00Z: every month, day, hour.
            build.push((
                t,
                1_706_745_540.0 + f64::from(i) * (9.0 * 86_400.0 + 11_220.0),
            ));
        }
        for (kind, samples) in [("nan", n), ("inf", inf), ("negative", neg)] {
            self.series.push(series(
                &[("__name__", "special_values"), ("kind", kind)],
                samples,
            ));
        }
        self.series
            .push(series(&[("__name__", "constant_gauge")], constant));
        self.series.push(series(
            &[("__name__", "build_time_seconds"), ("instance", "x")],
            build,
        ));
        for (k, path) in ["/a b&c=d%20", "/ü/\"quoted\"\\back", "/plain"]
            .into_iter()
            .enumerate()
        {
            let samples = self
                .times()
                .map(|(i, t)| (t, f64::from(i) * (k as f64 + 1.0)))
                .collect();
            self.series.push(series(
                &[("__name__", "path_hits"), ("path", path)],
                samples,
            ));
        }
    }

    /// Number of samples, all series together.
    pub(crate) fn samples(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// The placeholder values of the corpus, in seconds: `(name, ms)`.
    pub(crate) fn placeholders(&self) -> [(&'static str, i64); 6] {
        [
            ("T_START", self.start_ms),
            ("T_MID", self.start_ms + 3_600_000),
            ("T_END", self.end_ms),
            ("T_STOP", self.stop_ms),
            ("T_LATE", self.late_ms),
            ("T_GAP", self.gap_ms),
        ]
    }
}
