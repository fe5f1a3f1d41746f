//! Canonical series keys: decode, and re-encode what decodes.
#![no_main]
use floe_storage_format::SeriesKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = SeriesKey::decode(data) {
        assert_eq!(k.canonical_bytes(), data);
    }
});
