//! What a peer reported, checked against what the test could produce and what this side
//! knows, before any of it reaches a file or the terminal. A peer that has passed the
//! handshake can still lie: a histogram that will not decode, more warnings or intervals
//! than the test could make, more bytes received than were sent. Such a report makes its
//! row `error` with the reason, and the run goes on with the next test; it is never a
//! reason to stop the run, and nothing in it costs more than linear time.

use std::collections::{BTreeMap, HashSet};

use crate::measure::outcome::{Status, TestOutcome};
use crate::measure::{latency_histogram, SideReport};
use crate::spec::config::TestSpec;

/// The most warnings a side's report may carry, per connection of the test, and besides.
const WARNINGS_PER_CONN: usize = 8;
const WARNINGS_BASE: usize = 64;
/// The most histograms one role may carry (a role records a handful of metrics).
const HISTOGRAMS_PER_ROLE: usize = 16;
/// Longest peer text kept (a warning, an error), in characters.
pub const MAX_TEXT: usize = 400;
/// The most CPUs a host may have (Linux's NR_CPUS at its largest).
const MAX_CPUS: f64 = 8192.0;
/// The most goodput a connection may report, bits/s.
const MAX_GOODPUT_BPS: f64 = 1e13;
/// The most resident memory a process may report, KiB (1 PiB).
const MAX_RSS_KIB: u64 = 1 << 40;
/// How much faster a receiving end may say it received than its sending end's own
/// average rate allows (see [`beyond_the_sender`]): the sides' clocks start apart, and a
/// sending end starved of CPU for part of its time sends in bursts, which its receiver
/// takes in a window shorter than the sender's (2.2 times its average was seen with both
/// ends pinned to one CPU beside two busy loops and a build). A forged window is orders
/// of magnitude off (1 Tbit/s from a loopback run).
const RATE_FACTOR: f64 = 10.0;
/// How far apart the two ends' measured times may start (each starts its clock when its
/// side of the test starts; a loaded machine or a long path puts them apart). A receiving
/// window is allowed this much more.
const START_SKEW_NS: f64 = 20e6;
/// Bytes a receiving end may have found waiting when its measured time began, beyond
/// twice the sending socket's SO_SNDBUF read-back (its send buffer and a receive buffer
/// like it), which is counted up to [`MAX_SNDBUF`].
const BUFFERED_BASE: u64 = 1 << 20;
const MAX_SNDBUF: u64 = 1 << 30;
/// The most bytes a duplicated datagram adds to what arrived (the largest UDP payload).
const MAX_DATAGRAM: u64 = 65_536;

/// How a vetted row's error begins.
const CANNOT_BE_TRUE: &str = "the peer's figures cannot be true: ";

/// A peer's text made safe to show or log: control characters escaped, at most
/// [`MAX_TEXT`] characters.
pub fn clean_text(text: &str) -> String {
    crate::net::control::clean(text, MAX_TEXT)
}

/// Checks both sides' reports of a finished test of `spec` (in a fleet run both come from
/// another host). A report that cannot be true makes the outcome `error` with the reasons;
/// what would break the writers (an undecodable histogram, more entries than the test
/// could make) is dropped. Peer texts are cleaned ([`clean_text`]).
pub fn vet(spec: &TestSpec, outcome: &mut TestOutcome) {
    let mut problems: Vec<String> = Vec::new();
    let sides = [
        ("sender", Some(&mut outcome.sender)),
        ("receiver", outcome.receiver.as_mut()),
    ];
    for (name, side) in sides {
        let Some(side) = side else { continue };
        for p in bound(spec, side) {
            problems.push(format!("{name}: {p}"));
        }
        if let Err(p) = check_histograms(side) {
            problems.push(format!("{name}: {p}"));
            for role in &mut side.roles {
                role.histograms.clear();
            }
        }
        if let Some(p) = implausible_side(spec, side) {
            problems.push(format!("{name}: {p}"));
        }
    }
    problems.extend(implausible_counts(spec, outcome));
    problems.extend(implausible_goodput(spec, outcome));
    problems.extend(beyond_the_sender(spec, outcome));
    if let Some(e) = &mut outcome.error {
        *e = clean_text(e);
    }
    if problems.is_empty() {
        return;
    }
    let why = format!("{CANNOT_BE_TRUE}{}", problems.join("; "));
    outcome.status = Status::Error;
    outcome.error = Some(match outcome.error.take() {
        // Vetted once already, by the daemon that relayed the test: its reasons stand.
        Some(e) if e.starts_with(CANNOT_BE_TRUE) => e,
        Some(e) => format!("{why}; {e}"),
        None => why,
    });
}

