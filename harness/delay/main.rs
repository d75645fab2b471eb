//! `sockbench-delay`: the lab's delay element. It forwards Ethernet frames between two
//! interfaces, each direction after a fixed one-way delay, in order, with optional
//! jitter (order kept) and loss drawn from a seeded generator, and counts what it
//! forwarded and dropped: printed when it ends (SIGTERM, SIGINT) and kept in a stats
//! file while it runs. It stands in for netem on kernels without it (scripts/lab.sh);
//! the router's tbf still shapes the link. docs/guide/paths.md tells how it works.
//!
//! It is a program of its own, never in the measured path of `sockbench`.

mod line;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use sockbench::spec::units::parse_duration;
use sockbench::sys::packet::{wait_frames, Outgoing, PacketSocket};
use sockbench::sys::signal::{stop_on_term, stop_requested};

use line::{DelayLine, Impairment, Verdict};
use stats::{Direction, Stats};

/// Forward frames between two interfaces after a delay, with jitter and loss.
#[derive(Debug, Parser)]
#[command(name = "sockbench-delay", version)]
struct Args {
    /// The two interfaces (e.g. wire0 wire1); frames read on one leave by the other.
    #[arg(num_args = 2, required = true, value_names = ["IF_A", "IF_B"])]
    interfaces: Vec<String>,
    /// One-way delay, each direction (e.g. 20ms, 500us).
    #[arg(long, default_value = "0ms")]
    delay: String,
    /// Each frame's delay is uniform in delay ± jitter; order is kept.
    #[arg(long, default_value = "0ms")]
    jitter: String,
    /// Share of IP frames lost, each direction: 0.1% or 0.001.
    #[arg(long, default_value = "0")]
    loss: String,
    /// Seed of the loss and jitter draws (direction A→B uses it, B→A the next value).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A JSON file of the counts, rewritten while running and at the end.
    #[arg(long)]
    stats: Option<PathBuf>,
    /// Frames a direction may hold before it drops new ones (counted as overflow).
    #[arg(long, default_value_t = 100_000)]
    limit: usize,
}

/// A loss share: `0.1%` or a fraction `0.001`, in 0..=1.
fn parse_loss(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let share = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("--loss '{text}': expected a share such as 0.1% or 0.001"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("--loss '{text}': a share between 0% and 100%"));
    }
    Ok(share)
}

fn impairment(args: &Args) -> Result<Impairment, String> {
    let dur = |flag: &str, v: &str| parse_duration(v).map_err(|e| format!("--{flag}: {e}"));
    Ok(Impairment {
        delay: dur("delay", &args.delay)?,
        jitter: dur("jitter", &args.jitter)?,
        loss: parse_loss(&args.loss)?,
    })
}

/// One way through the element: frames read on `from` wait in `line`, then leave by `to`.
struct Way {
    from: PacketSocket,
    to_name: String,
    from_name: String,
    line: DelayLine,
    warned: bool,
}

fn open(name: &str) -> Result<PacketSocket, String> {
    let sock = PacketSocket::open(name, Outgoing::Ignore)
        .map_err(|e| format!("interface {name}: {e} (needs root and the interface)"))?;
    // Room for a burst while the element is busy: 8 MiB is 5,000 full frames.
    sock.force_buffers(8 << 20)
        .map_err(|e| format!("interface {name}: SO_RCVBUFFORCE: {e}"))?;
    Ok(sock)
}

/// Reads every frame waiting on `way.from` into its line.
fn take_in(way: &mut Way, buf: &mut [u8]) -> Result<(), String> {
    loop {
        let frame = way
            .from
            .recv(buf)
            .map_err(|e| format!("reading {}: {e}", way.from_name))?;
        let Some(frame) = frame else {
            return Ok(());
        };
        if frame.truncated {
            way.line.counts.received += 1;
            way.line.counts.oversize += 1;
            continue;
        }
        let _: Verdict = way.line.offer(Instant::now(), &buf[..frame.len]);
    }
}

