//! sockbench used as a library from outside: a crate made with `cargo new` in a temporary
//! directory, with a path dependency on this project and `examples/bench_my_settings.rs`
//! as its program, builds (offline, from the same CARGO_HOME) and runs; its figures for a
//! 128 KiB TCP stream are then set beside `sockbench run`'s on the same settings.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{output_bounded, read_csv, require, sockbench};

/// The outside crate's target directory: kept under this project's target directory, so
/// that its dependencies, compiled once, are reused by every later run. (This project's
/// own directory is locked by the `cargo test` running us.)
fn outside_target() -> PathBuf {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project.join("target"))
        .join("outside-crate")
}

/// Runs cargo with `args` in `dir`, killed past `limit`; its output when it failed.
fn cargo(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
    limit: Duration,
) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", outside_target())
        .env("SOCKBENCH_BENCH_DURATION", "200ms")
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = output_bounded(&mut cmd, limit).unwrap_or_else(|out| out);
    let text = format!(
        "cargo {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// A new crate in `dir` whose program is `examples/bench_my_settings.rs`, depending on
/// this project by path, with this project's Cargo.lock (the same versions, all in the
/// local registry cache, so no network is needed).
fn new_crate(dir: &Path) -> PathBuf {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let krate = dir.join("my_app");
    let made = cargo(
        dir,
        &[
            "new",
            "--offline",
            "--vcs",
            "none",
            "--name",
            "my_app",
            "my_app",
        ],
        &[],
        Duration::from_secs(60),
    );
    made.unwrap_or_else(|e| panic!("{e}"));
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let deps = format!(
        "[dependencies]\nsockbench = {{ path = {:?}, features = [\"criterion\"] }}\ncriterion = \"0.5\"\n",
        project.display().to_string()
    );
    std::fs::write(
        krate.join("Cargo.toml"),
        manifest.replace("[dependencies]\n", &deps),
    )
    .unwrap();
    std::fs::copy(project.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    std::fs::copy(
        project.join("examples/bench_my_settings.rs"),
        krate.join("src/main.rs"),
    )
    .unwrap();
    krate
}

/// The summary.csv row whose columns match every `(column, value)` of `want`.
fn row_of(dir: &Path, want: &[(&str, &str)]) -> HashMap<String, String> {
    read_csv(&dir.join("summary.csv"))
        .rows
        .into_iter()
        .find(|r| {
            want.iter()
                .all(|(k, v)| r.get(*k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no row with {want:?} in {}", dir.display()))
}

#[test]
fn an_outside_crate_runs_the_bench_example_and_agrees_with_sockbench_run() {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_cargo = Command::new(&cargo_bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !require(has_cargo, "cargo", "the Rust toolchain on PATH") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let krate = new_crate(tmp.path());
    let lib_results = tmp.path().join("library");
    // The first run compiles the dependencies into outside_target(); later ones reuse them.
    let ran = cargo(
        &krate,
        &["run", "--offline", "--quiet"],
        &[("SOCKBENCH_RESULTS", &lib_results)],
        Duration::from_secs(1800),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ran.contains("buffer=256K/msg=128K") && ran.contains("sockbench: goodput"),
        "{ran}"
    );

    let run_results = tmp.path().join("run");
    let out = sockbench(
        &[
            "run",
            "--proto",
            "tcp",
            "--msg-size",
            "128K",
            "--sndbuf",
            "256K",
            "--rcvbuf",
            "256K",
            "--duration",
            "200ms",
            "--warmup",
            "100ms",
            "--quiet",
            "--out",
        ]
        .into_iter()
        .chain([run_results.to_str().unwrap()])
        .collect::<Vec<_>>(),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let settings = [("msg_size", "131072"), ("sndbuf_req", "262144")];
    let lib = row_of(&lib_results, &settings);
    let cli = row_of(&run_results, &settings);
    assert_eq!(lib["status"], "ok");
    assert_eq!(cli["status"], "ok");
    // The knobs as requested and as the kernel read them back. Left out: mss_eff, the
    // connection's TCP_INFO snd_mss, which the kernel sets per connection (62,033 and
    // 63,754 on two loopback connections a moment apart here), not a knob's read-back.
    let columns = [
        "sndbuf_req",
        "sndbuf_eff",
        "rcvbuf_req",
        "rcvbuf_eff",
        "mss_req",
        "nodelay",
        "congestion",
        "protocol",
        "pattern",
        "direction",
        "flows",
        "msg_size",
    ];
    for c in columns {
        assert_eq!(lib[c], cli[c], "column {c}: library vs sockbench run");
    }
    assert!(lib["goodput_bps"].parse::<f64>().unwrap() > 0.0);
    eprintln!(
        "128 KiB tcp stream, 256K buffers: library {} bit/s, sockbench run {} bit/s",
        lib["goodput_bps"], cli["goodput_bps"]
    );
}
