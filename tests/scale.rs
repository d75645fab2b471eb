//! Scale (issue 11), each case with every byte, message and transaction accounted and the
//! memory per connection reported: 100,000 tcp connections streaming, and 100,000 in
//! closed-loop request/response; 10,000 udp flows streaming, and 10,000 in request/response;
//! 10,000 open-loop tcp request/response flows at 10 requests a second each; crr with
//! 1,000 connections at once. Timings are printed (docs/scale.md has them), never
//! asserted.
//!
//! Each process holds a descriptor per connection, and a process may hold no more than
//! the hard RLIMIT_NOFILE (20,000 here and in CI, without CAP_SYS_RESOURCE to raise it).
//! So the 100,000-connection cases run as one `sockbench mesh --shape ring` over as many
//! loopback daemons as it takes (a process each, within the limit), all pairs at once;
//! the same tcp cases also run in one `sockbench run` on as many connections as one
//! process may hold. A test raises its open-file limit (its children inherit it) and
//! skips, with one line, only where the limit leaves too few for the smallest case. The
//! tests take turns: each needs much of the machine.

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

/// A summary or histogram row's pair of hosts: (src, dst) in a mesh, empty in a run.
type Edge = (String, String);

fn edge(row: &Row) -> Edge {
    let host = |c: &str| row.get(c).cloned().unwrap_or_default();
    (host("src"), host("dst"))
}

type Row = std::collections::HashMap<String, String>;

/// Per connection (its pair of hosts and number), the sums of an intervals.csv column
/// over the rows measured by `side`.
fn per_conn(r: &RunResult, column: &str, side: &str) -> BTreeMap<(Edge, u64), u64> {
    let mut m = BTreeMap::new();
    for i in r
        .intervals()
        .rows
        .iter()
        .filter(|i| i.get_str("measured_by") == side)
    {
        *m.entry((edge(i), i.int("conn"))).or_insert(0) += i.int(column);
    }
    m
}

