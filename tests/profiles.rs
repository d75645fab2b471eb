//! Application traffic profiles on loopback: the sizes the receiver got follow the
//! distribution asked for (Kolmogorov–Smirnov at 1%), sizes.csv adds up to the summary,
//! Poisson arrivals keep the mean rate, bad distributions are refused with
//! file:line:col, and every shipped profile runs.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{read_csv, sockbench, RowExt};
use sockbench::spec::dist::{DistSpec, SizeSampler};

const LIMIT: Duration = Duration::from_secs(120);

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs a workload file; panics with sockbench's output unless it exits 0.
fn run_ok(workload: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "run",
        workload.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = sockbench(&args, LIMIT);
    assert!(
        o.status.success(),
        "sockbench {args:?}: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// sizes.csv's rows by (case, repetition).
fn sizes_by_run(out: &Path) -> HashMap<(u64, u64), Vec<HashMap<String, String>>> {
    let mut by: HashMap<(u64, u64), Vec<HashMap<String, String>>> = HashMap::new();
    for row in read_csv(&out.join("sizes.csv")).rows {
        by.entry((row.int("case"), row.int("repetition")))
            .or_default()
            .push(row);
    }
    by
}

/// The KS statistic of the received sizes (sizes.csv's log2 buckets) against the
/// distribution: the empirical CDF at each bucket's upper bound against the exact CDF
/// there. Evaluating at fewer points than every size can only lower the statistic, so
/// the 1% critical value keeps its meaning (the test loses power, not validity).
fn ks_on_buckets(rows: &[HashMap<String, String>], sampler: &SizeSampler) -> (f64, u64) {
    let mut buckets: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| (r.int("size_bucket_max"), r.int("messages")))
        .collect();
    buckets.sort_unstable();
    let n: u64 = buckets.iter().map(|b| b.1).sum();
    let mut acc = 0u64;
    let mut d: f64 = 0.0;
    for (upper, m) in buckets {
        acc += m;
        let k = upper.min(u32::MAX as u64) as u32;
        d = d.max((acc as f64 / n as f64 - sampler.cdf(k)).abs());
    }
    (d, n)
}

fn sampler(text: &str, base: &Path, floor: u32, ceiling: u32) -> SizeSampler {
    let d = DistSpec::parse(text, Some(base))
        .unwrap()
        .resolve(floor, ceiling)
        .unwrap();
    SizeSampler::new(&d)
}

#[test]
fn received_sizes_follow_the_distribution() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app-sizes.csv",
        "# an application's own message sizes\nsize,cdf\n100,0.3\n600,0.55\n1400,0.8\n9000,1\n",
    );
    // Byte streams frame each message; datagrams carry their size. UDP is paced so that
    // nothing is dropped for its size.
    let w = write(
        dir.path(),
        "w.toml",
        r#"
name = "ks"
[defaults]
duration = "1s"
warmup = "200ms"

[[case]]
proto = "tcp"
msg_size = {dist = "uniform", min = "64", max = "4K"}

[[case]]
proto = "unix-stream"
msg_size = {dist = "lognormal", median = "1K", p99 = "64K"}

[[case]]
proto = "tcp"
pattern = "rr"
msg_size = {dist = "pareto"}

[[case]]
proto = "udp"
rate = "80M"
duration = "2s"
msg_size = {dist = "empirical", file = "app-sizes.csv"}
"#,
    );
    let out = dir.path().join("out");
    run_ok(&w, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"));
    assert_eq!(summary.rows.len(), 4);
    for r in &summary.rows {
        assert_eq!(r.get_str("status"), "ok", "{r:?}");
    }
    let by = sizes_by_run(&out);
    let stream_max = 64 << 20;
    let expected = [
        sampler("uniform:min=64,max=4K", dir.path(), 4, stream_max),
        sampler("lognormal:median=1K,p99=64K", dir.path(), 4, stream_max),
        sampler("pareto:", dir.path(), 4, stream_max),
        sampler("empirical:file=app-sizes.csv", dir.path(), 16, 65507),
    ];
    for (case, s) in expected.iter().enumerate() {
        let rows = &by[&(case as u64 + 1, 1)];
        let (d, n) = ks_on_buckets(rows, s);
        assert!(n >= 10_000, "case {}: only {n} messages", case + 1);
        let critical = 1.628 / (n as f64).sqrt();
        assert!(
            d < critical,
            "case {}: KS D = {d:.5} >= {critical:.5} at 1% over {n} messages: {rows:?}",
            case + 1
        );
    }
    // The check has teeth: the uniform case's sizes are not lognormal.
    let (d, n) = ks_on_buckets(&by[&(1, 1)], &expected[1]);
    assert!(d > 1.628 / (n as f64).sqrt(), "D = {d}");
    // The distribution and the seed are in meta.json.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    let spec = &meta["cases"][1]["spec"];
    assert_eq!(spec["msg_dist"]["dist"], "lognormal", "{spec}");
    assert_eq!(spec["msg_dist"]["p99"], 65536);
    assert_eq!(spec["dist_seed"], 1);
    assert_eq!(meta["cases"][3]["spec"]["msg_dist"]["dist"], "empirical");
}

