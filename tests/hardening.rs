//! The daemon attacked as an attacker would: crafted setups, idle and trickling
//! connections, strangers on data ports, limits pushed from every side, a rewritten
//! setup on an authenticated connection, and the resources left behind by all of it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use sockbench::net::control::{self, Message};
use sockbench::spec::config::TestSpec;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A raw control connection that has completed the keyless handshake.
/// A test whose sender went away may hold the daemon's one slot for a moment: "busy" is
/// retried, for at most three times the daemon's own heartbeat limit (a bound on this
/// test's runtime, with room for a loaded machine; being served is what is asserted).
fn greeted(addr: SocketAddr) -> TcpStream {
    let started = Instant::now();
    loop {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        control::send(&mut s, &Message::hello()).unwrap();
        match control::recv(&mut s).unwrap() {
            Message::Welcome { .. } => return s,
            Message::Error { message }
                if message.starts_with("busy")
                    && started.elapsed() < sockbench::session::sender::HEARTBEAT_LOSS * 3 =>
            {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => panic!("expected a welcome, got {other:?}"),
        }
    }
}

/// Sends a Setup whose JSON was edited by `edit`, returns the daemon's answer.
fn crafted_setup(addr: SocketAddr, edit: impl Fn(&mut serde_json::Value)) -> Message {
    let mut s = greeted(addr);
    let mut spec = serde_json::to_value(TestSpec {
        duration: Duration::from_millis(300),
        warmup: Duration::ZERO,
        interval: Duration::from_millis(100),
        ..TestSpec::default()
    })
    .unwrap();
    edit(&mut spec);
    let msg = serde_json::json!({"type": "setup", "spec": spec});
    s.write_all(&frame(&serde_json::to_vec(&msg).unwrap()))
        .unwrap();
    control::recv(&mut s).unwrap()
}

fn threads(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// Waits until `f` holds, at most `limit`; whether it did.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A crafted setup's edit of the JSON, and what its refusal says.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// Setups a hostile sender may craft, each to be refused with the reason.
fn crafted_setups() -> Vec<(Edit, &'static str)> {
    vec![
        (
            Box::new(|v| v["receiver"]["cpus"] = serde_json::json!([5000])),
            "out of range",
        ),
        (
            Box::new(|v| v["sender"]["cpus"] = serde_json::json!([4096])),
            "out of range",
        ),
        (
            Box::new(|v| v["receiver"]["cpus"] = serde_json::json!([])),
            "--cpu-affinity",
        ),
        (
            Box::new(|v| {
                v["pattern"] = "rr".into();
                v["response_size"] = 64.into();
                v["rr_timeout"] = serde_json::json!({"secs": u64::MAX, "nanos": 0});
            }),
            "--rr-timeout",
        ),
        (
            Box::new(|v| {
                v["pattern"] = "rr".into();
                v["response_size"] = 64.into();
                v["rate"] = serde_json::json!(u64::MAX);
            }),
            "outstanding",
        ),
        (
            Box::new(|v| v["interval"] = serde_json::json!({"secs": 0, "nanos": 10_000_000})),
            "samples",
        ),
        (Box::new(|v| v["flows"] = 0.into()), "--flows"),
        (Box::new(|v| v["msg_size"] = 0.into()), "--msg-size"),
        (Box::new(|v| v["receiver"]["udp_gso"] = 0.into()), "--gso"),
        // 2^64 ns: an interval whose nanoseconds wrapped to 0 in a u64 divided by zero.
        (
            Box::new(|v| {
                v["interval"] = serde_json::json!({"secs": 18_446_744_073u64, "nanos": 709_551_616})
            }),
            "--interval is limited",
        ),
        // 16 udp flows batching 1024 datagrams of 64 KB: 1 GiB of receive buffers, which
        // the memory estimate did not count (under `ulimit -v` the allocation aborted it).
        (
            Box::new(|v| {
                v["protocol"] = "udp".into();
                v["flows"] = 16.into();
                v["batch"] = 1024.into();
                v["msg_size"] = 65507.into();
            }),
            "--max-memory",
        ),
    ]
}

#[test]
fn crafted_setups_are_refused_and_the_daemon_stays() {
    let mut server = Server::start(&["--max-memory", "1G"]);
    let cases = crafted_setups();
    // The interval case: 24h at 10ms is 8.6M samples per role.
    let long = TestSpec {
        duration: Duration::from_secs(24 * 3600),
        ..TestSpec::default()
    };
    for (edit, says) in cases {
        let reply = crafted_setup(server.addr, |v| {
            if says == "samples" {
                v["duration"] = serde_json::to_value(long.duration).unwrap();
            }
            edit(v)
        });
        match reply {
            Message::Error { message } => assert!(message.contains(says), "{says}: {message}"),
            other => panic!("{says}: expected a refusal, got {other:?}"),
        }
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the daemon died on {says}"
        );
    }
    run(&[
        "--to",
        &server.addr.to_string(),
        "--duration",
        "300ms",
        "--warmup",
        "0s",
    ])
    .ok_row();
    assert!(server.wait_exit(Duration::ZERO).is_none());
}

/// Opens `n` connections that say nothing, and `n` that trickle one byte a second (a
/// length prefix that never ends), and with `garbage` another `n` that send junk frames.
struct Crowd {
    idle: Vec<TcpStream>,
    drip: Vec<TcpStream>,
}

impl Crowd {
    fn gather(addr: SocketAddr, n: usize) -> Crowd {
        let mut crowd = Crowd {
            idle: Vec::new(),
            drip: Vec::new(),
        };
        for i in 0..2 * n {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nonblocking(true).unwrap();
            if i % 2 == 0 {
                crowd.idle.push(s);
            } else {
                crowd.drip.push(s);
            }
        }
        crowd
    }

    /// One byte on every dripping connection (those the daemon closed just fail).
    fn drip(&mut self) {
        for s in &mut self.drip {
            let _ = s.write(&[0]);
        }
    }
}

/// The daemon's default handshake deadline.
const HANDSHAKE_DEADLINE: Duration = sockbench::session::receiver::DEFAULT_HANDSHAKE_TIMEOUT;

/// Waits for `child`, killing it and failing past `limit` (a bound on the test's runtime).
/// A sender's handshake is served while other connections are held open: before the
/// daemon's own handshake deadline (`limit`), at which a held connection would have been
/// dropped and freed the daemon anyway. No fixed time: the bound is the daemon's.
fn served_within(addr: SocketAddr, limit: Duration, psk: Option<&sockbench::net::auth::Psk>) {
    let started = Instant::now();
    let peer = sockbench::session::sender::Peer::connect(addr, psk);
    let took = started.elapsed();
    assert!(
        peer.is_ok(),
        "refused: {:?}",
        peer.err().map(|e| e.to_string())
    );
    assert!(took < limit, "the handshake took {took:?}");
}

#[test]
fn idle_and_trickling_connections_cannot_hold_the_daemon() {
    let server = Server::start(&[]);
    let pid = server.child.id();
    // A first test so that the daemon's steady state (threads, buffers) is reached.
    run(&[
        "--to",
        &server.addr.to_string(),
        "--duration",
        "200ms",
        "--warmup",
        "0s",
    ])
    .ok_row();
    let (fds0, rss0) = (fds(pid), rss_kib(pid));
    let mut crowd = Crowd::gather(server.addr, 200);
    for _ in 0..3 {
        crowd.drip();
        std::thread::sleep(Duration::from_millis(300));
    }
    served_within(server.addr, HANDSHAKE_DEADLINE, None);
    let r = run(&[
        "--to",
        &server.addr.to_string(),
        "--duration",
        "300ms",
        "--warmup",
        "0s",
    ]);
    r.ok_row();
    drop(crowd);
    assert!(
        eventually(Duration::from_secs(8), || fds(pid) <= fds0 + 4),
        "descriptors: {} before, {} after",
        fds0,
        fds(pid)
    );
    let rss = rss_kib(pid);
    assert!(
        rss < rss0 + 16 * 1024,
        "RSS {rss0} KiB before, {rss} KiB after"
    );
}

/// A key holder's sessions that idle after the handshake are capped at `--max-pending`:
/// one more is told the receiver is busy, so that idle sessions cannot take every
/// descriptor and thread; a session that closes gives its place back.
#[test]
fn authenticated_idle_sessions_are_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let key_path = tmp.path().join("key");
    std::fs::write(&key_path, "6a0f3c9e1b7d4a25c8e0f1d2b3a49c5e\n").unwrap();
    let server = Server::start(&[
        "--psk-file",
        key_path.to_str().unwrap(),
        "--max-pending",
        "4",
    ]);
    let psk = sockbench::net::auth::Psk::from_bytes(b"6a0f3c9e1b7d4a25c8e0f1d2b3a49c5e");
    let connect = || sockbench::session::sender::Peer::connect(server.addr, Some(&psk));
    let mut held: Vec<_> = (0..4).map(|_| connect().expect("a place")).collect();
    let e = connect().err().expect("a fifth session").to_string();
    assert!(e.contains("busy: 4 authenticated sessions"), "{e}");
    // One closes: its place is given back once the daemon sees the close.
    drop(held.pop());
    let started = Instant::now();
    loop {
        match connect() {
            Ok(p) => break held.push(p),
            // A bound on the test's own runtime: the daemon's idle limit.
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                assert!(e.to_string().contains("busy"), "{e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the place was not given back: {e}"),
        }
    }
    assert_eq!(held.len(), 4);
}

