//! The one error type of `floe-client`, with a stable code per failure.

use std::net::SocketAddr;
use std::time::Duration;

use floe_wire::WireError;
use floe_wire::proto::{ErrorCode, TopologyRef};

/// Everything a client call can fail with. Match on [`ClientError::code`] (stable), never on
/// the text; [`ClientError::is_retryable`] says whether the same call may succeed later.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A setting of [`ClientConfig`](crate::ClientConfig) is invalid.
    #[error("invalid client configuration: {reason}")]
    Config {
        /// The setting and what is wrong with it.
        reason: String,
    },
    /// The TLS files cannot be loaded or do not form a valid configuration.
    #[error("client TLS setup: {source}")]
    Tls {
        /// What `floe_wire::tls` reported (code `pem` or `tls_config`).
        source: WireError,
    },
    /// The local QUIC endpoint cannot be bound.
    #[error("bind the client's QUIC endpoint on {addr}: {source}")]
    Bind {
        /// The local address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A series could not be encoded for the wire.
    #[error("encode series {series}: {source}")]
    Encode {
        /// The series key.
        series: String,
        /// What the encoder reported.
        source: WireError,
    },
    /// Connecting to a node, sending the request or reading the answer failed.
    #[error("node {node}: {source}")]
    Wire {
        /// The node's id (or `seed ADDR` before the topology is known).
        node: String,
        /// What failed; its code is this error's code (`io`, `tls_refused`, …).
        source: WireError,
    },
    /// A node did not answer within the request timeout.
    #[error("node {node}: no answer within {after:?}")]
    Timeout {
        /// The node's id.
        node: String,
        /// The request timeout.
        after: Duration,
    },
    /// The node failed to connect, or let a request time out without a sign of life, moments
    /// ago: it is skipped for a short while (retryable).
    #[error("node {node}: skipped, it failed to connect or answer moments ago (for {left:?} more)")]
    NodeDown {
        /// The node's id.
        node: String,
        /// How much longer it is skipped.
        left: Duration,
    },
    /// A node answered with an error.
    #[error("node {node} answered {}: {message}", code.as_str())]
    Server {
        /// The node's id.
        node: String,
        /// The protocol's error code.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
    /// A node answered with a response of another kind than the request.
    #[error("node {node} answered a {request} request with a {got} response")]
    UnexpectedResponse {
        /// The node's id.
        node: String,
        /// The request's name.
        request: &'static str,
        /// The kind of response received.
        got: &'static str,
    },
    /// A node's topology document does not parse or does not match its stated identity.
    #[error("topology from node {node}: {reason}")]
    Topology {
        /// The node that sent it.
        node: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The node named is not in the client's topology.
    #[error("node {node} is not in topology {topology}")]
    UnknownNode {
        /// The id asked for.
        node: String,
        /// The client's topology.
        topology: TopologyRef,
    },
    /// Every try failed with a retryable error (or every seed failed at connect).
    #[error("no node answered after {attempts} attempts; last error: {last}")]
    NoNodeAnswered {
        /// Tries made.
        attempts: u32,
        /// The last failure.
        last: Box<ClientError>,
    },
}

impl ClientError {
    /// A stable, machine-readable code: `config`, `bind`, `encode`, `timeout`, `node_down`,
    /// `unexpected_response`, `topology`, `unknown_node`, `no_node_answered`; a wire error's
    /// own code (`io`, `tls_refused`, `frame_too_large`, `pem`, …); or the server's code
    /// (`topology_mismatch`, `bad_request`, `limit`, `unavailable`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config { .. } => "config",
            Self::Tls { source } | Self::Wire { source, .. } => source.code(),
            Self::Bind { .. } => "bind",
            Self::Encode { .. } => "encode",
            Self::Timeout { .. } => "timeout",
            Self::NodeDown { .. } => "node_down",
            Self::Server { code, .. } => code.as_str(),
            Self::UnexpectedResponse { .. } => "unexpected_response",
            Self::Topology { .. } => "topology",
            Self::UnknownNode { .. } => "unknown_node",
            Self::NoNodeAnswered { .. } => "no_node_answered",
        }
    }

    /// True when the same call, made again (on another node or later), may succeed: a lost
    /// connection, a timeout, a node marked down, a server's `unavailable`, `internal` or `timeout`. False for a
    /// refused certificate, a bad request, a limit, a topology mismatch (the caller refetches
    /// the topology instead) and every local error.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Wire { source, .. } => wire_is_retryable(source),
            Self::Timeout { .. } | Self::NodeDown { .. } => true,
            Self::Server { code, .. } => code.is_retryable(),
            Self::NoNodeAnswered { last, .. } => last.is_retryable(),
            _ => false,
        }
    }

    /// The server's error code, if a node answered with an error.
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            Self::NoNodeAnswered { last, .. } => last.server_code(),
            _ => None,
        }
    }

    pub(crate) fn is_topology_mismatch(&self) -> bool {
        matches!(
            self,
            Self::Server {
                code: ErrorCode::TopologyMismatch,
                ..
            }
        )
    }
}

