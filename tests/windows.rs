//! sockbench between operating systems: the Windows build, cross-built here with Debian's
//! `rustc-web` (the standard library built from `rust-web-src` with `-Zbuild-std`) and
//! linked with mingw, runs under `wine64` against the Linux build, as the sender of a
//! Linux `serve` and as the `serve` of a Linux sender, on 127.0.0.1.
//!
//! What is expected is Windows' behaviour as Wine 8.0 emulates it: a set SO_SNDBUF /
//! SO_RCVBUF is reported back as set (Linux reports double the request, capped by
//! `net.core.[rw]mem_max`). Debian's Wine 8.0 lacks `bcryptprimitives.dll`, whose
//! `ProcessPrng` every Rust program imports on Windows: `tests/wine/prng.c` is built into
//! the fresh WINEPREFIX's system32 (see that file).
//!
//! Needs no root. Skips with one line without `wine64`, `x86_64-w64-mingw32-gcc` or
//! `rustc-web` (fails instead under SOCKBENCH_REQUIRE_ALL=1). Every process it starts is
//! killed when a check fails (Drop guards), every wait is bounded, and the prefix's
//! wineserver is stopped at the end (`wineserver -k`).
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{find_tool, require_all, RowExt, Server};

const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW: &str = "x86_64-w64-mingw32-gcc";
/// Debian's `rustc-web` and `cargo-web`: a rustc that builds the standard library for
/// another target (the rustup toolchain here cannot download targets).
const RUSTC_WEB: &str = "/usr/bin/rustc";
const CARGO_WEB: &str = "/usr/bin/cargo";
const STD_SRC: &str = "/usr/lib/rustlib/src/rust/library";
/// The cross build of a cold cache (the standard library and every dependency for
/// Windows) takes minutes on a loaded machine.
const BUILD_LIMIT: Duration = Duration::from_secs(40 * 60);
/// One sockbench command under wine: start-up, a 1 s test, the results.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// How long a finished command's output may take to arrive.
const PIPE_LIMIT: Duration = Duration::from_secs(10);

/// The tools, found; or one line saying what is missing and how to get it.
struct Tools {
    wine64: String,
    wineserver: String,
}

fn tools() -> Result<Tools, String> {
    let wine64 = find_tool(&["wine64"]).or_else(|| exists("/usr/lib/wine/wine64"));
    let wineserver = find_tool(&["wineserver"]).or_else(|| exists("/usr/lib/wine/wineserver64"));
    let how = "apt-get install rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine64";
    let missing: Vec<&str> = [
        ("wine64", wine64.is_some() && wineserver.is_some()),
        (MINGW, find_tool(&[MINGW]).is_some()),
        (
            "rustc-web",
            Path::new(RUSTC_WEB).exists() && Path::new(CARGO_WEB).exists(),
        ),
        ("rust-web-src", Path::new(STD_SRC).exists()),
    ]
    .into_iter()
    .filter(|(_, found)| !found)
    .map(|(what, _)| what)
    .collect();
    match (missing.is_empty(), wine64, wineserver) {
        (true, Some(wine64), Some(wineserver)) => Ok(Tools { wine64, wineserver }),
        _ => Err(format!("{} ({how})", missing.join(", "))),
    }
}

fn exists(path: &str) -> Option<String> {
    Path::new(path).exists().then(|| path.to_string())
}

