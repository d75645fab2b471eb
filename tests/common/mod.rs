//! Helpers for tests that run the real `sockbench` binary.
#![allow(dead_code)]

pub mod lab;
pub mod made;
pub mod svg;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockbench")
}

/// Runs sockbench with `args`, killing it if it outlives `limit`.
pub fn sockbench(args: &[&str], limit: Duration) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    output_bounded(&mut cmd, limit).unwrap_or_else(|out| {
        panic!(
            "sockbench {args:?} ran past {limit:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs `cmd` (stdin closed) to its end and returns its output; `Err` with what it wrote
/// when it outlived `limit` and was killed. Both pipes are read while it runs: a child
/// that writes more than a pipe holds (64 KiB: about 32 `--json` rows) would otherwise
/// block on its write and never end.
pub fn output_bounded(cmd: &mut Command, limit: Duration) -> Result<Output, Output> {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let mut overdue = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            overdue = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // A grandchild that kept the pipes open would keep these reads from ending: the
    // commands run here do not leave one behind.
    let out = Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    if overdue {
        Err(out)
    } else {
        Ok(out)
    }
}

/// The most payload a sender paced at `rate_bps` may send in `seconds` of traffic (the
/// warm-up included) in messages of `msg` bytes: every message due before the end, and no
/// more, plus `burst` messages that may go together (a batch). The pacer counts from the
/// start of traffic, so this bound holds however loaded the machine: a late sender sends
/// late, never ahead of its schedule.
pub fn schedule_bytes(rate_bps: f64, seconds: f64, msg: u64, burst: u64) -> u64 {
    let due = (rate_bps / 8.0 * seconds / msg as f64).ceil() as u64;
    (due + burst) * msg
}

/// A CSV file as a header and rows of column → value.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<HashMap<String, String>>,
}

pub fn read_csv(path: &Path) -> Csv {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect();
    Csv { header, rows }
}

pub trait RowExt {
    fn get_str(&self, col: &str) -> &str;
    fn num(&self, col: &str) -> f64;
    fn int(&self, col: &str) -> u64;
}

impl RowExt for HashMap<String, String> {
    fn get_str(&self, col: &str) -> &str {
        self.get(col).unwrap_or_else(|| panic!("no column {col}"))
    }
    fn num(&self, col: &str) -> f64 {
        let v = self.get_str(col);
        v.parse()
            .unwrap_or_else(|_| panic!("column {col} = {v:?} is not a number"))
    }
    fn int(&self, col: &str) -> u64 {
        let v = self.get_str(col);
        v.parse()
            .unwrap_or_else(|_| panic!("column {col} = {v:?} is not a whole number"))
    }
}

/// One finished `sockbench run` with its results directory.
pub struct RunResult {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub output: Output,
}

impl RunResult {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn summary(&self) -> Csv {
        read_csv(&self.dir.join("summary.csv"))
    }
    pub fn intervals(&self) -> Csv {
        read_csv(&self.dir.join("intervals.csv"))
    }
    pub fn histograms(&self) -> Csv {
        read_csv(&self.dir.join("histograms.csv"))
    }
    /// Samples in histograms.csv: its bucket counts summed.
    pub fn histogram_count(&self) -> u64 {
        self.histograms().rows.iter().map(|h| h.int("count")).sum()
    }
    /// The single summary row, checked to be `ok`.
    pub fn ok_row(&self) -> HashMap<String, String> {
        assert_eq!(
            self.code(),
            0,
            "exit code; stderr:\n{}\nstdout:\n{}",
            self.stderr(),
            self.stdout()
        );
        let mut s = self.summary();
        assert_eq!(s.rows.len(), 1);
        let row = s.rows.remove(0);
        assert_eq!(
            row.get_str("status"),
            "ok",
            "error: {}",
            row.get_str("error")
        );
        row
    }
}

/// `sockbench run ARGS --out <temp dir>`, with a short default duration.
pub fn run(args: &[&str]) -> RunResult {
    run_within(args, Duration::from_secs(90))
}

/// [`run`], killed past `limit` (a bound against a hang, for runs of many tests).
pub fn run_within(args: &[&str], limit: Duration) -> RunResult {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let mut all: Vec<&str> = vec!["run", "--out", dir.to_str().unwrap()];
    if !args.iter().any(|a| *a == "--duration" || *a == "-t") {
        all.extend(["--duration", "1s"]);
    }
    if !args.contains(&"--warmup") {
        all.extend(["--warmup", "200ms"]);
    }
    all.extend(args);
    let output = sockbench(&all, limit);
    RunResult {
        _tmp: tmp,
        dir,
        output,
    }
}

/// A `sockbench serve` child on an ephemeral loopback port; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

/// The address a `sockbench serve` child listens on: the first line of its stdout
/// (piped), `listening on ADDR`.
pub fn listening_addr(child: &mut Child) -> SocketAddr {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("serve's stdout, piped"))
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("listening line: {line:?}"))
        .parse()
        .unwrap()
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Server::start_on("127.0.0.1:0", extra)
    }

    /// A `sockbench serve` child listening on `listen` (another loopback address: a test's
    /// own, so that it can tell its sockets from other tests').
    pub fn start_on(listen: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", listen])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let addr = listening_addr(&mut child);
        Server { child, addr }
    }

    /// Collects the server's stderr (its log) from now on, line by line, on a thread of
    /// its own; the returned handle reads what has arrived so far.
    pub fn log(&mut self) -> ServerLog {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = self.child.stderr.take().expect("stderr already taken");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        ServerLog(lines)
    }

    /// Waits for the server to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A running server's log lines so far (see [`Server::log`]).
