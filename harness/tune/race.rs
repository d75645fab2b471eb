//! The decisions of `tune`'s race, on measurements alone: which finalists are clearly
//! worse than the best, which are equivalent to it (within [`EQUIVALENT`]), which are
//! still open, and what the answer is. Pure functions, so every decision is tested on
//! synthetic figures (see the tests below); `search` feeds them the tests it ran.
//!
//! Two finalists are told apart by the 99% interval of their ratio: Student's t on the
//! difference of the logarithms' means, with the pooled degrees of freedom (n1 + n2 − 2),
//! the same log scale as cases.csv's intervals. 99% rather than 95%, because the race
//! looks again after every test and compares several finalists. From two repetitions
//! each it decides what is clearly apart (13 Mbit/s against 31 Gbit/s, or 8 against 22
//! Gbit/s) and leaves open what is not. One repetition is never judged: a finalist is
//! raced to two at least.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::results::stats::ci95_nonnegative;

/// The confidence of "clearly apart".
pub const CONFIDENCE: f64 = 0.99;

/// t((1 + CONFIDENCE) / 2, df).
fn t_crit(df: u64) -> f64 {
    StudentsT::new(0.0, 1.0, df.max(1) as f64)
        .map(|t| t.inverse_cdf(0.5 + CONFIDENCE / 2.0))
        .unwrap_or(f64::INFINITY)
}

/// Two figures whose medians are within this share of each other are the same for any
/// practical purpose: the cheaper setting is then the answer.
pub const EQUIVALENT: f64 = 0.05;

/// The fewest repetitions a finalist is judged on.
pub const MIN_JUDGED: usize = 2;

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// A finalist: its goal figure's repetitions and what it costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The goal figure of each ok repetition.
    pub values: Vec<f64>,
    /// What makes one setting cheaper than another: the bytes its sizes ask for, then
    /// its place in the matrix (earlier is cheaper among equal sizes).
    pub cost: (u64, usize),
}

impl Entry {
    pub fn n(&self) -> usize {
        self.values.len()
    }

    pub fn mean(&self) -> Option<f64> {
        (!self.values.is_empty())
            .then(|| self.values.iter().sum::<f64>() / self.values.len() as f64)
    }

    /// The median: what the race's point decisions (the best, equivalence, reaching a
    /// share) go by. A loaded machine starves a test now and then, and one starved
    /// repetition pulls a mean far down; a median holds.
    pub fn center(&self) -> Option<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }

    /// The 95% interval, from [`MIN_JUDGED`] repetitions up.
    pub fn interval(&self) -> Option<(f64, f64)> {
        if self.n() < MIN_JUDGED {
            return None;
        }
        ci95_nonnegative(&self.values)
    }
}

/// The 99% interval of `a`'s figure over `b`'s (the ratio of their geometric means):
/// Student's t on the difference of the logarithms' means, pooled degrees of freedom.
/// Both judged, every value positive.
pub fn ratio_interval(a: &Entry, b: &Entry) -> Option<(f64, f64)> {
    if a.n() < MIN_JUDGED || b.n() < MIN_JUDGED {
        return None;
    }
    let logs = |e: &Entry| -> Option<(f64, f64, f64)> {
        if !e.values.iter().all(|v| v.is_finite() && *v > 0.0) {
            return None;
        }
        let n = e.n() as f64;
        let m = e.values.iter().map(|v| v.ln()).sum::<f64>() / n;
        let var = e.values.iter().map(|v| (v.ln() - m).powi(2)).sum::<f64>() / (n - 1.0);
        Some((m, var, n))
    };
    let ((ma, va, na), (mb, vb, nb)) = (logs(a)?, logs(b)?);
    let se = (va / na + vb / nb).sqrt();
    let half = t_crit((a.n() + b.n() - 2) as u64) * se;
    let d = ma - mb;
    Some(((d - half).exp(), (d + half).exp()))
}

/// Whether `a` is clearly better than `b`: both judged, the 99% interval of their ratio
/// clear of 1 (or, with a zero among the values, their own intervals apart).
pub fn clearly_better(a: &Entry, b: &Entry, better: Better) -> bool {
    if let Some((lo, hi)) = ratio_interval(a, b) {
        return match better {
            Better::Higher => lo > 1.0,
            Better::Lower => hi < 1.0,
        };
    }
    let (Some((al, ah)), Some((bl, bh))) = (a.interval(), b.interval()) else {
        return false;
    };
    match better {
        Better::Higher => al > bh,
        Better::Lower => ah < bl,
    }
}

/// Whether `a` and `b` are equivalent: both judged, their medians within [`EQUIVALENT`]
/// of the larger.
pub fn equivalent(a: &Entry, b: &Entry) -> bool {
    if a.n() < MIN_JUDGED || b.n() < MIN_JUDGED {
        return false;
    }
    let (Some(ma), Some(mb)) = (a.center(), b.center()) else {
        return false;
    };
    let top = ma.abs().max(mb.abs());
    top == 0.0 || (ma - mb).abs() <= EQUIVALENT * top
}