/// One summary row against its sizes.csv rows: messages, bytes and transactions add
/// up, and every bucket holds what its bounds allow.
fn assert_sizes_add_up(
    r: &HashMap<String, String>,
    by: &HashMap<(u64, u64), Vec<HashMap<String, String>>>,
) {
    assert_eq!(r.get_str("status"), "ok", "{r:?}");
    let key = (r.int("case"), r.int("repetition"));
    let rows = &by[&key];
    let messages: u64 = rows.iter().map(|s| s.int("messages")).sum();
    let bytes: u64 = rows.iter().map(|s| s.int("bytes")).sum();
    assert_eq!(messages, r.int("messages_received"), "case {key:?}");
    assert_eq!(bytes, r.int("bytes_received"), "case {key:?}");
    assert!(messages > 0, "case {key:?}");
    for s in rows {
        let (lo, hi) = (s.int("size_bucket"), s.int("size_bucket_max"));
        assert!(hi + 1 == 2 * lo.max(1), "bucket {lo}..{hi}");
        let m = s.int("messages");
        assert!(
            s.int("bytes") >= m * lo && s.int("bytes") <= m * hi,
            "{s:?}"
        );
    }
    // Round trips by size add up to the transactions of the summary.
    if !r.get_str("transactions").is_empty() {
        let t: u64 = rows
            .iter()
            .filter(|s| !s.get_str("transactions").is_empty())
            .map(|s| s.int("transactions"))
            .sum();
        assert_eq!(t, r.int("transactions"), "case {key:?}");
        for s in rows
            .iter()
            .filter(|s| !s.get_str("transactions").is_empty())
        {
            assert!(s.int("rtt_p50_ns") > 0 && s.int("rtt_p99_ns") >= s.int("rtt_p50_ns"));
        }
    }
}

#[test]
fn sizes_csv_adds_up_to_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "w.toml",
        r#"
name = "sums"
[defaults]
duration = "500ms"
warmup = "100ms"

[[case]]
proto = "tcp"
flows = "2"

[[case]]
proto = "tcp"
pattern = "rr"
response_size = {dist = "lognormal", median = "2K", p99 = "100K"}

[[case]]
proto = "tcp"
pattern = "rr"
rate = "3000"
msg_size = "100"
response_size = {dist = "pareto"}

[[case]]
proto = "udp"
pattern = "rr"
msg_size = {dist = "uniform", min = "16", max = "9000"}

[[case]]
proto = "tcp"
pattern = "crr"
msg_size = {dist = "uniform", min = "10", max = "2000"}

[[case]]
proto = "udp"
rate = "20M"
msg_size = {dist = "uniform", min = "100", max = "1400"}

[[case]]
proto = "unix-stream"
direction = "bidir"
msg_size = {dist = "uniform", min = "1K", max = "64K"}

[[case]]
proto = "tcp"
probe = "rr"
"#,
    );
    let out = dir.path().join("out");
    run_ok(&w, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"));
    let by = sizes_by_run(&out);
    assert_eq!(summary.rows.len(), 8);
    for r in &summary.rows {
        assert_sizes_add_up(r, &by);
    }
    // Heavy-tailed responses spread over many buckets.
    assert!(by[&(2, 1)].len() >= 6, "{:?}", by[&(2, 1)]);
}

#[test]
fn poisson_arrivals_keep_the_mean_rate() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "w.toml",
        r#"
name = "arrivals"
[defaults]
proto = "tcp"
pattern = "rr"
rate = "2000"
duration = "3s"
warmup = "200ms"

[[case]]
arrival = "poisson"

