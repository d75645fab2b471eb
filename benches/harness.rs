//! criterion benches that drive the real harness — a receiver and a sender over loopback
//! through the library's facade (`sockbench::Test`, `Receiver`, `Outcome`) — beside a
//! bare baseline on the same sockets, and the hot recording path.
//!
//! Narrow the matrix with environment variables (criterion owns the arguments after
//! `cargo bench --`):
//!   SOCKBENCH_BENCH_PROTOS=tcp,udp,unix-stream   SOCKBENCH_BENCH_MSG_SIZES=1K,64K
//!   SOCKBENCH_BENCH_SNDBUFS=auto,256K            SOCKBENCH_BENCH_DURATION=300ms
//!   SOCKBENCH_BENCH_WORKLOAD=workloads/x.toml    (its cases replace the matrix)
//!
//! Each stream iteration is one message of `msg_size` bytes, timed by the receiver's own
//! clock: criterion's throughput is the harness's measured goodput. Each rr iteration is
//! one round trip: the mean of the harness's histogram.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sockbench::measure::{latency_histogram, IntervalCounter, SeqTracker};
use sockbench::spec::units::parse_size;
use sockbench::spec::workload::Workload;
use sockbench::sys::buffer::MsgBuf;
use sockbench::{Outcome, Pattern, Receiver, Test};

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn duration() -> String {
    std::env::var("SOCKBENCH_BENCH_DURATION").unwrap_or_else(|_| "300ms".to_string())
}

/// One in-process receiver for every bench.
fn receiver() -> &'static Receiver {
    static RECEIVER: OnceLock<Receiver> = OnceLock::new();
    RECEIVER.get_or_init(|| Receiver::in_process().expect("an in-process receiver"))
}

/// A case to bench: a test of the facade, or a workload file's case.
enum Case {
    Test(Test),
    Planned(Box<sockbench::spec::config::TestSpec>),
}

impl Case {
    fn pattern(&self) -> Pattern {
        match self {
            Case::Test(t) => t.spec().expect("a valid test").pattern,
            Case::Planned(s) => s.pattern,
        }
    }

    fn msg_size(&self) -> u64 {
        u64::from(match self {
            Case::Test(t) => t.spec().expect("a valid test").msg_size,
            Case::Planned(s) => s.msg_size,
        })
    }

    /// Runs the test and insists it ended ok.
    fn run(&self) -> Outcome {
        let outcome = match self {
            Case::Test(t) => t.run(receiver()),
            Case::Planned(s) => receiver().run_spec((**s).clone(), String::new()),
        };
        outcome
            .and_then(Outcome::ok)
            .unwrap_or_else(|e| panic!("bench test failed: {e}"))
    }
}

fn test(settings: &[(&str, &str)]) -> Test {
    let mut t = Test::new()
        .set("duration", duration())
        .set("warmup", "100ms");
    for (k, v) in settings {
        t = t.set(k, *v);
    }
    t
}

/// The cases to bench: the workload's, or the matrix from the environment.
fn cases() -> Vec<(String, Case)> {
    if let Ok(path) = std::env::var("SOCKBENCH_BENCH_WORKLOAD") {
        let mut w = Workload::from_file(path.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        w.set(&format!("duration={}", duration())).unwrap();
        return w
            .expand()
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    format!("{}/{}", c.spec.protocol, c.label.replace(' ', "/")),
                    Case::Planned(Box::new(c.spec)),
                )
            })
            .collect();
    }
    let mut out = Vec::new();
    for proto in env_list("SOCKBENCH_BENCH_PROTOS", "tcp,udp,unix-stream") {
        for msg in env_list("SOCKBENCH_BENCH_MSG_SIZES", "1K,64K") {
            for sndbuf in env_list("SOCKBENCH_BENCH_SNDBUFS", "auto,256K") {
                let dgram = proto == "udp" || proto == "unix-dgram";
                // A datagram cannot exceed the protocol's limit: cap the message there.
                let msg = if dgram && parse_size(&msg).unwrap_or(0) > 65507 {
                    "63K".to_string()
                } else {
                    msg.clone()
                };
                let t = test(&[("proto", &proto), ("msg_size", &msg), ("sndbuf", &sndbuf)]);
                out.push((format!("{proto}/msg={msg}/sndbuf={sndbuf}"), Case::Test(t)));
            }
        }
    }
    out
}

fn stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (id, case) in cases()
        .into_iter()
        .filter(|(_, c)| c.pattern() == Pattern::Stream)
    {
        let msg_size = case.msg_size();
        g.throughput(Throughput::Bytes(msg_size));
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter_custom(|iters| {
                let bytes_per_s = case.run().goodput_bps().expect("a measured goodput") / 8.0;
                Duration::from_secs_f64(iters as f64 * msg_size as f64 / bytes_per_s)
            })
        });
    }
    g.finish();
}

