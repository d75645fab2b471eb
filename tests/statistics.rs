//! Repetitions end to end: adaptive repetitions (--min-repeat, --max-repeat, --target-ci),
//! cases.csv consistent with summary.csv, tidy columns.

mod common;

use std::collections::BTreeMap;

use common::*;

type Row = std::collections::HashMap<String, String>;

/// One cases.csv row against its repetitions' summary.csv rows: their count and
/// numbers, the mean, sd and 95% interval of goodput, and the noisy flag and warning.
fn assert_case_agrees(c: &Row, reps: &[&Row], stderr: &str) {
    let n = reps.len();
    assert!(
        (2..=4).contains(&n),
        "case {}: {n} repetitions",
        c.get_str("case")
    );
    let numbers: Vec<u64> = reps.iter().map(|r| r.int("repetition")).collect();
    assert_eq!(numbers, (1..=n as u64).collect::<Vec<_>>());
    assert_eq!(c.int("repetitions"), n as u64);
    assert_eq!(c.int("repetitions_ok"), n as u64);
    let goodputs: Vec<f64> = reps.iter().map(|r| r.num("goodput_bps")).collect();
    let mean = goodputs.iter().sum::<f64>() / n as f64;
    assert!((c.num("goodput_bps_mean") - mean).abs() <= 1.0, "mean");
    let sd = (goodputs.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    assert!((c.num("goodput_bps_sd") - sd).abs() <= 1.0, "sd");
    // No interval, so no target reached, before 3.
    assert!(
        n >= 3,
        "case {} stopped at {n} repetitions",
        c.get_str("case")
    );
    let (lo, hi) = (
        c.num("goodput_bps_ci95_low"),
        c.num("goodput_bps_ci95_high"),
    );
    assert!(0.0 < lo && lo < hi, "{lo} {hi}");
    let half_width = (hi - lo) / 2.0 / mean;
    // Below the most, a case stops only once within ±50%.
    if n < 4 {
        assert!(half_width <= 0.5 + 1e-6, "stopped early at ±{half_width}");
    }
    let cv = sd / mean;
    if cv > 0.10 {
        assert_eq!(c.get_str("noisy"), "true", "cv {cv}");
        assert!(c.get_str("note").contains("noisy"));
    }
    if c.get_str("noisy") == "true" {
        assert!(stderr.contains(&format!("warning: case {}", c.get_str("case"))));
    }
}

#[test]
fn adaptive_repetitions_stay_within_bounds_and_cases_csv_agrees() {
    let r = run(&[
        "--set",
        "msg_size=[\"16K\",\"64K\"]",
        "--duration",
        "300ms",
        "--warmup",
        "150ms",
        "--interval",
        "100ms",
        "--min-repeat",
        "2",
        "--max-repeat",
        "4",
        "--target-ci",
        "50",
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let summary = r.summary();
    let mut by_case: BTreeMap<String, Vec<&std::collections::HashMap<String, String>>> =
        BTreeMap::new();
    for row in &summary.rows {
        assert_eq!(row.get_str("status"), "ok", "{}", row.get_str("error"));
        // Not set on the command line: the kernel autotunes, and the CSV says so.
        assert_eq!(row.get_str("sndbuf_req"), "auto");
        assert_eq!(row.get_str("rcvbuf_req"), "auto");
        // A stream without a probe has no transactions; tcp has no batches.
        assert_eq!(row.get_str("transactions"), "");
        assert_eq!(row.get_str("batch"), "");
        by_case
            .entry(row.get_str("case").to_string())
            .or_default()
            .push(row);
    }
    assert_eq!(by_case.len(), 2);
    let cases = read_csv(&r.dir.join("cases.csv"));
    assert_eq!(cases.rows.len(), 2);
    for c in &cases.rows {
        assert_case_agrees(c, &by_case[c.get_str("case")], &r.stderr());
    }
    // No latency metric in a plain stream: histograms.csv is its header alone.
    let h = r.histograms();
    assert!(h.rows.is_empty() && h.header[0] == "case");
    // The warm-up has interval rows of its own; measured rows start at its end.
    let iv = r.intervals();
    assert!(iv.rows.iter().any(|i| i.get_str("warmup") == "true"));
    for i in &iv.rows {
        let (start, end) = (i.num("start_s"), i.num("end_s"));
        assert!(
            !(start < 0.15 && end > 0.15 + 1e-9),
            "{start}..{end} spans the warm-up mark"
        );
        assert_eq!(i.get_str("warmup") == "true", start < 0.15, "{start}");
        assert_eq!(
            i.get_str("messages"),
            "",
            "a tcp receiver counts bytes only"
        );
        assert_eq!(i.get_str("direction"), "forward");
    }
}

#[test]
fn adaptive_repetition_flags_are_checked() {
    for args in [
        &["--min-repeat", "3", "--max-repeat", "2"][..],
        &["--min-repeat", "0"],
        &["--target-ci", "0"],
        &["--target-ci", "lots"],
        &["--max-repeat", "x"],
        &["--repeat", "5", "--max-repeat", "3"],
    ] {
        let r = run(args);
        assert_eq!(r.code(), 2, "{args:?}: {}", r.stderr());
        let stderr = r.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        // One line of ours; clap's own parse errors add its usage line and tip.
        let clap = lines[0].contains("invalid value");
        assert!(lines.len() == 1 || clap, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("error:"), "{lines:?}");
        assert!(!r.dir.exists(), "{args:?}: a results directory was created");
    }
}

#[test]
fn a_probe_and_two_repetitions_give_tidy_rows() {
    let r = run(&[
        "--probe",
        "rr",
        "--sndbuf",
        "auto",
        "--rcvbuf",
        "256K",
        "--repeat",
        "2",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let summary = r.summary();
    for row in &summary.rows {
        assert_eq!(row.get_str("sndbuf_req"), "auto");
        assert_eq!(row.int("rcvbuf_req"), 256 * 1024);
        assert!(row.int("transactions") > 0, "the probe's transactions");
        assert_eq!(row.get_str("rr_timeouts"), "", "tcp: no datagram timeouts");
    }
    let cases = read_csv(&r.dir.join("cases.csv"));
    let c = &cases.rows[0];
    // Two repetitions: a mean and a spread, no interval, and the note says why.
    assert!(c.num("goodput_bps_mean") > 0.0 && c.num("rtt_p50_ns_mean") > 0.0);
    assert!(!c.get_str("goodput_bps_sd").is_empty());
    for col in [
        "goodput_bps_ci95_low",
        "rtt_p50_ns_ci95_low",
        "rtt_p99_ns_ci95_high",
    ] {
        assert_eq!(c.get_str(col), "", "{col}");
    }
    assert!(c.get_str("note").contains("too few for a 95% interval"));
    let iv = r.intervals();
    let dirs: Vec<&str> = iv.rows.iter().map(|i| i.get_str("direction")).collect();
    assert!(
        dirs.contains(&"forward") && dirs.contains(&"probe"),
        "{dirs:?}"
    );
    assert!(!dirs.contains(&"reverse"), "{dirs:?}");
}
