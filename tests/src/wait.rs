//! Waiting for a condition with a deadline: the harness polls what it waits for (a line in a
//! file, an HTTP status, a metric) and never sleeps in place of synchronisation.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use anyhow::bail;

/// Default poll interval.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` every [`POLL`] until it returns `Ok(Some(value))`, and returns that value.
/// `Ok(None)` and `Err` mean "not yet"; after `timeout` the error names `what` and the last
/// thing `probe` reported.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    wait_for_every(what, timeout, POLL, probe)
}

/// [`wait_for`] with an explicit poll interval.
pub fn wait_for_every<T>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "condition not met".to_string(),
            Err(e) => format!("{e:#}"),
        };
        let now = Instant::now();
        if now >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        std::thread::sleep(poll.min(deadline - now));
    }
}

/// Polls `cond` until it is true (errors count as false); fails after `timeout`.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    wait_for(what, timeout, || Ok(cond()?.then_some(())))
}

/// Polls `get` until its value equals `want`; the timeout error shows the last value seen.
pub fn wait_eq<T: PartialEq + Debug>(
    what: &str,
    timeout: Duration,
    want: T,
    mut get: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<()> {
    wait_for(what, timeout, || {
        let v = get()?;
        if v == want {
            Ok(Some(()))
        } else {
            bail!("{v:?}, want {want:?}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_return_the_value_or_time_out_with_the_last_report() {
        let mut n = 0;
        let v = wait_for("n to reach 3", Duration::from_secs(5), || {
            n += 1;
            Ok((n >= 3).then_some(n))
        })
        .expect("reaches 3");
        assert_eq!(v, 3);
        let e = wait_eq("never", Duration::from_millis(120), 1, || Ok(2)).expect_err("times out");
        assert!(e.to_string().contains("2, want 1"), "{e}");
    }
}
