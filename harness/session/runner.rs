//! A whole `run`: finds or starts the receiver, runs every case × repetition, writes each
//! run's rows as soon as it ends, keeps `cases.csv` and `meta.json` current, and on Ctrl-C
//! ends the run in flight as `aborted`, keeping what was measured.

pub use crate::output::default_out_dir;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use thiserror::Error;

use crate::net::auth::Psk;
use crate::net::control::ControlError;
use crate::output::cases::{self, CaseRecord};
use crate::output::meta::{utc_timestamp, CaseMeta, Meta};
use crate::output::summary::SummaryRow;
use crate::output::table::Table;
use crate::output::ResultsWriter;
use crate::results::CaseRun;
use crate::session::console::{Console, Ticker};
use crate::session::sender::{
    resolve_target, run_test, LocalReceiver, Peer, ReachError, Status, TestOutcome,
};
use crate::spec::config::TestSpec;
use crate::spec::knobs::check_os;
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
/// A test the user interrupted (`abort` set) ends `aborted` (unless it failed otherwise)
/// and its error says so first. Whether it was.
pub(crate) fn mark_interrupted(outcome: &mut TestOutcome, abort: &AtomicBool) -> bool {
    let interrupted = abort.load(Ordering::SeqCst);
    if interrupted {
        if outcome.status == Status::Ok {
            outcome.status = Status::Aborted;
        }
        let why = "interrupted by the user".to_string();
        outcome.error = Some(
            outcome
                .error
                .take()
                .map(|e| format!("{why}; {e}"))
                .unwrap_or(why),
        );
    }
    interrupted
}

pub(crate) fn install_interrupt(abort: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if abort.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: ending the run in flight (Ctrl-C again to quit at once)");
    });
}

/// What a single-case run is, in a few words: `tcp stream forward, 1 flow(s), messages
/// of 128K bytes`; a size distribution as it was written, never its largest size alone
/// (`message sizes lognormal median 1K p99 64K (bytes)`).
fn describe(spec: &crate::spec::config::TestSpec) -> String {
    let sizes = |noun: &str, dist: &Option<crate::spec::dist::SizeDist>, n: u32| match dist {
        Some(d) => format!("{noun} sizes {} (bytes)", d.describe()),
        None => format!(
            "{noun}s of {} bytes",
            crate::spec::units::format_size(u64::from(n))
        ),
    };
    let mut s = format!(
        "{} {} {}, {} flow(s), {}",
        spec.protocol,
        spec.pattern,
        spec.direction,
        spec.flows,
        sizes("message", &spec.msg_dist, spec.msg_size)
    );
    if spec.pattern.is_transactional()
        && (spec.response_dist != spec.msg_dist || spec.response_size != spec.msg_size)
    {
        s.push_str(", ");
        s.push_str(&sizes("response", &spec.response_dist, spec.response_size));
    }
    s
}

