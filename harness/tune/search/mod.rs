//! The adaptive search of `tune`, in this order of priority for the budget: screening —
//! a coordinate search over the workload's matrix, on each size dimension a
//! golden-section search over the powers of two (or, for `goodput>=F*max`, a bisection
//! for the knee), on each list dimension every value, one test per probe; then the race
//! between the finalists ([`race`]), a test added to each open finalist at a time until
//! the decision is taken (intervals apart, or means within ±5%: the cheapest); then,
//! from what the budget leaves, the kernel-default baseline (shared with the matrix's
//! `auto` candidate when it has one). What cannot be told apart is reported as such,
//! never as a winner.
//!
//! The search sees the tests only through [`Bench`], so it is tested here on synthetic
//! figures; the real bench runs sockbench tests (see `tune::execute`).

mod racing;
mod screen;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::goal::{format_figure, short_name, Constraint, Figures, Goal, Metric, Sense};
use super::race::{self, Better, Entry, Judgement, Knee};
use super::TuneError;
use crate::results::stats::{summarize, Summary};
use crate::spec::workload::Setting;

/// A candidate: one value index per dimension.
pub type Point = Vec<usize>;

pub use super::race::EQUIVALENT;

/// In the knee's bisection, a single test between this share of the best and the
/// screening's threshold is tested once more: a size below the knee (goodput roughly
/// proportional to the window) falls further than this; a starved test may not.
const DOUBT: f64 = 0.5;

/// The race's most tests of one finalist, in repetitions of the workload (at least 3).
pub const RACE_CAP: u32 = 8;

/// tune.csv's candidate of a baseline test outside the matrix (the real bench writes the
/// case's own label in its place).
pub const BASELINE_CANDIDATE: &str = "kernel default (buffers auto)";

/// One dimension of the search: a matrix key and its values.
#[derive(Debug, Clone)]
pub struct Dim {
    pub key: String,
    pub values: Vec<String>,
    /// For a size dimension, each value's bytes (None for `auto`); None for a list of
    /// other values (protocols, congestion controls, booleans).
    pub sizes: Option<Vec<Option<u64>>>,
}

impl Dim {
    /// The value indices of a size dimension from the smallest size up, `auto` left out.
    pub fn order(&self) -> Option<Vec<usize>> {
        let sizes = self.sizes.as_ref()?;
        let mut idx: Vec<usize> = (0..sizes.len()).filter(|&i| sizes[i].is_some()).collect();
        idx.sort_by_key(|&i| sizes[i]);
        (!idx.is_empty()).then_some(idx)
    }

    /// The index of `auto` (kernel autotuning), if the dimension lists it.
    pub fn auto(&self) -> Option<usize> {
        let sizes = self.sizes.as_ref()?;
        sizes.iter().position(Option::is_none)
    }

    /// A socket buffer (which `auto` leaves to the kernel).
    pub fn is_buffer(&self) -> bool {
        let knob = self.key.rsplit('.').next().unwrap_or(&self.key);
        knob == "sndbuf" || knob == "rcvbuf"
    }
}

#[derive(Debug, Clone, Default)]
pub struct Space {
    pub dims: Vec<Dim>,
}

impl Space {
    pub fn from_matrix(matrix: &[(String, Vec<Setting>)]) -> Space {
        let dims = matrix
            .iter()
            .map(|(key, settings)| {
                let values: Vec<String> = settings.iter().map(|s| s.value.clone()).collect();
                let sizes: Option<Vec<Option<u64>>> = values
                    .iter()
                    .map(|v| match v.trim() {
                        "auto" => Some(None),
                        v => crate::spec::units::parse_size(v).ok().map(Some),
                    })
                    .collect();
                let is_size = crate::spec::config::is_size_key(key);
                Dim {
                    key: key.clone(),
                    values,
                    sizes: sizes.filter(|_| is_size),
                }
            })
            .collect();
        Space { dims }
    }

    /// Every combination's count: the cases of the full grid.
    pub fn grid_size(&self) -> u64 {
        self.dims
            .iter()
            .fold(1u64, |n, d| n.saturating_mul(d.values.len() as u64))
    }

