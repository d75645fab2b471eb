//! `--linger` (SO_LINGER): set on the data sockets, read back into summary.csv, and with
//! `0` an abortive close: a crr run leaves none of its transactions' connections in
//! TIME_WAIT, where a graceful close leaves about one per connection (on the receiver's
//! side, which closes first).

mod common;

use std::process::Command;

use common::*;

/// The TCP connections in TIME_WAIT with `ip` at either end (`ss -tan`), each once
/// (`A <-> B`, its two ends in order), for a failure to show which they are. A connection
/// both ends closed at once (a simultaneous close: both sent FIN before either heard the
/// other's) leaves an entry at each end; it is one connection that closed gracefully.
fn time_wait_at(ip: &str) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-Htan", "state", "time-wait"])
        .output()
        .expect("ss");
    let at = format!("{ip}:");
    let conns: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let ends: Vec<&str> = l.split_whitespace().filter(|f| f.contains(':')).collect();
            let [a, b] = ends[..] else { return None };
            (a.starts_with(&at) || b.starts_with(&at))
                .then(|| format!("{} <-> {}", a.min(b), a.max(b)))
        })
        .collect();
    conns.into_iter().collect()
}

/// The kernel's count of TIME_WAIT entries it did not make because its table was full
/// (`net.ipv4.tcp_max_tw_buckets`): TcpExt TCPTimeWaitOverflow in /proc/net/netstat.
fn time_wait_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let ext: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("TcpExt:"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let [names, values] = &ext[..] else {
        return 0;
    };
    let at = names.iter().position(|n| *n == "TCPTimeWaitOverflow");
    at.and_then(|i| values.get(i)?.parse().ok()).unwrap_or(0)
}

/// A loopback address of this test's own (127.0.0.0/8 is all loopback on Linux), so that
/// other tests' connections do not count: `n` tells this test's runs apart.
fn own_address(n: u32) -> String {
    let pid = std::process::id();
    format!("127.{}.{}.{}", 100 + pid % 100, (pid / 100) % 250, n)
}

/// The connections of a run that carry no transaction: the control connection and each
/// flow's attach connection, which close gracefully (shutdown) whatever SO_LINGER says.
const OTHERS: usize = 1 + FLOWS;
const FLOWS: usize = 4;

fn crr_to(ip: &str, extra: &[&str]) -> (std::collections::HashMap<String, String>, Vec<String>) {
    let server = Server::start_on(&format!("{ip}:0"), &[]);
    let to = server.addr.to_string();
    let flows = FLOWS.to_string();
    let mut args = vec![
        "--to",
        &to,
        "--pattern",
        "crr",
        "--flows",
        &flows,
        "--duration",
        "500ms",
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    let row = r.ok_row();
    drop(server);
    (row, time_wait_at(ip))
}

#[test]
fn linger_zero_closes_crr_connections_without_time_wait() {
    if !need_tool("ss", "apt-get install -y iproute2") {
        return;
    }
    let overflows = time_wait_overflows();
    let (graceful, waiting) = crr_to(&own_address(1), &[]);
    let overflowed = time_wait_overflows().saturating_sub(overflows);
    let tx = graceful.int("transactions");
    assert!(tx > 0);
    assert_eq!(graceful.get_str("linger_req"), "");
    assert_eq!(
        graceful.get_str("linger_eff"),
        "",
        "SO_LINGER off by default"
    );
    // The transactions' connections wait in TIME_WAIT (not quite one per connection: a
    // new connection from a port of an earlier one takes over its TIME_WAIT entry),
    // unless the machine's table of them was full (other runs' connections fill it).
    if overflowed > 0 {
        eprintln!("graceful: the kernel's TIME_WAIT table was full ({overflowed} not made): their count is not checked");
    } else {
        assert!(
            waiting.len() > OTHERS,
            "graceful: {} in TIME_WAIT for {tx} connections",
            waiting.len()
        );
    }

    let overflows = time_wait_overflows();
    let (abortive, waiting) = crr_to(&own_address(2), &["--linger", "0"]);
    let overflowed = time_wait_overflows().saturating_sub(overflows);
    assert!(abortive.int("transactions") > 0);
    assert_eq!(abortive.int("linger_req"), 0);
    assert_eq!(abortive.int("linger_eff"), 0, "read back from the kernel");
    // With the table full, an entry left by a graceful close might not show: said.
    if overflowed > 0 {
        eprintln!("--linger 0: the kernel's TIME_WAIT table was full ({overflowed} not made): a graceful close may not show");
    }
    // Should it fail, the lines show which connections stayed.
    assert!(
        waiting.len() <= OTHERS,
        "--linger 0: {} connections in TIME_WAIT, more than the {OTHERS} that are no \
         transaction's:\n{}",
        waiting.len(),
        waiting.join("\n")
    );
}

#[test]
fn linger_seconds_are_read_back_and_off_sweeps_the_graceful_close() {
    let r = run(&["--linger", "7", "--duration", "300ms"]);
    let row = r.ok_row();
    assert_eq!((row.int("linger_req"), row.int("linger_eff")), (7, 7));
    let r = run(&["--linger", "off", "--duration", "300ms"]);
    assert_eq!(r.ok_row().get_str("linger_eff"), "");
    // Not a knob of datagrams: one line, exit 2.
    let r = run(&["--proto", "udp", "--linger", "0"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("--linger"), "{}", r.stderr());
    let r = run(&["--linger", "70000"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
}
