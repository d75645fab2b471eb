//! Workload files, sweeps and the measurements built on them, through the real binary.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use sockbench::spec::workload::Workload;

fn write_workload(dir: &Path, text: &str) -> String {
    let path = dir.join("w.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_small_sweep_writes_every_row_and_aggregates_repetitions() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_workload(
        tmp.path(),
        r#"
name = "small"
description = "two knobs, two values each"
[defaults]
duration = "400ms"
warmup = "100ms"
repeat = 2
[matrix]
sndbuf = ["auto", "64K"]
msg_size = ["16K", "64K"]
"#,
    );
    let r = run_plain(&[&file]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let summary = r.summary();
    assert_eq!(summary.rows.len(), 8, "4 cases x 2 repetitions");
    assert!(summary.rows.iter().all(|row| row.get_str("status") == "ok"));
    let labels: Vec<&str> = summary
        .rows
        .iter()
        .map(|row| row.get_str("case_label"))
        .collect();
    assert_eq!(
        labels[..4],
        [
            "sndbuf=auto msg_size=16K",
            "sndbuf=auto msg_size=64K",
            "sndbuf=64K msg_size=16K",
            "sndbuf=64K msg_size=64K"
        ]
    );
    // Repetitions are interleaved: every case once, then every case again.
    let reps: Vec<&str> = summary
        .rows
        .iter()
        .map(|row| row.get_str("repetition"))
        .collect();
    assert_eq!(reps, ["1", "1", "1", "1", "2", "2", "2", "2"]);

    let cases = read_csv(&r.dir.join("cases.csv"));
    assert_eq!(cases.rows.len(), 4);
    for (i, c) in cases.rows.iter().enumerate() {
        assert_eq!(c.int("case"), i as u64 + 1);
        assert_eq!(c.int("repetitions"), 2);
        assert_eq!(c.int("repetitions_ok"), 2);
        // The aggregate is that of this case's own rows.
        let mine: Vec<f64> = summary
            .rows
            .iter()
            .filter(|row| row.int("case") == i as u64 + 1)
            .map(|row| row.num("goodput_bps"))
            .collect();
        let mean = mine.iter().sum::<f64>() / 2.0;
        assert!((c.num("goodput_bps_mean") - mean).abs() / mean < 1e-6);
        // Two values: sd = |a - b| / sqrt 2, and no interval (too few), as the note says.
        let sd = (mine[0] - mine[1]).abs() / 2f64.sqrt();
        assert!((c.num("goodput_bps_sd") - sd).abs() <= sd * 1e-6 + 0.01);
        assert_eq!(c.get_str("goodput_bps_ci95_low"), "");
        assert_eq!(c.get_str("goodput_bps_ci95_high"), "");
        assert!(c.get_str("note").contains("too few for a 95% interval"));
    }
    assert_eq!(cases.rows[2].int("sndbuf_req"), 65536);
    assert_eq!(cases.rows[2].int("sndbuf_eff"), 131072);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["workload_name"], "small");
    assert_eq!(meta["runs"], 8);
    assert_eq!(meta["cases"].as_array().unwrap().len(), 4);
    assert!(meta["seed"].is_u64());
}

/// `sockbench run ARGS --out DIR` without the short-duration defaults of `run`.
fn run_plain(args: &[&str]) -> RunResult {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let mut all: Vec<&str> = vec!["run", "--out", dir.to_str().unwrap()];
    all.extend(args);
    let output = sockbench(&all, Duration::from_secs(120));
    RunResult {
        _tmp: tmp,
        dir,
        output,
    }
}