    /// The case index of a point in the matrix's expansion (the last key varies fastest).
    pub fn flat(&self, p: &Point) -> usize {
        self.dims
            .iter()
            .zip(p)
            .fold(0, |n, (d, &i)| n * d.values.len() + i)
    }

    /// `rcvbuf=64K congestion=cubic`, as a case label.
    pub fn label(&self, p: &Point) -> String {
        self.settings(p)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn settings(&self, p: &Point) -> Vec<(String, String)> {
        self.dims
            .iter()
            .zip(p)
            .map(|(d, &i)| (d.key.clone(), d.values[i].clone()))
            .collect()
    }

    /// The bytes the point's sizes ask for, over all size dimensions: what makes one
    /// setting cheaper than another.
    pub fn cost(&self, p: &Point) -> u64 {
        self.dims
            .iter()
            .zip(p)
            .filter_map(|(d, &i)| d.sizes.as_ref().and_then(|s| s[i]))
            .sum()
    }

    /// What orders settings by cost, cheapest first: the bytes their sizes ask for (`auto`
    /// counted as one byte more than the dimension's largest size: the kernel may grow
    /// the buffer that far), then the place in the matrix (among lists, the first listed
    /// is the cheapest).
    pub fn cost_key(&self, p: &Point) -> (u64, usize) {
        let bytes = self
            .dims
            .iter()
            .zip(p)
            .filter_map(|(d, &i)| {
                let sizes = d.sizes.as_ref()?;
                Some(sizes[i].unwrap_or_else(|| {
                    sizes
                        .iter()
                        .flatten()
                        .max()
                        .copied()
                        .unwrap_or(0)
                        .saturating_add(1)
                }))
            })
            .fold(0u64, u64::saturating_add);
        (bytes, self.flat(p))
    }

    /// `p` with dimension `d` at `auto`, if it lists it.
    pub fn auto_at(&self, p: &Point, d: usize) -> Option<Point> {
        let mut q = p.clone();
        q[d] = self.dims[d].auto()?;
        Some(q)
    }

    /// The point one size step larger along dimension `d`, if there is one.
    pub fn next_larger(&self, p: &Point, d: usize) -> Option<Point> {
        let order = self.dims[d].order()?;
        let at = order.iter().position(|&i| i == p[d])?;
        let mut q = p.clone();
        q[d] = *order.get(at + 1)?;
        Some(q)
    }
}

/// The default budget, in tests, for `candidates` tested up to `reps` times each (the
/// full grid: candidates × reps): twice the full grid's tests and 16 more, and at least
/// what a race of three finalists to the race's cap takes after a test of each candidate
/// (a small grid on a loaded machine: three rr message sizes whose p99 varies from 6 us
/// to 5 ms from one test to the next). A ceiling, not a plan: a clear answer ends well
/// within half the grid.
pub fn default_budget(candidates: u64, reps: u32) -> u64 {
    let reps = u64::from(reps.max(3));
    let grid = candidates.saturating_mul(reps);
    let race = 3 * u64::from(RACE_CAP) * reps + candidates;
    grid.saturating_mul(2).saturating_add(16).max(race)
}

/// `--budget`: tests, or wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Tests(u64),
    Time(Duration),
}

/// What the search asks of the outside world.
pub trait Bench {
    /// Runs one test of the candidate (None: the kernel-default baseline near `p`), and
    /// returns its figures, or None when the test did not end ok.
    fn test(&mut self, p: &Point, baseline: bool) -> Result<Option<Figures>, TuneError>;
    /// Records one step of the search (tune.csv).
    fn record(&mut self, row: &TuneRow) -> Result<(), TuneError>;
    /// The planned time of one more test (warm-up + duration), for a time budget.
    fn planned(&self) -> Duration;
    /// `Err` once the user has interrupted the tune (Ctrl-C), or its `--json` output has
    /// failed: the search stops there, with every test so far recorded, and starts no
    /// other.
    fn check_stop(&mut self) -> Result<(), TuneError> {
        Ok(())
    }
}

