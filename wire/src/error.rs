//! The one error type of `floe-wire`, with a stable code per variant.

use std::path::PathBuf;

/// Everything that can go wrong encoding, sending, receiving or decoding a frame, or setting
/// up TLS. [`WireError::code`] is stable: clients and peers match on it, never on the text.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The length prefix (or an encoded payload) exceeds the frame size limit. Raised from the
    /// 6-byte header alone, before the payload is allocated or read.
    #[error("frame payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Payload length announced by the prefix (or produced by the encoder).
        len: u64,
        /// The limit in force.
        max: u32,
    },
    /// The frame carries another protocol version than this build speaks.
    #[error("protocol version mismatch: peer sent version {theirs}, this build speaks {ours}")]
    VersionMismatch {
        /// Version in the received frame header.
        theirs: u16,
        /// [`crate::PROTOCOL_VERSION`] of this build.
        ours: u16,
    },
    /// The stream or buffer ended inside a frame.
    #[error("frame truncated: needed {need} bytes, got {have}")]
    Truncated {
        /// Bytes the frame needs (header, then header plus payload).
        need: u64,
        /// Bytes that arrived.
        have: u64,
    },
    /// The payload is not a valid `postcard` encoding of the expected type, or has bytes left
    /// over after it.
    #[error("frame payload does not decode: {reason}")]
    Decode {
        /// What postcard (or the trailing-bytes check) reported.
        reason: String,
    },
    /// The value could not be encoded (a serde error from the payload type).
    #[error("frame payload does not encode: {reason}")]
    Encode {
        /// What postcard reported.
        reason: String,
    },
    /// The TLS handshake was refused: the peer rejected our certificate (or sent none the
    /// other side accepts), or we rejected the peer's. With TLS 1.3 the client learns this at
    /// its first request, not at connect.
    #[error("{op}: refused by TLS: {reason}")]
    Refused {
        /// What was being done, e.g. `read response frame`.
        op: &'static str,
        /// The TLS alert or handshake failure.
        reason: String,
    },
    /// The connection or stream failed (lost, reset, stopped, timed out, endpoint closed).
    #[error("{op}: {reason}")]
    Io {
        /// What was being done, e.g. `open stream`.
        op: &'static str,
        /// What quinn reported.
        reason: String,
    },
    /// A PEM file is missing, unreadable or holds no usable certificate or key.
    #[error("{what} {path}: {reason}")]
    Pem {
        /// `CA certificate`, `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls or quinn refused the TLS configuration built from valid PEM files.
    #[error("TLS configuration: {reason}")]
    TlsConfig {
        /// What rustls or quinn reported.
        reason: String,
    },
}

impl WireError {
    /// A stable, machine-readable code for this error, carried across the network and
    /// matched on by clients. Never change an existing code; add new ones.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "frame_too_large",
            Self::VersionMismatch { .. } => "version_mismatch",
            Self::Truncated { .. } => "frame_truncated",
            Self::Decode { .. } => "frame_decode",
            Self::Encode { .. } => "frame_encode",
            Self::Refused { .. } => "tls_refused",
            Self::Io { .. } => "io",
            Self::Pem { .. } => "pem",
            Self::TlsConfig { .. } => "tls_config",
        }
    }
}
