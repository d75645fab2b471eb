//! End-to-end tests on loopback: the real binary, a sender process and a receiver process.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use socket2::{Domain, Protocol, Socket, Type};

/// Checks what holds for every run: counts add up, and the figures the pattern produces
/// are present and ordered.
fn check_run(proto: &str, pattern: &str, r: &RunResult) {
    let row = r.ok_row();
    let what = format!("{proto} {pattern}");
    assert_eq!(row.get_str("protocol"), proto);
    assert_eq!(row.get_str("pattern"), pattern);
    let (sent, received) = (row.int("bytes_sent"), row.int("bytes_received"));
    assert!(sent > 0, "{what}: nothing sent");
    assert!(row.num("goodput_bps") > 0.0, "{what}: no goodput");
    let datagram = proto == "udp" || proto == "unix-dgram";
    if datagram {
        let lost = row.int("lost");
        assert_eq!(
            lost,
            row.int("messages_sent") - row.int("messages_received"),
            "{what}: lost must be sent minus received"
        );
    } else {
        assert_eq!(
            sent, received,
            "{what}: a completed byte stream loses nothing"
        );
        assert_eq!(row.int("lost"), 0);
    }
    if pattern == "rr" {
        let tx = row.int("transactions");
        assert!(tx > 0, "{what}: no transactions");
        let (p50, p99, max) = (
            row.int("rtt_p50_ns"),
            row.int("rtt_p99_ns"),
            row.int("rtt_max_ns"),
        );
        assert!(
            0 < p50 && p50 <= p99 && p99 <= max,
            "{what}: {p50} {p99} {max}"
        );
        // The histogram buckets hold exactly the measured transactions.
        let hist = r.histograms();
        let counted: u64 = hist.rows.iter().map(|h| h.int("count")).sum();
        assert_eq!(counted, tx, "{what}: histogram counts vs transactions");
        assert!(hist.rows.iter().all(|h| h.get_str("metric") == "rtt"));
        let hlog = std::fs::read_to_string(r.dir.join("latency.hlog")).unwrap();
        assert!(
            hlog.contains("Tag=case1.rep1.rtt,"),
            "{what}: no histogram in latency.hlog"
        );
    } else {
        assert_eq!(
            row.get_str("rtt_p50_ns"),
            "",
            "{what}: stream has no round trips"
        );
        // The receiver's per-interval samples add up to what it received.
        let iv = r.intervals();
        let total: u64 = iv.rows.iter().map(|i| i.int("bytes")).sum();
        assert_eq!(total, received, "{what}: intervals vs bytes_received");
    }
    if proto == "tcp" || proto == "mptcp" {
        assert!(
            !row.get_str("tcp_retrans").is_empty(),
            "{what}: TCP_INFO missing"
        );
        assert!(row.int("mss_eff") > 0);
    }
    for side in ["sender_cpu_pct", "receiver_cpu_pct"] {
        assert!(row.num(side) > 0.0, "{what}: {side}");
    }
}

macro_rules! protocol_tests {
    ($($name:ident => $proto:literal),+ $(,)?) => {$(
        #[test]
        fn $name() {
            for pattern in ["stream", "rr"] {
                let r = run(&["--proto", $proto, "--pattern", pattern]);
                check_run($proto, pattern, &r);
            }
        }
    )+};
}

protocol_tests!(
    tcp_stream_and_rr => "tcp",
    udp_stream_and_rr => "udp",
    mptcp_stream_and_rr => "mptcp",
    unix_stream_stream_and_rr => "unix-stream",
    unix_dgram_stream_and_rr => "unix-dgram",
);

