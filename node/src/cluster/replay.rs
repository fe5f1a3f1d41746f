//! Journal replay: one task per peer delivers the writes the peer missed, oldest first, as
//! soon as it answers again, and acknowledges each delivered record so the journal drains.
//! Records are replayed at least once (a crash between delivery and acknowledgement replays
//! it again), which is safe because writes are idempotent.

use std::sync::Arc;

use floe_ring::Node;
use floe_wire::MAX_FRAME_BYTES;
use floe_wire::proto::SeriesSamples;
use tokio::sync::watch;

use super::Cluster;
use super::metrics::{DROPPED, REPLAYED};
use super::peers::PeerError;
use super::write::permanent;

/// Records read from the journal per round trip to the disk.
const PEEK_RECORDS: usize = 32;
/// Bytes read from the journal per round trip to the disk.
const PEEK_BYTES: usize = 16 << 20;

impl Cluster {
    /// Starts the replay task of `peer`'s journal; it stops when `stop` turns true.
    pub(crate) fn start_replay(self: &Arc<Self>, peer: String, stop: watch::Receiver<bool>) {
        let cluster = self.clone();
        tokio::spawn(async move { cluster.replay_loop(peer, stop).await });
    }

    async fn replay_loop(self: Arc<Self>, peer: String, mut stop: watch::Receiver<bool>) {
        let Some((_, wake)) = self.lock_journals().get(&peer).cloned() else {
            return;
        };
        let every = self.settings.journal_retry_interval;
        loop {
            // A retry timer, not a synchronisation: the journal is also woken on append.
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.drain(&peer).await {
                tracing::debug!(peer, error = %e, "journal replay paused");
            }
        }
    }

    /// Delivers records until the journal is empty or the peer fails.
    async fn drain(&self, id: &str) -> Result<(), String> {
        let Some((journal, _)) = self.lock_journals().get(id).cloned() else {
            return Ok(());
        };
        let mut delivered = 0u64;
        loop {
            if journal.is_empty() {
                if delivered > 0 {
                    tracing::info!(
                        peer = id,
                        records = delivered,
                        "journal replayed: the peer has every write it missed"
                    );
                }
                return Ok(());
            }
            let Some(peer) = self.member_node(id) else {
                return Err(format!(
                    "{} records wait for {id}, which is not in the topology any more; they \
                     are kept until it returns",
                    journal.pending_records()
                ));
            };
            let j = journal.clone();
            let records = tokio::task::spawn_blocking(move || j.peek(PEEK_RECORDS, PEEK_BYTES))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if records.is_empty() {
                return Ok(());
            }
            for (pos, bytes) in records {
                if delivered == 0 {
                    tracing::info!(
                        peer = id,
                        records = journal.pending_records(),
                        "peer answers again: replaying its journal"
                    );
                }
                self.deliver(&peer, &bytes).await?;
                delivered += 1;
                let j = journal.clone();
                tokio::task::spawn_blocking(move || j.ack(pos))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            }
        }
    }

    /// Sends one record; Ok when delivered or when it can never be (then logged and counted).
    async fn deliver(&self, peer: &Node, bytes: &[u8]) -> Result<(), String> {
        let id = peer.id.as_str();
        let series: Vec<SeriesSamples> = match floe_wire::decode_frame(bytes, MAX_FRAME_BYTES) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(peer = id, error = %e, "undecodable journal record dropped");
                self.metrics
                    .add(DROPPED, &[("peer", id), ("reason", "undecodable")], 1);
                return Ok(());
            }
        };
        match self.send_replica_with(peer, series, true).await {
            Ok(()) => {
                self.metrics.add(REPLAYED, &[("peer", id)], 1);
                Ok(())
            }
            Err(PeerError::Server { error, .. }) if permanent(error.code) => {
                tracing::error!(peer = id, %error, "the peer refused a journal record as invalid; dropped");
                self.metrics
                    .add(DROPPED, &[("peer", id), ("reason", "refused")], 1);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