/// Cuts what a side carries to what a test of `spec` could make, cleaning its texts.
/// Returns what was over.
fn bound(spec: &TestSpec, side: &mut SideReport) -> Vec<String> {
    let conns = spec.conn_plan().len();
    let mut over = Vec::new();
    if side.roles.len() > conns {
        over.push(format!(
            "{} role reports for a test of {conns} connection(s)",
            side.roles.len()
        ));
        side.roles.truncate(conns);
    }
    let max_warnings = WARNINGS_BASE + WARNINGS_PER_CONN * conns;
    let mut seen = HashSet::new();
    let warnings = side.warnings.len();
    side.warnings.retain(|w| seen.insert(w.clone()));
    if side.warnings.len() > max_warnings {
        over.push(format!(
            "{warnings} warnings; a test of this shape makes at most {max_warnings}"
        ));
        side.warnings.truncate(max_warnings);
    }
    for w in &mut side.warnings {
        *w = clean_text(w);
    }
    let slots = max_slots(spec);
    for role in &mut side.roles {
        let n = role.interval_bytes.len().max(role.interval_messages.len());
        if n > slots {
            over.push(format!(
                "{n} intervals on one connection; this test has at most {slots}"
            ));
            role.interval_bytes.truncate(slots);
            role.interval_messages.truncate(slots);
        }
        if role.histograms.len() > HISTOGRAMS_PER_ROLE {
            over.push(format!(
                "{} histograms on one connection",
                role.histograms.len()
            ));
            role.histograms.truncate(HISTOGRAMS_PER_ROLE);
        }
        if role.knobs.warnings.len() > WARNINGS_BASE {
            over.push(format!("{} knob warnings", role.knobs.warnings.len()));
            role.knobs.warnings.truncate(WARNINGS_BASE);
        }
        for w in &mut role.knobs.warnings {
            *w = clean_text(w);
        }
        if let Some(e) = &mut role.error {
            *e = clean_text(e);
        }
    }
    over
}

/// The most interval slots a role of `spec` can fill: the warm-up's and the measured
/// time's, and every loop's grace until it gives up.
fn max_slots(spec: &TestSpec) -> usize {
    let interval = spec.interval.as_nanos().max(1);
    let span = spec.hard_deadline() + crate::engine::STALL;
    (span.as_nanos() / interval) as usize + 8
}

/// Decodes and merges a side's histograms as the writers will.
fn check_histograms(side: &SideReport) -> Result<(), String> {
    let mut merged = BTreeMap::new();
    for role in &side.roles {
        for enc in &role.histograms {
            let h = enc.decode().map_err(|e| clean_text(&e.to_string()))?;
            merged
                .entry(enc.metric.clone())
                .or_insert_with(latency_histogram)
                .add(&h)
                .map_err(|e| clean_text(&format!("histogram {}: {e:?}", enc.metric)))?;
        }
    }
    Ok(())
}

/// A side's figures that no process can have: more CPU than a host has, more memory than
/// a machine holds, a measured window longer than the test could run.
fn implausible_side(spec: &TestSpec, side: &SideReport) -> Option<String> {
    if side
        .cpu_pct()
        .is_some_and(|c| c.is_nan() || c > MAX_CPUS * 100.0)
    {
        return Some(format!("CPU {:.3e} %", side.cpu_pct().unwrap_or_default()));
    }
    if side.rss_kib.is_some_and(|k| k > MAX_RSS_KIB) {
        return Some(format!(
            "resident memory {} KiB",
            side.rss_kib.unwrap_or_default()
        ));
    }
    let longest = (spec.hard_deadline() + crate::engine::STALL).as_nanos() as u64;
    side.roles
        .iter()
        .find(|r| r.window_ns > longest || r.measured_bytes > r.bytes_received)
        .map(|r| {
            format!(
                "connection {}: a measured time of {} ns with {} of {} bytes after the warm-up",
                r.conn, r.window_ns, r.measured_bytes, r.bytes_received
            )
        })
}