/// One row of tune.csv: a test the search ran, or a decision it took.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TuneRow {
    pub step: u64,
    /// screen (one repetition per probe), race (repetitions for a close decision),
    /// baseline (the kernel's defaults) or answer.
    pub phase: String,
    /// The case's number in summary.csv; empty for a decision row.
    pub case: Option<u32>,
    /// The candidate's settings, as a case label.
    pub candidate: String,
    /// The repetition this test was of the candidate; empty for a decision row.
    pub repetition: Option<u32>,
    /// The goal's figure (column name) and this test's value of it.
    pub metric: Metric,
    pub value: Option<f64>,
    /// The candidate so far: its ok repetitions, mean and 95% interval of the goal figure.
    pub reps: u32,
    pub mean: Option<f64>,
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
    /// Whether the candidate's mean figures meet every constraint so far.
    pub meets_constraints: Option<bool>,
    /// The constraints' figures of this test, `name=value;...`.
    pub figures: String,
    pub decision: String,
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Unsatisfiable,
    Inconclusive,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    /// The recommended candidate (for `inconclusive`, the best guess among the set; for
    /// `unsatisfiable`, the closest).
    pub best: Option<Point>,
    /// Candidates that could not be told apart from `best` (inconclusive), or that are
    /// equivalent to it within [`EQUIVALENT`] (ok).
    pub tied: Vec<Point>,
    /// One sentence on why.
    pub why: String,
}

pub struct Search<'a, B: Bench> {
    pub space: &'a Space,
    pub goal: &'a Goal,
    pub constraints: &'a [Constraint],
    /// The most repetitions of one candidate (the workload's repeat, at least 3).
    pub max_reps: u32,
    pub budget: Budget,
    pub bench: &'a mut B,
    started: Instant,
    /// Every candidate's ok repetitions' figures.
    pub reps: BTreeMap<Point, Vec<Figures>>,
    /// The test number (of the whole tune) of each of those repetitions: what pairs
    /// tests taken back to back.
    order: BTreeMap<Point, Vec<u64>>,
    /// Race rounds so far: each round runs its finalists in the other order (A B, B A).
    rounds: u64,
    /// Tests run per candidate, ok or not.
    tried: BTreeMap<Point, u32>,
    pub baseline: Vec<Figures>,
    /// Baseline tests run outside the matrix (buffers `auto` where the matrix has none).
    baseline_tests: u64,
    /// Every test run: what the budget counts.
    pub tests_run: u64,
    /// The tests run by phase (screen, race, baseline).
    pub spent: BTreeMap<String, u64>,
    step: u64,
}

/// Orders candidates: feasible before infeasible; among feasible, the better goal figure;
/// among infeasible, the smaller shortfall; unmeasured last.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Rank(u8, f64);

impl<'a, B: Bench> Search<'a, B> {
    pub fn new(
        space: &'a Space,
        goal: &'a Goal,
        constraints: &'a [Constraint],
        max_reps: u32,
        budget: Budget,
        bench: &'a mut B,
    ) -> Self {
        Search {
            space,
            goal,
            constraints,
            max_reps: max_reps.max(3),
            budget,
            bench,
            started: Instant::now(),
            reps: BTreeMap::new(),
            order: BTreeMap::new(),
            rounds: 0,
            tried: BTreeMap::new(),
            baseline: Vec::new(),
            baseline_tests: 0,
            tests_run: 0,
            spent: BTreeMap::new(),
            step: 0,
        }
    }

    /// Whether one more test fits in the budget.
    fn budget_left(&self) -> bool {
        match self.budget {
            Budget::Tests(n) => self.tests_run < n,
            Budget::Time(d) => self.started.elapsed() + self.bench.planned() <= d,
        }
    }

    /// One test run, counted against the budget and its phase.
    fn count(&mut self, phase: &str) {
        self.tests_run += 1;
        self.step += 1;
        *self.spent.entry(phase.to_string()).or_insert(0) += 1;
    }

    /// The goal figure's summary over a candidate's ok repetitions.
    pub fn stat(&self, p: &Point) -> Option<Summary> {
        self.stat_of(p, self.goal.metric())
    }

