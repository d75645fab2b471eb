//! One pattern, two drivers: the same small workload run with `--driver blocking` (a
//! thread per connection) and `--driver epoll` (worker threads) gives the same accounting.
//!
//! What "the same" can honestly mean: how much a connection moves in a second depends on
//! the machine and the driver whenever the pattern goes as fast as it can, so equal counts
//! are asked for only where the pattern fixes them:
//! - Paced workloads (`--rate`: bulk streams in bits/s, open-loop rr in requests/s) send on
//!   a schedule that counts from the start of traffic, so every message or request whose
//!   send time falls before the end of the sending time goes, on either driver: bytes,
//!   messages, transactions (requests sent after the warm-up), per-connection bytes and
//!   histogram counts must be IDENTICAL. The schedules here leave 10-20 ms between the
//!   last send time and the end, so a loaded machine does not move a send past it.
//! - Unpaced workloads (closed-loop rr, pipelined rr) are compared by the invariants that
//!   hold whatever the speed, on both drivers: every byte sent was received, every
//!   message answered, nothing lost, one histogram sample per measured transaction.
//!
//! To add a pattern: a row in the table of the test that fits (exact or invariant).

mod common;

use std::collections::BTreeMap;

use common::*;

/// Runs `args` on one driver.
fn on(driver: &str, args: &[&str]) -> RunResult {
    let mut all = vec!["--driver", driver, "--duration", "1s", "--warmup", "200ms"];
    all.extend_from_slice(args);
    run(&all)
}

/// Bytes per connection, from the per-interval rows.
fn per_conn_bytes(r: &RunResult) -> BTreeMap<(u64, String), u64> {
    let mut m = BTreeMap::new();
    for i in &r.intervals().rows {
        let key = (i.int("conn"), i.get_str("measured_by").to_string());
        *m.entry(key).or_insert(0) += i.int("bytes");
    }
    m
}

/// What holds on any driver, whatever the speed.
fn check_invariants(what: &str, r: &RunResult) {
    let row = r.ok_row();
    assert!(row.int("bytes_sent") > 0, "{what}: nothing sent");
    assert_eq!(
        row.int("bytes_sent"),
        row.int("bytes_received"),
        "{what}: bytes"
    );
    assert_eq!(
        row.int("messages_sent"),
        row.int("messages_received"),
        "{what}: messages"
    );
    assert_eq!(row.int("lost"), 0, "{what}: lost");
    if row.get_str("pattern") == "rr" || row.get_str("probe") == "rr" {
        let tx = row.int("transactions");
        assert!(tx > 0, "{what}: no transactions");
        let rtt: u64 = r
            .histograms()
            .rows
            .iter()
            .filter(|h| h.get_str("metric") == "rtt")
            .map(|h| h.int("count"))
            .sum();
        assert_eq!(rtt, tx, "{what}: histogram samples vs transactions");
    }
}

const EXACT: &[&str] = &[
    "bytes_sent",
    "bytes_received",
    "messages_sent",
    "messages_received",
    "lost",
    "transactions",
];

/// Paced workloads: identical accounting on both drivers.
#[test]
fn paced_patterns_account_identically_on_both_drivers() {
    // 10 KiB at 4,096,000 bit/s: a message every 20 ms, 60 in the 1.2 s.
    let paced = ["--msg-size", "10K", "--rate", "4096000"];
    let cases: &[(&str, &[&str])] = &[
        ("stream forward", &[]),
        (
            "stream reverse",
            &["--direction", "reverse", "--flows", "2"],
        ),
        ("stream bidir", &["--direction", "bidir", "--flows", "2"]),
        ("unix-stream", &["--proto", "unix-stream"]),
    ];
    for (name, extra) in cases {
        let mut args: Vec<&str> = paced.to_vec();
        args.extend_from_slice(extra);
        compare_exact(name, &args);
    }
    // Sizes from a distribution (seeded per connection, so the same on both drivers) at
    // 400 kbit/s: a message every 40 ms or so.
    compare_exact(
        "stream with a size distribution",
        &[
            "--msg-size",
            "lognormal:median=2K,p99=16K",
            "--rate",
            "400000",
            "--flows",
            "2",
        ],
    );
    // Open-loop rr: 100 requests/s (10 ms apart), 120 in all, 100 after the warm-up.
    for (name, extra) in [
        ("rr open loop", &["--flows", "3"][..]),
        ("rr open loop, poisson", &["--set", "arrival=poisson"][..]),
        // A datagram response later than --rr-timeout is late, not a transaction: the
        // timeout is long here so that a loaded machine's delay cannot turn one into the
        // other (nothing is lost on loopback, so nothing waits it out).
        (
            "udp rr open loop",
            &["--proto", "udp", "--flows", "2", "--rr-timeout", "5s"][..],
        ),
        (
            "unix-dgram rr open loop, poisson",
            &[
                "--proto",
                "unix-dgram",
                "--set",
                "arrival=poisson",
                "--rr-timeout",
                "5s",
            ][..],
        ),
    ] {
        let mut args = vec!["--pattern", "rr", "--rate", "100"];
        args.extend_from_slice(extra);
        compare_exact(name, &args);
    }
}

