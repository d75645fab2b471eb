//! `sockbench tune`: the socket settings to use for a stated goal, found by an adaptive
//! search over the workload's matrix ([`search`]) rather than the full grid, and
//! explained from what was measured ([`explain`]). Every test it runs is a normal
//! sockbench test: its rows land in the usual results directory (summary.csv, cases.csv,
//! intervals.csv, histograms, meta.json), beside `tune.csv` (the search, step by step)
//! and `answer.json`.

pub mod explain;
pub mod goal;
pub mod race;
mod render;
pub mod search;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::net::auth::Psk;
use crate::output::cases::{self, CaseRecord};
use crate::output::meta::{utc_timestamp, CaseMeta, Meta};
use crate::output::summary::SummaryRow;
use crate::output::{OutputError, ResultsWriter, WriteError};
use crate::results::stats::summarize;
use crate::results::CaseRun;
use crate::session::sender::{resolve_target, run_test, LocalReceiver, Peer, Status as TestStatus};
use crate::spec::workload::{PlannedCase, Workload};
use goal::{format_figure, short_name, Constraint, Figures, Goal, Metric};
pub use render::render;
use search::{Bench, Budget, Point, Search, Space, Status, TuneRow};

/// Why a tune stopped before its answer. One line each.
#[derive(Debug, Error)]
pub enum TuneError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{}: {error}", path.display())]
    Csv { path: PathBuf, error: csv::Error },
    #[error("{}: {error}", path.display())]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("writing JSON to stdout: {0}")]
    Stdout(std::io::Error),
    /// Finding or starting the receiver (the session's own error, which names it).
    #[error("{0}")]
    Reach(Box<dyn std::error::Error + Send + Sync>),
    /// Connecting to the receiver between tests.
    #[error("the receiver at {at}: {error}")]
    Receiver {
        at: String,
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the kernel-default case: {0}")]
    Baseline(String),
    #[error("interrupted by the user; the tests so far are in {}", .0.display())]
    Interrupted(PathBuf),
}

impl TuneError {
    fn csv(path: &std::path::Path) -> impl FnOnce(csv::Error) -> TuneError + '_ {
        move |error| TuneError::Csv {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// What to tune.
#[derive(Debug, Clone)]
pub struct TunePlan {
    pub name: String,
    /// The workload as loaded (flags and `--set` applied): the kernel-default baseline is
    /// built from it.
    pub workload: Workload,
    /// The full grid, in the matrix's order.
    pub cases: Vec<PlannedCase>,
    pub space: Space,
    pub goal: Goal,
    pub constraints: Vec<Constraint>,
    pub budget: Budget,
    /// The most repetitions of one candidate: the workload's repeat, at least 3.
    pub max_reps: u32,
}

impl TunePlan {
    /// The tests the full grid takes with the same repetitions.
    pub fn grid_tests(&self) -> u64 {
        self.space
            .grid_size()
            .saturating_mul(u64::from(self.max_reps))
    }
}

#[derive(Debug, Clone, Default)]
pub struct TuneOptions {
    pub to: Option<String>,
    pub psk: Option<(Psk, PathBuf)>,
    pub out: PathBuf,
    pub quiet: bool,
    pub json: bool,
    pub command_line: Vec<String>,
}

/// A figure over a candidate's ok repetitions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FigureCi {
    pub mean: f64,
    /// The 95% interval (Student's t on the logarithms, as cases.csv); null below 3
    /// repetitions.
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
    pub n: u64,
}

impl FigureCi {
    fn of(values: &[f64]) -> Option<FigureCi> {
        let s = summarize(values)?;
        Some(FigureCi {
            mean: s.mean,
            ci95_low: s.ci95.map(|c| c.0),
            ci95_high: s.ci95.map(|c| c.1),
            n: s.n,
        })
    }

    /// In the terminal's one format: `31.20 Gbit/s (95% CI 30.10–32.40)`.
    pub fn show(&self, metric: Metric) -> String {
        let scale = |v| crate::output::figure::Scale::of_metric(metric, v);
        match (self.ci95_low, self.ci95_high) {
            (Some(_), Some(_)) => crate::output::figure::mean_ci(
                Some(self.mean),
                self.ci95_low,
                self.ci95_high,
                scale,
            ),
            _ => format!("{} (n={}, no CI)", scale(self.mean).show(self.mean), self.n),
        }
    }
}

/// A candidate beside the answer (the next larger setting).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Neighbour {
    pub settings: BTreeMap<String, String>,
    pub label: String,
    pub figures: BTreeMap<Metric, FigureCi>,
}

