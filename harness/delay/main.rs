//! `sockbench-delay`: the lab's delay element. It forwards Ethernet frames between two
//! interfaces, each direction after a fixed one-way delay, in order, with optional
//! jitter (order kept) and loss drawn from a seeded generator, and counts what it
//! forwarded and dropped: printed when it ends (SIGTERM, SIGINT) and kept in a stats
//! file while it runs, and can keep every frame it dropped in a pcap file. It stands in for netem on kernels without it (scripts/lab.sh);
//! the router's tbf still shapes the link. docs/guide/paths.md tells how it works.
//!
//! It is a program of its own, never in the measured path of `sockbench`.

mod ledger;
mod line;
mod pcap;
mod stats;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use sockbench::sys::clock::thread_cpu_ns;
use sockbench::sys::packet::{wait_frames, Outgoing, PacketSocket};
use sockbench::sys::signal::{stop_on_term, stop_requested};

use ledger::Ledger;
use line::{DelayLine, Departure, Impairment, Verdict};
use pcap::Pcap;
use stats::{Direction, Stats, Wakes};
use writer::Writer;

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
    /// Share of IP frames lost, each direction, in percent: 0.1% (a bare number other than 0 is refused).
    #[arg(long, default_value = "0")]
    loss: String,
    /// Seed of the loss and jitter draws (direction A→B uses it, B→A the next value).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A JSON file of the counts, rewritten while running and at the end.
    #[arg(long)]
    stats: Option<PathBuf>,
    /// A pcap file of every frame dropped by the loss generator (both directions).
    #[arg(long)]
    drops: Option<PathBuf>,
    /// Frames a direction may hold before it drops new ones (counted as overflow).
    #[arg(long, default_value_t = 100_000)]
    limit: usize,
}

/// A loss share, `0.1%` (or `0`), as a fraction in 0..=1. A bare number is refused: netem
/// reads `loss 1` as 1 %.
fn parse_loss(text: &str) -> Result<f64, String> {
    sockbench::spec::path::loss_pct(text)
        .map(|pct| pct / 100.0)
        .ok_or_else(|| format!("--loss '{text}': expected a share with its unit, such as 0.1%"))
}

fn impairment(args: &Args) -> Result<Impairment, String> {
    let dur = |flag: &str, v: &str| {
        sockbench::spec::path::path_duration(v).ok_or_else(|| {
            format!("--{flag} '{v}': expected a duration with its unit, such as 20ms")
        })
    };
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
    // A frame's delay counts from the kernel's receive time, not from when the element
    // got round to reading it.
    sock.stamp_frames()
        .map_err(|e| format!("interface {name}: SO_TIMESTAMPNS: {e}"))?;
    Ok(sock)
}

/// When a frame stamped `stamp` by the kernel arrived, on the monotonic clock, and how
/// long ago that was: now less the stamp's age. No stamp, or one from the future or over
/// a second old (the wall clock was set meanwhile): now.
fn arrival(stamp: Option<SystemTime>) -> (Instant, Duration) {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let lag = stamp
        .and_then(|s| wall.duration_since(s).ok())
        .filter(|lag| *lag < Duration::from_secs(1))
        .unwrap_or_default();
    (now.checked_sub(lag).unwrap_or(now), lag)
}

/// When the system owed the element a frame that arrived (kernel receive time) at `at`:
/// at once if it arrived while the element waited (from `start`) or before the element
/// last emptied its sockets (`drained`: the frame was not there to read, so the kernel
/// held it); at the start of the wait if it arrived while the element was busy.
fn owed(at: Instant, drained: Instant, start: Instant) -> Instant {
    if at < drained {
        at
    } else {
        at.max(start)
    }
}