/// Checks that both sides' memory is reported, per connection too, and prints the figures
/// docs/scale.md quotes.
fn memory_reported(what: &str, conns: u64, row: &Row, wall: Duration) {
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

/// The most connections one process may hold here: its descriptor limit, raised as far as
/// it may be, less some to spare, and at most the 100,000 of the targets.
fn one_process_holds() -> u64 {
    let limit = sockbench::measure::hostinfo::raise_nofile_limit();
    limit.saturating_sub(1024).min(100_000)
}

/// tcp streams on as many connections as one process may hold, in one `sockbench run`
/// (here the hard limit of 20,000 descriptors gives 18,976): every byte sent arrives, on
/// every connection.
#[test]
fn as_many_tcp_streams_as_one_process_may_hold_account_every_byte() {
    tcp_streams(one_process_holds());
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
    every_byte_accounted(&r, std::slice::from_ref(&row), flows);
    memory_reported("tcp stream", flows, &row, wall);
}

/// Checks a stream test's bytes: every row's sent arrived, and every connection (its
/// interval rows, measured by the receiver) of the `conns` got some. Returns the bytes.
fn every_byte_accounted(r: &RunResult, rows: &[Row], conns: u64) -> u64 {
    for row in rows {
        assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{row:?}");
        assert_eq!(
            row.int("messages_sent"),
            row.int("messages_received"),
            "{row:?}"
        );
    }
    let received: u64 = rows.iter().map(|row| row.int("bytes_received")).sum();
    let per = per_conn(r, "bytes", "receiver");
    assert_eq!(per.len() as u64, conns, "every connection reported");
    assert!(per.values().all(|&b| b > 0), "a connection got nothing");
    assert_eq!(per.values().sum::<u64>(), received);
    received
}

/// Closed-loop tcp request/response on as many connections as one process may hold, in
/// one `sockbench run`: every request answered and every response read, each transaction
/// in the histogram once, and every connection served.
#[test]
fn as_many_tcp_request_response_connections_as_one_process_may_hold_account_every_transaction() {
    tcp_rr(one_process_holds(), "10s");
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
    let row = r.ok_row();
    every_transaction_accounted(&r, std::slice::from_ref(&row), flows, (100, 200));
    memory_reported("tcp rr", flows, &row, wall);
}

/// Checks one summary row's transactions: every request (of `sizes.0` bytes) answered
/// and every response (`sizes.1`) read, none half done. Returns the transactions.
fn row_transactions(row: &Row, sizes: (u64, u64)) -> u64 {
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{row:?}");
    assert_eq!(
        row.int("messages_sent"),
        row.int("messages_received"),
        "{row:?}"
    );
    let tx = row.int("transactions");
    assert!(tx > 0);
    assert_eq!(
        row.int("messages_sent"),
        2 * tx,
        "a request or response unmatched"
    );
    assert_eq!(row.int("bytes_sent"), tx * (sizes.0 + sizes.1));
    tx
}

/// Checks an rr test's transactions, row by row (a mesh has one a pair of hosts): each
/// row's requests answered ([`row_transactions`]), each of its transactions in each of
/// its histograms once, and every connection's requester (its interval rows, measured by
/// the sender) of the `conns` completed some. Returns the transactions.
fn every_transaction_accounted(r: &RunResult, rows: &[Row], conns: u64, sizes: (u64, u64)) -> u64 {
    let tx_of: BTreeMap<Edge, u64> = rows
        .iter()
        .map(|row| (edge(row), row_transactions(row, sizes)))
        .collect();
    assert_eq!(tx_of.len(), rows.len(), "a pair of hosts twice");
    // Open loop keeps the round trips from the actual send time beside them
    // (rtt_uncorrected): each histogram holds every transaction once.
    let mut counts: BTreeMap<(Edge, String), u64> = BTreeMap::new();
    for h in &r.histograms().rows {
        *counts
            .entry((edge(h), h.get_str("metric").to_string()))
            .or_insert(0) += h.int("count");
    }
    for (e, tx) in &tx_of {
        let rtt = counts.get(&(e.clone(), "rtt".to_string())).copied();
        assert_eq!(rtt, Some(*tx), "{e:?}: histogram count vs transactions");
    }
    for ((e, metric), n) in counts {
        assert_eq!(
            Some(&n),
            tx_of.get(&e),
            "{e:?} {metric}: histogram count vs transactions"
        );
    }
    let total: u64 = tx_of.values().sum();
    let per = per_conn(r, "messages", "sender");
    assert_eq!(per.len() as u64, conns, "every connection reported");
    assert!(
        per.values().all(|&n| n > 0),
        "a connection made no round trip"
    );
    assert_eq!(per.values().sum::<u64>(), total);
    total
}

/// A ring of loopback daemons (`sockbench serve` on 127.0.0.1, 127.0.0.2, ...: a process
/// each) that `sockbench mesh --shape ring` runs as one round, every daemon sending
/// `per_edge` connections to the next and receiving as many from the previous, all
/// started at one wall-clock time: so that `conns` connections run at once where one
/// process may not hold them. Killed on drop.
struct Ring {
    daemons: Vec<Server>,
    per_edge: u64,
}

impl Ring {
    /// As few daemons as hold `conns` connections (at least three), each within this
    /// host's descriptor limit (its children inherit the limit raised); `None` (skipped)
    /// where the limit leaves too few for a daemon.
    fn up(conns: u64) -> Option<Ring> {
        let limit = sockbench::measure::hostinfo::raise_nofile_limit();
        // A daemon holds both ends' sockets of different pairs, and some to spare.
        let most = limit.saturating_sub(2048) / 2;
        let n = conns.div_ceil(most.max(1)).max(3);
        let fits = require(
            most >= 1000,
            &format!("4,048 open files a daemon (RLIMIT_NOFILE here: {limit})"),
            "raise the hard limit (ulimit -Hn)",
        );
        if !fits {
            return None;
        }
        let daemons = (1..=n)
            .map(|i| loopback_daemon(&format!("127.0.0.{i}:0")))
            .collect();
        Some(Ring {
            daemons,
            per_edge: conns.div_ceil(n),
        })
    }

    fn conns(&self) -> u64 {
        self.per_edge * self.daemons.len() as u64
    }

    /// `sockbench mesh --shape ring` over the daemons with `args` and
    /// `--flows per_edge`, with its wall time.
    fn mesh(&self, args: &[&str]) -> (RunResult, Duration) {
        let tmp = tempfile::tempdir().unwrap();
        let hosts = tmp.path().join("hosts");
        let text: String = (self.daemons.iter().enumerate())
            .map(|(i, d)| format!("h{} {}\n", i + 1, d.addr))
            .collect();
        std::fs::write(&hosts, text).unwrap();
        let dir = tmp.path().join("out");
        let flows = self.per_edge.to_string();
        let mut all = vec![
            "mesh",
            hosts.to_str().unwrap(),
            "--shape",
            "ring",
            "--quiet",
        ];
        all.extend(["--flows", &flows, "--out", dir.to_str().unwrap()]);
        all.extend(args);
        let started = Instant::now();
        let output = sockbench(&all, LIMIT);
        let wall = started.elapsed();
        let r = RunResult {
            _tmp: tmp,
            dir,
            output,
        };
        (r, wall)
    }
}

/// A `sockbench serve` process on `listen`, serving a test and sending one for the
/// controller at once.
fn loopback_daemon(listen: &str) -> Server {
    let mut child = std::process::Command::new(bin())
        .args([
            "serve",
            "--listen",
            listen,
            "--quiet",
            "--max-concurrent",
            "2",
            "--allow-relay-without-key",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let addr = listening_addr(&mut child);
    Server { child, addr }
}

/// The mesh's summary rows, one a pair of hosts, checked to be `ok`.
fn ok_rows(r: &RunResult, pairs: usize) -> Vec<Row> {
    // The mesh runs --quiet: what failed is in its rows.
    let errors: Vec<String> = std::fs::read_to_string(r.dir.join("summary.csv"))
        .ok()
        .map(|_| {
            r.summary()
                .rows
                .iter()
                .filter(|row| row.get_str("status") != "ok")
                .map(|row| format!("{:?}: {}", edge(row), row.get_str("error")))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        r.code(),
        0,
        "exit code; output:\n{}{}\nrows not ok: {errors:#?}",
        r.stdout(),
        r.stderr()
    );
    let rows = r.summary().rows;
    assert_eq!(rows.len(), pairs, "a row a pair of hosts");
    for row in &rows {
        let status = row.get_str("status");
        assert_eq!(status, "ok", "{:?}: {}", edge(row), row.get_str("error"));
    }
    rows
}

/// Checks that every daemon's memory is reported, per connection too, and prints the
/// figures docs/scale.md quotes: a daemon holds the sending end of its pair and the
/// receiving end of the previous one's, 2 x `per_edge` sockets.
fn ring_memory_reported(what: &str, ring: &Ring, rows: &[Row], wall: Duration) {
    let mut rss = Vec::new();
    for row in rows {
        let (sender, receiver) = (row.int("sender_rss_kib"), row.int("receiver_rss_kib"));
        assert!(
            sender > 0 && receiver > 0,
            "{what} {:?}: RSS reported",
            edge(row)
        );
        let per_conn = row.num("sender_rss_kib_per_conn");
        assert!(per_conn > 0.0, "{what}: memory per connection reported");
        rss.push(sender.max(receiver));
    }
    let (max, mean) = (
        rss.iter().max().copied().unwrap_or(0),
        rss.iter().sum::<u64>() / rss.len().max(1) as u64,
    );
    println!(
        "{what}: {} connections over {} daemons ({} a pair), {:.1} s wall for {} s of traffic; RSS a daemon {mean} KiB on average, {max} KiB at most ({:.2} KiB a socket it holds)",
        ring.conns(),
        ring.daemons.len(),
        ring.per_edge,
        wall.as_secs_f64(),
        rows[0].get_str("duration_s"),
        mean as f64 / (2 * ring.per_edge) as f64,
    );
}

/// 100,000 tcp connections streaming at once, over a ring of loopback daemons (a process
/// holds at most 20,000 descriptors here: 12 daemons of 8,334 connections a pair). Paced
/// to one 1 KiB message a connection (200 bytes a second, 5 s) so that neither the
/// kernel's socket memory nor two CPUs' worth of writes is the test: every byte sent
/// arrives, on every connection.
#[test]
fn a_hundred_thousand_tcp_streams_over_a_ring_of_daemons_account_every_byte() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let Some(ring) = Ring::up(100_000) else {
        return;
    };
    let args = [
        "--msg-size",
        "1K",
        "--rate",
        "1600",
        "--duration",
        "5s",
        "--warmup",
        "0s",
    ];
    let (r, wall) = ring.mesh(&args);
    let rows = ok_rows(&r, ring.daemons.len());
    assert!(ring.conns() >= 100_000);
    let bytes = every_byte_accounted(&r, &rows, ring.conns());
    println!("tcp stream over a ring: {bytes} bytes, every one received");
    ring_memory_reported("tcp stream over a ring", &ring, &rows, wall);
}

/// 100,000 closed-loop tcp request/response connections at once, over a ring of loopback
/// daemons: every request answered and every response read, each transaction in the
/// histogram once, and every connection served.
#[test]
fn a_hundred_thousand_tcp_request_response_connections_over_a_ring_of_daemons_account_every_transaction(
) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let Some(ring) = Ring::up(100_000) else {
        return;
    };
    // Closed loop on two CPUs: some 40,000 round trips a second in all, so each of
    // 100,000 connections gets one every two or three seconds.
    let args = [
        "--pattern",
        "rr",
        "--msg-size",
        "100",
        "--response-size",
        "200",
        "--nodelay",
        "--duration",
        "10s",
        "--warmup",
        "0s",
    ];
    let (r, wall) = ring.mesh(&args);
    let rows = ok_rows(&r, ring.daemons.len());
    assert!(ring.conns() >= 100_000);
    let tx = every_transaction_accounted(&r, &rows, ring.conns(), (100, 200));
    println!("tcp rr over a ring: {tx} transactions, every one accounted");
    ring_memory_reported("tcp rr over a ring", &ring, &rows, wall);
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
    let row = r.ok_row();
    every_transaction_accounted(&r, std::slice::from_ref(&row), flows, (100, 200));
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
    let row = r.ok_row();
    let tx = every_transaction_accounted(&r, std::slice::from_ref(&row), flows, (100, 200));
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
    let row = r.ok_row();
    let tx = every_transaction_accounted(&r, std::slice::from_ref(&row), flows, (64, 64));
    assert_eq!(row.int("connections"), tx, "a connection a transaction");
    memory_reported("crr", flows, &row, wall);
}
