//! The search's screening: every value of a list once, a golden-section search along a
//! size, and the knee's bisection.

use super::*;

impl<B: Bench> Search<'_, B> {
    /// Every value of a list dimension once.
    pub(super) fn each_value(&mut self, at: &Point, d: usize) -> Result<Point, TuneError> {
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
    pub(super) fn golden(
        &mut self,
        at: &Point,
        d: usize,
        order: &[usize],
    ) -> Result<Point, TuneError> {
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
    pub(super) fn knee(
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
}