#[test]
fn with_a_key_garbage_and_wrong_keys_cannot_hold_the_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let key_path = tmp.path().join("key");
    std::fs::write(&key_path, "6a0f3c9e1b7d4a25c8e0f1d2b3a49c5e\n").unwrap();
    let server = Server::start(&["--psk-file", key_path.to_str().unwrap()]);
    let pid = server.child.id();
    let psk = sockbench::net::auth::Psk::from_bytes(b"6a0f3c9e1b7d4a25c8e0f1d2b3a49c5e");
    let wrong = sockbench::net::auth::Psk::from_bytes(b"some other key, 32 bytes long...");
    served_within(server.addr, HANDSHAKE_DEADLINE, Some(&psk));
    let fds0 = fds(pid);
    let mut held = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        if i % 2 == 0 {
            let _ = s.write_all(&frame(b"{\"type\":\"hello\",\"magic\":\"x\""));
        // junk JSON
        } else {
            // A real hello, then silence: the challenge is never answered.
            let _ = control::send(&mut s, &Message::hello());
        }
        held.push(s);
    }
    // Wrong keys, one after another.
    for _ in 0..20 {
        assert!(sockbench::session::sender::Peer::connect(server.addr, Some(&wrong)).is_err());
    }
    served_within(server.addr, HANDSHAKE_DEADLINE, Some(&psk));
    drop(held);
    assert!(
        eventually(Duration::from_secs(8), || fds(pid) <= fds0 + 4),
        "descriptors: {} before, {} after",
        fds0,
        fds(pid)
    );
}