/// `answer.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Answer {
    /// The recommended settings, as written in a workload (for `unsatisfiable`, the
    /// closest candidate's).
    pub settings: BTreeMap<String, String>,
    /// The goal's and the constraints' figures of those settings, by summary.csv column.
    pub figures: BTreeMap<Metric, FigureCi>,
    pub status: Status,
    /// Every test run, ok or not: the rows of summary.csv, and of tune.csv that have a
    /// repetition.
    pub tests_run: u64,
    /// The tests of the full grid with the same repetitions.
    pub grid_tests: u64,
    /// `--budget` as the search counted it: "16 tests" or "10m".
    pub budget: String,
    /// What the tests were spent on: screen, race, baseline.
    pub tests_by_phase: BTreeMap<String, u64>,
    pub goal: String,
    pub constraints: Vec<String>,
    /// The settings as a case label (summary.csv's `case_label`).
    pub label: String,
    pub why: String,
    /// Settings that could not be told apart from the answer (inconclusive), or are
    /// equivalent to it within the margin: 5%, 10% for a tail round trip; for an `F*max`
    /// goal, the larger sizes that reach the share too (ok).
    pub indistinguishable: Vec<BTreeMap<String, String>>,
    /// The same figures with the buffers left to the kernel's autotuning.
    pub kernel_default: BTreeMap<Metric, FigureCi>,
    pub next_larger: Option<Neighbour>,
    /// The explanation's numbers (None until the tests are read back).
    pub explain: Option<explain::Numbers>,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            settings: BTreeMap::new(),
            figures: BTreeMap::new(),
            status: Status::Inconclusive,
            tests_run: 0,
            grid_tests: 0,
            budget: String::new(),
            tests_by_phase: BTreeMap::new(),
            goal: String::new(),
            constraints: Vec::new(),
            label: String::new(),
            why: String::new(),
            indistinguishable: Vec::new(),
            kernel_default: BTreeMap::new(),
            next_larger: None,
            explain: None,
        }
    }
}

/// The bench that runs real tests against a receiver and writes every result file.
struct RealBench<'a> {
    plan: &'a TunePlan,
    writer: ResultsWriter,
    tune_csv: csv::Writer<std::fs::File>,
    addr: std::net::SocketAddr,
    psk: Option<Psk>,
    peer: Option<Peer>,
    abort: Arc<AtomicBool>,
    meta: Meta,
    dir: PathBuf,
    records: Vec<CaseRecord>,
    /// Case numbers by label, in the order first run.
    case_of: BTreeMap<String, u32>,
    baseline_label: String,
    json: bool,
    quiet: bool,
    /// `--json` output that failed: the tune ends once the test it failed on is recorded
    /// in every file, tune.csv too ([`Bench::check_stop`]).
    stdout_gone: Option<std::io::Error>,
}

