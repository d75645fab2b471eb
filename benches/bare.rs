//! `sockbench-bare`: the simplest loops that do the same I/O as sockbench's measured
//! ones, so that the harness's own overhead is a ratio measured in the same run
//! (`scripts/compare.sh`). Like `sockbench run`, the two ends are two processes on
//! loopback: this one (the active end) and a child it starts (the passive end).
//!
//!   sockbench-bare stream   [--msg-size 131072] [--duration 3] [--warmup 1]
//!       blocking write(2) of one page-aligned message, again and again; the child reads
//!       into a page-aligned buffer of the same size and counts. Prints the goodput the
//!       reader saw after the warm-up, and the writes: `goodput_bps=... messages=...`.
//!   sockbench-bare pingpong [--msg-size 64] [--duration 3] [--warmup 1]
//!       TCP_NODELAY; write a message, read the echo, time it; the child echoes. Prints
//!       the median round trip after the warm-up: `rtt_p50_ns=... round_trips=...`.
//!
//! Nothing else: no options beyond TCP_NODELAY for ping-pong, no timeouts, no
//! intervals, one clock read per message (needed to find the end and the warm-up).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use sockbench::measure::latency_histogram;
use sockbench::sys::buffer::MsgBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Loop {
    Stream,
    Pingpong,
}

#[derive(Parser, Debug)]
#[command(
    name = "sockbench-bare",
    about = "Bare TCP loops on loopback: the baseline for sockbench's overhead ratios"
)]
struct Args {
    #[arg(value_enum)]
    which: Loop,
    /// Bytes per write (stream) or per message each way (pingpong).
    #[arg(long)]
    msg_size: Option<usize>,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Internal: run the passive end, announcing its port on stdout.
    #[arg(long, hide = true)]
    child: bool,
}

fn main() {
    let args = Args::parse();
    let size = args.msg_size.unwrap_or(if args.which == Loop::Stream {
        128 * 1024
    } else {
        64
    });
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if size == 0 || !positive(args.duration) || !(args.warmup == 0.0 || positive(args.warmup)) {
        eprintln!("sockbench-bare: --msg-size and --duration must be positive");
        std::process::exit(2);
    }
    if args.child {
        child(args.which, size, Duration::from_secs_f64(args.warmup));
        return;
    }
    // The passive end in its own process, as sockbench's local receiver is.
    let mut kid = Command::new(std::env::current_exe().expect("own path"))
        .arg(match args.which {
            Loop::Stream => "stream",
            Loop::Pingpong => "pingpong",
        })
        .args(["--child", "--msg-size", &size.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child");
    let mut line = String::new();
    BufReader::new(kid.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the child's port");
    let port: u16 = line.trim().parse().expect("a port number");
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let warm = Duration::from_secs_f64(args.warmup);
    let end = warm + Duration::from_secs_f64(args.duration);
    match args.which {
        Loop::Stream => stream_writer(sock, size, end),
        Loop::Pingpong => pingpong_client(sock, size, warm, end),
    }
    let status = kid.wait().expect("wait for the child");
    assert!(status.success(), "the child failed: {status}");
}

fn child(which: Loop, size: usize, warm: Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let (sock, _) = listener.accept().expect("accept");
    match which {
        Loop::Stream => stream_reader(sock, size, warm),
        Loop::Pingpong => echo(sock, size),
    }
}

/// Writes until `end` after the first write, then half-closes and reads the reader's
/// result: bytes and nanoseconds after its warm-up.
fn stream_writer(mut sock: TcpStream, size: usize, end: Duration) {
    let buf = MsgBuf::new(size, 0x5a);
    let t0 = Instant::now();
    let mut messages = 0u64;
    while t0.elapsed() < end {
        sock.write_all(&buf).expect("write");
        messages += 1;
    }
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut result = [0u8; 16];
    sock.read_exact(&mut result).expect("the reader's result");
    let bytes = u64::from_le_bytes(result[..8].try_into().unwrap());
    let ns = u64::from_le_bytes(result[8..].try_into().unwrap());
    println!(
        "goodput_bps={:.0} messages={messages}",
        bytes as f64 * 8e9 / ns as f64
    );
}

/// Reads until the writer's FIN. The warm-up ends one warm-up after the first byte (the
/// writer's clock starts at its first write, within a round trip of that).
fn stream_reader(mut sock: TcpStream, size: usize, warm: Duration) {
    let mut buf = MsgBuf::new(size, 0);
    let n = sock.read(&mut buf).expect("read");
    assert!(n > 0, "no data");
    let t0 = Instant::now();
    let (mut counted, mut from, mut last) = (0u64, None, t0);
    loop {
        let n = sock.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        last = Instant::now();
        if from.is_some() {
            counted += n as u64;
        } else if last.duration_since(t0) >= warm {
            from = Some(last);
        }
    }
    let ns = from.map_or(0, |f| last.duration_since(f).as_nanos() as u64);
    let mut result = [0u8; 16];
    result[..8].copy_from_slice(&counted.to_le_bytes());
    result[8..].copy_from_slice(&ns.to_le_bytes());
    sock.write_all(&result).expect("send the result");
}

fn pingpong_client(mut sock: TcpStream, size: usize, warm: Duration, end: Duration) {
    sock.set_nodelay(true).unwrap();
    let mut req = MsgBuf::new(size, 0x51);
    let mut hist = latency_histogram();
    let t0 = Instant::now();
    loop {
        let start = Instant::now();
        let since = start.duration_since(t0);
        if since >= end {
            break;
        }
        sock.write_all(&req).expect("write");
        sock.read_exact(&mut req).expect("read the echo");
        if since >= warm {
            hist.saturating_record(start.elapsed().as_nanos() as u64);
        }
    }
    drop(sock);
    println!(
        "rtt_p50_ns={} round_trips={}",
        hist.value_at_quantile(0.5),
        hist.len()
    );
}

fn echo(mut sock: TcpStream, size: usize) {
    sock.set_nodelay(true).unwrap();
    let mut buf = MsgBuf::new(size, 0);
    while sock.read_exact(&mut buf).is_ok() {
        if sock.write_all(&buf).is_err() {
            break;
        }
    }
}
