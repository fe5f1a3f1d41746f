//! Token-aware writes: route (see `route.rs`), send every batch to its primary owner
//! concurrently, retry on the next owner, and re-route once after a topology mismatch.

use std::sync::Arc;

use floe_storage_format::{Sample, SeriesKey};
use floe_wire::proto::{Request, Response, WriteMode, WriteRequest, WriteResponse};
use tokio::task::JoinSet;

use crate::client::unexpected;
use crate::route::{self, Batch, Limits, Part};
use crate::topology::RingState;
use crate::{Client, ClientError};

/// What a write did. Every sample it counts was acknowledged by its coordinator: stored by
/// at least W owners (the consistency level), the other copies possibly in the
/// coordinator's journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Samples acknowledged (after merging duplicates of one series and timestamp).
    pub samples: u64,
    /// Write requests acknowledged.
    pub batches: u64,
    /// Requests sent again: after a retryable failure (a skipped node included), or
    /// re-routed after a topology mismatch.
    pub retries: u64,
    /// Owner copies the coordinators journaled instead of storing at once (replayed when
    /// the owner returns). A lower bound: a coordinator acknowledges once W owners stored a
    /// batch, and counts only the copies it had journaled by then.
    pub journaled: u64,
}

impl std::ops::AddAssign for WriteSummary {
    fn add_assign(&mut self, other: Self) {
        self.samples += other.samples;
        self.batches += other.batches;
        self.retries += other.retries;
        self.journaled += other.journaled;
    }
}

impl WriteSummary {
    fn acknowledged(&mut self, resp: &WriteResponse, retries: u32) {
        self.samples += resp.samples;
        self.batches += 1;
        self.retries += u64::from(retries);
        self.journaled += u64::from(resp.journaled);
    }
}

/// How one batch ended, short of an error.
#[derive(Debug)]
enum Outcome {
    /// Acknowledged.
    Written { resp: WriteResponse, retries: u32 },
    /// Refused for a topology mismatch: the parts, to re-route.
    Mismatch {
        error: ClientError,
        parts: Vec<Part>,
    },
}

/// The batches refused for a topology mismatch in one round.
#[derive(Debug)]
struct Mismatch {
    error: ClientError,
    parts: Vec<Part>,
    batches: u64,
}

impl Client {
    /// Writes samples, one `(series, sample)` pair each, in any order; see
    /// [`Client::write_series`].
    pub async fn write(
        &self,
        samples: &[(SeriesKey, Sample)],
    ) -> Result<WriteSummary, ClientError> {
        let items = samples.iter().map(|(k, s)| (k, std::slice::from_ref(s)));
        self.write_groups(route::group(items)).await
    }

    /// Writes samples per series. Samples are grouped by series (a key may appear more than
    /// once), normalized by the merge rule, routed to each series' primary owner, and sent
    /// in batches of at most `max_batch_samples`, concurrently (at most `max_in_flight` per
    /// node). A batch that fails in a retryable way is retried, after a backoff, on the next
    /// owner; after a topology mismatch the topology is refetched once and the refused
    /// batches re-routed. On an error some batches may be stored: writing again is safe,
    /// writes being idempotent.
    pub async fn write_series(
        &self,
        series: &[(SeriesKey, Vec<Sample>)],
    ) -> Result<WriteSummary, ClientError> {
        let items = series.iter().map(|(k, s)| (k, s.as_slice()));
        self.write_groups(route::group(items)).await
    }

    async fn write_groups(
        &self,
        groups: Vec<(&SeriesKey, Vec<Sample>)>,
    ) -> Result<WriteSummary, ClientError> {
        let parts = route::encode_parts(groups, self.limits())?;
        let mut summary = WriteSummary::default();
        let Some(refused) = self.send_round(parts, &mut summary).await? else {
            return Ok(summary);
        };
        self.refresh_after_mismatch(&refused.error).await?;
        summary.retries += refused.batches;
        match self.send_round(refused.parts, &mut summary).await? {
            None => Ok(summary),
            Some(again) => Err(again.error),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_samples: self.inner.config.max_batch_samples,
            max_bytes: self.inner.config.max_batch_bytes,
        }
    }

    /// Packs `parts` under the current topology and sends every batch concurrently. Returns
    /// the batches refused for a topology mismatch; the first other error aborts the rest.
    async fn send_round(
        &self,
        parts: Vec<Part>,
        summary: &mut WriteSummary,
    ) -> Result<Option<Mismatch>, ClientError> {
        let state = self.state();
        let mut tasks = JoinSet::new();
        for batch in route::pack(&state.ring, parts, self.limits()) {
            tasks.spawn(send_batch(self.clone(), state.clone(), batch));
        }
        let mut refused: Option<Mismatch> = None;
        while let Some(joined) = tasks.join_next().await {
            let outcome = match joined {
                Ok(outcome) => outcome?,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
            match outcome {
                Outcome::Written { resp, retries } => summary.acknowledged(&resp, retries),
                Outcome::Mismatch { error, parts } => add_refused(&mut refused, error, parts),
            }
        }
        Ok(refused)
    }
}

fn add_refused(refused: &mut Option<Mismatch>, error: ClientError, parts: Vec<Part>) {
    match refused {
        Some(m) => {
            m.parts.extend(parts);
            m.batches += 1;
        }
        None => {
            *refused = Some(Mismatch {
                error,
                parts,
                batches: 1,
            })
        }
    }
}

/// Sends one batch as a coordinated write, trying its candidates in turn.
async fn send_batch(
    client: Client,
    state: Arc<RingState>,
    batch: Batch,
) -> Result<Outcome, ClientError> {
    let targets: Vec<_> = batch.candidates.iter().map(|&i| state.target(i)).collect();
    let (metas, series): (Vec<_>, Vec<_>) = batch
        .parts
        .into_iter()
        .map(|p| ((p.position, p.samples, p.bytes), p.series))
        .unzip();
    let req = Request::Write(WriteRequest {
        topology: state.tref,
        consistency: client.inner.config.consistency,
        mode: WriteMode::Coordinate,
        series,
    });
    match client.send_retrying(&targets, &req).await {
        Ok(answer) => match answer.resp {
            Response::Write(resp) => Ok(Outcome::Written {
                resp,
                retries: answer.retries,
            }),
            other => Err(unexpected(answer.node, &req, &other)),
        },
        Err(error) if error.is_topology_mismatch() => {
            let Request::Write(w) = req else {
                unreachable!("built as a write above")
            };
            let parts = metas.into_iter().zip(w.series).map(rejoin).collect();
            Ok(Outcome::Mismatch { error, parts })
        }
        Err(e) => Err(e),
    }
}

fn rejoin(
    ((position, samples, bytes), series): ((u64, usize, usize), floe_wire::proto::SeriesSamples),
) -> Part {
    Part {
        position,
        samples,
        bytes,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_add_up() {
        let mut s = WriteSummary::default();
        let resp = WriteResponse {
            samples: 10,
            acks: 2,
            required: 2,
            journaled: 1,
        };
        s.acknowledged(&resp, 2);
        s += WriteSummary {
            samples: 5,
            batches: 1,
            retries: 0,
            journaled: 0,
        };
        assert_eq!(
            s,
            WriteSummary {
                samples: 15,
                batches: 2,
                retries: 2,
                journaled: 1
            }
        );
    }
}
