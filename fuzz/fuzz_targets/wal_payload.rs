//! One WAL record payload (past its crc): series definitions and sample batches.
#![no_main]
use floe_storage_format::wal::{SampleBatch, decode_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut batch = SampleBatch::new();
    let _ = decode_payload(data, &mut batch);
});
