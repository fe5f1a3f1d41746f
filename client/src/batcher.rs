//! A buffered writer: collects samples and writes them when enough have gathered.

use floe_storage_format::{Sample, SeriesKey};

use crate::{Client, ClientError, WriteSummary};

/// Buffers `(series, sample)` pairs and writes them with [`Client::write`] once `capacity`
/// have gathered (by default the client's `max_batch_samples`), or on [`Batcher::flush`].
///
/// A failed flush keeps the buffer, so flushing again retries it (safe: writes are
/// idempotent). Samples still buffered when the batcher is dropped are lost (and logged):
/// call [`Batcher::flush`] before.
#[derive(Debug)]
pub struct Batcher {
    client: Client,
    buffer: Vec<(SeriesKey, Sample)>,
    capacity: usize,
    total: WriteSummary,
}

impl Batcher {
    /// A batcher flushing every `max_batch_samples` samples.
    pub fn new(client: Client) -> Self {
        let capacity = client.config().max_batch_samples;
        Self::with_capacity(client, capacity)
    }

    /// A batcher flushing every `capacity` samples (at least 1).
    pub fn with_capacity(client: Client, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            client,
            buffer: Vec::with_capacity(capacity.min(1 << 16)),
            capacity,
            total: WriteSummary::default(),
        }
    }

    /// Buffers one sample; when the buffer is full, writes it and returns that write's
    /// summary.
    pub async fn push(
        &mut self,
        key: SeriesKey,
        sample: Sample,
    ) -> Result<Option<WriteSummary>, ClientError> {
        self.buffer.push((key, sample));
        if self.buffer.len() < self.capacity {
            return Ok(None);
        }
        self.flush().await.map(Some)
    }

    /// Writes everything buffered (nothing to do when empty).
    pub async fn flush(&mut self) -> Result<WriteSummary, ClientError> {
        if self.buffer.is_empty() {
            return Ok(WriteSummary::default());
        }
        let summary = self.client.write(&self.buffer).await?;
        self.buffer.clear();
        self.total += summary;
        Ok(summary)
    }

    /// Samples buffered, not yet written.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// What every flush so far wrote.
    pub fn total(&self) -> WriteSummary {
        self.total
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            tracing::warn!(
                samples = self.buffer.len(),
                "batcher dropped with samples never flushed"
            );
        }
    }
}
