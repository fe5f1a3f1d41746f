//! Frames: `u32` little-endian payload length | `u16` little-endian protocol version |
//! `postcard` payload. One request frame and one response frame per bidirectional stream.
//!
//! The reader checks the 6-byte header (version, then length against the limit) before it
//! allocates or reads the payload, so a hostile length prefix costs nothing. Every failure is
//! a typed [`WireError`]; no input panics.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::WireError;

/// Version of the frame layout and of every payload type. Any change to a type that crosses
/// the wire bumps it; a frame of another version is refused with
/// [`WireError::VersionMismatch`] naming both.
pub const PROTOCOL_VERSION: u16 = 4;

/// The oldest version whose frames still decode: versions 3 and 4 only added request and response
/// variants at the end of their enums, so a version 2 frame (such as a record in a journal
/// written before an upgrade) decodes unchanged.
pub const OLDEST_READABLE_VERSION: u16 = 2;

/// The TLS ALPN of this protocol version. A peer offering another ALPN fails the handshake.
pub const ALPN: &[u8] = b"floe/4";

/// Default largest payload a reader accepts, 16 MiB. Readers may pass a smaller limit.
pub const MAX_FRAME_BYTES: u32 = 16 << 20;

/// Bytes before the payload: the `u32` length and the `u16` version.
pub const HEADER_BYTES: usize = 6;

/// QUIC application error code a reader sends with `RecvStream::stop` (and `SendStream::reset`)
/// when it refuses a frame (too large, wrong version, undecodable).
pub const STOP_FRAME_REFUSED: u32 = 1;

/// Encodes `value` as one frame, refusing a payload above [`MAX_FRAME_BYTES`].
pub fn encode_frame<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WireError> {
    encode_frame_with_max(value, MAX_FRAME_BYTES)
}

/// Encodes `value` as one frame, refusing a payload above `max` bytes.
pub fn encode_frame_with_max<T: Serialize + ?Sized>(
    value: &T,
    max: u32,
) -> Result<Vec<u8>, WireError> {
    let mut frame = vec![0u8; HEADER_BYTES];
    frame = postcard::to_extend(value, frame).map_err(|e| WireError::Encode {
        reason: e.to_string(),
    })?;
    let len = frame.len() - HEADER_BYTES;
    let len32 = u32::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .ok_or(WireError::TooLarge {
            len: len as u64,
            max,
        })?;
    frame[..4].copy_from_slice(&len32.to_le_bytes());
    frame[4..HEADER_BYTES].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    Ok(frame)
}

/// Checks a frame header and returns the payload length: the version first (a peer of
/// another version may use other limits), then the length against `max`.
pub fn check_header(header: &[u8; HEADER_BYTES], max: u32) -> Result<usize, WireError> {
    let [l0, l1, l2, l3, v0, v1] = *header;
    let version = u16::from_le_bytes([v0, v1]);
    if !(OLDEST_READABLE_VERSION..=PROTOCOL_VERSION).contains(&version) {
        return Err(WireError::VersionMismatch {
            theirs: version,
            ours: PROTOCOL_VERSION,
        });
    }
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    if len > max {
        return Err(WireError::TooLarge {
            len: u64::from(len),
            max,
        });
    }
    Ok(len as usize)
}

/// Decodes a payload, refusing bytes left over after the value.
fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, WireError> {
    let (value, rest) = postcard::take_from_bytes(payload).map_err(|e| WireError::Decode {
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(WireError::Decode {
            reason: format!("{} trailing bytes after the value", rest.len()),
        });
    }
    Ok(value)
}

/// Decodes exactly one frame from `bytes` (header, payload, nothing after it).
pub fn decode_frame<T: DeserializeOwned>(bytes: &[u8], max: u32) -> Result<T, WireError> {
    let Some((header, rest)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
        return Err(WireError::Truncated {
            need: HEADER_BYTES as u64,
            have: bytes.len() as u64,
        });
    };
    let len = check_header(header, max)?;
    if rest.len() < len {
        return Err(WireError::Truncated {
            need: (HEADER_BYTES + len) as u64,
            have: bytes.len() as u64,
        });
    }
    if rest.len() > len {
        return Err(WireError::Decode {
            reason: format!("{} bytes after the frame", rest.len() - len),
        });
    }
    decode_payload(rest)
}

/// Reads one frame from `recv` and decodes it, refusing a payload above `max` bytes before
/// allocating it. Leaves anything after the frame unread.
pub async fn read_frame<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    max: u32,
) -> Result<T, WireError> {
    let mut header = [0u8; HEADER_BYTES];
    read_exact(recv, &mut header, 0, "read frame header").await?;
    let len = check_header(&header, max)?;
    let mut payload = vec![0u8; len];
    read_exact(recv, &mut payload, HEADER_BYTES, "read frame payload").await?;
    decode_payload(&payload)
}

