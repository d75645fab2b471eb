//! The command line as a new user meets it: mistakes answered with what to type, iperf3's
//! habits, help, completions and the man page, JSON Lines, and runs refused before
//! anything is created.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sockbench ARGS` that must be refused as a usage error (exit 2) with `needle` in
/// its message; returns stderr.
fn refused(args: &[&str], needle: &str) -> String {
    let out = sockbench(args, Duration::from_secs(20));
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

#[test]
fn a_mistyped_flag_gets_a_suggestion_and_the_usage() {
    let err = refused(
        &["run", "--sndbuff", "64K"],
        "unexpected argument '--sndbuff'",
    );
    assert!(err.contains("similar argument exists: '--sndbuf'"), "{err}");
    assert!(err.contains("Usage: sockbench run"), "{err}");
    let err = refused(&["serve", "--max-flow", "4"], "'--max-flows'");
    assert!(err.contains("Usage: sockbench serve"), "{err}");
    refused(&["runn"], "similar subcommand exists: 'run'");
}

#[test]
fn iperf3_habits_are_answered_with_the_sockbench_command() {
    refused(&["-s"], "sockbench serve");
    refused(&["run", "-s"], "sockbench serve");
    let err = refused(&["-c", "host-b", "-P", "4"], "sockbench run -c host-b -P 4");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = refused(&["run", "-w", "256K"], "-w:");
    assert!(
        err.contains("sockbench sets each side separately: --sndbuf 256K --rcvbuf 256K"),
        "{err}"
    );
    refused(
        &["run", "-C", "cubic"],
        "-C: the congestion control is --congestion cubic",
    );
    refused(
        &["run", "-M", "1400"],
        "-M: the segment size (TCP_MAXSEG) is --mss 1400",
    );
    refused(&["run", "-N"], "-N: TCP_NODELAY is --nodelay");
    // -u and --proto together say two things about one knob.
    refused(&["run", "-u", "--proto", "tcp"], "cannot be used with");
}

/// iperf3's client flags with the same meaning: -c, -P, -t, -l, -u, -b, -R, -J.
#[test]
fn iperf3_flags_are_aliases_with_the_same_meaning() {
    let server = Server::start(&["--quiet"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let to = server.addr.to_string();
    let run = sockbench(
        &[
            "run",
            "-c",
            &to,
            "-u",
            "-P",
            "2",
            "-t",
            "300ms",
            "--warmup",
            "0s",
            "-l",
            "200",
            "-b",
            "10M",
            "-R",
            "-J",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));
    let stdout = stdout_of(&run);
    let row: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(row["protocol"], "udp");
    assert_eq!(row["flows"], 2);
    assert_eq!(row["duration_s"], 0.3);
    assert_eq!(row["msg_size"], 200);
    assert_eq!(row["rate"], 10_000_000);
    assert_eq!(row["direction"], "reverse");
    assert_eq!(row["status"], "ok", "{row}");
}

#[test]
fn workload_key_typos_suggest_the_nearest_key() {
    refused(
        &["run", "--set", "sndbuff=64K"],
        "unknown key 'sndbuff' (did you mean 'sndbuf'?)",
    );
    refused(
        &["run", "--set", "repet=2"],
        "unknown key 'repet' (did you mean 'repeat'?)",
    );
    refused(
        &["run", "--set", "receiver.rcvbuff=1M"],
        "did you mean 'receiver.rcvbuf'?",
    );
    // Nothing near: the list of keys, the run keys among them.
    let err = refused(
        &["run", "--set", "colour=blue"],
        "unknown key 'colour' (known:",
    );
    for key in ["repeat", "shuffle", "seed", "msg_size", "cpu_affinity"] {
        assert!(err.contains(key), "{key}: {err}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("w.toml");
    std::fs::write(&w, "[defaults]\nshufle = true\n").unwrap();
    refused(
        &["run", w.to_str().unwrap()],
        "w.toml:2:10: unknown key 'shufle' (did you mean 'shuffle'?)",
    );
    std::fs::write(&w, "[matrx]\nsndbuf = [\"64K\"]\n").unwrap();
    refused(&["run", w.to_str().unwrap()], "did you mean 'matrix'?");
}

#[test]
fn set_takes_flag_spellings_and_says_how_to_write_several() {
    // msg-size as the flag is spelled, msg_size as the key is: the same knob.
    for key in ["msg-size", "msg_size"] {
        let r = run(&["--set", &format!("{key}=1K"), "--duration", "200ms"]);
        let row = r.ok_row();
        assert_eq!(row.int("msg_size"), 1024, "{key}");
    }
    refused(
        &["run", "--set", "repeat=1", "duration=1s"],
        "each assignment needs its own --set: --set repeat=1 --set duration=1s",
    );
    refused(
        &["run", "--set", "repeat=1 duration=1s"],
        "one assignment per --set: --set repeat=1 --set duration=1s",
    );
}

/// Every option of `run` and `serve` that takes a value shows its default (clap's, or
/// written in the help where a flag must not override a workload's value) and, where the
/// values are a fixed set, the choices; each subcommand shows examples.
#[test]
fn help_shows_choices_defaults_and_examples() {
    use clap::CommandFactory;
    let cmd = sockbench::cli::Cli::command();
    for sub in ["run", "serve", "report"] {
        let sc = cmd.find_subcommand(sub).unwrap();
        for arg in sc.get_arguments() {
            if !arg.get_action().takes_values() || arg.is_hide_set() || arg.is_positional() {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let has_default = !arg.get_default_values().is_empty() || help.contains("[default:");
            assert!(
                has_default || arg.get_id() == "set" || arg.get_id() == "psk_file",
                "{sub} --{}: no default shown: {help}",
                arg.get_id()
            );
        }
    }
    let out = sockbench(&["run", "--help"], Duration::from_secs(10));
    let help = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        help.contains("[possible values: tcp, udp, mptcp, unix-stream, unix-dgram"),
        "{help}"
    );
    assert!(
        help.contains("[possible values: stream, rr, crr]"),
        "{help}"
    );
    assert!(help.contains("[default: 10s]"), "{help}");
    for sub in ["run", "serve", "report", "completions", "man"] {
        let out = sockbench(&[sub, "--help"], Duration::from_secs(10));
        // An example may first make the directory its output goes into.
        let help = stdout_of(&out);
        let examples = help.split("Examples:\n").nth(1).unwrap_or_default();
        assert!(
            examples.starts_with("  ") && examples.contains(&format!("sockbench {sub}")),
            "{sub}: {help}"
        );
    }
}

#[test]
fn completions_and_the_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = sockbench(&["completions", shell], Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr_of(&out));
        let text = stdout_of(&out);
        assert!(
            text.contains("msg-size") && text.contains("serve"),
            "{shell}"
        );
        // The choices complete too.
        assert!(text.contains("unix-stream"), "{shell}");
    }
    refused(&["completions", "tcsh"], "invalid value 'tcsh'");
    let out = sockbench(&["man"], Duration::from_secs(10));
    let page = stdout_of(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH sockbench"),
        "{page}"
    );
    assert!(page.contains("serve") && page.contains("report"));
    let tmp = tempfile::tempdir().unwrap();
    let out = sockbench(
        &["man", "--out-dir", tmp.path().to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    for page in ["sockbench.1", "sockbench-run.1", "sockbench-serve.1"] {
        let text = std::fs::read_to_string(tmp.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let run_page = std::fs::read_to_string(tmp.path().join("sockbench-run.1")).unwrap();
    assert!(run_page.contains("msg\\-size"), "{run_page}");
}

/// `--json`: stdout holds one JSON object per finished test and nothing else, with the
/// same field names as summary.csv, in its order; the table goes to stderr.
#[test]
fn json_lines_carry_the_summary_fields_and_nothing_else() {
    let r = run(&[
        "--json",
        "--set",
        r#"pattern=["stream","rr"]"#,
        "--repeat",
        "2",
        "--duration",
        "300ms",
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let header = r.summary().header;
    let stdout = r.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "2 cases x 2 repetitions: {stdout}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let obj = v.as_object().expect("an object per line");
        let mut keys: Vec<&String> = obj.keys().collect();
        let mut want: Vec<&String> = header.iter().collect();
        keys.sort();
        want.sort();
        assert_eq!(keys, want);
        // ... and in the CSV's order.
        let at: Vec<usize> = header
            .iter()
            .map(|h| line.find(&format!("\"{h}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
        // Figures are numbers or null, never strings such as "NaN".
        for (k, val) in obj {
            if k.ends_with("_bps") || k.ends_with("_ns") || k.ends_with("_pct") {
                assert!(val.is_number() || val.is_null(), "{k} = {val}");
            }
        }
    }
    let rr: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(rr["pattern"], "rr");
    assert!(rr["transactions_per_s"].as_f64().unwrap() > 0.0);
    assert!(r.stderr().contains("case rep"), "the table is on stderr");
    assert!(r.stderr().contains("results: "), "{}", r.stderr());
}

/// A JSON row is valid JSON even when a figure is not finite.
#[test]
fn a_non_finite_figure_is_null_in_json() {
    let row = sockbench::output::summary::SummaryRow {
        goodput_bps: Some(f64::NAN),
        measured_s: Some(f64::INFINITY),
        ..Default::default()
    };
    let line = serde_json::to_string(&row).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        v["goodput_bps"].is_null() && v["measured_s"].is_null(),
        "{line}"
    );
}

/// The same unreachable receiver, run after run, is one error line, not one per run
/// and not twice per run; it asks whether the daemon runs there, and writes no results
/// directory (issue 21: an empty one was left behind).
#[test]
fn an_unreachable_receiver_is_reported_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run(&["--to", &format!("127.0.0.1:{port}"), "--repeat", "3"]);
    assert_eq!(r.code(), 1);
    let all = format!("{}{}", r.stdout(), r.stderr());
    assert_eq!(all.matches("cannot reach the receiver").count(), 1, "{all}");
    assert!(all.contains("is `sockbench serve` running there?"), "{all}");
    assert!(
        !r.dir.exists(),
        "a results directory for a run that never ran"
    );
}

/// A port where something else listens — a service that never speaks first, or one that
/// speaks another protocol — is no receiver either: said once, after one connection (not
/// one per test, each waiting for an answer that never comes), with no results directory.
#[test]
fn a_listener_that_is_not_sockbench_is_reported_once_after_one_connection() {
    for (greeting, says) in [
        (None, "did not answer the handshake"),
        (
            Some(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]),
            "does not speak the sockbench",
        ),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let other = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        if let Some(g) = greeting {
                            let _ = std::io::Write::write_all(&mut c, g);
                        }
                        held.push(c);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            held.len()
        });
        let r = run(&["--to", &format!("127.0.0.1:{port}"), "--repeat", "3"]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let accepted = other.join().unwrap();
        let all = format!("{}{}", r.stdout(), r.stderr());
        assert_eq!(r.code(), 1, "{all}");
        assert_eq!(all.matches(says).count(), 1, "{all}");
        assert_eq!(
            accepted, 1,
            "connections made to a non-sockbench port: {all}"
        );
        assert!(
            !r.dir.exists(),
            "a results directory for a run that never ran"
        );
    }
}

/// iperf3's -i, -p and --bidir get the sockbench spelling, not clap's generic tip.
#[test]
fn iperf3_interval_and_port_flags_get_the_sockbench_equivalent() {
    for (args, says) in [
        (&["run", "-i", "2"][..], "--interval 2s"),
        (&["run", "-p", "5201"], "--to HOST:5201"),
        (&["run", "--bidir"], "--direction bidir"),
        (&["-i", "1", "-c", "host"], "sockbench run -i 1 -c host"),
        (&["--bidir", "-c", "host"], "sockbench run --bidir -c host"),
    ] {
        let out = sockbench(args, Duration::from_secs(10));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `man --out-dir` makes the directory, and the examples are a section of their own.
#[test]
fn man_pages_go_into_a_new_directory_with_an_examples_section() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not/yet");
    let out = sockbench(
        &["man", "--out-dir", dir.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let run = std::fs::read_to_string(dir.join("sockbench-run.1")).unwrap();
    assert!(run.contains(".SH EXAMPLES") && !run.contains(".SH EXTRA"));
    let out = sockbench(&["man"], Duration::from_secs(30));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".SH NAME") && !page.contains(".SH EXTRA"));
}

/// `-u -b RATE` says on the terminal how much was lost, as a share, and what was offered
/// against what arrived.
#[test]
fn paced_udp_shows_its_loss_share_and_offered_against_achieved() {
    let r = run(&["-u", "-b", "20M"]);
    let row = r.ok_row();
    let out = r.stdout();
    let line = out
        .lines()
        .find(|l| l.contains("datagrams ("))
        .unwrap_or_else(|| panic!("no loss line:\n{out}"));
    let (lost, sent) = (row.int("lost"), row.int("messages_sent"));
    assert!(
        line.contains(&format!("lost {lost} of {sent} datagrams")),
        "{line}"
    );
    assert!(line.contains("%, warm-up included)"), "{line}");
    assert!(
        line.contains("after the warm-up, offered 20.00 Mbit/s, achieved"),
        "{line}"
    );
}

/// A sweep over protocols with a TCP-only knob: the knob is left out of the udp case and
/// named in its row; a single udp case keeps refusing it.
#[test]
fn a_knob_that_does_not_apply_is_skipped_in_a_sweep_and_named() {
    let r = run(&[
        "--nodelay",
        "--set",
        r#"proto=["tcp","udp"]"#,
        "--duration",
        "300ms",
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let s = r.summary();
    assert!(s.header.iter().any(|h| h == "not_applicable"));
    let by_proto = |p: &str| s.rows.iter().find(|r| r.get_str("protocol") == p).unwrap();
    assert_eq!(by_proto("tcp").get_str("not_applicable"), "");
    assert_eq!(by_proto("tcp").get_str("nodelay_req"), "true");
    assert_eq!(by_proto("udp").get_str("not_applicable"), "nodelay");
    assert_eq!(by_proto("udp").get_str("status"), "ok");
    let r = run(&["--nodelay", "--proto", "udp"]);
    assert_eq!(r.code(), 2);
    assert!(
        r.stderr()
            .contains("--nodelay applies to tcp and mptcp only, not udp"),
        "{}",
        r.stderr()
    );
}

/// Peak resident memory of a finished child, from wait4's rusage (KiB).
fn run_measured(args: &[&str]) -> (std::process::Output, Duration, i64) {
    let started = Instant::now();
    let child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // Read the pipes first (the child may fill them), then reap it with its rusage.
    let mut child = child;
    let mut stderr = Vec::new();
    let mut stdout = Vec::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped; the pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let took = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let output = std::process::Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(code << 8),
        stdout,
        stderr,
    };
    (output, took, usage.ru_maxrss)
}

/// A run of more than 100,000 tests is refused, counted from the matrix without building
/// it: at once and in little memory, with the count; `--force` lets a large one through.
#[test]
fn a_huge_run_is_refused_at_once_with_its_count() {
    let tmp = tempfile::tempdir().unwrap();
    let values: Vec<String> = (1..=100).map(|i| format!("\"{i}K\"")).collect();
    let list = values.join(", ");
    let w = tmp.path().join("huge.toml");
    std::fs::write(
        &w,
        format!("[matrix]\nsndbuf = [{list}]\nrcvbuf = [{list}]\nmsg_size = [{list}]\n"),
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let (out, took, rss_kib) = run_measured(&[
        "run",
        w.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("1000000 case(s) x 1 repetition(s) = 1000000 tests, more than 100000")
            && err.contains("--force"),
        "{err}"
    );
    // Counted, not built: the peak memory shows it (a million cases built take
    // gigabytes); the time it took is only printed, a load-dependent figure.
    eprintln!("refused in {took:?}");
    assert!(rss_kib < 100 * 1024, "peak RSS {rss_kib} KiB");
    assert!(!out_dir.exists());

    std::fs::write(&w, "[defaults]\nrepeat = 1000000000\n").unwrap();
    let (out, took, rss_kib) = run_measured(&["run", w.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("= 1000000000 tests"), "{err}");
    eprintln!("refused in {took:?}");
    assert!(rss_kib < 100 * 1024, "peak RSS {rss_kib} KiB");
    refused(
        &["run", "--repeat", "100001"],
        "1 case(s) x 100001 repetition(s) = 100001 tests",
    );
    refused(
        &[
            "run",
            "--set",
            "repeat=50001",
            "--set",
            r#"proto=["tcp","udp"]"#,
        ],
        "= 100002 tests",
    );
    // --force lets it past the count (a bad key after it still stops it, before traffic).
    refused(
        &["run", "--repeat", "100001", "--force", "--set", "colour=1"],
        "unknown key 'colour'",
    );
}

#[test]
fn bad_run_input_is_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = out_dir.to_str().unwrap();
    // An empty workload file is not a default test.
    let empty = tmp.path().join("empty.toml");
    std::fs::write(&empty, "# nothing yet\n\n").unwrap();
    refused(
        &["run", empty.to_str().unwrap(), "--out", out],
        "the workload is empty",
    );
    // A FIFO is not read (it would block until a writer came).
    let fifo = tmp.path().join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused(
        &["run", fifo.to_str().unwrap(), "--out", out],
        "not a regular file",
    );
    refused(
        &["run", tmp.path().to_str().unwrap(), "--out", out],
        "a directory",
    );
    // Receivers that cannot be: one line, exit 2.
    for to in ["127.0.0.1:99999", "::::"] {
        let err = refused(&["run", "--to", to, "--out", out], "--to");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(!out_dir.exists(), "a results directory was created");
    // --out at a file, or at a directory that already holds results.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    refused(
        &["run", "--out", file.to_str().unwrap()],
        "exists and is not a directory",
    );
    let r = run(&["--duration", "200ms"]);
    r.ok_row();
    let again = refused(
        &[
            "run",
            "--out",
            r.dir.to_str().unwrap(),
            "--duration",
            "200ms",
        ],
        "already holds files",
    );
    assert!(again.contains("--force"), "{again}");
    // --force writes into it; an existing empty directory needs nothing.
    let forced = sockbench(
        &[
            "run",
            "--out",
            r.dir.to_str().unwrap(),
            "--force",
            "--duration",
            "200ms",
            "--warmup",
            "0s",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(forced.status.code(), Some(0), "{}", stderr_of(&forced));
    assert_eq!(r.summary().rows.len(), 1);
    let empty_dir = tmp.path().join("empty-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    let ok = sockbench(
        &[
            "run",
            "--out",
            empty_dir.to_str().unwrap(),
            "--duration",
            "200ms",
            "--warmup",
            "0s",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr_of(&ok));
    assert!(Path::new(&empty_dir.join("summary.csv")).exists());
}

/// The table shows what the run varied, with the kernel's value beside the requested one,
/// transactions/s for rr, each case's mean and interval at the end, in 120 columns.
#[test]
fn the_table_shows_what_varied_and_fits_120_columns() {
    let r = run(&[
        "--pattern",
        "rr",
        "--set",
        r#"sndbuf=["64K","auto"]"#,
        "--repeat",
        "3",
        "--duration",
        "300ms",
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("2 case(s) x 3 repetition(s)") && lines[0].contains("varying sndbuf"),
        "{out}"
    );
    let header = lines[1];
    assert!(
        header.starts_with("case rep sndbuf") && header.contains("tx/s"),
        "{out}"
    );
    assert!(!header.contains("goodput"), "{out}");
    // Linux doubles a requested buffer: both are shown.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("64K→128K") && l.contains("tx/s")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.contains("auto")), "{out}");
    assert!(out.contains("mean (95% CI) over ok repetitions"), "{out}");
    // One format for every mean and interval, the unit once (`85.5k tx/s ± 658 tx/s` and
    // `67.6k tx/s (64.8k tx/s–70.6k tx/s)` once stood side by side).
    let means: Vec<&&str> = lines.iter().filter(|l| l.contains("3/3")).collect();
    assert_eq!(means.len(), 2, "{out}");
    // Every ok repetition measured a rate (0/s if none completed on a starved machine):
    // that interval is always there. A p99 needs samples: its interval is there exactly
    // when three repetitions have one.
    let summary = r.summary();
    for (case, l) in ["1", "2"].iter().zip(&means) {
        assert!(!l.contains('±'), "{l}");
        assert_eq!(l.matches("tx/s").count(), 1, "{l}");
        let with_p99 = summary
            .rows
            .iter()
            .filter(|x| x.get_str("case") == *case && !x.get_str("rtt_p99_ns").is_empty())
            .count();
        let intervals = if with_p99 >= 3 { 2 } else { 1 };
        assert_eq!(l.matches("(95% CI ").count(), intervals, "{l}\n{out}");
        if with_p99 < 3 {
            assert!(l.contains("(no CI)"), "{l}");
        }
    }
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("sndbuf=") && l.contains("3/3"))
            .count()
            == 2,
        "{out}"
    );
    for l in &lines {
        assert!(
            l.chars().count() <= 120,
            "{} columns: {l}",
            l.chars().count()
        );
    }
}

/// `--set` takes a TOML inline table for a size distribution, as a workload file does,
/// and a list of them sweeps the key (issue 21: the table was lowercased and read as a
/// dist name).
#[test]
fn set_takes_inline_tables_and_lists_of_them() {
    let r = run(&[
        "--set",
        r#"msg_size={dist="lognormal", median="1K", p99="64K"}"#,
    ]);
    let row = r.ok_row();
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert!(row.int("messages_received") > 0);
    let r = run(&[
        "--set",
        r#"msg_size=[{dist="uniform", min="64", max="1K"}, "4K"]"#,
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let s = r.summary();
    assert_eq!(
        s.rows.len(),
        2,
        "a list of a table and a size sweeps two cases"
    );
    assert!(s.rows.iter().all(|row| row.get_str("status") == "ok"));
    let r = run(&["--set", r#"msg_size={median="1K"}"#]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("needs dist"), "{}", r.stderr());
}

/// The helper every test runs a command through reads its output while it runs: a
/// command that writes more than a pipe holds (a `tune --json` of 33 tests once did, and
/// blocked until the test's bound killed it) ends, and all it wrote is kept.
#[test]
fn the_test_helper_takes_more_output_than_a_pipe_holds() {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2",
    ]);
    let out =
        common::output_bounded(&mut cmd, Duration::from_secs(60)).expect("ended before its bound");
    assert!(out.status.success());
    assert_eq!((out.stdout.len(), out.stderr.len()), (300_000, 200_000));
}