/// Where a race stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The finalist with the best median.
    pub best: usize,
    /// The answer if the race ended now: the cheapest of the best and its equivalents.
    pub answer: usize,
    /// Equivalent to the best (the answer among them, unless it is the best).
    pub equivalent: Vec<usize>,
    /// Clearly worse than the best.
    pub dropped: Vec<usize>,
    /// Neither: the interval of their ratio to the best includes 1 and their medians are
    /// further than [`EQUIVALENT`] from it (or they are not judged yet). More
    /// repetitions of these and of the best decide.
    pub open: Vec<usize>,
}

impl Judgement {
    /// Whether the race is decided.
    pub fn decided(&self) -> bool {
        self.open.is_empty()
    }
}

/// The race over `entries` (at least one, each with a value): see [`Judgement`].
///
/// With `share` (a goal such as `goodput>=0.95*max` over candidates that are not sizes),
/// a finalist reaching that share of the best's median counts as equivalent, and only an
/// undecided finalist cheaper than the answer keeps the race open: a dearer one cannot
/// change "the cheapest that reaches the share".
pub fn judge(entries: &[Entry], better: Better, share: Option<f64>) -> Judgement {
    let key = |i: usize| {
        let m = entries[i].center().unwrap_or(f64::NAN);
        match better {
            Better::Higher => m,
            Better::Lower => -m,
        }
    };
    let best = (0..entries.len())
        .max_by(|&a, &b| {
            key(a)
                .total_cmp(&key(b))
                .then(entries[b].cost.cmp(&entries[a].cost))
        })
        .unwrap_or(0);
    let mut j = Judgement {
        best,
        answer: best,
        equivalent: Vec::new(),
        dropped: Vec::new(),
        open: Vec::new(),
    };
    let mut undecided = Vec::new();
    for (i, e) in entries.iter().enumerate().filter(|(i, _)| *i != best) {
        if clearly_better(&entries[best], e, better) {
            j.dropped.push(i);
        } else if equivalent(&entries[best], e)
            || share.is_some_and(|f| reaches_share(e, &entries[best], f))
        {
            j.equivalent.push(i);
        } else {
            undecided.push(i);
        }
    }
    j.answer = std::iter::once(best)
        .chain(j.equivalent.iter().copied())
        .min_by_key(|&i| entries[i].cost)
        .unwrap_or(best);
    let answer_cost = entries[j.answer].cost;
    j.open = undecided
        .into_iter()
        .filter(|&i| {
            share.is_none() || entries[i].n() < MIN_JUDGED || entries[i].cost < answer_cost
        })
        .collect();
    j
}

/// Whether `e` reaches `fraction` of `best`'s median (both judged).
fn reaches_share(e: &Entry, best: &Entry, fraction: f64) -> bool {
    best.n() >= MIN_JUDGED && best.center().is_some_and(|b| reaches(e, b * fraction))
}

/// Where the knee of a share-of-the-best goal stands: the smallest size whose figure
/// reaches `fraction` of the best's median.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knee {
    /// The knee reaches the share and the size below clearly does not (or there is none).
    Found,
    /// The size below reaches the share too, or is equivalent to the knee: it is the
    /// cheaper answer.
    Down,
    /// The knee clearly misses the share: the knee is above it.
    Up,
    /// More repetitions needed (of the knee, the size below and the best).
    Open,
}

/// Whether `e` reaches the share `threshold` (judged on its median).
pub fn reaches(e: &Entry, threshold: f64) -> bool {
    e.n() >= MIN_JUDGED && e.center().is_some_and(|m| m >= threshold)
}

/// Whether `e` clearly misses `fraction` of `best`: the 99% interval of their ratio
/// below the fraction (or, with a zero among the values, `e`'s own interval below the
/// share of `best`'s median).
pub fn clearly_short(e: &Entry, best: &Entry, fraction: f64) -> bool {
    if let Some((_, hi)) = ratio_interval(e, best) {
        return hi < fraction;
    }
    let threshold = best.center().unwrap_or(0.0) * fraction;
    e.interval().is_some_and(|(_, hi)| hi < threshold)
}

