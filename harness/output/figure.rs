//! How a figure is written for a reader, in one format everywhere the terminal shows a
//! mean and its interval: `67.6k tx/s (95% CI 64.8k–70.6k)`, the bounds in the mean's
//! scale and the unit written once.

use super::metric::Metric;

/// A unit and the scale picked for one value: `12.3 Gbit/s`, `67.6k tx/s`, `1.20ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// What a value is divided by.
    pub div: f64,
    /// Written after each number (`k` in `67.6k`).
    pub prefix: &'static str,
    /// Written once, after the mean (` Gbit/s`, ` tx/s`, `ms`).
    pub unit: &'static str,
    pub decimals: usize,
}

impl Scale {
    const fn new(div: f64, prefix: &'static str, unit: &'static str, decimals: usize) -> Scale {
        Scale {
            div,
            prefix,
            unit,
            decimals,
        }
    }

    /// Bits per second, as `format_bps` writes them.
    pub fn bits(v: f64) -> Scale {
        match v {
            v if v >= 1e9 => Scale::new(1e9, "", " Gbit/s", 2),
            v if v >= 1e6 => Scale::new(1e6, "", " Mbit/s", 2),
            v if v >= 1e3 => Scale::new(1e3, "", " kbit/s", 2),
            _ => Scale::new(1.0, "", " bit/s", 2),
        }
    }

    /// Transactions per second: `67.6k tx/s`.
    pub fn transactions(v: f64) -> Scale {
        match v {
            v if v >= 1e6 => Scale::new(1e6, "M", " tx/s", 2),
            v if v >= 1e3 => Scale::new(1e3, "k", " tx/s", 1),
            _ => Scale::new(1.0, "", " tx/s", 0),
        }
    }

    /// Nanoseconds, as `format_ns` writes them: `23.4us`, `1.20ms`.
    pub fn nanos(v: f64) -> Scale {
        match v {
            v if v >= 1e9 => Scale::new(1e9, "", "s", 2),
            v if v >= 1e6 => Scale::new(1e6, "", "ms", 2),
            v if v >= 1e3 => Scale::new(1e3, "", "us", 1),
            _ => Scale::new(1.0, "", "ns", 0),
        }
    }

    /// The scale of a summary figure's value, by the figure's unit.
    pub fn of_metric(metric: Metric, v: f64) -> Scale {
        let column = metric.column();
        if column.ends_with("_bps") {
            Scale::bits(v)
        } else if column.ends_with("_ns") {
            Scale::nanos(v)
        } else if metric == Metric::TransactionsPerS {
            Scale::transactions(v)
        } else if column.ends_with("_pct") {
            Scale::new(1.0, "", "%", 3)
        } else {
            Scale::new(1.0, "", "", 4)
        }
    }

    /// `v` in this scale without the unit: `64.8k`.
    pub fn number(self, v: f64) -> String {
        format!("{:.*}{}", self.decimals, v / self.div, self.prefix)
    }

    /// `v` in this scale with the unit: `64.8k tx/s`.
    pub fn show(self, v: f64) -> String {
        format!("{}{}", self.number(v), self.unit)
    }
}

/// A mean and its 95% interval: `67.6k tx/s (95% CI 64.8k–70.6k)`, the bounds in the
/// mean's scale (an interval reaching below zero is shown from zero: none of these
/// figures can be negative); `5 tx/s (no CI)` without an interval.
pub fn mean_ci(
    mean: Option<f64>,
    lo: Option<f64>,
    hi: Option<f64>,
    scale: impl Fn(f64) -> Scale,
) -> String {
    let Some(m) = mean else {
        return "-".to_string();
    };
    let s = scale(m);
    match (lo, hi) {
        (Some(lo), Some(hi)) => format!(
            "{} (95% CI {}–{})",
            s.show(m),
            s.number(lo.max(0.0)),
            s.number(hi.max(0.0))
        ),
        _ => format!("{} (no CI)", s.show(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_and_its_interval_have_one_format_whatever_their_shape() {
        // Symmetric and asymmetric intervals read alike (they once came out as
        // `85.5k tx/s ± 658 tx/s` and `67.6k tx/s (64.8k tx/s–70.6k tx/s)`).
        let sym = mean_ci(
            Some(85_500.0),
            Some(84_842.0),
            Some(86_158.0),
            Scale::transactions,
        );
        let asym = mean_ci(
            Some(67_600.0),
            Some(64_800.0),
            Some(70_600.0),
            Scale::transactions,
        );
        assert_eq!(sym, "85.5k tx/s (95% CI 84.8k–86.2k)");
        assert_eq!(asym, "67.6k tx/s (95% CI 64.8k–70.6k)");
        for s in [&sym, &asym] {
            assert!(!s.contains('±'), "{s}");
            assert_eq!(s.matches("tx/s").count(), 1, "the unit once: {s}");
        }
        // Bounds keep the mean's scale even where they cross a unit's boundary.
        assert_eq!(
            mean_ci(Some(1.2e9), Some(0.9e9), Some(1.5e9), Scale::bits),
            "1.20 Gbit/s (95% CI 0.90–1.50)"
        );
        assert_eq!(
            mean_ci(Some(45_200.0), Some(-3_000.0), Some(93_000.0), Scale::nanos),
            "45.2us (95% CI 0.0–93.0)"
        );
        assert_eq!(
            mean_ci(Some(5.0), None, None, Scale::transactions),
            "5 tx/s (no CI)"
        );
        assert_eq!(mean_ci(None, None, None, Scale::bits), "-");
    }

    #[test]
    fn a_scale_writes_a_value_as_the_unit_formatters_do() {
        use crate::spec::units::{format_bps, format_ns};
        for v in [0.0, 999.0, 1e3, 45_678.0, 2.5e6, 3.2e9] {
            assert_eq!(Scale::bits(v).show(v), format_bps(v));
            assert_eq!(Scale::nanos(v).show(v), format_ns(v as u64));
        }
        assert_eq!(
            Scale::of_metric(Metric::TransactionsPerS, 13_800.0).show(13_800.0),
            "13.8k tx/s"
        );
        assert_eq!(
            Scale::of_metric(Metric::RttP99Ns, 1.2e6).show(1.2e6),
            "1.20ms"
        );
    }
}
