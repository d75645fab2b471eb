//! A whole `run`: finds or starts the receiver, runs every case × repetition, writes each
//! run's rows as soon as it ends, keeps `cases.csv` and `meta.json` current, and on Ctrl-C
//! ends the run in flight as `aborted`, keeping what was measured.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::measure::hostinfo::HostFacts;
use crate::net::auth::Psk;
use crate::output::cases::{self, CaseRecord};
use crate::output::meta::{utc_timestamp, CaseMeta, Hosts, Meta, SCHEMA_VERSION};
use crate::output::summary::SummaryRow;
use crate::output::table::Table;
use crate::output::ResultsWriter;
use crate::results::CaseRun;
use crate::session::sender::{resolve_target, run_test, LocalReceiver, Peer, Status, TestOutcome};
use crate::spec::workload::PlannedCase;

/// Runs of at most this many cases rewrite cases.csv and meta.json after every test.
const REWRITE_EVERY_TEST: usize = 1000;
/// Larger runs rewrite them this often.
const REWRITE_PERIOD: Duration = Duration::from_secs(5);

/// What to run: validated cases, each repeated `repeat` times.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub name: String,
    pub description: String,
    /// The workload file, or "command line".
    pub source: String,
    pub cases: Vec<PlannedCase>,
    /// The keys whose values differ between cases (the table's columns).
    pub varied: Vec<String>,
    pub repeat: u32,
    pub shuffle: bool,
    pub seed: u64,
    /// --min-repeat / --max-repeat / --target-ci; `repeat` is then the most.
    pub adaptive: Option<Adaptive>,
}

/// Repetitions until each case's main figure is known closely enough: every case runs
/// `min` times; after that, rounds go on (interleaved, as ever) for the cases whose 95%
/// interval is not yet within `target` of the mean, until `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    pub min: u32,
    pub max: u32,
    /// The relative half-width to reach: (high − low) / 2 / mean, e.g. 0.05 for ±5%.
    pub target: f64,
}

impl Adaptive {
    /// Whether the case's main figure is within the target (never before 3 repetitions:
    /// no interval).
    pub fn reached(&self, record: Option<&CaseRecord>) -> bool {
        record
            .and_then(CaseRecord::main_summary)
            .and_then(|s| s.relative_half_width())
            .is_some_and(|w| w <= self.target)
    }

    /// Whether a case with this record so far gets another repetition.
    pub fn wants_another(&self, record: Option<&CaseRecord>) -> bool {
        let done = record.map_or(0, |r| r.reps.len()) as u32;
        done < self.min || (done < self.max && !self.reached(record))
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub to: Option<String>,
    /// The pre-shared key and the file it came from (handed to a local receiver).
    pub psk: Option<(Psk, PathBuf)>,
    /// Stop the sweep at the first run that does not end `ok`.
    pub fail_fast: bool,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    /// JSON Lines on stdout, one object per finished test; everything else on stderr.
    pub json: bool,
    pub command_line: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    AllOk,
    SomeFailed,
    Interrupted,
}

/// The default results directory: `results/<UTC time>-<name>/`.
pub fn default_out_dir(name: &str, started: SystemTime) -> PathBuf {
    let stamp = utc_timestamp(started).replace([':', '-'], "");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from("results").join(format!("{stamp}-{safe}"))
}

/// The order of the runs: repetition by repetition, each going through every case (so a
/// slow drift of the machine does not bias one case), or all shuffled with the seed.
pub fn run_order(plan: &RunPlan) -> Vec<(usize, u32)> {
    let mut order: Vec<(usize, u32)> = (1..=plan.repeat)
        .flat_map(|rep| (0..plan.cases.len()).map(move |c| (c, rep)))
        .collect();
    if plan.shuffle && plan.adaptive.is_some() {
        // Rounds stay in order (a later round depends on the earlier ones), each shuffled.
        let mut rng = fastrand::Rng::with_seed(plan.seed);
        for round in order.chunks_mut(plan.cases.len().max(1)) {
            rng.shuffle(round);
        }
    } else if plan.shuffle {
        fastrand::Rng::with_seed(plan.seed).shuffle(&mut order);
    }
    order
}

/// With --max-repeat: whether case `ci` has had enough repetitions, so this round skips it.
fn skip_round(plan: &RunPlan, records: &[CaseRecord], ci: usize) -> bool {
    let record = records.iter().find(|r| r.case == ci as u32 + 1);
    plan.adaptive.is_some_and(|a| !a.wants_another(record))
}

/// Ctrl-C sets `abort`: the run in flight ends as `aborted` and the sweep stops. A second
/// Ctrl-C exits at once.
pub(crate) fn install_interrupt(abort: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if abort.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: ending the run in flight (Ctrl-C again to quit at once)");
    });
}

