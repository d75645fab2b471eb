//! Summary statistics over repetitions: mean, sample standard deviation, a 95% confidence
//! interval that respects the quantity, and hyperfine-style noise flags.
//!
//! Every figure aggregated here (goodput, transactions/s, round-trip percentiles) is a
//! positive quantity whose spread grows with its size, so the interval is Student's t on
//! the logarithms of the values, taken back with `exp`: the 95% interval of the geometric
//! mean. It is never below zero and is asymmetric as such figures are. With fewer than
//! [`MIN_REPS_FOR_CI`] values no interval is given at all: with two, t(0.975, 1) = 12.7
//! makes any interval meaningless.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The fewest values for which a 95% interval is reported.
pub const MIN_REPS_FOR_CI: usize = 3;
/// A case is noisy when the coefficient of variation of its main figure is above this.
pub const NOISY_CV: f64 = 0.10;
/// Bimodality (see [`bimodal`]): the widest gap must be this many times the spread within
/// either cluster ...
pub const BIMODAL_GAP_OVER_SPREAD: f64 = 3.0;
/// ... and at least this share of the mean.
pub const BIMODAL_MIN_GAP: f64 = 0.05;

/// t(0.975, df): the two-sided 95% critical value of Student's t, from statrs's inverse
/// CDF. NaN for df = 0.
pub fn t_975(df: u64) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::NAN)
}

fn mean_sd(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.len() > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, sd)
}

/// The textbook 95% interval of the mean on the raw values (Student's t, n ≥ 2). It can go
/// below zero; [`ci95_nonnegative`] is what the results use.
pub fn t_interval(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 2 {
        return None;
    }
    let (mean, sd) = mean_sd(values);
    let half = t_975(values.len() as u64 - 1) * sd? / (values.len() as f64).sqrt();
    Some((mean - half, mean + half))
}

/// The 95% interval of the geometric mean: Student's t on ln(value), back through exp
/// (n ≥ 2, every value > 0). Always within (0, ∞).
pub fn log_t_interval(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 2 || !values.iter().all(|v| v.is_finite() && *v > 0.0) {
        return None;
    }
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    let (lo, hi) = t_interval(&logs)?;
    Some((lo.exp(), hi.exp()))
}

/// The 95% interval for a non-negative quantity (n ≥ 2): [`log_t_interval`] when every
/// value is positive; when some repetition measured exactly 0 (no logarithm), the raw
/// t-interval with its lower end held at 0.
pub fn ci95_nonnegative(values: &[f64]) -> Option<(f64, f64)> {
    log_t_interval(values).or_else(|| t_interval(values).map(|(lo, hi)| (lo.max(0.0), hi)))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: u64,
    pub mean: f64,
    /// Sample standard deviation (n - 1); None for a single value.
    pub sd: Option<f64>,
    /// 95% confidence interval ([`ci95_nonnegative`]); None below [`MIN_REPS_FOR_CI`].
    pub ci95: Option<(f64, f64)>,
}

impl Summary {
    /// Coefficient of variation: sd / mean (n ≥ 2, mean > 0).
    pub fn cv(&self) -> Option<f64> {
        self.sd.filter(|_| self.mean > 0.0).map(|sd| sd / self.mean)
    }

    /// Half the interval's width relative to the mean: (high − low) / 2 / mean. What
    /// `--target-ci` compares against.
    pub fn relative_half_width(&self) -> Option<f64> {
        let (lo, hi) = self.ci95?;
        (self.mean > 0.0).then(|| (hi - lo) / 2.0 / self.mean)
    }
}

/// Mean, standard deviation and 95% interval of non-negative values.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let (mean, sd) = mean_sd(values);
    Some(Summary {
        n: values.len() as u64,
        mean,
        sd,
        ci95: if values.len() >= MIN_REPS_FOR_CI {
            ci95_nonnegative(values)
        } else {
            None
        },
    })
}

/// Two clusters among the values: split at the widest gap between sorted values that
/// leaves at least two values on each side, that gap is at least
/// [`BIMODAL_GAP_OVER_SPREAD`] times the range within either side, and at least
/// [`BIMODAL_MIN_GAP`] of the mean. Needs four values or more.
pub fn bimodal(values: &[f64]) -> bool {
    if values.len() < 4 {
        return false;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    // Splits after index k, for k + 1 >= 2 values below and n - k - 1 >= 2 above.
    let Some(k) = (1..v.len() - 2).max_by(|&a, &b| (v[a + 1] - v[a]).total_cmp(&(v[b + 1] - v[b])))
    else {
        return false;
    };
    let gap = v[k + 1] - v[k];
    let spread = (v[k] - v[0]).max(v[v.len() - 1] - v[k + 1]);
    gap >= BIMODAL_GAP_OVER_SPREAD * spread && gap >= BIMODAL_MIN_GAP * mean.abs() && gap > 0.0
}

/// Why the repetitions of a figure are not to be trusted as they stand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    pub cv: Option<f64>,
    pub bimodal: bool,
}

impl Noise {
    pub fn of(values: &[f64]) -> Option<Noise> {
        let s = summarize(values)?;
        (s.n >= 2).then(|| Noise {
            cv: s.cv(),
            bimodal: bimodal(values),
        })
    }

    pub fn noisy(&self) -> bool {
        self.bimodal || self.cv.is_some_and(|cv| cv > NOISY_CV)
    }