#[test]
fn set_overrides_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_workload(
        tmp.path(),
        "[defaults]\nduration = \"5s\"\nrepeat = 3\n[matrix]\nsndbuf = [\"auto\", \"64K\", \"1M\"]\n",
    );
    let r = run_plain(&[
        &file,
        "--set",
        "repeat=1",
        "--set",
        "duration=300ms",
        "--set",
        "warmup=0s",
        "--set",
        r#"msg_size=["16K"]"#,
        "--set",
        "sndbuf=256K",
        "--set",
        "shuffle=true",
        "--set",
        "seed=99",
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let s = r.summary();
    assert_eq!(
        s.rows.len(),
        1,
        "sndbuf=256K replaced the sweep; one msg_size; repeat 1"
    );
    assert_eq!(s.rows[0].int("msg_size"), 16384);
    assert_eq!(s.rows[0].int("sndbuf_req"), 262144);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(
        (meta["shuffle"].as_bool(), meta["seed"].as_u64()),
        (Some(true), Some(99))
    );
}

#[test]
fn bad_workloads_are_refused_with_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[defaults]\nsndbuff = \"64K\"\n",
            ":2:11:",
            "unknown key 'sndbuff'",
        ),
        ("[defaults]\nduration = true\n", ":2:12:", "duration"),
        (
            "[defaults]\nmsg_size = \"lots\"\n",
            ":2:12:",
            "'lots' is not a size",
        ),
        ("[matrix]\n", ":1:1:", "matrix is empty"),
        (
            "[defaults]\nproto = \"tcp\"\n[matrix]\nmss = [1000, 10]\n",
            ":4:14:",
            "88 to 32767",
        ),
        ("name = 3\n", ":1:8:", "expected a string"),
    ];
    for (text, at, what) in cases {
        let file = write_workload(tmp.path(), text);
        let r = run_plain(&[&file]);
        assert_eq!(r.code(), 2, "{text:?}: {}", r.stderr());
        let err = r.stderr();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("w.toml{at}")) && err.contains(what),
            "{text:?} -> {err}"
        );
        assert!(!r.dir.exists());
    }
    let r = run_plain(&["/no/such/workload.toml"]);
    assert_eq!(r.code(), 2);
    assert!(r.stderr().contains("/no/such/workload.toml"));
}

#[test]
fn open_loop_rr_keeps_its_schedule() {
    for proto in ["tcp", "udp"] {
        let r = run(&[
            "--proto",
            proto,
            "--pattern",
            "rr",
            "--rate",
            "2000",
            "--duration",
            "2s",
            "--nodelay",
        ]
        .iter()
        .copied()
        .filter(|a| proto == "tcp" || *a != "--nodelay")
        .collect::<Vec<_>>());
        let row = r.ok_row();
        let tx = row.int("transactions");
        // 2000 per second for 2 measured seconds; requests go on schedule whatever the
        // responses do, never ahead of it (a loaded machine makes them late, not early:
        // the exact count under a late sender is tests/engine.rs's).
        assert!(
            tx > 0 && tx <= 4000 + 1,
            "{proto}: {tx} transactions for 4000 scheduled"
        );
        for p in ["p50", "p99", "p999"] {
            let corrected = row.int(&format!("rtt_{p}_ns"));
            let uncorrected = row.int(&format!("rtt_uncorrected_{p}_ns"));
            // Measured from the intended send time, a round trip can only be longer.
            assert!(
                corrected >= uncorrected,
                "{proto} {p}: {corrected} < {uncorrected}"
            );
        }
        let metrics: Vec<String> = r
            .histograms()
            .rows
            .iter()
            .map(|h| h.get_str("metric").to_string())
            .collect();
        assert!(
            metrics.contains(&"rtt".to_string())
                && metrics.contains(&"rtt_uncorrected".to_string())
        );
    }
}

#[test]
fn a_latency_probe_runs_beside_the_stream() {
    let r = run(&["--probe", "rr", "--duration", "1s"]);
    let row = r.ok_row();
    assert!(row.num("goodput_bps") > 0.0);
    assert!(row.int("transactions") > 0);
    assert!(row.int("rtt_p50_ns") > 0 && row.int("rtt_p99_ns") >= row.int("rtt_p50_ns"));
    assert_eq!(row.get_str("probe"), "true");
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    // Goodput counts the stream only: the probe's connection is its own flow.
    let iv = r.intervals();
    let flows: std::collections::BTreeSet<&str> =
        iv.rows.iter().map(|i| i.get_str("flow")).collect();
    assert_eq!(flows.len(), 2, "the stream and the probe");
}