/// Sends every frame of `way` that is due, on `to`. A frame that finds no room is left
/// at the head of the line for the next turn, so that order is kept.
fn send_due(way: &mut Way, to: &PacketSocket) {
    let now = Instant::now();
    while let Some(frame) = way.line.due(now) {
        match to.send(frame) {
            Ok(true) => way.line.pop(true),
            Ok(false) => {
                way.line.counts.send_retries += 1;
                return;
            }
            Err(e) => {
                if !way.warned {
                    way.warned = true;
                    eprintln!(
                        "sockbench-delay: a frame of {} bytes could not leave by {}: {e} \
                         (offloads on? ethtool -K DEV tso off gso off gro off tx off)",
                        frame.len(),
                        way.to_name
                    );
                }
                way.line.pop(false);
            }
        }
    }
}

fn stats_of(args: &Args, imp: &Impairment, ways: &[Way; 2], running: bool) -> Stats {
    Stats {
        delay_ns: imp.delay.as_nanos() as u64,
        jitter_ns: imp.jitter.as_nanos() as u64,
        loss: imp.loss,
        seed: args.seed,
        running,
        directions: ways
            .iter()
            .map(|w| Direction {
                from: w.from_name.clone(),
                to: w.to_name.clone(),
                counts: w.line.counts.clone(),
            })
            .collect(),
    }
}

/// The forwarding loop, until SIGTERM or SIGINT.
fn forward(args: &Args, imp: Impairment) -> Result<[Way; 2], String> {
    let (a, b) = (&args.interfaces[0], &args.interfaces[1]);
    let way = |from: &str, to: &str, seed: u64| -> Result<Way, String> {
        Ok(Way {
            from: open(from)?,
            from_name: from.to_string(),
            to_name: to.to_string(),
            line: DelayLine::new(imp, seed, args.limit),
            warned: false,
        })
    };
    let mut ways = [way(a, b, args.seed)?, way(b, a, args.seed.wrapping_add(1))?];
    sockbench::sys::epoll::fine_timer_slack();
    let mut buf = vec![0u8; 65_536];
    let mut last_write = Instant::now();
    let mut written = None;
    write_stats(args, &stats_of(args, &imp, &ways, true));
    eprintln!(
        "sockbench-delay: {a} <-> {b}, delay {:?}, jitter {:?}, loss {}",
        imp.delay, imp.jitter, imp.loss
    );
    while !stop_requested() {
        for i in 0..2 {
            let (first, second) = ways.split_at_mut(1);
            let (way, other) = if i == 0 {
                (&mut first[0], &second[0])
            } else {
                (&mut second[0], &first[0])
            };
            send_due(way, &other.from);
        }
        let now = Instant::now();
        let next = ways.iter().filter_map(|w| w.line.next_due()).min();
        // Short waits when a frame found no room: the interface drains within microseconds.
        let wait = match next {
            Some(due) if due <= now => Duration::from_micros(50),
            Some(due) => (due - now).min(Duration::from_millis(50)),
            None => Duration::from_millis(50),
        };
        if wait_frames(&[&ways[0].from, &ways[1].from], wait) {
            for w in ways.iter_mut() {
                take_in(w, &mut buf)?;
            }
        }
        if last_write.elapsed() >= Duration::from_millis(100) {
            last_write = Instant::now();
            let s = stats_of(args, &imp, &ways, true);
            if written.as_ref() != Some(&s) {
                write_stats(args, &s);
                written = Some(s);
            }
        }
    }
    Ok(ways)
}

fn write_stats(args: &Args, s: &Stats) {
    if let Some(path) = &args.stats {
        if let Err(e) = s.write(path) {
            eprintln!("sockbench-delay: {}: {e}", path.display());
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let imp = match impairment(&args) {
        Ok(imp) => imp,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = stop_on_term() {
        eprintln!("error: signal handlers: {e}");
        return ExitCode::from(1);
    }
    // The stats file exists (with zero counts) once both interfaces are open: the lab
    // waits for it before it calls the path ready.
    match forward(&args, imp) {
        Ok(ways) => {
            let s = stats_of(&args, &imp, &ways, false);
            write_stats(&args, &s);
            print!("{}", s.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_takes_a_percentage_or_a_fraction() {
        assert_eq!(parse_loss("1%"), Ok(0.01));
        assert_eq!(parse_loss("0.1 %"), Ok(0.001));
        assert_eq!(parse_loss("0.25"), Ok(0.25));
        assert_eq!(parse_loss("0"), Ok(0.0));
        for bad in ["", "%", "x", "101%", "-1%", "1.5", "NaN"] {
            assert!(parse_loss(bad).is_err(), "{bad}");
        }
    }
}
