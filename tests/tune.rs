//! `sockbench tune` end to end: on loopback, the search finds the knee of a receive
//! buffer that limits goodput, `ok` with the default budget; every shipped
//! workload with a matrix tunes to `ok` with its defaults; a budget too small to judge is
//! `inconclusive`, exit 3; an unsatisfiable constraint ends with exit 1, the closest
//! candidate named and tune.csv complete; bad syntax is one line and exit 2. In the namespace lab (root), the
//! bufferbloat trade-off: the smallest send buffer reaching 95% of a 50 Mbit/s
//! bottleneck, within a latency limit that the largest buffer breaks.

mod common;

use std::collections::HashMap;
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

/// The starved sizes, from the full grid of workload `w` run three times over (one
/// repetition of each size a round, so that the load's drift falls on every size alike):
/// the largest buffer whose median goodput is under a quarter of the best median (a
/// buffer that starves the transfer fourfold, beyond what a loaded machine's noise makes
/// of a median of three: 1M at 23 and 4M at 14 Gbit/s), and every (rcvbuf, median
/// goodput). The smallest buffer must be starved, or the premise fails.
fn grid_starved(tmp: &Path, w: &str) -> (u64, Vec<(u64, f64)>) {
    let mut by_size: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for round in 0..3 {
        let grid_dir = tmp.join(format!("grid{round}"));
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
        for r in read_csv(&grid_dir.join("summary.csv")).rows {
            by_size
                .entry(r["rcvbuf_req"].parse::<u64>().unwrap())
                .or_default()
                .push(r["goodput_bps"].parse::<f64>().unwrap());
        }
    }
    let measured: Vec<(u64, f64)> = by_size
        .into_iter()
        .map(|(size, mut v)| {
            v.sort_by(f64::total_cmp);
            (size, v[v.len() / 2])
        })
        .collect();
    let best = measured.iter().map(|m| m.1).fold(0.0, f64::max);
    assert!(
        measured[0].1 < 0.25 * best,
        "a 4K receive buffer should limit goodput: {measured:?}"
    );
    let starved = measured
        .iter()
        .filter(|m| m.1 < 0.25 * best)
        .map(|m| m.0)
        .max()
        .unwrap();
    (starved, measured)
}

/// answer.json's `explain` against the tune's own summary.csv: the bottleneck is the best
/// mean goodput of any candidate tested twice or more, the base round trip the least TCP_INFO min_rtt, the BDP
/// their product, and the effective buffers what the kernel reported for the answer's
/// sockets.
fn assert_explain_numbers(dir: &Path) {
    let a = answer(dir);
    let x = &a["explain"];
    let rows: Vec<_> = read_csv(&dir.join("summary.csv"))
        .rows
        .into_iter()
        .filter(|r| r["status"] == "ok")
        .collect();
    let mut by_case: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for r in &rows {
        by_case
            .entry(r["case_label"].clone())
            .or_default()
            .push(r["goodput_bps"].parse().unwrap());
    }
    // Of the candidates tested twice or more (the raced ones): one test is no rate.
    let best = by_case
        .values()
        .filter(|v| v.len() >= 2)
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .fold(0.0, f64::max);
    let bottleneck = x["bottleneck_bps"]
        .as_f64()
        .expect("explain.bottleneck_bps");
    assert!(
        (bottleneck - best).abs() <= 1e-6 * best,
        "{x} against {best}"
    );
    let min_rtt_us: u64 = rows
        .iter()
        .filter_map(|r| r["tcp_min_rtt_us"].parse().ok())
        .filter(|&u: &u64| u > 0)
        .min()
        .expect("TCP_INFO min_rtt measured");
    assert_eq!(x["base_rtt_ns"].as_u64(), Some(min_rtt_us * 1000), "{x}");
    assert_eq!(x["base_rtt_from"], "tcp_info_min_rtt");
    let bdp = bottleneck / 8.0 * min_rtt_us as f64 / 1e6;
    assert_eq!(x["bdp_bytes"].as_u64(), Some(bdp.round() as u64), "{x}");
    let label = a["label"].as_str().unwrap();
    let chosen = rows.iter().find(|r| r["case_label"] == label).unwrap();
    assert_eq!(
        x["rcvbuf_eff"].as_u64().map(|v| v.to_string()),
        Some(chosen["rcvbuf_eff"].clone()),
        "{x}"
    );
    let knee = &x["knee"];
    assert_eq!(knee["key"], "rcvbuf", "{x}");
    assert!(
        knee["goodput_bps"].as_f64().unwrap() >= 0.95 * knee["best_goodput_bps"].as_f64().unwrap()
    );
}

