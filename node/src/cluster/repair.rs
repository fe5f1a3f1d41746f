//! Read repair: after a `quorum` or `all` read has answered, wait for the slower owners'
//! answers too, merge everything with the merge rule, and send each owner whose copy lacks
//! or differs from the merged samples exactly the samples it is missing.

use std::collections::HashMap;
use std::sync::Arc;

use floe_ring::{Node, NodeIndex};
use floe_storage_format::{Sample, SeriesId, SeriesKey};
use floe_wire::proto::SeriesSamples;

use super::metrics::{REPAIRED_SAMPLES, REPAIRS};
use super::read::{Gathered, Merged, Rows, merge_answers};
use super::{Cluster, RingView};
use crate::server::AppState;

/// Samples of `merged` that `theirs` does not hold bit for bit (both sorted by timestamp).
pub(crate) fn missing(merged: &[Sample], theirs: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut j = 0;
    for s in merged {
        while j < theirs.len() && theirs[j].ts < s.ts {
            j += 1;
        }
        let held = j < theirs.len() && theirs[j].ts == s.ts && theirs[j].bit_eq(s);
        if !held {
            out.push(*s);
        }
    }
    out
}

impl Cluster {
    /// Runs read repair for `gathered` in the background.
    pub(crate) fn spawn_repair(self: &Arc<Self>, state: &Arc<AppState>, gathered: Gathered) {
        let (cluster, state) = (self.clone(), state.clone());
        tokio::spawn(async move { cluster.repair(&state, gathered).await });
    }

    async fn repair(self: Arc<Self>, state: &Arc<AppState>, mut g: Gathered) {
        while g.outstanding > 0 {
            match g.late.recv().await {
                Some((n, Ok(rows))) => g.answers.push((n, rows)),
                Some((_, Err(_))) => {}
                None => break,
            }
            g.outstanding -= 1;
        }
        let merged = merge_answers(&g.answers);
        let rv = g.ring.clone();
        for (node, rows) in &g.answers {
            let todo = differences(&rv, *node, rows, &merged);
            if todo.is_empty() {
                continue;
            }
            let samples: usize = todo.iter().map(|(_, s)| s.len()).sum();
            let peer = rv.ring.node_id(*node).to_string();
            let target = (rv.me != Some(*node)).then(|| rv.ring.node(*node).clone());
            match self.send_repair(state, target.as_ref(), todo).await {
                Ok(()) => {
                    tracing::info!(peer, samples, "read repair");
                    self.metrics.add(REPAIRS, &[("peer", &peer)], 1);
                    self.metrics.add(REPAIRED_SAMPLES, &[], samples as u64);
                }
                Err(e) => tracing::warn!(peer, error = %e, "read repair failed"),
            }
        }
    }

    /// Stores `todo` on `node` (`None`: this node).
    pub(crate) async fn send_repair(
        &self,
        state: &Arc<AppState>,
        node: Option<&Node>,
        todo: Vec<(SeriesKey, Vec<Sample>)>,
    ) -> Result<(), String> {
        let Some(node) = node else {
            let keys: Vec<SeriesKey> = todo.iter().map(|(k, _)| k.clone()).collect();
            let samples: Vec<(u32, Sample)> = todo
                .iter()
                .enumerate()
                .flat_map(|(i, (_, s))| s.iter().map(move |&x| (i as u32, x)))
                .collect();
            let st = state.clone();
            return tokio::task::spawn_blocking(move || {
                st.sink.write_parts("repair", &keys, &samples)
            })
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .map_err(|e| e.to_string());
        };
        let series = todo
            .iter()
            .map(|(k, s)| SeriesSamples::encode_normalized(k, s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        self.send_replica(node, series)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The series `node` owns in `rv` whose copy lacks samples of `merged`, with those samples.
fn differences(
    rv: &RingView,
    node: NodeIndex,
    rows: &Rows,
    merged: &[Merged],
) -> Vec<(SeriesKey, Vec<Sample>)> {
    let theirs: HashMap<SeriesId, &Vec<Sample>> = rows.iter().map(|(k, s)| (k.id(), s)).collect();
    let mut out = Vec::new();
    for m in merged {
        let id = m.key.id();
        if !rv.is_owner(id, node) {
            continue;
        }
        let held = theirs.get(&id).map_or(&[][..], |s| s.as_slice());
        let lacking = missing(&m.samples, held);
        if !lacking.is_empty() {
            out.push((m.key.clone(), lacking));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_finds_absent_and_different_samples() {
        let merged = [
            Sample::new(1, 1.0, 0),
            Sample::new(2, 2.0, 1),
            Sample::new(3, 3.0, 0),
        ];
        let theirs = [Sample::new(1, 1.0, 0), Sample::new(2, 2.0, 0)];
        assert_eq!(
            missing(&merged, &theirs),
            vec![Sample::new(2, 2.0, 1), Sample::new(3, 3.0, 0)]
        );
        assert!(missing(&merged, &merged).is_empty());
    }
}