async fn read_exact(
    recv: &mut quinn::RecvStream,
    buf: &mut [u8],
    before: usize,
    op: &'static str,
) -> Result<(), WireError> {
    recv.read_exact(buf).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(got) => WireError::Truncated {
            need: (before + buf.len()) as u64,
            have: (before + got) as u64,
        },
        quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e)) => {
            connection_error(op, &e)
        }
        quinn::ReadExactError::ReadError(e) => io(op, e),
    })
}

/// Encodes `value` and writes it as one frame on `send` (without finishing the stream).
/// Waits while the peer's flow-control window is full: that is the backpressure.
pub async fn write_frame<T: Serialize + ?Sized>(
    send: &mut quinn::SendStream,
    value: &T,
) -> Result<(), WireError> {
    let frame = encode_frame(value)?;
    send.write_all(&frame).await.map_err(|e| match e {
        quinn::WriteError::ConnectionLost(e) => connection_error("write frame", &e),
        e => io("write frame", e),
    })
}

/// One request on `conn`: opens a bidirectional stream (waiting while the peer's stream limit
/// is reached), writes `req` as one frame, finishes the send side and reads one response
/// frame of at most `max` payload bytes. The caller bounds it with a timeout.
pub async fn request<Q, R>(conn: &quinn::Connection, req: &Q, max: u32) -> Result<R, WireError>
where
    Q: Serialize + ?Sized,
    R: DeserializeOwned,
{
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| connection_error("open stream", &e))?;
    write_frame(&mut send, req).await?;
    send.finish().map_err(|e| io("finish request stream", e))?;
    read_frame(&mut recv, max).await
}

/// Connects to `addr`, verifying that the server's certificate names `server_name` (a node
/// ID, `localhost` or `127.0.0.1`). With TLS 1.3 the server may still refuse our certificate
/// after this returns: that surfaces as [`WireError::Refused`] at the first request.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: std::net::SocketAddr,
    server_name: &str,
) -> Result<quinn::Connection, WireError> {
    let connecting = endpoint
        .connect(addr, server_name)
        .map_err(|e| io("connect", e))?;
    connecting
        .await
        .map_err(|e| connection_error("connect", &e))
}

fn io(op: &'static str, e: impl std::fmt::Display) -> WireError {
    WireError::Io {
        op,
        reason: e.to_string(),
    }
}

/// Maps a connection failure, telling a TLS refusal (a crypto error code: a TLS alert, e.g. a
/// certificate signed by another CA) from a lost connection.
fn connection_error(op: &'static str, e: &quinn::ConnectionError) -> WireError {
    let code = match e {
        quinn::ConnectionError::ConnectionClosed(close) => Some(close.error_code),
        quinn::ConnectionError::TransportError(t) => Some(t.code),
        _ => None,
    };
    match code.map(u64::from) {
        Some(0x100..=0x1ff) => WireError::Refused {
            op,
            reason: e.to_string(),
        },
        _ => io(op, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_is_length_then_version() {
        let frame = encode_frame(&(7u8, "ab")).expect("encode");
        assert_eq!(&frame[..4], &4u32.to_le_bytes());
        assert_eq!(&frame[4..6], &PROTOCOL_VERSION.to_le_bytes());
        assert_eq!(&frame[6..], &[7, 2, b'a', b'b']);
    }

    #[test]
    fn frames_of_the_previous_version_still_decode() {
        // Version 3 only appended enum variants: a version 2 frame (a journal record written
        // before an upgrade) decodes unchanged; older versions are refused.
        let mut frame = encode_frame(&(7u8, "ab")).expect("encode");
        frame[4..6].copy_from_slice(&2u16.to_le_bytes());
        let back: (u8, String) = decode_frame(&frame, MAX_FRAME_BYTES).expect("v2 decodes");
        assert_eq!(back, (7, "ab".to_string()));
        frame[4..6].copy_from_slice(&1u16.to_le_bytes());
        let err = decode_frame::<(u8, String)>(&frame, MAX_FRAME_BYTES).expect_err("v1");
        assert!(
            matches!(err, WireError::VersionMismatch { theirs: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn encoder_refuses_payload_above_max() {
        let err = encode_frame_with_max(&vec![0u8; 100], 64).expect_err("too large");
        assert!(
            matches!(err, WireError::TooLarge { len: 101, max: 64 }),
            "{err}"
        );
        assert_eq!(err.code(), "frame_too_large");
    }
}
