//! The query workers: a fixed set of threads, each with [`floe_query::EVAL_STACK_BYTES`] of
//! stack (the evaluator recurses once per level of the expression), that evaluate queries in
//! turn. At most `query.max_concurrency` queries evaluate at once (Prometheus's
//! `--query.max-concurrency`); the others wait in line, their time counting against their
//! timeout. Reusing the threads spares every query the start of a thread with a large stack.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

/// One unit of work.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Most queries that may wait for a worker, per worker.
const QUEUE_PER_WORKER: usize = 64;

/// Why a query could not be handed to a worker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    /// Every worker is busy and the line is full.
    #[error(
        "too many queries: {workers} evaluating and {queued} waiting (limit query.max_concurrency)"
    )]
    Full {
        /// Workers.
        workers: usize,
        /// Places in line.
        queued: usize,
    },
    /// The workers are gone (only while the daemon stops).
    #[error("the query workers have stopped")]
    Stopped,
}

/// The worker threads and the line to them.
#[derive(Debug)]
pub(crate) struct QueryPool {
    tx: SyncSender<Job>,
    workers: usize,
}

impl QueryPool {
    /// Starts `workers` threads (at least one).
    pub(crate) fn start(workers: usize) -> std::io::Result<QueryPool> {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("floe-query-{i}"))
                .stack_size(floe_query::EVAL_STACK_BYTES)
                .spawn(move || work(&rx))?;
        }
        Ok(QueryPool { tx, workers })
    }

    /// Hands `job` to the next free worker.
    pub(crate) fn submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolError> {
        match self.tx.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(PoolError::Full {
                workers: self.workers,
                queued: self.workers * QUEUE_PER_WORKER,
            }),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Stopped),
        }
    }
}

/// A worker's loop: take the next job, run it, until the pool is dropped.
fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        // A panic in one evaluation must not take the worker with it: the waiting request
        // sees its answer channel closed and reports an internal error.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a query evaluation panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_on_big_stacks_and_survives_a_panic() {
        let pool = QueryPool::start(2).expect("start");
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(|| panic!("boom")).expect("submit");
        for i in 0..10 {
            let tx = tx.clone();
            pool.submit(move || {
                // 8 MiB on the stack: more than a default thread has.
                let big = [i as u8; 8 << 20];
                tx.send(std::hint::black_box(&big)[12345]).expect("send");
            })
            .expect("submit");
        }
        let mut got: Vec<u8> = (0..10).map(|_| rx.recv().expect("answer")).collect();
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
    }

    #[test]
    fn a_full_line_is_refused_naming_the_limit() {
        let pool = QueryPool::start(1).expect("start");
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold_rx));
        let mut refused = None;
        for _ in 0..=QUEUE_PER_WORKER + 1 {
            let hold = hold.clone();
            if let Err(e) = pool.submit(move || {
                let _ = hold.lock().map(|h| h.recv());
            }) {
                refused = Some(e);
                break;
            }
        }
        let e = refused.expect("the line filled up");
        assert!(e.to_string().contains("query.max_concurrency"), "{e}");
        drop(hold_tx);
    }
}
