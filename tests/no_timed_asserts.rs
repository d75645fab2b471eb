//! No test asserts a fixed wall-clock time or a rate with a fixed tolerance (issue 21):
//! a loaded machine misses such a bound, and a suite that fails under load is not
//! trusted. A test asserts behaviour (exact counts, ordering, the thing happened) or
//! compares a figure with what the same run measured or scheduled; a real speed claim
//! belongs in benches/ or scripts/. This reads every assertion in tests/ and harness/
//! and fails on the two shapes such a bound takes:
//! - a time: an assertion that reads a clock (`elapsed()`, a `took`) against a literal
//!   `Duration::from_...`;
//! - a rate tolerance: `(x - y).abs() < 0.05`-style relative bounds, and ranges such as
//!   `0.95e6 * 5.0..1.05e6 * 5.0`.
//!
//! A bound that only limits a test's own runtime, or that is the run's own figure written
//! out, goes in ALLOWED with its reason.

use std::path::{Path, PathBuf};

/// (file, a piece of the assertion): bounds that are not performance claims.
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "tests/hardening.rs",
        "took < Duration::from_secs(60)",
        "the run's own 60 s of sending: it ended before it, by the heartbeat",
    ),
    (
        "tests/hardening.rs",
        "2 * (sockbench::engine::STALL + Duration::from_secs(15))",
        "bounds a retry loop's runtime: twice the stall limit and the sender's 15 s to finish",
    ),
    (
        "tests/workloads.rs",
        "sd * 1e-6 + 0.01",
        "floating-point rounding of a figure recomputed from the same rows",
    ),
    (
        "tests/scripts.rs",
        "0.01 * per_syscall + 0.1",
        "the script's per-system-call figure recomputed from its own printed counts (rounding), no speed",
    ),
    (
        "tests/scripts.rs",
        "0.01 * ratio.max(1.0)",
        "a ratio recomputed from the script's own printed figures (rounding), no speed",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of every `assert!`/`assert_eq!`/`assert_ne!` call, comments dropped.
fn assertions(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("assert") {
        let after = &rest[i..];
        let Some(open) = after.find('(') else { break };
        let name = &after[..open];
        if !matches!(name, "assert!" | "assert_eq!" | "assert_ne!") {
            rest = &after[6..];
            continue;
        }
        let mut depth = 0;
        let mut end = after.len();
        let (mut in_str, mut escaped) = (false, false);
        for (k, c) in after[open..].char_indices() {
            if in_str {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_str = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_str = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push(
            after[..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
        rest = &after[end.min(after.len())..];
    }
    out
}

/// Why an assertion is a fixed timing or tolerance bound, if it is one. Tolerances are
/// looked for in `integration` tests only (tests/): the unit tests' tolerances bound
/// arithmetic and seeded samples, not a machine's speed.
fn timed(a: &str, integration: bool) -> Option<&'static str> {
    let reads_clock = a.contains("elapsed()") || a.contains("took");
    if reads_clock && a.contains("Duration::from_") && (a.contains('<') || a.contains('>')) {
        return Some("a wall-clock time against a fixed Duration");
    }
    let relative_literal = |s: &str| {
        s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .any(|n| n.starts_with("0.") && n.len() > 2 && n != "0.0")
    };
    if !integration {
        return None;
    }
    if let Some(i) = a.find(".abs()") {
        if a[i..].contains('<') && relative_literal(&a[i..]) {
            return Some("a rate or figure with a fixed relative tolerance");
        }
    }
    if a.contains(".contains(&") && a.contains("..") {
        // A factor near one (0.95, 1.05e6) written into a range's ends.
        let factor = a
            .replace("..", " ")
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e'))
            .filter(|t| t.contains('.'))
            .filter_map(|t| t.split('e').next()?.parse::<f64>().ok())
            .any(|m| m != 1.0 && (0.8..1.2).contains(&m));
        if factor {
            return Some("a rate within a fixed range");
        }
    }
    None
}

#[test]
fn no_test_asserts_a_fixed_time_or_rate_tolerance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("tests"), &mut files);
    rust_files(&root.join("harness"), &mut files);
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel == "tests/no_timed_asserts.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for a in assertions(&text) {
            let Some(why) = timed(&a, rel.starts_with("tests/")) else {
                continue;
            };
            let allowed = ALLOWED
                .iter()
                .any(|(file, piece, _)| *file == rel && a.contains(piece));
            if !allowed {
                found.push(format!("{rel}: {why}: {a}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "assert behaviour, or compare with what the same run measured (see \
         docs/testing.md); a bound on a test's own runtime goes in ALLOWED with its reason:\n{}",
        found.join("\n")
    );
}

/// The check catches the shapes it is for, and lets a derived bound through.
#[test]
fn the_check_flags_the_shapes_it_is_for() {
    for bad in [
        "assert!(started.elapsed() < Duration::from_secs(2));",
        "assert!(took < Duration::from_secs(3), \"closed after {took:?}\");",
        "assert!((goodput - 40e6).abs() < 40e6 * 0.05, \"x\");",
        "assert!(err.abs() < 0.01, \"x\");",
        "assert!((sent[0] - sent[1]).abs() / sent[0] < 0.05, \"x\");",
        "assert!((0.95e6 * 5.0..1.05e6 * 5.0).contains(&per_flow), \"x\");",
    ] {
        let a = assertions(bad);
        assert_eq!(a.len(), 1, "{bad}");
        assert!(timed(&a[0], true).is_some(), "not flagged: {bad}");
    }
    for good in [
        "assert!(bytes <= most, \"{bytes} {most}\");",
        "assert_eq!(row.int(\"lost\"), sent - received);",
        "assert!(!long.is_finished(), \"waited\");",
        "assert!((c.num(\"goodput_bps_mean\") - mean).abs() <= 1.0, \"mean\");",
    ] {
        let a = assertions(good);
        assert!(timed(&a[0], true).is_none(), "flagged: {good}");
    }
}