/// Prints to the terminal above the progress bar, or plainly; on stderr when stdout is
/// kept for JSON.
struct Console {
    bar: Option<ProgressBar>,
    quiet: bool,
    to_stderr: bool,
}

impl Console {
    fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None if self.to_stderr => eprintln!("{s}"),
            None => println!("{s}"),
        }
    }
    fn warn(&self, s: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{s}")),
            None => eprintln!("{s}"),
        }
    }
}

/// `1h02m`, `3m05s`, `42s`: a time left, to the second.
fn format_left(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Where the run is: what was done before the test in flight, and that test.
struct Tick {
    done_ms: u64,
    case_ms: u64,
    case_started: Instant,
    what: String,
}

/// The progress bar's clock: a thread that moves the bar with time inside each test
/// (planned warm-up + duration), so that it never sits still for a long test, and says
/// which case and repetition run and how long the whole run has left.
struct Ticker {
    tick: Arc<Mutex<Tick>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(bar: ProgressBar, total_ms: u64) -> Ticker {
        let tick = Arc::new(Mutex::new(Tick {
            done_ms: 0,
            case_ms: 0,
            case_started: Instant::now(),
            what: String::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (tick, stop) = (tick.clone(), stop.clone());
            let run_started = Instant::now();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    {
                        let t = tick.lock().unwrap_or_else(|e| e.into_inner());
                        let inside = (t.case_started.elapsed().as_millis() as u64).min(t.case_ms);
                        let pos = (t.done_ms + inside).min(total_ms);
                        bar.set_position(pos);
                        // The planned time left, stretched by what each test has really
                        // taken so far beyond its plan (connecting, reports, pauses).
                        let mut left = Duration::from_millis(total_ms - pos);
                        if t.done_ms > 0 {
                            let ratio = t
                                .case_started
                                .saturating_duration_since(run_started)
                                .as_secs_f64()
                                / Duration::from_millis(t.done_ms).as_secs_f64();
                            left = left.mul_f64(ratio.clamp(1.0, 100.0));
                        }
                        bar.set_message(format!("{}  left ~{}", t.what, format_left(left)));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Ticker {
            tick,
            stop,
            thread: Some(thread),
        }
    }

    /// A test starts: `done_ms` of the plan is behind us, this one is planned `case_ms`.
    fn test(&self, done_ms: u64, case_ms: u64, what: String) {
        let mut t = self.tick.lock().unwrap_or_else(|e| e.into_inner());
        *t = Tick {
            done_ms,
            case_ms,
            case_started: Instant::now(),
            what,
        };
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a single-case run is, in a few words: `tcp stream forward, 1 flow, 128K messages`.
fn describe(spec: &crate::spec::config::TestSpec) -> String {
    format!(
        "{} {} {}, {} flow(s), {} messages",
        spec.protocol,
        spec.pattern,
        spec.direction,
        spec.flows,
        crate::spec::units::format_size(u64::from(spec.msg_size))
    )
}

/// Runs the plan.
pub fn execute(plan: &RunPlan, opts: &RunOptions) -> anyhow::Result<RunEnd> {
    let started = SystemTime::now();
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&plan.name, started));
    let mut writer = ResultsWriter::create(&dir, started)?;

    // The receiver: one given by the user, or a child process of ours on loopback.
    let (local, addr) = match &opts.to {
        Some(target) => (None, resolve_target(target)?),
        None => {
            let local = LocalReceiver::spawn(opts.psk.as_ref().map(|(_, p)| p.as_path()))?;
            let addr = local.addr;
            (Some(local), addr)
        }
    };
    let mut meta = Meta {
        schema_version: SCHEMA_VERSION,
        sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: env!("SOCKBENCH_GIT_REV").to_string(),
        command_line: opts.command_line.clone(),
        started_utc: utc_timestamp(started),
        finished_utc: None,
        receiver: if local.is_some() {
            "local".into()
        } else {
            addr.to_string()
        },
        receiver_sockbench_version: None,
        hosts: Hosts {
            sender: HostFacts::gather(),
            receiver: None,
        },
        workload_name: plan.name.clone(),
        workload_description: plan.description.clone(),
        workload_source: plan.source.clone(),
        repeat: plan.repeat,
        shuffle: plan.shuffle,
        seed: plan.seed,
        cases: plan
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| CaseMeta {
                case: i as u32 + 1,
                label: c.label.clone(),
                spec: c.spec.clone(),
            })
            .collect(),
        runs: 0,
        runs_ok: 0,
        interrupted: false,
        fleet: Vec::new(),
        shape: None,
    };
    meta.write(&dir)?;
    cases::write(&dir, &[])?;

    let order = run_order(plan);
    let planned_ms = |ci: usize| {
        let spec = &plan.cases[ci].spec;
        (spec.warmup + spec.duration).as_millis() as u64
    };
    let total_ms: u64 = order
        .iter()
        .map(|&(c, _)| planned_ms(c))
        .sum::<u64>()
        .max(1);
    // The bar draws on stderr; it shows where the output it sits above is a terminal.
    let shown_on = if opts.json {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    let bar = (!opts.quiet && shown_on && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(total_ms);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {percent:>3}% {elapsed:>4}  {msg}")
                .expect("static template"),
        );
        b
    });
    let ticker = bar.clone().map(|b| Ticker::start(b, total_ms));
    let console = Console {
        bar,
        quiet: opts.quiet,
        to_stderr: opts.json,
    };
    let target = if local.is_some() {
        format!("a local receiver ({addr})")
    } else {
        addr.to_string()
    };
    let what = if plan.varied.is_empty() {
        plan.cases
            .first()
            .map(|c| describe(&c.spec))
            .unwrap_or_default()
    } else {
        format!("varying {}", plan.varied.join(", "))
    };
    console.line(&format!(
        "sockbench {}: {} — {} case(s) x {} repetition(s) against {target}; {what}",
        meta.sockbench_version,
        plan.name,
        plan.cases.len(),
        plan.repeat
    ));
    let table = Table::new(&plan.cases, &plan.varied);
    console.line(&table.header());
    if let Some(note) = table.note() {
        console.line(&note);
    }

    let abort = Arc::new(AtomicBool::new(false));
    install_interrupt(abort.clone());
    let mut records: Vec<CaseRecord> = Vec::new();
    let mut peer: Option<Peer> = None;
    let mut reach_error = String::new();
    // The last error printed: the same one again (an unreachable receiver, run after
    // run) is not printed again.
    let mut last_error = String::new();
    let mut end = RunEnd::AllOk;
    let mut done_ms = 0u64;
    let mut last_rewrite = std::time::Instant::now();
    for (n, &(ci, rep)) in order.iter().enumerate() {
        if skip_round(plan, &records, ci) {
            continue;
        }
        let case = &plan.cases[ci];
        let spec = &case.spec;
        if let Some(t) = &ticker {
            t.test(
                done_ms,
                planned_ms(ci),
                format!(
                    "test {}/{}: case {}/{} rep {rep}/{}",
                    n + 1,
                    order.len(),
                    ci + 1,
                    plan.cases.len(),
                    plan.repeat
                ),
            );
        }
        if peer.is_none() {
            match Peer::connect(addr, opts.psk.as_ref().map(|(k, _)| k)) {
                Ok(p) => {
                    meta.hosts.receiver = Some(p.host.clone());
                    meta.receiver_sockbench_version = Some(p.version.clone());
                    peer = Some(p);
                }
                Err(e) => reach_error = e.to_string(),
            }
        }
        let mut outcome = match peer.as_mut() {
            Some(p) => run_test(p, spec, abort.clone()),
            None => TestOutcome::failed(Status::Error, reach_error.clone()),
        };
        let interrupted = abort.load(Ordering::SeqCst);
        if interrupted && outcome.status == Status::Ok {
            outcome.status = Status::Aborted;
        }
        if interrupted {
            let why = "interrupted by the user".to_string();
            outcome.error = Some(outcome.error.map(|e| format!("{why}; {e}")).unwrap_or(why));
        }
        if outcome.status != Status::Ok {
            // The control connection may be broken: start afresh for the next run.
            peer = None;
            end = RunEnd::SomeFailed;
        }
        let run = CaseRun {
            case: ci as u32 + 1,
            repetition: rep,
            label: case.label.clone(),
            spec: spec.clone(),
            outcome,
            not_applicable: case.not_applicable.clone(),
            src: String::new(),
            dst: String::new(),
        };
        writer.write(&run)?;
        if opts.json {
            // One object per line, the summary.csv row's fields; serde_json writes a
            // non-finite figure as null, so every line is valid JSON.
            let line = serde_json::to_string(&SummaryRow::from_run(&run))
                .context("serializing a row as JSON")?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")
                .and_then(|_| out.flush())
                .context("writing JSON to stdout")?;
        }
        match records.iter_mut().find(|r| r.case == run.case) {
            Some(r) => r.add(&run),
            None => {
                let mut r = CaseRecord::new(run.case, &case.label, &run);
                r.add(&run);
                records.push(r);
            }
        }
        meta.runs += 1;
        meta.runs_ok += usize::from(run.status() == Status::Ok);
        // cases.csv and meta.json are rewritten whole: after every test, except in a run
        // of thousands of cases, where that would cost more than the tests (then every
        // few seconds, and at the end).
        if plan.cases.len() <= REWRITE_EVERY_TEST || last_rewrite.elapsed() >= REWRITE_PERIOD {
            cases::write(&dir, &records)?;
            meta.write(&dir)?;
            last_rewrite = std::time::Instant::now();
        }
        console.line(&table.line(&run));
        if let Some(e) = &run.outcome.error {
            if *e != last_error {
                console.warn(&format!("error: case {} repetition {rep}: {e}", run.case));
                last_error = e.clone();
            }
        }
        if !opts.quiet {
            for w in run.warnings() {
                console.warn(&format!("warning: {w}"));
            }
        }
        done_ms += planned_ms(ci);
        if interrupted {
            end = RunEnd::Interrupted;
            meta.interrupted = true;
            break;
        }
        if opts.fail_fast && run.status() != Status::Ok {
            console.warn("stopping at the first failed run (--fail-fast)");
            break;
        }
    }
    drop(ticker);
    if !opts.quiet {
        warn_about_cases(&console, &records, plan.adaptive);
    }
    if let Some(b) = &console.bar {
        b.finish_and_clear();
    }
    if records.iter().any(|r| r.reps.len() > 1) {
        console.line("");
        for l in table.case_summary(&records) {
            console.line(&l);
        }
    }
    drop(peer);
    drop(local);
    cases::write(&dir, &records)?;
    meta.finished_utc = Some(utc_timestamp(SystemTime::now()));
    meta.write(&dir)?;
    console.line(&format!("results: {}", dir.display()));
    Ok(end)
}

/// One warning line per case whose main figure is noisy, as hyperfine warns, or that
/// --max-repeat stopped short of --target-ci.
fn warn_about_cases(console: &Console, records: &[CaseRecord], adaptive: Option<Adaptive>) {
    let mut records: Vec<&CaseRecord> = records.iter().collect();
    records.sort_by_key(|r| r.case);
    for r in records {
        let missed = adaptive.filter(|a| !a.reached(Some(r))).map(|a| {
            let width = r
                .main_summary()
                .and_then(|s| s.relative_half_width())
                .map_or("no 95% interval".to_string(), |w| {
                    format!("a 95% interval of ±{:.1}%", w * 100.0)
                });
            format!(
                "{width}, not within --target-ci {}% (--max-repeat {})",
                a.target * 100.0,
                a.max
            )
        });
        if let Some(line) = r.warning(missed) {
            console.warn(&format!("warning: {line}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::config::TestSpec;

    fn plan(cases: usize, repeat: u32, shuffle: bool) -> RunPlan {
        RunPlan {
            name: "t".into(),
            description: String::new(),
            source: "test".into(),
            cases: (0..cases)
                .map(|_| PlannedCase {
                    label: String::new(),
                    spec: TestSpec::default(),
                    not_applicable: Vec::new(),
                })
                .collect(),
            varied: Vec::new(),
            repeat,
            shuffle,
            seed: 7,
            adaptive: None,
        }
    }

    /// How many repetitions a case gets whose repetitions measure `figures` in turn.
    fn repetitions_run(a: Adaptive, figures: &[f64]) -> usize {
        let mut record: Option<CaseRecord> = None;
        for &f in figures {
            if !a.wants_another(record.as_ref()) {
                break;
            }
            let next = crate::output::cases::tests::record(&[f]);
            match &mut record {
                Some(r) => r.reps.extend(next.reps),
                None => record = Some(next),
            }
        }
        record.map_or(0, |r| r.reps.len())
    }

    #[test]
    fn adaptive_repetitions_stop_at_the_target_or_the_most() {
        let a = |min, max, target| Adaptive { min, max, target };
        let steady = [100.0; 10];
        // No interval before 3 repetitions; then a zero-width one.
        assert_eq!(repetitions_run(a(2, 6, 0.05), &steady), 3);
        assert_eq!(repetitions_run(a(1, 6, 0.05), &steady), 3);
        assert_eq!(repetitions_run(a(4, 6, 0.05), &steady), 4);
        // Relative half-widths of the geometric interval after 3, 4, 5, 6 repetitions:
        // 0.519, 0.264, 0.178, 0.135.
        let settling = [100.0, 80.0, 120.0, 100.0, 100.0, 100.0, 100.0, 100.0];
        assert_eq!(repetitions_run(a(2, 8, 0.20), &settling), 5);
        assert_eq!(repetitions_run(a(2, 8, 0.15), &settling), 6);
        assert_eq!(repetitions_run(a(2, 4, 0.15), &settling), 4, "--max-repeat");
        let wild = [10.0, 1000.0, 50.0, 700.0, 5.0, 300.0];
        assert_eq!(repetitions_run(a(2, 6, 0.05), &wild), 6);
    }

    #[test]
    fn adaptive_rounds_are_shuffled_within_themselves() {
        let mut p = plan(4, 3, true);
        p.adaptive = Some(Adaptive {
            min: 1,
            max: 3,
            target: 0.05,
        });
        let order = run_order(&p);
        for (i, round) in order.chunks(4).enumerate() {
            assert!(
                round.iter().all(|&(_, rep)| rep == i as u32 + 1),
                "{order:?}"
            );
        }
        assert_eq!(order, run_order(&p), "seeded");
    }

    #[test]
    fn time_left_reads_at_a_glance() {
        assert_eq!(format_left(Duration::from_millis(42_900)), "42s");
        assert_eq!(format_left(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_left(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn repetitions_interleave_and_shuffling_is_seeded() {
        assert_eq!(
            run_order(&plan(2, 2, false)),
            vec![(0, 1), (1, 1), (0, 2), (1, 2)]
        );
        let a = run_order(&plan(5, 3, true));
        assert_eq!(a, run_order(&plan(5, 3, true)), "same seed, same order");
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            run_order(&plan(5, 3, false))
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert_ne!(a, run_order(&plan(5, 3, false)));
    }
}
