//! Results that cannot be written: a full disk, a file that may not grow, a read-only
//! directory, a file where the results directory should be. Each fails with one line that
//! names the file and the OS error, exit code 1, and leaves every file in the results
//! directory whole: CSV that parses row by row, a `meta.json` that is JSON, no temporary
//! files, and each run either in every file or in none.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockbench")
}

/// A sweep of short request/response runs that writes well over 64 KiB in all (each run
/// adds interval rows every 10 ms, histogram buckets and a summary row), so that the
/// limits below are reached after a few seconds. `--repeat` only bounds it.
fn sweep_args(out: &Path) -> Vec<String> {
    [
        "run",
        "--pattern",
        "rr",
        "--duration",
        "150ms",
        "--warmup",
        "0s",
        "--interval",
        "10ms",
        "--repeat",
        "400",
        "--quiet",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.to_string_lossy().into_owned()])
    .collect()
}

/// Runs a command to its end, killing it if it outlives `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    common::output_bounded(&mut cmd, limit).unwrap_or_else(|out| {
        panic!(
            "ran past {limit:?}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A missing need (root, mount(8)): one line and skip, or a failure under
/// SOCKBENCH_REQUIRE_ALL=1.
fn missing(test: &str, need: &str) {
    let line = format!("{test}: skipped: needs {need}");
    if common::require_everything() {
        panic!("{line} (SOCKBENCH_REQUIRE_ALL=1)");
    }
    common::skip_line(&line);
}

/// A tmpfs mounted for the test, unmounted when dropped, also when the test fails.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, options: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// The one line of stderr, checked to name `file` and the OS error.
fn the_error_line(out: &Output, file_in: &Path, os_error: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, not:\n{stderr}");
    let line = lines[0].to_string();
    assert_eq!(out.status.code(), Some(1), "exit code 1: {line}");
    assert!(
        line.starts_with("error: writing ") || line.starts_with("error: creating "),
        "{line}"
    );
    assert!(
        line.contains(&*file_in.to_string_lossy()),
        "the line names a file in {}: {line}",
        file_in.display()
    );
    assert!(
        line.ends_with(os_error),
        "the OS error ({os_error}): {line}"
    );
    line
}

/// (case, repetition) of every row of a CSV file that has those columns.
fn runs_in_csv(path: &Path) -> Vec<(u32, u32)> {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.ends_with(b"\n"),
        "{} is empty or ends in the middle of a line",
        path.display()
    );
    let mut r = csv::Reader::from_reader(&bytes[..]);
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (case, rep) = (col("case"), col("repetition"));
    let mut runs = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.unwrap_or_else(|e| panic!("{} row {}: {e}", path.display(), i + 1));
        if let (Some(c), Some(p)) = (case, rep) {
            runs.push((rec[c].parse().unwrap(), rec[p].parse().unwrap()));
        }
    }
    runs
}

/// Checks that every file in a results directory is whole and that each run is in every
/// file or in none. Returns the number of runs in summary.csv.
fn every_file_is_whole(dir: &Path) -> usize {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with('.'),
            "a temporary file was left behind: {name}"
        );
        names.insert(name);
    }
    for name in [
        "summary.csv",
        "intervals.csv",
        "histograms.csv",
        "meta.json",
    ] {
        assert!(names.contains(name), "{name} is missing: {names:?}");
    }
    for name in names.iter().filter(|n| n.ends_with(".csv")) {
        runs_in_csv(&dir.join(name));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap())
            .expect("meta.json is JSON");

    let summary = runs_in_csv(&dir.join("summary.csv"));
    let all: BTreeSet<_> = summary.iter().copied().collect();
    assert_eq!(all.len(), summary.len(), "a run written twice");
    let intervals: BTreeSet<_> = runs_in_csv(&dir.join("intervals.csv"))
        .into_iter()
        .collect();
    let histograms: BTreeSet<_> = runs_in_csv(&dir.join("histograms.csv"))
        .into_iter()
        .collect();
    let hlog_text = std::fs::read(dir.join("latency.hlog")).unwrap();
    let mut hlog = BTreeSet::new();
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    for entry in IntervalLogIterator::new(&hlog_text) {
        if let LogEntry::Interval(h) = entry.expect("latency.hlog parses") {
            let tag = h.tag().expect("tagged").as_str().to_string();
            let mut parts = tag.split('.');
            let case = parts.next().unwrap().trim_start_matches("case").parse();
            let rep = parts.next().unwrap().trim_start_matches("rep").parse();
            hlog.insert((case.unwrap(), rep.unwrap()));
        }
    }
    assert!(!all.is_empty(), "runs were written before the error");
    // Every run of this sweep has interval rows and round trips: a run is in all of them
    // or in none.
    assert_eq!(
        intervals, all,
        "intervals.csv and summary.csv hold the same runs"
    );
    assert_eq!(
        histograms, all,
        "histograms.csv and summary.csv hold the same runs"
    );
    assert_eq!(hlog, all, "latency.hlog and summary.csv hold the same runs");
    let runs = meta["runs"].as_u64().expect("meta.json runs") as usize;
    assert_eq!(
        runs,
        all.len(),
        "meta.json counts the runs that summary.csv holds"
    );
    all.len()
}

