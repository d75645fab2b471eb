//! The receiver as a long-running daemon on loopback: authentication, limits, concurrency,
//! faults, hostile input and a soak.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn key_file(dir: &std::path::Path, name: &str, key: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, key).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn auth_accepts_the_right_key_and_refuses_every_other() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path(), "key", "3f6c0a5e9b1d4e27a8c5f0e1d2b3a4c5\n");
    let wrong = key_file(tmp.path(), "wrong", "c8d1e6a04f7b2935d0e4a7c1b6f3982e\n");
    let server = Server::start(&["--psk-file", &key]);
    let to = server.addr.to_string();

    let r = run(&["--to", &to, "--psk-file", &key, "--duration", "300ms"]);
    r.ok_row();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.dir.join("meta.json")).unwrap()).unwrap();
    assert!(
        meta["hosts"]["receiver"]["kernel"].is_string(),
        "facts arrive after authentication"
    );

    for (args, says) in [
        (
            vec!["--psk-file", wrong.as_str()],
            "does not hold this receiver's key",
        ),
        (vec![], "requires a pre-shared key"),
    ] {
        let mut all = vec!["--to", to.as_str(), "--duration", "300ms"];
        all.extend(args);
        let r = run(&all);
        assert_eq!(r.code(), 1);
        assert!(r.stderr().contains(says), "{}", r.stderr());
        let s = r.summary();
        assert_eq!(s.rows[0].get_str("status"), "error");
        assert_eq!(
            s.rows[0].int("bytes_sent"),
            0,
            "nothing runs without the key"
        );
    }
    // A sender with a key refuses a receiver that asks for none.
    let open = Server::start(&[]);
    let r = run(&[
        "--to",
        &open.addr.to_string(),
        "--psk-file",
        &key,
        "--duration",
        "300ms",
    ]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("asks for none"), "{}", r.stderr());
    // The embedded local receiver gets the key too.
    run(&["--psk-file", &key, "--duration", "300ms"]).ok_row();
}

#[test]
fn limits_are_refused_with_a_reason() {
    let server = Server::start(&[
        "--max-duration",
        "2s",
        "--max-flows",
        "2",
        "--max-buffer",
        "1M",
        "--max-rate",
        "100M",
    ]);
    let to = server.addr.to_string();
    for (args, says) in [
        (vec!["--duration", "5s"], "at most 2s"),
        (vec!["--flows", "3"], "at most 2 flows"),
        (vec!["--sndbuf", "4M"], "at most 1048576 bytes"),
        (
            vec!["--proto", "udp", "--rate", "1G"],
            "rate of at most 100000000",
        ),
    ] {
        let mut all = vec!["--to", to.as_str(), "--warmup", "0s"];
        all.extend(args);
        let r = run(&all);
        assert_eq!(r.code(), 1, "{all:?}");
        let s = r.summary();
        assert_eq!(s.rows[0].get_str("status"), "error");
        assert!(
            s.rows[0].get_str("error").contains(says),
            "{all:?}: {}",
            s.rows[0].get_str("error")
        );
    }
    // Within the limits (paced, under --max-rate), the same receiver serves.
    run(&[
        "--to",
        &to,
        "--duration",
        "300ms",
        "--flows",
        "2",
        "--rate",
        "10M",
    ])
    .ok_row();
}

#[test]
fn a_busy_receiver_says_so_at_once() {
    let server = Server::start(&["--max-concurrent", "1"]);
    let to = server.addr.to_string();
    let long = {
        let to = to.clone();
        std::thread::spawn(move || run(&["--to", &to, "--duration", "6s", "--warmup", "0s"]))
    };
    std::thread::sleep(Duration::from_millis(800));
    let r = run(&["--to", &to, "--duration", "300ms"]);
    // At once: answered while the first test still runs, not queued behind it (an
    // ordering, not a time: it holds however slow the machine, as long as starting a
    // sender takes less than the first test's 6 s).
    assert!(
        !long.is_finished(),
        "the second sender waited for the first test"
    );
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("busy"), "{}", r.stderr());
    long.join().unwrap().ok_row();
    // And once free, it serves again.
    run(&["--to", &to, "--duration", "300ms"]).ok_row();
}

