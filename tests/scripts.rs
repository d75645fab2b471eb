//! The shell scripts, run as a user runs them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

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