impl RealBench<'_> {
    fn say(&self, line: &str) {
        if self.quiet {
            return;
        }
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// The candidate's settings with every buffer left to the kernel.
    fn baseline_case(&self, p: &Point) -> Result<PlannedCase, TuneError> {
        let mut w = self.plan.workload.clone();
        let mut auto = Vec::new();
        for (d, &i) in self.plan.space.dims.iter().zip(p) {
            if d.is_buffer() {
                w.set_default(&d.key, "auto");
                auto.push(format!("{}=auto", d.key));
            } else {
                w.set_default(&d.key, &d.values[i]);
            }
        }
        let mut case = w
            .expand()
            .map_err(|e| TuneError::Baseline(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| TuneError::Baseline("the workload expands to no case".into()))?;
        case.label = format!("kernel default ({})", auto.join(" "));
        Ok(case)
    }
}

impl RealBench<'_> {
    /// The case a test of `p` runs (the baseline's near `p`), its number (new numbers
    /// recorded in meta.json) and its next repetition.
    fn case_for(
        &mut self,
        p: &Point,
        baseline: bool,
    ) -> Result<(PlannedCase, u32, u32), TuneError> {
        let mut case = if baseline {
            self.baseline_case(p)?
        } else {
            self.plan.cases[self.plan.space.flat(p)].clone()
        };
        if baseline {
            self.baseline_label.clone_from(&case.label);
        } else {
            case.label = self.plan.space.label(p);
        }
        let next = self.case_of.len() as u32 + 1;
        let number = *self.case_of.entry(case.label.clone()).or_insert(next);
        if number == next {
            self.meta.cases.push(CaseMeta {
                case: number,
                label: case.label.clone(),
                spec: case.spec.clone(),
            });
        }
        let repetition = self
            .records
            .iter()
            .find(|r| r.case == number)
            .map_or(0, |r| r.reps.len() as u32)
            + 1;
        Ok((case, number, repetition))
    }

    /// The receiver's control connection, made again after a test that failed.
    fn peer(&mut self) -> Result<&mut Peer, TuneError> {
        if self.peer.is_none() {
            let p =
                Peer::connect(self.addr, self.psk.as_ref()).map_err(|e| TuneError::Receiver {
                    at: self.addr.to_string(),
                    error: e.into(),
                })?;
            self.meta.hosts.receiver = Some(p.host.clone());
            self.meta.receiver_sockbench_version = Some(p.version.clone());
            self.peer = Some(p);
        }
        Ok(self.peer.as_mut().expect("connected"))
    }

    /// Every results file updated with one finished test; its summary row.
    fn write(&mut self, run: &CaseRun) -> Result<SummaryRow, TuneError> {
        self.writer.write(run)?;
        let row = SummaryRow::from_run(run);
        // Stdout is a view of the files: when it fails (its reader went away: a closed
        // pipe), the test measured stays in them, and the tune ends after it.
        let printed = match self.json && self.stdout_gone.is_none() {
            true => serde_json::to_string(&row)
                .map_err(std::io::Error::other)
                .and_then(|line| {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{line}").and_then(|_| out.flush())
                }),
            false => Ok(()),
        };
        match self.records.iter_mut().find(|r| r.case == run.case) {
            Some(r) => r.add(run),
            None => {
                let mut r = CaseRecord::new(run.case, &run.label, run);
                r.add(run);
                self.records.push(r);
            }
        }
        self.meta.runs += 1;
        self.meta.runs_ok += usize::from(run.status() == TestStatus::Ok);
        // meta.json first: if it cannot be written (a full disk), the run it does not
        // count is taken back out of the other files.
        if let Err(e) = self.meta.write(&self.dir) {
            self.writer.roll_back();
            return Err(e.into());
        }
        self.writer.commit();
        cases::write(&self.dir, &self.records)?;
        self.stdout_gone = printed.err();
        Ok(row)
    }
}

impl Bench for RealBench<'_> {
    fn test(&mut self, p: &Point, baseline: bool) -> Result<Option<Figures>, TuneError> {
        let (case, number, repetition) = self.case_for(p, baseline)?;
        let abort = self.abort.clone();
        let mut outcome = run_test(self.peer()?, &case.spec, abort);
        crate::session::runner::mark_interrupted(&mut outcome, &self.abort);
        if outcome.status != TestStatus::Ok {
            self.peer = None;
        }
        let run = CaseRun {
            case: number,
            repetition,
            label: case.label.clone(),
            spec: case.spec.clone(),
            outcome,
            not_applicable: case.not_applicable.clone(),
            src: String::new(),
            dst: String::new(),
        };
        let row = self.write(&run)?;
        let figures = goal::figures_of(&row);
        let metric = self.plan.goal.metric();
        let shown = match (&run.outcome.error, figures.get(&metric)) {
            (Some(e), _) => format!("{}: {e}", run.status().as_str()),
            (None, Some(v)) => format!("{} {}", short_name(metric), format_figure(metric, *v)),
            (None, None) => format!("{} not measured", short_name(metric)),
        };
        self.say(&format!(
            "  test {:>3}  {:<40} rep {repetition}  {shown}",
            self.meta.runs, case.label
        ));
        Ok((run.status() == TestStatus::Ok).then_some(figures))
    }

    fn record(&mut self, row: &TuneRow) -> Result<(), TuneError> {
        let mut row = row.clone();
        if row.candidate == search::BASELINE_CANDIDATE {
            row.candidate.clone_from(&self.baseline_label);
        }
        if row.repetition.is_some() {
            row.case = self.case_of.get(&row.candidate).copied();
        }
        let path = self.dir.join("tune.csv");
        self.tune_csv
            .serialize(&row)
            .map_err(TuneError::csv(&path))?;
        self.tune_csv
            .flush()
            .map_err(|e| WriteError::writing(&path, e).into())
    }

    fn check_stop(&mut self) -> Result<(), TuneError> {
        if self.abort.load(Ordering::SeqCst) {
            return Err(TuneError::Interrupted(self.dir.clone()));
        }
        self.stdout_gone
            .take()
            .map_or(Ok(()), |e| Err(TuneError::Stdout(e)))
    }

    fn planned(&self) -> Duration {
        self.plan
            .cases
            .first()
            .map_or(Duration::from_secs(1), |c| c.spec.warmup + c.spec.duration)
    }
}