#[test]
fn a_silent_connection_is_closed_at_the_handshake_deadline() {
    let server = Server::start(&["--handshake-timeout", "1s"]);
    for input in [&b""[..], &[0, 0][..], &frame(b"{\"type\":\"hel")[..]] {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(input).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        // One byte a quarter second: the deadline is for the whole handshake.
        let mut closed = false;
        // The byte a quarter second keeps any per-read timeout from firing: only the
        // whole-handshake deadline closes it. The loop's bound only bounds the test.
        while started.elapsed() < Duration::from_secs(30) {
            if s.write_all(b" ").is_err() {
                closed = true;
                break;
            }
            let mut b = [0u8; 64];
            s.set_nonblocking(true).unwrap();
            match s.read(&mut b) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                    closed = true;
                    break;
                }
                _ => {}
            }
            s.set_nonblocking(false).unwrap();
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(closed, "still open after {:?}", started.elapsed());
    }
}

#[test]
fn oversized_and_flooding_hellos_are_cut_short_and_logged_briefly() {
    let mut server = Server::start(&[]);
    // 60 MB claimed before any authentication: refused on the length alone.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&(60u32 << 20).to_be_bytes()).unwrap();
    let mut sink = Vec::new();
    // Closed by the daemon (an end of stream or a reset), not left open until this
    // side's own read timeout.
    let got = s.read_to_end(&mut sink);
    assert!(
        !matches!(&got, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "still open: {got:?}"
    );
    assert!(sink.len() < 1024, "{} bytes came back", sink.len());
    // A 4 KiB magic of combining characters: echoed and logged clipped.
    let magic = "\u{301}".repeat(1000);
    let hello =
        serde_json::json!({"type":"hello","magic":magic,"version":3,"sockbench_version":"x"});
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&frame(&serde_json::to_vec(&hello).unwrap()))
        .unwrap();
    match control::recv(&mut s) {
        Ok(Message::Error { message }) => assert!(message.len() < 1024, "{}", message.len()),
        other => panic!("expected a short error, got {other:?}"),
    }
    drop(s);
    std::thread::sleep(Duration::from_millis(200));
    let _ = server.child.kill();
    let mut log = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.len() < 4096, "{} bytes of log", log.len());
}

