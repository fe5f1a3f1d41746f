//! The error type of the label index.

use std::path::PathBuf;

use floe_storage_format::FormatError;

/// What can go wrong in the label index: a matcher that does not compile, or a checkpoint that
/// cannot be written or read back. Every checkpoint error names the file, and every error about
/// its content names the byte offset.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A regex matcher whose expression does not compile.
    #[error("matcher {name}{op}{regex:?}: bad regex: {reason}")]
    BadRegex {
        /// The label name of the matcher.
        name: String,
        /// The operator, `=~` or `!~`.
        op: &'static str,
        /// The expression as given (before anchoring).
        regex: String,
        /// The regex compiler's message.
        reason: String,
    },
    /// An I/O error on a named file.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (a verb phrase).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint whose bytes fail a format check (header, record frame, checksum, key).
    #[error("checkpoint {path} at offset {offset}: {source}")]
    Format {
        /// The checkpoint file.
        path: PathBuf,
        /// Byte offset of the damaged header or record.
        offset: u64,
        /// What the format layer found.
        source: FormatError,
    },
    /// A checkpoint whose records are well-formed but whose content is inconsistent (a
    /// missing or extra record, a duplicated series, a record that is not a series).
    #[error("checkpoint {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The checkpoint file.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl IndexError {
    /// True when the error means a checkpoint's bytes are damaged (as opposed to an I/O
    /// failure or a bad matcher): the caller should discard the checkpoint and rebuild the
    /// index from the WAL and blocks.
    pub fn is_corruption(&self) -> bool {
        match self {
            IndexError::Format { source, .. } => source.is_corruption(),
            IndexError::Corrupt { .. } => true,
            IndexError::BadRegex { .. } | IndexError::Io { .. } => false,
        }
    }
}