#[test]
fn tcp_directions_and_flows_account_every_byte() {
    for (direction, flows, conns) in [("forward", "2", 2), ("reverse", "1", 1), ("bidir", "2", 4)] {
        let r = run(&["--direction", direction, "--flows", flows]);
        let row = r.ok_row();
        assert_eq!(
            row.int("bytes_sent"),
            row.int("bytes_received"),
            "{direction}"
        );
        let iv = r.intervals();
        let mut seen: Vec<&str> = iv.rows.iter().map(|i| i.get_str("conn")).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            conns,
            "{direction}: connections in intervals.csv"
        );
        let dirs: Vec<&str> = iv.rows.iter().map(|i| i.get_str("direction")).collect();
        match direction {
            "bidir" => assert!(dirs.contains(&"forward") && dirs.contains(&"reverse")),
            d => assert!(dirs.iter().all(|x| *x == d), "{direction}: {dirs:?}"),
        }
        let by: Vec<&str> = iv.rows.iter().map(|i| i.get_str("measured_by")).collect();
        if direction == "reverse" {
            assert!(
                by.iter().all(|b| *b == "sender"),
                "reverse data is measured by the run process"
            );
        }
    }
}

#[test]
fn rr_reverse_measures_on_the_receiver_and_ships_the_histogram() {
    for proto in ["tcp", "udp"] {
        let r = run(&[
            "--proto",
            proto,
            "--pattern",
            "rr",
            "--direction",
            "reverse",
        ]);
        let row = r.ok_row();
        assert_eq!(r.histogram_count(), row.int("transactions"), "{proto}");
    }
}

/// What the kernel reports for a socket configured like sockbench's, read here with
/// socket2 — independently of sockbench's own code.
fn kernel_answer(configure: impl Fn(&Socket)) -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    configure(&s);
    s
}

#[test]
fn effective_values_in_the_csv_match_getsockopt() {
    let r = run(&[
        "--sndbuf",
        "48K",
        "--rcvbuf",
        "96K",
        "--mss",
        "1200",
        "--nodelay",
        "--congestion",
        "reno",
        "--notsent-lowat",
        "32K",
        "--tos",
        "0x10",
    ]);
    let row = r.ok_row();
    let s = kernel_answer(|s| {
        s.set_send_buffer_size(48 * 1024).unwrap();
        s.set_recv_buffer_size(96 * 1024).unwrap();
    });
    assert_eq!(row.int("sndbuf_req"), 48 * 1024);
    assert_eq!(row.int("sndbuf_eff"), s.send_buffer_size().unwrap() as u64);
    assert_eq!(row.int("rcvbuf_req"), 96 * 1024);
    assert_eq!(row.int("rcvbuf_eff"), s.recv_buffer_size().unwrap() as u64);
    // Linux doubles what it is asked for (socket(7)); the CSV shows the kernel's figure.
    assert_eq!(row.int("sndbuf_eff"), 2 * 48 * 1024);

    // mss_eff: the MSS of a connected socket with the same TCP_MAXSEG, as TCP_MAXSEG
    // reports it on a connected socket.
    let listener = kernel_answer(|s| {
        s.set_tcp_mss(1200).unwrap();
        s.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        s.listen(1).unwrap();
    });
    let client = kernel_answer(|s| s.set_tcp_mss(1200).unwrap());
    client.connect(&listener.local_addr().unwrap()).unwrap();
    let _server_end = listener.accept().unwrap();
    assert_eq!(row.int("mss_req"), 1200);
    assert_eq!(row.int("mss_eff"), client.tcp_mss().unwrap() as u64);
    assert_eq!(row.get_str("nodelay"), "true");
    assert_eq!(row.get_str("congestion"), "reno");
    assert_eq!(row.int("notsent_lowat_eff"), 32 * 1024);
    assert_eq!(row.int("tos_eff"), 0x10);
}

#[test]
fn clamped_buffers_are_warned_about() {
    let max: u64 = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ask = (max * 4).to_string();
    let r = run(&["--rcvbuf", &ask]);
    let row = r.ok_row();
    assert!(
        r.stderr().contains("net.core.rmem_max"),
        "stderr: {}",
        r.stderr()
    );
    assert!(
        row.int("rcvbuf_eff") < max * 4 * 2,
        "the kernel should have clamped the buffer"
    );
    assert!(row.get_str("warnings").contains("rmem_max"));
}