/// A lost or reset connection, or a stream that ended early (a node that went away mid-answer)
/// may work on retry; a refused certificate, another protocol version or a frame too large
/// never will.
fn wire_is_retryable(e: &WireError) -> bool {
    matches!(e, WireError::Io { .. } | WireError::Truncated { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: ErrorCode) -> ClientError {
        ClientError::Server {
            node: "n1".into(),
            code,
            message: "m".into(),
        }
    }

    fn wire(source: WireError) -> ClientError {
        ClientError::Wire {
            node: "n1".into(),
            source,
        }
    }

    fn down() -> ClientError {
        ClientError::NodeDown {
            node: "n1".into(),
            left: Duration::from_millis(300),
        }
    }

    #[test]
    fn codes_are_stable() {
        let io = wire(WireError::Io {
            op: "open stream",
            reason: "lost".into(),
        });
        let refused = wire(WireError::Refused {
            op: "read frame header",
            reason: "bad certificate".into(),
        });
        let timeout = ClientError::Timeout {
            node: "n1".into(),
            after: Duration::from_secs(5),
        };
        let exhausted = ClientError::NoNodeAnswered {
            attempts: 4,
            last: Box::new(server(ErrorCode::Unavailable)),
        };
        let cases = [
            (io, "io"),
            (refused, "tls_refused"),
            (timeout, "timeout"),
            (server(ErrorCode::TopologyMismatch), "topology_mismatch"),
            (server(ErrorCode::Limit), "limit"),
            (exhausted, "no_node_answered"),
            (ClientError::Config { reason: "x".into() }, "config"),
            (down(), "node_down"),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable = [
            server(ErrorCode::Unavailable),
            server(ErrorCode::Internal),
            server(ErrorCode::Timeout),
            wire(WireError::Io {
                op: "connect",
                reason: "lost".into(),
            }),
            wire(WireError::Truncated { need: 6, have: 0 }),
            down(),
        ];
        for err in retryable {
            assert!(err.is_retryable(), "{err}");
        }
        let final_ = [
            server(ErrorCode::BadRequest),
            server(ErrorCode::Limit),
            server(ErrorCode::Forbidden),
            server(ErrorCode::Query),
            server(ErrorCode::TopologyMismatch),
            wire(WireError::Refused {
                op: "read",
                reason: "alert".into(),
            }),
            wire(WireError::VersionMismatch { theirs: 3, ours: 2 }),
            wire(WireError::TooLarge { len: 9, max: 8 }),
        ];
        for err in final_ {
            assert!(!err.is_retryable(), "{err}");
        }
    }

    #[test]
    fn messages_name_the_node_and_the_code() {
        let err = server(ErrorCode::Unavailable);
        assert_eq!(err.to_string(), "node n1 answered unavailable: m");
        assert_eq!(err.server_code(), Some(ErrorCode::Unavailable));
        assert!(server(ErrorCode::TopologyMismatch).is_topology_mismatch());
    }
}