/// Reads every frame waiting on `way.from` into its line; a lost one goes to `out`.
/// Returns the earliest time the system owed the element one of them (see [`owed`]).
fn take_in(
    way: &mut Way,
    buf: &mut [u8],
    out: &Writer,
    (drained, start): (Instant, Instant),
) -> Result<Option<Instant>, String> {
    let mut first: Option<Instant> = None;
    loop {
        let frame = way
            .from
            .recv(buf)
            .map_err(|e| format!("reading {}: {e}", way.from_name))?;
        let Some(frame) = frame else {
            return Ok(first);
        };
        if frame.truncated {
            way.line.counts.received += 1;
            way.line.counts.oversize += 1;
            continue;
        }
        let (at, lag) = arrival(frame.stamp);
        let due = owed(at, drained, start);
        first = Some(first.map_or(due, |f| f.min(due)));
        way.line.read_lag(lag);
        let verdict = way.line.offer(at, &buf[..frame.len]);
        if verdict == Verdict::Lost {
            out.dropped(
                frame.stamp.unwrap_or_else(SystemTime::now),
                &buf[..frame.len],
            );
        }
    }
}

/// Sends every frame of `way` that is due, on `to`. A frame that finds no room is left
/// at the head of the line for the next turn, so that order is kept.
fn send_due(way: &mut Way, to: &PacketSocket, ledger: &mut Ledger) {
    let now = Instant::now();
    while let (Some(frame), Some(due)) = (way.line.due(now), way.line.next_due()) {
        // The clocks are read before the ledger's work, not after it, so that nothing
        // (no system call) sits between the send's recorded time and the send.
        let cpu_before = thread_cpu_ns();
        let before = Instant::now();
        ledger.mark(before, cpu_before);
        let left = Departure {
            at: before,
            excused: ledger.since(due),
        };
        let sent = to.send(frame);
        ledger.sent(Duration::from_nanos(
            thread_cpu_ns().saturating_sub(cpu_before),
        ));
        match sent {
            Ok(true) => way.line.pop(Some(left)),
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
                way.line.pop(None);
            }
        }
    }
}