fn udp_rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap();
    let lines: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == "RcvbufErrors").unwrap();
    values[i].parse().unwrap()
}

#[test]
fn udp_loss_is_counted_exactly() {
    // A receive buffer far too small for an unpaced sender: the kernel drops datagrams.
    let before = udp_rcvbuf_errors();
    let r = run(&["--proto", "udp", "--rcvbuf", "4K", "--msg-size", "1400"]);
    let after = udp_rcvbuf_errors();
    let row = r.ok_row();
    let (sent, received, lost) = (
        row.int("messages_sent"),
        row.int("messages_received"),
        row.int("lost"),
    );
    assert!(lost > 0, "expected drops with a 4K receive buffer");
    assert_eq!(lost, sent - received);
    assert_eq!(row.int("duplicated"), 0);
    // Every datagram we call lost was dropped by the kernel for want of buffer space (the
    // counter may also hold drops of other tests running at the same time).
    assert!(
        after - before >= lost,
        "kernel counted {} drops, we {lost}",
        after - before
    );
    assert_eq!(row.int("bytes_received"), received * 1400);
}

#[test]
fn paced_stream_honours_the_rate() {
    // A large receive buffer: a receiver starved by parallel tests must not drop.
    let r = run(&[
        "--proto",
        "udp",
        "--rate",
        "40M",
        "--rcvbuf",
        "4M",
        "--duration",
        "2s",
    ]);
    let row = r.ok_row();
    // Never ahead of the schedule (a loaded machine makes the sender late, not early),
    // and exact accounting of what was sent.
    let traffic_s = row.num("warmup_s") + row.num("duration_s");
    let msg = row.int("msg_size");
    let most = schedule_bytes(40e6, traffic_s, msg, 1);
    let sent = row.int("bytes_sent");
    assert!(
        sent > 0 && sent <= most,
        "{sent} bytes for a schedule of {most}"
    );
    assert_eq!(
        row.int("lost"),
        row.int("messages_sent") - row.int("messages_received")
    );
    assert_eq!(row.int("lost"), 0);
}

#[test]
fn every_spec_column_is_present() {
    let r = run(&["--pattern", "rr"]);
    r.ok_row();
    let header = r.summary().header;
    for col in spec_columns() {
        assert!(header.contains(&col), "summary.csv lacks SPEC column {col}");
    }
    // The SPEC's columns first, in its order; later additions (src, dst) follow.
    assert_eq!(
        r.histograms().header[..6],
        [
            "case",
            "repetition",
            "metric",
            "value_ns",
            "count",
            "percentile"
        ]
    );
    for col in [
        "case",
        "repetition",
        "flow",
        "interval",
        "bytes",
        "throughput_bps",
    ] {
        assert!(
            r.intervals().header.iter().any(|h| h == col),
            "intervals.csv lacks {col}"
        );
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["schema_version"], 3);
    // Schema 3: each side's system, in the row and among the host facts.
    let pos = |c: &str| header.iter().position(|h| h == c).unwrap();
    let (s_os, r_os, l_req) = (pos("sender_os"), pos("receiver_os"), pos("linger_req"));
    assert!(s_os + 1 == r_os && r_os + 1 == l_req, "{header:?}");
    let row = r.ok_row();
    assert_eq!(
        (row["sender_os"].as_str(), row["receiver_os"].as_str()),
        ("linux", "linux")
    );
    for side in ["sender", "receiver"] {
        assert_eq!(meta["hosts"][side]["system"], "linux", "{side}");
    }
    for side in ["sender", "receiver"] {
        let sysctls = &meta["hosts"][side]["sysctls"];
        for key in [
            "net.core.rmem_max",
            "net.core.wmem_max",
            "net.ipv4.tcp_rmem",
            "net.ipv4.tcp_wmem",
            "net.ipv4.tcp_congestion_control",
        ] {
            assert!(sysctls[key].is_string(), "meta.json lacks {side} {key}");
        }
        assert!(meta["hosts"][side]["kernel"].is_string());
    }
    assert_eq!(meta["cases"][0]["spec"]["pattern"], "rr");
}