/// A goodput beyond what any link or a loopback copy moves (10 Tbit/s): a forged one
/// (8e27 bit/s from a window of 1 ns). The window a receiver measures depends on its
/// clock alone, so nothing tighter can be derived from this side's figures.
fn implausible_goodput(spec: &TestSpec, outcome: &TestOutcome) -> Option<String> {
    let main = spec.main_kind();
    let sides = std::iter::once(&outcome.sender).chain(outcome.receiver.iter());
    sides
        .flat_map(|s| s.roles.iter())
        .filter(|r| r.kind == Some(main) && r.measured_bytes > 0)
        .find(|r| r.measured_bytes as f64 * 8e9 > MAX_GOODPUT_BPS * r.window_ns as f64)
        .map(|r| {
            format!(
                "connection {}: {} bytes in a measured time of {} ns",
                r.conn, r.measured_bytes, r.window_ns
            )
        })
}

/// A receiving end's goodput against what its sending end measured in the same test. The
/// sender wrote `sent` bytes on the connection over its own traffic time `wall`; of that
/// time, the part after the warm-up (the duration at most) is when the bytes the receiver
/// counts were sent, so `sent / min(wall - warm-up, duration)` is about the sender's own
/// average rate there, or more (the warm-up's bytes are in `sent` too, which covers what
/// sat in buffers at the warm-up mark). A receiver that says it took its measured bytes
/// in a window too short for that rate, by more than [`RATE_FACTOR`], [`START_SKEW_NS`]
/// and what buffers could hold, forged its window.
/// Only for a test that ended `ok`: one cut short (a cut link, Ctrl-C) may have a sending
/// end that kept trying long after the receiving end's last byte. Not for crr
/// (connections per transaction, accounted per flow).
fn beyond_the_sender(spec: &TestSpec, outcome: &TestOutcome) -> Option<String> {
    let receiver = outcome.receiver.as_ref()?;
    if spec.pattern.reconnects() || outcome.status != Status::Ok {
        return None;
    }
    let main = spec.main_kind();
    let warmup = spec.warmup.as_nanos() as u64;
    let duration = spec.duration.as_nanos() as u64;
    let pairs = [
        ("sender", &outcome.sender, receiver),
        ("receiver", receiver, &outcome.sender),
    ];
    for (name, sending, receiving) in pairs {
        // A sender sends for the duration after its warm-up, no longer; its traffic time
        // may run on past that (a udp sender's end markers, a drain).
        let sending_ns = sending.wall_ns.saturating_sub(warmup).min(duration);
        if sending_ns == 0 {
            continue;
        }
        let takers = receiving.roles.iter().filter(|r| r.kind == Some(main));
        for r in takers.filter(|r| r.measured_bytes > 0) {
            let (sent, sndbuf) = sending.roles.iter().filter(|s| s.conn == r.conn).fold(
                (0u64, 0u64),
                |(b, q), s| {
                    let q = q.max(s.sndbuf_end.unwrap_or(0).min(MAX_SNDBUF));
                    (b.saturating_add(s.bytes_sent), q)
                },
            );
            let rate = sent as f64 / sending_ns as f64;
            let could = RATE_FACTOR * rate * (r.window_ns as f64 + START_SKEW_NS)
                + (2 * sndbuf + BUFFERED_BASE) as f64;
            if r.measured_bytes as f64 > could {
                return Some(format!(
                    "connection {}: {} bytes received in {} ns, more than {RATE_FACTOR} times what the {name} sent at its own rate ({sent} bytes in {sending_ns} ns after the warm-up)",
                    r.conn, r.measured_bytes, r.window_ns
                ));
            }
        }
    }
    None
}

