//! Memory stays flat as the simulated duration grows: a run ten times as long peaks at
//! about the same number of live heap bytes (streaming histograms and time integrals, a
//! reused request slab — nothing is kept per request). Measured with a counting global
//! allocator, which is why this file holds a single test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use switchyard_sim::{run, Scenario};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak live bytes during one run, above what was live before it.
fn peak_bytes(duration_s: u32) -> usize {
    let text = format!(
        r#"duration = "{duration_s}s"
           algorithms = ["least_connections"]
           arrivals = {{ process = "poisson", rate = 100.0 }}
           service = {{ distribution = "exponential", mean = "30ms" }}
           health = {{ interval = "2s", timeout = "1s" }}
           [[server]]
           name = "a"
           [[server]]
           name = "b"
           [[server]]
           name = "c"
           [[server]]
           name = "d""#
    );
    let scenario = Scenario::parse(&text).expect("parses");
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let report = run(&scenario, false).expect("runs");
    assert!(report.runs[0].completed > duration_s as u64 * 90);
    drop(report);
    PEAK.load(Relaxed) - before
}

#[test]
fn memory_stays_flat_as_the_simulated_duration_grows() {
    let short = peak_bytes(200); // ~20,000 requests
    let long = peak_bytes(2_000); // ~200,000 requests
    eprintln!("peak live heap: {short} bytes for 200 s, {long} bytes for 2000 s");
    assert!(
        long < short + short / 4,
        "{long} bytes for 2000 s vs {short} for 200 s"
    );
}