/// The knee's standing against the best's median times `fraction`.
pub fn judge_knee(below: Option<&Entry>, knee: &Entry, best: &Entry, fraction: f64) -> Knee {
    let Some(threshold) = best
        .center()
        .filter(|_| best.n() >= MIN_JUDGED)
        .map(|m| m * fraction)
    else {
        return Knee::Open;
    };
    // The size below reaching the share is the cheaper answer, whatever the knee's.
    if below.is_some_and(|b| reaches(b, threshold)) {
        return Knee::Down;
    }
    if reaches(knee, threshold) {
        return match below {
            None => Knee::Found,
            Some(b) if clearly_short(b, best, fraction) => Knee::Found,
            Some(b) if equivalent(b, knee) => Knee::Down,
            Some(_) => Knee::Open,
        };
    }
    if clearly_short(knee, best, fraction) {
        return Knee::Up;
    }
    Knee::Open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(values: &[f64], bytes: u64) -> Entry {
        Entry {
            values: values.to_vec(),
            cost: (bytes, 0),
        }
    }

    #[test]
    fn equivalent_finalists_answer_the_cheapest() {
        // 64K, 256K and 1M all within 5% of each other: 64K, though 1M has the best mean.
        let entries = [
            e(&[21.0e9, 21.6e9], 256 << 10),
            e(&[21.3e9, 21.9e9], 1 << 20),
            e(&[20.9e9, 21.2e9], 64 << 10),
        ];
        let j = judge(&entries, Better::Higher, None);
        assert_eq!(j.best, 1);
        assert!(j.decided(), "{j:?}");
        assert_eq!(j.answer, 2, "{j:?}");
        // For a figure to minimise as well.
        let entries = [e(&[100.0, 102.0], 1 << 20), e(&[103.0, 104.0], 16 << 10)];
        let j = judge(&entries, Better::Lower, None);
        assert_eq!((j.best, j.answer), (0, 1));
        assert!(j.decided());
    }

    #[test]
    fn clearly_separate_intervals_decide_at_two_repetitions() {
        // 13-16 Mbit/s against 31-40 Gbit/s: a thousand times apart.
        let entries = [e(&[13e6, 16e6], 4 << 10), e(&[31e9, 40e9], 4 << 20)];
        let j = judge(&entries, Better::Higher, None);
        assert_eq!(j.best, 1);
        assert_eq!(j.dropped, vec![0]);
        assert!(j.decided());
        assert_eq!(j.answer, 1);
        assert!(clearly_better(&entries[1], &entries[0], Better::Higher));
        // 6-8 against 21-23 Gbit/s: a factor of three, told apart at two each.
        let entries = [
            e(&[6.25e9, 7.28e9], 32 << 10),
            e(&[23.15e9, 21.95e9], 4 << 20),
        ];
        assert_eq!(judge(&entries, Better::Higher, None).dropped, vec![0]);
        // One repetition each is never judged, however far apart.
        let entries = [e(&[13e6], 4 << 10), e(&[31e9], 4 << 20)];
        let j = judge(&entries, Better::Higher, None);
        assert!(!j.decided(), "{j:?}");
    }

    #[test]
    fn truly_overlapping_intervals_stay_open() {
        // 20 against 24 (a 17% difference), each varying by a third: the intervals
        // overlap, the means are not within 5%: the cheaper one stays open.
        let entries = [
            e(&[16.0, 24.0, 20.0], 64 << 10),
            e(&[20.0, 28.0, 24.0], 1 << 20),
        ];
        let j = judge(&entries, Better::Higher, None);
        assert_eq!(j.best, 1);
        assert_eq!(j.open, vec![0]);
        assert!(!j.decided());
        assert_eq!(j.answer, 1, "the best is the guess meanwhile");
        // A dearer one too: it might yet be the better.
        let entries = [
            e(&[16.0, 24.0, 20.0], 4 << 20),
            e(&[20.0, 28.0, 24.0], 64 << 10),
        ];
        assert_eq!(judge(&entries, Better::Higher, None).open, vec![0]);
        // For a share of the best (goodput>=0.95*max), the cheapest reaching it is the
        // answer, and a dearer undecided one cannot change that.
        let entries = [
            e(&[16.0, 24.0, 20.0], 4 << 20),
            e(&[20.0, 28.0, 24.0], 64 << 10),
        ];
        let j = judge(&entries, Better::Higher, Some(0.95));
        assert!(j.decided(), "{j:?}");
        assert_eq!(j.answer, 1);
    }

    #[test]
    fn the_knee_is_the_smallest_size_reaching_the_share() {
        let best = e(&[47e6, 47.5e6], 4 << 20);
        // 256K reaches 95%, 128K carries half: found.
        let knee = e(&[46.8e6, 47.1e6], 256 << 10);
        let below = e(&[24e6, 25e6], 128 << 10);
        assert_eq!(judge_knee(Some(&below), &knee, &best, 0.95), Knee::Found);
        assert_eq!(judge_knee(None, &knee, &best, 0.95), Knee::Found);
        // The size below reaches it too: down.
        let below = e(&[46e6, 46.5e6], 128 << 10);
        assert_eq!(judge_knee(Some(&below), &knee, &best, 0.95), Knee::Down);
        // Even when the knee itself has not (yet) reached it.
        let short_knee = e(&[40e6, 47e6], 256 << 10);
        assert_eq!(
            judge_knee(Some(&below), &short_knee, &best, 0.95),
            Knee::Down
        );
        // The knee clearly misses: up.
        assert_eq!(
            judge_knee(None, &e(&[24e6, 25e6], 1), &best, 0.95),
            Knee::Up
        );
        // Undecided: the size below at 85-100% of the best; one repetition; no best.
        let below = e(&[40e6, 47e6], 128 << 10);
        assert_eq!(judge_knee(Some(&below), &knee, &best, 0.95), Knee::Open);
        assert_eq!(judge_knee(None, &e(&[47e6], 1), &best, 0.95), Knee::Open);
        assert_eq!(judge_knee(None, &knee, &e(&[47e6], 1), 0.95), Knee::Open);
    }
}