[[case]]
arrival = "fixed"
"#,
    );
    let out = dir.path().join("out");
    run_ok(&w, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"));
    for r in &summary.rows {
        assert_eq!(r.get_str("status"), "ok", "{r:?}");
        // 2000/s over 3 s: the count's standard deviation is about 77 (sqrt 6000); none
        // goes ahead of its arrival time, so a loaded machine can only lower it. The
        // bound is statistical (6 standard deviations above), not the machine's.
        let t = r.num("transactions");
        assert!(
            t > 0.0 && t <= 6000.0 + 6.0 * 6000f64.sqrt(),
            "transactions {t}"
        );
    }
    // The schedule itself (exponential gaps: CV 1, mean 1/rate; fixed: CV 0) is checked
    // on the generator, dist::tests::poisson_gaps_are_exponential_and_fixed_are_even:
    // on a loaded machine, completion times carry the scheduler's jitter as well.
    let meta = std::fs::read_to_string(out.join("meta.json")).unwrap();
    assert!(meta.contains("\"arrival\": \"poisson\""), "meta.json");
}

/// A workload line that must be refused, where (`:line:col:` in w.toml), and what the
/// error says.
const BAD_DISTRIBUTIONS: [(&str, &str, &str); 10] = [
    (
        r#"msg_size = {dist = "uniform", min = -64, max = "4K"}"#,
        ":4:37:",
        "negative",
    ),
    (
        r#"msg_size = {dist = "lognormal", median = "1K", p99 = "512"}"#,
        ":4:54:",
        "above the median",
    ),
    (
        r#"msg_size = {dist = "empirical", file = "empty.csv"}"#,
        ":4:40:",
        "empty",
    ),
    (
        r#"msg_size = {dist = "empirical", file = "header-only.csv"}"#,
        ":4:40:",
        "empty",
    ),
    (
        r#"msg_size = {dist = "empirical", file = "down.csv"}"#,
        ":4:40:",
        "down.csv:3: the CDF must not decrease",
    ),
    (
        r#"msg_size = {dist = "empirical", file = "back.csv"}"#,
        ":4:40:",
        "back.csv:3: sizes must increase",
    ),
    (
        r#"response_size = {dist = "zipf", s = 1}"#,
        ":4:25:",
        "unknown dist 'zipf'",
    ),
    (r#"msg_size = {min = 1}"#, ":4:12:", "needs dist"),
    (
        r#"think_time = {dist = "exponential", mean = "-1ms"}"#,
        ":4:44:",
        "negative",
    ),
    (
        r#"arrival = "bursty""#,
        ":4:11:",
        "unknown arrival 'bursty'",
    ),
];

#[test]
fn bad_distributions_are_refused_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.csv", "");
    write(dir.path(), "header-only.csv", "size,cdf\n");
    write(
        dir.path(),
        "down.csv",
        "size,cdf\n100,0.5\n200,0.4\n300,1\n",
    );
    write(dir.path(), "back.csv", "size,cdf\n100,0.5\n50,1\n");
    for (line, at, what) in BAD_DISTRIBUTIONS {
        let w = write(
            dir.path(),
            "w.toml",
            &format!("[defaults]\npattern = \"rr\"\nrate = \"100\"\n{line}\n"),
        );
        let o = sockbench(&["run", w.to_str().unwrap()], LIMIT);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{line}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{line}: {err}");
        assert!(
            err.contains(&format!("w.toml{at}")) && err.contains(what),
            "{line}: expected w.toml{at} and '{what}' in: {err}"
        );
    }
    // The same mistakes on the command line: one line, exit 2.
    for (flag, value) in [
        ("--msg-size", "lognormal:median=1K,p99=100"),
        ("--msg-size", "uniform:min=-1,max=10"),
        ("--response-size", "gamma:k=2"),
    ] {
        let o = sockbench(&["run", "--pattern", "rr", flag, value], LIMIT);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}");
        assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
    }
}

#[test]
fn shipped_profiles_run_on_loopback() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/profiles");
    let mut profiles: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    profiles.sort();
    assert!(profiles.len() >= 6, "{profiles:?}");
    let dir = tempfile::tempdir().unwrap();
    for p in &profiles {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.contains("description") && text.contains("Source"),
            "{}: a profile says what question it answers and where its numbers come from",
            p.display()
        );
        let out = dir.path().join(p.file_stem().unwrap());
        run_ok(
            p,
            &out,
            &[
                "--duration",
                "400ms",
                "--warmup",
                "100ms",
                "--set",
                "repeat=1",
            ],
        );
        let summary = read_csv(&out.join("summary.csv"));
        assert!(!summary.rows.is_empty(), "{}", p.display());
        for r in &summary.rows {
            assert_eq!(r.get_str("status"), "ok", "{}: {r:?}", p.display());
        }
        let sizes = read_csv(&out.join("sizes.csv"));
        assert!(!sizes.rows.is_empty(), "{}", p.display());
    }
}

