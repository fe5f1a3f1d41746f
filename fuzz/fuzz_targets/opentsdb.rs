//! OpenTSDB: a telnet line, a telnet stream cut at a point taken from the input, and an
//! `/api/put` body. Nothing may panic, the held bytes stay under the maximum line length, the
//! cut never changes what is decoded, and a body is accepted exactly when no point is bad.
#![no_main]
use floe_node::ingest::opentsdb::{
    PutLimits, TelnetDecoder, error_response, parse_put_json, parse_telnet_line,
};
use libfuzzer_sys::fuzz_target;

const MAX_LINE: usize = 128;

fn decode(chunks: &[&[u8]]) -> Vec<String> {
    let mut d = TelnetDecoder::with_max_line_len(MAX_LINE);
    let mut out = Vec::new();
    for chunk in chunks {
        d.feed(chunk, |n, r| out.push(format!("{n} {r:?}")));
        assert!(d.buffered() <= MAX_LINE);
    }
    d.finish(|n, r| out.push(format!("{n} {r:?}")));
    out
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_telnet_line(data) {
        let _ = e.telnet_reply();
    }
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(cut);
    assert_eq!(decode(&[a, b]), decode(&[data]));

    let limits = PutLimits {
        max_body_bytes: 1 << 16,
        max_points: 64,
    };
    match parse_put_json(data, &limits) {
        Ok(batch) => {
            let (status, _) = batch.response(true, false);
            assert_eq!(status == 200, batch.is_accepted());
            for p in &batch.points {
                assert!(p.series_key().is_ok());
            }
        }
        Err(e) => {
            let _ = error_response(&e);
        }
    }
});
