//! The shell scripts, run as a user runs them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Whether a Debian package the script needs is installed; when not, the test is skipped
/// with one line saying so (or fails, under SOCKBENCH_REQUIRE_ALL=1).
fn need(tool: &str, package: &str) -> bool {
    need_tool(tool, &format!("apt-get install -y {package}"))
}

/// The scripts measure, and one of them runs everything under valgrind: one at a time, as
/// a user runs them, so that none starves another's measurements (a median once came out
/// as zero in compare.sh while callgrind ran beside it).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs scripts/NAME with ARGS against this build's binaries, checks that it succeeded,
/// and returns its standard output.
fn run_script(name: &str, args: &[&str]) -> String {
    let output = script_output(name, args, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs scripts/NAME with ARGS and the extra environment ENV (which may replace
/// SOCKBENCH or PATH), and returns how it ended.
fn script_output(name: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name);
    Command::new("bash")
        .arg(&script)
        .args(args)
        .env("SOCKBENCH", bin())
        .env("SOCKBENCH_BARE", env!("CARGO_BIN_EXE_sockbench-bare"))
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// An executable shell script at PATH.
fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// One row of compare.sh's table.csv against the rows of compare.csv it sums up.
fn assert_table_row(row: &std::collections::HashMap<String, String>, all: &Csv) {
    assert_eq!(row.int("repetitions"), 2);
    // A peer's failed repetitions (its bad luck, not ours) are counted and left out.
    let failed = all
        .rows
        .iter()
        .filter(|r| {
            r.get_str("case") == row.get_str("case")
                && r.get_str("tool") == row.get_str("peer")
                && r.get_str("metric") == row.get_str("metric")
                && !r.get_str("failed").is_empty()
        })
        .count();
    assert_eq!(row.int("peer_failed"), failed as u64, "{row:?}");
    let sb = row.num("sockbench_median");
    assert!(sb > 0.0, "{row:?}");
    if failed < 2 {
        let (peer, ratio) = (row.num("peer_median"), row.num("ratio"));
        assert!(peer > 0.0, "{row:?}");
        assert!((ratio - sb / peer).abs() < 0.01 * ratio.max(1.0), "{row:?}");
        assert!(row.num("paired_ratio_median") > 0.0, "{row:?}");
    }
    // Two repetitions are too few for a 95% interval on a median.
    assert_eq!(row.get_str("paired_ratio_lo"), "", "{row:?}");
}

/// table.csv's rows: the main figure of every case and peer, and the same per CPU-second.
fn assert_cases_and_peers(table: &Csv) {
    let pairs = |per_cpu: bool| -> Vec<String> {
        table
            .rows
            .iter()
            .filter(|r| r.get_str("metric").ends_with("_per_cpu_s") == per_cpu)
            .map(|r| format!("{}/{}", r.get_str("case"), r.get_str("peer")))
            .collect()
    };
    assert_eq!(
        pairs(false),
        [
            "tcp_stream/iperf3",
            "tcp_stream/bare",
            "udp_64/iperf3",
            "udp_64_gso/iperf3",
            "tcp_pingpong/sockperf",
            "tcp_pingpong/bare"
        ]
    );
    // The same work per CPU-second of both processes, for every peer whose CPU time the
    // script can read (sockperf prints none); a peer's failed repetitions may leave its
    // row out (its own failure), the bare loops' never.
    let per_cpu = pairs(true);
    for want in ["tcp_stream/bare", "tcp_pingpong/bare"] {
        assert!(per_cpu.iter().any(|p| p == want), "{want}: {per_cpu:?}");
    }
    for got in &per_cpu {
        assert!(
            [
                "tcp_stream/iperf3",
                "tcp_stream/bare",
                "udp_64/iperf3",
                "udp_64_gso/iperf3",
                "tcp_pingpong/bare"
            ]
            .contains(&got.as_str()),
            "{got}: {per_cpu:?}"
        );
    }
}

#[test]
fn compare_produces_a_well_formed_table() {
    if !(need("iperf3", "iperf3") && need("sockperf", "sockperf") && need("python3", "python3")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let stdout = run_script(
        "compare.sh",
        &[
            "--duration",
            "1",
            "--repeat",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let table = read_csv(&out.join("table.csv"));
    assert_eq!(
        table.header,
        [
            "case",
            "metric",
            "repetitions",
            "sockbench_median",
            "peer",
            "peer_median",
            "ratio",
            "paired_ratio_median",
            "paired_ratio_lo",
            "paired_ratio_hi",
            "peer_failed"
        ]
    );
    assert_cases_and_peers(&table);
    let all = read_csv(&out.join("compare.csv"));
    for row in &table.rows {
        assert_table_row(row, &all);
    }
    for r in &all.rows {
        // Every row is a figure or a named failure, never both.
        assert_ne!(
            r.get_str("value").is_empty(),
            r.get_str("failed").is_empty(),
            "{r:?}"
        );
        if r.get_str("tool") == "sockbench" {
            assert!(r.num("value") > 0.0, "{r:?}");
        }
    }
    // The main figures: every tool of each case, 2 repetitions; beside them the same
    // per CPU-second for every tool but sockperf, which prints no CPU time.
    let main: Vec<_> = all
        .rows
        .iter()
        .filter(|r| !r.get_str("metric").ends_with("_per_cpu_s"))
        .collect();
    assert_eq!(
        main.len(),
        (3 + 2 + 2 + 3) * 2,
        "the tools of each case, 2 repetitions"
    );
    assert_eq!(
        all.rows.len() - main.len(),
        (3 + 2 + 2 + 2) * 2,
        "per CPU-second rows"
    );
    // Interleaved: each repetition runs every tool of every case before the next, in
    // the reverse order the second time.
    let order: Vec<String> = main
        .iter()
        .map(|r| format!("{}{}", r.get_str("repetition"), r.get_str("tool")))
        .collect();
    assert_eq!(&order[..3], ["1sockbench", "1iperf3", "1bare"]);
    assert_eq!(&order[10..13], ["2bare", "2iperf3", "2sockbench"]);
    assert!(stdout.contains("tcp_pingpong"), "{stdout}");
}

/// scripts/overhead-instructions.sh counts both ends of both loops, for sockbench and for
/// the bare loops, with their system calls, and writes one row per case, tool and end;
/// it prints the figures normalized by system calls and whether they held within 5%.
#[test]
fn overhead_instructions_counts_both_ends() {
    if !(need("valgrind", "valgrind") && need("python3", "python3") && need("ss", "iproute2")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("oi");
    let stdout = run_script(
        "overhead-instructions.sh",
        &["--out", out.to_str().unwrap(), "--repeat", "1"],
    );
    let t = read_csv(&out.join("instructions.csv"));
    let keys: Vec<String> = t
        .rows
        .iter()
        .map(|r| {
            format!(
                "{}/{}/{}",
                r.get_str("case"),
                r.get_str("tool"),
                r.get_str("end")
            )
        })
        .collect();
    let mut want = Vec::new();
    for case in ["pingpong", "stream"] {
        for tool in ["sockbench", "bare"] {
            for end in ["active", "passive"] {
                want.push(format!("{case}/{tool}/{end}"));
            }
        }
    }
    assert_eq!(keys, want);
    for r in &t.rows {
        assert_eq!(r.int("repetition"), 1, "{r:?}");
        let (ir, sc) = (r.num("instructions_per_op"), r.num("syscalls_per_op"));
        assert!(ir > 0.0 && sc > 0.0, "{r:?}");
        let per_syscall = r.num("instructions_per_syscall");
        assert!(
            (per_syscall - ir / sc).abs() <= 0.01 * per_syscall + 0.1,
            "{r:?}"
        );
        assert!(r.num("instructions_per_kib") > 0.0, "{r:?}");
        assert!(r.int("ops_3s") > r.int("ops_1s"), "{r:?}");
    }
    for want in [
        "pingpong",
        "both",
        "extra/syscall",
        "within +-5% of their median over 1 repetition",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
}

/// A stand-in iperf3, first on PATH: as a server it waits; as a UDP client its first
/// report counts more datagrams lost than sent (as real iperf3 has), then 5000 delivered
/// per second; its TCP report carries no figure at all.
const FAKE_IPERF3: &str = r#"#!/bin/sh
case " $* " in *" -s "*) exec sleep 120 ;; esac
case " $* " in
  *" -u "*)
    n=$(cat "$FAKE_STATE" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$FAKE_STATE"
    if [ "$n" = 1 ]; then lost=15000; else lost=0; fi
    echo "{\"end\": {\"sum\": {\"packets\": 10000, \"lost_packets\": $lost, \"seconds\": 2.0}}}" ;;
  *) echo '{"error": "the server is busy running a test"}'; exit 1 ;;
esac
"#;

/// A peer tool's bad figure (iperf3 reporting more datagrams lost than sent) is recorded
/// as that tool's failed repetition, named with its reason and left out of its medians;
/// the script still succeeds.
#[test]
fn compare_records_a_peers_bad_figure_as_its_failure() {
    if !need("python3", "python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fake_bin = tmp.path().join("bin");
    std::fs::create_dir(&fake_bin).unwrap();
    write_script(&fake_bin.join("iperf3"), FAKE_IPERF3);
    let path = format!(
        "{}:{}",
        fake_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let state = tmp.path().join("state");
    let out = tmp.path().join("cmp");
    let output = script_output(
        "compare.sh",
        &[
            "--duration",
            "1",
            "--repeat",
            "2",
            "--only",
            "udp_64,tcp_stream",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("PATH", &path), ("FAKE_STATE", state.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("udp_64/iperf3 repetition 1 failed (measured '-2500.0')"),
        "{stderr}"
    );
    let all = read_csv(&out.join("compare.csv"));
    let iperf: Vec<_> = all
        .rows
        .iter()
        .filter(|r| r.get_str("tool") == "iperf3")
        .collect();
    assert_eq!(iperf.len(), 4, "2 cases x 2 repetitions");
    for r in &iperf {
        let (case, rep) = (r.get_str("case"), r.get_str("repetition"));
        match (case, rep) {
            ("udp_64", "2") => {
                assert_eq!(r.num("value"), 5000.0, "{r:?}");
                assert_eq!(r.get_str("failed"), "");
            }
            ("udp_64", _) => {
                assert_eq!(r.get_str("value"), "");
                assert_eq!(r.get_str("failed"), "measured '-2500.0'");
            }
            _ => {
                assert_eq!(r.get_str("value"), "");
                assert!(r.get_str("failed").contains("the server is busy"), "{r:?}");
            }
        }
    }
    let table = read_csv(&out.join("table.csv"));
    let udp = table
        .rows
        .iter()
        .find(|r| r.get_str("case") == "udp_64")
        .unwrap();
    assert_eq!(udp.int("peer_failed"), 1);
    assert_eq!(
        udp.num("peer_median"),
        5000.0,
        "the bad figure is not in it"
    );
    let tcp = table
        .rows
        .iter()
        .find(|r| r.get_str("case") == "tcp_stream" && r.get_str("peer") == "iperf3")
        .unwrap();
    assert_eq!(tcp.int("peer_failed"), 2);
    assert_eq!(tcp.get_str("peer_median"), "");
    assert_eq!(tcp.get_str("ratio"), "");
    assert!(tcp.num("sockbench_median") > 0.0);
}

/// sockbench's own bad figure is not a peer's bad luck: the script fails, naming it.
#[test]
fn compare_fails_on_sockbenchs_own_bad_figure() {
    if !need("python3", "python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A sockbench that "measures" a goodput of zero.
    let fake = tmp.path().join("sockbench");
    write_script(
        &fake,
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --out ] && out=$2; shift; done\n\
         mkdir -p \"$out\"\nprintf 'status,error,goodput_bps\\nok,,0\\n' >\"$out/summary.csv\"\n",
    );
    let out = tmp.path().join("cmp");
    let output = script_output(
        "compare.sh",
        &[
            "--duration",
            "1",
            "--repeat",
            "1",
            "--only",
            "tcp_stream",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("SOCKBENCH", fake.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("tcp_stream/sockbench repetition 1 measured '0.0' for goodput_bps"),
        "{stderr}"
    );
}

/// Without neper, compare.sh says in one line how to get it and skips its cases; every
/// case still reports its figure per CPU-second, and the machine's load.
#[test]
fn compare_names_neper_when_missing_and_reports_cost_per_cpu_second() {
    if !need("python3", "python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let empty = tmp.path().join("no-neper");
    std::fs::create_dir(&empty).unwrap();
    let output = script_output(
        "compare.sh",
        &[
            "--duration",
            "1",
            "--repeat",
            "1",
            "--only",
            "tcp_stream,tcp_rr_100",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("NEPER_DIR", empty.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stderr}");
    let neper: Vec<&str> = stderr.lines().filter(|l| l.contains("neper")).collect();
    assert_eq!(neper.len(), 1, "{stderr}");
    assert!(neper[0].contains("NEPER_DIR") && neper[0].contains("github.com/google/neper"));
    assert!(!stdout.contains("tcp_rr_100"), "{stdout}");
    let all = read_csv(&out.join("compare.csv"));
    for tool in ["sockbench", "bare"] {
        let per_cpu = all
            .rows
            .iter()
            .find(|r| r.get_str("tool") == tool && r.get_str("metric") == "bytes_per_cpu_s")
            .unwrap_or_else(|| panic!("{tool}: no bytes_per_cpu_s row"));
        let goodput = all
            .rows
            .iter()
            .find(|r| r.get_str("tool") == tool && r.get_str("metric") == "goodput_bps")
            .unwrap();
        // Bytes per CPU-second: the goodput over the cores both processes used (at most
        // the machine's, at least a sliver of one).
        let cores = goodput.num("value") / 8.0 / per_cpu.num("value");
        assert!(cores > 0.01 && cores < 1024.0, "{tool}: {cores} cores");
    }
    assert!(
        stdout.contains("load average (1, 5, 15 min) before:"),
        "{stdout}"
    );
    assert!(out.join("load.txt").exists());
}

/// A delay or loss without its unit is refused before anything is built, root or not:
/// netem reads `LOSS=1` as 1 %, the delay element read it as a fraction (every frame lost).
#[test]
fn lab_refuses_a_delay_or_loss_without_its_unit() {
    let fine = [
        ("DELAY", "0"),
        ("JITTER", "0"),
        ("LOSS", "0"),
        ("LATENCY", "20ms"),
    ];
    for (var, value) in [
        ("LOSS", "1"),
        ("LOSS", "0.01"),
        ("DELAY", "20"),
        ("JITTER", "2"),
        ("LATENCY", "100"),
    ] {
        // The others set to fine values, whatever the caller's environment holds.
        let mut env = fine.to_vec();
        env.extend([(var, value), ("LAB", "sbunits")]);
        let out = script_output("lab.sh", &["up"], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{var}={value}: {err}");
        assert!(err.contains(&format!("{var}={value}: give")), "{err}");
    }
    assert!(!std::path::Path::new("/var/run/netns/sbunits-snd").exists());
}
