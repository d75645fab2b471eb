//! Sizes drawn from a resolved distribution, and each connection's seeded generator.

use super::*;

impl SizeDist {
    /// Checks a distribution that arrived resolved (over the control channel): what
    /// [`DistSpec::resolve`] guarantees, so that sampling it is well defined.
    pub fn check(&self) -> Result<(), MalformedDist> {
        if self.min() > self.max() {
            return Err(MalformedDist::SizeBounds {
                min: self.min(),
                max: self.max(),
            });
        }
        let ok = match self {
            SizeDist::Uniform { .. } => true,
            SizeDist::Lognormal { median, p99, .. } => *median > 0 && p99 > median,
            SizeDist::Pareto {
                location,
                scale,
                shape,
                ..
            } => {
                location.is_finite()
                    && *location >= 0.0
                    && scale.is_finite()
                    && *scale > 0.0
                    && (-10.0..=10.0).contains(shape)
            }
            SizeDist::Empirical { knots, .. } => {
                !knots.is_empty()
                    && knots
                        .iter()
                        .all(|k| k.0.is_finite() && (0.0..=1.0).contains(&k.1))
                    && knots
                        .windows(2)
                        .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
            }
        };
        let s = SizeSampler::new(self);
        let mass = s.b - s.a;
        if !ok || mass.is_nan() || mass <= 1e-12 {
            let kind = match self {
                SizeDist::Uniform { .. } => "uniform",
                SizeDist::Lognormal { .. } => "lognormal",
                SizeDist::Pareto { .. } => "pareto",
                SizeDist::Empirical { .. } => "empirical",
            };
            return Err(MalformedDist::Size(kind));
        }
        Ok(())
    }

    pub fn min(&self) -> u32 {
        match self {
            SizeDist::Uniform { min, .. }
            | SizeDist::Lognormal { min, .. }
            | SizeDist::Pareto { min, .. }
            | SizeDist::Empirical { min, .. } => *min,
        }
    }
    /// The largest size drawn: the buffer size.
    pub fn max(&self) -> u32 {
        match self {
            SizeDist::Uniform { max, .. }
            | SizeDist::Lognormal { max, .. }
            | SizeDist::Pareto { max, .. }
            | SizeDist::Empirical { max, .. } => *max,
        }
    }

    /// The distribution as a user writes it, sizes in bytes with their suffixes:
    /// `lognormal median 1K p99 64K`, `uniform min 1 max 100K`.
    pub fn describe(&self) -> String {
        let size = |v: &u32| crate::spec::units::format_size(u64::from(*v));
        match self {
            SizeDist::Uniform { min, max } => {
                format!("uniform min {} max {}", size(min), size(max))
            }
            SizeDist::Lognormal { median, p99, .. } => {
                format!("lognormal median {} p99 {}", size(median), size(p99))
            }
            SizeDist::Pareto {
                location,
                scale,
                shape,
                ..
            } => format!("pareto location {location} scale {scale} shape {shape}"),
            SizeDist::Empirical { file, .. } => format!("empirical file {file}"),
        }
    }
}

/// The untruncated distribution over real sizes.
#[derive(Debug, Clone)]
pub(super) enum Base {
    /// Uniform on (lo - 1, hi]: ceil gives every whole size from lo to hi.
    Uniform {
        lo: f64,
        hi: f64,
    },
    Lognormal {
        mu: f64,
        sigma: f64,
    },
    Gpd {
        location: f64,
        scale: f64,
        shape: f64,
    },
    Knots(Vec<(f64, f64)>),
}

fn std_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal")
}

impl Base {
    pub(super) fn lognormal(median: u32, p99: u32) -> Base {
        let mu = (median as f64).ln();
        Base::Lognormal {
            mu,
            sigma: ((p99 as f64).ln() - mu) / Z99,
        }
    }