/// `ok` and exit 0, with the output to show when not.
fn assert_ok(a: &serde_json::Value, code: Option<i32>, stdout: &str, stderr: &str) {
    assert_eq!(a["status"], "ok", "{a}\n{stdout}\n{stderr}");
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
}

/// `ok` and exit 0; or `inconclusive` (exit 3) where the machine's load, not the tune,
/// kept the figures from deciding, and only when the run's own summary.csv shows it
/// ([`assert_load_bound_tail`], [`assert_load_bound_race`]). Says so on stderr.
fn assert_ok_or_load_bound(dir: &Path, code: Option<i32>, stdout: &str, stderr: &str) {
    let a = answer(dir);
    if a["status"] != "inconclusive" {
        return assert_ok(&a, code, stdout, stderr);
    }
    let goal = a["goal"].as_str().unwrap();
    let why = a["why"].as_str().unwrap_or_default();
    if goal.ends_with("rtt_p99") || goal.ends_with("rtt_p999") {
        assert_load_bound_tail(dir, &a, code, stdout);
    } else if why.contains("the race's most tests") {
        assert_load_bound_race(dir, &a, code, stdout);
    } else {
        return assert_ok(&a, code, stdout, stderr);
    }
    eprintln!(
        "{}: inconclusive, load-bound by its own figures (accepted): {why}",
        dir.display()
    );
}

