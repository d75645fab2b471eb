//! Comparing results directories: cases paired by their knob values, the ratio of each
//! figure, and a verdict that does not call noise a change (Welch's t-test on the
//! repetitions, at 95%).

use super::{Case, Rep, ResultsDir};
use crate::output::metric::Metric;
use crate::results::stats::t_975;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Improved,
    Regressed,
    NoChange,
    /// Fewer than two repetitions on a side: noise cannot be told from change.
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::NoChange => "no change",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Welch's two-sample t-test: is `other`'s mean different from `base`'s at 95%?
/// Returns the t statistic and the Welch–Satterthwaite degrees of freedom.
pub fn welch(base: &[f64], other: &[f64]) -> Option<(f64, f64)> {
    if base.len() < 2 || other.len() < 2 {
        return None;
    }
    let (m1, v1) = mean_var(base);
    let (m2, v2) = mean_var(other);
    let (s1, s2) = (v1 / base.len() as f64, v2 / other.len() as f64);
    let se2 = s1 + s2;
    if se2 == 0.0 {
        // No spread at all: any difference is real, none is none.
        return Some((
            if m1 == m2 {
                0.0
            } else {
                f64::INFINITY.copysign(m2 - m1)
            },
            (base.len() + other.len() - 2) as f64,
        ));
    }
    let t = (m2 - m1) / se2.sqrt();
    let df = se2.powi(2)
        / (s1.powi(2) / (base.len() - 1) as f64 + s2.powi(2) / (other.len() - 1) as f64);
    Some((t, df))
}

/// The verdict on one figure. `higher_is_better`: goodput yes, latency no.
pub fn verdict(base: &[f64], other: &[f64], higher_is_better: bool) -> Verdict {
    let Some((t, df)) = welch(base, other) else {
        return Verdict::Inconclusive;
    };
    let critical = t_975(df.floor().max(1.0) as u64);
    if t.abs() <= critical {
        Verdict::NoChange
    } else if (t > 0.0) == higher_is_better {
        Verdict::Improved
    } else {
        Verdict::Regressed
    }
}

/// A figure that comparisons show: its summary.csv column, what a reader calls it, which
/// way is better. Its unit is chosen from the values shown ([`Metric::unit_for`]).
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub metric: Metric,
    pub name: &'static str,
    pub higher_is_better: bool,
    pub pick: fn(&Rep) -> Option<f64>,
}

/// The figures compared.
pub const FIGURES: &[Figure] = &[
    Figure {
        metric: Metric::GoodputBps,
        name: "goodput",
        higher_is_better: true,
        pick: |r| r.goodput_bps,
    },
    Figure {
        metric: Metric::TransactionsPerS,
        name: "transactions",
        higher_is_better: true,
        pick: |r| r.transactions_per_s,
    },
    Figure {
        metric: Metric::RttP50Ns,
        name: "p50 round trip",
        higher_is_better: false,
        pick: |r| r.rtt_p50_ns,
    },
    Figure {
        metric: Metric::RttP99Ns,
        name: "p99 round trip",
        higher_is_better: false,
        pick: |r| r.rtt_p99_ns,
    },
    Figure {
        metric: Metric::RttP999Ns,
        name: "p99.9 round trip",
        higher_is_better: false,
        pick: |r| r.rtt_p999_ns,
    },
];

/// One figure of one paired case.
#[derive(Debug, Clone)]
pub struct Change {
    pub figure: Figure,
    pub base_mean: f64,
    pub other_mean: f64,
    pub ratio: f64,
    pub verdict: Verdict,
}

/// A case found in both directories.
#[derive(Debug, Clone)]
pub struct Pair<'a> {
    pub key: String,
    pub base: &'a Case,
    pub other: &'a Case,
    pub changes: Vec<Change>,
}

