//! Label index memory: bytes per series for 100,000 TSBS-like series (10 metric names × 10,000
//! hosts, 10 tags each, `hostname` high-cardinality), checked against what the allocator
//! actually handed out. Run with `--nocapture` to see the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use floe_datagen::{Config, Generator, METRIC_NAMES};
use floe_node::index::{LabelIndex, Matcher};
use floe_storage_format::SeriesKey;

/// Counts live heap bytes and blocks.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const HOSTS: u32 = 10_000;

#[test]
fn tsbs_like_series_cost_well_under_200_bytes_each() {
    let generator = Generator::new(Config {
        hosts: HOSTS,
        ..Config::default()
    })
    .expect("valid config");
    let (bytes_before, blocks_before) = live();
    let mut index = LabelIndex::new();
    for host in 0..HOSTS {
        let tags = generator.host_tags(host);
        for metric in METRIC_NAMES {
            let key = SeriesKey::new(metric, tags.iter().cloned()).expect("valid key");
            index.insert(&key);
        }
    }
    let (bytes_after, blocks_after) = live();
    let counted = (bytes_after - bytes_before) as usize;
    let blocks = (blocks_after - blocks_before) as usize;
    let estimate = index.memory_bytes();
    let n = index.len();
    assert_eq!(n, HOSTS as usize * METRIC_NAMES.len());
    println!(
        "{n} series: memory_bytes {estimate} ({:.1} B/series); allocator: {counted} bytes in \
         {blocks} blocks ({:.1} B/series, {:.1} with 16 B/block overhead)",
        estimate as f64 / n as f64,
        counted as f64 / n as f64,
        (counted + 16 * blocks) as f64 / n as f64,
    );
    // The estimate is honest: requested bytes plus 16 per block, within 5%.
    let truth = (counted + 16 * blocks) as f64;
    assert!(
        (estimate as f64 - truth).abs() < truth * 0.05,
        "{estimate} vs {truth}"
    );
    assert!(estimate / n < 200, "{} bytes per series", estimate / n);
    index.shrink_to_fit();
    println!(
        "after shrink_to_fit: memory_bytes {:.1} B/series",
        index.memory_bytes() as f64 / n as f64
    );
    let one_host = index.select(&[Matcher::equal("hostname", "host_42")]);
    assert_eq!(one_host.len(), METRIC_NAMES.len());
}

fn live() -> (isize, isize) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
    )
}