/// How a tune ended, for the exit code.
pub struct TuneEnd {
    pub answer: Answer,
    pub dir: PathBuf,
}

fn figures_for(values: &[Figures], metrics: &[Metric]) -> BTreeMap<Metric, FigureCi> {
    metrics
        .iter()
        .filter_map(|m| {
            let v: Vec<f64> = values.iter().filter_map(|f| f.get(m).copied()).collect();
            FigureCi::of(&v).map(|f| (*m, f))
        })
        .collect()
}

/// Runs the search, writes answer.json, and prints the answer explained.
pub fn execute(plan: &TunePlan, opts: &TuneOptions) -> Result<TuneEnd, TuneError> {
    let started = SystemTime::now();
    // Ctrl-C from the first moment: a receiver being started is stopped with the tune.
    let abort = Arc::new(AtomicBool::new(false));
    crate::session::runner::install_interrupt(abort.clone());
    let dir = opts.out.clone();
    let writer = ResultsWriter::create(&dir, started)?;
    let tune_csv = open_tune_csv(&dir.join("tune.csv"))?;
    let (local, addr) = match &opts.to {
        Some(target) => (
            None,
            resolve_target(target).map_err(|e| TuneError::Reach(e.into()))?,
        ),
        None => {
            let local = LocalReceiver::spawn(opts.psk.as_ref().map(|(_, p)| p.as_path()))
                .map_err(|e| TuneError::Reach(e.into()))?;
            let addr = local.addr;
            (Some(local), addr)
        }
    };
    let receiver = if local.is_some() {
        "local".into()
    } else {
        addr.to_string()
    };
    let meta = first_meta(plan, opts, started, receiver);
    meta.write(&dir)?;
    cases::write(&dir, &[])?;
    let mut bench = RealBench {
        plan,
        writer,
        tune_csv,
        addr,
        psk: opts.psk.as_ref().map(|(k, _)| k.clone()),
        peer: None,
        abort,
        meta,
        dir: dir.clone(),
        records: Vec::new(),
        case_of: BTreeMap::new(),
        baseline_label: String::new(),
        json: opts.json,
        stdout_gone: None,
        quiet: opts.quiet,
    };
    bench.say(&intro(plan, local.is_some(), addr));
    let searched = match run_search(plan, &mut bench) {
        Err(e @ (TuneError::Interrupted(_) | TuneError::Stdout(_))) => {
            bench.meta.interrupted = matches!(e, TuneError::Interrupted(_));
            bench.meta.finished_utc = Some(utc_timestamp(SystemTime::now()));
            bench.meta.write(&dir)?;
            return Err(e);
        }
        searched => searched?,
    };
    let metrics = shown_metrics(plan);
    let mut answer = answer_of(plan, &searched, &metrics);
    let mut meta = std::mem::take(&mut bench.meta);
    drop(bench);
    drop(local);
    meta.finished_utc = Some(utc_timestamp(SystemTime::now()));
    meta.write(&dir)?;
    let rows = explain::read_summary(&dir)?;
    let ex = explain::explain_rows(&rows, &answer, &meta);
    answer.explain = Some(ex.numbers.clone());
    let answer_path = dir.join("answer.json");
    let json = serde_json::to_vec_pretty(&answer).map_err(|error| TuneError::Json {
        path: answer_path.clone(),
        error,
    })?;
    crate::output::write_atomically(&answer_path, &json)?;
    if !opts.quiet || answer.status == Status::Unsatisfiable {
        let text = render(&answer, &ex, &metrics, &dir);
        if opts.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    Ok(TuneEnd { answer, dir })
}

/// tune.csv with its header, flushed (so a tune stopped early still names its columns).
fn open_tune_csv(path: &std::path::Path) -> Result<csv::Writer<std::fs::File>, TuneError> {
    let mut tune_csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(TuneError::csv(path))?;
    tune_csv
        .write_record(crate::output::header_of::<TuneRow>())
        .map_err(TuneError::csv(path))?;
    tune_csv.flush().map_err(|e| WriteError::writing(path, e))?;
    Ok(tune_csv)
}

/// meta.json before the first test: the run, its host, no case yet.
fn first_meta(plan: &TunePlan, opts: &TuneOptions, started: SystemTime, receiver: String) -> Meta {
    Meta {
        workload_name: plan.name.clone(),
        workload_description: plan.workload.description.clone(),
        workload_source: plan.workload.source.clone(),
        repeat: plan.max_reps,
        ..Meta::starting(&opts.command_line, started, receiver)
    }
}

/// The first line: the goal, the constraints, the budget and the receiver.
fn intro(plan: &TunePlan, local: bool, addr: std::net::SocketAddr) -> String {
    let budget = match plan.budget {
        Budget::Tests(n) => format!("at most {n} tests"),
        Budget::Time(d) => format!("at most {}", crate::spec::units::format_duration(d)),
    };
    let target = if local {
        format!("a local receiver ({addr})")
    } else {
        addr.to_string()
    };
    let constraints: Vec<String> = plan.constraints.iter().map(|c| c.text.clone()).collect();
    format!(
        "sockbench tune: {}{} over {} candidate(s) ({}; the full grid is {} tests), against {target}",
        plan.goal.describe(),
        if constraints.is_empty() {
            String::new()
        } else {
            format!(" with {}", constraints.join(", "))
        },
        plan.space.grid_size(),
        budget,
        plan.grid_tests()
    )
}

/// What the search measured.
struct Searched {
    outcome: search::Outcome,
    reps: BTreeMap<Point, Vec<Figures>>,
    baseline: Vec<Figures>,
    tests_run: u64,
    spent: BTreeMap<String, u64>,
}

/// The search (screening and race), then the kernel-default baseline beside the answer
/// from what the budget left: two tests, or the `auto` candidate's own when the matrix
/// lists it.
fn run_search(plan: &TunePlan, bench: &mut RealBench<'_>) -> Result<Searched, TuneError> {
    let has_buffers = plan.space.dims.iter().any(|d| d.is_buffer());
    let mut s = Search::new(
        &plan.space,
        &plan.goal,
        &plan.constraints,
        plan.max_reps,
        plan.budget,
        bench,
    );
    let outcome = s.run()?;
    if let (Some(best), true) = (&outcome.best, has_buffers) {
        s.run_baseline(best, BASELINE_REPS)?;
    }
    Ok(Searched {
        outcome,
        reps: s.reps.clone(),
        baseline: s.baseline.clone(),
        tests_run: s.tests_run,
        spent: s.spent.clone(),
    })
}

/// The kernel-default baseline's tests, when the budget leaves them.
const BASELINE_REPS: u32 = 2;

/// The figures shown: the goal's, the constraints', and goodput and p99 when measured.
fn shown_metrics(plan: &TunePlan) -> Vec<Metric> {
    let mut metrics: Vec<Metric> = vec![plan.goal.metric()];
    for m in plan
        .constraints
        .iter()
        .map(|c| c.metric)
        .chain([Metric::GoodputBps, Metric::RttP99Ns])
    {
        if !metrics.contains(&m) {
            metrics.push(m);
        }
    }
    metrics
}

/// answer.json from what the search measured.
fn answer_of(plan: &TunePlan, searched: &Searched, metrics: &[Metric]) -> Answer {
    let Searched {
        outcome,
        reps,
        baseline,
        tests_run,
        spent,
    } = searched;
    let best = outcome.best.clone().unwrap_or_default();
    let settings_of =
        |p: &Point| -> BTreeMap<String, String> { plan.space.settings(p).into_iter().collect() };
    let next_larger = (0..plan.space.dims.len()).find_map(|d| {
        let q = plan.space.next_larger(&best, d)?;
        let values = reps.get(&q).filter(|v| !v.is_empty())?;
        Some(Neighbour {
            settings: settings_of(&q),
            label: plan.space.label(&q),
            figures: figures_for(values, metrics),
        })
    });
    let found = outcome.best.is_some();
    Answer {
        settings: if found {
            settings_of(&best)
        } else {
            BTreeMap::new()
        },
        figures: reps
            .get(&best)
            .map(|v| figures_for(v, metrics))
            .unwrap_or_default(),
        status: outcome.status,
        tests_run: *tests_run,
        grid_tests: plan.grid_tests(),
        budget: match plan.budget {
            Budget::Tests(n) => format!("{n} tests"),
            Budget::Time(d) => crate::spec::units::format_duration(d),
        },
        tests_by_phase: spent.clone(),
        goal: plan.goal.describe(),
        constraints: plan.constraints.iter().map(|c| c.text.clone()).collect(),
        label: if found {
            plan.space.label(&best)
        } else {
            String::new()
        },
        why: outcome.why.clone(),
        indistinguishable: outcome.tied.iter().map(settings_of).collect(),
        kernel_default: figures_for(baseline, metrics),
        next_larger,
        explain: None,
    }
}
