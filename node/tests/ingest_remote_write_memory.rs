//! Memory bounds of the remote write decoder, measured with a counting global allocator: a
//! lying snappy header allocates nothing for the body, and the peak memory of a decode is a
//! small multiple of the decompressed size, whatever the request holds.
//!
//! The tests run one at a time (a mutex) because the counters are process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use floe_node::ingest::remote_write::{
    DecodedSeries, Limits, compress, decode_write_request, encode_write_request, proto,
};
use prost::Message;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's obligations are passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's obligations are passed on unchanged.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

/// Peak bytes allocated above the starting level while `f` runs (its result included).
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

#[test]
fn lying_snappy_header_allocates_nothing_for_the_body() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00];
    let (result, peak) = peak_during(|| decode_write_request(&body, &Limits::default()));
    assert!(result.is_err());
    assert!(peak < 4096, "{peak} bytes allocated");
}

fn ratio_of(name: &str, body: &[u8]) -> f64 {
    let raw_len = snap::raw::decompress_len(body).expect("snappy header");
    let (result, peak) = peak_during(|| decode_write_request(body, &Limits::default()));
    let (series, stats) = result.expect("valid request");
    let ratio = peak as f64 / raw_len as f64;
    println!(
        "{name}: {raw_len} decompressed bytes, {} series, {} samples, peak {peak} bytes ({ratio:.1}x)",
        series.len(),
        stats.samples
    );
    ratio
}

#[test]
fn peak_memory_is_a_small_multiple_of_the_decompressed_size() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Realistic: 10,000 series of 11 labels and one sample.
    let realistic: Vec<DecodedSeries> = (0..10_000)
        .map(|i| DecodedSeries {
            labels: (0..10)
                .map(|l| (format!("label_{l}"), format!("value_{l}_{}", i % 97)))
                .chain([("__name__".to_string(), format!("metric_{}", i % 50))])
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect(),
            samples: vec![(1_700_000_000_000, i as f64)],
        })
        .collect();
    let realistic = ratio_of("realistic", &encode_write_request(&realistic));

    // Densest samples: empty Sample messages (2 bytes each, 16 bytes decoded).
    let dense_samples = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: vec![proto::Label {
                name: "__name__".into(),
                value: "m".into(),
            }],
            samples: vec![proto::Sample::default(); 500_000],
            ..proto::TimeSeries::default()
        }],
        metadata: Vec::new(),
    };
    let dense_samples = ratio_of("dense samples", &compress(&dense_samples.encode_to_vec()));

    // Densest labels: one-byte names and values, 128 labels per series.
    let names: Vec<String> = (0..127).map(|i| format!("l{i}")).collect();
    let dense_labels = proto::WriteRequest {
        timeseries: (0..4_000)
            .map(|_| proto::TimeSeries {
                labels: std::iter::once(proto::Label {
                    name: "__name__".into(),
                    value: "m".into(),
                })
                .chain(names.iter().map(|n| proto::Label {
                    name: n.clone(),
                    value: "v".into(),
                }))
                .collect(),
                samples: vec![proto::Sample::default()],
                ..proto::TimeSeries::default()
            })
            .collect(),
        metadata: Vec::new(),
    };
    let dense_labels = ratio_of("dense labels", &compress(&dense_labels.encode_to_vec()));

    // Densest skipped content: empty histograms and exemplars cost nothing once decoded.
    let skipped = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: vec![proto::Label {
                name: "__name__".into(),
                value: "m".into(),
            }],
            histograms: vec![proto::Histogram::default(); 300_000],
            exemplars: vec![proto::Exemplar::default(); 300_000],
            ..proto::TimeSeries::default()
        }],
        metadata: Vec::new(),
    };
    let skipped = ratio_of(
        "skipped histograms and exemplars",
        &compress(&skipped.encode_to_vec()),
    );

    // One series with a million labels: rejected (max_labels_per_series), but only after
    // its message is decoded; the worst case for the one-series-at-a-time decoder.
    let huge_series = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: (0..1_000_000)
                .map(|_| proto::Label {
                    name: "a".into(),
                    value: "v".into(),
                })
                .collect(),
            ..proto::TimeSeries::default()
        }],
        metadata: Vec::new(),
    };
    let body = compress(&huge_series.encode_to_vec());
    let raw_len = snap::raw::decompress_len(&body).expect("snappy header");
    let (result, peak) = peak_during(|| decode_write_request(&body, &Limits::default()));
    assert!(result.is_err());
    let huge = peak as f64 / raw_len as f64;
    println!(
        "one huge series (rejected): {raw_len} decompressed bytes, peak {peak} bytes ({huge:.1}x)"
    );

    for (name, ratio) in [
        ("one huge series", huge),
        ("realistic", realistic),
        ("dense samples", dense_samples),
        ("dense labels", dense_labels),
        ("skipped", skipped),
    ] {
        assert!(
            ratio < 32.0,
            "{name}: peak {ratio:.1}x the decompressed size"
        );
    }
}
