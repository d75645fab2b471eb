//! What `tune` optimises and what it must respect: `--goal` and `--constraint`, parsed
//! into figures of a summary row (`goodput` is `goodput_bps`, `rtt_p99` is `rtt_p99_ns`),
//! with the units a user types (`2ms`, `500M`, `0.1%`).

use std::collections::BTreeMap;

use thiserror::Error;

pub use crate::output::metric::Metric;
use crate::output::summary::SummaryRow;
use crate::spec::units::{parse_duration, parse_rate};

/// A `--goal` or `--constraint` that does not parse: which option, its text, and what is
/// wrong with it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("--{option} '{text}': {problem}")]
pub struct GoalError {
    /// `goal` or `constraint`.
    pub option: &'static str,
    pub text: String,
    pub problem: GoalProblem,
}

/// What is wrong with a `--goal` or `--constraint`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GoalProblem {
    #[error("expected {GOALS}")]
    UnknownGoal,
    #[error("the right side is a share of the best, from 0 to 1, e.g. 0.95*max")]
    BadShare,
    #[error(
        "expected FIGURE<LIMIT or FIGURE>LIMIT, e.g. rtt_p99<2ms, lost<0.1%, sender_cpu_pct<50"
    )]
    NoComparison,
    #[error("no limit after the comparison")]
    NoLimit,
    /// A round-trip limit given as a bare number.
    #[error("give the limit a unit, e.g. {figure}<{value}ms")]
    NoUnit { figure: String, value: String },
    #[error(transparent)]
    Unit(#[from] crate::spec::units::UnitError),
    #[error("'{0}' is not a number")]
    NotNumber(String),
    /// A figure that is not measured; `hint` names the nearest or lists the known ones.
    #[error("'{figure}' is not a measured figure ({hint})")]
    UnknownFigure { figure: String, hint: String },
}

/// The figures of one test. Only measured figures are present.
pub type Figures = BTreeMap<Metric, f64>;

/// The measured figures of a summary row.
pub fn figures_of(row: &SummaryRow) -> Figures {
    Metric::ALL
        .into_iter()
        .filter_map(|m| m.of(row).map(|v| (m, v)))
        .collect()
}

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    Maximise,
    Minimise,
}

/// `--goal`.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal {
    /// Maximise or minimise one figure (a summary column).
    Optimise { metric: Metric, sense: Sense },
    /// The smallest buffers (sizes) whose figure reaches `fraction` of the best measured.
    Fraction { metric: Metric, fraction: f64 },
}

const GOALS: &str =
    "goodput, transactions, rtt_p50, rtt_p99, rtt_p999, or a share of the best such as \"goodput>=0.95*max\"";

impl Goal {
    pub fn parse(text: &str) -> Result<Goal, GoalError> {
        let bad = |problem| GoalError {
            option: "goal",
            text: text.to_string(),
            problem,
        };
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some((lhs, rhs)) = t.split_once(">=") {
            let metric = goal_metric(lhs)
                .filter(|(_, s)| *s == Sense::Maximise)
                .ok_or_else(|| bad(GoalProblem::UnknownGoal))?
                .0;
            let fraction = rhs
                .strip_suffix("*max")
                .and_then(|f| f.parse::<f64>().ok())
                .filter(|f| *f > 0.0 && *f <= 1.0)
                .ok_or_else(|| bad(GoalProblem::BadShare))?;
            return Ok(Goal::Fraction { metric, fraction });
        }
        let (metric, sense) = goal_metric(&t).ok_or_else(|| bad(GoalProblem::UnknownGoal))?;
        Ok(Goal::Optimise { metric, sense })
    }

    /// The summary column the goal is about.
    pub fn metric(&self) -> Metric {
        match self {
            Goal::Optimise { metric, .. } | Goal::Fraction { metric, .. } => *metric,
        }
    }

    pub fn sense(&self) -> Sense {
        match self {
            Goal::Optimise { sense, .. } => *sense,
            Goal::Fraction { .. } => Sense::Maximise,
        }
    }

    /// How the user would write it back.
    pub fn describe(&self) -> String {
        match self {
            Goal::Optimise { metric, sense } => format!(
                "{} {}",
                if *sense == Sense::Maximise {
                    "maximise"
                } else {
                    "minimise"
                },
                short_name(*metric)
            ),
            Goal::Fraction { metric, fraction } => {
                format!("{}>={fraction}*max", short_name(*metric))
            }
        }
    }
}

/// A goal's figure: the column and which way is better.
fn goal_metric(name: &str) -> Option<(Metric, Sense)> {
    match name {
        "goodput" | "goodput_bps" => Some((Metric::GoodputBps, Sense::Maximise)),
        "transactions" | "transactions_per_s" => Some((Metric::TransactionsPerS, Sense::Maximise)),
        "rtt_p50" | "rtt_p90" | "rtt_p99" | "rtt_p999" | "rtt_max" | "rtt_mean" => {
            Metric::of_column(&format!("{name}_ns")).map(|m| (m, Sense::Minimise))
        }
        "rtt_p50_ns" | "rtt_p90_ns" | "rtt_p99_ns" | "rtt_p999_ns" => {
            Metric::of_column(name).map(|m| (m, Sense::Minimise))
        }
        _ => None,
    }
}

