//! Line protocols over TCP: Graphite plaintext and OpenTSDB telnet `put`.
//!
//! Each connection is read in chunks and decoded as a stream; a malformed line is counted
//! (`floe_skipped_lines_total{protocol, reason}`) and skipped, never ending the connection,
//! because relays forward whatever they receive. Decoded samples are stored per chunk.
//! OpenTSDB's `version` and `help` are answered, `exit` closes the connection.

use std::sync::Arc;

use floe_storage_format::{Sample, SeriesKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::AppState;
use super::http::now_ms;
use super::metrics::SKIPPED_LINES;
use crate::ingest::graphite::GraphiteDecoder;
use crate::ingest::opentsdb::{
    HELP_REPLY, OpenTsdbError, TelnetCommand, TelnetDecoder, version_reply,
};

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Protocol {
    Graphite,
    OpenTsdb,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Graphite => "graphite",
            Protocol::OpenTsdb => "opentsdb_telnet",
        }
    }
}

/// Accepts connections until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    protocol: Protocol,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    let for_conns = stop.clone();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let state = state.clone();
                    let stop = for_conns.clone();
                    conns.spawn(async move {
                        if let Err(e) = connection(stream, protocol, state, stop).await {
                            tracing::debug!(%peer, protocol = protocol.name(), error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => tracing::warn!(protocol = protocol.name(), error = %e, "accept failed"),
            },
        }
    }
    while conns.join_next().await.is_some() {}
}

/// What one chunk of a stream produced.
#[derive(Default)]
struct Chunk {
    rows: Vec<(SeriesKey, Sample)>,
    replies: String,
    close: bool,
}

fn graphite_chunk(
    dec: &mut GraphiteDecoder,
    bytes: &[u8],
    end: bool,
    now: i64,
    state: &AppState,
    out: &mut Chunk,
) {
    let mut on_line = |_: u64, line: Result<crate::ingest::graphite::GraphiteLine<'_>, _>| {
        let key = line.and_then(|l| l.series_key().map(|k| (k, l.value, l.timestamp_ms)));
        match key {
            Ok((k, v, ts)) => out.rows.push((k, Sample::new(ts.unwrap_or(now), v, 0))),
            Err(e) => state
                .sink
                .metrics()
                .add(SKIPPED_LINES, &["graphite", e.reason()], 1),
        }
    };
    if end {
        dec.finish(&mut on_line)
    } else {
        dec.feed(bytes, &mut on_line)
    }
}

fn telnet_chunk(
    dec: &mut TelnetDecoder,
    bytes: &[u8],
    end: bool,
    state: &AppState,
    out: &mut Chunk,
) {
    let mut on_line = |_: u64, cmd: Result<TelnetCommand, OpenTsdbError>| match cmd {
        Ok(TelnetCommand::Put(p)) => match p.series_key() {
            Ok(k) => out.rows.push((k, Sample::new(p.timestamp_ms, p.value, 0))),
            Err(e) => state
                .sink
                .metrics()
                .add(SKIPPED_LINES, &["opentsdb_telnet", e.reason()], 1),
        },
        Ok(TelnetCommand::Version) => out
            .replies
            .push_str(&version_reply(env!("CARGO_PKG_VERSION"))),
        Ok(TelnetCommand::Help) => out.replies.push_str(HELP_REPLY),
        Ok(TelnetCommand::Stats) => {}
        Ok(TelnetCommand::Exit) => out.close = true,
        Err(e) => {
            state
                .sink
                .metrics()
                .add(SKIPPED_LINES, &["opentsdb_telnet", e.reason()], 1);
            out.replies.push_str(&e.telnet_reply());
        }
    };
    if end {
        dec.finish(&mut on_line)
    } else {
        dec.feed(bytes, &mut on_line)
    }
}

async fn connection(
    mut stream: TcpStream,
    protocol: Protocol,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut graphite = GraphiteDecoder::new();
    let mut telnet = TelnetDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            _ = stop.wait_for(|s| *s) => 0,
            r = stream.read(&mut buf) => r?,
        };
        let mut chunk = Chunk::default();
        let now = now_ms();
        match protocol {
            Protocol::Graphite => {
                graphite_chunk(&mut graphite, &buf[..n], n == 0, now, &state, &mut chunk)
            }
            Protocol::OpenTsdb => telnet_chunk(&mut telnet, &buf[..n], n == 0, &state, &mut chunk),
        }
        if !chunk.rows.is_empty() {
            let rows = std::mem::take(&mut chunk.rows);
            let st = state.clone();
            let name = protocol.name();
            // A stream has no request to refuse: a failure is logged and counted by the sink.
            let _ = st.ingest_rows(name, rows).await;
        }
        if !chunk.replies.is_empty() {
            stream.write_all(chunk.replies.as_bytes()).await?;
        }
        if n == 0 || chunk.close {
            return Ok(());
        }
    }
}
