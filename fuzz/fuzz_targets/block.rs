//! A whole block file: open (header, footer, index), then read every series and the keys.
#![no_main]
use floe_storage_format::Columns;
use floe_storage_format::block::BlockReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else { return };
    if std::io::Write::write_all(&mut file, data).is_err() {
        return;
    }
    if let Ok(r) = BlockReader::open(file.path()) {
        let mut cols = Columns::default();
        for i in 0..r.series_count() {
            let _ = r.read_entry(i, &mut cols);
        }
        let _ = r.series_keys();
    }
});
