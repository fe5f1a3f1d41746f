//! [`JournalError`]: everything a journal can refuse or fail at, each naming what and where.

use std::path::PathBuf;

use floe_storage_format::FormatError;

use super::Position;

/// Everything that can go wrong with a journal. Bytes read from disk never panic: damage found
/// while opening or reading is reported (and the damaged records skipped), not returned here,
/// unless nothing safe can be done (an unknown format version).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// An I/O operation on a named file or directory failed.
    #[error("journal {path}: {op}: {source}")]
    Io {
        /// What was being done (a verb phrase).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A positioned read or write failed.
    #[error("journal {path}: {op} at offset {offset}: {source}")]
    IoAt {
        /// What was being done (a verb phrase).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Byte offset of the operation in the file.
        offset: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Fsyncing the journal directory failed.
    #[error("journal: {op}: {source}")]
    SyncDir {
        /// What the directory fsync was for.
        op: &'static str,
        /// The error (it names the directory).
        #[source]
        source: FormatError,
    },
    /// Appending would take the pending bytes beyond the journal's bound; nothing was written.
    #[error(
        "journal full: {pending} bytes pending + {adding} to add would exceed the bound of {max}"
    )]
    Full {
        /// Bytes pending (and being appended by other callers) before this append.
        pending: u64,
        /// The journal's bound.
        max: u64,
        /// Framed bytes this append would add.
        adding: u64,
    },
    /// A payload is empty or larger than a record may be; nothing was written.
    #[error("journal record {index} of the group has {len} bytes (allowed 1..={max})")]
    RecordSize {
        /// Index of the payload in the group.
        index: usize,
        /// Its length.
        len: usize,
        /// The largest payload a record holds.
        max: usize,
    },
    /// The append was part of a group commit that failed (the caller that wrote the group
    /// received the underlying error itself); nothing of this append is acknowledged.
    #[error("journal {dir}: group commit failed: {reason}")]
    GroupFailed {
        /// The journal directory.
        dir: PathBuf,
        /// The error the group's writer met.
        reason: String,
    },
    /// A file of a format version this build does not read. The journal refuses to open
    /// rather than guess (a newer build wrote it).
    #[error("journal {path}: unsupported {what} version {version} (this build reads {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Which structure (`"segment"` or `"cursor"`).
        what: &'static str,
        /// The version found.
        version: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// `ack` was given a position that is not the end of a pending record.
    #[error(
        "journal {dir}: cannot acknowledge up to {upto} (acknowledged up to {acked}): {reason}"
    )]
    BadAck {
        /// The journal directory.
        dir: PathBuf,
        /// The position given.
        upto: Position,
        /// The position acknowledged so far.
        acked: Position,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Records damaged after the journal was opened were found, but could not be set aside.
    #[error("journal {path}: damaged record at offset {offset}: {reason}")]
    Damaged {
        /// The segment file.
        path: PathBuf,
        /// Offset of the first bad byte.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// Another `Journal` (in this or another process) holds the directory.
    #[error("journal {dir} is in use (lock file {lock} is held)")]
    Locked {
        /// The journal directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
}

/// An [`JournalError::Io`] maker for `map_err`.
pub(super) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> JournalError {
    let path = path.into();
    move |source| JournalError::Io { op, path, source }
}

/// An [`JournalError::IoAt`] maker for `map_err`.
pub(super) fn io_at(
    op: &'static str,
    path: impl Into<PathBuf>,
    offset: u64,
) -> impl FnOnce(std::io::Error) -> JournalError {
    let path = path.into();
    move |source| JournalError::IoAt {
        op,
        path,
        offset,
        source,
    }
}