/// A tail round trip (p99, p999) on a machine whose load dominates that tail: each
/// setting named beside the answer has a median more than the 10% margin above the
/// best's (no equivalence to claim; the answer may be a cheaper setting equivalent to the
/// best, and a first form of this check that compared with the answer refused a run
/// whose medians were 3% apart), and each of the two varies from test to test by more
/// than that difference (seen under load: p99 of one rr size at 6 us and at 133 us,
/// medians 8 and 13 us).
fn assert_load_bound_tail(dir: &Path, a: &serde_json::Value, code: Option<i32>, stdout: &str) {
    let goal = a["goal"].as_str().unwrap();
    assert_eq!(code, Some(3), "{stdout}");
    let column = format!("{}_ns", goal.rsplit(' ').next().unwrap());
    let mut by_label: HashMap<String, Vec<f64>> = HashMap::new();
    for r in read_csv(&dir.join("summary.csv")).rows {
        if r["status"] == "ok" {
            let v = by_label.entry(r["case_label"].clone()).or_default();
            v.extend(r[column.as_str()].parse::<f64>().ok());
        }
    }
    for v in by_label.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    // The tune's median: of an even count, the mean of the two middle values.
    let median = |v: &[f64]| (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0;
    let label = |settings: &serde_json::Value| -> String {
        settings
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The best: the lowest median of the settings tested twice or more. The settings
    // named beside the answer are undecided against it (the answer itself may be a
    // cheaper one equivalent to the best).
    let (best, best_v) = by_label
        .iter()
        .filter(|(_, v)| v.len() >= 2)
        .min_by(|x, y| median(x.1).total_cmp(&median(y.1)))
        .expect("a setting tested twice");
    let tied = a["indistinguishable"].as_array().unwrap();
    assert!(!tied.is_empty(), "{a}");
    for t in tied {
        let l = label(t);
        let other = by_label.get(&l).filter(|v| v.len() >= 2);
        let other = other.unwrap_or_else(|| panic!("{l}: tested twice\n{stdout}"));
        let (m1, m2) = (median(best_v), median(other));
        let apart = m2 / m1;
        assert!(
            apart > 1.10,
            "medians {m1} ({best}) and {m2} ({l}) are within 10%: equivalent\n{stdout}"
        );
        for v in [best_v, other] {
            assert!(
                v[v.len() - 1] / v[0] > apart,
                "{column} {v:?} varies less than the {apart} between the medians: decidable\n{stdout}"
            );
        }
    }
}

/// A race of goodput (or transactions) that its cap ended undecided, judged on the run's
/// own summary.csv: the finalists the race kept testing had exactly the cap's number of
/// tests (two at least: the tune neither stopped early nor overran its cap); one of them
/// has a median more than the 5% margin under the best's (open: not equivalent, and not
/// reaching 0.95 of it); and both of that pair vary from test to test, between their
/// quartiles, by more than their medians lie apart, or the open one's ratios to the
/// best's tests nearest in time straddle the share ([`paired_quartiles`]), so that what
/// would decide it (a ratio of 0.95 against 0.9975) is buried in the noise. Seen beside two busy loops and a
/// release build: tcp-buffer-sweep's rcvbuf 256K against 1M at 24 tests each, medians
/// 13.0 and 14.0 Gbit/s (1.08 apart), quartiles 1.29 and 1.37 apart.
fn assert_load_bound_race(dir: &Path, a: &serde_json::Value, code: Option<i32>, stdout: &str) {
    assert_eq!(code, Some(3), "{stdout}");
    let goal = a["goal"].as_str().unwrap();
    let column = if goal.contains("goodput") {
        "goodput_bps"
    } else if goal.contains("transactions") {
        "transactions_per_s"
    } else {
        panic!("a race of {goal} ended by its cap: {a}\n{stdout}")
    };
    let why = a["why"].as_str().unwrap();
    let cap: usize = why
        .split("the race's most tests (")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the cap in {why:?}"));
    let mut by_label: HashMap<String, (usize, Vec<f64>)> = HashMap::new();
    // Every ok test's figure, in the order run (rows are written as tests end).
    let mut in_order: Vec<(String, f64)> = Vec::new();
    for r in read_csv(&dir.join("summary.csv")).rows {
        let e = by_label.entry(r["case_label"].clone()).or_default();
        e.0 += 1;
        if r["status"] == "ok" {
            let figure = r[column].parse::<f64>().ok();
            e.1.extend(figure);
            in_order.extend(figure.map(|f| (r["case_label"].clone(), f)));
        }
    }
    assert!(
        by_label.values().all(|(n, _)| *n <= cap),
        "a candidate had more than the cap's {cap} tests\n{stdout}"
    );
    let raced: Vec<(&String, Vec<f64>)> = by_label
        .iter()
        .filter(|(_, (n, v))| *n == cap && v.len() >= 4)
        .map(|(l, (_, v))| {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            (l, v)
        })
        .collect();
    assert!(
        raced.len() >= 2,
        "the cap ({cap} tests) ended the race, but fewer than two finalists had it\n{stdout}"
    );
    let median = |v: &[f64]| (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0;
    let quartiles = |v: &[f64]| v[3 * v.len() / 4] / v[v.len() / 4];
    let (best, top) = raced
        .iter()
        .map(|(l, v)| (l, v, median(v)))
        .max_by(|x, y| x.2.total_cmp(&y.2))
        .map(|(l, v, m)| ((l, v), m))
        .unwrap();
    let open: Vec<_> = raced
        .iter()
        .filter(|(_, v)| median(v) < 0.95 * top)
        .collect();
    assert!(
        !open.is_empty(),
        "every finalist at the cap has a median within 5% of the best's ({}): equivalent, decidable\n{stdout}",
        best.0
    );
    for (l, v) in open {
        let apart = top / median(v);
        let noisy = [best.1, v].iter().all(|w| quartiles(w) > apart);
        let (q1, q3) = paired_quartiles(&in_order, l, best.0);
        assert!(
            noisy || (q1 < 0.95 && q3 > 0.95),
            "{l} against {}: {column} {v:?} and {:?} vary between their quartiles by less than the {apart} between their medians, and {l}'s ratios to the best's test nearest in time lie between {q1:.3} and {q3:.3} (quartiles), clear of the 0.95 share: decidable\n{stdout}",
            best.0,
            best.1
        );
    }
}

/// The quartiles of `open`'s figures, each divided by the figure of `best`'s test
/// nearest in run order. The race runs the two in turn, so a load that changes during
/// it moves both of a pair; when these ratios straddle the share, the tests cannot tell
/// whether `open` reaches it. Seen in CI: tcp-buffer-sweep's sndbuf 1M against auto
/// (rcvbuf 4M), where every test fell from about 30 to 23 Gbit/s a third of the way
/// into the race: ratios about 0.93 before the step and 1.0 after.
fn paired_quartiles(in_order: &[(String, f64)], open: &str, best: &str) -> (f64, f64) {
    let bests: Vec<(usize, f64)> = (in_order.iter().enumerate())
        .filter(|(_, (l, _))| l == best)
        .map(|(i, (_, f))| (i, *f))
        .collect();
    let mut ratios: Vec<f64> = (in_order.iter().enumerate())
        .filter(|(_, (l, _))| l == open)
        .filter_map(|(i, (_, f))| {
            let nearest = bests.iter().min_by_key(|(j, _)| j.abs_diff(i))?;
            Some(f / nearest.1)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    assert!(ratios.len() >= 4, "{open}: {} paired tests", ratios.len());
    (ratios[ratios.len() / 4], ratios[3 * ratios.len() / 4])
}

/// The loopback case: rcvbuf = "4K..4M" (11 sizes, repeat 3: a 33-test grid), the
/// default goal (goodput>=0.95*max) and the default budget. A 4K receive buffer limits
/// goodput: the answer is `ok` within the budget, on a loaded machine too (the race
/// pairs its tests and trims a starved one), above every size the full grid shows
/// starved ([`grid_starved`]), with the budget counted exactly and the explanation's
/// numbers in answer.json. `inconclusive` only as [`assert_ok_or_load_bound`] allows it:
/// seen once beside the suite's load, 256K against 512K at the race's cap (24 tests
/// each, medians 7.5 and 8.1 Gbit/s, so 0.93 of the best against a share of 0.95 less
/// the margin, each size's tests from 5.8 to 10.3 Gbit/s).
#[test]
fn tune_finds_the_knee_of_a_small_receive_buffer_with_the_default_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let w = workload(
        tmp.path(),
        "name = \"knee\"\n[defaults]\nduration = \"1s\"\nwarmup = \"200ms\"\nrepeat = 3\n[matrix]\nrcvbuf = \"4K..4M\"\n",
    );
    let w = w.to_str().unwrap();
    let out = tmp.path().join("tune");
    let o = sockbench(
        &["tune", w, "--out", out.to_str().unwrap()],
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_ok_or_load_bound(&out, o.status.code(), &stdout, &stderr);
    let a = answer(&out);
    let grid = a["grid_tests"].as_u64().unwrap();
    let tests = a["tests_run"].as_u64().unwrap();
    assert_eq!(
        grid,
        11 * 3,
        "11 powers of two from 4K to 4M, 3 repetitions"
    );
    // The budget bounds it; a quiet machine decides in 10-13 tests (under half the grid,
    // as the synthetic knee of search.rs's tests always does), a loaded one, whose 4M
    // tests vary from 3 to 17 Gbit/s, races longer.
    let budget: u64 = a["budget"]
        .as_str()
        .unwrap()
        .trim_end_matches(" tests")
        .parse()
        .unwrap();
    assert!(
        tests <= budget,
        "{tests} tests of a {budget}-test budget\n{stdout}"
    );
    let chosen = size(a["settings"]["rcvbuf"].as_str().unwrap());
    assert!(
        a["figures"]["goodput_bps"]["mean"].as_f64().unwrap() > 0.0,
        "{a}"
    );
    assert_tune_csv_complete(&out);
    assert_explain_numbers(&out);
    assert!(stdout.contains("answer ("), "{stdout}");
    assert!(stdout.contains("Bandwidth-delay product"), "{stdout}");
    assert!(stdout.contains("SO_RCVBUF") && stdout.contains("set_recv_buffer_size"));
    // A figure of one test is never shown as an effect.
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains("next larger") && l.contains("changes") && l.contains("n=1")),
        "{stdout}"
    );

    let (starved, measured) = grid_starved(tmp.path(), w);
    assert!(
        chosen > starved,
        "tune chose rcvbuf={chosen}, which the grid shows starved (up to {starved}): grid {measured:?}\n{stdout}"
    );
}

/// Every shipped workload with a [matrix], tuned with its defaults (goal and budget), its
/// tests shortened (--set duration/warmup: the search is the same, the tests quicker):
/// every one ends `ok`, exit 0, on a loaded machine too (but for a tail round trip whose
/// noise the run's own figures show to exceed the differences:
/// [`assert_ok_or_load_bound`]), within its budget, tests_run
/// equal to the rows of summary.csv and of tune.csv, and the budget's phases adding up
/// to it.
#[test]
fn every_shipped_workload_with_a_matrix_tunes_to_ok() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("\n[matrix]"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let tmp = tempfile::tempdir().unwrap();
    for f in &files {
        let name = f.file_stem().unwrap().to_str().unwrap();
        let out = tmp.path().join(name);
        let o = sockbench(
            &[
                "tune",
                f.to_str().unwrap(),
                "--set",
                "duration=1s",
                "--set",
                "warmup=200ms",
                "--out",
                out.to_str().unwrap(),
            ],
            Duration::from_secs(900),
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        // An ordinary user may set only the congestion controls the kernel allows
        // (net.ipv4.tcp_allowed_congestion_control): tune refuses the rest before any
        // traffic, in one line, exit 2. That workload then needs root.
        if o.status.code() == Some(2) && stderr.contains("Operation not permitted") {
            let why = format!("root for workloads/{name}.toml ({})", stderr.trim());
            if !require(false, &why, "run as root or with sudo") {
                continue;
            }
        }
        assert_ok_or_load_bound(&out, o.status.code(), &format!("{name}: {stdout}"), &stderr);
        let a = answer(&out);
        let tests = a["tests_run"].as_u64().unwrap();
        let budget: u64 = a["budget"]
            .as_str()
            .unwrap()
            .trim_end_matches(" tests")
            .parse()
            .unwrap();
        assert!(
            tests <= budget,
            "{name}: {tests} tests of a {budget}-test budget"
        );
        let spent: u64 = a["tests_by_phase"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(spent, tests, "{name}: {a}");
        assert_tune_csv_complete(&out);
    }
}

/// The cheapest of equivalent finalists: a send buffer of net.core.wmem_max bytes and one
/// of twice that, which the kernel caps alike (Linux grants at most wmem_max, doubled):
/// the same socket, the same goodput but for the noise. The answer is the smaller, `ok`
/// (the larger named as equivalent when its median reached the share too); the kernel
/// reported the same effective buffer for both (the premise).
#[test]
fn equivalent_finalists_answer_the_cheapest() {
    let wmem_max: u64 = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .expect("net.core.wmem_max")
        .trim()
        .parse()
        .expect("a number");
    let (small, large) = (wmem_max.to_string(), (2 * wmem_max).to_string());
    let tmp = tempfile::tempdir().unwrap();
    let w = workload(
        tmp.path(),
        // Paced at 2 Gbit/s, far below what loopback carries even loaded (11 to 25 Gbit/s
        // unpaced, test to test, in a CI run): both settings measure the pace, so the
        // question is the rule (equivalent -> the cheapest), not the machine's noise,
        // which left two identical settings undecided after 24 tests each unpaced.
        &format!("name = \"same\"\n[defaults]\nduration = \"1s\"\nwarmup = \"200ms\"\nrepeat = 3\nrate = \"2G\"\n[matrix]\nsndbuf = [\"{large}\", \"{small}\"]\n"),
    );
    let out = tmp.path().join("tune");
    let o = sockbench(
        &["tune", w.to_str().unwrap(), "--out", out.to_str().unwrap()],
        Duration::from_secs(240),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let a = answer(&out);
    assert_ok(
        &a,
        o.status.code(),
        &stdout,
        &String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(a["settings"]["sndbuf"], small.as_str(), "{a}\n{stdout}");
    // Named as equivalent only when it reached the share on its own median too.
    for t in a["indistinguishable"].as_array().unwrap() {
        assert_eq!(t["sndbuf"], large.as_str(), "{a}");
    }
    let rows = read_csv(&out.join("summary.csv")).rows;
    let eff: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["sndbuf_req"] != "auto")
        .map(|r| r["sndbuf_eff"].as_str())
        .collect();
    assert_eq!(eff.len(), 1, "both requests capped alike: {eff:?}");
    assert!(
        rows.iter().any(|r| r["sndbuf_req"] == large),
        "the larger was measured"
    );
    assert_tune_csv_complete(&out);
}

/// A budget too small to judge any finalist (two tests: no candidate reaches two
/// repetitions) ends `inconclusive`, exit 3, one line on stderr saying why, and the
/// budget counted exactly.
#[test]
fn a_budget_too_small_to_judge_is_inconclusive_with_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tune");
    let o = sockbench(
        &[
            "tune",
            "--set",
            "rcvbuf=\"64K..1M\"",
            "--duration",
            "300ms",
            "--warmup",
            "100ms",
            "--budget",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("inconclusive: "),
        "{stderr}"
    );
    let a = answer(&out);
    assert_eq!(a["status"], "inconclusive", "{a}");
    assert_eq!(a["tests_run"], 2, "{a}");
    assert!(
        a["why"]
            .as_str()
            .unwrap()
            .contains("budget (2 tests) is spent"),
        "{a}"
    );
    assert_tune_csv_complete(&out);
}

/// Runs a tune that cannot be satisfied and checks how it ends; returns its stdout.
fn assert_unsatisfiable(args: &[&str], out: &Path) -> String {
    // A bound against a hang only: the tune may race its whole budget (75 tests of
    // 0.4 s) before it settles, as unpaced loopback goodput varies 8 to 35 Gbit/s from
    // test to test; beside two busy loops and a build that took more than 120 s.
    let o = sockbench(args, Duration::from_secs(600));
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

/// Ctrl-C ends a tune as it ends a run: exit 130, the reason on stderr, and the tests so
/// far in the results directory: a summary row per JSON row, a tune.csv row per test (the
/// interrupted one too), `meta.json` marked interrupted; no test starts after the signal.
#[test]
fn ctrl_c_ends_a_tune_with_130_and_keeps_the_tests_so_far() {
    use std::io::{BufRead, Read};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tune");
    let mut child = std::process::Command::new(bin())
        .args([
            "tune",
            "--set",
            "rcvbuf=\"64K..1M\"",
            "--duration",
            "2s",
            "--warmup",
            "0s",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Every stdout line, as it comes (the pipe stays open to the end: a closed one would
    // fail the tune's next row instead of letting the interrupt end it).
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // The first test's row: the tune is under way, its interrupt handler installed.
    // Bounds this test's runtime only: a tune that never finished a test fails here.
    let first = rx.recv_timeout(Duration::from_secs(300));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let Ok(first) = first else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no first test row; stderr:\n{}", errs.join().unwrap());
    };
    serde_json::from_str::<serde_json::Value>(&first).expect("a JSON row");
    let status = wait_bounded(&mut child, Duration::from_secs(120));
    reader.join().unwrap();
    let stderr = errs.join().unwrap();
    let rows = 1 + rx.try_iter().count();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_interrupted_tune(&out, rows);
}

/// An interrupted tune's directory: `rows` tests in summary.csv and tune.csv alike, the
/// one in flight (if any) `aborted` by the user, and `meta.json` marked interrupted.
fn assert_interrupted_tune(out: &Path, rows: usize) {
    let summary = read_csv(&out.join("summary.csv"));
    assert_eq!(summary.rows.len(), rows, "a summary row per JSON row");
    // The test in flight, if the signal came during one, says why it ended.
    for r in summary
        .rows
        .iter()
        .filter(|r| r.get_str("status") == "aborted")
    {
        assert!(
            r.get_str("error").starts_with("interrupted by the user"),
            "{}",
            r.get_str("error")
        );
    }
    let tune = read_csv(&out.join("tune.csv"));
    let tests = tune
        .rows
        .iter()
        .filter(|r| !r["repetition"].is_empty())
        .count();
    assert_eq!(tests, rows, "a tune.csv row per test");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["interrupted"], true);
    assert_eq!(meta["runs"].as_u64(), Some(rows as u64));
    assert!(meta["finished_utc"].is_string());
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
    assert_eq!(a["status"], "ok", "{a}");
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
    assert!(stdout.contains("grows with sndbuf between"), "{stdout}");
}

/// The check of a cap-ended race accepts the run seen under load and refuses a race its
/// figures could have decided.
#[test]
fn the_load_bound_race_check_tells_noise_from_a_decidable_race() {
    // tcp-buffer-sweep beside two busy loops and a build: rcvbuf 256K and 1M, 24 tests
    // each (Gbit/s).
    let k256 = [
        11.70, 11.74, 13.41, 12.92, 11.13, 9.27, 9.10, 11.31, 15.87, 18.86, 14.80, 9.75, 13.63,
        11.92, 13.04, 17.69, 11.99, 13.94, 10.97, 15.15, 18.10, 11.77, 15.35, 14.83,
    ];
    let m1 = [
        9.99, 16.96, 14.86, 13.09, 17.15, 10.06, 12.83, 12.72, 10.49, 9.19, 13.84, 15.47, 17.86,
        20.95, 16.85, 12.91, 17.66, 12.56, 11.34, 17.94, 17.24, 19.18, 14.15, 8.76,
    ];
    // The rows in the order run: (256K?, Gbit/s).
    let judge = |rows: &[(bool, f64)]| {
        let tmp = tempfile::tempdir().unwrap();
        let mut csv = String::from("case_label,status,goodput_bps\n");
        for (k256, v) in rows {
            let label = if *k256 { "rcvbuf=256K" } else { "rcvbuf=1M" };
            csv.push_str(&format!("{label},ok,{}\n", v * 1e9));
        }
        csv.push_str("rcvbuf=64K,ok,12e9\n");
        std::fs::write(tmp.path().join("summary.csv"), csv).unwrap();
        let a = serde_json::json!({
            "goal": "goodput>=0.95*max",
            "why": "whether rcvbuf=256K or rcvbuf=64K reaches 0.95 of the best (less the margin) cannot be told (each finalist had the race's most tests (24, 8 × max(repeat, 3))); rcvbuf=256K is the smallest that may",
        });
        std::panic::catch_unwind(|| assert_load_bound_race(tmp.path(), &a, Some(3), ""))
    };
    let run = |a: &[f64], b: &[f64]| {
        let rows: Vec<(bool, f64)> = (a.iter().map(|v| (true, *v)))
            .chain(b.iter().map(|v| (false, *v)))
            .collect();
        judge(&rows)
    };
    assert!(run(&k256, &m1).is_ok());
    // The load steps down a third of the way into the race, from 30 to 23 Gbit/s: 1M's
    // four screening tests first, then 256K, 256K, 1M, 1M in turn. 256K is 0.93 of 1M
    // before the step and equal after: whether it reaches 0.95 is open. At 0.85 of 1M
    // throughout, it clearly does not.
    let stepped = |share: f64| -> Vec<(bool, f64)> {
        let at = |round: usize, i: usize| {
            let level = if round < 5 { 30.0 } else { 23.0 };
            level * (1.0 + 0.001 * i as f64)
        };
        let mut rows: Vec<(bool, f64)> = (0..4).map(|i| (false, at(0, i))).collect();
        for round in 0..12 {
            let fast = if round < 5 { 28.0 / 30.0 } else { 1.0 };
            let k256 = if share < 0.9 { share } else { fast };
            rows.extend((0..2).map(|i| (true, k256 * at(round, i))));
            if round < 10 {
                rows.extend((0..2).map(|i| (false, at(round, i))));
            }
        }
        rows
    };
    assert!(judge(&stepped(1.0)).is_ok());
    assert!(judge(&stepped(0.85)).is_err());
    // The same spread, 256K 3% under 1M: equivalent, not open.
    let near: Vec<f64> = m1.iter().map(|v| v * 0.97).collect();
    assert!(run(&near, &m1).is_err());
    // A quiet machine: 2% between the quartiles, 8% between the medians.
    let quiet = |m: f64| -> Vec<f64> {
        (0..24)
            .map(|i| m * (0.99 + 0.02 * i as f64 / 23.0))
            .collect()
    };
    assert!(run(&quiet(12.9), &quiet(14.0)).is_err());
    // The tune stopped before its cap.
    assert!(run(&k256[..20], &m1[..20]).is_err());
}
