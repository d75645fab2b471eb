//! `--psk-file` through the real binary: a file that is no key file, or a key that could be
//! guessed, is refused by `serve` and by `run` with one line and exit code 2, at once and
//! before anything listens or any traffic is sent.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::sockbench;

fn refused(args: &[&str], says: &str) {
    let out = sockbench(args, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{args:?}: one line: {stderr}"
    );
    assert!(
        stderr.starts_with("error: --psk-file ") && stderr.contains(says),
        "{args:?}: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing ran: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn key(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn files_that_are_not_key_files_are_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.to_string_lossy().into_owned();
    let big = key(tmp.path(), "big", &"9a4e1c7b2f8d3065".repeat(1024));
    for (file, says) in [
        ("/dev/zero", "a device"),
        (fifo.as_str(), "a FIFO"),
        (big.as_str(), "more than 4096 bytes"),
    ] {
        refused(
            &["serve", "--listen", "127.0.0.1:0", "--psk-file", file],
            says,
        );
        refused(&["run", "--to", "127.0.0.1:9", "--psk-file", file], says);
    }
}

#[test]
fn keys_that_could_be_guessed_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let out = out.to_string_lossy();
    for (name, text) in [
        ("zeros", "0000000000000000\n"),
        ("pattern", "abcabcabcabcabcabcabcabcabcabc\n"),
    ] {
        let file = key(tmp.path(), name, text);
        refused(
            &["serve", "--listen", "127.0.0.1:0", "--psk-file", &file],
            "too easy to guess",
        );
        refused(
            &[
                "run",
                "--duration",
                "100ms",
                "--psk-file",
                &file,
                "--out",
                &out,
            ],
            "too easy to guess",
        );
    }
    assert!(
        !Path::new(&*out).exists(),
        "no results directory for a refused run"
    );
}