    pub fn stat_of(&self, p: &Point, metric: Metric) -> Option<Summary> {
        let values: Vec<f64> = self
            .reps
            .get(p)?
            .iter()
            .filter_map(|f| f.get(&metric).copied())
            .collect();
        summarize(&values)
    }

    fn mean_of(&self, p: &Point, metric: Metric) -> Option<f64> {
        self.stat_of(p, metric).map(|s| s.mean)
    }

    /// How far the candidate's means miss the constraints (0: all met); infinite when a
    /// constrained figure was not measured.
    pub fn shortfall(&self, p: &Point) -> Option<f64> {
        self.reps.get(p).filter(|r| !r.is_empty())?;
        Some(
            self.constraints
                .iter()
                .map(|c| {
                    self.mean_of(p, c.metric)
                        .map_or(f64::INFINITY, |v| c.shortfall(v))
                })
                .sum(),
        )
    }

    pub fn feasible(&self, p: &Point) -> Option<bool> {
        self.shortfall(p).map(|s| s == 0.0)
    }

    fn oriented(&self, v: f64) -> f64 {
        match self.goal.sense() {
            Sense::Maximise => v,
            Sense::Minimise => -v,
        }
    }

    fn rank(&self, p: &Point) -> Rank {
        match (self.shortfall(p), self.stat(p)) {
            (Some(s), Some(st)) if s <= 0.0 => Rank(2, self.oriented(st.mean)),
            (Some(s), _) => Rank(1, -s),
            _ => Rank(0, 0.0),
        }
    }

    /// The best goal figure measured on any candidate (the "max" of `F*max`).
    fn best_mean(&self) -> Option<f64> {
        self.reps
            .keys()
            .filter_map(|p| self.stat(p).map(|s| s.mean))
            .max_by(f64::total_cmp)
    }

    fn row(&self, phase: &str, p: &Point, decision: String) -> TuneRow {
        let st = self.stat(p);
        TuneRow {
            step: self.step,
            phase: phase.to_string(),
            candidate: self.space.label(p),
            metric: self.goal.metric(),
            reps: st.map_or(0, |s| s.n as u32),
            mean: st.map(|s| s.mean),
            ci95_low: st.and_then(|s| s.ci95).map(|c| c.0),
            ci95_high: st.and_then(|s| s.ci95).map(|c| c.1),
            meets_constraints: self.feasible(p),
            decision,
            ..Default::default()
        }
    }

    /// Records a decision (a row without a test).
    fn decide(&mut self, phase: &str, p: &Point, decision: String) -> Result<(), TuneError> {
        self.step += 1;
        let row = self.row(phase, p, decision);
        self.bench.record(&row)
    }

    /// Runs one more test of `p`, if the budget allows. Returns whether it ran.
    fn measure(&mut self, phase: &str, p: &Point, why: &str) -> Result<bool, TuneError> {
        if !self.budget_left() {
            return Ok(false);
        }
        self.bench.check_stop()?;
        let figures = self.bench.test(p, false)?;
        self.count(phase);
        let n = self.tried.entry(p.clone()).or_insert(0);
        *n += 1;
        let repetition = *n;
        let entry = self.reps.entry(p.clone()).or_default();
        if let Some(f) = &figures {
            entry.push(f.clone());
            let at = self.tests_run;
            self.order.entry(p.clone()).or_default().push(at);
        }
        let mut row = self.row(phase, p, why.to_string());
        row.repetition = Some(repetition);
        row.value = figures
            .as_ref()
            .and_then(|f| f.get(&self.goal.metric()).copied());
        row.figures = self.constraint_figures(figures.as_ref());
        if figures.is_none() {
            row.decision = format!("{why}; the test failed (see summary.csv)");
        }
        self.bench.record(&row)?;
        self.bench.check_stop()?;
        Ok(true)
    }

