//! scripts/cross-host.sh over a real ssh: Debian's sshd runs inside a namespace host of
//! the fleet lab (scripts/fleet-lab.sh), and the script runs on the lab's controller host,
//! so the receiver really starts on the other host, over ssh, with a generated key.
//! Needs root, iproute2 and openssh-server; without them it says so in one line and skips,
//! unless SOCKBENCH_REQUIRE_ALL=1 (CI), where a missing need is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// What this test needs and lacks, as one line; None when it has everything.
fn missing_needs() -> Option<String> {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root (network namespaces; run the tests as root, as CI does)".to_string());
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
    ] {
        if find_tool(&[tool]).is_none() {
            missing.push(format!("{tool} (apt-get install -y {package})"));
        }
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        missing.push("/usr/sbin/sshd (apt-get install -y openssh-server)".to_string());
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// True when the test must skip (one line on stderr); a failure instead when
/// SOCKBENCH_REQUIRE_ALL=1.
fn skip() -> bool {
    !require_all(missing_needs())
}

fn fleet_lab() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fleet-lab.sh")
}

/// Runs CMD to its end, killed if it outlives LIMIT seconds.
fn output_within(mut cmd: Command, limit: u64) -> Output {
    output_bounded(&mut cmd, std::time::Duration::from_secs(limit)).unwrap_or_else(|out| {
        panic!(
            "ran past {limit} s: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A fleet lab with sshd on its hosts, removed when dropped (test failed or not).
struct Lab {
    name: String,
    dir: PathBuf,
    hosts: u32,
}

impl Lab {
    fn up(tag: &str, hosts: u32) -> Lab {
        let name = format!("ch{}{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("sbf-{name}"));
        let lab = Lab { name, dir, hosts };
        for step in ["up", "sshd"] {
            let out = lab.script(&[step]);
            assert!(
                out.status.success(),
                "fleet-lab.sh {step}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        lab
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["-k", "5", "120", "bash"])
            .arg(fleet_lab())
            .args(args)
            .env("FLEET", &self.name)
            .env("FLEET_N", self.hosts.to_string())
            .env("FLEET_DIR", &self.dir)
            .env("BOTTLENECK", "0")
            .output()
            .unwrap()
    }

    fn ns(&self, host: &str) -> String {
        format!("sbf-{}-{host}", self.name)
    }

    /// Waits (at most 5 s) until no sockbench process is left on HOST; its processes.
    fn wait_until_no_sockbench_on(&self, host: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left = self.processes_in(host);
            if !left.iter().any(|p| p.starts_with("sockbench")) {
                return left;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the remote receiver is still running on {host}: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The script on the controller host against root@192.0.2.11 (host1) through its sshd.
    fn cross_host(&self, out: &Path, run_args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec"])
            .arg(self.ns("ctl"))
            .arg("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cross-host.sh"))
            .arg("--ssh")
            .arg(format!("ssh -F {}", self.dir.join("ssh_config").display()))
            .args(["--remote-bin", bin(), "--local-bin", bin()])
            .arg("--out")
            .arg(out)
            .args(["root@192.0.2.11", "--"])
            .args(run_args)
            // The script's own scratch (a fifo) beside OUT, removed with the test's
            // directory even when the script is killed before its trap runs.
            .env("TMPDIR", out.parent().unwrap())
            .stdin(Stdio::null());
        cmd
    }

    /// The names of the processes running in a host's namespace.
    fn processes_in(&self, host: &str) -> Vec<String> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.ns(host)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|comm| comm.trim().to_string())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = self.script(&["down"]);
        if !out.status.success() {
            eprintln!(
                "fleet-lab.sh down: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn cross_host_runs_a_workload_over_real_ssh_and_tears_down() {
    if skip() {
        return;
    }
    let lab = Lab::up("a", 2);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // The controller host runs the script (and the sender); host1 (192.0.2.11) is reached
    // through its own sshd as root with the lab's key.
    let output = output_within(
        lab.cross_host(
            &out,
            &["--duration", "500ms", "--warmup", "0s", "--proto", "udp"],
        ),
        120,
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let s = read_csv(&out.join("summary.csv"));
    assert_eq!(s.rows.len(), 1);
    assert_eq!(s.rows[0].get_str("status"), "ok");
    assert_eq!(s.rows[0].get_str("protocol"), "udp");
    assert!(s.rows[0].int("bytes_received") > 0);
    // The facts are the remote host's: its sysctls, and its own address.
    let facts = std::fs::read_to_string(out.join("remote-facts.txt")).unwrap();
    assert!(facts.contains("net/core/rmem_max = "), "{facts}");
    assert!(facts.contains("192.0.2.11/24"), "{facts}");
    let local = std::fs::read_to_string(out.join("local-facts.txt")).unwrap();
    assert!(local.starts_with("Linux"), "{local}");
    let log = std::fs::read_to_string(out.join("remote-serve.log")).unwrap();
    assert!(log.contains("listening on 0.0.0.0:5301"), "{log}");
    // serve --once: the remote receiver is gone once the script returns (bounded wait),
    // and only the sshd listener is left on that host.
    let left = lab.wait_until_no_sockbench_on("host1");
    assert!(left.iter().all(|p| p == "sshd"), "{left:?}");
    // Nothing ran on host2: the test really crossed to the host it named.
    assert!(
        lab.processes_in("host2").iter().all(|p| p == "sshd"),
        "{:?}",
        lab.processes_in("host2")
    );
}

#[test]
fn cross_host_stops_the_remote_receiver_when_the_run_fails() {
    if skip() {
        return;
    }
    let lab = Lab::up("b", 2);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // The local run refuses its arguments, so no sender ever reaches the remote
    // `serve --once`; over a real ssh it would wait there for ever unless stopped.
    let output = output_within(lab.cross_host(&out, &["--proto", "bogus"]), 60);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = std::fs::read_to_string(out.join("remote-serve.log")).unwrap();
    assert!(log.contains("listening on 0.0.0.0:5301"), "{log}");
    lab.wait_until_no_sockbench_on("host1");
}

#[test]
fn cross_host_killed_mid_run_leaves_no_remote_receiver() {
    if skip() {
        return;
    }
    let lab = Lab::up("c", 2);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // `ip netns exec` execs bash, so this child is the script itself.
    let mut script = lab
        .cross_host(&out, &["--duration", "20s", "--warmup", "0s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Bounded wait until the test is under way on the remote host.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !lab
        .processes_in("host1")
        .iter()
        .any(|p| p.starts_with("sockbench"))
        || !out.join("remote-serve.log").exists()
    {
        if std::time::Instant::now() > deadline {
            let _ = script.kill();
            panic!("the remote receiver never started");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SIGKILL: no trap runs; the remote side must notice on its own.
    script.kill().unwrap();
    script.wait().unwrap();
    lab.wait_until_no_sockbench_on("host1");
}
