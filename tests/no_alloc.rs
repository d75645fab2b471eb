//! The measured loops' recording path allocates nothing once set up: a counting global
//! allocator (this test binary's own) watches it. It counts per thread, so that the test
//! runner's own threads (which may allocate at any moment) do not count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use sockbench::measure::{latency_histogram, IntervalCounter, SeqTracker};

struct Counting;

thread_local! {
    // A const-initialised Cell: reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // try_with: the thread may be tearing down its locals.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn recording_samples_allocates_nothing() {
    let t0 = Instant::now();
    let run = Duration::from_secs(10);
    let mut hist = latency_histogram();
    let mut intervals =
        IntervalCounter::new(t0, Duration::from_secs(1), Duration::from_millis(500), run);
    let mut seqs = SeqTracker::with_capacity(1_000_000);
    let before = allocations();
    for i in 0..1_000_000u64 {
        // Latencies from 1 us to about a second, times across the whole planned run.
        hist.saturating_record(1_000 + (i * 7919) % 1_000_000_000);
        intervals.record(t0 + Duration::from_micros(i * 10), 1400, 1);
        seqs.record(i);
    }
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "the recording path allocated {} times",
        after - before
    );
    // The counter does see this thread's allocations.
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(
        allocations() > after,
        "the counting allocator missed an allocation"
    );
    drop(v);
    assert_eq!(hist.len(), 1_000_000);
    assert_eq!(seqs.unique, 1_000_000);
}

#[test]
fn recording_sizes_allocates_nothing() {
    use sockbench::measure::sizes::SizeBuckets;
    use sockbench::spec::dist::{DistSpec, SizeSampler};
    let d = DistSpec::parse("lognormal:median=1K,p99=64K", None)
        .unwrap()
        .resolve(4, 1 << 26)
        .unwrap();
    let sampler = SizeSampler::new(&d);
    let mut rng = sockbench::spec::dist::rng_for(1, 0, 0);
    let mut sizes = SizeBuckets::with_rtt(d.min(), d.max());
    let before = allocations();
    for i in 0..1_000_000u64 {
        let n = sampler.sample(&mut rng) as u64;
        sizes.record(n);
        sizes.record_rtt(n, 1_000 + i % 100_000);
    }
    assert_eq!(
        allocations() - before,
        0,
        "the size recording path allocated"
    );
    assert_eq!(sizes.messages.iter().sum::<u64>(), 1_000_000);
}