/// Per connection, over both sides: no more received than was sent (bytes on a byte
/// stream; on datagrams, distinct datagrams, and bytes up to the duplicates' share). Not
/// for crr: its roles are a connection per
/// transaction, accounted under the flow that made or accepted them, so a flow's sums on
/// the two sides do not pair up (a keep-alive profile's rows were wrongly refused).
fn implausible_counts(spec: &TestSpec, outcome: &TestOutcome) -> Option<String> {
    outcome.receiver.as_ref()?;
    if spec.pattern.reconnects() {
        return None;
    }
    // Per connection: bytes sent, received, and the duplicates' allowance; datagrams
    // sent and received.
    let mut per_conn: BTreeMap<u32, [u64; 5]> = BTreeMap::new();
    let roles = outcome
        .sender
        .roles
        .iter()
        .chain(outcome.receiver.iter().flat_map(|r| r.roles.iter()));
    let datagram = spec.protocol.is_datagram();
    for r in roles {
        let e = per_conn.entry(r.conn).or_default();
        let dups = if datagram {
            r.duplicated.saturating_mul(MAX_DATAGRAM)
        } else {
            0
        };
        let add = [
            r.bytes_sent,
            r.bytes_received,
            dups,
            r.messages_sent,
            r.messages_received,
        ];
        for (sum, n) in e.iter_mut().zip(add) {
            *sum = sum.saturating_add(n);
        }
    }
    per_conn
        .into_iter()
        .find_map(|(conn, [sent, got, dups, dg_sent, dg_got])| {
            if got > sent.saturating_add(dups) {
                let also = if dups > 0 { " and duplicates" } else { "" };
                Some(format!(
                    "connection {conn}: {got} bytes received of {sent} sent{also}"
                ))
            } else if datagram && dg_got > dg_sent {
                Some(format!(
                    "connection {conn}: {dg_got} datagrams received of {dg_sent} sent"
                ))
            } else {
                None
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{EncodedHistogram, RoleReport};

    fn outcome(sender: RoleReport, receiver: RoleReport) -> TestOutcome {
        TestOutcome {
            sender: SideReport {
                roles: vec![sender],
                wall_ns: 1_000_000_000,
                ..SideReport::default()
            },
            receiver: Some(SideReport {
                roles: vec![receiver],
                wall_ns: 1_000_000_000,
                ..SideReport::default()
            }),
            status: Status::Ok,
            error: None,
            started: std::time::SystemTime::now(),
        }
    }

    fn ends(sent: u64, received: u64) -> (RoleReport, RoleReport) {
        (
            RoleReport {
                active: true,
                bytes_sent: sent,
                ..RoleReport::default()
            },
            RoleReport {
                bytes_received: received,
                measured_bytes: received,
                window_ns: 900_000_000,
                ..RoleReport::default()
            },
        )
    }

    #[test]
    fn true_figures_pass_and_forged_ones_are_errors() {
        let spec = TestSpec::default();
        let (s, r) = ends(1000, 1000);
        let mut o = outcome(s, r);
        vet(&spec, &mut o);
        assert_eq!((o.status, o.error), (Status::Ok, None));

        let (s, r) = ends(1000, 100_000);
        let mut o = outcome(s, r);
        vet(&spec, &mut o);
        assert_eq!(o.status, Status::Error);
        assert!(o
            .error
            .unwrap()
            .contains("100000 bytes received of 1000 sent"));

        let (s, mut r) = ends(1000, 1000);
        r.cpu_ns = u64::MAX;
        let mut o = outcome(s, r);
        o.receiver.as_mut().unwrap().wall_ns = 1;
        vet(&spec, &mut o);
        assert!(o.error.unwrap().contains("receiver: CPU"));

        let (s, mut r) = ends(1_000_000, 1_000_000);
        r.window_ns = 1;
        r.kind = Some(spec.main_kind());
        let mut o = outcome(s, r);
        vet(&spec, &mut o);
        assert!(o.error.unwrap().contains("measured time of 1 ns"));
    }

    #[test]
    fn a_receivers_window_is_held_to_the_senders_own_rate() {
        let spec = TestSpec {
            warmup: std::time::Duration::from_millis(100),
            ..TestSpec::default()
        };
        // 1 GB sent in 1 s, 0.9 of it after the warm-up: received over 0.9 s (true),
        // 0.5 s or 0.2 s (a sender that ran in bursts: within the factor), or 9 ms (a
        // forged window, 800 Gbit/s: under the physical ceiling, but 100 times the
        // sender's own rate).
        let check = |window_ns: u64| {
            let (mut s, mut r) = ends(1_000_000_000, 900_000_000);
            s.kind = Some(spec.main_kind());
            s.sndbuf_end = Some(4 << 20);
            r.kind = Some(spec.main_kind());
            r.measured_bytes = 900_000_000;
            r.window_ns = window_ns;
            let mut o = outcome(s, r);
            o.sender.wall_ns = 1_000_000_000;
            vet(&spec, &mut o);
            o
        };
        assert_eq!(check(900_000_000).status, Status::Ok);
        assert_eq!(check(500_000_000).status, Status::Ok);
        assert_eq!(check(200_000_000).status, Status::Ok);
        // Beyond the factor (18 times the sender's average): not a burst.
        assert_eq!(check(50_000_000).status, Status::Error);
        let mut twice = check(9_000_000);
        let once = twice.error.clone();
        vet(&spec, &mut twice);
        assert_eq!(
            twice.error, once,
            "vetted again (a relayed test): said once"
        );
        let e = check(9_000_000).error.unwrap();
        assert!(
            e.contains("900000000 bytes received in 9000000 ns")
                && e.contains("1000000000 bytes in 900000000 ns after the warm-up"),
            "{e}"
        );
    }

    #[test]
    fn datagrams_may_arrive_twice_but_not_from_nowhere() {
        let spec = TestSpec {
            protocol: crate::spec::config::Protocol::Udp,
            ..TestSpec::default()
        };
        let check = |received: u64, duplicated: u64| {
            let (mut s, mut r) = ends(14_000, received);
            s.messages_sent = 10;
            r.messages_received = 10;
            r.duplicated = duplicated;
            let mut o = outcome(s, r);
            vet(&spec, &mut o);
            o
        };
        assert_eq!(check(14_000, 0).status, Status::Ok);
        assert_eq!(check(15_400, 1).status, Status::Ok, "a duplicate's bytes");
        let e = check(1_400_000, 0).error.unwrap();
        assert!(e.contains("1400000 bytes received of 14000 sent"), "{e}");
    }

    #[test]
    fn a_bad_histogram_is_an_error_and_dropped() {
        let spec = TestSpec::default();
        let (s, mut r) = ends(10, 10);
        r.histograms.push(EncodedHistogram {
            metric: "rtt".into(),
            v2_base64: "!!not base64\u{1b}[2J".into(),
        });
        let mut o = outcome(s, r);
        vet(&spec, &mut o);
        assert_eq!(o.status, Status::Error);
        let e = o.error.unwrap();
        assert!(e.contains("receiver: histogram rtt"), "{e}");
        assert!(o.receiver.unwrap().roles[0].histograms.is_empty());
    }

    #[test]
    fn floods_of_warnings_and_intervals_are_cut_in_linear_time() {
        let spec = TestSpec::default();
        let (s, mut r) = ends(10, 10);
        r.interval_bytes = vec![1; 1_000_000];
        let mut o = outcome(s, r);
        let side = o.receiver.as_mut().unwrap();
        side.warnings = (0..200_000)
            .map(|i| format!("w{i}\u{1b}]0;title\u{7}"))
            .collect();
        vet(&spec, &mut o);
        let side = o.receiver.as_ref().unwrap();
        assert!(side.warnings.len() <= WARNINGS_BASE + WARNINGS_PER_CONN);
        assert!(!side.warnings[0].contains('\u{1b}'), "{}", side.warnings[0]);
        assert!(side.roles[0].interval_bytes.len() <= max_slots(&spec));
        let e = o.error.unwrap();
        assert!(
            e.contains("200000 warnings") && e.contains("1000000 intervals"),
            "{e}"
        );
    }

    #[test]
    fn peer_text_is_escaped_and_clipped() {
        let t = clean_text("ok\r\u{1b}[2K99.99 Gbit/s ok\n");
        assert!(!t.chars().any(char::is_control), "{t}");
        assert!(clean_text(&"x".repeat(5000)).len() <= MAX_TEXT + 3);
    }
}
