//! Newline framing for the line-based TCP protocols (Graphite plaintext, OpenTSDB telnet),
//! written once and shared by both decoders.
//!
//! A [`LineFramer`] takes the bytes of one connection in chunks of any size and hands out
//! complete lines, without their `\n` and without one trailing `\r`. A line cut across chunks
//! is kept in a buffer until its newline arrives; that buffer never holds more than the
//! maximum line length. A line longer than the maximum is reported once as
//! [`Frame::TooLong`] and its bytes are dropped up to the next newline, so a sender that
//! never sends a newline costs a bounded amount of memory, and the lines after it are read
//! normally.

use std::collections::BTreeMap;

/// Default longest line, in bytes (without the newline): 64 KiB, the size of the largest
/// series key Floe stores ([`floe_storage_format::MAX_KEY_LEN`]).
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// What the framer hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, numbered from 1 on this connection, without `\n` and one trailing `\r`.
    Line { number: u64, bytes: &'a [u8] },
    /// Line `number` is longer than `max` bytes: it is skipped up to its newline.
    TooLong { number: u64, max: usize },
}

/// Splits a byte stream into lines of bounded length.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max: usize,
    /// The start of a line whose newline has not arrived yet (at most `max` bytes).
    partial: Vec<u8>,
    /// The current line is too long: drop bytes up to the next newline.
    skipping: bool,
    /// Number of the next line to hand out (1-based).
    next_number: u64,
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_LEN)
    }
}

impl LineFramer {
    /// A framer that accepts lines of at most `max_line_len` bytes (at least 1).
    pub fn new(max_line_len: usize) -> Self {
        LineFramer {
            max: max_line_len.max(1),
            partial: Vec::new(),
            skipping: false,
            next_number: 1,
        }
    }

    /// The longest line accepted, in bytes.
    pub fn max_line_len(&self) -> usize {
        self.max
    }

    /// Bytes held for a line not finished yet (never more than [`Self::max_line_len`]).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Feeds the next chunk of the stream, calling `on_frame` for every line it completes.
    pub fn feed(&mut self, chunk: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        let mut rest = chunk;
        if self.skipping || !self.partial.is_empty() {
            let Some(nl) = find_newline(rest) else {
                self.hold(rest, &mut on_frame);
                return;
            };
            self.hold(&rest[..nl], &mut on_frame);
            self.end_line(&mut on_frame);
            rest = &rest[nl + 1..];
        }
        while let Some(nl) = find_newline(rest) {
            let line = &rest[..nl];
            let number = self.take_number();
            if line.len() > self.max {
                on_frame(Frame::TooLong {
                    number,
                    max: self.max,
                });
            } else {
                on_frame(Frame::Line {
                    number,
                    bytes: strip_cr(line),
                });
            }
            rest = &rest[nl + 1..];
        }
        self.hold(rest, &mut on_frame);
    }