#[test]
fn crr_opens_a_connection_per_transaction() {
    // MPTCP too: its listener once ignored the accept timeout and wedged the receiver.
    for proto in ["tcp", "mptcp", "unix-stream"] {
        let r = run(&["--proto", proto, "--pattern", "crr", "--flows", "2"]);
        let row = r.ok_row();
        let tx = row.int("transactions");
        assert!(tx > 50, "{proto}: only {tx} transactions");
        assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{proto}");
        assert!(row.num("transactions_per_s") > 0.0);
        let hist = r.histograms();
        assert_eq!(hist.rows.iter().map(|h| h.int("count")).sum::<u64>(), tx);
    }
}

#[test]
fn ctrl_c_leaves_an_aborted_row_and_intact_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let child = Command::new(bin())
        .args([
            "run",
            "--out",
            dir.to_str().unwrap(),
            "--duration",
            "30s",
            "--warmup",
            "0s",
            "--repeat",
            "3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = read_csv(&dir.join("summary.csv"));
    assert_eq!(s.rows.len(), 1, "the sweep stops after the interrupted run");
    let row = &s.rows[0];
    assert_eq!(row.get_str("status"), "aborted");
    assert!(row.get_str("error").contains("interrupted"));
    assert!(row.int("bytes_received") > 0, "what was measured is kept");
    assert!(row.num("goodput_bps") > 0.0);
    // Stopped by the signal, not by its own end: the repetition's measured time, by the
    // receiver's own clock, is short of the 30 s it asked for.
    assert!(
        row.num("measured_s") < row.num("duration_s"),
        "measured {} s of {} s",
        row.num("measured_s"),
        row.num("duration_s")
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["interrupted"], true);
    assert_eq!(read_csv(&dir.join("cases.csv")).rows.len(), 1);
    read_csv(&dir.join("intervals.csv"));
}

#[test]
fn shipped_workloads_parse_and_say_what_they_answer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let w = Workload::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            w.description.contains("Answers"),
            "{}: the description should say what it answers",
            path.display()
        );
        let cases = w.expand().unwrap();
        assert!(!cases.is_empty());
        assert_eq!(
            Workload::repeated(&cases),
            [],
            "{}: a case measured twice",
            path.display()
        );
        for c in &cases {
            let Err(e) = sockbench::net::transport::probe(
                c.spec.protocol,
                &[&c.spec.sender, &c.spec.receiver],
            ) else {
                continue;
            };
            // Without root, Linux lets a process choose only the congestion controls in
            // net.ipv4.tcp_allowed_congestion_control: a need of the machine, not a fault.
            let e = e.to_string();
            // SAFETY: geteuid has no preconditions and cannot fail.
            let root = unsafe { libc::geteuid() } == 0;
            if !root && e.contains("TCP_CONGESTION") && e.contains("not permitted") {
                let what = format!("root for {} ({})", c.label, path.display());
                if !require(
                    false,
                    &what,
                    "run as root, or add it to net.ipv4.tcp_allowed_congestion_control",
                ) {
                    continue;
                }
            }
            panic!("{}: {}: {e}", path.display(), c.label);
        }
        if w.name == "quickstart" {
            let planned: Duration = cases
                .iter()
                .map(|c| (c.spec.warmup + c.spec.duration) * w.repeat)
                .sum();
            assert!(
                planned < Duration::from_secs(25),
                "quickstart plans {planned:?}"
            );
        }
        names.push(w.name);
    }
    names.sort();
    for expected in [
        "bufferbloat",
        "congestion",
        "crr",
        "msg-size-sweep",
        "mss-sweep",
        "quickstart",
        "rr-latency",
        "tcp-buffer-sweep",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing workload {expected}: {names:?}"
        );
    }
}
