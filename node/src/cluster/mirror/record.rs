//! A mirror journal record: the series of one coordinated write that pass a target's filter,
//! and when the write was teed, in one wire frame (`floe_wire::encode_frame`: length, protocol
//! version, postcard payload). The payload starts with its own format version.

use floe_storage_format::{Sample, SeriesKey};
use floe_wire::MAX_FRAME_BYTES;
use floe_wire::proto::SeriesSamples;
use serde::{Deserialize, Serialize};

/// The record format this code writes and reads.
pub(crate) const RECORD_VERSION: u16 = 1;

/// What a mirror journal record holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MirrorRecord {
    /// [`RECORD_VERSION`].
    pub(crate) version: u16,
    /// When the write was teed, milliseconds since the Unix epoch (the lag's origin).
    pub(crate) teed_ms: i64,
    /// The series, as the coordinator received them on the wire (already encoded).
    pub(crate) series: Vec<SeriesSamples>,
}

/// A record read back: when it was teed, and its series decoded.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    /// When the write was teed.
    pub(crate) teed_ms: i64,
    /// Every series with its samples.
    pub(crate) series: Vec<(SeriesKey, Vec<Sample>)>,
    /// Samples in all.
    pub(crate) samples: u64,
}

/// Encodes a record; fails only when it would exceed the frame limit.
pub(crate) fn encode(teed_ms: i64, series: Vec<SeriesSamples>) -> Result<Vec<u8>, String> {
    let record = MirrorRecord {
        version: RECORD_VERSION,
        teed_ms,
        series,
    };
    floe_wire::encode_frame(&record).map_err(|e| e.to_string())
}

/// Decodes and checks a record: frame, format version, every key and chunk.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let record: MirrorRecord =
        floe_wire::decode_frame(bytes, MAX_FRAME_BYTES).map_err(|e| e.to_string())?;
    if record.version != RECORD_VERSION {
        return Err(format!(
            "mirror record format version {} (this node reads {RECORD_VERSION})",
            record.version
        ));
    }
    let mut series = Vec::with_capacity(record.series.len());
    let mut samples = 0u64;
    for (i, s) in record.series.iter().enumerate() {
        let (key, values) = s.decode().map_err(|e| format!("series {i}: {e}"))?;
        samples += values.len() as u64;
        if !values.is_empty() {
            series.push((key, values));
        }
    }
    Ok(Decoded {
        teed_ms: record.teed_ms,
        series,
        samples,
    })
}
