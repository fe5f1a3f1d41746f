//! The engine's error type.

use std::path::{Path, PathBuf};

use floe_storage_format::{FormatError, SeriesId};

/// What can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// An I/O error on a named file or directory.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (a verb phrase).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A format error (corrupt or unreadable data) from `floe-storage-format`.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A label index error.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    /// The configuration is unusable.
    #[error("invalid engine configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is in use by another process (lock file {lock})")]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A WAL write or fsync failed earlier: what is durable is unknown, so the engine refuses
    /// further writes until it is restarted (and replays).
    #[error("WAL unavailable: {reason}")]
    WalFailed {
        /// The original failure.
        reason: String,
    },
    /// A write named a series the engine does not know.
    #[error("unknown series {0}")]
    UnknownSeries(SeriesId),
    /// The data of a series in a block is corrupt; the block was quarantined and the series
    /// marked for repair from its replicas.
    #[error(
        "series {series}: corrupt data in block {block} (quarantined, marked for repair): {reason}"
    )]
    Corrupt {
        /// The series.
        series: SeriesId,
        /// The block file.
        block: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A sample's timestamp is outside what the engine stores
    /// ([`crate::engine::MIN_TIMESTAMP_MS`] to [`crate::engine::MAX_TIMESTAMP_MS`]); nothing of
    /// the call was stored.
    #[error("timestamp {ts} ms is out of the storable range (±2^62 ms)")]
    TimestampOutOfRange {
        /// The offending timestamp.
        ts: i64,
    },
    /// The engine was closed.
    #[error("the engine is closed")]
    Closed,
}

pub(crate) fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