#[test]
fn sizes_csv_is_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .unwrap();
    let start = doc.find("\n## sizes.csv\n").expect("a sizes.csv section");
    let rest = &doc[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3)];
    for c in sockbench::output::header_of::<sockbench::output::sizes::SizeRow>() {
        assert!(
            section.contains(&format!("| `{c}` |")),
            "docs/results.md, sizes.csv, does not describe {c}"
        );
    }
}

#[test]
fn requests_per_conn_makes_one_connection_per_n_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "w.toml",
        r#"
name = "conn-use"
[defaults]
pattern = "crr"
duration = "600ms"
warmup = "0s"

[[case]]
proto = "tcp"
requests_per_conn = 10

[[case]]
proto = "unix-stream"
requests_per_conn = 10
msg_size = {dist = "uniform", min = "20", max = "3000"}

[[case]]
proto = "tcp"
"#,
    );
    let out = dir.path().join("out");
    run_ok(&w, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"));
    assert_eq!(summary.rows.len(), 3);
    for (r, per) in summary.rows.iter().zip([10, 10, 1]) {
        assert_eq!(r.get_str("status"), "ok", "{r:?}");
        let t = r.int("transactions");
        let c = r.int("connections");
        assert!(c > 5, "{r:?}");
        // Without a warm-up every transaction is counted: exactly `per` per accept.
        assert_eq!(t, c * per, "transactions {t}, connections accepted {c}");
        assert_eq!(r.int("messages_received"), 2 * t);
    }
}

#[test]
fn pipeline_keeps_requests_in_flight_and_matches_every_response() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "w.toml",
        r#"
name = "pipeline"
[defaults]
pattern = "rr"
pipeline = 4
duration = "600ms"
warmup = "100ms"

[[case]]
proto = "tcp"

[[case]]
proto = "unix-stream"
msg_size = {dist = "lognormal", median = "200", p99 = "20K"}
response_size = {dist = "pareto"}

[[case]]
proto = "tcp"
pipeline = 1
"#,
    );
    let out = dir.path().join("out");
    run_ok(&w, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"));
    assert_eq!(summary.rows.len(), 3);
    for r in &summary.rows[..2] {
        // A response out of order or to no request ends the row in an error.
        assert_eq!(r.get_str("status"), "ok", "{r:?}");
        assert_eq!(r.int("max_in_flight"), 4, "{r:?}");
        assert!(r.int("transactions") > 100);
        assert_eq!(r.int("messages_sent"), r.int("messages_received"));
    }
    assert_eq!(summary.rows[2].get_str("max_in_flight"), "");
    // Pipelining with a schedule (--rate) is refused: one line, exit 2.
    let o = sockbench(
        &[
            "run",
            "--pattern",
            "rr",
            "--set",
            "pipeline=4",
            "--rate",
            "100",
        ],
        LIMIT,
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn think_time_spaces_closed_loop_requests() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "w.toml",
        r#"
name = "think"
[defaults]
proto = "tcp"
pattern = "rr"
duration = "1s"
warmup = "0s"

[[case]]
think_time = "5ms"

[[case]]
think_time = {dist = "exponential", mean = "5ms"}

[[case]]
pattern = "crr"
think_time = {dist = "uniform", min = "4ms", max = "6ms"}

[[case]]
proto = "udp"
think_time = "5ms"
"#,
    );
    let out = dir.path().join("out");
    run_ok(&w, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"));
    assert_eq!(summary.rows.len(), 4);
    for (r, most) in summary.rows.iter().zip([201, 260, 251, 201]) {
        assert_eq!(r.get_str("status"), "ok", "{r:?}");
        // A transaction every 5 ms at most: a sleep is never shorter than asked. A loaded
        // machine may oversleep by any amount, so there is no floor beyond "some".
        let t = r.int("transactions");
        assert!((1..=most).contains(&t), "{t} transactions: {r:?}");
    }
    let meta = std::fs::read_to_string(out.join("meta.json")).unwrap();
    assert!(
        meta.contains("\"exponential\""),
        "meta.json records the think time"
    );
    // Think time belongs to a closed loop: with --rate it is refused, one line, exit 2.
    let o = sockbench(
        &[
            "run",
            "--pattern",
            "rr",
            "--rate",
            "100",
            "--think-time",
            "1ms",
        ],
        LIMIT,
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
}
