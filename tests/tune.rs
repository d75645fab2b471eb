//! `sockbench tune` end to end: on loopback, the search finds the knee of a receive
//! buffer that limits goodput in at most a quarter of the full grid's tests; an
//! unsatisfiable constraint ends with exit 1, the closest candidate named and tune.csv
//! complete; bad syntax is one line and exit 2. In the namespace lab (root), the
//! bufferbloat trade-off: the smallest send buffer reaching 95% of a 50 Mbit/s
//! bottleneck, within a latency limit that the largest buffer breaks.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::lab::*;
use common::*;

fn answer(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("answer.json")).expect("answer.json");
    serde_json::from_str(&text).expect("answer.json is JSON")
}

fn workload(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("w.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn size(text: &str) -> u64 {
    let (num, mult) = match text.chars().last() {
        Some('K') => (&text[..text.len() - 1], 1u64 << 10),
        Some('M') => (&text[..text.len() - 1], 1 << 20),
        _ => (text, 1),
    };
    num.parse::<u64>().unwrap() * mult
}

/// Every test in summary.csv has its row in tune.csv, with the same case number, and
/// answer.json counts them.
fn assert_tune_csv_complete(dir: &Path) -> Csv {
    let summary = read_csv(&dir.join("summary.csv"));
    let tune = read_csv(&dir.join("tune.csv"));
    for col in [
        "step",
        "phase",
        "case",
        "candidate",
        "repetition",
        "metric",
        "value",
        "mean",
        "ci95_low",
        "ci95_high",
        "decision",
    ] {
        assert!(tune.header.iter().any(|h| h == col), "tune.csv lacks {col}");
    }
    let tests: Vec<_> = tune
        .rows
        .iter()
        .filter(|r| !r["repetition"].is_empty())
        .collect();
    assert_eq!(tests.len(), summary.rows.len(), "a tune.csv row per test");
    for (t, s) in tests.iter().zip(&summary.rows) {
        assert_eq!(t["case"], s["case"]);
        assert_eq!(t["candidate"], s["case_label"]);
    }
    assert_eq!(
        answer(dir)["tests_run"].as_u64().unwrap(),
        summary.rows.len() as u64
    );
    assert!(
        tune.rows.iter().any(|r| r["phase"] == "answer"),
        "the decision is recorded"
    );
    tune
}

/// The knee, from the full grid of workload `w` (one repetition): the smallest buffer
/// reaching half the best goodput, and every (rcvbuf, goodput) measured. The smallest
/// buffer must be well below it, or the premise fails.
fn grid_knee(tmp: &Path, w: &str) -> (u64, Vec<(u64, f64)>) {
    let grid_dir = tmp.join("grid");
    let o = sockbench(
        &[
            "run",
            w,
            "--set",
            "repeat=1",
            "--out",
            grid_dir.to_str().unwrap(),
            "-q",
        ],
        Duration::from_secs(240),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows = read_csv(&grid_dir.join("summary.csv")).rows;
    let measured: Vec<(u64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["rcvbuf_req"].parse::<u64>().unwrap(),
                r["goodput_bps"].parse::<f64>().unwrap(),
            )
        })
        .collect();
    let best = measured.iter().map(|m| m.1).fold(0.0, f64::max);
    assert!(
        measured[0].1 < 0.5 * best,
        "a 4K receive buffer should limit goodput: {measured:?}"
    );
    let knee = measured.iter().find(|m| m.1 >= 0.5 * best).unwrap().0;
    (knee, measured)
}

