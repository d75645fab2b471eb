//! What `tune` optimises and what it must respect: `--goal` and `--constraint`, parsed
//! into figures of a summary row (`goodput` is `goodput_bps`, `rtt_p99` is `rtt_p99_ns`),
//! with the units a user types (`2ms`, `500M`, `0.1%`).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::output::summary::SummaryRow;
use crate::spec::units::{parse_duration, parse_rate};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct GoalError(pub String);

/// The figures of one test by summary.csv column name, plus `lost_pct` (datagrams lost
/// over those sent, in percent). Only numeric, measured cells are present.
pub type Figures = BTreeMap<String, f64>;

/// The numeric cells of a summary row.
pub fn figures_of(row: &SummaryRow) -> Figures {
    let mut out = Figures::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(row) {
        for (k, v) in map {
            if let Some(x) = v.as_f64().filter(|x| x.is_finite()) {
                out.insert(k, x);
            }
        }
    }
    if let (Some(lost), true) = (row.lost, row.messages_sent > 0) {
        out.insert(
            "lost_pct".into(),
            lost as f64 * 100.0 / row.messages_sent as f64,
        );
    }
    out
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
    Optimise { metric: String, sense: Sense },
    /// The smallest buffers (sizes) whose figure reaches `fraction` of the best measured.
    Fraction { metric: String, fraction: f64 },
}

const GOALS: &str =
    "goodput, transactions, rtt_p50, rtt_p99, rtt_p999, or a share of the best such as \"goodput>=0.95*max\"";

impl Goal {
    pub fn parse(text: &str) -> Result<Goal, GoalError> {
        let bad = |why: &str| GoalError(format!("--goal '{text}': {why}"));
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some((lhs, rhs)) = t.split_once(">=") {
            let metric = goal_metric(lhs)
                .filter(|(_, s)| *s == Sense::Maximise)
                .ok_or_else(|| bad(&format!("expected {GOALS}")))?
                .0;
            let fraction = rhs
                .strip_suffix("*max")
                .and_then(|f| f.parse::<f64>().ok())
                .filter(|f| *f > 0.0 && *f <= 1.0)
                .ok_or_else(|| {
                    bad("the right side is a share of the best, from 0 to 1, e.g. 0.95*max")
                })?;
            return Ok(Goal::Fraction { metric, fraction });
        }
        let (metric, sense) = goal_metric(&t).ok_or_else(|| bad(&format!("expected {GOALS}")))?;
        Ok(Goal::Optimise { metric, sense })
    }

    /// The summary column the goal is about.
    pub fn metric(&self) -> &str {
        match self {
            Goal::Optimise { metric, .. } | Goal::Fraction { metric, .. } => metric,
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
                short_name(metric)
            ),
            Goal::Fraction { metric, fraction } => {
                format!("{}>={fraction}*max", short_name(metric))
            }
        }
    }
}

/// A goal's figure: the column and which way is better.
fn goal_metric(name: &str) -> Option<(String, Sense)> {
    let (col, sense) = match name {
        "goodput" | "goodput_bps" => ("goodput_bps", Sense::Maximise),
        "transactions" | "transactions_per_s" => ("transactions_per_s", Sense::Maximise),
        "rtt_p50" | "rtt_p90" | "rtt_p99" | "rtt_p999" | "rtt_max" | "rtt_mean" => {
            return Some((format!("{name}_ns"), Sense::Minimise))
        }
        "rtt_p50_ns" | "rtt_p90_ns" | "rtt_p99_ns" | "rtt_p999_ns" => (name, Sense::Minimise),
        _ => return None,
    };
    Some((col.to_string(), sense))
}

/// A column's name as the user writes it: `rtt_p99` for `rtt_p99_ns`.
pub fn short_name(metric: &str) -> &str {
    match metric {
        "goodput_bps" => "goodput",
        "transactions_per_s" => "transactions",
        m => m.strip_suffix("_ns").unwrap_or(m),
    }
}

/// A figure for reading: `31.2 Gbit/s`, `45.1us`, `12.5`.
pub fn format_figure(metric: &str, v: f64) -> String {
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
    pub metric: String,
    pub op: Op,
    /// In the column's unit (ns, bits/s, percent, ...).
    pub limit: f64,
}