#[test]
fn a_full_disk_ends_the_run_with_one_line_and_whole_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    let _disk = match Tmpfs::mount(&mnt, "size=64k") {
        Ok(m) => m,
        Err(e) => {
            return missing(
                "a_full_disk_ends_the_run_with_one_line_and_whole_files",
                &format!("root and mount(8) to mount a 64 KiB tmpfs ({e})"),
            )
        }
    };
    let out = mnt.join("results");
    let mut cmd = Command::new(bin());
    cmd.args(sweep_args(&out));
    let output = run_bounded(cmd, Duration::from_secs(180));
    the_error_line(&output, &out, "No space left on device (os error 28)");
    let runs = every_file_is_whole(&out);
    assert!(runs >= 2, "{runs} runs fit in 64 KiB");
}

/// A file that may not grow past 16 KiB (RLIMIT_FSIZE; SIGXFSZ ignored, so the write
/// fails with EFBIG instead of killing the process). The kernel takes the part of a
/// write that fits and refuses the rest, so this is the half-written row that the writer
/// must take back. Needs neither root nor a mount.
#[test]
fn a_file_that_cannot_grow_loses_no_row_and_keeps_no_half_row() {
    let out_parent = tempfile::tempdir().unwrap();
    let out = out_parent.path().join("results");
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16; exec \"$@\"")
        .arg("bash")
        .arg(bin())
        .args(sweep_args(&out));
    let output = run_bounded(cmd, Duration::from_secs(180));
    let line = the_error_line(&output, &out, "File too large (os error 27)");
    let file = line
        .strip_prefix("error: writing ")
        .and_then(|l| l.split(": ").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("a file being written: {line}"));
    let len = std::fs::metadata(&file).unwrap().len();
    assert!(len <= 16 * 1024, "{} has {len} bytes", file.display());
    every_file_is_whole(&out);
}

#[test]
fn a_read_only_results_directory_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    // Root writes through permission bits: it gets a read-only mount instead.
    let _mount = if root {
        match Tmpfs::mount(&dir, "ro,size=64k") {
            Ok(m) => Some(m),
            Err(e) => {
                return missing(
                    "a_read_only_results_directory_is_one_line",
                    &format!("mount(8) to mount a read-only tmpfs as root ({e})"),
                )
            }
        }
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        None
    };
    let os_error = if root {
        "Read-only file system (os error 30)"
    } else {
        "Permission denied (os error 13)"
    };
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--duration", "100ms", "--quiet", "--out"])
        .arg(&dir);
    let output = run_bounded(cmd, Duration::from_secs(60));
    let line = the_error_line(&output, &dir, os_error);
    assert!(line.contains(".csv") || line.contains(".hlog") || line.contains("meta.json"));
}

#[test]
fn a_file_where_the_results_directory_should_be_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("results");
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--duration", "100ms", "--quiet", "--out"])
        .arg(&out);
    let output = run_bounded(cmd, Duration::from_secs(60));
    // A path that cannot be a directory is a bad --out, refused before anything starts:
    // one line naming it and the OS error, exit 2 (a usage error, not a failed write).
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, not:\n{stderr}");
    assert_eq!(output.status.code(), Some(2), "{}", lines[0]);
    assert!(
        lines[0].contains(&*out.to_string_lossy())
            && lines[0].ends_with("Not a directory (os error 20)"),
        "{}",
        lines[0]
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "the file is untouched");
}

/// The header a results CSV starts with, for the files `ResultsWriter` makes.
fn header_line(name: &str) -> Option<String> {
    use sockbench::output::{header_of, histograms, intervals, sizes, summary};
    let columns = match name {
        "summary.csv" => header_of::<summary::SummaryRow>(),
        "intervals.csv" => header_of::<intervals::IntervalRow>(),
        "histograms.csv" => header_of::<histograms::HistogramRow>(),
        "sizes.csv" => header_of::<sizes::SizeRow>(),
        _ => return None,
    };
    Some(columns.join(","))
}