#[test]
fn limits_count_every_connection_direction_and_side() {
    let server = Server::start(&[
        "--max-flows",
        "4",
        "--max-rate",
        "100M",
        "--max-buffer",
        "1M",
        "--max-message",
        "1M",
        "--max-memory",
        "8M",
    ]);
    let to = server.addr.to_string();
    for (args, says) in [
        (
            vec!["--rate", "10M", "--flows", "4", "--direction", "bidir"],
            "asked for 8",
        ),
        (
            vec!["--rate", "10M", "--flows", "4", "--probe", "rr"],
            "asked for 5",
        ),
        (vec![], "unpaced"),
        (vec!["--direction", "reverse"], "unpaced"),
        (vec!["--flows", "4", "--rate", "100M"], "= 400000000"),
        (
            vec!["--rate", "10M", "--set", "receiver.rcvbuf=4M"],
            "at most 1048576 bytes",
        ),
        (
            vec!["--rate", "10M", "--set", "sender.sndbuf=4M"],
            "at most 1048576 bytes",
        ),
        (
            vec!["--pattern", "rr", "--rate", "100", "--msg-size", "4M"],
            "messages of at most 1048576",
        ),
        (
            vec![
                "--rate", "1M", "--flows", "4", "--rcvbuf", "1M", "--sndbuf", "1M",
            ],
            "--max-memory",
        ),
    ] {
        let mut all = vec!["--to", to.as_str(), "--warmup", "0s", "--duration", "300ms"];
        all.extend(args);
        let r = run(&all);
        assert_eq!(r.code(), 1, "{all:?}: {}", r.stderr());
        let s = r.summary();
        assert_eq!(s.rows[0].get_str("status"), "error", "{all:?}");
        let error = s.rows[0].get_str("error");
        assert!(error.contains(says), "{all:?}: {error}");
    }
    run(&[
        "--to",
        &to,
        "--warmup",
        "0s",
        "--duration",
        "300ms",
        "--rate",
        "10M",
    ])
    .ok_row();
}

#[test]
fn a_rewritten_setup_on_a_keyed_connection_is_refused() {
    use std::net::TcpListener;
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key");
    std::fs::write(&key, "1f2e3d4c5b6a79880f1e2d3c4b5a6978\n").unwrap();
    let server = Server::start(&["--psk-file", key.to_str().unwrap()]);
    // An on-path proxy that turns "flows":1 into "flows":2 in whatever passes.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let upstream = server.addr;
    std::thread::spawn(move || {
        for conn in proxy.incoming().take(1) {
            let mut down = conn.unwrap();
            let mut up = TcpStream::connect(upstream).unwrap();
            let (mut down2, mut up2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up2, &mut down2);
            });
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = match down.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut chunk = buf[..n].to_vec();
                let needle = b"\"flows\":1,";
                if let Some(i) = chunk.windows(needle.len()).position(|w| w == needle) {
                    chunk[i + 8] = b'2';
                }
                if up.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
    });
    let r = run(&[
        "--to",
        &proxy_addr.to_string(),
        "--psk-file",
        key.to_str().unwrap(),
        "--duration",
        "300ms",
        "--warmup",
        "0s",
    ]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    let s = r.summary();
    assert_eq!(s.rows[0].get_str("status"), "error");
    assert_eq!(s.rows[0].int("bytes_sent"), 0);
    // Straight to the daemon, the same key runs.
    run(&[
        "--to",
        &server.addr.to_string(),
        "--psk-file",
        key.to_str().unwrap(),
        "--duration",
        "300ms",
        "--warmup",
        "0s",
    ])
    .ok_row();
}

