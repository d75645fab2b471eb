//! Every seed of the fuzz targets and every input a fuzzer found (`fuzz/seeds/TARGET/`,
//! `fuzz/regressions/TARGET/`), replayed through the targets' own code
//! (`sockbench::fuzzing`) by a plain `cargo test`: none may panic. When
//! `scripts/fuzz.sh` finds a crash, its input goes into `fuzz/regressions/TARGET/` with a
//! name that says what it was, and the fix makes this test pass.
//!
//! The entry points exist with the `fuzz` feature only: `cargo test --features fuzz`
//! (Cargo.toml's `required-features` skips this file without it; CI turns it on).

use std::path::Path;
use std::time::{Duration, Instant};

use sockbench::net::control::{self, Message};
use sockbench::spec::config::TestSpec;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            inputs.push(e.unwrap().path());
        }
    }
    if target == "workload_parse" {
        // The shipped workloads, and the application profiles one folder down.
        let workloads = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
        for dir in [workloads.clone(), workloads.join("profiles")] {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_file() {
                    inputs.push(path);
                }
            }
        }
    }
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs for {target}");
    let mut failed = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target} panicked on {failed:#?}");
}

#[test]
fn control_decode_inputs() {
    replay("control_decode", sockbench::fuzzing::control_decode);
}

#[test]
fn workload_parse_inputs() {
    replay("workload_parse", sockbench::fuzzing::workload_parse);
}

#[test]
fn sender_results_inputs() {
    replay("sender_results", sockbench::fuzzing::sender_results);
}

#[test]
fn handshake_inputs() {
    replay(
        "handshake",
        sockbench::session::receiver::fuzz_control_session,
    );
}

/// The fuzz target's entry point ends quickly on garbage, on a hello alone, and on a
/// whole valid session whose data connections never come.
#[test]
fn the_control_session_fuzz_entry_ends_on_any_input() {
    let hello = control::encode(&Message::hello()).unwrap();
    let setup = control::encode(&Message::Setup {
        spec: Box::new(TestSpec {
            duration: Duration::from_millis(100),
            warmup: Duration::ZERO,
            interval: Duration::from_millis(50),
            ..TestSpec::default()
        }),
    })
    .unwrap();
    let start = control::encode(&Message::Start).unwrap();
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\xff\xff\xff\xff".to_vec(),
        hello.clone(),
        [hello.clone(), setup.clone()].concat(),
        [hello.clone(), setup.clone(), start.clone()].concat(),
        [hello, setup, start, b"trailing junk".to_vec()].concat(),
    ];
    // The bound is the session's own: the test's hard deadline.
    let limit = Duration::from_millis(100) + Duration::from_secs(15);
    for input in inputs {
        let started = Instant::now();
        sockbench::session::receiver::fuzz_control_session(&input);
        assert!(
            started.elapsed() < limit,
            "{} bytes took {:?}",
            input.len(),
            started.elapsed()
        );
    }
}
