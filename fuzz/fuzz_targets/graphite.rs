//! Graphite plaintext: one line, and a stream cut at a point taken from the input. Nothing
//! may panic, the held bytes stay under the maximum line length, and the cut never changes
//! what is decoded.
#![no_main]
use floe_node::ingest::graphite::{GraphiteDecoder, parse_graphite_line};
use libfuzzer_sys::fuzz_target;

const MAX_LINE: usize = 128;

fn decode(chunks: &[&[u8]]) -> Vec<String> {
    let mut d = GraphiteDecoder::with_max_line_len(MAX_LINE);
    let mut out = Vec::new();
    for chunk in chunks {
        d.feed(chunk, |n, r| out.push(format!("{n} {r:?}")));
        assert!(d.buffered() <= MAX_LINE);
    }
    d.finish(|n, r| out.push(format!("{n} {r:?}")));
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = parse_graphite_line(data) {
        assert!(!line.value.is_nan());
        let _ = line.series_key();
    }
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(cut);
    assert_eq!(decode(&[a, b]), decode(&[data]));
});