#[test]
fn abandoned_setups_and_aborted_tests_leave_no_threads_or_descriptors() {
    let server = Server::start(&[]);
    let pid = server.child.id();
    run(&[
        "--to",
        &server.addr.to_string(),
        "--duration",
        "200ms",
        "--warmup",
        "0s",
    ])
    .ok_row();
    let (fds0, threads0) = (fds(pid), threads(pid));
    // Setups whose sender vanishes after Ready: 1024 udp sockets each.
    for _ in 0..10 {
        let reply = crafted_setup(server.addr, |v| {
            v["protocol"] = "udp".into();
            v["msg_size"] = 1400.into();
            v["flows"] = 1024.into();
        });
        assert!(matches!(reply, Message::Ready { .. }), "{reply:?}");
    }
    assert!(
        eventually(Duration::from_secs(5), || fds(pid) <= fds0 + 4),
        "descriptors: {fds0} before, {} after",
        fds(pid)
    );
    // Long tests whose sender is killed mid-way.
    for _ in 0..3 {
        let tmp = tempfile::tempdir().unwrap();
        let mut victim = std::process::Command::new(bin())
            .args([
                "run",
                "--to",
                &server.addr.to_string(),
                "--duration",
                "24h",
                "--out",
            ])
            .arg(tmp.path().join("out"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        victim.kill().unwrap();
        victim.wait().unwrap();
    }
    assert!(
        eventually(Duration::from_secs(15), || threads(pid) <= threads0),
        "threads: {threads0} before, {} after",
        threads(pid)
    );
    assert!(eventually(Duration::from_secs(5), || fds(pid) <= fds0 + 4));
    run(&[
        "--to",
        &server.addr.to_string(),
        "--duration",
        "200ms",
        "--warmup",
        "0s",
    ])
    .ok_row();
}

#[test]
fn strangers_on_data_ports_cost_no_transaction() {
    let (low, high) = (47411u16, 47413u16);
    let server = Server::start(&["--data-ports", &format!("{low}-{high}")]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pest = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for port in low..=high {
                    if let Ok(s) = TcpStream::connect_timeout(
                        &SocketAddr::from(([127, 0, 0, 1], port)),
                        Duration::from_millis(50),
                    ) {
                        held.push(s);
                    }
                }
                held.truncate(64);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let to = server.addr.to_string();
    let crr = run(&[
        "--to",
        &to,
        "--pattern",
        "crr",
        "--duration",
        "2s",
        "--warmup",
        "0s",
    ]);
    let row = crr.ok_row();
    let max_rtt: f64 = row["rtt_max_ns"].parse().unwrap_or(0.0);
    assert!(max_rtt < 1e9, "a transaction took {max_rtt} ns");
    run(&[
        "--to",
        &to,
        "--flows",
        "8",
        "--duration",
        "500ms",
        "--warmup",
        "0s",
    ])
    .ok_row();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    pest.join().unwrap();
}

#[test]
fn ctrl_c_keeps_both_sides_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = std::process::Command::new(bin())
        .args([
            "run",
            "--duration",
            "20s",
            "--warmup",
            "0s",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    // As a terminal does: SIGINT to the whole foreground process group.
    // SAFETY: kill with a negative pid signals that process group.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGINT);
    }
    // Bounds this test's runtime only: a sender that ignored SIGINT is killed and fails.
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130));
    let s = read_csv(&out.join("summary.csv"));
    let row = &s.rows[0];
    assert_eq!(row.get_str("status"), "aborted");
    assert!(row.int("bytes_sent") > 0);
    assert!(
        row.int("bytes_received") > 0,
        "the receiver's figures were lost"
    );
    assert!(row.num("goodput_bps") > 0.0);
}

use std::os::unix::process::CommandExt;

#[test]
fn a_stopped_receiver_is_noticed_by_its_heartbeat() {
    for proto in ["udp", "tcp"] {
        let server = Server::start(&[]);
        let to = server.addr.to_string();
        let pid = server.child.id();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            signal(pid, libc::SIGSTOP);
        });
        let r = run(&[
            "--to",
            &to,
            "--proto",
            proto,
            "--rate",
            "50M",
            "--duration",
            "60s",
            "--warmup",
            "0s",
        ]);
        stopper.join().unwrap();
        signal(pid, libc::SIGCONT);
        assert_eq!(r.code(), 1, "{proto}: {}", r.stderr());
        let s = r.summary();
        let row = &s.rows[0];
        assert_eq!(row.get_str("status"), "aborted", "{proto}");
        // Ended by the loss detection (the heartbeat, or on tcp the write's stall limit,
        // the same 10 s), not by the run's own 60 s of sending, which would end it ok.
        let error = row.get_str("error");
        assert!(
            error.contains("heartbeat") || (proto == "tcp" && error.contains("stalled")),
            "{proto}: {error}"
        );
        assert!(
            row.int("bytes_sent") > 0,
            "{proto}: the sender's figures are kept"
        );
    }
}

