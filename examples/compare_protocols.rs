//! TCP, unix-stream and UDP request/response with the same 4 KiB messages, side by side:
//! the round trips' p50 and p99 from each test's HdrHistogram.
//!
//! `cargo run --example compare_protocols`; SOCKBENCH_BENCH_DURATION sets each test's
//! measured time (default 1s).

use std::time::Duration;

use sockbench::{Pattern, Protocol, Receiver, Test};

fn main() -> Result<(), sockbench::Error> {
    let duration = std::env::var("SOCKBENCH_BENCH_DURATION").unwrap_or_else(|_| "1s".into());
    let receiver = Receiver::in_process()?;
    println!(
        "{:<12} {:>12} {:>10} {:>10}",
        "protocol", "transactions", "p50 us", "p99 us"
    );
    for proto in [Protocol::Tcp, Protocol::UnixStream, Protocol::Udp] {
        let mut test = Test::new()
            .protocol(proto)
            .pattern(Pattern::Rr)
            .msg_size(4096)
            .set("duration", duration.as_str())
            .warmup(Duration::from_millis(100));
        if proto == Protocol::Tcp {
            test = test.nodelay(true);
        }
        let outcome = test.run(&receiver)?.ok()?;
        let rtt = outcome.rtt().expect("an rr test times its round trips");
        println!(
            "{:<12} {:>12} {:>10.1} {:>10.1}",
            proto.as_str(),
            outcome.transactions().unwrap_or(0),
            rtt.p50 as f64 / 1e3,
            rtt.p99 as f64 / 1e3
        );
    }
    Ok(())
}
