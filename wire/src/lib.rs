//! `floe-wire` is the shared wire format of Floe's node↔node and client↔node traffic: the
//! QUIC framing (`u32` length, `u16` protocol version, `postcard` payload), the ALPN and
//! protocol version, the typed [`WireError`] with stable codes, and the mutual-TLS setup
//! (rustls with the `ring` provider, then quinn) from the PEM files `floectl certs` writes.
//!
//! Both `floe-client` and `floe-node` depend on this crate, so it must never depend on
//! `floe-node` or on tokio-specific server code: a client that only wants to send a sample
//! must not drag the storage engine or the daemon along. `quinn` is fine here, because both
//! sides speak QUIC. See `docs/protocol-wire.md` for the byte layout and the versioning rule.

mod error;
pub mod frame;
pub mod proto;
pub mod role;
pub mod tls;

pub use error::WireError;
pub use frame::{
    ALPN, HEADER_BYTES, MAX_FRAME_BYTES, OLDEST_READABLE_VERSION, PROTOCOL_VERSION,
    STOP_FRAME_REFUSED, connect, decode_frame, encode_frame, encode_frame_with_max, read_frame,
    request, write_frame,
};
pub use tls::TlsFiles;
