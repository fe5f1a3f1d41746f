//! A target's sender: delivers its journal oldest first with `floe-client` (token-aware
//! coordinated writes at the target's consistency), acknowledging records once the target
//! stored them. A failure is retried with a backoff of 100 ms doubling to 5 s, for ever: a
//! record is given up only when the target refuses it as invalid (`bad_request`, `limit`) or
//! it does not decode, and then it is counted and logged at ERROR.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use floe_client::{Client, ClientConfig, ClientError};
use tokio::sync::watch;

use super::record::{self, Decoded};
use super::{DropReason, Target, lock};
use crate::cluster::journal::Position;
use crate::cluster::write::permanent;

/// Records read from the journal, and sent in one client write, at most.
const PEEK_RECORDS: usize = 64;
/// Payload bytes read from the journal at a time, about.
const PEEK_BYTES: usize = 8 << 20;
/// First wait after a failure.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often an idle sender looks at its journal without being woken.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// Consecutive failures after which the client is dropped and the target connected afresh
/// through its seeds (in case its nodes moved); about a minute and a half at the longest
/// backoff. Not sooner: `floe-client` logs a WARN per seed that does not answer a connect.
const RECONNECT_AFTER: u32 = 20;

/// A record peeked from the journal: where it ends, and its content (or why it is unusable).
#[derive(Debug)]
struct Peeked {
    end: Position,
    record: Result<Decoded, String>,
}

/// What a delivery attempt achieved.
#[derive(Debug)]
struct Delivery {
    /// Records of the batch handled (stored, or given up), from its start.
    done: usize,
    /// Why the rest was not, if it was not.
    error: Option<ClientError>,
}

/// Doubling backoff, bounded.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    failures: u32,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: BACKOFF_MIN,
            failures: 0,
        }
    }

    fn fail(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        self.failures += 1;
        wait
    }

    fn reset(&mut self) {
        *self = Self::new();
    }
}

/// A sender's state between rounds.
#[derive(Debug)]
struct Run {
    /// Connected to the target (`None` until connected, and after repeated failures).
    client: Option<Client>,
    /// Records read from the journal and not yet delivered, oldest first.
    batch: Vec<Peeked>,
    backoff: Backoff,
    /// Deliveries failed in a row since `client` connected.
    failed_sends: u32,
    stop: watch::Receiver<bool>,
}

