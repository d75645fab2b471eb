//! `--linger` (SO_LINGER): set on the data sockets, read back into summary.csv, and with
//! `0` an abortive close: a crr run leaves none of its transactions' connections in
//! TIME_WAIT, where a graceful close leaves about one per connection (on the receiver's
//! side, which closes first).

mod common;

use std::process::Command;

use common::*;

/// The TCP connections in TIME_WAIT with `ip` at either end (`ss -tan`).
fn time_wait_at(ip: &str) -> usize {
    let out = Command::new("ss")
        .args(["-Htan", "state", "time-wait"])
        .output()
        .expect("ss");
    let at = format!("{ip}:");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().any(|f| f.starts_with(&at)))
        .count()
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

fn crr_to(ip: &str, extra: &[&str]) -> (std::collections::HashMap<String, String>, usize) {
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
    let (graceful, waiting) = crr_to(&own_address(1), &[]);
    let tx = graceful.int("transactions");
    assert!(tx > 0);
    assert_eq!(graceful.get_str("linger_req"), "");
    assert_eq!(
        graceful.get_str("linger_eff"),
        "",
        "SO_LINGER off by default"
    );
    // The transactions' connections wait in TIME_WAIT (not quite one per connection: a
    // new connection from a port of an earlier one takes over its TIME_WAIT entry).
    assert!(
        waiting > OTHERS,
        "graceful: {waiting} in TIME_WAIT for {tx} connections"
    );

    let (abortive, waiting) = crr_to(&own_address(2), &["--linger", "0"]);
    assert!(abortive.int("transactions") > 0);
    assert_eq!(abortive.int("linger_req"), 0);
    assert_eq!(abortive.int("linger_eff"), 0, "read back from the kernel");
    assert!(
        waiting <= OTHERS,
        "--linger 0: {waiting} connections in TIME_WAIT, more than the {OTHERS} that are no \
         transaction's"
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