#[test]
fn a_stopped_sender_frees_the_daemon_and_the_next_is_served() {
    let server = Server::start(&[]);
    let to = server.addr.to_string();
    let tmp = tempfile::tempdir().unwrap();
    let mut victim = std::process::Command::new(bin())
        .args([
            "run",
            "--to",
            &to,
            "--duration",
            "24h",
            "--warmup",
            "0s",
            "--out",
        ])
        .arg(tmp.path().join("out"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    signal(victim.id(), libc::SIGSTOP);
    // The receiver's roles stall out after 10 s, and the sender has 15 s more to finish.
    let started = Instant::now();
    loop {
        let r = run(&["--to", &to, "--duration", "200ms", "--warmup", "0s"]);
        if r.code() == 0 {
            r.ok_row();
            break;
        }
        assert!(r.stderr().contains("busy"), "{}", r.stderr());
        // A bound on this test's runtime: the stall limit, the sender's 15 s to finish,
        // and as much again for a loaded machine.
        assert!(
            started.elapsed() < 2 * (sockbench::engine::STALL + Duration::from_secs(15)),
            "still busy"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    signal(victim.id(), libc::SIGCONT);
    let _ = victim.kill();
    victim.wait().unwrap();
    run(&["--to", &to, "--duration", "200ms", "--warmup", "0s"]).ok_row();
}

/// The soak's tests against the daemon at `to`: 4 protocols x 240 tests on one control
/// connection each, then 40 senders of one (`warm`). Returns how many ran.
fn soak(to: &str, warm: impl Fn(&str) -> RunResult) -> u32 {
    let mut tests = 0;
    // 4 protocols x 240 tests on one control connection each, then 40 senders of one.
    for proto in ["tcp", "udp", "unix-stream", "unix-dgram"] {
        // A bound against a hang only: 240 datagram tests take a fifth of a second each
        // (the END markers' pause), and twice that under load: 90 s was outrun.
        let r = run_within(
            &[
                "--to",
                to,
                "--proto",
                proto,
                "--duration",
                "20ms",
                "--warmup",
                "0s",
                "--repeat",
                "240",
                "--quiet",
            ],
            Duration::from_secs(600),
        );
        assert_eq!(r.code(), 0, "{proto}: {}", r.stderr());
        let s = r.summary();
        assert_eq!(s.rows.len(), 240);
        assert!(
            s.rows.iter().all(|row| row.get_str("status") == "ok"),
            "{proto}"
        );
        tests += 240;
    }
    for _ in 0..40 {
        let r = warm("1");
        assert_eq!(r.code(), 0, "{}", r.stderr());
        tests += 1;
    }
    tests
}

/// 1,000 short tests against one daemon, its descriptors, threads and memory sampled
/// throughout: flat. The figures go to stderr (`--nocapture`) for the README.
#[test]
fn a_soak_of_a_thousand_tests_stays_flat() {
    let server = Server::start(&["--quiet"]);
    let pid = server.child.id();
    let to = server.addr.to_string();
    let warm = |n: &str| {
        run(&[
            "--to",
            &to,
            "--duration",
            "20ms",
            "--warmup",
            "0s",
            "--repeat",
            n,
            "--quiet",
        ])
    };
    warm("5");
    let first = (fds(pid), threads(pid), rss_kib(pid));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push((fds(pid), threads(pid), rss_kib(pid)));
                std::thread::sleep(Duration::from_millis(200));
            }
            samples
        })
    };
    let started = Instant::now();
    let tests = soak(&to, warm);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let last = (fds(pid), threads(pid), rss_kib(pid));
    let max_fds = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let max_threads = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let max_rss = samples.iter().map(|s| s.2).max().unwrap_or(0);
    eprintln!(
        "soak: {tests} tests in {:.0?}; daemon fds {} -> {} (max {max_fds}), threads {} -> {} (max {max_threads}), RSS {} -> {} KiB (max {max_rss})",
        started.elapsed(),
        first.0,
        last.0,
        first.1,
        last.1,
        first.2,
        last.2
    );
    assert_eq!(tests, 1000);
    assert!(
        last.0 <= first.0 + 2,
        "descriptors {} -> {}",
        first.0,
        last.0
    );
    assert!(last.1 <= first.1, "threads {} -> {}", first.1, last.1);
    assert!(
        last.2 < first.2 + 16 * 1024,
        "RSS {} -> {} KiB",
        first.2,
        last.2
    );
    // While a test runs the daemon holds its sockets and role threads; never more.
    assert!(max_fds < first.0 + 16, "descriptors peaked at {max_fds}");
    assert!(max_threads < first.1 + 8, "threads peaked at {max_threads}");
}