#[test]
fn a_killed_sender_is_cleaned_up_and_the_next_is_served() {
    let server = Server::start(&[]);
    let to = server.addr.to_string();
    for proto in ["tcp", "udp"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut victim = Command::new(bin())
            .args([
                "run",
                "--to",
                &to,
                "--proto",
                proto,
                "--duration",
                "30s",
                "--out",
            ])
            .arg(tmp.path().join("out"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        victim.kill().unwrap();
        victim.wait().unwrap();
        // The receiver notices within seconds; the next sender may be told it is busy
        // until then, never longer.
        let started = Instant::now();
        loop {
            let r = run(&["--to", &to, "--duration", "300ms", "--warmup", "0s"]);
            if r.code() == 0 {
                r.ok_row();
                break;
            }
            // A bound on the test's own runtime, from the receiver's own heartbeat limit.
            assert!(
                started.elapsed() < sockbench::session::sender::HEARTBEAT_LOSS * 3,
                "{proto}: still not served: {}",
                r.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn hostile_bytes_get_errors_and_the_daemon_stays() {
    let server = Server::start(&[]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut inputs: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
        vec![0xff; 64],
        (u32::MAX).to_be_bytes().to_vec(),
        // A frame that claims 1000 bytes and stops after 3.
        [&1000u32.to_be_bytes()[..], b"{\"t"].concat(),
        // Valid framing, hostile JSON.
        [&5u32.to_be_bytes()[..], b"[[[[["].concat(),
    ];
    for _ in 0..30 {
        let len = (next() % 200) as usize;
        inputs.push((0..len).map(|_| next() as u8).collect());
    }
    for input in &inputs {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(input);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    run(&["--to", &server.addr.to_string(), "--duration", "300ms"]).ok_row();
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The daemon's descriptors once it is idle: the same count over a second (10 samples).
/// A session the daemon is still closing holds its sockets for a moment after the sender
/// has its results; on a loaded machine that moment is longer (8 descriptors were counted
/// right after a run, 6 once idle).
fn idle_fds(pid: u32) -> usize {
    let mut last = open_fds(pid);
    let mut same = 0;
    // A bound on the test's runtime: a daemon whose count never settles fails here.
    for _ in 0..300 {
        std::thread::sleep(Duration::from_millis(100));
        let now = open_fds(pid);
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same == 10 {
            return now;
        }
    }
    panic!("the daemon's descriptors never settled (last {last})");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_soak_of_hundreds_of_tests_leaks_no_descriptors() {
    let server = Server::start(&["--quiet"]);
    let pid = server.child.id();
    let to = server.addr.to_string();
    // Warm up allocators and the first connection's state.
    run(&[
        "--to",
        &to,
        "--duration",
        "50ms",
        "--warmup",
        "0s",
        "--repeat",
        "5",
    ])
    .ok_row_count(5);
    let (fds0, rss0) = (idle_fds(pid), rss_kib(pid));
    // 4 senders x 60 tests, across every protocol, one control connection each.
    for proto in ["tcp", "udp", "unix-stream", "unix-dgram"] {
        let r = run(&[
            "--to",
            &to,
            "--proto",
            proto,
            "--duration",
            "50ms",
            "--warmup",
            "0s",
            "--repeat",
            "60",
            "--quiet",
        ]);
        r.ok_row_count(60);
    }
    // And 40 senders with one test each: 40 control connections.
    for _ in 0..40 {
        run(&[
            "--to",
            &to,
            "--duration",
            "20ms",
            "--warmup",
            "0s",
            "--quiet",
        ])
        .ok_row_count(1);
    }
    let (fds1, rss1) = (idle_fds(pid), rss_kib(pid));
    assert_eq!(
        fds1, fds0,
        "descriptors: {fds0} before, {fds1} after 280 tests"
    );
    assert!(
        rss1 < rss0 + 16 * 1024,
        "resident memory grew from {rss0} KiB to {rss1} KiB"
    );
}

trait OkRows {
    fn ok_row_count(&self, n: usize);
}

impl OkRows for RunResult {
    fn ok_row_count(&self, n: usize) {
        assert_eq!(self.code(), 0, "{}", self.stderr());
        let s = self.summary();
        assert_eq!(s.rows.len(), n);
        assert!(s.rows.iter().all(|r| r.get_str("status") == "ok"));
    }
}

#[test]
fn a_killed_receiver_aborts_the_run_and_the_sweep_goes_on_or_stops() {
    for fail_fast in [false, true] {
        let mut server = Server::start(&[]);
        let to = server.addr.to_string();
        let killer = {
            let pid = server.child.id();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1200));
                // SAFETY: signalling a child process of this test.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            })
        };
        let mut args = vec![
            "--to",
            to.as_str(),
            "--duration",
            "3s",
            "--warmup",
            "0s",
            "--repeat",
            "3",
        ];
        if fail_fast {
            args.push("--fail-fast");
        }
        let r = run(&args);
        killer.join().unwrap();
        let _ = server.wait_exit(Duration::from_secs(1));
        assert_eq!(r.code(), 1);
        let s = r.summary();
        assert_eq!(s.rows[0].get_str("status"), "aborted");
        // Ended by the lost receiver, not by waiting out the hard deadline.
        let error = s.rows[0].get_str("error");
        assert!(!error.contains("deadline"), "{error}");
        assert!(s.rows[0].int("bytes_sent") > 0);
        if fail_fast {
            assert_eq!(s.rows.len(), 1, "--fail-fast stops the sweep");
        } else {
            assert_eq!(s.rows.len(), 3, "the sweep goes on");
            assert!(s.rows[1..]
                .iter()
                .all(|row| row.get_str("status") == "error"));
        }
    }
}

#[test]
fn a_protocol_version_mismatch_is_explained_to_the_sender() {
    let server = Server::start(&[]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let hello = br#"{"type":"hello","magic":"sockbench","version":1,"sockbench_version":"0.0.1"}"#;
    s.write_all(&(hello.len() as u32).to_be_bytes()).unwrap();
    s.write_all(hello).unwrap();
    let reply = sockbench::net::control::recv(&mut s).unwrap();
    match reply {
        sockbench::net::control::Message::Error { message } => {
            assert!(
                message.contains(&format!(
                    "the receiver speaks version {}",
                    sockbench::net::control::PROTOCOL_VERSION
                )),
                "{message}"
            );
            assert!(
                message.contains("the sender version 1 (sockbench 0.0.1)"),
                "{message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
}