    /// What is wrong, e.g. "varies by 14% (coefficient of variation)"; None when quiet.
    pub fn describe(&self) -> Option<String> {
        let mut why = Vec::new();
        if let Some(cv) = self.cv.filter(|cv| *cv > NOISY_CV) {
            why.push(format!(
                "varies by {:.0}% (coefficient of variation, over {:.0}%)",
                cv * 100.0,
                NOISY_CV * 100.0
            ));
        }
        if self.bimodal {
            why.push("falls in two clusters (bimodal)".to_string());
        }
        (!why.is_empty()).then(|| why.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        // Printed tables of t(0.975, df).
        for (df, t) in [
            (1, 12.706),
            (2, 4.303),
            (4, 2.776),
            (10, 2.228),
            (30, 2.042),
            (60, 2.000),
            (120, 1.980),
        ] {
            assert!((t_975(df) - t).abs() < 5e-4, "df {df}: {}", t_975(df));
        }
        assert!((t_975(100_000) - 1.95996).abs() < 1e-4);
        assert!(t_975(0).is_nan());
    }

    #[test]
    fn raw_t_interval_matches_a_hand_computed_example() {
        // 9.2, 9.4, 9.3, 9.5, 9.1 Gbit/s: mean 9.3, s = sqrt(0.1/4) = 0.158114,
        // t(0.975, 4) = 2.776445, half-width = 2.776445 * 0.158114 / sqrt(5) = 0.196324.
        let (lo, hi) = t_interval(&[9.2, 9.4, 9.3, 9.5, 9.1]).unwrap();
        assert!((lo - (9.3 - 0.196_324)).abs() < 1e-5, "{lo}");
        assert!((hi - (9.3 + 0.196_324)).abs() < 1e-5, "{hi}");
    }

    #[test]
    fn log_interval_is_the_textbook_geometric_interval() {
        // ln of e, e^2, e^3 is 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653,
        // half-width 4.302653 / sqrt(3) = 2.484138, interval exp(2 ± 2.484138).
        let e = std::f64::consts::E;
        let s = summarize(&[e, e * e, e * e * e]).unwrap();
        let (lo, hi) = s.ci95.unwrap();
        assert!((lo - (-0.484_138f64).exp()).abs() < 1e-5, "{lo}");
        assert!((hi - 4.484_138f64.exp()).abs() < 1e-3, "{hi}");
        assert!((s.mean - (e + e * e + e * e * e) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn small_samples_with_a_wide_spread_never_go_negative() {
        // What cases.csv showed: 2-3 repetitions of goodput far apart gave -2.6e8.
        for values in [
            vec![1.0e9, 2.6e10],
            vec![3.0e8, 2.6e10, 1.4e10],
            vec![62_693.0, 1_000.0, 250_000.0],
            vec![1.0, 1000.0],
        ] {
            let (lo, hi) = ci95_nonnegative(&values).unwrap();
            assert!(lo > 0.0 && lo < hi, "{values:?}: {lo} {hi}");
            let (raw_lo, _) = t_interval(&values).unwrap();
            assert!(raw_lo < 0.0, "the raw interval would have gone negative");
        }
        // A zero among the values: no logarithm, the raw interval held at 0.
        let (lo, hi) = ci95_nonnegative(&[0.0, 10.0, 20.0]).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 20.0);
    }

    #[test]
    fn too_few_values_give_no_interval() {
        assert_eq!(summarize(&[]), None);
        let one = summarize(&[5.0]).unwrap();
        assert_eq!((one.sd, one.ci95), (None, None));
        let two = summarize(&[1.0, 3.0]).unwrap();
        assert_eq!(two.ci95, None, "n = 2: no interval");
        assert!((two.sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert!(summarize(&[1.0, 3.0, 2.0]).unwrap().ci95.is_some());
    }

    #[test]
    fn relative_half_width_and_cv() {
        let s = summarize(&[100.0, 100.0, 100.0]).unwrap();
        assert_eq!(s.relative_half_width(), Some(0.0));
        assert_eq!(s.cv(), Some(0.0));
        let s = summarize(&[90.0, 100.0, 110.0]).unwrap();
        let (lo, hi) = s.ci95.unwrap();
        assert!((s.relative_half_width().unwrap() - (hi - lo) / 200.0).abs() < 1e-12);
        assert!((s.cv().unwrap() - 0.1).abs() < 1e-12);
    }

    #[test]
    fn noise_flags_spread_and_clusters() {
        // 10% CV is the line: 90/100/110 is exactly 0.1, not above it.
        assert!(!Noise::of(&[90.0, 100.0, 110.0]).unwrap().noisy());
        let wide = Noise::of(&[80.0, 100.0, 120.0]).unwrap();
        assert!(wide.noisy() && !wide.bimodal);
        assert!(wide.describe().unwrap().contains("20%"));
        // Two tight clusters 6% apart: CV under 10%, but bimodal.
        let two = Noise::of(&[100.0, 100.2, 106.0, 106.1]).unwrap();
        assert!(two.cv.unwrap() < NOISY_CV && two.bimodal && two.noisy());
        assert!(two.describe().unwrap().contains("bimodal"));
        // Evenly spread, or one outlier: not two clusters.
        assert!(!bimodal(&[100.0, 102.0, 104.0, 106.0, 108.0]));
        assert!(!bimodal(&[100.0, 100.1, 100.2, 130.0]));
        // Identical values, or clusters closer than 5% of the mean: quiet.
        assert!(!bimodal(&[5.0, 5.0, 5.0, 5.0]));
        assert!(!bimodal(&[100.0, 100.01, 101.0, 101.01]));
        assert_eq!(Noise::of(&[5.0]), None);
    }
}