/// A receive buffer small enough to limit goodput: `tune --goal goodput` over
/// rcvbuf = "4K..4M" recommends a buffer at or beyond the knee that the full grid shows,
/// in at most a quarter of the grid's tests with the same repetitions.
#[test]
fn tune_finds_the_knee_of_a_small_receive_buffer_in_a_quarter_of_the_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let w = workload(
        tmp.path(),
        "name = \"knee\"\n[defaults]\nduration = \"1s\"\nwarmup = \"200ms\"\nrepeat = 6\n[matrix]\nrcvbuf = \"4K..4M\"\n",
    );
    let w = w.to_str().unwrap();
    let out = tmp.path().join("tune");
    let o = sockbench(
        &[
            "tune",
            w,
            "--goal",
            "goodput",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(240),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let a = answer(&out);
    let grid = a["grid_tests"].as_u64().unwrap();
    let tests = a["tests_run"].as_u64().unwrap();
    assert_eq!(
        grid,
        11 * 6,
        "11 powers of two from 4K to 4M, 6 repetitions"
    );
    assert!(tests <= grid / 4, "{tests} tests of a {grid}-test grid");
    assert!(
        ["ok", "inconclusive"].contains(&a["status"].as_str().unwrap()),
        "{a}"
    );
    let chosen = size(a["settings"]["rcvbuf"].as_str().unwrap());
    let g = &a["figures"]["goodput_bps"];
    assert!(g["mean"].as_f64().unwrap() > 0.0, "{a}");
    assert_tune_csv_complete(&out);
    assert!(stdout.contains("answer ("), "{stdout}");
    assert!(stdout.contains("Bandwidth-delay product"), "{stdout}");
    assert!(stdout.contains("SO_RCVBUF") && stdout.contains("set_recv_buffer_size"));

    let (knee, measured) = grid_knee(tmp.path(), w);
    assert!(
        chosen >= knee,
        "tune chose rcvbuf={chosen}, below the knee at {knee}: grid {measured:?}\n{stdout}"
    );
}

/// Runs a tune that cannot be satisfied and checks how it ends; returns its stdout.
fn assert_unsatisfiable(args: &[&str], out: &Path) -> String {
    let o = sockbench(args, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: unsatisfiable"), "{stderr}");
    let a = answer(out);
    assert_eq!(a["status"], "unsatisfiable");
    let closest = a["label"].as_str().unwrap();
    assert!(closest.starts_with("sndbuf="), "{a}");
    assert!(
        last.contains(&format!("the closest candidate was {closest}")),
        "{last}"
    );
    assert!(last.contains("tune.csv"), "{last}");
    assert_tune_csv_complete(out);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_unsatisfiable_constraint_exits_1_naming_the_closest_candidate() {
    let tmp = tempfile::tempdir().unwrap();
    let base = [
        "tune",
        "--set",
        "sndbuf=\"64K..256K\"",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
    ];
    // No round trip is ever 1 ns.
    let out = tmp.path().join("rtt");
    let mut args = base.to_vec();
    args.extend([
        "--probe",
        "rr",
        "--constraint",
        "rtt_p99<1ns",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_unsatisfiable(&args, &out);
    // No sender moves data on a thousandth of a percent of a CPU.
    let out = tmp.path().join("cpu");
    let mut args = base.to_vec();
    args.extend([
        "--constraint",
        "sender_cpu_pct<0.001",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = assert_unsatisfiable(&args, &out);
    let a = answer(&out);
    assert!(a["figures"]["sender_cpu_pct"]["mean"].as_f64().unwrap() > 0.001);
    // --json: stdout holds one summary row per test, and nothing else.
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len() as u64, a["tests_run"].as_u64().unwrap());
    assert!(rows.iter().all(|r| r["sender_cpu_pct"].is_number()));
}

#[test]
fn bad_goal_or_constraint_syntax_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let o = out.to_str().unwrap();
    let m = "sndbuf=\"64K..256K\"";
    for (args, says) in [
        (vec!["--goal", "speed"], "--goal 'speed'"),
        (vec!["--goal", "goodput>=1.5*max"], "share of the best"),
        (vec!["--constraint", "rtt_p99<2"], "give the limit a unit"),
        (vec!["--constraint", "latency<2ms"], "not a measured figure"),
        (vec!["--constraint", "rtt_p99"], "expected FIGURE<LIMIT"),
        (vec!["--constraint", "rtt_p99<2ms"], "add --probe rr"),
        (vec!["--budget", "soon"], "--budget"),
    ] {
        let mut all = vec!["tune", "--set", m, "--out", o];
        all.extend(&args);
        let r = sockbench(&all, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert!(!out.exists(), "no traffic, no results for a usage error");
    }
    // Without a matrix there is nothing to search.
    let r = sockbench(&["tune", "--out", o], Duration::from_secs(30));
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("[matrix]"));
}

/// The largest buffer fills the queue: its p99 breaks the limit, and stays within
/// what the qdisc may hold (200 ms of backlog plus the base round trip).
fn assert_largest_buffer_bloats(rows: &[std::collections::HashMap<String, String>]) {
    let largest: Vec<f64> = rows
        .iter()
        .filter(|r| r["sndbuf_req"] == "8388608" && r["status"] == "ok")
        .filter_map(|r| r["rtt_p99_ns"].parse().ok())
        .collect();
    assert!(
        !largest.is_empty(),
        "the search measured the largest buffer"
    );
    let mean = largest.iter().sum::<f64>() / largest.len() as f64;
    assert!(
        (30e6..260e6).contains(&mean),
        "sndbuf=8M: p99 {mean} ns should break 30 ms within the 200 ms queue"
    );
}

/// The bufferbloat trade-off against the lab's physics: a 50 Mbit/s tbf bottleneck whose
/// queue may hold 200 ms. `goodput>=0.95*max` with `rtt_p99<30ms` over sndbuf =
/// "16K..8M" recommends a send buffer that reaches 95% of the capacity and meets the
/// limit, while the largest buffer fills the queue and breaks it.
#[test]
fn lab_tune_trades_goodput_against_bufferbloat() {
    if !lab_needs() {
        return;
    }
    let mut lab = Lab::up("tu", Some("50mbit"), Some("200ms"));
    lab.serve();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tune");
    let o = lab.sockbench(
        &[
            "tune",
            "--to",
            "198.51.100.2:5301",
            "--set",
            "sndbuf=\"16K..8M\"",
            "--probe",
            "rr",
            // A loss-based congestion control fills the bottleneck's queue as far as the
            // send buffer lets it (bbr keeps the queue short whatever the buffer): the
            // trade-off this test is about.
            "--congestion",
            "cubic",
            "--duration",
            "3s",
            "--warmup",
            "1s",
            "--goal",
            "goodput>=0.95*max",
            "--constraint",
            "rtt_p99<30ms",
            "--set",
            "repeat=5",
            "--budget",
            "30",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(400),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let a = answer(&out);
    assert!(
        ["ok", "inconclusive"].contains(&a["status"].as_str().unwrap()),
        "{a}"
    );
    assert_tune_csv_complete(&out);
    // Capacity: the tbf rate, less the headers of each full segment (Ethernet 14, IP 20,
    // TCP with timestamps 32 bytes), as the payload goodput counts it.
    let rows = read_csv(&out.join("summary.csv")).rows;
    let mss: f64 = rows
        .iter()
        .find_map(|r| r["mss_eff"].parse().ok())
        .expect("mss_eff");
    let capacity = 50e6 * mss / (mss + 66.0);
    let goodput = a["figures"]["goodput_bps"]["mean"].as_f64().unwrap();
    assert!(
        goodput >= 0.95 * capacity * 0.97,
        "the answer's goodput {goodput} is short of 95% of {capacity}\n{stdout}"
    );
    assert!(
        goodput <= capacity * 1.03,
        "{goodput} beyond the bottleneck"
    );
    let rtt = a["figures"]["rtt_p99_ns"]["mean"].as_f64().unwrap();
    assert!(rtt < 30e6, "the answer's p99 {rtt} ns breaks rtt_p99<30ms");
    assert_largest_buffer_bloats(&rows);
    let chosen = size(a["settings"]["sndbuf"].as_str().unwrap());
    assert!(chosen < 8 << 20);
    assert!(stdout.contains("starts growing with sndbuf"), "{stdout}");
}
