//! Scale (issue 11), each case with every byte, message and transaction accounted and the
//! memory per connection reported: 100,000 tcp connections streaming, and 100,000 in
//! closed-loop request/response; 10,000 udp flows streaming, and 10,000 in request/response;
//! 10,000 open-loop tcp request/response flows at 10 requests a second each; crr with
//! 1,000 connections at once. Timings are printed (docs/scale.md has them), never
//! asserted.
//!
//! Each process holds a descriptor per connection: a test raises its open-file limit (its
//! children inherit it) and skips, with one line, where the hard limit is too low and
//! cannot be raised. The tests take turns: each needs much of the machine.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

static TURN: Mutex<()> = Mutex::new(());

/// The longest one of these runs may take, setup and results included.
const LIMIT: Duration = Duration::from_secs(300);

/// Whether this process (and so its children) may open `conns` connections' descriptors
/// and some to spare, raising its limit as far as it may.
fn fds_for(conns: u64) -> bool {
    let need = conns + 1024;
    let limit = sockbench::measure::hostinfo::raise_nofile_limit();
    require(
        limit >= need,
        &format!("{need} open files a process (RLIMIT_NOFILE here: {limit})"),
        "raise the hard limit (ulimit -Hn), or run as root with CAP_SYS_RESOURCE",
    )
}

/// One `sockbench run` of `conns` connections, in turn, with its wall time; `None`
/// where this host cannot hold them (skipped).
fn scale_run(args: &[&str], conns: u64) -> Option<(RunResult, Duration)> {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    if !fds_for(conns) {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let mut all = vec!["run", "--out", dir.to_str().unwrap()];
    all.extend(args);
    let started = Instant::now();
    let output = sockbench(&all, LIMIT);
    let wall = started.elapsed();
    let r = RunResult {
        _tmp: tmp,
        dir,
        output,
    };
    Some((r, wall))
}

/// Per connection, the sums of an intervals.csv column over the rows measured by `side`.
fn per_conn(r: &RunResult, column: &str, side: &str) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for i in r
        .intervals()
        .rows
        .iter()
        .filter(|i| i.get_str("measured_by") == side)
    {
        *m.entry(i.int("conn")).or_insert(0) += i.int(column);
    }
    m
}

/// Checks that both sides' memory is reported, per connection too, and prints the figures
/// docs/scale.md quotes.
fn memory_reported(
    what: &str,
    conns: u64,
    row: &std::collections::HashMap<String, String>,
    wall: Duration,
) {
    let (sender, receiver) = (row.int("sender_rss_kib"), row.int("receiver_rss_kib"));
    assert!(sender > 0 && receiver > 0, "{what}: RSS reported");
    let per_conn = row.num("sender_rss_kib_per_conn");
    assert!(per_conn > 0.0, "{what}: memory per connection reported");
    println!(
        "{what}: {conns} connections, {:.1} s wall for {} s of traffic; RSS sender {sender} KiB ({per_conn:.2} KiB a connection), receiver {receiver} KiB ({:.2} KiB a connection)",
        wall.as_secs_f64(),
        row.get_str("duration_s"),
        receiver as f64 / conns as f64,
    );
}

/// 100,000 tcp connections streaming, paced to a kilobyte a second each so that the
/// kernel's socket memory (net.ipv4.tcp_mem) is not the test: every byte sent arrives,
/// on every connection.
#[test]
fn a_hundred_thousand_tcp_streams_account_every_byte() {
    tcp_streams(100_000);
}

fn tcp_streams(flows: u64) {
    let f = flows.to_string();
    let args = [
        "--flows",
        &f,
        "--msg-size",
        "1K",
        "--rate",
        "8K",
        "--duration",
        "2s",
        "--warmup",
        "0s",
    ];
    let Some((r, wall)) = scale_run(&args, flows) else {
        return;
    };
    let row = r.ok_row();
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert_eq!(row.int("messages_sent"), row.int("messages_received"));
    let conns = per_conn(&r, "bytes", "receiver");
    assert_eq!(conns.len() as u64, flows, "every connection reported");
    assert!(conns.values().all(|&b| b > 0), "a connection got nothing");
    assert_eq!(conns.values().sum::<u64>(), row.int("bytes_received"));
    memory_reported("tcp stream", flows, &row, wall);
}

/// 100,000 closed-loop tcp request/response connections: every request answered and every
/// response read, each transaction in the histogram once, and every connection served.
#[test]
fn a_hundred_thousand_tcp_request_response_connections_account_every_transaction() {
    // Closed loop on two CPUs: about 20,000 round trips a second in all, so each of
    // 100,000 connections gets one every five seconds or so.
    tcp_rr(100_000, "10s");
}

fn tcp_rr(flows: u64, duration: &str) {
    let f = flows.to_string();
    let args = [
        "--pattern",
        "rr",
        "--flows",
        &f,
        "--msg-size",
        "100",
        "--response-size",
        "200",
        "--nodelay",
        "--duration",
        duration,
        "--warmup",
        "0s",
    ];
    let Some((r, wall)) = scale_run(&args, flows) else {
        return;
    };
    // One request of 100 bytes and one response of 200 per transaction, none half done.
    every_transaction_accounted(&r, flows, (100, 200));
    let row = r.ok_row();
    memory_reported("tcp rr", flows, &row, wall);
}