/// Fills the disk at `mnt` with one file, page by page, then frees `pages` pages of it.
fn fill_leaving(mnt: &Path, pages: u64) {
    use std::io::Write;
    let path = mnt.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let page = [0u8; 4096];
    let mut len = 0u64;
    while f.write_all(&page).is_ok() {
        len += page.len() as u64;
    }
    f.set_len(len.saturating_sub(pages * 4096)).unwrap();
}

/// Checks a results directory left by a run stopped at any point: every file that exists
/// is whole (a CSV has its header, a first line, and no half line), and a `meta.json`
/// counts exactly the runs that summary.csv holds.
fn whole_or_absent(dir: &Path, free: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "{free} pages: {name} left behind");
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        if let Some(header) = header_line(&name) {
            assert!(
                text.starts_with(&format!("{header}\n")),
                "{free} pages free: {name} has no header ({} bytes)",
                text.len()
            );
        }
        if name.ends_with(".csv") {
            runs_in_csv(&dir.join(&name));
        }
    }
    let Ok(meta) = std::fs::read(dir.join("meta.json")) else {
        return;
    };
    let meta: serde_json::Value = serde_json::from_slice(&meta).expect("meta.json is JSON");
    let rows = runs_in_csv(&dir.join("summary.csv")).len() as u64;
    assert_eq!(
        meta["runs"].as_u64(),
        Some(rows),
        "{free} pages free: meta.json's runs against summary.csv's rows"
    );
}

/// A disk that fills at every point of a run, one page at a time: while the files are
/// made (a CSV that gets no header is not left behind), at the first meta.json, among a
/// run's rows, and between the rows and meta.json (the rows go again, so meta.json's
/// `runs` is the number of runs in the files).
#[test]
fn a_disk_that_fills_at_any_point_leaves_headed_files_and_a_true_run_count() {
    let test = "a_disk_that_fills_at_any_point_leaves_headed_files_and_a_true_run_count";
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    let _disk = match Tmpfs::mount(&mnt, "size=96k") {
        Ok(m) => m,
        Err(e) => return missing(test, &format!("root and mount(8) for a tmpfs ({e})")),
    };
    let mut stopped = 0;
    for free in 0..16 {
        for entry in std::fs::read_dir(&mnt).unwrap() {
            let path = entry.unwrap().path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
        fill_leaving(&mnt, free);
        let out = mnt.join("results");
        let mut cmd = Command::new(bin());
        cmd.args([
            "run",
            "--pattern",
            "rr",
            "--duration",
            "100ms",
            "--warmup",
            "0s",
            "--interval",
            "10ms",
            "--repeat",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(&out);
        let output = run_bounded(cmd, Duration::from_secs(120));
        if !output.status.success() {
            stopped += 1;
            the_error_line(&output, &out, "No space left on device (os error 28)");
        }
        whole_or_absent(&out, free);
    }
    assert!(stopped >= 8, "only {stopped} of 16 runs met a full disk");
}

/// `run -J | head -c 300`: the reader of stdout goes away. Stdout is a view of the files:
/// the test measured when it went stays in every file, the run ends after it with
/// `meta.json` finished, and the one error line says why (exit 1). `tune -J` the same.
#[test]
fn a_closed_stdout_keeps_the_test_measured_and_finishes_the_files() {
    for command in ["run", "tune"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut args = vec![command, "--pattern", "rr", "--duration", "150ms"];
        match command {
            "run" => args.extend(["--repeat", "5"]),
            _ => args.extend(["--set", "sndbuf=\"16K..1M\"", "--budget", "12"]),
        }
        args.extend(["--warmup", "0s", "--interval", "10ms", "--json", "--out"]);
        let mut child = Command::new(bin())
            .args(&args)
            .arg(&out)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first row is printed.
        drop(child.stdout.take());
        let stderr = std::thread::spawn({
            let mut e = child.stderr.take().unwrap();
            move || {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
                s
            }
        });
        let status = common::wait_bounded(&mut child, Duration::from_secs(120));
        let stderr = stderr.join().unwrap();
        assert_eq!(status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("writing JSON to stdout") && stderr.contains("Broken pipe"),
            "{command}: {stderr}"
        );
        // The test it failed on is in every file, and it was the last.
        assert_eq!(every_file_is_whole(&out), 1, "{command}");
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("meta.json")).unwrap()).unwrap();
        assert!(meta["finished_utc"].is_string(), "{command}: {meta}");
        assert_eq!(meta["interrupted"], false, "{command}: {meta}");
        if command == "tune" {
            let rows = common::read_csv(&out.join("tune.csv")).rows;
            let tests = rows.iter().filter(|r| !r["repetition"].is_empty()).count();
            assert_eq!(tests, 1, "tune.csv records the test too");
        }
    }
}
