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
                let is_size = matches!(
                    key.rsplit('.').next().unwrap_or(key),
                    "sndbuf"
                        | "rcvbuf"
                        | "msg_size"
                        | "response_size"
                        | "notsent_lowat"
                        | "probe_size"
                );
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

    /// The point one size step larger along dimension `d`, if there is one.
    pub fn next_larger(&self, p: &Point, d: usize) -> Option<Point> {
        let order = self.dims[d].order()?;
        let at = order.iter().position(|&i| i == p[d])?;
        let mut q = p.clone();
        q[d] = *order.get(at + 1)?;
        Some(q)
    }
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
        let figures = self.bench.test(p, false)?;
        self.count(phase);
        let n = self.tried.entry(p.clone()).or_insert(0);
        *n += 1;
        let repetition = *n;
        let entry = self.reps.entry(p.clone()).or_default();
        if let Some(f) = &figures {
            entry.push(f.clone());
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
            current = match (self.space.dims[d].order(), self.goal) {
                (Some(order), Goal::Fraction { fraction, .. }) => {
                    self.knee(&current, d, &order, *fraction)?
                }
                (Some(order), _) => self.golden(&current, d, &order)?,
                (None, _) => self.each_value(&current, d)?,
            };
            // Against a maximum or a minimum the kernel's autotuning is a candidate like
            // any other; for a share of the best it is the baseline, measured last.
            let fraction = matches!(self.goal, Goal::Fraction { .. });
            if let Some(auto) = self.space.dims[d].auto().filter(|_| !fraction) {
                let mut q = current.clone();
                q[d] = auto;
                self.probe(&q, "the kernel's autotuning, against the best so far")?;
                if self.rank(&q) > self.rank(&current) {
                    current = q;
                }
            }
        }
        match self.goal {
            Goal::Fraction { fraction, .. } => self.race_knee(current, *fraction),
            _ => self.race(current),
        }
    }

    /// Every value of a list dimension once.
    fn each_value(&mut self, at: &Point, d: usize) -> Result<Point, TuneError> {
        let mut best = at.clone();
        for i in 0..self.space.dims[d].values.len() {
            let mut q = at.clone();
            q[d] = i;
            self.probe(&q, &format!("{}: every value once", self.space.dims[d].key))?;
            if self.rank(&q) > self.rank(&best) {
                best = q;
            }
        }
        self.decide(
            "screen",
            &best,
            format!("{}: best of the list so far", self.space.dims[d].key),
        )?;
        Ok(best)
    }

    /// Golden-section search over the sizes of dimension `d` (indices into `order`).
    fn golden(&mut self, at: &Point, d: usize, order: &[usize]) -> Result<Point, TuneError> {
        let key = self.space.dims[d].key.clone();
        let point = |i: usize| {
            let mut q = at.clone();
            q[d] = order[i];
            q
        };
        let (mut a, mut b) = (0usize, order.len() - 1);
        while b - a > 2 {
            let span = (b - a) as f64;
            let c = a + (span * 0.382).round() as usize;
            let mut e = a + (span * 0.618).round() as usize;
            if e <= c {
                e = c + 1;
            }
            let (pc, pe) = (point(c), point(e));
            self.probe(&pc, &format!("{key}: golden section of {a}..{b}"))?;
            self.probe(&pe, &format!("{key}: golden section of {a}..{b}"))?;
            if !self.tried.contains_key(&pc) || !self.tried.contains_key(&pe) {
                break; // out of budget
            }
            if self.rank(&pc) >= self.rank(&pe) {
                b = e;
            } else {
                a = c;
            }
            let lo = &self.space.dims[d].values[order[a]];
            let hi = &self.space.dims[d].values[order[b]];
            self.decide("screen", &pc, format!("{key}: the best lies in {lo}..{hi}"))?;
        }
        let mut best = point(a);
        for i in a..=b {
            let q = point(i);
            self.probe(&q, &format!("{key}: the last bracket"))?;
            if self.rank(&q) > self.rank(&best) {
                best = q;
            }
        }
        Ok(best)
    }

    /// Bisection for the smallest size of dimension `d` whose goal figure reaches
    /// `fraction` of the best measured (goodput grows with the buffer up to a knee).
    fn knee(
        &mut self,
        at: &Point,
        d: usize,
        order: &[usize],
        fraction: f64,
    ) -> Result<Point, TuneError> {
        let key = self.space.dims[d].key.clone();
        let point = |i: usize| {
            let mut q = at.clone();
            q[d] = order[i];
            q
        };
        let (mut lo, mut hi) = (0usize, order.len() - 1);
        self.probe(
            &point(hi),
            &format!("{key}: the largest, for the best figure"),
        )?;
        while lo < hi {
            let mid = (lo + hi) / 2;
            let q = point(mid);
            self.probe(&q, &format!("{key}: bisection for the knee"))?;
            // One test each: the bisection leans low (a margin of twice the equivalence
            // band), since the race moves a knee up quickly when the size is clearly
            // short, and down only slowly through a noisy plateau.
            let screening = fraction * (1.0 - 2.0 * EQUIVALENT);
            let doubtful = |m: f64, best: f64| m >= DOUBT * best && m < screening * best;
            if let (Some(m), Some(best)) = (self.entry(&q).center(), self.best_mean()) {
                // Short, but not by a buffer's halving: perhaps a starved test. Once more.
                if doubtful(m, best) && self.tests_of(&q) < 2 {
                    self.measure(
                        "screen",
                        &q,
                        &format!("{key}: short by less than half, once more"),
                    )?;
                }
            }
            let (Some(m), Some(best)) = (self.entry(&q).center(), self.best_mean()) else {
                break;
            };
            let value = &self.space.dims[d].values[order[mid]];
            if m >= screening * best {
                hi = mid;
                self.decide(
                    "screen",
                    &q,
                    format!(
                        "{key}={value} reaches {screening:.3} of the best (one test): the knee is at or below it"
                    ),
                )?;
            } else {
                lo = mid + 1;
                self.decide(
                    "screen",
                    &q,
                    format!(
                        "{key}={value} is short of {screening:.3} of the best (one test): the knee is above it"
                    ),
                )?;
            }
        }
        Ok(point(hi))
    }

    /// The most tests of one finalist in the race.
    fn race_cap(&self) -> u32 {
        self.max_reps.saturating_mul(2)
    }

    /// The tests run of `p` so far, ok or not.
    fn tests_of(&self, p: &Point) -> u32 {
        self.tried.get(p).copied().unwrap_or(0)
    }

    /// One more test of each of `need` below the race's cap, the least tested first.
    /// Returns why the race cannot go on when none could run.
    fn more(&mut self, needed: &[Point], why: &str) -> Result<Option<String>, TuneError> {
        let mut need: Vec<Point> = Vec::new();
        for p in needed {
            if !need.contains(p) {
                need.push(p.clone());
            }
        }
        need.sort_by_key(|p| self.tests_of(p));
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
                "each finalist had the race's most tests ({}, twice max(repeat, 3))",
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

    /// A candidate as the race sees it: its goal figures and its cost.
    fn entry(&self, p: &Point) -> Entry {
        let metric = self.goal.metric();
        Entry {
            values: self
                .reps
                .get(p)
                .map(|r| r.iter().filter_map(|f| f.get(&metric).copied()).collect())
                .unwrap_or_default(),
            cost: self.space.cost_key(p),
        }
    }

    fn better(&self) -> Better {
        match self.goal.sense() {
            Sense::Maximise => Better::Higher,
            Sense::Minimise => Better::Lower,
        }
    }

    fn unsatisfiable(&self) -> Option<Outcome> {
        if self.reps.keys().any(|p| self.feasible(p) == Some(true)) {
            return None;
        }
        let all: Vec<Point> = self.reps.keys().cloned().collect();
        let closest = self.best_of(&all);
        let missing: Vec<&str> = self
            .constraints
            .iter()
            .filter(|c| {
                !self
                    .reps
                    .values()
                    .flatten()
                    .any(|f| f.contains_key(&c.metric))
            })
            .map(|c| c.text.as_str())
            .collect();
        let why = if closest.is_none() {
            "no test ended ok".to_string()
        } else if !missing.is_empty() {
            format!(
                "no test measured the figure of {} (a round-trip figure needs --probe rr on a stream)",
                missing.join(", ")
            )
        } else {
            format!(
                "no candidate met {}",
                self.constraints
                    .iter()
                    .map(|c| c.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        };
        Some(Outcome {
            status: Status::Unsatisfiable,
            best: closest,
            tied: Vec::new(),
            why,
        })
    }

    fn best_of(&self, pts: &[Point]) -> Option<Point> {
        pts.iter()
            .max_by(|a, b| {
                self.rank(a)
                    .partial_cmp(&self.rank(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .cloned()
    }

    /// Racing for a maximum or a minimum: the finalists get repetitions until the race
    /// is decided ([`race::judge`]): the clearly worse dropped, the cheapest of the best
    /// and its equivalents the answer. Inconclusive only when the budget or the cap ends
    /// it with intervals that still overlap.
    fn race(&mut self, current: Point) -> Result<Outcome, TuneError> {
        if let Some(out) = self.unsatisfiable() {
            let at = out.best.clone().unwrap_or(current);
            self.decide("answer", &at, out.why.clone())?;
            return Ok(out);
        }
        let mut active = self.finalists(current);
        loop {
            let entries: Vec<Entry> = active.iter().map(|p| self.entry(p)).collect();
            let share = match self.goal {
                Goal::Fraction { fraction, .. } => Some(*fraction),
                Goal::Optimise { .. } => None,
            };
            let j = race::judge(&entries, self.better(), share);
            if !j.dropped.is_empty() {
                let best = active[j.best].clone();
                let gone: Vec<String> = j
                    .dropped
                    .iter()
                    .map(|&i| self.space.label(&active[i]))
                    .collect();
                self.decide(
                    "race",
                    &best,
                    format!(
                        "{} clearly worse than the best (95% intervals apart): dropped",
                        gone.join(", ")
                    ),
                )?;
                let dropped: Vec<Point> = j.dropped.iter().map(|&i| active[i].clone()).collect();
                active.retain(|p| !dropped.contains(p));
                continue;
            }
            if j.decided() && (active.len() > 1 || self.entry(&active[0]).n() >= race::MIN_JUDGED) {
                return self.race_decided(&active, &j);
            }
            let need: Vec<Point> = std::iter::once(j.best)
                .chain(j.open.iter().copied())
                .map(|i| active[i].clone())
                .collect();
            let why = format!(
                "race: {} not yet told apart",
                need.iter()
                    .map(|p| self.space.label(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(stop) = self.more(&need, &why)? {
                return self.race_undecided(&active, &j, &stop);
            }
        }
    }

    /// The answer of a decided race.
    fn race_decided(&mut self, active: &[Point], j: &Judgement) -> Result<Outcome, TuneError> {
        let answer = active[j.answer].clone();
        let best = &active[j.best];
        let n = |p: &Point| self.entry(p).n();
        let within = match self.goal {
            Goal::Fraction { fraction, .. } => format!("reach {fraction} of"),
            Goal::Optimise { .. } => format!("are within ±{:.0}% of", EQUIVALENT * 100.0),
        };
        let why = if j.answer != j.best {
            format!(
                "{} is the cheapest of the finalists whose medians {within} the best's ({}, median {} at n={}); n={} here",
                self.space.label(&answer),
                self.space.label(best),
                format_figure(self.goal.metric(), self.entry(best).center().unwrap_or(0.0)),
                n(best),
                n(&answer)
            )
        } else if active.len() == 1 {
            format!(
                "the only finalist left: the others were clearly worse (99% interval of the ratio apart; n={})",
                n(&answer)
            )
        } else {
            format!(
                "the best, and the cheapest of the finalists whose medians {within} it (n={})",
                n(&answer)
            )
        };
        let tied: Vec<Point> = std::iter::once(j.best)
            .chain(j.equivalent.iter().copied())
            .filter(|&i| i != j.answer)
            .map(|i| active[i].clone())
            .collect();
        self.decide("answer", &answer, why.clone())?;
        Ok(Outcome {
            status: Status::Ok,
            best: Some(answer),
            tied,
            why,
        })
    }

    /// The answer of a race the budget or the cap ended with intervals overlapping.
    fn race_undecided(
        &mut self,
        active: &[Point],
        j: &Judgement,
        stop: &str,
    ) -> Result<Outcome, TuneError> {
        let answer = active[j.answer].clone();
        let tied: Vec<Point> = j
            .open
            .iter()
            .map(|&i| active[i].clone())
            .filter(|p| *p != answer)
            .collect();
        let why = format!(
            "{} and {} cannot be told apart: their 95% intervals overlap and their means differ by more than {:.0}%; {stop}",
            self.space.label(&answer),
            tied.iter().map(|p| self.space.label(p)).collect::<Vec<_>>().join(", "),
            EQUIVALENT * 100.0
        );
        self.decide("answer", &answer, why.clone())?;
        Ok(Outcome {
            status: Status::Inconclusive,
            best: Some(answer),
            tied,
            why,
        })
    }

    /// The finalists: the three best feasible candidates, `current` among them when
    /// feasible, and the cheapest feasible one within twice the equivalence band of the
    /// best (it may turn out equivalent, and is then the answer).
    fn finalists(&self, current: Point) -> Vec<Point> {
        let mut feasible: Vec<Point> = self
            .reps
            .keys()
            .filter(|p| self.feasible(p) == Some(true))
            .cloned()
            .collect();
        feasible.sort_by(|a, b| {
            self.rank(b)
                .partial_cmp(&self.rank(a))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut active: Vec<Point> = feasible.iter().take(3).cloned().collect();
        if !active.contains(&current) && self.feasible(&current) == Some(true) {
            active.pop();
            active.insert(0, current);
        }
        let best = feasible.first().and_then(|p| self.entry(p).center());
        let near = |p: &Point| {
            let (Some(m), Some(b)) = (self.entry(p).center(), best) else {
                return false;
            };
            (m - b).abs() <= 2.0 * EQUIVALENT * b.abs()
        };
        let cheapest = feasible
            .iter()
            .filter(|p| near(p))
            .min_by_key(|p| self.space.cost_key(p));
        if let Some(c) = cheapest.filter(|c| !active.contains(c)) {
            active.push(c.clone());
        }
        active
    }

    /// Racing for `F*max`: the knee, the size below it and the best get repetitions until
    /// the knee reaches F of the best's mean and the size below clearly does not
    /// ([`race::judge_knee`]); the knee moves when the figures say it is elsewhere.
    fn race_knee(&mut self, knee: Point, fraction: f64) -> Result<Outcome, TuneError> {
        let d = (0..self.space.dims.len())
            .rev()
            .find(|&d| self.space.dims[d].order().is_some());
        let Some(d) = d else {
            return self.race(knee);
        };
        let order = self.space.dims[d].order().expect("a size dimension");
        let at = |p: &Point| order.iter().position(|&i| i == p[d]).unwrap_or(0);
        let mut k = at(&knee);
        let point = |i: usize| {
            let mut q = knee.clone();
            q[d] = order[i];
            q
        };
        let first_best = self
            .best_by_center(|_| true)
            .unwrap_or_else(|| point(order.len() - 1));
        let key = self.space.dims[d].key.clone();
        // The share's reference: the best single test of the screening and the largest
        // size, each judged on two tests at least (one noisy maximum is not "max").
        let reference = [first_best.clone(), point(order.len() - 1)];
        for _ in 0..1000 {
            let unjudged: Vec<Point> = reference
                .iter()
                .filter(|p| {
                    self.entry(p).n() < race::MIN_JUDGED && self.tests_of(p) < self.race_cap()
                })
                .cloned()
                .collect();
            if !unjudged.is_empty() {
                if let Some(stop) =
                    self.more(&unjudged, "race: the best, for the share's reference")?
                {
                    let t = self.best_mean().unwrap_or(0.0) * fraction;
                    return self.knee_guess(
                        (k > 0).then(|| point(k - 1)),
                        point(k),
                        t,
                        fraction,
                        &stop,
                    );
                }
                continue;
            }
            let best = self
                .best_by_center(|s| s.n >= race::MIN_JUDGED as u64)
                .unwrap_or_else(|| first_best.clone());
            let below = (k > 0).then(|| point(k - 1));
            let verdict = race::judge_knee(
                below.as_ref().map(|b| self.entry(b)).as_ref(),
                &self.entry(&point(k)),
                &self.entry(&best),
                fraction,
            );
            let label = self.space.dims[d].values[order[k]].clone();
            match verdict {
                Knee::Found => {
                    let why = self.knee_why(&key, &label, k == 0, fraction, &best);
                    return self.settle(point(k), Vec::new(), Status::Ok, why);
                }
                Knee::Down => {
                    k -= 1;
                    self.decide("race", &point(k), format!("the size below {key}={label} reaches {fraction} of the best, or is within ±{:.0}% of it: the knee moves down", EQUIVALENT * 100.0))?;
                }
                Knee::Up if k + 1 < order.len() => {
                    k += 1;
                    self.decide("race", &point(k), format!("{key}={label} clearly misses {fraction} of the best: the knee moves up"))?;
                }
                Knee::Up | Knee::Open => {
                    let need = self.knee_needs(&point(k), below.as_ref(), &best, fraction);
                    let why = format!("race: whether {key}={label} is the knee");
                    if let Some(stop) = self.more(&need, &why)? {
                        let t = self.stat(&best).map_or(0.0, |s| s.mean * fraction);
                        return self.knee_guess(below, point(k), t, fraction, &stop);
                    }
                }
            }
        }
        let stop = "the knee kept moving".to_string();
        let t = self.best_mean().unwrap_or(0.0) * fraction;
        self.knee_guess((k > 0).then(|| point(k - 1)), point(k), t, fraction, &stop)
    }

    /// The tests an open knee needs: of the size whose question is open (the size below
    /// when the knee reaches the share, else the knee), and of the knee and the best
    /// while they have fewer tests than it.
    fn knee_needs(
        &self,
        knee: &Point,
        below: Option<&Point>,
        best: &Point,
        fraction: f64,
    ) -> Vec<Point> {
        let t = self.entry(best).center().unwrap_or(0.0) * fraction;
        let open = match below {
            Some(b) if race::reaches(&self.entry(knee), t) => b.clone(),
            _ => knee.clone(),
        };
        let mut need = vec![open.clone()];
        for p in [knee, best] {
            if self.tests_of(p) < self.tests_of(&open) {
                need.push(p.clone());
            }
        }
        need
    }

    /// Why the knee `key=label` is the answer: it reaches `fraction` of `best`'s figure,
    /// and the size below does not (or it is the smallest).
    fn knee_why(
        &self,
        key: &str,
        label: &str,
        smallest: bool,
        fraction: f64,
        best: &Point,
    ) -> String {
        let below = if smallest {
            "the smallest size of the range".to_string()
        } else {
            "and the size below clearly does not (the 99% interval of its ratio to the best is under the share)".to_string()
        };
        let e = self.entry(best);
        format!(
            "{key}={label} is the smallest {key} whose median reaches {fraction} of the best's (median {} at {}, n={}), {below}",
            format_figure(self.goal.metric(), e.center().unwrap_or(0.0)),
            self.space.label(best),
            e.n()
        )
    }

    /// The measured candidate with the best median goal figure among those whose summary
    /// `ok` accepts.
    fn best_by_center(&self, ok: impl Fn(&Summary) -> bool) -> Option<Point> {
        let center = |p: &Point| self.entry(p).center().unwrap_or(f64::NAN);
        self.reps
            .keys()
            .filter(|p| self.stat(p).is_some_and(|s| ok(&s)))
            .max_by(|a, b| center(a).total_cmp(&center(b)))
            .cloned()
    }

    /// An undecided knee when the race cannot go on: the point estimates choose, and the
    /// answer says it is a guess. First a size that reaches the share `t` on its mean,
    /// then one whose interval still allows it; either must meet the constraints.
    fn knee_guess(
        &mut self,
        below: Option<Point>,
        knee: Point,
        t: f64,
        fraction: f64,
        stop: &str,
    ) -> Result<Outcome, TuneError> {
        let mut undecided: Vec<Point> = below.into_iter().collect();
        undecided.push(knee.clone());
        let ci = |p: &Point| self.entry(p).interval();
        let reaches = |p: &Point| self.stat(p).is_some_and(|s| s.mean >= t);
        let may_reach = |p: &Point| ci(p).is_some_and(|(_, hi)| hi >= t);
        let feasible = |p: &Point| self.feasible(p) == Some(true);
        let pick = undecided
            .iter()
            .find(|p| reaches(p) && feasible(p))
            .or_else(|| undecided.iter().find(|p| may_reach(p) && feasible(p)))
            .cloned()
            .unwrap_or(knee);
        let tied: Vec<Point> = undecided.into_iter().filter(|p| *p != pick).collect();
        let why = format!(
            "whether {} reaches {fraction} of the best cannot be told at 95% ({stop}); {} is the smallest that may, within the constraints",
            std::iter::once(&pick)
                .chain(&tied)
                .map(|p| self.space.label(p))
                .collect::<Vec<_>>()
                .join(" or "),
            self.space.label(&pick)
        );
        self.settle(pick, tied, Status::Inconclusive, why)
    }

    /// The answer of `F*max`, checked against the constraints.
    fn settle(
        &mut self,
        p: Point,
        tied: Vec<Point>,
        status: Status,
        why: String,
    ) -> Result<Outcome, TuneError> {
        if let Some(out) = self.unsatisfiable() {
            self.decide("answer", out.best.as_ref().unwrap_or(&p), out.why.clone())?;
            return Ok(out);
        }
        if self.feasible(&p) == Some(false) {
            let why = format!(
                "{} reaches the goal but misses {}; smaller settings fall short of the goal",
                self.space.label(&p),
                self.constraints
                    .iter()
                    .filter(|c| { self.mean_of(&p, c.metric).map_or(true, |v| !c.met_by(v)) })
                    .map(|c| c.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            );
            self.decide("answer", &p, why.clone())?;
            return Ok(Outcome {
                status: Status::Unsatisfiable,
                best: Some(p),
                tied: Vec::new(),
                why,
            });
        }
        self.decide("answer", &p, why.clone())?;
        Ok(Outcome {
            status,
            best: Some(p),
            tied,
            why,
        })
    }

    /// The point the kernel-default figures come from, when the matrix has it: every
    /// buffer dimension at `auto`, the rest as `near`. Its tests are then shared with the
    /// search (a candidate like any other).
    pub fn auto_point(&self, near: &Point) -> Option<Point> {
        let mut q = near.clone();
        for (d, dim) in self.space.dims.iter().enumerate() {
            if dim.is_buffer() {
                q[d] = dim.auto()?;
            }
        }
        Some(q)
    }

    /// The kernel-default figures beside the answer, after the search and only from the
    /// budget it left: up to `reps` tests with the buffers left to autotuning, the other
    /// settings as recommended. Shared with the candidate `auto` when the matrix lists it
    /// (its tests so far count).
    pub fn run_baseline(&mut self, near: &Point, reps: u32) -> Result<(), TuneError> {
        if let Some(q) = self.auto_point(near) {
            while self.tests_of(&q) < reps {
                if !self.measure(
                    "baseline",
                    &q,
                    "the kernel's autotuning (a candidate of the matrix), beside the answer",
                )? {
                    break;
                }
            }
            self.baseline = self.reps.get(&q).cloned().unwrap_or_default();
            return Ok(());
        }
        while (self.baseline_tests as u32) < reps && self.budget_left() {
            let figures = self.bench.test(near, true)?;
            self.count("baseline");
            self.baseline_tests += 1;
            if let Some(f) = &figures {
                self.baseline.push(f.clone());
            }
            self.baseline_row(figures.as_ref())?;
        }
        Ok(())
    }

    /// tune.csv's row of one baseline test.
    fn baseline_row(&mut self, figures: Option<&Figures>) -> Result<(), TuneError> {
        let values: Vec<f64> = self
            .baseline
            .iter()
            .filter_map(|f| f.get(&self.goal.metric()).copied())
            .collect();
        let st = summarize(&values);
        let row = TuneRow {
            step: self.step,
            phase: "baseline".into(),
            candidate: BASELINE_CANDIDATE.into(),
            repetition: Some(self.baseline_tests as u32),
            metric: self.goal.metric(),
            value: figures.and_then(|f| f.get(&self.goal.metric()).copied()),
            reps: st.map_or(0, |s| s.n as u32),
            mean: st.map(|s| s.mean),
            ci95_low: st.and_then(|s| s.ci95).map(|c| c.0),
            ci95_high: st.and_then(|s| s.ci95).map(|c| c.1),
            meets_constraints: None,
            figures: self.constraint_figures(figures),
            decision: format!(
                "the kernel's autotuning, for comparison with the answer ({}), from the budget the search left",
                short_name(self.goal.metric())
            ),
            ..Default::default()
        };
        self.bench.record(&row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::workload::Workload;

    /// Synthetic figures: goodput grows with the buffer up to a knee, then stays; the
    /// round trip grows past the knee (a queue); noise is seeded.
    struct Synthetic {
        space: Space,
        knee: u64,
        noise: f64,
        rng: fastrand::Rng,
        rows: Vec<TuneRow>,
        tests: u64,
    }

    impl Synthetic {
        fn new(matrix: &str, knee: u64, noise: f64) -> Synthetic {
            let w = Workload::parse(matrix, "t.toml", "t").unwrap();
            Synthetic {
                space: Space::from_matrix(&w.matrix),
                knee,
                noise,
                rng: fastrand::Rng::with_seed(7),
                rows: Vec::new(),
                tests: 0,
            }
        }
    }

    impl Bench for Synthetic {
        fn test(&mut self, p: &Point, baseline: bool) -> Result<Option<Figures>, TuneError> {
            self.tests += 1;
            let size = if baseline {
                self.knee * 4
            } else {
                self.space.cost(p)
            };
            let jitter = 1.0 + self.noise * (self.rng.f64() * 2.0 - 1.0);
            let goodput = 1e9 * (size.min(self.knee) as f64 / self.knee as f64) * jitter;
            let rtt = 1e5 * (1.0 + size.saturating_sub(self.knee) as f64 / self.knee as f64);
            Ok(Some(Figures::from([
                (Metric::GoodputBps, goodput),
                (Metric::RttP99Ns, rtt * jitter),
                (Metric::SenderCpuPct, 20.0 * jitter),
            ])))
        }
        fn record(&mut self, row: &TuneRow) -> Result<(), TuneError> {
            self.rows.push(row.clone());
            Ok(())
        }
        fn planned(&self) -> Duration {
            Duration::from_secs(1)
        }
    }

    fn search(
        bench: &mut Synthetic,
        goal: &str,
        constraints: &[&str],
        budget: u64,
    ) -> (Outcome, u64, Space) {
        let space = bench.space.clone();
        let goal = Goal::parse(goal).unwrap();
        let cs: Vec<Constraint> = constraints
            .iter()
            .map(|c| Constraint::parse(c).unwrap())
            .collect();
        let mut s = Search::new(&space, &goal, &cs, 6, Budget::Tests(budget), bench);
        let out = s.run().unwrap();
        (out, s.tests_run, space)
    }

    fn size_of(space: &Space, p: &Point) -> u64 {
        space.cost(p)
    }

    #[test]
    fn golden_section_finds_the_plateau_in_a_quarter_of_the_grid() {
        let mut b = Synthetic::new("[matrix]\nrcvbuf = \"4K..4M\"\n", 128 << 10, 0.03);
        let grid = 11 * 6;
        let (out, tests, space) = search(&mut b, "goodput", &[], grid / 4);
        let best = out.best.unwrap();
        assert!(
            size_of(&space, &best) >= 128 << 10,
            "{}",
            space.label(&best)
        );
        assert!(tests <= grid / 4 && b.tests == tests, "{tests}");
        assert_ne!(out.status, Status::Unsatisfiable);
        // Every test and decision is a row; the last row is the answer.
        assert_eq!(
            b.rows.iter().filter(|r| r.repetition.is_some()).count() as u64,
            tests
        );
        assert_eq!(b.rows.last().unwrap().phase, "answer");
    }

    #[test]
    fn the_fraction_goal_finds_the_knee_itself() {
        let mut b = Synthetic::new("[matrix]\nsndbuf = \"16K..8M\"\n", 256 << 10, 0.01);
        let (out, tests, space) = search(&mut b, "goodput>=0.95*max", &[], 200);
        assert_eq!(out.status, Status::Ok, "{}", out.why);
        assert_eq!(size_of(&space, out.best.as_ref().unwrap()), 256 << 10);
        assert!(tests < 10 * 6, "{tests}");
        // With a latency limit the knee meets: still the knee.
        let mut b = Synthetic::new("[matrix]\nsndbuf = \"16K..8M\"\n", 256 << 10, 0.01);
        let (out, _, space) = search(&mut b, "goodput>=0.95*max", &["rtt_p99<150us"], 200);
        assert_eq!(out.status, Status::Ok, "{}", out.why);
        assert_eq!(size_of(&space, out.best.as_ref().unwrap()), 256 << 10);
    }

    /// The lab's long fat pipe: goodput rises with the buffer until the window covers
    /// rate × RTT (about 240 KB), flat after. The knee is found and decided, baseline
    /// included, within half the grid's tests.
    #[test]
    fn a_clear_knee_ends_ok_within_half_the_grid() {
        let mut b = Synthetic::new("[matrix]\nrcvbuf = \"16K..4M\"\n", 240 << 10, 0.02);
        let space = b.space.clone();
        let goal = Goal::parse("goodput>=0.95*max").unwrap();
        let grid = space.grid_size() * 3;
        let mut s = Search::new(&space, &goal, &[], 3, Budget::Tests(grid), &mut b);
        let out = s.run().unwrap();
        s.run_baseline(out.best.as_ref().unwrap(), 2).unwrap();
        let (tests, spent) = (s.tests_run, s.spent.clone());
        assert_eq!(out.status, Status::Ok, "{}", out.why);
        assert_eq!(size_of(&space, out.best.as_ref().unwrap()), 256 << 10);
        assert!(tests <= grid / 2, "{tests} of {grid}: {spent:?}");
        assert_eq!(spent.values().sum::<u64>(), tests);
        assert_eq!(spent["baseline"], 2);
        assert_eq!(b.tests, tests, "every test counted");
    }

    #[test]
    fn minimising_latency_prefers_the_smaller_buffers() {
        let mut b = Synthetic::new("[matrix]\nsndbuf = \"16K..8M\"\n", 256 << 10, 0.01);
        let (out, _, space) = search(&mut b, "rtt_p99", &["goodput>=900M"], 200);
        let best = out.best.unwrap();
        // Below the knee goodput misses the constraint; above it the queue grows.
        assert_eq!(size_of(&space, &best), 256 << 10, "{}", out.why);
    }

    #[test]
    fn an_impossible_constraint_names_the_closest() {
        let mut b = Synthetic::new("[matrix]\nsndbuf = \"16K..1M\"\n", 256 << 10, 0.01);
        let (out, tests, space) = search(&mut b, "goodput", &["rtt_p99<1ns"], 200);
        assert_eq!(out.status, Status::Unsatisfiable);
        // The closest is the one with the smallest round trip: any at or below the knee.
        assert!(size_of(&space, out.best.as_ref().unwrap()) <= 256 << 10);
        assert!(out.why.contains("rtt_p99<1ns"), "{}", out.why);
        assert!(tests >= 2);
        let mut b = Synthetic::new("[matrix]\nsndbuf = \"16K..1M\"\n", 256 << 10, 0.01);
        let (out, _, _) = search(&mut b, "goodput", &["lost<0.1%"], 200);
        assert!(out.why.contains("no test measured"), "{}", out.why);
    }

    #[test]
    fn noise_that_hides_the_difference_is_inconclusive() {
        // Sizes below the knee, 12% apart; a 40% noise cannot be beaten down within 20
        // tests, and the answer says so.
        let mut b = Synthetic::new(
            "[matrix]\nrcvbuf = [\"3M\", \"3584K\", \"4M\"]\n",
            4 << 20,
            0.4,
        );
        let (out, tests, _) = search(&mut b, "goodput", &[], 20);
        assert_eq!(out.status, Status::Inconclusive, "{}", out.why);
        assert!(!out.tied.is_empty());
        assert!(tests <= 20);
        // Quiet figures: the same sizes are equivalent, and the cheapest is the answer.
        let mut b = Synthetic::new(
            "[matrix]\nrcvbuf = [\"1M\", \"2M\", \"4M\"]\n",
            64 << 10,
            0.005,
        );
        let (out, _, space) = search(&mut b, "goodput", &[], 40);
        assert_eq!(out.status, Status::Ok, "{}", out.why);
        assert_eq!(size_of(&space, out.best.as_ref().unwrap()), 1 << 20);
    }

    #[test]
    fn a_knee_reaching_the_share_on_its_mean_is_the_answer() {
        // 128K gives 97% of the best on average (noisy, 8%): it reaches 95% on its mean,
        // and 64K (half) clearly does not; 256K reaches it surely but breaks the
        // latency limit.
        let mut b = Synthetic::new("[matrix]\nsndbuf = \"16K..1M\"\n", 132 << 10, 0.08);
        let (out, _, space) = search(&mut b, "goodput>=0.95*max", &["rtt_p99<150us"], 200);
        assert_eq!(out.status, Status::Ok, "{}", out.why);
        assert_eq!(
            size_of(&space, out.best.as_ref().unwrap()),
            128 << 10,
            "{}",
            out.why
        );
    }

    #[test]
    fn lists_are_tried_value_by_value() {
        let mut b = Synthetic::new(
            "[matrix]\ncongestion = [\"cubic\", \"reno\"]\nrcvbuf = \"64K..1M\"\n",
            256 << 10,
            0.01,
        );
        let (out, _, space) = search(&mut b, "goodput", &[], 40);
        let best = out.best.unwrap();
        assert!(size_of(&space, &best) >= 256 << 10);
        assert_eq!(space.flat(&best), best[0] * 5 + best[1]);
        assert!(space.label(&best).starts_with("congestion="));
    }
}
