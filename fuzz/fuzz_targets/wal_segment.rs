//! A whole WAL segment: header check, then replay until the good prefix ends.
#![no_main]
use floe_storage_format::wal::{SampleBatch, SegmentReader, decode_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, mut r)) = SegmentReader::new(data) {
        let mut batch = SampleBatch::new();
        while let Some(p) = r.next_payload() {
            let _ = decode_payload(p, &mut batch);
        }
        assert!(r.valid_len() as usize <= data.len());
    }
});