/// Paced datagram streams: identical accounting on both drivers. Small datagrams at a
/// low rate, so that a loaded machine that holds a receiver up for most of a second
/// still loses none (the receive buffer holds about a second of them).
#[test]
fn paced_datagram_streams_account_identically_on_both_drivers() {
    let cases: &[(&str, &[&str])] = &[
        ("udp stream", &["--proto", "udp", "--flows", "2"]),
        (
            "udp stream reverse",
            &["--proto", "udp", "--direction", "reverse"],
        ),
        (
            "udp stream bidir",
            &["--proto", "udp", "--direction", "bidir"],
        ),
        ("udp stream, sendmmsg", &["--proto", "udp", "--batch", "8"]),
        (
            "udp stream, GSO and GRO",
            &["--proto", "udp", "--gso", "--gro"],
        ),
        ("unix-dgram stream", &["--proto", "unix-dgram"]),
    ];
    for (name, extra) in cases {
        let mut args = vec!["--msg-size", "1400", "--rate", "1M"];
        args.extend_from_slice(extra);
        compare_exact(name, &args);
    }
    let sized = [
        "--proto",
        "udp",
        "--msg-size",
        "uniform:min=64,max=1400",
        "--rate",
        "1M",
    ];
    compare_exact("udp stream with a size distribution", &sized);
}

fn compare_exact(name: &str, args: &[&str]) {
    let (b, e) = (on("blocking", args), on("epoll", args));
    check_invariants(&format!("{name}, blocking"), &b);
    check_invariants(&format!("{name}, epoll"), &e);
    let (rb, re) = (b.ok_row(), e.ok_row());
    for col in EXACT {
        assert_eq!(rb.get_str(col), re.get_str(col), "{name}: {col}");
    }
    assert_eq!(
        per_conn_bytes(&b),
        per_conn_bytes(&e),
        "{name}: per connection"
    );
    assert_eq!(
        b.histogram_count(),
        e.histogram_count(),
        "{name}: histogram samples"
    );
}

/// The paced stream's count is the schedule's, not the machine's.
#[test]
fn a_paced_stream_sends_exactly_its_schedule() {
    for driver in ["blocking", "epoll"] {
        let r = on(driver, &["--msg-size", "10K", "--rate", "4096000"]);
        let row = r.ok_row();
        assert_eq!(row.int("messages_sent"), 60, "{driver}");
        assert_eq!(row.int("bytes_sent"), 60 * 10240, "{driver}");
    }
    for driver in ["blocking", "epoll"] {
        let r = on(driver, &["--pattern", "rr", "--rate", "100"]);
        assert_eq!(r.ok_row().int("transactions"), 100, "{driver}");
    }
}

/// Unpaced workloads: the invariants, on both drivers.
#[test]
fn unpaced_patterns_keep_their_invariants_on_both_drivers() {
    let cases: &[(&str, &[&str])] = &[
        ("stream", &["--flows", "2"]),
        ("stream bidir", &["--direction", "bidir", "--flows", "2"]),
        ("rr closed loop", &["--pattern", "rr", "--flows", "2"]),
        (
            "rr closed loop with sizes",
            &[
                "--pattern",
                "rr",
                "--msg-size",
                "lognormal:median=100,p99=4K",
                "--response-size",
                "lognormal:median=200,p99=8K",
            ],
        ),
        (
            "rr closed loop, think time",
            &["--pattern", "rr", "--think-time", "1ms"],
        ),
        ("rr pipelined", &["--pattern", "rr", "--set", "pipeline=8"]),
        ("stream, spinning", &["--spin", "--flows", "2"]),
        ("rr closed loop, spinning", &["--pattern", "rr", "--spin"]),
        ("stream with a probe", &["--probe", "rr"]),
        (
            "udp rr closed loop",
            &["--proto", "udp", "--pattern", "rr", "--flows", "2"],
        ),
        (
            "udp rr closed loop with sizes and think time",
            &[
                "--proto",
                "udp",
                "--pattern",
                "rr",
                "--msg-size",
                "uniform:min=16,max=1400",
                "--response-size",
                "uniform:min=16,max=9000",
                "--think-time",
                "1ms",
            ],
        ),
        (
            // Paced low, as in the exact table: nothing lost on a loaded machine.
            "udp stream with a probe",
            &[
                "--proto",
                "udp",
                "--msg-size",
                "1400",
                "--rate",
                "1M",
                "--probe",
                "rr",
            ],
        ),
    ];
    for (name, args) in cases {
        for driver in ["blocking", "epoll"] {
            check_invariants(&format!("{name}, {driver}"), &on(driver, args));
        }
    }
}

