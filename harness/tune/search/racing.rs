//! The search's race between finalists, the knee's race, settling the answer, and the
//! kernel-default baseline.

use super::*;

impl<B: Bench> Search<'_, B> {
    /// A candidate as the race sees it: its goal figures and its cost.
    pub(super) fn entry(&self, p: &Point) -> Entry {
        let metric = self.goal.metric();
        let (values, at) = match (self.reps.get(p), self.order.get(p)) {
            (Some(r), Some(o)) => r
                .iter()
                .zip(o)
                .filter_map(|(f, &t)| f.get(&metric).map(|&v| (v, t)))
                .unzip(),
            _ => (Vec::new(), Vec::new()),
        };
        Entry {
            values,
            at,
            margin: self.margin(),
            cost: self.space.cost_key(p),
        }
    }

    /// The goal figure's equivalence margin: wider for a tail round trip.
    pub(super) fn margin(&self) -> f64 {
        match self.goal.metric() {
            Metric::RttP99Ns | Metric::RttP999Ns => race::EQUIVALENT_TAIL,
            _ => EQUIVALENT,
        }
    }

    pub(super) fn better(&self) -> Better {
        match self.goal.sense() {
            Sense::Maximise => Better::Higher,
            Sense::Minimise => Better::Lower,
        }
    }

    pub(super) fn unsatisfiable(&self) -> Option<Outcome> {
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

    pub(super) fn best_of(&self, pts: &[Point]) -> Option<Point> {
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
    pub(super) fn race(&mut self, current: Point) -> Result<Outcome, TuneError> {
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
                        "{} clearly worse than the best (the 99% interval of the ratio excludes 1): dropped",
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
    pub(super) fn race_decided(
        &mut self,
        active: &[Point],
        j: &Judgement,
    ) -> Result<Outcome, TuneError> {
        let answer = active[j.answer].clone();
        let best = &active[j.best];
        let n = |p: &Point| self.entry(p).n();
        let within = match self.goal {
            Goal::Fraction { fraction, .. } => format!("reach {fraction} of"),
            Goal::Optimise { .. } => format!("are within ±{:.0}% of", self.margin() * 100.0),
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
    pub(super) fn race_undecided(
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
            "{} and {} cannot be told apart: the 99% interval of their ratio includes 1 and their medians differ by more than the {:.0}% margin; {stop}",
            self.space.label(&answer),
            tied.iter().map(|p| self.space.label(p)).collect::<Vec<_>>().join(", "),
            self.margin() * 100.0
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
    pub(super) fn finalists(&self, current: Point) -> Vec<Point> {
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
            (m - b).abs() <= 2.0 * self.margin() * b.abs()
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
    pub(super) fn race_knee(&mut self, knee: Point, fraction: f64) -> Result<Outcome, TuneError> {
        let d = (0..self.space.dims.len())
            .rev()
            .find(|&d| self.space.dims[d].order().is_some());
        let Some(d) = d else {
            return self.race(knee);
        };
        let order = self.space.dims[d].order().expect("a size dimension");
        // Screening left `auto` here when no size reached the share of it: from the largest.
        let mut k = (order.iter().position(|&i| i == knee[d])).unwrap_or(order.len() - 1);
        let point = |i: usize| {
            let mut q = knee.clone();
            q[d] = order[i];
            q
        };
        let first_best = self
            .best_by_center(|_| true)
            .unwrap_or_else(|| point(order.len() - 1));
        let key = self.space.dims[d].key.clone();
        // The share's reference, each judged on two tests at least (one noisy maximum is
        // not "max"): the best single test of the screening, the largest size, and `auto`
        // when listed (the dearest, not in the sizes' order: it may reach less).
        let auto = self.space.auto_at(&knee, d);
        let mut reference = vec![first_best.clone(), point(order.len() - 1)];
        reference.extend(auto.clone());
        let mut stop = "the knee kept moving".to_string();
        for _ in 0..1000 {
            let unjudged = self.unjudged(&reference);
            if !unjudged.is_empty() {
                let why = "race: the best, for the share's reference";
                let Some(out_of_tests) = self.more(&unjudged, why)? else {
                    continue;
                };
                stop = out_of_tests;
                break;
            }
            let best = self.judged_best(&first_best);
            if let Some(b) = self.knee_to_best(&knee, d, &order, k, &best)? {
                k = b;
                continue;
            }
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
                    let mut above: Vec<Point> = (k + 1..order.len()).map(point).collect();
                    above.extend(auto.clone());
                    let tied = self.reaching(&above, &best, fraction);
                    return self.settle(point(k), tied, Status::Ok, why);
                }
                Knee::Down => {
                    k -= 1;
                    self.decide("race", &point(k), format!("the size below {key}={label} reaches {fraction} of the best, or is within ±{:.0}% of {key}={label}: the cheaper is the answer, the knee moves down", EQUIVALENT * 100.0))?;
                }
                Knee::Up if k + 1 < order.len() => {
                    k += 1;
                    self.decide("race", &point(k), format!("{key}={label} clearly misses {fraction} of the best (less than {:.4} of it at 99%): the knee moves up", race::short_of(fraction)))?;
                }
                Knee::Up if auto.as_ref() == Some(&best) => {
                    let why = self.auto_why(&key, &label, fraction, &best);
                    return self.settle(best, Vec::new(), Status::Ok, why);
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
        let t = self.best_mean().unwrap_or(0.0) * fraction;
        self.knee_guess((k > 0).then(|| point(k - 1)), point(k), t, fraction, &stop)
    }

    /// Those of `pts` not judged yet that the race's cap lets test again.
    fn unjudged(&self, pts: &[Point]) -> Vec<Point> {
        pts.iter()
            .filter(|p| self.entry(p).n() < race::MIN_JUDGED && self.tests_of(p) < self.race_cap())
            .cloned()
            .collect()
    }

    /// The best by its center among the points judged (two tests at least), else `first`.
    fn judged_best(&self, first: &Point) -> Point {
        self.best_by_center(|s| s.n >= race::MIN_JUDGED as u64)
            .unwrap_or_else(|| first.clone())
    }

    /// Where the knee of dimension `d` (at `order[k]`, the other dimensions as `knee`'s)
    /// goes when the best is a smaller size than it (goodput fell past the best; screening's
    /// single tests misplaced the knee): to the best, which reaches the share itself. The
    /// move is a decision row; `None` when the best is not below the knee.
    fn knee_to_best(
        &mut self,
        knee: &Point,
        d: usize,
        order: &[usize],
        k: usize,
        best: &Point,
    ) -> Result<Option<usize>, TuneError> {
        let at = |i: usize| {
            let mut q = knee.clone();
            q[d] = order[i];
            q
        };
        let Some(b) = (0..k).find(|&i| at(i) == *best) else {
            return Ok(None);
        };
        let (key, label) = (
            &self.space.dims[d].key,
            &self.space.dims[d].values[order[k]],
        );
        let why = format!("the best is smaller than {key}={label}: the knee moves down to it");
        self.decide("race", best, why)?;
        Ok(Some(b))
    }

    /// Those of `sizes` that reach `fraction` of `best` too (within the margin): the
    /// knee's equivalents, dearer than it. Only those that meet the constraints.
    fn reaching(&self, sizes: &[Point], best: &Point, fraction: f64) -> Vec<Point> {
        let t = race::share_threshold(self.entry(best).center().unwrap_or(f64::INFINITY), fraction);
        sizes
            .iter()
            .filter(|p| race::reaches(&self.entry(p), t) && self.feasible(p) == Some(true))
            .cloned()
            .collect()
    }

    /// The tests an open knee needs: of the size whose question is open (the size below
    /// when the knee reaches the share, else the knee), and of the knee and the best
    /// while they have fewer tests than it.
    pub(super) fn knee_needs(
        &self,
        knee: &Point,
        below: Option<&Point>,
        best: &Point,
        fraction: f64,
    ) -> Vec<Point> {
        let t = race::share_threshold(self.entry(best).center().unwrap_or(0.0), fraction);
        let open = match below {
            Some(b) if race::reaches(&self.entry(knee), t) => b.clone(),
            _ => knee.clone(),
        };
        // The open size and the best, back to back (their ratio is judged pair by pair);
        // the knee too while it has fewer tests.
        let mut need = vec![open.clone(), best.clone()];
        if self.tests_of(knee) < self.tests_of(&open) {
            need.push(knee.clone());
        }
        need
    }

    /// Why the knee `key=label` is the answer: it reaches `fraction` of `best`'s figure,
    /// and the size below does not (or it is the smallest).
    pub(super) fn knee_why(
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
            "and the size below clearly does not (the 99% interval of its ratio to the best is under the share plus the 5% margin)".to_string()
        };
        let e = self.entry(best);
        format!(
            "{key}={label} is the smallest {key} whose median reaches {fraction} of the best's (median {} at {}, n={}), {below}",
            format_figure(self.goal.metric(), e.center().unwrap_or(0.0)),
            self.space.label(best),
            e.n()
        )
    }

    /// Why `auto` (`best`) is the answer: the largest size listed, `key=label`, clearly
    /// misses the share of it.
    fn auto_why(&self, key: &str, label: &str, fraction: f64, best: &Point) -> String {
        let e = self.entry(best);
        format!(
            "no {key} listed reaches {fraction} of the kernel's autotuning (median {} at {}, n={}): {key}={label}, the largest, clearly misses it",
            format_figure(self.goal.metric(), e.center().unwrap_or(0.0)),
            self.space.label(best),
            e.n()
        )
    }

    /// The measured candidate with the best median goal figure among those whose summary
    /// `ok` accepts.
    pub(super) fn best_by_center(&self, ok: impl Fn(&Summary) -> bool) -> Option<Point> {
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
    pub(super) fn knee_guess(
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
        // Each with what its guess rests on: a size the race did not run has only its
        // screening tests.
        let evidence = |p: &Point| match self.stat(p) {
            Some(s) => format!(
                "{} (mean {}, n={})",
                self.space.label(p),
                format_figure(self.goal.metric(), s.mean),
                s.n
            ),
            None => format!("{} (no test measured it)", self.space.label(p)),
        };
        let why = format!(
            "whether {} reaches {} ({fraction} × the best's mean) cannot be told ({stop}); {} is the smallest that may, within the constraints",
            std::iter::once(&pick)
                .chain(&tied)
                .map(evidence)
                .collect::<Vec<_>>()
                .join(" or "),
            format_figure(self.goal.metric(), t),
            self.space.label(&pick)
        );
        self.settle(pick, tied, Status::Inconclusive, why)
    }

    /// The answer of `F*max`, checked against the constraints.
    pub(super) fn settle(
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
            self.bench.check_stop()?;
            let figures = self.bench.test(near, true)?;
            self.count("baseline");
            self.baseline_tests += 1;
            if let Some(f) = &figures {
                self.baseline.push(f.clone());
            }
            self.baseline_row(figures.as_ref())?;
            self.bench.check_stop()?;
        }
        Ok(())
    }

    /// tune.csv's row of one baseline test.
    pub(super) fn baseline_row(&mut self, figures: Option<&Figures>) -> Result<(), TuneError> {
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
