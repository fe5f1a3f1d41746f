//! One chunk. The crc is recomputed so the fuzzer reaches the column decoders (and pco).
#![no_main]
use floe_storage_format::Columns;
use floe_storage_format::chunk::decode_chunk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut chunk = data.to_vec();
    let crc = floe_storage_format::crc32(&chunk);
    chunk.extend_from_slice(&crc.to_le_bytes());
    let mut cols = Columns::default();
    if decode_chunk(&chunk, &mut cols).is_ok() {
        assert!(floe_storage_format::is_strictly_increasing(&cols.ts));
        assert_eq!(cols.ts.len(), cols.values.len());
    }
});