/// A column's name as the user writes it: `rtt_p99` for `rtt_p99_ns`.
pub fn short_name(metric: Metric) -> &'static str {
    match metric {
        Metric::GoodputBps => "goodput",
        Metric::TransactionsPerS => "transactions",
        m => m.column().strip_suffix("_ns").unwrap_or(m.column()),
    }
}

/// A figure for reading: `31.2 Gbit/s`, `45.1us`, `12.5`.
pub fn format_figure(metric: Metric, v: f64) -> String {
    let metric = metric.column();
    if metric.ends_with("_bps") {
        crate::spec::units::format_bps(v)
    } else if metric.ends_with("_ns") {
        crate::spec::units::format_ns(v.round().max(0.0) as u64)
    } else if metric.ends_with("_pct") {
        format!("{v:.3}%")
    } else if metric.ends_with("_per_s") {
        format!("{v:.0}/s")
    } else {
        format!("{v:.4}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// `--constraint rtt_p99<2ms`: a limit on one measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// As written.
    pub text: String,
    /// The summary column (or `lost_pct`).
    pub metric: Metric,
    pub op: Op,
    /// In the column's unit (ns, bits/s, percent, ...).
    pub limit: f64,
}

/// The figures a constraint may name by their column, beyond the short names and the
/// round trips.
const NUMERIC_COLUMNS: [Metric; 18] = [
    Metric::GoodputBps,
    Metric::Transactions,
    Metric::TransactionsPerS,
    Metric::Lost,
    Metric::LostPct,
    Metric::Reordered,
    Metric::Duplicated,
    Metric::TcpRetrans,
    Metric::TcpBytesRetrans,
    Metric::SenderCpuPct,
    Metric::ReceiverCpuPct,
    Metric::SenderRssKib,
    Metric::ReceiverRssKib,
    Metric::SndbufEff,
    Metric::RcvbufEff,
    Metric::RrTimeouts,
    Metric::TcpRttUs,
    Metric::TcpMinRttUs,
];

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, GoalError> {
        let bad = |problem| GoalError {
            option: "constraint",
            text: text.to_string(),
            problem,
        };
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (at, op, len) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|o| t.find(o).map(|i| (i, *o, o.len())))
            .ok_or_else(|| bad(GoalProblem::NoComparison))?;
        let op = match op {
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            _ => Op::Gt,
        };
        let (name, value) = (&t[..at], &t[at + len..]);
        if value.is_empty() {
            return Err(bad(GoalProblem::NoLimit));
        }
        let (metric, limit) = Self::figure(name, value).map_err(bad)?;
        Ok(Constraint {
            text: t,
            metric,
            op,
            limit,
        })
    }

    /// The figure a constraint names and its limit in the figure's unit.
    fn figure(name: &str, value: &str) -> Result<(Metric, f64), GoalProblem> {
        let column = |n: &str| Metric::of_column(n).expect("a metric's own column");
        Ok(match name {
            "rtt_p50" | "rtt_p90" | "rtt_p99" | "rtt_p999" | "rtt_max" | "rtt_mean" => {
                if value.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return Err(GoalProblem::NoUnit {
                        figure: name.to_string(),
                        value: value.to_string(),
                    });
                }
                let d = parse_duration(value)?;
                (column(&format!("{name}_ns")), d.as_nanos() as f64)
            }
            "goodput" | "goodput_bps" => {
                let r = parse_rate(value)?;
                (Metric::GoodputBps, r as f64)
            }
            "lost" if value.ends_with('%') => (Metric::LostPct, parse_plain(value)?),
            "transactions" => (Metric::TransactionsPerS, parse_plain(value)?),
            n => match Metric::of_column(n).filter(|m| m.is_rtt() || NUMERIC_COLUMNS.contains(m)) {
                Some(m) => (m, parse_plain(value)?),
                None => {
                    let mut known: Vec<&str> = vec![
                        "goodput", "rtt_p50", "rtt_p90", "rtt_p99", "rtt_p999", "rtt_max",
                        "rtt_mean",
                    ];
                    known.extend(NUMERIC_COLUMNS.map(Metric::column));
                    let hint = match crate::spec::workload::nearest_key(n, &known) {
                        Some(near) => format!("did you mean '{near}'?"),
                        None => format!("known: {}", known.join(", ")),
                    };
                    return Err(GoalProblem::UnknownFigure {
                        figure: n.to_string(),
                        hint,
                    });
                }
            },
        })
    }

    /// Whether a value meets the constraint.
    pub fn met_by(&self, v: f64) -> bool {
        match self.op {
            Op::Lt => v < self.limit,
            Op::Le => v <= self.limit,
            Op::Gt => v > self.limit,
            Op::Ge => v >= self.limit,
        }
    }

    /// How far a value misses the limit, relative to it (0 when met): what makes one
    /// failing candidate closer than another.
    pub fn shortfall(&self, v: f64) -> f64 {
        if self.met_by(v) {
            return 0.0;
        }
        let scale = self.limit.abs().max(1e-9);
        match self.op {
            Op::Lt | Op::Le => (v - self.limit) / scale,
            Op::Gt | Op::Ge => (self.limit - v) / scale,
        }
        .max(f64::MIN_POSITIVE)
    }
}

