//! Summary statistics over repetitions: mean, sample standard deviation, and the 95%
//! confidence interval of the mean from Student's t distribution.

/// Two-sided 95% critical values of Student's t for 1..=30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// t(0.975, df). Beyond the table, the Cornish-Fisher expansion around the normal
/// quantile, which is within 0.001 of the exact value for df > 30.
pub fn t_975(df: u64) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T_975[df as usize - 1],
        _ => {
            let z: f64 = 1.959_964;
            let n = df as f64;
            z + (z.powi(3) + z) / (4.0 * n)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: u64,
    pub mean: f64,
    /// Sample standard deviation (n - 1); None for a single value.
    pub sd: Option<f64>,
    /// 95% confidence interval of the mean; None for a single value.
    pub ci95: Option<(f64, f64)>,
}

pub fn summarize(values: &[f64]) -> Option<Summary> {
    let n = values.len() as u64;
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(Summary {
            n,
            mean,
            sd: None,
            ci95: None,
        });
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let half = t_975(n - 1) * sd / (n as f64).sqrt();
    Some(Summary {
        n,
        mean,
        sd: Some(sd),
        ci95: Some((mean - half, mean + half)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_matches_a_hand_computed_example() {
        // 9.2, 9.4, 9.3, 9.5, 9.1 Gbit/s: mean 9.3, s = sqrt(0.1/4) = 0.158114,
        // t(0.975, 4) = 2.776, half-width = 2.776 * 0.158114 / sqrt(5) = 0.196293.
        let s = summarize(&[9.2, 9.4, 9.3, 9.5, 9.1]).unwrap();
        assert!((s.mean - 9.3).abs() < 1e-12);
        assert!((s.sd.unwrap() - 0.158_113_883).abs() < 1e-8);
        let (lo, hi) = s.ci95.unwrap();
        assert!((lo - (9.3 - 0.196_293)).abs() < 1e-5, "{lo}");
        assert!((hi - (9.3 + 0.196_293)).abs() < 1e-5, "{hi}");
    }

    #[test]
    fn small_and_large_samples() {
        assert_eq!(summarize(&[]), None);
        let one = summarize(&[5.0]).unwrap();
        assert_eq!((one.sd, one.ci95), (None, None));
        // Two values: t(0.975, 1) = 12.706.
        let two = summarize(&[1.0, 3.0]).unwrap();
        let (lo, hi) = two.ci95.unwrap();
        assert!((hi - lo - 2.0 * 12.706 * 2f64.sqrt() / 2f64.sqrt()).abs() < 1e-9);
        // The expansion joins the table smoothly and tends to the normal quantile.
        assert!((t_975(31) - 2.0395).abs() < 0.001);
        assert!((t_975(60) - 2.0003).abs() < 0.001);
        assert!((t_975(120) - 1.9799).abs() < 0.001);
        assert!((t_975(100_000) - 1.96).abs() < 0.001);
    }
}