#[test]
fn repetitions_write_one_row_each() {
    let r = run(&["--repeat", "3", "--duration", "300ms", "--warmup", "0s"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let reps: Vec<String> = r
        .summary()
        .rows
        .iter()
        .map(|row| row.get_str("repetition").to_string())
        .collect();
    assert_eq!(reps, ["1", "2", "3"]);
}

#[test]
fn bad_input_exits_2_with_one_line_and_no_traffic() {
    let cases: &[&[&str]] = &[
        &["--mss", "10"],
        &["--msg-size", "banana"],
        &["--duration", "-1s"],
        &["--congestion", "no-such-cc"],
        &["--proto", "sctp"],
        &["--proto", "dccp"],
        &["--proto", "carrier-pigeon"],
        &["--proto", "udp", "--nodelay"],
        &["--flows", "0"],
        &["--sndbuf", "lots"],
        &["--pattern", "rr", "--direction", "bidir"],
    ];
    for args in cases {
        let r = run(args);
        assert_eq!(r.code(), 2, "{args:?}: stderr {}", r.stderr());
        let stderr = r.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("error:"), "{args:?}: {lines:?}");
        assert!(!r.stderr().contains("panicked"));
        assert!(!r.dir.exists(), "{args:?}: a results directory was created");
    }
    let r = run(&["--proto", "sctp"]);
    assert!(
        r.stderr().contains("sctp") && r.stderr().contains("kernel"),
        "{}",
        r.stderr()
    );
}

#[test]
fn an_unreachable_receiver_is_one_clear_line() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("127.0.0.1:{port}");
    let r = run(&["--to", &target]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains("cannot reach the receiver") && r.stderr().contains("refused"),
        "{}",
        r.stderr()
    );
    assert!(!r.stderr().contains("panicked"));
    assert!(
        !r.dir.exists(),
        "no results for a run that never reached its receiver"
    );
}

#[test]
fn a_separate_serve_process_serves_once_then_exits() {
    let mut server = Server::start(&["--once"]);
    let target = server.addr.to_string();
    let r = run(&["--to", &target, "--proto", "udp", "--pattern", "rr"]);
    check_run("udp", "rr", &r);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("serve --once should exit");
    assert!(status.success());
}

#[test]
fn garbage_on_the_control_port_does_not_stop_the_receiver() {
    let server = Server::start(&[]);
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x00\x00\x00\x05hello",
        b"\xff\xff\xff\xff",
        b"",
    ] {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(garbage).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    let target = server.addr.to_string();
    let r = run(&["--to", &target, "--duration", "300ms"]);
    r.ok_row();
}

#[test]
fn cpu_affinity_is_applied_per_side_and_read_back() {
    let two = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        >= 2;
    let (s, r) = if two { ("0", "1") } else { ("0", "0") };
    let sender = format!("sender.cpu_affinity={s}");
    let receiver = format!("receiver.cpu_affinity={r}");
    let run = run(&["--set", &sender, "--set", &receiver, "--flows", "2"]);
    let row = run.ok_row();
    assert_eq!(
        row.get_str("sender_cpus"),
        s,
        "as sched_getaffinity reported it"
    );
    assert_eq!(row.get_str("receiver_cpus"), r);
    let bad = run_bad_cpu();
    assert_eq!(bad.code(), 2);
    assert!(
        bad.stderr().contains("not available here"),
        "{}",
        bad.stderr()
    );
}

fn run_bad_cpu() -> RunResult {
    run(&["--cpu-affinity", "1000"])
}