/// Pairs the cases of `other` with those of `base` by their knob values.
pub fn pair<'a>(base: &'a ResultsDir, other: &'a ResultsDir) -> Vec<Pair<'a>> {
    let others: std::collections::HashMap<String, &Case> =
        other.cases.iter().map(|o| (o.key(), o)).collect();
    let mut out = Vec::new();
    for b in &base.cases {
        let key = b.key();
        let Some(&o) = others.get(&key) else {
            continue;
        };
        let mut changes = Vec::new();
        for figure in FIGURES {
            let (bv, ov) = (b.rep_values(figure.pick), o.rep_values(figure.pick));
            if bv.is_empty() || ov.is_empty() {
                continue;
            }
            let base_mean = bv.iter().sum::<f64>() / bv.len() as f64;
            let other_mean = ov.iter().sum::<f64>() / ov.len() as f64;
            changes.push(Change {
                figure: *figure,
                base_mean,
                other_mean,
                ratio: if base_mean != 0.0 {
                    other_mean / base_mean
                } else {
                    f64::NAN
                },
                verdict: verdict(&bv, &ov, figure.higher_is_better),
            });
        }
        out.push(Pair {
            key,
            base: b,
            other: o,
            changes,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::outcome::Status;
    use crate::output::cases::CaseRow;
    use crate::output::summary::SummaryRow;
    use crate::report::{Case, ResultsDir};

    fn case(id: u32, label: &str, proto: &str, goodputs: &[f64]) -> Case {
        let mut c = Case::new(CaseRow {
            case: id,
            case_label: label.into(),
            protocol: proto.parse().unwrap(),
            pattern: crate::spec::config::Pattern::Stream,
            direction: crate::spec::config::Direction::Forward,
            flows: 1,
            msg_size: 131072,
            ..Default::default()
        });
        for (i, g) in goodputs.iter().enumerate() {
            c.add_rep(SummaryRow {
                case: id,
                repetition: i as u32 + 1,
                status: Status::Ok,
                goodput_bps: Some(*g),
                ..Default::default()
            });
        }
        c
    }

    fn dir(cases: Vec<Case>) -> ResultsDir {
        ResultsDir {
            path: "x".into(),
            name: "x".into(),
            meta: crate::report::tests::meta(),
            cases_total: cases.len() as u64,
            rows_total: 0,
            matrix: Vec::new(),
            tune: None,
            sizes: Vec::new(),
            cases,
        }
    }

    #[test]
    fn cases_pair_by_their_knob_values_not_their_numbers() {
        let base = dir(vec![
            case(1, "sndbuf=64K", "tcp", &[10.0, 12.0, 11.0]),
            case(2, "sndbuf=1M", "tcp", &[20.0, 21.0]),
            case(3, "sndbuf=64K", "udp", &[5.0, 5.0]),
        ]);
        // Another run of the same workload, in another order, one case missing, one new.
        let other = dir(vec![
            case(1, "sndbuf=1M", "tcp", &[20.5, 20.5]),
            case(2, "sndbuf=64K", "tcp", &[14.0, 15.0, 16.0, 15.0]),
            case(3, "sndbuf=4M", "tcp", &[30.0, 31.0]),
        ]);
        let pairs = pair(&base, &other);
        assert_eq!(pairs.len(), 2, "udp 64K has no partner, 4M no baseline");
        assert_eq!((pairs[0].base.id(), pairs[0].other.id()), (1, 2));
        let g = &pairs[0].changes[0];
        assert_eq!(g.figure.metric, Metric::GoodputBps);
        assert!((g.ratio - 15.0 / 11.0).abs() < 1e-12);
        assert_eq!(g.verdict, Verdict::Improved, "t = 5.66 beyond t(0.975, 3)");
        assert_eq!(pairs[1].changes[0].verdict, Verdict::NoChange);
    }

    #[test]
    fn welch_matches_a_hand_computed_example() {
        // base: 10, 12, 11 (mean 11, var 1); other: 14, 15, 16, 15 (mean 15, var 2/3).
        // se^2 = 1/3 + (2/3)/4 = 0.5; t = 4 / sqrt(0.5) = 5.656854;
        // df = 0.25 / ((1/3)^2/2 + (1/6)^2/3) = 0.25 / (0.0555556 + 0.0092593) = 3.857143.
        let (t, df) = welch(&[10.0, 12.0, 11.0], &[14.0, 15.0, 16.0, 15.0]).unwrap();
        assert!((t - 5.656_854).abs() < 1e-5, "{t}");
        assert!((df - 3.857_143).abs() < 1e-5, "{df}");
    }

    #[test]
    fn verdicts_follow_significance_and_direction() {
        let base = [10.0, 12.0, 11.0];
        let better = [14.0, 15.0, 16.0, 15.0];
        // t = 5.66 > t(0.975, 3) = 3.182.
        assert_eq!(verdict(&base, &better, true), Verdict::Improved);
        assert_eq!(
            verdict(&base, &better, false),
            Verdict::Regressed,
            "higher latency is worse"
        );
        // Overlapping noise: 11 +- 1 against 11.5 +- 1.
        assert_eq!(verdict(&base, &[10.5, 12.5, 11.5], true), Verdict::NoChange);
        assert_eq!(verdict(&[10.0], &better, true), Verdict::Inconclusive);
        assert_eq!(verdict(&[5.0, 5.0], &[5.0, 5.0], true), Verdict::NoChange);
        assert_eq!(verdict(&[5.0, 5.0], &[6.0, 6.0], true), Verdict::Improved);
    }
}