    fn cdf(&self, x: f64) -> f64 {
        match self {
            Base::Uniform { lo, hi } => ((x - (lo - 1.0)) / (hi - lo + 1.0)).clamp(0.0, 1.0),
            Base::Lognormal { mu, sigma } => {
                if x <= 0.0 {
                    0.0
                } else {
                    std_normal().cdf((x.ln() - mu) / sigma)
                }
            }
            Base::Gpd {
                location,
                scale,
                shape,
            } => {
                let z = (x - location) / scale;
                if z <= 0.0 {
                    0.0
                } else if *shape == 0.0 {
                    1.0 - (-z).exp()
                } else {
                    let t = 1.0 + shape * z;
                    if t <= 0.0 {
                        1.0
                    } else {
                        1.0 - t.powf(-1.0 / shape)
                    }
                }
            }
            Base::Knots(k) => {
                let i = k.partition_point(|p| p.0 <= x);
                if i == 0 {
                    return 0.0;
                }
                if i == k.len() {
                    return 1.0;
                }
                let (a, b) = (k[i - 1], k[i]);
                a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
            }
        }
    }

    pub(super) fn inv(&self, u: f64) -> f64 {
        match self {
            Base::Uniform { lo, hi } => (lo - 1.0) + u * (hi - lo + 1.0),
            Base::Lognormal { mu, sigma } => (mu + sigma * std_normal().inverse_cdf(u)).exp(),
            Base::Gpd {
                location,
                scale,
                shape,
            } => {
                if *shape == 0.0 {
                    location - scale * (1.0 - u).ln()
                } else {
                    location + scale * ((1.0 - u).powf(-shape) - 1.0) / shape
                }
            }
            Base::Knots(k) => {
                let i = k.partition_point(|p| p.1 < u);
                if i == 0 {
                    return k.first().map(|p| p.0).unwrap_or(0.0);
                }
                if i == k.len() {
                    return k.last().map(|p| p.0).unwrap_or(0.0);
                }
                let (a, b) = (k[i - 1], k[i]);
                if b.1 <= a.1 {
                    return b.0;
                }
                a.0 + (b.0 - a.0) * (u - a.1) / (b.1 - a.1)
            }
        }
    }
}

/// Draws sizes from a resolved distribution; also its exact CDF over whole sizes.
#[derive(Debug, Clone)]
pub struct SizeSampler {
    pub(super) base: Base,
    pub(super) lo: u32,
    pub(super) hi: u32,
    /// F(lo - 1) and F(hi): the truncation.
    pub(super) a: f64,
    pub(super) b: f64,
}

impl SizeSampler {
    pub fn new(d: &SizeDist) -> SizeSampler {
        let base = match d {
            SizeDist::Uniform { min, max } => Base::Uniform {
                lo: *min as f64,
                hi: *max as f64,
            },
            SizeDist::Lognormal { median, p99, .. } => Base::lognormal(*median, *p99),
            SizeDist::Pareto {
                location,
                scale,
                shape,
                ..
            } => Base::Gpd {
                location: *location,
                scale: *scale,
                shape: *shape,
            },
            SizeDist::Empirical { knots, .. } => Base::Knots(knots.clone()),
        };
        let (lo, hi) = (d.min(), d.max());
        let a = base.cdf(lo as f64 - 1.0);
        let b = base.cdf(hi as f64);
        SizeSampler { base, lo, hi, a, b }
    }

    /// One size, from `lo` to `hi`.
    #[inline]
    pub fn sample(&self, rng: &mut fastrand::Rng) -> u32 {
        // u in (a, b]: 1 - f64() is in (0, 1].
        let u = self.a + (self.b - self.a) * (1.0 - rng.f64());
        let x = self.base.inv(u.min(self.b)).ceil();
        if x.is_nan() {
            return self.lo;
        }
        x.max(self.lo as f64).min(self.hi as f64) as u32
    }

    /// P(size <= k) of what [`SizeSampler::sample`] draws.
    pub fn cdf(&self, k: u32) -> f64 {
        if k < self.lo {
            return 0.0;
        }
        if k >= self.hi {
            return 1.0;
        }
        ((self.base.cdf(k as f64) - self.a) / (self.b - self.a)).clamp(0.0, 1.0)
    }

    pub fn max(&self) -> u32 {
        self.hi
    }

    pub fn min(&self) -> u32 {
        self.lo
    }
}

/// The generator of one connection's sizes: the run's seed mixed with the connection and
/// which of its size streams (requests 0, responses 1), so that every stream differs and
/// each is the same on every run with the same seed.
pub fn rng_for(seed: u64, conn: u32, stream: u32) -> fastrand::Rng {
    let mix =
        seed ^ (conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((stream as u64 + 1) << 56);
    fastrand::Rng::with_seed(mix)
}