fn parse_plain(value: &str) -> Result<f64, GoalProblem> {
    value
        .trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| GoalProblem::NotNumber(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_parse_to_columns_and_directions() {
        assert_eq!(
            Goal::parse("goodput").unwrap(),
            Goal::Optimise {
                metric: Metric::GoodputBps,
                sense: Sense::Maximise
            }
        );
        assert_eq!(Goal::parse("rtt_p999").unwrap().metric(), Metric::RttP999Ns);
        assert_eq!(Goal::parse("rtt_p50").unwrap().sense(), Sense::Minimise);
        assert_eq!(
            Goal::parse("transactions").unwrap().metric(),
            Metric::TransactionsPerS
        );
        assert_eq!(
            Goal::parse("goodput >= 0.95*max").unwrap(),
            Goal::Fraction {
                metric: Metric::GoodputBps,
                fraction: 0.95
            }
        );
        assert_eq!(
            Goal::parse("goodput>=0.9*max").unwrap().describe(),
            "goodput>=0.9*max"
        );
        for bad in [
            "",
            "speed",
            "goodput>=2*max",
            "goodput>=0.95",
            "rtt_p99>=0.9*max",
            "goodput>=x*max",
        ] {
            let e = Goal::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--goal '{bad}':")), "{e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn constraints_take_units() {
        let c = Constraint::parse("rtt_p99<2ms").unwrap();
        assert_eq!((c.metric, c.op, c.limit), (Metric::RttP99Ns, Op::Lt, 2e6));
        assert!(c.met_by(1.9e6) && !c.met_by(2e6));
        assert!((c.shortfall(3e6) - 0.5).abs() < 1e-12);
        let c = Constraint::parse("lost < 0.1%").unwrap();
        assert_eq!((c.metric, c.limit), (Metric::LostPct, 0.1));
        let c = Constraint::parse("sender_cpu_pct<50").unwrap();
        assert_eq!((c.metric, c.limit), (Metric::SenderCpuPct, 50.0));
        let c = Constraint::parse("goodput>=500M").unwrap();
        assert_eq!((c.metric, c.op, c.limit), (Metric::GoodputBps, Op::Ge, 5e8));
        assert_eq!(Constraint::parse("rtt_p99<1ns").unwrap().limit, 1.0);
        assert_eq!(Constraint::parse("lost<3").unwrap().metric, Metric::Lost);
        for bad in [
            "rtt_p99",
            "rtt_p99<",
            "rtt_p99<2",
            "rtt_p99<fast",
            "latency<2ms",
            "sender_cpu<50",
            "sender_cpu_pct<lots",
        ] {
            let e = Constraint::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--constraint '{bad}':")), "{e}");
        }
        assert!(Constraint::parse("sender_cpu<50")
            .unwrap_err()
            .to_string()
            .contains("did you mean 'sender_cpu_pct'"));
        // What went wrong is a variant, not only a message.
        let e = Constraint::parse("rtt_p99<2").unwrap_err();
        assert_eq!(e.option, "constraint");
        assert!(matches!(e.problem, GoalProblem::NoUnit { ref figure, .. } if figure == "rtt_p99"));
        assert!(matches!(
            Constraint::parse("rtt_p99<fast").unwrap_err().problem,
            GoalProblem::Unit(_)
        ));
        assert_eq!(
            Goal::parse("speed").unwrap_err().problem,
            GoalProblem::UnknownGoal
        );
    }

    #[test]
    fn figures_come_from_the_summary_columns() {
        let row = SummaryRow {
            goodput_bps: Some(1e9),
            rtt_p99_ns: Some(5000),
            lost: Some(5),
            messages_sent: Some(1000),
            sender_cpu_pct: Some(12.5),
            ..Default::default()
        };
        let f = figures_of(&row);
        assert_eq!(f[&Metric::GoodputBps], 1e9);
        assert_eq!(f[&Metric::RttP99Ns], 5000.0);
        assert_eq!(f[&Metric::LostPct], 0.5);
        assert_eq!(f[&Metric::SenderCpuPct], 12.5);
        assert!(!f.contains_key(&Metric::RttP50Ns), "not measured: absent");
    }
}
