//! The shell scripts, run as a user runs them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Fails loudly when a Debian package the script needs is missing.
fn need(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        found,
        "needs {tool}: apt-get install -y {package} (.ci/run installs it)"
    );
}

/// The scripts measure, and one of them runs everything under valgrind: one at a time, as
/// a user runs them, so that none starves another's measurements (a median once came out
/// as zero in compare.sh while callgrind ran beside it).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs scripts/NAME with ARGS against this build's binaries, checks that it succeeded,
/// and returns its standard output.
fn run_script(name: &str, args: &[&str]) -> String {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name);
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .env("SOCKBENCH", bin())
        .env("SOCKBENCH_BARE", env!("CARGO_BIN_EXE_sockbench-bare"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn cross_host_runs_a_workload_through_ssh_and_tears_down() {
    let tmp = tempfile::tempdir().unwrap();
    // Stands in for ssh: ignores the host and runs the command here, so the script's own
    // logic (start, wait, run, collect, tear down) is what is tested.
    let fake_ssh = tmp.path().join("fake-ssh");
    std::fs::write(&fake_ssh, "#!/bin/sh\nshift\nexec sh -c \"$*\"\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake_ssh)
        .status()
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let out = tmp.path().join("out");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cross-host.sh");
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let output = Command::new("bash")
        .arg(&script)
        .args([
            "--ssh",
            fake_ssh.to_str().unwrap(),
            "--addr",
            "127.0.0.1",
            "--port",
            &port,
        ])
        .args([
            "--remote-bin",
            bin(),
            "--local-bin",
            bin(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args([
            "remote-host",
            "--",
            "--duration",
            "500ms",
            "--warmup",
            "0s",
            "--proto",
            "udp",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let s = read_csv(&out.join("summary.csv"));
    assert_eq!(s.rows[0].get_str("status"), "ok");
    assert_eq!(s.rows[0].get_str("protocol"), "udp");
    let facts = std::fs::read_to_string(out.join("remote-facts.txt")).unwrap();
    assert!(facts.contains("net/core/rmem_max = "), "{facts}");
    let log = std::fs::read_to_string(out.join("remote-serve.log")).unwrap();
    assert!(
        log.contains(&format!("listening on 0.0.0.0:{port}")),
        "{log}"
    );
    // The remote receiver is gone (serve --once), so the port is free again.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        std::net::TcpListener::bind(format!("0.0.0.0:{port}")).is_ok(),
        "the remote receiver is still running"
    );
}

#[test]
fn compare_produces_a_well_formed_table() {
    need("iperf3", "iperf3");
    need("sockperf", "sockperf");
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
            "paired_ratio_hi"
        ]
    );
    let pairs: Vec<String> = table
        .rows
        .iter()
        .map(|r| format!("{}/{}", r.get_str("case"), r.get_str("peer")))
        .collect();
    assert_eq!(
        pairs,
        [
            "tcp_stream/iperf3",
            "tcp_stream/bare",
            "udp_64/iperf3",
            "udp_64_gso/iperf3",
            "tcp_pingpong/sockperf",
            "tcp_pingpong/bare"
        ]
    );
    for row in &table.rows {
        assert_eq!(row.int("repetitions"), 2);
        let (sb, peer, ratio) = (
            row.num("sockbench_median"),
            row.num("peer_median"),
            row.num("ratio"),
        );
        assert!(sb > 0.0 && peer > 0.0, "{row:?}");
        assert!((ratio - sb / peer).abs() < 0.01 * ratio.max(1.0), "{row:?}");
        assert!(row.num("paired_ratio_median") > 0.0, "{row:?}");
        // Two repetitions are too few for a 95% interval on a median.
        assert_eq!(row.get_str("paired_ratio_lo"), "", "{row:?}");
    }
    let all = read_csv(&out.join("compare.csv"));
    assert_eq!(
        all.rows.len(),
        (3 + 2 + 2 + 3) * 2,
        "the tools of each case, 2 repetitions"
    );
    // Interleaved: each repetition runs every tool of every case before the next, in
    // the reverse order the second time.
    let order: Vec<String> = all
        .rows
        .iter()
        .map(|r| format!("{}{}", r.get_str("repetition"), r.get_str("tool")))
        .collect();
    assert_eq!(&order[..3], ["1sockbench", "1iperf3", "1bare"]);
    assert_eq!(&order[10..13], ["2bare", "2iperf3", "2sockbench"]);
    assert!(stdout.contains("tcp_pingpong"), "{stdout}");
}

/// scripts/overhead-instructions.sh counts both ends of both loops, for sockbench and for
/// the bare loops, and writes one row per case, tool and end.
#[test]
fn overhead_instructions_counts_both_ends() {
    need("valgrind", "valgrind");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("oi");
    let stdout = run_script(
        "overhead-instructions.sh",
        &["--out", out.to_str().unwrap()],
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
        assert!(r.num("instructions_per_op") > 0.0, "{r:?}");
        assert!(r.int("ops_3s") > r.int("ops_1s"), "{r:?}");
    }
    assert!(
        stdout.contains("pingpong") && stdout.contains("both"),
        "{stdout}"
    );
}