    /// Ends the stream: hands out a last line that had no newline, if any.
    pub fn finish(&mut self, mut on_frame: impl FnMut(Frame<'_>)) {
        if !self.partial.is_empty() {
            self.end_line(&mut on_frame);
        }
        self.skipping = false;
    }

    /// Keeps `bytes` (the middle of the current line), or starts skipping if the line grows
    /// past the maximum.
    fn hold(&mut self, bytes: &[u8], on_frame: &mut impl FnMut(Frame<'_>)) {
        if self.skipping || bytes.is_empty() {
            return;
        }
        if self.partial.len() + bytes.len() > self.max {
            self.partial = Vec::new();
            self.skipping = true;
            let number = self.next_number;
            on_frame(Frame::TooLong {
                number,
                max: self.max,
            });
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// The current (held or skipped) line reached its newline or the end of the stream.
    fn end_line(&mut self, on_frame: &mut impl FnMut(Frame<'_>)) {
        let number = self.take_number();
        if self.skipping {
            self.skipping = false;
        } else {
            on_frame(Frame::Line {
                number,
                bytes: strip_cr(&self.partial),
            });
            self.partial.clear();
        }
    }

    fn take_number(&mut self) -> u64 {
        let n = self.next_number;
        self.next_number = n.saturating_add(1);
        n
    }
}

fn find_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Lines that could not be used, counted by reason (each decoder's stable error codes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MalformedCounts {
    by_reason: BTreeMap<&'static str, u64>,
}

impl MalformedCounts {
    /// Counts one more line rejected for `reason`.
    pub fn add(&mut self, reason: &'static str) {
        *self.by_reason.entry(reason).or_default() += 1;
    }

    /// Lines rejected for `reason`.
    pub fn get(&self, reason: &str) -> u64 {
        self.by_reason.get(reason).copied().unwrap_or(0)
    }

    /// All rejected lines.
    pub fn total(&self) -> u64 {
        self.by_reason.values().sum()
    }

    /// `(reason, count)` pairs, sorted by reason.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.by_reason.iter().map(|(r, n)| (*r, *n))
    }
}

/// A line format decoded from a stream: how to parse one framed line, the error for a line
/// over the maximum length, and which errors are silent (blank lines).
pub trait LineFormat {
    /// A decoded line, possibly borrowing from the input.
    type Line<'a>;
    /// Why a line was rejected.
    type Error;
    /// Decodes one line (without its newline).
    fn parse(bytes: &[u8]) -> Result<Self::Line<'_>, Self::Error>;
    /// The error for a line longer than `max` bytes.
    fn too_long(max: usize) -> Self::Error;
    /// `None` for a line that is skipped silently (blank), else the stable reason it counts under.
    fn reason(e: &Self::Error) -> Option<&'static str>;
}

/// Decodes the stream of one TCP connection in format `F`: feed it the bytes as they arrive,
/// in chunks of any size; it calls back once per line with the line number and the decoded
/// line or the error. Blank lines are skipped silently; every other line that cannot be used
/// is counted in [`StreamDecoder::malformed`] and skipped, and decoding goes on with the next
/// line: a malformed line never ends the stream.
pub struct StreamDecoder<F> {
    framer: LineFramer,
    accepted: u64,
    malformed: MalformedCounts,
    format: std::marker::PhantomData<fn() -> F>,
}

impl<F> std::fmt::Debug for StreamDecoder<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("framer", &self.framer)
            .field("accepted", &self.accepted)
            .field("malformed", &self.malformed)
            .finish()
    }
}

impl<F> Clone for StreamDecoder<F> {
    fn clone(&self) -> Self {
        Self {
            framer: self.framer.clone(),
            accepted: self.accepted,
            malformed: self.malformed.clone(),
            format: std::marker::PhantomData,
        }
    }
}

impl<F> Default for StreamDecoder<F> {
    fn default() -> Self {
        Self::with_max_line_len(DEFAULT_MAX_LINE_LEN)
    }
}

impl<F> StreamDecoder<F> {
    /// A decoder for lines of at most [`DEFAULT_MAX_LINE_LEN`] bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder for lines of at most `max_line_len` bytes.
    pub fn with_max_line_len(max_line_len: usize) -> Self {
        Self {
            framer: LineFramer::new(max_line_len),
            accepted: 0,
            malformed: MalformedCounts::default(),
            format: std::marker::PhantomData,
        }
    }

    /// Lines decoded successfully so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Lines rejected so far, by reason.
    pub fn malformed(&self) -> &MalformedCounts {
        &self.malformed
    }

    /// Bytes held for an unfinished line (bounded by the maximum line length).
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }
}

impl<F: LineFormat> StreamDecoder<F> {
    /// Decodes the next chunk of the stream.
    pub fn feed<C>(&mut self, chunk: &[u8], mut on_line: C)
    where
        C: FnMut(u64, Result<F::Line<'_>, F::Error>),
    {
        let (accepted, malformed) = (&mut self.accepted, &mut self.malformed);
        self.framer.feed(chunk, |frame| {
            decode_frame::<F, C>(frame, accepted, malformed, &mut on_line)
        });
    }

    /// Ends the stream: decodes a last line that had no newline.
    pub fn finish<C>(&mut self, mut on_line: C)
    where
        C: FnMut(u64, Result<F::Line<'_>, F::Error>),
    {
        let (accepted, malformed) = (&mut self.accepted, &mut self.malformed);
        self.framer
            .finish(|frame| decode_frame::<F, C>(frame, accepted, malformed, &mut on_line));
    }
}

fn decode_frame<F: LineFormat, C>(
    frame: Frame<'_>,
    accepted: &mut u64,
    malformed: &mut MalformedCounts,
    on_line: &mut C,
) where
    C: FnMut(u64, Result<F::Line<'_>, F::Error>),
{
    let (number, result) = match frame {
        Frame::Line { number, bytes } => (number, F::parse(bytes)),
        Frame::TooLong { number, max } => (number, Err(F::too_long(max))),
    };
    match &result {
        Err(e) => match F::reason(e) {
            Some(reason) => malformed.add(reason),
            None => return,
        },
        Ok(_) => *accepted += 1,
    }
    on_line(number, result);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(framer: &mut LineFramer, chunks: &[&[u8]], finish: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |f: Frame<'_>| match f {
            Frame::Line { number, bytes } => {
                out.push(format!("{number}:{}", String::from_utf8_lossy(bytes)))
            }
            Frame::TooLong { number, max } => out.push(format!("{number}:too long {max}")),
        };
        for c in chunks {
            framer.feed(c, &mut push);
        }
        if finish {
            framer.finish(&mut push);
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_cr() {
        let mut f = LineFramer::new(100);
        let got = collect(&mut f, &[b"a\r\nb\n\nc"], true);
        assert_eq!(got, ["1:a", "2:b", "3:", "4:c"]);
    }

    #[test]
    fn keeps_partial_line_across_chunks() {
        let mut f = LineFramer::new(100);
        let got = collect(&mut f, &[b"ab", b"c", b"d\nef", b"\n"], false);
        assert_eq!(got, ["1:abcd", "2:ef"]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn overlong_line_is_reported_once_and_skipped() {
        let mut f = LineFramer::new(4);
        let got = collect(&mut f, &[b"ok\n12", b"345", b"678", b"9\nnext\n"], false);
        assert_eq!(got, ["1:ok", "2:too long 4", "3:next"]);
        let got = collect(&mut LineFramer::new(4), &[b"123456\nab\n"], false);
        assert_eq!(got, ["1:too long 4", "2:ab"]);
        // Exactly the maximum is fine, also when split.
        let got = collect(&mut LineFramer::new(4), &[b"12", b"34\n"], false);
        assert_eq!(got, ["1:1234"]);
    }

    #[test]
    fn buffer_never_exceeds_the_maximum() {
        let mut f = LineFramer::new(16);
        for _ in 0..1000 {
            f.feed(&[b'x'; 7], |_| {});
            assert!(f.buffered() <= 16);
        }
    }
}