    fn constraint_figures(&self, figures: Option<&Figures>) -> String {
        let Some(f) = figures else {
            return String::new();
        };
        self.constraints
            .iter()
            .map(|c| {
                let v = f.get(&c.metric).map_or("-".to_string(), |v| format!("{v}"));
                format!("{}={v}", c.metric)
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// At least one test of `p` (one more only if none was tried).
    fn probe(&mut self, p: &Point, why: &str) -> Result<(), TuneError> {
        if !self.tried.contains_key(p) {
            self.measure("screen", p, why)?;
        }
        Ok(())
    }

    /// Runs the whole search.
    pub fn run(&mut self) -> Result<Outcome, TuneError> {
        let mut current: Point = self
            .space
            .dims
            .iter()
            .map(|d| d.order().and_then(|o| o.last().copied()).unwrap_or(0))
            .collect();
        // Screening: each dimension in turn, the others held where they are.
        for d in 0..self.space.dims.len() {
            // For a share of the best, the kernel's autotuning may be the best: measured
            // first, it is in the share's reference from the start.
            if let (Some(q), Goal::Fraction { .. }) = (self.space.auto_at(&current, d), self.goal) {
                self.probe(&q, "the kernel's autotuning, for the best figure")?;
            }
            current = match (self.space.dims[d].order(), self.goal) {
                (Some(order), Goal::Fraction { fraction, .. }) => {
                    self.knee(&current, d, &order, *fraction)?
                }
                (Some(order), _) => self.golden(&current, d, &order)?,
                (None, _) => self.each_value(&current, d)?,
            };
            let Some(q) = self.space.auto_at(&current, d) else {
                continue;
            };
            if let Goal::Fraction { fraction, .. } = self.goal {
                // `auto`, the dearest, when the knee found among the sizes (the largest,
                // then) falls short of the share of it, as in the bisection.
                let (knee, auto) = (self.entry(&current).center(), self.entry(&q).center());
                let screening = fraction * (1.0 - 2.0 * EQUIVALENT);
                if knee.zip(auto).is_some_and(|(k, a)| k < screening * a) {
                    current = q;
                }
                continue;
            }
            // Against a maximum or a minimum the kernel's autotuning is a candidate like
            // any other, weighed against the best size.
            self.probe(&q, "the kernel's autotuning, against the best so far")?;
            if self.rank(&q) > self.rank(&current) {
                current = q;
            }
        }
        match self.goal {
            Goal::Fraction { fraction, .. } => self.race_knee(current, *fraction),
            _ => self.race(current),
        }
    }

    /// The most tests of one finalist in the race.
    fn race_cap(&self) -> u32 {
        self.max_reps.saturating_mul(RACE_CAP)
    }

    /// The tests run of `p` so far, ok or not.
    fn tests_of(&self, p: &Point) -> u32 {
        self.tried.get(p).copied().unwrap_or(0)
    }

    /// One round of the race: one more test of each of `need` below the race's cap, back
    /// to back, in order of cost on one round and in the reverse order on the next (A B,
    /// then B A: a drift of the load between rounds cancels in the pairs' ratios).
    /// Returns why the race cannot go on when none could run.
    fn more(&mut self, needed: &[Point], why: &str) -> Result<Option<String>, TuneError> {
        let mut need: Vec<Point> = Vec::new();
        for p in needed {
            if !need.contains(p) {
                need.push(p.clone());
            }
        }
        need.sort_by_key(|p| self.space.cost_key(p));
        if self.rounds % 2 == 1 {
            need.reverse();
        }
        self.rounds += 1;
        let mut ran = false;
        for p in &need {
            if self.tests_of(p) >= self.race_cap() {
                continue;
            }
            if !self.measure("race", p, why)? {
                return Ok((!ran).then(|| self.spent_sentence()));
            }
            ran = true;
        }
        Ok((!ran).then(|| {
            format!(
                "each finalist had the race's most tests ({}, {RACE_CAP} × max(repeat, 3))",
                self.race_cap()
            )
        }))
    }

    /// "the budget (16 tests) is spent: 6 screening, 10 race".
    pub fn spent_sentence(&self) -> String {
        let budget = match self.budget {
            Budget::Tests(n) => format!("{n} tests"),
            Budget::Time(d) => crate::spec::units::format_duration(d),
        };
        format!("the budget ({budget}) is spent: {}", self.spent_list())
    }

    /// "6 screening, 10 race, 2 baseline".
    pub fn spent_list(&self) -> String {
        self.spent
            .iter()
            .map(|(phase, n)| format!("{n} {phase}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests;
