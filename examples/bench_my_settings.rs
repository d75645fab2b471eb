//! A criterion bench of your own socket settings: copy this file into your project's
//! `benches/`, and add to its Cargo.toml
//!
//! ```toml
//! [dev-dependencies]
//! sockbench = { path = "../sockbench", features = ["criterion"] }  # or git = "<its URL>"
//! criterion = "0.5"
//!
//! [[bench]]
//! name = "bench_my_settings"
//! harness = false
//! ```
//!
//! `cargo bench` then measures, against a receiver in the same process, a TCP stream with
//! three buffer sizes × two message sizes (criterion's throughput is sockbench's goodput;
//! each case's goodput range is printed beside criterion's lines) and a 4 KiB TCP
//! request/response at the same buffer sizes (criterion's time per round trip is the
//! mean; sockbench prints p50/p99/p99.9 beside it). Here: `cargo run --example bench_my_settings --features criterion`
//! runs every case once (criterion's test mode); add `-- --bench` to measure.
//!
//! SOCKBENCH_BENCH_DURATION sets each test's measured time (default 300ms), and with
//! SOCKBENCH_RESULTS=DIR every test is also written to DIR as `sockbench run` writes its
//! results directory (each criterion sample a repetition), for `sockbench report DIR`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sockbench::{Pattern, Protocol, Receiver, Test};

/// Tests per case: criterion's least.
const SAMPLES: usize = 10;
/// Each test's warm-up, before its measured time.
const WARMUP: Duration = Duration::from_millis(100);

/// Each test's measured time: SOCKBENCH_BENCH_DURATION (`200ms`, `2s`), default 300 ms,
/// read as `--duration` is.
fn test_duration() -> Duration {
    let text = std::env::var("SOCKBENCH_BENCH_DURATION").unwrap_or_else(|_| "300ms".into());
    let spec = Test::new().set("duration", text.clone()).spec();
    spec.unwrap_or_else(|e| panic!("SOCKBENCH_BENCH_DURATION={text}: {e}"))
        .duration
}

/// A criterion sample is one whole test, whatever criterion's measurement time: the time
/// the samples take (the test's warm-up and duration, and its set-up), with room for a
/// loaded machine, so that criterion does not warn that it cannot complete them.
fn samples_time(duration: Duration) -> Duration {
    (WARMUP + duration) * 3 / 2 * SAMPLES as u32 + Duration::from_secs(1)
}

/// SO_SNDBUF and SO_RCVBUF, both ends.
const BUFFERS: [u64; 3] = [64 << 10, 256 << 10, 1 << 20];
/// Bytes per application write.
const MESSAGES: [u64; 2] = [16 << 10, 128 << 10];

fn my_settings(c: &mut Criterion) {
    let duration = test_duration();
    let receiver = Receiver::in_process().expect("an in-process receiver");
    let mut group = c.benchmark_group("tcp_stream");
    group
        .sample_size(SAMPLES)
        .measurement_time(samples_time(duration));
    let mut outcomes = Vec::new();
    for buffer in BUFFERS {
        for msg in MESSAGES {
            let test = Test::new()
                .protocol(Protocol::Tcp)
                .sndbuf(buffer)
                .rcvbuf(buffer)
                .msg_size(msg)
                .duration(duration)
                .warmup(WARMUP);
            let id = format!("buffer={}K/msg={}K", buffer >> 10, msg >> 10);
            let summary = sockbench::criterion::bench(&mut group, &id, &test, &receiver)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            outcomes.extend(summary.outcomes);
        }
    }
    group.finish();

    // A 4 KiB request/response with TCP_NODELAY, at each buffer size: criterion's time is
    // the mean round trip; sockbench prints p50/p99/p99.9 beside it.
    let mut group = c.benchmark_group("tcp_rr_4K");
    group
        .sample_size(SAMPLES)
        .measurement_time(samples_time(duration));
    for buffer in BUFFERS {
        let test = Test::new()
            .protocol(Protocol::Tcp)
            .pattern(Pattern::Rr)
            .msg_size(4 << 10)
            .nodelay(true)
            .sndbuf(buffer)
            .rcvbuf(buffer)
            .duration(duration)
            .warmup(WARMUP);
        let id = format!("buffer={}K", buffer >> 10);
        let summary = sockbench::criterion::bench(&mut group, &id, &test, &receiver)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        outcomes.extend(summary.outcomes);
    }
    group.finish();

    // Nothing ran when criterion's filter (or --list) left every case out.
    if let Some(dir) = std::env::var_os("SOCKBENCH_RESULTS").filter(|_| !outcomes.is_empty()) {
        sockbench::write_results(dir.as_ref(), "bench_my_settings", &outcomes)
            .unwrap_or_else(|e| panic!("writing the results: {e}"));
    }
}

criterion_group!(benches, my_settings);
criterion_main!(benches);
