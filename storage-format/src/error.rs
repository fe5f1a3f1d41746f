//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while encoding, decoding or checking Floe's on-disk formats.
///
/// Each variant names what was being read and where, so a log line is enough to find the bad
/// byte. Decoders never panic on bad input: they return one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input ended before a structure was complete.
    #[error("{what}: truncated at offset {offset}: need {needed} bytes, {available} available")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Offset (within the structure's buffer) where the read started.
        offset: u64,
        /// Bytes required.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// Magic bytes did not match.
    #[error("{what}: bad magic {found:02x?} (expected {expected:02x?})")]
    BadMagic {
        /// The structure being read.
        what: &'static str,
        /// The bytes found.
        found: Vec<u8>,
        /// The bytes expected.
        expected: &'static [u8],
    },
    /// A format version this code does not know. Storage formats never guess.
    #[error("{what}: unsupported format version {version} (this build reads {supported})")]
    UnsupportedVersion {
        /// The structure being read.
        what: &'static str,
        /// The version found.
        version: u32,
        /// The versions this build reads.
        supported: &'static str,
    },
    /// A stored crc32 did not match the bytes it covers.
    #[error(
        "{what} at offset {offset}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    ChecksumMismatch {
        /// The structure being read.
        what: &'static str,
        /// Offset of the checked bytes.
        offset: u64,
        /// The checksum stored beside the bytes.
        stored: u32,
        /// The checksum of the bytes as read.
        computed: u32,
    },
    /// A length or count beyond the format's limits (hostile or corrupt input).
    #[error("{what}: {len} exceeds the limit of {max}")]
    TooLarge {
        /// The quantity being checked.
        what: &'static str,
        /// The value found.
        len: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// Structurally invalid content (a bad tag, unsorted index, inconsistent counts, …).
    #[error("{what} at offset {offset}: {reason}")]
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// Offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Input rejected before encoding (the caller's mistake, not corruption).
    #[error("cannot encode {what}: {reason}")]
    BadInput {
        /// What was being encoded.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The numeric codec (pco) failed.
    #[error("{what}: column codec error: {reason}")]
    Codec {
        /// The column being encoded or decoded.
        what: &'static str,
        /// The codec's message.
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
    /// An error inside a named file.
    #[error("{path}: {source}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What was wrong in it.
        source: Box<FormatError>,
    },
}

impl FormatError {
    /// True when the error means the bytes are damaged or hostile (as opposed to an I/O failure
    /// or a caller mistake): the caller should quarantine and repair the data.
    pub fn is_corruption(&self) -> bool {
        match self {
            FormatError::Truncated { .. }
            | FormatError::BadMagic { .. }
            | FormatError::ChecksumMismatch { .. }
            | FormatError::TooLarge { .. }
            | FormatError::Invalid { .. }
            | FormatError::Codec { .. } => true,
            FormatError::UnsupportedVersion { .. }
            | FormatError::BadInput { .. }
            | FormatError::Io { .. } => false,
            FormatError::InFile { source, .. } => source.is_corruption(),
        }
    }

    pub(crate) fn invalid(what: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        FormatError::Invalid {
            what,
            offset: offset as u64,
            reason: reason.into(),
        }
    }

    pub(crate) fn in_file(self, path: impl Into<PathBuf>) -> Self {
        FormatError::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;