fn stats_of(args: &Args, imp: &Impairment, ways: &[Way; 2], wakes: Wakes, running: bool) -> Stats {
    Stats {
        delay_ns: imp.delay.as_nanos() as u64,
        jitter_ns: imp.jitter.as_nanos() as u64,
        loss: imp.loss,
        seed: args.seed,
        running,
        wakes,
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

fn open_ways(args: &Args, imp: Impairment) -> Result<[Way; 2], String> {
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
    Ok([way(a, b, args.seed)?, way(b, a, args.seed.wrapping_add(1))?])
}

/// Sends what is due, each way out by the other way's interface.
fn send_both(ways: &mut [Way; 2], ledger: &mut Ledger) {
    let (first, second) = ways.split_at_mut(1);
    send_due(&mut first[0], &second[0].from, ledger);
    send_due(&mut second[0], &first[0].from, ledger);
}

/// How long to wait for frames from `now`: until the next frame is due, at most 50 ms.
fn next_wait(ways: &[Way; 2], now: Instant) -> Duration {
    match ways.iter().filter_map(|w| w.line.next_due()).min() {
        // A frame found no room: the interface drains within microseconds.
        Some(due) if due <= now => Duration::from_micros(50),
        Some(due) => (due - now).min(Duration::from_millis(50)),
        None => Duration::from_millis(50),
    }
}

/// One turn's wait: until a frame arrives or the next is due. Reads what arrived and
/// returns how late the system woke the element (against the earlier of the time it
/// asked for and the time it was owed a frame, see [`owed`]) and when it had read all.
/// `drained`: when the previous turn had read all. The wait and the wake go in `ledger`.
fn wait_turn(
    ways: &mut [Way; 2],
    buf: &mut [u8],
    out: &Writer,
    (drained, ledger): (Instant, &mut Ledger),
) -> Result<(Duration, Instant), String> {
    let start = Instant::now();
    ledger.mark(start, thread_cpu_ns());
    let deadline = start + next_wait(ways, start);
    let readable = wait_frames(&[&ways[0].from, &ways[1].from], deadline - start);
    let (woke, woke_cpu) = (Instant::now(), thread_cpu_ns());
    let mut first: Option<Instant> = None;
    if readable {
        for w in ways.iter_mut() {
            if let Some(t) = take_in(w, buf, out, (drained, start))? {
                first = Some(first.map_or(t, |f| f.min(t)));
            }
        }
    }
    let owed = first.map_or(deadline, |f| f.min(deadline));
    let late = woke.saturating_duration_since(owed);
    // A frame owed before the wait began (one the kernel held at the last read) was late
    // already in the turn before, which the ledger counted as it went: only the wait's
    // share of the lateness is new.
    ledger.woke(
        woke,
        woke_cpu,
        woke.saturating_duration_since(owed.max(start)),
    );
    Ok((late, Instant::now()))
}

/// The forwarding loop, until SIGTERM or SIGINT.
fn forward(args: &Args, imp: Impairment) -> Result<([Way; 2], Wakes), String> {
    let mut ways = open_ways(args, imp)?;
    let drops = match &args.drops {
        Some(p) => Some(Pcap::create(p).map_err(|e| format!("--drops {}: {e}", p.display()))?),
        None => None,
    };
    let mut wakes = Wakes::default();
    write_stats(args, &stats_of(args, &imp, &ways, wakes, true));
    let out = Writer::start(args.stats.clone(), drops);
    sockbench::sys::epoll::fine_timer_slack();
    let mut buf = vec![0u8; 65_536];
    let mut drained = Instant::now();
    let mut ledger = Ledger::new(drained, thread_cpu_ns());
    let (mut last_write, mut written) = (Instant::now(), None);
    eprintln!(
        "sockbench-delay: {} <-> {}, delay {:?}, jitter {:?}, loss {}",
        args.interfaces[0], args.interfaces[1], imp.delay, imp.jitter, imp.loss
    );
    let mut result = Ok(());
    while !stop_requested() {
        send_both(&mut ways, &mut ledger);
        // No frame falls due before the earliest one queued, nor before a second ago: one
        // still to be read counts its delay from its arrival, under a second ago (see
        // [`arrival`]).
        let now = Instant::now();
        let second_ago = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        let queued = ways.iter().filter_map(|w| w.line.next_due()).min();
        ledger.forget_before(queued.map_or(second_ago, |due| due.min(second_ago)));
        match wait_turn(&mut ways, &mut buf, &out, (drained, &mut ledger)) {
            Ok((woken_late, read_all)) => {
                wakes.record(woken_late);
                drained = read_all;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        if last_write.elapsed() >= Duration::from_millis(100) {
            last_write = Instant::now();
            let s = stats_of(args, &imp, &ways, wakes, true);
            if written.as_ref() != Some(&s) {
                out.stats(s.clone());
                written = Some(s);
            }
        }
    }
    out.finish();
    result.map(|()| (ways, wakes))
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
        Ok((ways, wakes)) => {
            let s = stats_of(&args, &imp, &ways, wakes, false);
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
    fn the_system_owes_a_frame_when_it_arrived_unless_the_element_was_busy() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let (drained, start) = (t + ms(10), t + ms(12));
        // Arrived while the element waited: owed at once.
        assert_eq!(owed(t + ms(15), drained, start), t + ms(15));
        // Arrived while it was busy between reading and waiting: owed from the wait.
        assert_eq!(owed(t + ms(11), drained, start), start);
        // Arrived before it last read everything, yet not there to read: the kernel held it.
        assert_eq!(owed(t + ms(3), drained, start), t + ms(3));
    }

    #[test]
    fn loss_takes_a_percentage() {
        assert_eq!(parse_loss("1%"), Ok(0.01));
        assert_eq!(parse_loss("0.1 %"), Ok(0.001));
        assert_eq!(parse_loss("0"), Ok(0.0));
        // A bare number: 1 % to netem, 100 % as a fraction; refused.
        for bad in ["", "%", "x", "101%", "-1%", "1.5", "NaN", "1", "0.25"] {
            assert!(parse_loss(bad).is_err(), "{bad}");
        }
    }
}
