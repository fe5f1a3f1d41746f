//! The client's configuration and its retry policy, with defaults that run on a laptop.

use std::net::SocketAddr;
use std::time::Duration;

use floe_storage_format::chunk::MAX_CHUNK_SAMPLES;
use floe_wire::proto::Consistency;
use floe_wire::{MAX_FRAME_BYTES, TlsFiles};

use crate::ClientError;

/// Default per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default most samples in one write request.
pub const DEFAULT_MAX_BATCH_SAMPLES: usize = 50_000;
/// Default most encoded bytes in one write request: half the frame limit.
pub const DEFAULT_MAX_BATCH_BYTES: usize = (MAX_FRAME_BYTES / 2) as usize;
/// Smallest accepted `max_batch_bytes`: a series key (at most 64 KiB) and a sample always fit.
pub const MIN_BATCH_BYTES: usize = 128 << 10;
/// Default most requests in flight to one node.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

/// How a failed request is retried: `attempts` tries in all, with an exponential backoff
/// between them (`initial_backoff × 2^retry`, at most `max_backoff`), shortened at random by
/// up to `jitter` of itself so that clients that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1; 1 disables retries).
    pub attempts: u32,
    /// Wait before the first retry.
    pub initial_backoff: Duration,
    /// Longest wait between two tries.
    pub max_backoff: Duration,
    /// Fraction of each wait taken off at random, `0.0 ..= 1.0` (0: no jitter).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// No retries: one try.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0 for the first retry), with random jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, rand::random_range(0.0..1.0))
    }

    /// The wait before retry number `retry` for a jitter draw `unit` in `[0, 1)`: the
    /// exponential step `min(max_backoff, initial_backoff × 2^retry)` less `jitter × unit` of
    /// itself. Never more than `max_backoff`.
    pub fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let step = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let cut = (self.jitter * unit).clamp(0.0, 1.0);
        step.mul_f64(1.0 - cut)
    }

    fn validate(&self) -> Result<(), String> {
        if self.attempts == 0 {
            return Err("retry.attempts must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!(
                "retry.jitter {} is outside 0.0 ..= 1.0",
                self.jitter
            ));
        }
        if self.initial_backoff > self.max_backoff {
            return Err(format!(
                "retry.initial_backoff {:?} exceeds retry.max_backoff {:?}",
                self.initial_backoff, self.max_backoff
            ));
        }
        Ok(())
    }
}

/// Everything a [`Client`](crate::Client) needs: where to find the cluster, the mutual-TLS
/// files, and how to batch, bound and retry requests. [`ClientConfig::new`] fills in the
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Nodes asked for the topology at connect, in order; the first that answers wins. Any
    /// node of the cluster will do; the client then talks to every node of the topology.
    pub seeds: Vec<SocketAddr>,
    /// The cluster CA and this client's certificate and key (`floectl certs issue --client`).
    pub tls: TlsFiles,
    /// Owners that must store a write before it is acknowledged, and replicas that must
    /// answer a query for every token range. Default `quorum`.
    pub consistency: Consistency,
    /// Bound on one request (connect included), per try. Default 5 s.
    pub request_timeout: Duration,
    /// Most samples in one write request. Default 50,000.
    pub max_batch_samples: usize,
    /// Most encoded bytes in one write request, at most the frame limit
    /// ([`floe_wire::MAX_FRAME_BYTES`]). Default 8 MiB.
    pub max_batch_bytes: usize,
    /// Most requests in flight to one node; the next waits. Default 16.
    pub max_in_flight: usize,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A configuration with the default settings.
    pub fn new(seeds: Vec<SocketAddr>, tls: TlsFiles) -> Self {
        Self {
            seeds,
            tls,
            consistency: Consistency::Quorum,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_batch_samples: DEFAULT_MAX_BATCH_SAMPLES,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry: RetryPolicy::default(),
        }
    }

    /// Checks every setting; [`Client::connect`](crate::Client::connect) calls it first.
    pub fn validate(&self) -> Result<(), ClientError> {
        self.check()
            .map_err(|reason| ClientError::Config { reason })
    }

    fn check(&self) -> Result<(), String> {
        if self.seeds.is_empty() {
            return Err("no seed address".into());
        }
        if self.request_timeout.is_zero() {
            return Err("request_timeout must be above zero".into());
        }
        if !(1..=MAX_CHUNK_SAMPLES).contains(&self.max_batch_samples) {
            return Err(format!(
                "max_batch_samples {} is outside 1 ..= {MAX_CHUNK_SAMPLES}",
                self.max_batch_samples
            ));
        }
        let max_bytes = MAX_FRAME_BYTES as usize;
        if !(MIN_BATCH_BYTES..=max_bytes).contains(&self.max_batch_bytes) {
            return Err(format!(
                "max_batch_bytes {} is outside {MIN_BATCH_BYTES} ..= {max_bytes}",
                self.max_batch_bytes
            ));
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".into());
        }
        self.retry.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClientConfig {
        let tls = TlsFiles::client(std::path::Path::new("/certs"), "app");
        ClientConfig::new(vec!["127.0.0.1:7400".parse().expect("addr")], tls)
    }

    #[test]
    fn defaults_are_sane_and_valid() {
        let c = config();
        assert_eq!(c.consistency, Consistency::Quorum);
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.max_batch_samples, 50_000);
        assert!(c.max_batch_bytes < MAX_FRAME_BYTES as usize);
        assert!(c.max_in_flight >= 1);
        assert!(c.retry.attempts > 1);
        assert!(c.retry.initial_backoff <= c.retry.max_backoff);
        c.validate().expect("defaults validate");
    }

    #[test]
    fn invalid_settings_are_refused_with_the_config_code() {
        let cases: [fn(&mut ClientConfig); 7] = [
            |c| c.seeds.clear(),
            |c| c.request_timeout = Duration::ZERO,
            |c| c.max_batch_samples = 0,
            |c| c.max_batch_bytes = MAX_FRAME_BYTES as usize + 1,
            |c| c.max_in_flight = 0,
            |c| c.retry.attempts = 0,
            |c| c.retry.jitter = 1.5,
        ];
        for (i, change) in cases.iter().enumerate() {
            let mut c = config();
            change(&mut c);
            let err = c.validate().expect_err("invalid");
            assert_eq!(err.code(), "config", "case {i}: {err}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_bound() {
        let p = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            jitter: 0.0,
        };
        let steps: Vec<u128> = (0..6).map(|r| p.delay_with(r, 0.9).as_millis()).collect();
        assert_eq!(steps, [10, 20, 40, 80, 100, 100]);
        assert_eq!(p.delay_with(u32::MAX, 0.0), p.max_backoff);
    }

    #[test]
    fn jitter_only_shortens_and_stays_bounded() {
        let p = RetryPolicy::default();
        for retry in 0..64 {
            let step = p.delay_with(retry, 0.0);
            assert!(step <= p.max_backoff);
            for unit in [0.0, 0.25, 0.5, 0.999] {
                let d = p.delay_with(retry, unit);
                assert!(d <= step, "retry {retry} unit {unit}");
                assert!(
                    d >= step.mul_f64(1.0 - p.jitter),
                    "retry {retry} unit {unit}"
                );
            }
            let random = p.delay(retry);
            assert!(random <= step && random >= step.mul_f64(1.0 - p.jitter));
        }
    }
}