pub struct ServerLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl ServerLog {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The summary.csv columns `../shared/SPEC.md` requires, read from the SPEC itself when
/// it sits beside the repository (as in CI), else the list as of schema version 1.
pub fn spec_columns() -> Vec<String> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/SPEC.md");
    if let Ok(text) = std::fs::read_to_string(spec) {
        if let Some(start) = text.find("### `summary.csv` columns") {
            let block = &text[start..];
            let open = block.find("```").unwrap() + 3;
            let close = open + block[open..].find("```").unwrap();
            return block[open..close]
                .split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
        }
    }
    sockbench::output::summary::SPEC_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Prints one skip line where a plain `cargo test` shows it. Every skipping test goes
/// through here. Written to the stderr handle, not with `eprintln!`/`println!`, which the
/// test harness captures and shows only for a failing test: a skip must be seen.
pub fn skip_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether every need is met: `missing` is None, or one line naming what is missing and
/// how to get it. When it is not, prints `skipped: needs ...` and returns false (the test
/// then returns early: skipped) — unless `SOCKBENCH_REQUIRE_ALL=1` is set (CI sets it), in
/// which case a missing need fails the test, so that CI can never skip it silently.
pub fn require_all(missing: Option<String>) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    let line = format!("skipped: needs {missing}");
    if require_everything() {
        panic!("{line}, and SOCKBENCH_REQUIRE_ALL=1 makes every need a requirement");
    }
    skip_line(&line);
    false
}

/// Whether `SOCKBENCH_REQUIRE_ALL=1` is set: every need is a requirement.
pub fn require_everything() -> bool {
    std::env::var("SOCKBENCH_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Whether a test's outside need is met; see [`require_all`].
pub fn require(met: bool, what: &str, how: &str) -> bool {
    require_all((!met).then(|| format!("{what} ({how})")))
}

/// Root (the effective user id 0): namespaces, qdiscs.
pub fn need_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[cfg(unix)]
    let root = unsafe { libc::geteuid() } == 0;
    #[cfg(not(unix))]
    let root = false;
    require(root, "root", "run as root or with sudo")
}

/// The system directories an ordinary user's PATH often lacks, where `ip`, `tc`, `ss` and
/// `sshd` live: looked in after PATH, so a tool that is installed is found for any user.
pub const SBIN_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// The first of `names` found on PATH, or else in [`SBIN_DIRS`].
pub fn find_tool(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .collect();
    names.iter().find_map(|name| {
        dirs.iter().find_map(|dir| {
            let candidate = dir.join(name);
            let meta = std::fs::metadata(&candidate).ok()?;
            #[cfg(unix)]
            let runnable = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o111 != 0
            };
            #[cfg(not(unix))]
            let runnable = true;
            (meta.is_file() && runnable).then(|| candidate.to_string_lossy().into_owned())
        })
    })
}

/// PATH with [`SBIN_DIRS`] added, for the scripts and tools a test starts.
pub fn path_with_sbin() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(SBIN_DIRS.iter().map(PathBuf::from));
    std::env::join_paths(dirs).unwrap_or(path)
}

/// An external program on PATH, e.g. `need_tool("iperf3", "apt-get install -y iperf3")`.
pub fn need_tool(tool: &str, how: &str) -> bool {
    require(find_tool(&[tool]).is_some(), tool, how)
}

/// Application payload capacity of a link of `rate_bps` carrying TCP segments of
/// `payload` bytes: each frame adds TCP (20) + timestamps (12) + IP (20) + Ethernet (14)
/// bytes, and tbf meters whole frames.
/// Sends signal `sig` to process `pid`; whether it went.
#[cfg(unix)]
pub fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, sig) == 0 }
}

pub fn tcp_payload_capacity(rate_bps: f64, payload: f64) -> f64 {
    rate_bps * payload / (payload + 20.0 + 12.0 + 20.0 + 14.0)
}

/// Waits for `child`, killing it and failing past `limit` (a hang bound, not a speed claim).
pub fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