/// Checks an rr test's transactions: every request (of `sizes.0` bytes) answered and
/// every response (`sizes.1`) read, none half done, each transaction in the histogram
/// once, and every connection's requester (its interval rows, measured by the sender)
/// completed some. Returns the transactions.
fn every_transaction_accounted(r: &RunResult, flows: u64, sizes: (u64, u64)) -> u64 {
    let row = r.ok_row();
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert_eq!(row.int("messages_sent"), row.int("messages_received"));
    let tx = row.int("transactions");
    assert!(tx > 0);
    assert_eq!(
        row.int("messages_sent"),
        2 * tx,
        "a request or response unmatched"
    );
    assert_eq!(row.int("bytes_sent"), tx * (sizes.0 + sizes.1));
    // Open loop keeps the round trips from the actual send time beside them
    // (rtt_uncorrected): each histogram holds every transaction once.
    let mut counts = BTreeMap::new();
    for h in &r.histograms().rows {
        *counts.entry(h.get_str("metric").to_string()).or_insert(0) += h.int("count");
    }
    assert_eq!(
        counts.remove("rtt"),
        Some(tx),
        "histogram count vs transactions"
    );
    for (metric, n) in counts {
        assert_eq!(n, tx, "{metric}: histogram count vs transactions");
    }
    let conns = per_conn(r, "messages", "sender");
    assert_eq!(conns.len() as u64, flows, "every connection reported");
    assert!(
        conns.values().all(|&n| n > 0),
        "a connection made no round trip"
    );
    assert_eq!(conns.values().sum::<u64>(), tx);
    tx
}

/// 10,000 udp flows streaming, paced to a datagram of 1 KiB a second each, which
/// loopback carries whole: not one datagram lost, and every flow's arrived.
#[test]
fn ten_thousand_udp_streams_lose_nothing() {
    let flows = 10_000;
    let args = [
        "--proto",
        "udp",
        "--flows",
        "10000",
        "--msg-size",
        "1K",
        "--rate",
        "8K",
        "--duration",
        "2s",
        "--warmup",
        "0s",
    ];
    let Some((r, wall)) = scale_run(&args, flows) else {
        return;
    };
    let row = r.ok_row();
    assert_eq!(row.int("lost"), 0);
    assert_eq!(row.int("duplicated"), 0);
    assert_eq!(row.int("messages_sent"), row.int("messages_received"));
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert_eq!(row.int("bytes_sent"), row.int("messages_sent") * 1024);
    let conns = per_conn(&r, "bytes", "receiver");
    assert_eq!(conns.len() as u64, flows, "every flow reported");
    assert!(conns.values().all(|&b| b > 0), "a flow got nothing");
    assert_eq!(conns.values().sum::<u64>(), row.int("bytes_received"));
    memory_reported("udp stream", flows, &row, wall);
}

/// 10,000 udp request/response flows, closed loop, with a response timeout (5 s) far
/// beyond their round trips: no request lost, none timed out.
#[test]
fn ten_thousand_udp_request_response_flows_lose_nothing() {
    let flows = 10_000;
    let args = [
        "--proto",
        "udp",
        "--pattern",
        "rr",
        "--flows",
        "10000",
        "--msg-size",
        "100",
        "--response-size",
        "200",
        "--rr-timeout",
        "5s",
        "--duration",
        "3s",
        "--warmup",
        "0s",
    ];
    let Some((r, wall)) = scale_run(&args, flows) else {
        return;
    };
    every_transaction_accounted(&r, flows, (100, 200));
    let row = r.ok_row();
    assert_eq!(row.int("lost"), 0);
    assert_eq!(row.int("rr_timeouts"), 0);
    assert_eq!(row.int("rr_late"), 0);
    memory_reported("udp rr", flows, &row, wall);
}

/// 10,000 open-loop tcp request/response flows at 10 requests a second each (100,000 a
/// second asked for in all; on two CPUs a debug build answers fewer, late, and the
/// accounting holds all the same).
#[test]
fn ten_thousand_open_loop_flows_at_ten_requests_a_second_account_every_transaction() {
    let flows = 10_000;
    let args = [
        "--pattern",
        "rr",
        "--rate",
        "10",
        "--flows",
        "10000",
        "--msg-size",
        "100",
        "--response-size",
        "200",
        "--nodelay",
        "--duration",
        "3s",
        "--warmup",
        "0s",
    ];
    let Some((r, wall)) = scale_run(&args, flows) else {
        return;
    };
    let tx = every_transaction_accounted(&r, flows, (100, 200));
    let row = r.ok_row();
    println!(
        "open-loop rr: {:.1} transactions a second a flow for 10 asked",
        tx as f64 / flows as f64 / row.num("measured_s")
    );
    memory_reported("open-loop rr", flows, &row, wall);
}

/// crr with 1,000 connections at once: every transaction a connection of its own, each
/// accepted and served once, in the histogram once, and every flow made some.
#[test]
fn crr_with_a_thousand_connections_at_once_accounts_every_connection() {
    let flows = 1_000;
    let args = [
        "--pattern",
        "crr",
        "--flows",
        "1000",
        "--duration",
        "2s",
        "--warmup",
        "0s",
    ];
    // Each flow's transaction holds a connection at each end, besides the attach ones.
    let Some((r, wall)) = scale_run(&args, 3 * flows) else {
        return;
    };
    let tx = every_transaction_accounted(&r, flows, (64, 64));
    let row = r.ok_row();
    assert_eq!(row.int("connections"), tx, "a connection a transaction");
    memory_reported("crr", flows, &row, wall);
}

/// The same checks at the scale this host's descriptors allow when they do not allow
/// the targets: so that the paths are exercised everywhere.
#[test]
fn the_scale_checks_hold_at_twelve_thousand() {
    tcp_streams(12_000);
    tcp_rr(12_000, "3s");
}