/// A sender killed at each phase of a test (connecting, setting up, warming up, measuring,
/// finishing): the daemon serves the next sender every time, freed by the closed control
/// connection, never by waiting out its stall limit (its own log says which).
#[test]
fn a_sender_killed_at_any_phase_never_wedges_the_daemon() {
    let mut server = Server::start(&[]);
    let log = server.log();
    let to = server.addr.to_string();
    for (proto, after_ms) in [
        ("tcp", 5),
        ("udp", 40),
        ("tcp", 400),
        ("udp", 700),
        ("tcp", 1600),
        ("unix-stream", 1600),
        ("tcp", 2050),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut victim = std::process::Command::new(bin())
            .args([
                "run",
                "--to",
                &to,
                "--proto",
                proto,
                "--rate",
                "200M",
                "--warmup",
                "1s",
                "--duration",
                "1s",
                "--out",
            ])
            .arg(tmp.path().join("out"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(after_ms));
        victim.kill().unwrap();
        victim.wait().unwrap();
        let started = Instant::now();
        loop {
            let r = run(&["--to", &to, "--duration", "200ms", "--warmup", "0s"]);
            if r.code() == 0 {
                r.ok_row();
                break;
            }
            // A bound on this test's runtime: the stall limit and the sender's 15 s to
            // finish, and as much again for a loaded machine. Whether the daemon was freed
            // by the closed connection is read from its log below, not from a clock.
            assert!(
                started.elapsed() < 2 * (sockbench::engine::STALL + Duration::from_secs(15)),
                "{proto} killed after {after_ms} ms: not served: {}",
                r.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // A killed sender's control connection closes at once: no session of the daemon ended
    // by its stall limit or a timeout, which is what a silent sender would have cost.
    let lines = log.lines();
    let waited: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("stalled") || l.contains("timed out"))
        .collect();
    assert!(
        waited.is_empty(),
        "the daemon waited out a killed sender: {waited:?}\n{lines:#?}"
    );
}
