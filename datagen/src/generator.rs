//! [`Generator`]: a validated configuration plus its step tables; series one host at a time.

use crate::config::Config;
use crate::entropy::EntropyCounter;
use crate::rows::Rows;
use crate::walk::{FieldWalk, JitterStream, ModeSpec};
use crate::{DatagenError, FIELDS};

/// The generator of one dataset. Cheap to share: every method takes `&self`, and any host can
/// be generated at any time, in any order, on any thread, with the same result.
#[derive(Debug, Clone)]
pub struct Generator {
    config: Config,
    spec: ModeSpec,
}

/// The 10 series of one host: its tags, its timestamps (shared by its fields) and the values
/// of each field, plus the entropy counter of what was generated.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSeries {
    /// Host index.
    pub host: u32,
    /// The host's tags, keys in [`crate::TAG_KEYS`] order.
    pub tags: Vec<(&'static str, String)>,
    /// Timestamps in Unix milliseconds, strictly increasing, one per point.
    pub timestamps: Vec<i64>,
    /// Values of each field of [`FIELDS`], one per point.
    pub fields: [Vec<f64>; 10],
    /// The symbols generated for this host (merge the hosts' counters for a run's bound).
    pub entropy: EntropyCounter,
}

impl Generator {
    /// Validates `config` and builds the step tables of its mode (well under a millisecond).
    pub fn new(config: Config) -> Result<Self, DatagenError> {
        config.validate()?;
        Ok(Self {
            spec: ModeSpec::new(&config),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of series: `hosts × 10`.
    pub fn series_count(&self) -> u64 {
        u64::from(self.config.hosts) * FIELDS.len() as u64
    }

    /// Number of samples: `hosts × 10 × points`.
    pub fn sample_count(&self) -> u64 {
        self.series_count() * u64::from(self.config.points)
    }

    /// The 10 tags of `host`, keys in [`crate::TAG_KEYS`] order, like TSBS's: hostname
    /// `host_<index>`, then region, datacenter, rack, os, arch, team, service,
    /// service_version and service_environment drawn from the host's own random stream.
    pub fn host_tags(&self, host: u32) -> Vec<(&'static str, String)> {
        crate::tags::host_tags(self.config.seed, host)
    }

    /// The 10 series of `host`: a pure function of `(seed, mode, start, interval, points,
    /// host)`, whichever hosts were generated before or concurrently.
    ///
    /// Indices at or beyond `hosts` are well defined too: they are the hosts that a run with
    /// more hosts and the same other settings would contain (a run is a prefix of any larger
    /// one).
    pub fn host_series(&self, host: u32) -> HostSeries {
        let points = self.config.points as usize;
        let mut entropy = self.spec.entropy_counter();
        let fields = std::array::from_fn(|field| {
            let mut values = Vec::with_capacity(points);
            self.walk_field(host, field, &mut entropy, |v| values.push(v));
            values
        });
        HostSeries {
            host,
            tags: self.host_tags(host),
            timestamps: self.host_timestamps(host, &mut entropy),
            fields,
            entropy,
        }
    }

    /// The time-major stream of rows: for each point, for each host, that host's row. Memory is
    /// proportional to the number of hosts, not to the number of samples.
    pub fn rows(&self) -> Rows<'_> {
        Rows::new(self)
    }

    /// The entropy counter of the whole run, generating it host by host without keeping it.
    pub fn entropy(&self) -> EntropyCounter {
        let mut entropy = self.spec.entropy_counter();
        for host in 0..self.config.hosts {
            for field in 0..FIELDS.len() {
                self.walk_field(host, field, &mut entropy, |_| {});
            }
            self.host_timestamps(host, &mut entropy);
        }
        entropy
    }

    pub(crate) fn spec(&self) -> &ModeSpec {
        &self.spec
    }

    /// Generates the values of one series, in order, into `sink`.
    #[inline]
    fn walk_field(
        &self,
        host: u32,
        field: usize,
        entropy: &mut EntropyCounter,
        mut sink: impl FnMut(f64),
    ) {
        let spec = &self.spec;
        let mut walk = FieldWalk::start(spec, self.config.seed, host, field);
        entropy.record_start(spec.start_range());
        sink(spec.value(walk.quanta()));
        for _ in 1..self.config.points {
            walk.advance(spec, entropy);
            sink(spec.value(walk.quanta()));
        }
    }

    /// The timestamps of `host`, recording their jitter (once per field that stores them).
    fn host_timestamps(&self, host: u32, entropy: &mut EntropyCounter) -> Vec<i64> {
        let c = &self.config;
        let mut jitter = JitterStream::start(&self.spec, c.seed, host);
        (0..c.points)
            .map(|i| {
                let j = jitter.as_mut().map_or(0, |s| {
                    let j = s.next_ms();
                    entropy.record_jitter(j, FIELDS.len() as u64);
                    j
                });
                c.nominal_ts(i) + j
            })
            .collect()
    }
}
