//! One rollup chunk. The crc is recomputed so the fuzzer reaches the column decoders.
#![no_main]
use floe_storage_format::rollup::{RollupColumns, decode_rollup_chunk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut chunk = data.to_vec();
    let crc = floe_storage_format::crc32(&chunk);
    chunk.extend_from_slice(&crc.to_le_bytes());
    let mut cols = RollupColumns::new(60_000);
    if decode_rollup_chunk(&chunk, &mut cols).is_ok() {
        cols.validate().expect("a decoded rollup chunk is valid");
    }
});