/// The numeric summary columns a constraint may name, beyond the short names.
const NUMERIC_COLUMNS: &[&str] = &[
    "goodput_bps",
    "transactions",
    "transactions_per_s",
    "lost",
    "lost_pct",
    "reordered",
    "duplicated",
    "tcp_retrans",
    "tcp_bytes_retrans",
    "sender_cpu_pct",
    "receiver_cpu_pct",
    "sender_rss_kib",
    "receiver_rss_kib",
    "sndbuf_eff",
    "rcvbuf_eff",
    "rr_timeouts",
    "tcp_rtt_us",
    "tcp_min_rtt_us",
];

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, GoalError> {
        let bad = |why: String| GoalError(format!("--constraint '{text}': {why}"));
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (at, op, len) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|o| t.find(o).map(|i| (i, *o, o.len())))
            .ok_or_else(|| {
                bad("expected FIGURE<LIMIT or FIGURE>LIMIT, e.g. rtt_p99<2ms, lost<0.1%, sender_cpu_pct<50".into())
            })?;
        let op = match op {
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            _ => Op::Gt,
        };
        let (name, value) = (&t[..at], &t[at + len..]);
        if value.is_empty() {
            return Err(bad("no limit after the comparison".into()));
        }
        let (metric, limit) = match name {
            "rtt_p50" | "rtt_p90" | "rtt_p99" | "rtt_p999" | "rtt_max" | "rtt_mean" => {
                if value.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return Err(bad(format!("give the limit a unit, e.g. {name}<{value}ms")));
                }
                let d = parse_duration(value).map_err(|e| bad(e.to_string()))?;
                (format!("{name}_ns"), d.as_nanos() as f64)
            }
            "goodput" | "goodput_bps" => {
                let r = parse_rate(value).map_err(|e| bad(e.to_string()))?;
                ("goodput_bps".to_string(), r as f64)
            }
            "lost" if value.ends_with('%') => ("lost_pct".to_string(), parse_plain(value, &bad)?),
            "transactions" => ("transactions_per_s".to_string(), parse_plain(value, &bad)?),
            n if n.ends_with("_ns") && n.starts_with("rtt_") => {
                (n.to_string(), parse_plain(value, &bad)?)
            }
            n if NUMERIC_COLUMNS.contains(&n) => (n.to_string(), parse_plain(value, &bad)?),
            n => {
                let mut known: Vec<&str> = vec![
                    "goodput", "rtt_p50", "rtt_p90", "rtt_p99", "rtt_p999", "rtt_max", "rtt_mean",
                ];
                known.extend(NUMERIC_COLUMNS);
                let hint = match crate::spec::workload::nearest_key(n, &known) {
                    Some(near) => format!("did you mean '{near}'?"),
                    None => format!("known: {}", known.join(", ")),
                };
                return Err(bad(format!("'{n}' is not a measured figure ({hint})")));
            }
        };
        Ok(Constraint {
            text: t,
            metric,
            op,
            limit,
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

fn parse_plain(value: &str, bad: &dyn Fn(String) -> GoalError) -> Result<f64, GoalError> {
    value
        .trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| bad(format!("'{value}' is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_parse_to_columns_and_directions() {
        assert_eq!(
            Goal::parse("goodput").unwrap(),
            Goal::Optimise {
                metric: "goodput_bps".into(),
                sense: Sense::Maximise
            }
        );
        assert_eq!(Goal::parse("rtt_p999").unwrap().metric(), "rtt_p999_ns");
        assert_eq!(Goal::parse("rtt_p50").unwrap().sense(), Sense::Minimise);
        assert_eq!(
            Goal::parse("transactions").unwrap().metric(),
            "transactions_per_s"
        );
        assert_eq!(
            Goal::parse("goodput >= 0.95*max").unwrap(),
            Goal::Fraction {
                metric: "goodput_bps".into(),
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
            let e = Goal::parse(bad).unwrap_err().0;
            assert!(e.starts_with(&format!("--goal '{bad}':")), "{e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn constraints_take_units() {
        let c = Constraint::parse("rtt_p99<2ms").unwrap();
        assert_eq!(
            (c.metric.as_str(), c.op, c.limit),
            ("rtt_p99_ns", Op::Lt, 2e6)
        );
        assert!(c.met_by(1.9e6) && !c.met_by(2e6));
        assert!((c.shortfall(3e6) - 0.5).abs() < 1e-12);
        let c = Constraint::parse("lost < 0.1%").unwrap();
        assert_eq!((c.metric.as_str(), c.limit), ("lost_pct", 0.1));
        let c = Constraint::parse("sender_cpu_pct<50").unwrap();
        assert_eq!((c.metric.as_str(), c.limit), ("sender_cpu_pct", 50.0));
        let c = Constraint::parse("goodput>=500M").unwrap();
        assert_eq!(
            (c.metric.as_str(), c.op, c.limit),
            ("goodput_bps", Op::Ge, 5e8)
        );
        assert_eq!(Constraint::parse("rtt_p99<1ns").unwrap().limit, 1.0);
        assert_eq!(Constraint::parse("lost<3").unwrap().metric, "lost");
        for bad in [
            "rtt_p99",
            "rtt_p99<",
            "rtt_p99<2",
            "rtt_p99<fast",
            "latency<2ms",
            "sender_cpu<50",
            "sender_cpu_pct<lots",
        ] {
            let e = Constraint::parse(bad).unwrap_err().0;
            assert!(e.starts_with(&format!("--constraint '{bad}':")), "{e}");
        }
        assert!(Constraint::parse("sender_cpu<50")
            .unwrap_err()
            .0
            .contains("did you mean 'sender_cpu_pct'"));
    }

    #[test]
    fn figures_come_from_the_summary_columns() {
        let row = SummaryRow {
            goodput_bps: Some(1e9),
            rtt_p99_ns: Some(5000),
            lost: Some(5),
            messages_sent: 1000,
            sender_cpu_pct: Some(12.5),
            ..Default::default()
        };
        let f = figures_of(&row);
        assert_eq!(f["goodput_bps"], 1e9);
        assert_eq!(f["rtt_p99_ns"], 5000.0);
        assert_eq!(f["lost_pct"], 0.5);
        assert_eq!(f["sender_cpu_pct"], 12.5);
        assert!(!f.contains_key("rtt_p50_ns"), "not measured: absent");
    }
}
