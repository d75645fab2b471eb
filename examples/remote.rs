//! The same tests against a `sockbench serve` on another host:
//!
//! ```text
//! there$ sockbench serve --listen 0.0.0.0:5301 --psk-file key
//! here$  cargo run --example remote -- there.example:5301 --psk-file key
//! ```
//!
//! Runs a TCP stream (goodput, and the buffer sizes the kernels applied) and a TCP
//! request/response (p50/p99). SOCKBENCH_BENCH_DURATION sets each test's measured time
//! (default 2s).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sockbench::{Pattern, Protocol, Receiver, Test};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut address, mut psk_file) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--psk-file" => psk_file = args.next().map(PathBuf::from),
            _ if address.is_none() => address = Some(arg),
            _ => address = None,
        }
    }
    let Some(address) = address else {
        eprintln!("usage: remote HOST[:PORT] [--psk-file FILE]");
        return ExitCode::from(2);
    };
    match run(&address, psk_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(address: &str, psk_file: Option<PathBuf>) -> Result<(), sockbench::Error> {
    let mut receiver = Receiver::remote(address)?;
    if let Some(path) = psk_file {
        receiver = receiver.with_psk_file(&path)?;
    }
    let duration = std::env::var("SOCKBENCH_BENCH_DURATION").unwrap_or_else(|_| "2s".into());
    let base = Test::new()
        .protocol(Protocol::Tcp)
        .set("duration", duration.as_str())
        .warmup(Duration::from_millis(200));

    let stream = base.clone().msg_size(128 << 10).run(&receiver)?.ok()?;
    let knobs = stream.knobs();
    let knob = |k: &str| knobs.get(k).map_or("", String::as_str).to_string();
    println!(
        "stream to {}: {:.3} Gbit/s; SO_SNDBUF {} (sending end), SO_RCVBUF {} (receiving end)",
        receiver.addr(),
        stream.goodput_bps().unwrap_or(0.0) / 1e9,
        knob("sndbuf_eff"),
        knob("rcvbuf_eff")
    );

    let rr = base
        .pattern(Pattern::Rr)
        .msg_size(64)
        .nodelay(true)
        .run(&receiver)?
        .ok()?;
    let rtt = rr.rtt().expect("an rr test times its round trips");
    println!(
        "64 B request/response: {} transactions, p50 {:.1} us, p99 {:.1} us",
        rr.transactions().unwrap_or(0),
        rtt.p50 as f64 / 1e3,
        rtt.p99 as f64 / 1e3
    );
    Ok(())
}
