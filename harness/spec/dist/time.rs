//! Think times and request arrivals.

use super::*;

/// The longest think time drawn.
pub const MAX_THINK: std::time::Duration = std::time::Duration::from_secs(60);

/// A closed-loop requester's think time: how long it waits between a response and its
/// next request (`think_time = "1ms"`, `exponential:mean=1ms`,
/// `uniform:min=100us,max=2ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case")]
pub enum TimeDist {
    Fixed { ns: u64 },
    Exponential { mean_ns: u64 },
    Uniform { min_ns: u64, max_ns: u64 },
}

fn duration_field(field: &str, v: &str) -> Result<u64, DistError> {
    let d = crate::spec::units::parse_duration(v)
        .map_err(|e| derr(Some(field), format!("{field}: {e}")))?;
    if d > MAX_THINK {
        return Err(derr(
            Some(field),
            format!("{field}: {v} is longer than {}s", MAX_THINK.as_secs()),
        ));
    }
    Ok(d.as_nanos() as u64)
}

impl TimeDist {
    /// Parses a duration, or `DIST:KEY=VALUE,...` with `exponential` (mean) or `uniform`
    /// (min, max).
    pub fn parse(text: &str) -> Result<TimeDist, DistError> {
        if !is_dist_text(text) {
            return Ok(TimeDist::Fixed {
                ns: duration_field("think_time", text)?,
            });
        }
        let (dist, rest) = text.split_once(':').unwrap_or((text, ""));
        let dist = dist.trim().to_ascii_lowercase();
        let keys: &[&str] = match dist.as_str() {
            "exponential" => &["mean"],
            "uniform" => &["min", "max"],
            _ => {
                return Err(derr(
                    Some("dist"),
                    format!("unknown dist '{dist}' for a time (expected exponential or uniform)"),
                ))
            }
        };
        let got: Vec<(String, u64)> = super::parse::dist_fields(&dist, rest, keys)?
            .into_iter()
            .map(|(k, v)| Ok((k.clone(), duration_field(&k, &v)?)))
            .collect::<Result<_, DistError>>()?;
        let get = |k: &str| {
            got.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| *v)
                .ok_or_else(|| derr(None, format!("a {dist} think time needs {k}")))
        };
        let t = match dist.as_str() {
            "exponential" => TimeDist::Exponential {
                mean_ns: get("mean")?,
            },
            _ => TimeDist::Uniform {
                min_ns: get("min")?,
                max_ns: get("max")?,
            },
        };
        t.check().map_err(|m| derr(Some("max"), m.to_string()))?;
        Ok(t)
    }

    /// What a think time must be: min not above max, nothing beyond [`MAX_THINK`].
    pub fn check(&self) -> Result<(), MalformedDist> {
        let max = MAX_THINK.as_nanos() as u64;
        match *self {
            TimeDist::Fixed { ns } | TimeDist::Exponential { mean_ns: ns } if ns > max => {
                Err(MalformedDist::ThinkTooLong)
            }
            TimeDist::Uniform { min_ns, max_ns } if min_ns > max_ns || max_ns > max => {
                Err(MalformedDist::ThinkBounds)
            }
            _ => Ok(()),
        }
    }

    /// One think time.
    pub fn sample(&self, rng: &mut fastrand::Rng) -> std::time::Duration {
        let ns = match *self {
            TimeDist::Fixed { ns } => ns as f64,
            TimeDist::Exponential { mean_ns } => -(1.0 - rng.f64()).ln() * mean_ns as f64,
            TimeDist::Uniform { min_ns, max_ns } => {
                min_ns as f64 + rng.f64() * (max_ns.saturating_sub(min_ns)) as f64
            }
        };
        std::time::Duration::from_nanos(ns.min(MAX_THINK.as_nanos() as f64) as u64)
    }

    /// The text form, as a setting would be written.
    pub fn text(&self) -> String {
        let d = |ns: u64| format!("{ns}ns");
        match *self {
            TimeDist::Fixed { ns } => d(ns),
            TimeDist::Exponential { mean_ns } => format!("exponential:mean={}", d(mean_ns)),
            TimeDist::Uniform { min_ns, max_ns } => {
                format!("uniform:min={},max={}", d(min_ns), d(max_ns))
            }
        }
    }
}

/// When open-loop requests are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Evenly spaced, 1/rate apart (a metronome).
    #[default]
    Fixed,
    /// A Poisson process: exponential gaps with mean 1/rate.
    Poisson,
}

impl std::str::FromStr for Arrival {
    type Err = UnknownArrival;
    fn from_str(s: &str) -> Result<Arrival, UnknownArrival> {
        match s.trim() {
            "fixed" => Ok(Arrival::Fixed),
            "poisson" => Ok(Arrival::Poisson),
            other => Err(UnknownArrival {
                name: other.to_string(),
            }),
        }
    }
}

/// The schedule of an open-loop requester: the gap before each next request.
pub struct Arrivals {
    kind: Arrival,
    mean_s: f64,
    rng: fastrand::Rng,
}

impl Arrivals {
    pub fn new(kind: Arrival, rate_per_s: u64, rng: fastrand::Rng) -> Arrivals {
        Arrivals {
            kind,
            mean_s: 1.0 / rate_per_s.max(1) as f64,
            rng,
        }
    }

    /// The gap to the next request's intended send time.
    #[inline]
    pub fn next_gap(&mut self) -> std::time::Duration {
        let s = match self.kind {
            Arrival::Fixed => self.mean_s,
            // -ln(U) with U in (0, 1]: exponential with mean 1.
            Arrival::Poisson => -(1.0 - self.rng.f64()).ln() * self.mean_s,
        };
        std::time::Duration::from_secs_f64(s)
    }
}