/// A child process killed (and reaped) when dropped, so that a failing check leaves
/// nothing running.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for `child` at most `limit` (killing it then, and failing): its exit status and
/// output. The output is read as it comes, so that a full pipe never stalls the child.
fn bounded(mut child: Child, limit: Duration, what: &str) -> Output {
    // A pipe is read to its end by a thread; its end may never come when a process the
    // child started (a wineserver) holds it, so the wait for it is bounded too.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let mut guard = Guard(Some(child));
    let deadline = Instant::now() + limit;
    let status = loop {
        let c = guard.0.as_mut().unwrap();
        if let Some(st) = c.try_wait().expect("try_wait") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    guard.0 = None;
    Output {
        status,
        stdout: out.recv_timeout(PIPE_LIMIT).unwrap_or_default(),
        stderr: err.recv_timeout(PIPE_LIMIT).unwrap_or_default(),
    }
}

/// The Windows build of sockbench, cross-built into target/cross (the directory
/// scripts/cross-check.sh uses, so that its build is reused).
fn build_exe() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target/cross");
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(CARGO_WEB)
        .current_dir(root)
        .args(["build", "-Zbuild-std=std,panic_abort", "--target", TARGET])
        .args(["--bin", "sockbench"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTC", RUSTC_WEB)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", MINGW)
        // Flags meant for the host build (CI's -D warnings) are not the standard
        // library's.
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("spawn cargo-web");
    let out = bounded(child, BUILD_LIMIT, "the Windows build");
    assert!(
        out.status.success(),
        "the Windows build failed:\n{}",
        std::fs::read_to_string(log.path()).unwrap_or_default()
    );
    let exe = target_dir.join(TARGET).join("debug/sockbench.exe");
    assert!(exe.is_file(), "{} missing after the build", exe.display());
    exe
}

/// A fresh WINEPREFIX in a temporary directory, with the test-only
/// bcryptprimitives.dll in its system32; its wineserver is stopped when dropped.
struct Prefix {
    dir: tempfile::TempDir,
    wine64: String,
    wineserver: String,
    exe: PathBuf,
}

impl Prefix {
    fn new(tools: &Tools, exe: PathBuf) -> Prefix {
        let p = Prefix {
            dir: tempfile::tempdir().unwrap(),
            wine64: tools.wine64.clone(),
            wineserver: tools.wineserver.clone(),
            exe,
        };
        // One wineserver for the prefix, started first with no pipes of ours, so that no
        // wine command's output waits on a server it started.
        std::fs::create_dir(p.path()).unwrap();
        let server = Command::new(&p.wineserver)
            .arg("-p")
            .env("WINEPREFIX", p.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wineserver");
        let out = bounded(server, RUN_LIMIT, "wineserver -p");
        assert!(out.status.success(), "wineserver -p: {out:?}");
        let boot = p.wine(&["wineboot", "--init"]).spawn().expect("wineboot");
        let out = bounded(boot, RUN_LIMIT, "wineboot --init");
        assert!(out.status.success(), "wineboot: {out:?}");
        let system32 = p.path().join("drive_c/windows/system32");
        assert!(
            system32.is_dir(),
            "no {} after wineboot",
            system32.display()
        );
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine/prng.c");
        let dll = system32.join("bcryptprimitives.dll");
        let cc = Command::new(MINGW)
            .args(["-shared", "-O2", "-o"])
            .arg(&dll)
            .arg(&src)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mingw");
        let out = bounded(cc, RUN_LIMIT, "building the prng DLL");
        assert!(out.status.success(), "{MINGW}: {out:?}");
        p
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("prefix")
    }

    /// `wine64 ARGS` in this prefix, quiet (WINEDEBUG=-all), with no display.
    fn wine(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.wine64);
        c.args(args)
            .env("WINEPREFIX", self.path())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// `sockbench.exe ARGS` under wine.
    fn sockbench(&self, args: &[&str]) -> Command {
        let exe = self.exe.to_str().unwrap().to_string();
        let mut all = vec![exe.as_str()];
        all.extend(args);
        self.wine(&all)
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let kill = Command::new(&self.wineserver)
            .arg("-k")
            .env("WINEPREFIX", self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut k) = kill {
            let deadline = Instant::now() + Duration::from_secs(30);
            while k.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = k.kill();
            let _ = k.wait();
        }
    }
}

/// A `sockbench serve` under wine on an ephemeral loopback port; killed when dropped.
struct WineServe {
    _child: Guard,
    addr: String,
}

impl WineServe {
    fn start(p: &Prefix) -> WineServe {
        let mut child = p
            .sockbench(&["serve", "--listen", "127.0.0.1:0"])
            .spawn()
            .expect("wine serve");
        let stdout = child.stdout.take().unwrap();
        let guard = Guard(Some(child));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            // Keep draining, so that the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(RUN_LIMIT)
            .expect("serve under wine said nothing")
            .expect("serve under wine closed its output");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not a listening line: {line}"))
            .to_string();
        WineServe {
            _child: guard,
            addr,
        }
    }
}

/// A finished run: exit code, stderr, and its summary rows.
struct Ran {
    code: i32,
    stderr: String,
    rows: Vec<HashMap<String, String>>,
    histogram_samples: u64,
}

fn finish(out: Output, dir: &Path) -> Ran {
    let read = |f: &str| dir.join(f).exists().then(|| common::read_csv(&dir.join(f)));
    Ran {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        rows: read("summary.csv").map(|c| c.rows).unwrap_or_default(),
        histogram_samples: read("histograms.csv")
            .map(|c| c.rows.iter().map(|r| r.int("count")).sum())
            .unwrap_or(0),
    }
}

const SHORT: &[&str] = &["--duration", "1s", "--warmup", "200ms"];

/// `sockbench.exe run --to ADDR ARGS` under wine.
fn wine_run(p: &Prefix, to: &str, args: &[&str]) -> Ran {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let mut all = vec!["run", "--to", to, "--out", out_dir.to_str().unwrap()];
    all.extend(SHORT);
    all.extend(args);
    let child = p.sockbench(&all).spawn().expect("wine run");
    finish(bounded(child, RUN_LIMIT, "sockbench.exe run"), &out_dir)
}

/// The Linux `sockbench run --to ADDR ARGS`.
fn linux_run(to: &str, args: &[&str]) -> Ran {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let mut all = vec!["run", "--to", to, "--out", out_dir.to_str().unwrap()];
    all.extend(SHORT);
    all.extend(args);
    let child = Command::new(common::bin())
        .args(&all)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockbench run");
    finish(bounded(child, RUN_LIMIT, "sockbench run"), &out_dir)
}

impl Ran {
    /// The one row, `ok`, run between these systems.
    fn ok_row(&self, sender: &str, receiver: &str) -> &HashMap<String, String> {
        assert_eq!(self.code, 0, "exit code; stderr:\n{}", self.stderr);
        assert_eq!(self.rows.len(), 1, "{:?}", self.rows);
        let row = &self.rows[0];
        assert_eq!(row.get_str("status"), "ok", "{}", row.get_str("error"));
        assert_eq!(row.get_str("sender_os"), sender);
        assert_eq!(row.get_str("receiver_os"), receiver);
        row
    }
}

/// What Linux reports for a buffer of `requested` bytes: double it, capped by the sysctl.
fn linux_buffer(requested: u64, sysctl: &str) -> u64 {
    let max: u64 = std::fs::read_to_string(format!("/proc/sys/net/core/{sysctl}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    2 * requested.min(max)
}

const MIB: u64 = 1 << 20;

/// TCP stream with both buffers set, a UDP stream, TCP rr; then a Linux-only knob.
fn check_pair(run: &dyn Fn(&[&str]) -> Ran, sender: &str, receiver: &str) {
    let (s_win, r_win) = (sender == "windows", receiver == "windows");
    let ran = run(&["--sndbuf", "1M", "--rcvbuf", "1M"]);
    let row = ran.ok_row(sender, receiver);
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{row:?}");
    assert!(row.int("bytes_received") > 0);
    assert_eq!((row.int("sndbuf_req"), row.int("rcvbuf_req")), (MIB, MIB));
    // Windows (as wine emulates it) reports a buffer as set; Linux doubles it.
    let snd = if s_win {
        MIB
    } else {
        linux_buffer(MIB, "wmem_max")
    };
    let rcv = if r_win {
        MIB
    } else {
        linux_buffer(MIB, "rmem_max")
    };
    assert_eq!(row.int("sndbuf_eff"), snd, "{row:?}");
    assert_eq!(row.int("rcvbuf_eff"), rcv, "{row:?}");

    let ran = run(&["--proto", "udp", "--msg-size", "1200", "--rate", "100M"]);
    let row = ran.ok_row(sender, receiver);
    assert!(row.int("messages_received") > 0, "{row:?}");
    assert_eq!(
        row.int("lost"),
        row.int("messages_sent") - row.int("messages_received"),
        "{row:?}"
    );
    assert_eq!(
        row.int("bytes_received"),
        row.int("messages_received") * 1200,
        "{row:?}"
    );

    let ran = run(&["--pattern", "rr"]);
    let row = ran.ok_row(sender, receiver);
    let transactions = row.int("transactions");
    assert!(transactions > 0, "{row:?}");
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{row:?}");
    assert!(row.int("rtt_p50_ns") <= row.int("rtt_p99_ns"), "{row:?}");
    assert!(row.int("rtt_p99_ns") <= row.int("rtt_max_ns"), "{row:?}");
    assert!(ran.histogram_samples > 0, "no histogram");

    // A Linux-only knob asked of the Windows side: refused in one line, exit 2.
    let ran = run(&["--proto", "udp", "--gso"]);
    let whose = if s_win {
        "this host"
    } else {
        "the receiver's host"
    };
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(
        ran.stderr.trim(),
        format!("error: --gso: Linux only ({whose}: windows)")
    );
    assert!(ran.rows.is_empty(), "a refused run wrote rows");
}

#[test]
fn windows_and_linux_measure_each_other() {
    let tools = match tools() {
        Ok(t) => t,
        Err(missing) => {
            require_all(Some(missing));
            return;
        }
    };
    let prefix = Prefix::new(&tools, build_exe());

    // (a) Windows sends, Linux receives.
    let linux = Server::start(&[]);
    let to = linux.addr.to_string();
    check_pair(&|args| wine_run(&prefix, &to, args), "windows", "linux");
    // In a sweep, the knob Windows cannot apply is left out of its case and named.
    let ran = wine_run(
        &prefix,
        &to,
        &["--proto", "udp", "--set", "gso=[true,false]"],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let cases: Vec<(&str, &str, &str)> = ran
        .rows
        .iter()
        .map(|r| {
            (
                r.get_str("case_label"),
                r.get_str("not_applicable"),
                r.get_str("status"),
            )
        })
        .collect();
    assert_eq!(
        cases,
        [("gso=true", "gso", "ok"), ("gso=false", "", "ok")],
        "{}",
        ran.stderr
    );
    drop(linux);

    // (b) Linux sends, Windows receives.
    let windows = WineServe::start(&prefix);
    check_pair(&|args| linux_run(&windows.addr, args), "linux", "windows");
    drop(windows);
    drop(prefix);
}