fn rr(c: &mut Criterion) {
    let mut g = c.benchmark_group("rr");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut cases: Vec<(String, Case)> = cases()
        .into_iter()
        .filter(|(_, c)| c.pattern() != Pattern::Stream)
        .collect();
    if cases.is_empty() {
        for proto in env_list("SOCKBENCH_BENCH_PROTOS", "tcp,udp,unix-stream") {
            let mut settings = vec![
                ("proto", proto.as_str()),
                ("pattern", "rr"),
                ("msg_size", "64"),
            ];
            if proto == "tcp" {
                settings.push(("nodelay", "true"));
            }
            cases.push((format!("{proto}/64B"), Case::Test(test(&settings))));
        }
    }
    for (id, case) in cases {
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter_custom(|iters| {
                let mean_ns = case.run().rtt().expect("round trips").mean;
                Duration::from_nanos((mean_ns * iters as f64) as u64)
            })
        });
    }
    g.finish();
}

/// The simplest blocking TCP loops on loopback, so that the harness's own overhead is a
/// measured ratio: `overhead/sockbench` against `overhead/bare` in the same run. Both use
/// page-aligned buffers, as sockbench's loops do (into a Vec's buffer, 16 bytes into a
/// page, the kernel's copy to user space took three times as long: harness/sys/buffer.rs).
/// Here both ends are threads of this process; for
/// separate processes and interleaved repetitions, see `scripts/compare.sh` and
/// `sockbench-bare` (benches/bare.rs).
fn overhead(c: &mut Criterion) {
    const MSG: usize = 128 * 1024;
    let mut g = c.benchmark_group("overhead");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    // Bulk: a writer thread, a reader timing what it reads.
    g.throughput(Throughput::Bytes(MSG as u64));
    let s = Case::Test(test(&[("proto", "tcp"), ("msg_size", "128K")]));
    g.bench_function("stream_128K/sockbench", |b| {
        b.iter_custom(|iters| {
            let goodput_bps = s.run().goodput_bps().unwrap();
            Duration::from_secs_f64(iters as f64 * MSG as f64 * 8.0 / goodput_bps)
        })
    });
    g.bench_function("stream_128K/bare", |b| {
        b.iter_custom(|iters| bare_stream(MSG, iters))
    });

    // Ping-pong: 64 bytes each way, TCP_NODELAY.
    g.throughput(Throughput::Elements(1));
    let s = Case::Test(test(&[
        ("proto", "tcp"),
        ("pattern", "rr"),
        ("msg_size", "64"),
        ("nodelay", "true"),
    ]));
    // Both report the median round trip (criterion's time per iteration is set to the
    // p50, from HdrHistograms), so that the ratio is p50 to p50.
    g.bench_function("pingpong_64B_p50/sockbench", |b| {
        b.iter_custom(|iters| Duration::from_nanos(s.run().rtt().unwrap().p50 * iters))
    });
    let addr = echo_server();
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    g.bench_function("pingpong_64B_p50/bare", |b| {
        b.iter_custom(|iters| {
            let mut buf = MsgBuf::new(64, 0x51);
            let mut h = latency_histogram();
            // At least as many round trips as the harness's run holds, for a stable median.
            for _ in 0..iters.max(2000) {
                let start = Instant::now();
                client.write_all(&buf).unwrap();
                client.read_exact(&mut buf).unwrap();
                h.saturating_record(start.elapsed().as_nanos() as u64);
            }
            Duration::from_nanos(h.value_at_quantile(0.5) * iters)
        })
    });
    g.finish();
}

/// `iters` messages of `msg` bytes through a bare TCP connection, the reader's time
/// scaled to the bytes it timed.
fn bare_stream(msg: usize, iters: u64) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let buf = MsgBuf::new(msg, 0x5a);
        for _ in 0..iters {
            s.write_all(&buf).unwrap();
        }
    });
    let (mut r, _) = listener.accept().unwrap();
    let mut buf = MsgBuf::new(msg, 0);
    let total = iters as usize * msg;
    let mut got = r.read(&mut buf).unwrap();
    let start = Instant::now();
    while got < total {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n;
    }
    let t = start.elapsed();
    writer.join().unwrap();
    // The first read is not timed: scale to the bytes that were.
    t.mul_f64(total as f64 / (total - msg.min(total - 1)) as f64)
}

/// A bare TCP echo server of 64-byte messages, TCP_NODELAY, on loopback.
fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut s = conn.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = MsgBuf::new(64, 0);
            while s.read_exact(&mut buf).is_ok() {
                if s.write_all(&buf).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

/// The recording path of the measured loops: any cost added here shows.
fn recording(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    let mut h = latency_histogram();
    let mut v = 12_345u64;
    g.bench_function("histogram_sample", |b| {
        b.iter(|| {
            v = v
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            h.saturating_record(black_box(10_000 + (v >> 44)));
        })
    });
    let t0 = Instant::now();
    let mut iv = IntervalCounter::new(
        t0,
        Duration::from_secs(1),
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    let now = t0 + Duration::from_millis(1500);
    g.bench_function("interval_sample", |b| {
        b.iter(|| iv.record(black_box(now), black_box(1400), 1))
    });
    let mut seqs = SeqTracker::default();
    let mut seq = 0u64;
    g.bench_function("sequence_number", |b| {
        b.iter(|| {
            seq += 1;
            seqs.record(black_box(seq))
        })
    });
    g.bench_function("clock_read", |b| b.iter(Instant::now));
    g.finish();
}

criterion_group!(benches, recording, overhead, stream, rr);
criterion_main!(benches);