/// Why a run stopped before its end: its receiver could not be found, or its results
/// could not be written.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Reach(#[from] ReachError),
    /// A knob the receiver's system cannot apply (`--gso: Linux only (the receiver's
    /// host: windows)`), found when it was reached, before any traffic.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Output(#[from] OutputFailure),
    #[error("serializing a row as JSON")]
    Json(#[source] serde_json::Error),
    #[error("writing JSON to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("writing {}", .path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("writing {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A results file that could not be written, as the output layer says it (its message and
/// its causes).
#[derive(Debug)]
pub struct OutputFailure(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for OutputFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for OutputFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The output layer's error, whatever its type, as a [`RunError`].
pub(crate) fn output(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> RunError {
    RunError::Output(OutputFailure(e.into()))
}

/// `--json`: a finished test's row on stdout, one object per line with the summary.csv
/// row's fields (serde_json writes a non-finite figure as null, so every line is valid
/// JSON), flushed at once.
pub(crate) fn print_json(run: &CaseRun) -> Result<(), RunError> {
    let line = serde_json::to_string(&SummaryRow::from_run(run)).map_err(RunError::Json)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(RunError::Stdout)
}

/// The run's `meta.json` as it starts: who, what, where, which cases.
fn run_meta(plan: &RunPlan, opts: &RunOptions, started: SystemTime, receiver: String) -> Meta {
    Meta {
        workload_name: plan.name.clone(),
        workload_description: plan.description.clone(),
        workload_source: plan.source.clone(),
        repeat: plan.repeat,
        shuffle: plan.shuffle,
        seed: plan.seed,
        cases: case_metas(&plan.cases),
        ..Meta::starting(&opts.command_line, started, receiver)
    }
}

/// Every case of a plan as `meta.json` lists it.
pub(crate) fn case_metas(cases: &[PlannedCase]) -> Vec<CaseMeta> {
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| CaseMeta {
            case: i as u32 + 1,
            label: c.label.clone(),
            spec: c.spec.clone(),
        })
        .collect()
}

/// The run's first line: what runs, how often, against which receiver.
fn headline(plan: &RunPlan, version: &str, target: &str) -> String {
    let what = if plan.varied.is_empty() {
        plan.cases
            .first()
            .map(|c| describe(&c.spec))
            .unwrap_or_default()
    } else {
        format!("varying {}", plan.varied.join(", "))
    };
    format!(
        "sockbench {version}: {} — {} case(s) x {} repetition(s) against {target}; {what}",
        plan.name,
        plan.cases.len(),
        plan.repeat
    )
}

/// A run in progress: where its results go, and what it has recorded so far.
struct Sweep<'a> {
    plan: &'a RunPlan,
    opts: &'a RunOptions,
    dir: PathBuf,
    writer: ResultsWriter,
    meta: Meta,
    records: Vec<CaseRecord>,
    console: Console,
    table: Table,
    /// The last error printed: the same one again (an unreachable receiver, run after
    /// run) is not printed again.
    last_error: String,
    last_rewrite: Instant,
    /// `--json` output that failed: the run ends after the test it failed on.
    stdout_gone: Option<RunError>,
}

impl<'a> Sweep<'a> {
    /// Starts a run: its results directory, its receiver (a local one when none is
    /// given), `meta.json`, and the terminal's first lines and progress bar over
    /// `total_ms` of planned tests.
    fn start(
        plan: &'a RunPlan,
        opts: &'a RunOptions,
        total_ms: u64,
    ) -> Result<(Sweep<'a>, Option<LocalReceiver>, SocketAddr, Option<Ticker>), RunError> {
        let started = SystemTime::now();
        let dir = opts
            .out
            .clone()
            .unwrap_or_else(|| default_out_dir(&plan.name, started));
        let writer = ResultsWriter::create(&dir, started).map_err(output)?;
        let (local, addr) = find_receiver(opts)?;
        let (receiver, target) = match &local {
            Some(_) => ("local".to_string(), format!("a local receiver ({addr})")),
            None => (addr.to_string(), addr.to_string()),
        };
        let meta = run_meta(plan, opts, started, receiver);
        meta.write(&dir).map_err(output)?;
        cases::write(&dir, &[]).map_err(output)?;
        let (console, ticker) = Console::with_bar(opts.quiet, opts.json, total_ms);
        console.line(&headline(plan, &meta.sockbench_version, &target));
        let table = Table::new(&plan.cases, &plan.varied);
        console.line(&table.header());
        if let Some(note) = table.note() {
            console.line(&note);
        }
        let sweep = Sweep {
            plan,
            opts,
            dir,
            writer,
            meta,
            records: Vec::new(),
            console,
            table,
            last_error: String::new(),
            last_rewrite: Instant::now(),
            stdout_gone: None,
        };
        Ok((sweep, local, addr, ticker))
    }

    /// Records a finished test: its rows, the JSON line, the case's record, `cases.csv`
    /// and `meta.json`, and its line on the terminal.
    fn record(&mut self, run: &CaseRun, label: &str) -> Result<(), RunError> {
        if let Err(e) = self.writer.write(run) {
            // A full disk: the files keep the runs meta.json counts.
            self.writer.roll_back();
            return Err(output(e));
        }
        if self.opts.json && self.stdout_gone.is_none() {
            // Stdout is a view of the files: when it fails (its reader went away: a
            // closed pipe), the test measured stays in them and the run ends after it.
            self.stdout_gone = print_json(run).err();
        }
        match self.records.iter_mut().find(|r| r.case == run.case) {
            Some(r) => r.add(run),
            None => {
                let mut r = CaseRecord::new(run.case, label, run);
                r.add(run);
                self.records.push(r);
            }
        }
        self.meta.runs += 1;
        self.meta.runs_ok += usize::from(run.status() == Status::Ok);
        // cases.csv and meta.json are rewritten whole: after every test, except in a run
        // of thousands of cases, where that would cost more than the tests (then every
        // few seconds, and at the end). meta.json first: if it cannot be written, the runs
        // it does not count are taken back out of the other files.
        if self.plan.cases.len() <= REWRITE_EVERY_TEST
            || self.last_rewrite.elapsed() >= REWRITE_PERIOD
        {
            if let Err(e) = self.meta.write(&self.dir) {
                self.writer.roll_back();
                return Err(output(e));
            }
            self.writer.commit();
            cases::write(&self.dir, &self.records).map_err(output)?;
            self.last_rewrite = Instant::now();
        }
        self.console.line(&self.table.line(run));
        if let Some(note) = datagram_note(run) {
            self.console.line(&note);
        }
        if let Some(e) = &run.outcome.error {
            if *e != self.last_error {
                let rep = run.repetition;
                self.console
                    .warn(&format!("error: case {} repetition {rep}: {e}", run.case));
                self.last_error = e.clone();
            }
        }
        if !self.opts.quiet {
            for w in run.warnings() {
                self.console.warn(&format!("warning: {w}"));
            }
        }
        Ok(())
    }

    /// The run's end: the cases' summaries, the last `cases.csv` and `meta.json`.
    fn finish(mut self) -> Result<(), RunError> {
        if !self.opts.quiet {
            warn_about_cases(&self.console, &self.records, self.plan.adaptive);
        }
        self.console.finish();
        if self.records.iter().any(|r| r.reps.len() > 1) {
            self.console.line("");
            for l in self.table.case_summary(&self.records) {
                self.console.line(&l);
            }
        }
        self.meta.finished_utc = Some(utc_timestamp(SystemTime::now()));
        if let Err(e) = self.meta.write(&self.dir) {
            self.writer.roll_back();
            return Err(output(e));
        }
        cases::write(&self.dir, &self.records).map_err(output)?;
        self.console
            .line(&format!("results: {}", self.dir.display()));
        Ok(())
    }
}

/// The receiver: one given by the user, or a child process of ours on loopback.
fn find_receiver(opts: &RunOptions) -> Result<(Option<LocalReceiver>, SocketAddr), RunError> {
    Ok(match &opts.to {
        Some(target) => (None, resolve_target(target)?),
        None => {
            let local = LocalReceiver::spawn(opts.psk.as_ref().map(|(_, p)| p.as_path()))?;
            let addr = local.addr;
            (Some(local), addr)
        }
    })
}

/// Under a datagram stream's row: the loss as a share of what was sent (as summary.csv's
/// `lost`, the warm-up's included), and, when it was paced (`-u -b 1G`), what was offered
/// against what arrived after the warm-up (goodput's window), so that a rate the path or
/// the machine cannot take reads as such on the terminal, not only in summary.csv. The
/// line says which window each figure is of: the two shares need not agree.
fn datagram_note(run: &CaseRun) -> Option<String> {
    use crate::spec::units::format_bps;
    if !run.spec.protocol.is_datagram() || run.spec.pattern.is_transactional() {
        return None;
    }
    let row = SummaryRow::from_run(run);
    let (sent, lost) = (row.messages_sent?, row.lost?);
    if sent == 0 {
        return None;
    }
    let mut note = format!(
        "         lost {lost} of {sent} datagrams ({:.2}%, warm-up included)",
        lost as f64 * 100.0 / sent as f64
    );
    if let (Some(rate), Some(goodput)) = (run.spec.rate, row.goodput_bps) {
        let offered = rate as f64 * f64::from(run.spec.flows.max(1));
        note.push_str(&format!(
            "; after the warm-up, offered {}, achieved {} ({:.0}% of offered)",
            format_bps(offered),
            format_bps(goodput),
            goodput * 100.0 / offered
        ));
    }
    Some(note)
}

/// A receiver given with --to is reached before anything is written: one that cannot be
/// reached at all (nothing listens, no route) or is no sockbench receiver (silent, or
/// speaking another protocol) leaves no results directory behind, only the error. Other
/// failures (a handshake refused, a busy receiver) are the first test's to record, without
/// a second try: the error, then.
fn reach_first(opts: &RunOptions) -> Result<Link, RunError> {
    let mut link = Link {
        peer: None,
        refused: None,
    };
    let Some(target) = &opts.to else {
        return Ok(link);
    };
    let addr = resolve_target(target)?;
    match Peer::connect(addr, opts.psk.as_ref().map(|(k, _)| k)) {
        Ok(p) => link.peer = Some(p),
        Err(
            e @ (ReachError::Connect { .. }
            | ReachError::Silent { .. }
            | ReachError::Handshake {
                error: ControlError::NotSockbench(_),
                ..
            }),
        ) => return Err(e.into()),
        Err(e) => link.refused = Some(e.to_string()),
    }
    Ok(link)
}

/// The control connection to the receiver, or why the last try to make one failed (the
/// next test's to record, instead of trying again).
struct Link {
    peer: Option<Peer>,
    refused: Option<String>,
}

/// One test of the sweep against the receiver at `addr`, connecting first when there is
/// no connection (the last test failed, or this is the first). The user's Ctrl-C makes it
/// `aborted`; the flag says whether it came.
fn run_one(
    link: &mut Link,
    addr: SocketAddr,
    opts: &RunOptions,
    meta: &mut Meta,
    spec: &TestSpec,
    abort: &Arc<AtomicBool>,
) -> (TestOutcome, bool) {
    let peer = &mut link.peer;
    let mut reach_error = String::new();
    if let Some(e) = link.refused.take() {
        reach_error = e;
    } else if peer.is_none() {
        match Peer::connect(addr, opts.psk.as_ref().map(|(k, _)| k)) {
            Ok(p) => {
                meta.hosts.receiver = Some(p.host.clone());
                meta.receiver_sockbench_version = Some(p.version.clone());
                *peer = Some(p);
            }
            Err(e) => reach_error = e.to_string(),
        }
    }
    let mut outcome = match peer.as_mut() {
        Some(p) => run_test(p, spec, abort.clone()),
        None => TestOutcome::failed(Status::Error, reach_error),
    };
    // A test that failed before a side reported still says which systems ran it.
    outcome.sender.os.get_or_insert(crate::sys::HOST);
    let receiver_os = peer.as_ref().and_then(|p| p.host.system);
    if let (Some(r), Some(os)) = (outcome.receiver.as_mut(), receiver_os) {
        r.os.get_or_insert(os);
    }
    let interrupted = mark_interrupted(&mut outcome, abort);
    if outcome.status != Status::Ok {
        // The control connection may be broken: start afresh for the next run.
        *peer = None;
    }
    (outcome, interrupted)
}

/// Runs the plan.
pub fn execute(plan: &RunPlan, opts: &RunOptions) -> Result<RunEnd, RunError> {
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
    let mut link = reach_first(opts)?;
    if let Some(os) = link.peer.as_ref().and_then(|p| p.host.system) {
        for case in &plan.cases {
            check_os(&case.spec.receiver, os, "the receiver's host")
                .map_err(|e| RunError::Refused(e.to_string()))?;
        }
    }
    let (mut sweep, local, addr, ticker) = Sweep::start(plan, opts, total_ms)?;
    if let Some(p) = &link.peer {
        sweep.meta.hosts.receiver = Some(p.host.clone());
        sweep.meta.receiver_sockbench_version = Some(p.version.clone());
    }
    let abort = Arc::new(AtomicBool::new(false));
    install_interrupt(abort.clone());
    let mut end = RunEnd::AllOk;
    let mut done_ms = 0u64;
    for (n, &(ci, rep)) in order.iter().enumerate() {
        if skip_round(plan, &sweep.records, ci) {
            continue;
        }
        let case = &plan.cases[ci];
        if let Some(t) = &ticker {
            let (cases, reps) = (plan.cases.len(), plan.repeat);
            let what = format!(
                "test {}/{}: case {}/{cases} rep {rep}/{reps}",
                n + 1,
                order.len(),
                ci + 1
            );
            t.test(done_ms, planned_ms(ci), what);
        }
        let (outcome, interrupted) =
            run_one(&mut link, addr, opts, &mut sweep.meta, &case.spec, &abort);
        if outcome.status != Status::Ok {
            end = RunEnd::SomeFailed;
        }
        let run = CaseRun {
            case: ci as u32 + 1,
            repetition: rep,
            label: case.label.clone(),
            spec: case.spec.clone(),
            outcome,
            not_applicable: case.not_applicable.clone(),
            src: String::new(),
            dst: String::new(),
        };
        sweep.record(&run, &case.label)?;
        done_ms += planned_ms(ci);
        if interrupted {
            end = RunEnd::Interrupted;
            sweep.meta.interrupted = true;
            break;
        }
        if sweep.stdout_gone.is_some() {
            break;
        }
        if opts.fail_fast && run.status() != Status::Ok {
            sweep
                .console
                .warn("stopping at the first failed run (--fail-fast)");
            break;
        }
    }
    drop(ticker);
    drop(link);
    drop(local);
    let stdout_gone = sweep.stdout_gone.take();
    sweep.finish()?;
    stdout_gone.map_or(Ok(end), Err)
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

    /// A size distribution is described as it was written, with its unit; its largest
    /// size alone read as a count ("790224 messages").
    #[test]
    fn the_headline_describes_a_size_distribution_as_written() {
        let spec = |settings: &[(&str, &str)]| {
            let mut b = crate::spec::config::SpecBuilder::new();
            for (k, v) in settings {
                b.set(k, v).unwrap();
            }
            b.build().unwrap()
        };
        let d = describe(&spec(&[("msg_size", "lognormal:median=1K,p99=64K")]));
        assert!(
            d.ends_with("message sizes lognormal median 1K p99 64K (bytes)"),
            "{d}"
        );
        let max = spec(&[("msg_size", "lognormal:median=1K,p99=64K")]).msg_size;
        assert!(!d.contains(&max.to_string()), "{d}");
        let d = describe(&spec(&[]));
        assert!(d.ends_with("messages of 128K bytes"), "{d}");
        let d = describe(&spec(&[
            ("pattern", "rr"),
            ("msg_size", "64"),
            ("response_size", "uniform:min=1K,max=4K"),
        ]));
        assert!(
            d.ends_with("messages of 64 bytes, response sizes uniform min 1K max 4K (bytes)"),
            "{d}"
        );
    }
}