/// Blocking-only paths are refused on the epoll driver, with the reason.
#[test]
fn blocking_only_paths_are_refused_on_the_epoll_driver() {
    for flag in [&["--zerocopy"][..], &["--sendfile"], &["--splice"]] {
        let mut args = vec!["--driver", "epoll"];
        args.extend_from_slice(flag);
        let r = run(&args);
        assert_eq!(r.code(), 2, "{flag:?}");
        assert!(
            r.stderr().contains("blocking driver only"),
            "{flag:?}: {}",
            r.stderr()
        );
    }
}

/// Datagram rr and crr, from the start (no warm-up, so that every request counts): every
/// datagram request ends as a transaction or a timeout, and every crr transaction is one
/// accepted connection (`requests_per_conn` transactions each) and one histogram sample,
/// on both drivers.
#[test]
fn every_request_is_accounted_for_by_datagram_rr_and_crr_on_both_drivers() {
    let from_start = |driver: &str, args: &[&str]| {
        let mut all = vec!["--driver", driver, "--duration", "1s", "--warmup", "0s"];
        all.extend_from_slice(args);
        run(&all)
    };
    for driver in ["blocking", "epoll"] {
        for proto in ["udp", "unix-dgram"] {
            let what = format!("{proto} rr, {driver}");
            let r = from_start(
                driver,
                &["--proto", proto, "--pattern", "rr", "--flows", "2"],
            );
            let row = r.ok_row();
            // Requests and responses, both ends: nothing lost on loopback.
            assert_eq!(
                row.int("messages_sent"),
                row.int("messages_received"),
                "{what}"
            );
            let requests = row.int("messages_sent") / 2;
            assert!(requests > 0, "{what}");
            assert_eq!(
                row.int("transactions") + row.int("rr_timeouts"),
                requests,
                "{what}"
            );
            assert_eq!(r.histogram_count(), row.int("transactions"), "{what}");
        }
        for (proto, per_conn) in [("tcp", 1), ("tcp", 3), ("unix-stream", 2)] {
            let what = format!("{proto} crr, {per_conn} per connection, {driver}");
            let per = format!("requests_per_conn={per_conn}");
            let r = from_start(
                driver,
                &[
                    "--proto",
                    proto,
                    "--pattern",
                    "crr",
                    "--flows",
                    "2",
                    "--set",
                    &per,
                ],
            );
            let row = r.ok_row();
            let tx = row.int("transactions");
            assert!(tx > 0, "{what}");
            assert_eq!(row.int("connections") * per_conn, tx, "{what}");
            assert_eq!(r.histogram_count(), tx, "{what}");
            assert_eq!(row.int("messages_sent"), 2 * tx, "{what}");
            assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{what}");
        }
        let what = format!("crr with sizes, {driver}");
        let r = from_start(
            driver,
            &[
                "--pattern",
                "crr",
                "--msg-size",
                "uniform:min=16,max=3000",
                "--response-size",
                "uniform:min=16,max=70000",
            ],
        );
        let row = r.ok_row();
        assert_eq!(row.int("connections"), row.int("transactions"), "{what}");
        assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{what}");
    }
}

/// crr on the epoll driver keeps every flow's connection in flight at once: the most
/// connections the sender had open together (measured as they open and close, across its
/// workers) reaches the flow count. A requester that blocks in its connect carries one
/// connection per worker at a time instead. The blocking driver, a thread per flow, gets
/// there too; both account every transaction.
#[test]
fn crr_keeps_every_flow_in_flight_on_the_epoll_driver() {
    for (driver, flows) in [("epoll", "100"), ("blocking", "8")] {
        let what = format!("crr, {flows} flows, {driver}");
        let r = on(driver, &["--pattern", "crr", "--flows", flows]);
        let row = r.ok_row();
        let tx = row.int("transactions");
        assert!(tx > 0, "{what}");
        assert_eq!(r.histogram_count(), tx, "{what}");
        assert_eq!(row.int("max_in_flight"), row.int("flows"), "{what}");
    }
}

/// crr with an abortive close (`--linger 0`: the requester resets each connection once
/// its last response is in, the receiver waits for that) accounts every transaction as
/// one accepted connection and one histogram sample, on both drivers.
#[test]
fn crr_with_an_abortive_close_is_accounted_alike_on_both_drivers() {
    for driver in ["blocking", "epoll"] {
        for per_conn in [1, 3] {
            let what = format!("crr --linger 0, {per_conn} per connection, {driver}");
            let per = format!("requests_per_conn={per_conn}");
            let args = [
                "--driver",
                driver,
                "--duration",
                "1s",
                "--warmup",
                "0s",
                "--pattern",
                "crr",
                "--flows",
                "4",
                "--linger",
                "0",
                "--set",
                &per,
            ];
            let r = run(&args);
            let row = r.ok_row();
            let tx = row.int("transactions");
            assert!(tx > 0, "{what}");
            assert_eq!(row.int("connections") * per_conn, tx, "{what}");
            assert_eq!(r.histogram_count(), tx, "{what}");
            assert_eq!(row.int("messages_sent"), 2 * tx, "{what}");
            assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{what}");
            assert_eq!(row.int("linger_eff"), 0, "{what}");
        }
    }
}
