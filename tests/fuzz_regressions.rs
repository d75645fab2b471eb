//! Every seed of the fuzz targets and every input a fuzzer found (`fuzz/seeds/TARGET/`,
//! `fuzz/regressions/TARGET/`), replayed through the targets' own code
//! (`sockbench::fuzzing`) by a plain `cargo test`: none may panic. When
//! `scripts/fuzz.sh` finds a crash, its input goes into `fuzz/regressions/TARGET/` with a
//! name that says what it was, and the fix makes this test pass.

use std::path::Path;

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