impl Run {
    /// Waits out the next backoff step; `Break` if stopped meanwhile.
    async fn pause(&mut self) -> ControlFlow<()> {
        let d = self.backoff.fail();
        if wait(&mut self.stop, d).await {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Whether a client error means the records can never be delivered.
fn is_permanent(e: &ClientError) -> bool {
    e.server_code().is_some_and(permanent) || e.code() == "encode"
}

impl Target {
    /// Delivers the journal until `stop` turns true.
    pub(super) async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let mut run = Run {
            client: None,
            batch: Vec::new(),
            backoff: Backoff::new(),
            failed_sends: 0,
            stop,
        };
        while !*run.stop.borrow() {
            if self.step(&mut run).await.is_break() {
                break;
            }
        }
        if let Some(c) = run.client.take() {
            c.close();
        }
    }

    /// One round: read records if none are held, connect if needed, send, settle.
    async fn step(&self, run: &mut Run) -> ControlFlow<()> {
        if run.batch.is_empty() {
            match self.peek().await {
                Ok(b) => run.batch = b,
                Err(e) => {
                    tracing::warn!(mirror = self.settings.name, error = %e, "cannot read the mirror journal; retrying");
                    return run.pause().await;
                }
            }
        }
        let head = run
            .batch
            .iter()
            .find_map(|p| p.record.as_ref().ok().map(|r| r.teed_ms));
        self.stats
            .head_ms
            .store(head.unwrap_or(0), Ordering::Relaxed);
        if run.client.is_none() {
            match self.connect(&mut run.stop).await {
                Some(Ok(c)) => {
                    self.reached(run.backoff.failures);
                    run.client = Some(c);
                    run.failed_sends = 0;
                }
                Some(Err(e)) => {
                    self.failed(&e, "cannot connect to the mirror target");
                    return run.pause().await;
                }
                None => return ControlFlow::Break(()),
            }
        }
        if run.batch.is_empty() {
            tokio::select! {
                _ = self.journaled.notified() => {}
                _ = tokio::time::sleep(IDLE_CHECK) => {}
                _ = run.stop.wait_for(|s| *s) => return ControlFlow::Break(()),
            }
            return ControlFlow::Continue(());
        }
        let client = run.client.clone().expect("connected above");
        let delivery = tokio::select! {
            d = self.deliver(&client, &run.batch) => d,
            _ = run.stop.wait_for(|s| *s) => return ControlFlow::Break(()),
        };
        self.settle(run, delivery).await
    }

    /// Acknowledges what was delivered; after a failure, waits out the backoff.
    async fn settle(&self, run: &mut Run, delivery: Delivery) -> ControlFlow<()> {
        if delivery.done > 0 {
            if let Err(e) = self.ack(run.batch[delivery.done - 1].end).await {
                tracing::warn!(mirror = self.settings.name, error = %e, "cannot acknowledge in the mirror journal; the records will be sent again");
            }
            run.batch.drain(..delivery.done);
        }
        let Some(e) = delivery.error else {
            self.reached(run.backoff.failures);
            run.backoff.reset();
            run.failed_sends = 0;
            return ControlFlow::Continue(());
        };
        self.failed(&e, "sending to the mirror target failed; retrying");
        run.failed_sends += 1;
        if run.failed_sends >= RECONNECT_AFTER
            && let Some(c) = run.client.take()
        {
            c.close();
        }
        run.pause().await
    }

    /// Connects through the seeds; `None` when stopped meanwhile.
    async fn connect(
        &self,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Result<Client, ClientError>> {
        let mut config = ClientConfig::new(self.settings.seeds.clone(), self.settings.tls.clone());
        config.consistency = self.settings.consistency;
        tokio::select! {
            r = Client::connect(config) => Some(r),
            _ = stop.wait_for(|s| *s) => None,
        }
    }

    /// Counts and logs a failed attempt: WARN when the target was reachable until now,
    /// DEBUG for the retries after.
    fn failed(&self, e: &ClientError, what: &str) {
        self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.stats.last_error) = Some(e.to_string());
        let (records, _) = self.pending();
        if self.stats.connected.swap(false, Ordering::Relaxed) || self.first_failure() {
            tracing::warn!(mirror = self.settings.name, error = %e, pending_records = records, "{what}");
        } else {
            tracing::debug!(mirror = self.settings.name, error = %e, pending_records = records, "{what}");
        }
    }

    /// Marks the target reached; logs the recovery after `failures` failed attempts.
    fn reached(&self, failures: u32) {
        if !self.stats.connected.swap(true, Ordering::Relaxed) && failures > 0 {
            let (records, _) = self.pending();
            tracing::info!(
                mirror = self.settings.name,
                failures,
                pending_records = records,
                "mirror target reachable again"
            );
        }
    }

    /// True for the first failure ever (so an unreachable target at start is logged once).
    fn first_failure(&self) -> bool {
        self.stats.send_errors.load(Ordering::Relaxed) == 1
    }

    /// Reads and decodes the next records (on a blocking thread).
    async fn peek(&self) -> Result<Vec<Peeked>, String> {
        let journal = self.journal.clone();
        let read = tokio::task::spawn_blocking(move || {
            let records = journal.peek(PEEK_RECORDS, PEEK_BYTES)?;
            Ok::<_, crate::cluster::journal::JournalError>(
                records
                    .into_iter()
                    .map(|(end, bytes)| Peeked {
                        end,
                        record: record::decode(&bytes),
                    })
                    .collect(),
            )
        });
        read.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    async fn ack(&self, upto: Position) -> Result<(), String> {
        let journal = self.journal.clone();
        tokio::task::spawn_blocking(move || journal.ack(upto))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Sends the whole batch as one write; if the target refuses it as invalid, record by
    /// record, to give up only the records it refuses.
    async fn deliver(&self, client: &Client, batch: &[Peeked]) -> Delivery {
        let series: Vec<_> = batch
            .iter()
            .filter_map(|p| p.record.as_ref().ok())
            .flat_map(|r| r.series.iter().cloned())
            .collect();
        let result = if series.is_empty() {
            Ok(())
        } else {
            client.write_series(&series).await.map(|_| ())
        };
        match result {
            Ok(()) => {
                for p in batch {
                    self.delivered(p);
                }
                Delivery {
                    done: batch.len(),
                    error: None,
                }
            }
            Err(e) if is_permanent(&e) && batch.len() > 1 => self.deliver_each(client, batch).await,
            Err(e) if is_permanent(&e) => {
                self.refused(&batch[0], &e);
                Delivery {
                    done: 1,
                    error: None,
                }
            }
            Err(e) => Delivery {
                done: 0,
                error: Some(e),
            },
        }
    }

    async fn deliver_each(&self, client: &Client, batch: &[Peeked]) -> Delivery {
        for (i, p) in batch.iter().enumerate() {
            let Ok(r) = &p.record else {
                self.delivered(p);
                continue;
            };
            match client.write_series(&r.series).await {
                Ok(_) => self.delivered(p),
                Err(e) if is_permanent(&e) => self.refused(p, &e),
                Err(e) => {
                    return Delivery {
                        done: i,
                        error: Some(e),
                    };
                }
            }
        }
        Delivery {
            done: batch.len(),
            error: None,
        }
    }

    /// Counts a record the target stored (or, undecodable, one given up).
    fn delivered(&self, p: &Peeked) {
        match &p.record {
            Ok(r) => {
                self.stats
                    .sent_samples
                    .fetch_add(r.samples, Ordering::Relaxed);
                self.stats.sent_records.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(mirror = self.settings.name, error = %e, at = %p.end, "undecodable mirror journal record dropped (its sample count is unknown)");
            }
        }
    }

    fn refused(&self, p: &Peeked, e: &ClientError) {
        let samples = p.record.as_ref().map_or(0, |r| r.samples);
        tracing::error!(
            mirror = self.settings.name,
            error = %e,
            samples,
            "THE MIRROR TARGET REFUSED A RECORD AS INVALID; it is dropped and these samples \
             will be missing there (check the target's limits, e.g. max_series)"
        );
        self.drop_samples(DropReason::Refused, samples);
    }
}

/// Sleeps `d`; true if `stop` turned true meanwhile.
async fn wait(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}
