//! Prometheus remote write bodies: the first byte picks raw protobuf or snappy block; what
//! decodes re-encodes and decodes to the same series, bit for bit.
#![no_main]
use floe_node::ingest::remote_write::{
    Limits, decode_write_protobuf, decode_write_request, encode_write_request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let decoded = if mode & 1 == 0 {
        decode_write_protobuf(body, &limits)
    } else {
        decode_write_request(body, &limits)
    };
    let Ok((series, stats)) = decoded else {
        return;
    };
    assert_eq!(series.len(), stats.series);
    for s in &series {
        s.to_series_key()
            .expect("a decoded series is a valid Floe series key");
    }
    let (again, _) = decode_write_request(&encode_write_request(&series), &limits)
        .expect("re-encoded output decodes");
    assert_eq!(again.len(), series.len());
    for (a, b) in again.iter().zip(&series) {
        assert!(a.bit_eq(b));
    }
});
