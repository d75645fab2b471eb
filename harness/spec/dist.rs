//! Application traffic profiles: message sizes drawn from a distribution, request
//! arrivals as a random process, and the per-size accounting that shows which messages
//! suffered.
//!
//! A size distribution is written as text wherever a size is taken (`--msg-size
//! lognormal:median=1K,p99=64K`, or in a workload file as an inline table
//! `msg_size = {dist = "lognormal", median = "1K", p99 = "64K"}`, which the workload
//! parser turns into that text). It is resolved against the protocol (the smallest and
//! largest message it can carry) into a [`SizeDist`] that travels in the `TestSpec`, so
//! both processes and `meta.json` hold the same thing; each connection samples it with a
//! seeded generator, so a run is reproducible.
//!
//! Sizes are whole bytes: a continuous distribution with CDF F, truncated to
//! `[min, max]`, gives size k with P(size <= k) = (F(k) - F(min - 1)) / (F(max) -
//! F(min - 1)) (inverse-transform sampling of the truncated distribution, then ceil).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};
use thiserror::Error;

/// The length header of a framed stream message: the whole message's size in bytes,
/// header included, big-endian. Only byte streams whose sizes vary are framed.
pub const FRAME_HEADER: u32 = 4;

/// z such that P(Z <= z) = 0.99 for a standard normal.
const Z99: f64 = 2.326_347_874_040_841;

/// The generalized Pareto distribution of Facebook's memcached ETC value sizes:
/// location 0, scale 214.476, shape 0.348238 (Atikoglu, Xu, Frachtenberg, Jiang and
/// Paleczny, "Workload Analysis of a Large-Scale Key-Value Store", SIGMETRICS 2012,
/// Table 5). The defaults of `dist = "pareto"`.
pub const ETC_LOCATION: f64 = 0.0;
pub const ETC_SCALE: f64 = 214.476;
pub const ETC_SHAPE: f64 = 0.348238;

/// A message-size distribution, resolved: `min` and `max` are the truncation bounds the
/// sampler keeps to (the protocol's smallest and largest message where the user gave
/// none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case")]
pub enum SizeDist {
    /// Every whole size from min to max equally likely.
    Uniform { min: u32, max: u32 },
    /// Log-normal with the given median and 99th percentile.
    Lognormal {
        median: u32,
        p99: u32,
        min: u32,
        max: u32,
    },
    /// Generalized Pareto (location, scale, shape).
    Pareto {
        location: f64,
        scale: f64,
        shape: f64,
        min: u32,
        max: u32,
    },
    /// The application's own sizes, from a file: a piecewise-linear CDF through
    /// `knots` (size, cumulative probability).
    Empirical {
        file: String,
        knots: Vec<(f64, f64)>,
        min: u32,
        max: u32,
    },
}

/// A mistake in a distribution; `field` names the key it concerns, so that a workload
/// file can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{msg}")]
pub struct DistError {
    pub field: Option<String>,
    pub msg: String,
}

/// A distribution that arrived resolved (over the control channel, or from a think-time
/// setting) and is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MalformedDist {
    #[error("size distribution: min {min} is above max {max}")]
    SizeBounds { min: u32, max: u32 },
    #[error("the {0} size distribution is not well formed (its parameters, bounds or CDF)")]
    Size(&'static str),
    #[error("think time: longer than {}s", MAX_THINK.as_secs())]
    ThinkTooLong,
    #[error("think time: max is below min, or beyond {}s", MAX_THINK.as_secs())]
    ThinkBounds,
}

/// A mistake on one line of a sizes file (lines count from 1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {msg}")]
pub struct LineError {
    pub line: usize,
    pub msg: String,
}

fn line_err(line: usize, msg: impl Into<String>) -> LineError {
    LineError {
        line,
        msg: msg.into(),
    }
}

/// A sizes file that cannot be used, named as the user gave it.
#[derive(Debug, Error)]
pub enum SizesFileError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a regular file of at most 16 MiB", .path.display())]
    TooLarge { path: PathBuf },
    #[error("{}:{}: {}", .path.display(), .error.line, .error.msg)]
    Line { path: PathBuf, error: LineError },
}

/// An open-loop arrival process that is neither `fixed` nor `poisson`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown arrival '{0}' (expected fixed or poisson)")]
pub struct UnknownArrival(pub String);

/// A framed byte stream whose header gives a size out of bounds: the stream is not what
/// it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a message header says {size} bytes; expected {FRAME_HEADER} to {max}")]
pub struct FrameError {
    pub size: u32,
    pub max: u32,
}

fn derr(field: Option<&str>, msg: String) -> DistError {
    DistError {
        field: field.map(str::to_string),
        msg,
    }
}

/// The distributions a size may follow, for messages.
pub const DISTS: &str = "uniform, lognormal, pareto, empirical";

/// The keys each distribution takes.
fn keys_of(dist: &str) -> Option<&'static [&'static str]> {
    Some(match dist {
        "uniform" => &["min", "max"],
        "lognormal" => &["median", "p99", "min", "max"],
        "pareto" => &["location", "scale", "shape", "min", "max"],
        "empirical" => &["file", "min", "max"],
        _ => return None,
    })
}

/// Whether a size setting names a distribution rather than a fixed size.
pub fn is_dist_text(text: &str) -> bool {
    text.contains(':') || text.contains('=')
}

/// The text form of a distribution from its parts (`lognormal:median=1K,p99=64K`).
pub fn dist_text(dist: &str, fields: &[(String, String)]) -> String {
    let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{dist}:{}", parts.join(","))
}

/// A distribution as written, before it is resolved against a protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct DistSpec {
    pub dist: String,
    pub fields: Vec<(String, String)>,
    /// The empirical file's knots, read when the setting was parsed.
    knots: Option<Vec<(f64, f64)>>,
}

fn size_field(field: &str, v: &str) -> Result<u32, DistError> {
    let t = v.trim();
    if t.starts_with('-') {
        return Err(derr(
            Some(field),
            format!("{field}: '{v}' is negative; a size is 0 bytes or more"),
        ));
    }
    let n = crate::spec::units::parse_size(t)
        .map_err(|e| derr(Some(field), format!("{field}: {e}")))?;
    u32::try_from(n).map_err(|_| derr(Some(field), format!("{field}: {v} is too large")))
}

fn real_field(field: &str, v: &str) -> Result<f64, DistError> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(derr(Some(field), format!("{field}: '{v}' is not a number"))),
    }
}

impl DistSpec {
    /// Parses `DIST:KEY=VALUE,...`. A relative empirical file is found from `base_dir`.
    pub fn parse(text: &str, base_dir: Option<&Path>) -> Result<DistSpec, DistError> {
        let (dist, rest) = text.split_once(':').unwrap_or((text, ""));
        let dist = dist.trim().to_ascii_lowercase();
        let keys = keys_of(&dist).ok_or_else(|| {
            derr(
                Some("dist"),
                format!("unknown dist '{dist}' (expected one of: {DISTS})"),
            )
        })?;
        let mut fields: Vec<(String, String)> = Vec::new();
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                derr(
                    None,
                    format!("'{part}' in a {dist} distribution is not KEY=VALUE"),
                )
            })?;
            let k = k.trim().to_ascii_lowercase();
            if !keys.contains(&k.as_str()) {
                return Err(derr(
                    Some(&k),
                    format!("{dist} takes {}, not '{k}'", keys.join(", ")),
                ));
            }
            if fields.iter().any(|(f, _)| *f == k) {
                return Err(derr(Some(&k), format!("{k} is given twice")));
            }
            fields.push((k, v.trim().to_string()));
        }
        let mut spec = DistSpec {
            dist,
            fields,
            knots: None,
        };
        let need: &[&str] = match spec.dist.as_str() {
            "uniform" => &["min", "max"],
            "lognormal" => &["median", "p99"],
            "empirical" => &["file"],
            _ => &[],
        };
        for k in need {
            if spec.get(k).is_none() {
                return Err(derr(
                    None,
                    format!("a {} distribution needs {k}", spec.dist),
                ));
            }
        }
        if spec.dist == "empirical" {
            let file = spec.get("file").unwrap_or_default().to_string();
            let path = match base_dir {
                Some(d) if Path::new(&file).is_relative() => d.join(&file),
                _ => Path::new(&file).to_path_buf(),
            };
            let knots = read_sizes_file(&path).map_err(|e| derr(Some("file"), e.to_string()))?;
            // Absolute from now on: the setting may be re-parsed from elsewhere.
            let shown = path.display().to_string();
            if let Some(f) = spec.fields.iter_mut().find(|(k, _)| k == "file") {
                f.1 = shown;
            }
            spec.knots = Some(knots);
        }
        // Everything that does not depend on the protocol is checked now.
        spec.resolve(1, u32::MAX)?;
        Ok(spec)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn size(&self, key: &str) -> Result<Option<u32>, DistError> {
        self.get(key).map(|v| size_field(key, v)).transpose()
    }

    fn real(&self, key: &str) -> Result<Option<f64>, DistError> {
        self.get(key).map(|v| real_field(key, v)).transpose()
    }

    /// The text form, as a setting would be written.
    pub fn text(&self) -> String {
        dist_text(&self.dist, &self.fields)
    }

    /// Resolves against the smallest (`floor`) and largest (`ceiling`) message the
    /// protocol can carry: unbounded distributions are cut at their 99.99th percentile
    /// or the ceiling, whichever is smaller.
    pub fn resolve(&self, floor: u32, ceiling: u32) -> Result<SizeDist, DistError> {
        let bounds = Bounds {
            min: self.size("min")?,
            max: self.size("max")?,
            floor,
            ceiling,
        };
        let dist = match self.dist.as_str() {
            "uniform" => self.uniform(&bounds)?,
            "lognormal" => self.lognormal(&bounds)?,
            "pareto" => self.pareto(&bounds)?,
            "empirical" => {
                let knots = self.knots.clone().unwrap_or_default();
                let top = knots.last().map(|k| k.0).unwrap_or(1.0);
                let (lo, hi) = bounds.cut(ceil_quantile(top))?;
                SizeDist::Empirical {
                    file: self.get("file").unwrap_or_default().to_string(),
                    knots,
                    min: lo,
                    max: hi,
                }
            }
            other => {
                return Err(derr(
                    Some("dist"),
                    format!("unknown dist '{other}' (expected one of: {DISTS})"),
                ))
            }
        };
        // The truncation must keep some probability, or there is nothing to draw.
        let s = SizeSampler::new(&dist);
        let mass = s.b - s.a;
        if mass.is_nan() || mass <= 1e-12 {
            return Err(derr(
                Some("min"),
                format!(
                    "the distribution has no sizes between {} and {} bytes",
                    dist.min(),
                    dist.max()
                ),
            ));
        }
        Ok(dist)
    }

    fn uniform(&self, bounds: &Bounds) -> Result<SizeDist, DistError> {
        let (min_v, max_v) = (
            self.size("min")?.unwrap_or(0),
            self.size("max")?.unwrap_or(0),
        );
        if max_v < min_v {
            return Err(derr(
                Some("max"),
                format!("max ({max_v}) is below min ({min_v})"),
            ));
        }
        let (lo, hi) = bounds.cut(max_v)?;
        Ok(SizeDist::Uniform { min: lo, max: hi })
    }

    fn lognormal(&self, bounds: &Bounds) -> Result<SizeDist, DistError> {
        let median = self.size("median")?.unwrap_or(0);
        let p99 = self.size("p99")?.unwrap_or(0);
        if median == 0 {
            return Err(derr(
                Some("median"),
                "median: must be more than 0 bytes".into(),
            ));
        }
        if p99 <= median {
            return Err(derr(
                Some("p99"),
                format!("p99 ({p99}) must be above the median ({median})"),
            ));
        }
        let base = Base::lognormal(median, p99);
        let (lo, hi) = bounds.cut(ceil_quantile(base.inv(0.9999)))?;
        Ok(SizeDist::Lognormal {
            median,
            p99,
            min: lo,
            max: hi,
        })
    }

    fn pareto(&self, bounds: &Bounds) -> Result<SizeDist, DistError> {
        let location = self.real("location")?.unwrap_or(ETC_LOCATION);
        let scale = self.real("scale")?.unwrap_or(ETC_SCALE);
        let shape = self.real("shape")?.unwrap_or(ETC_SHAPE);
        if location < 0.0 {
            return Err(derr(
                Some("location"),
                format!("location: {location} is negative; sizes start at 0 bytes"),
            ));
        }
        if scale <= 0.0 {
            return Err(derr(
                Some("scale"),
                format!("scale: {scale} must be more than 0"),
            ));
        }
        if !(-10.0..=10.0).contains(&shape) {
            return Err(derr(
                Some("shape"),
                format!("shape: {shape} is out of range (-10 to 10)"),
            ));
        }
        let base = Base::Gpd {
            location,
            scale,
            shape,
        };
        let (lo, hi) = bounds.cut(ceil_quantile(base.inv(0.9999)))?;
        Ok(SizeDist::Pareto {
            location,
            scale,
            shape,
            min: lo,
            max: hi,
        })
    }
}

/// The sizes a distribution is cut to: the `min` and `max` the user gave, within what the
/// protocol carries (`floor` to `ceiling`).
struct Bounds {
    min: Option<u32>,
    max: Option<u32>,
    floor: u32,
    ceiling: u32,
}

impl Bounds {
    /// The range a distribution whose own largest size is `natural_max` is cut to.
    fn cut(&self, natural_max: u32) -> Result<(u32, u32), DistError> {
        let lo = self.min.unwrap_or(self.floor).max(self.floor);
        let hi = self.max.unwrap_or(natural_max).min(self.ceiling);
        if let Some(m) = self.max {
            if m > self.ceiling {
                return Err(derr(
                    Some("max"),
                    format!(
                        "max: {m} bytes is more than this protocol's largest message ({})",
                        self.ceiling
                    ),
                ));
            }
        }
        if hi < lo {
            return Err(derr(
                Some(if self.max.is_some() { "max" } else { "min" }),
                format!("the sizes run from {lo} to {hi} bytes: max is below min"),
            ));
        }
        Ok((lo, hi))
    }
}

/// A quantile rounded up to a whole size of at least 1 byte (u32::MAX when beyond).
fn ceil_quantile(q: f64) -> u32 {
    if q.is_finite() && q < u32::MAX as f64 {
        (q.ceil() as u32).max(1)
    } else {
        u32::MAX
    }
}

/// Reads a file of the application's message sizes: CSV with a header, `size,cdf`
/// (cumulative probability at each size, nondecreasing to 1; sizes between two rows are
/// spread evenly) or `size,count` (how often each exact size occurs). `#` starts a
/// comment. Returns the knots of the CDF.
pub fn read_sizes_file(path: &Path) -> Result<Vec<(f64, f64)>, SizesFileError> {
    let read = |source| SizesFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() || meta.len() > 16 << 20 {
        return Err(SizesFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    parse_sizes(&text).map_err(|error| SizesFileError::Line {
        path: path.to_path_buf(),
        error,
    })
}

/// Parses the text of a sizes file (see [`read_sizes_file`]); errors carry the line.
pub fn parse_sizes(text: &str) -> Result<Vec<(f64, f64)>, LineError> {
    let mut cdf: Option<bool> = None;
    let mut rows: Vec<(u32, f64, usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() != 2 {
            return Err(line_err(
                i + 1,
                format!("expected two columns, found {}", cols.len()),
            ));
        }
        if cdf.is_none() {
            let kind = cols[1].to_ascii_lowercase();
            cdf = Some(match kind.as_str() {
                "cdf" | "cumulative" | "p" | "probability" => true,
                "count" | "weight" | "frequency" | "messages" => false,
                _ => {
                    return Err(line_err(
                        i + 1,
                        "expected a header line: size,cdf or size,count",
                    ))
                }
            });
            continue;
        }
        let size = size_field("size", cols[0]).map_err(|e| line_err(i + 1, e.msg))?;
        let v = real_field("value", cols[1]).map_err(|e| line_err(i + 1, e.msg))?;
        if v < 0.0 {
            return Err(line_err(i + 1, format!("{} is negative", cols[1])));
        }
        if size == 0 {
            return Err(line_err(i + 1, "a message has at least 1 byte"));
        }
        if let Some(&(prev, pv, _)) = rows.last() {
            if size <= prev {
                return Err(line_err(
                    i + 1,
                    format!("sizes must increase from row to row ({size} after {prev})"),
                ));
            }
            if cdf == Some(true) && v < pv {
                return Err(line_err(
                    i + 1,
                    format!("the CDF must not decrease ({v} after {pv})"),
                ));
            }
        }
        rows.push((size, v, i + 1));
    }
    let Some(&(_, last, last_line)) = rows.last() else {
        return Err(line_err(1, "no sizes: the file is empty"));
    };
    let mut knots = Vec::with_capacity(rows.len() * 2);
    if cdf == Some(true) {
        if (last - 1.0).abs() > 1e-6 {
            return Err(line_err(
                last_line,
                format!("the CDF must end at 1, not {last}"),
            ));
        }
        knots.push((rows[0].0 as f64 - 1.0, 0.0));
        for (s, c, _) in &rows {
            knots.push((*s as f64, c.min(1.0)));
        }
    } else {
        let total: f64 = rows.iter().map(|r| r.1).sum();
        if total <= 0.0 {
            return Err(line_err(last_line, "the counts add up to nothing"));
        }
        let mut acc = 0.0;
        for (s, w, _) in &rows {
            knots.push((*s as f64 - 1.0, acc / total));
            acc += w;
            knots.push((*s as f64, (acc / total).min(1.0)));
        }
    }
    Ok(knots)
}

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
enum Base {
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
    fn lognormal(median: u32, p99: u32) -> Base {
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

    fn inv(&self, u: f64) -> f64 {
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
    base: Base,
    lo: u32,
    hi: u32,
    /// F(lo - 1) and F(hi): the truncation.
    a: f64,
    b: f64,
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
        let mut got: Vec<(String, u64)> = Vec::new();
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                derr(
                    None,
                    format!("'{part}' in a {dist} distribution is not KEY=VALUE"),
                )
            })?;
            let k = k.trim().to_ascii_lowercase();
            if !keys.contains(&k.as_str()) {
                return Err(derr(
                    Some(&k),
                    format!("{dist} takes {}, not '{k}'", keys.join(", ")),
                ));
            }
            got.push((k.clone(), duration_field(&k, v)?));
        }
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
            other => Err(UnknownArrival(other.to_string())),
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

/// Reassembles framed messages from a byte stream: every message starts with its size
/// ([`FRAME_HEADER`] bytes, big-endian, header included).
#[derive(Debug, Default, Clone, Copy)]
pub struct Deframer {
    /// Bytes of the current message still to come; 0 between messages.
    left: u64,
    /// Header bytes gathered so far, and how many.
    hdr: [u8; 4],
    hdr_len: u8,
}

impl Deframer {
    /// Takes `data`, calling `done(size)` for each message it completes. A size below the
    /// header's or above `max` is an error (the stream is not what it should be).
    #[inline]
    pub fn feed(
        &mut self,
        mut data: &[u8],
        max: u32,
        mut done: impl FnMut(u64),
    ) -> Result<(), FrameError> {
        while !data.is_empty() {
            if self.left == 0 {
                let take = (4 - self.hdr_len as usize).min(data.len());
                self.hdr[self.hdr_len as usize..self.hdr_len as usize + take]
                    .copy_from_slice(&data[..take]);
                self.hdr_len += take as u8;
                data = &data[take..];
                if self.hdr_len < 4 {
                    return Ok(());
                }
                self.hdr_len = 0;
                let size = u32::from_be_bytes(self.hdr);
                if size < FRAME_HEADER || size > max {
                    return Err(FrameError { size, max });
                }
                self.left = (size - FRAME_HEADER) as u64;
                if self.left == 0 {
                    done(size as u64);
                    continue;
                }
                // Remember the size for when the body completes.
                self.hdr = size.to_be_bytes();
            }
            let take = (self.left as usize).min(data.len());
            self.left -= take as u64;
            data = &data[take..];
            if self.left == 0 {
                done(u32::from_be_bytes(self.hdr) as u64);
            }
        }
        Ok(())
    }

    /// Whether the stream stands between two messages.
    pub fn idle(&self) -> bool {
        self.left == 0 && self.hdr_len == 0
    }
}

/// Writes a message's frame header into the first bytes of `buf`.
#[inline]
pub fn put_frame(buf: &mut [u8], size: u32) {
    buf[..4].copy_from_slice(&size.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The KS statistic of `samples` against a sampler's CDF, over every whole size.
    fn ks(s: &SizeSampler, samples: &mut [u32]) -> f64 {
        samples.sort_unstable();
        let n = samples.len() as f64;
        let mut d: f64 = 0.0;
        let mut i = 0usize;
        for k in s.lo..=s.hi {
            while i < samples.len() && samples[i] <= k {
                i += 1;
            }
            d = d.max((i as f64 / n - s.cdf(k)).abs());
        }
        d
    }

    fn draw(d: &SizeDist, n: usize) -> (SizeSampler, Vec<u32>) {
        let s = SizeSampler::new(d);
        let mut rng = rng_for(7, 0, 0);
        let v = (0..n).map(|_| s.sample(&mut rng)).collect();
        (s, v)
    }

    fn resolve(text: &str, floor: u32, ceiling: u32) -> SizeDist {
        DistSpec::parse(text, None)
            .unwrap()
            .resolve(floor, ceiling)
            .unwrap()
    }

    #[test]
    fn samples_follow_their_distribution_ks_1pct() {
        let n = 20_000;
        let critical = 1.628 / (n as f64).sqrt();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sizes.csv");
        std::fs::write(&file, "size,cdf\n100,0.2\n1000,0.7\n1500,0.9\n9000,1\n").unwrap();
        let dists = [
            resolve("uniform:min=64,max=4K", 4, 1 << 26),
            resolve("lognormal:median=1K,p99=64K", 4, 65507),
            resolve("pareto:", 4, 1 << 26),
            resolve(&format!("empirical:file={}", file.display()), 16, 65507),
        ];
        for d in &dists {
            let (s, mut v) = draw(d, n);
            let stat = ks(&s, &mut v);
            assert!(stat < critical, "{d:?}: D = {stat} >= {critical}");
        }
        // And a sampler that is wrong is caught: uniform samples against lognormal's CDF.
        let (_, mut v) = draw(&dists[0], n);
        let wrong = SizeSampler::new(&dists[1]);
        assert!(ks(&wrong, &mut v) > critical);
    }

    #[test]
    fn the_distributions_have_the_asked_shape() {
        let d = resolve("lognormal:median=1K,p99=64K", 1, 1 << 26);
        let s = SizeSampler::new(&d);
        assert!((s.cdf(1024) - 0.5).abs() < 0.001, "{}", s.cdf(1024));
        assert!((s.cdf(65536) - 0.99).abs() < 0.001, "{}", s.cdf(65536));
        // ETC: mean value size of the generalized Pareto is scale / (1 - shape) = 329 B.
        let d = resolve("pareto:", 1, 1 << 26);
        let (_, v) = draw(&d, 200_000);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        assert!((mean - 329.0).abs() < 15.0, "ETC mean {mean}");
        let d = resolve("uniform:min=10,max=20", 4, 100);
        let (_, v) = draw(&d, 10_000);
        assert_eq!(*v.iter().min().unwrap(), 10);
        assert_eq!(*v.iter().max().unwrap(), 20);
        // Truncated to what the protocol carries.
        let d = resolve("lognormal:median=1K,p99=64K", 16, 65507);
        assert_eq!((d.min(), d.max()), (16, 65507));
    }

    #[test]
    fn seeded_draws_repeat() {
        let d = resolve("pareto:scale=100,shape=0.2", 4, 1 << 20);
        let s = SizeSampler::new(&d);
        let a: Vec<u32> = {
            let mut r = rng_for(42, 3, 1);
            (0..100).map(|_| s.sample(&mut r)).collect()
        };
        let mut r = rng_for(42, 3, 1);
        assert!(a.iter().all(|&x| x == s.sample(&mut r)));
        let mut other = rng_for(42, 4, 1);
        assert!(a.iter().any(|&x| x != s.sample(&mut other)));
    }

    #[test]
    fn bad_distributions_say_what_and_where() {
        let e = |t: &str| DistSpec::parse(t, None).unwrap_err();
        assert_eq!(e("gamma:k=1").field.as_deref(), Some("dist"));
        assert!(e("gamma:k=1").msg.contains("unknown dist 'gamma'"));
        let p = e("lognormal:median=1K,p99=512");
        assert_eq!(p.field.as_deref(), Some("p99"));
        assert!(p.msg.contains("above the median"), "{}", p.msg);
        let n = e("uniform:min=-5,max=10");
        assert_eq!(n.field.as_deref(), Some("min"));
        assert!(n.msg.contains("negative"));
        assert!(e("uniform:min=5").msg.contains("needs max"));
        assert_eq!(
            e("uniform:min=5,max=10,mode=3").field.as_deref(),
            Some("mode")
        );
        assert!(e("empirical:file=/nonexistent/sizes.csv")
            .msg
            .contains("/nonexistent"));
    }

    #[test]
    fn malformed_resolved_distributions_are_refused() {
        let good = resolve("lognormal:median=1K,p99=64K", 4, 1 << 20);
        assert!(good.check().is_ok());
        let bad = [
            SizeDist::Uniform { min: 10, max: 5 },
            SizeDist::Lognormal {
                median: 100,
                p99: 50,
                min: 4,
                max: 1000,
            },
            SizeDist::Pareto {
                location: 0.0,
                scale: f64::NAN,
                shape: 0.3,
                min: 4,
                max: 1000,
            },
            SizeDist::Empirical {
                file: String::new(),
                knots: vec![],
                min: 4,
                max: 1000,
            },
            SizeDist::Empirical {
                file: String::new(),
                knots: vec![(10.0, 0.5), (5.0, 1.0)],
                min: 4,
                max: 1000,
            },
        ];
        for d in bad {
            assert!(d.check().is_err(), "{d:?}");
            // Sampling one anyway stays within its bounds' order and does not panic.
            let _ = SizeSampler::new(&d).sample(&mut rng_for(1, 0, 0));
        }
    }

    #[test]
    fn sizes_files_are_checked_line_by_line() {
        assert!(parse_sizes("").unwrap_err().msg.contains("empty"));
        assert!(parse_sizes("size,cdf\n").unwrap_err().msg.contains("empty"));
        let e = parse_sizes("size,cdf\n100,0.5\n50,1\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.msg.contains("increase"));
        let e = parse_sizes("size,cdf\n100,0.5\n200,0.4\n300,1\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.msg.contains("must not decrease"));
        assert!(parse_sizes("size,cdf\n100,0.5\n")
            .unwrap_err()
            .msg
            .contains("end at 1"));
        assert!(parse_sizes("100,0.5\n").unwrap_err().msg.contains("header"));
        // A histogram: exact sizes with their weights.
        let k = parse_sizes("size,count\n# comment\n64,3\n1500,1\n").unwrap();
        let s = SizeSampler::new(&SizeDist::Empirical {
            file: String::new(),
            knots: k,
            min: 1,
            max: 1500,
        });
        assert!((s.cdf(64) - 0.75).abs() < 1e-9);
        assert!((s.cdf(1499) - 0.75).abs() < 1e-9);
        let mut rng = rng_for(1, 0, 0);
        for _ in 0..1000 {
            assert!(matches!(s.sample(&mut rng), 64 | 1500));
        }
    }

    #[test]
    fn poisson_gaps_are_exponential_and_fixed_are_even() {
        let rate = 5000;
        let mut a = Arrivals::new(Arrival::Poisson, rate, rng_for(9, 0, 2));
        let gaps: Vec<f64> = (0..50_000).map(|_| a.next_gap().as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((mean * rate as f64 - 1.0).abs() < 0.02, "mean {mean}");
        assert!((sd / mean - 1.0).abs() < 0.05, "cv {}", sd / mean);
        let mut f = Arrivals::new(Arrival::Fixed, rate, rng_for(9, 0, 2));
        let gaps: Vec<f64> = (0..10_000).map(|_| f.next_gap().as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((mean * rate as f64 - 1.0).abs() < 0.02, "mean {mean}");
        assert!(sd / mean < 0.05, "cv {}", sd / mean);
    }

    #[test]
    fn think_times_have_their_mean_and_spread() {
        let t = TimeDist::parse("exponential:mean=2ms").unwrap();
        let mut rng = rng_for(3, 0, 3);
        let v: Vec<f64> = (0..50_000)
            .map(|_| t.sample(&mut rng).as_secs_f64())
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((mean / 0.002 - 1.0).abs() < 0.02, "mean {mean}");
        assert!((sd / mean - 1.0).abs() < 0.05, "cv {}", sd / mean);
        let u = TimeDist::parse("uniform:min=100us,max=300us").unwrap();
        for _ in 0..1000 {
            let d = u.sample(&mut rng).as_micros();
            assert!((100..=300).contains(&d), "{d}");
        }
        assert_eq!(
            TimeDist::parse("1ms").unwrap(),
            TimeDist::Fixed { ns: 1_000_000 }
        );
        assert_eq!(TimeDist::parse(&u.text()).unwrap(), u);
        assert!(TimeDist::parse("uniform:min=2ms,max=1ms").is_err());
        assert!(TimeDist::parse("-1ms")
            .unwrap_err()
            .msg
            .contains("negative"));
        assert_eq!(
            TimeDist::parse("gamma:k=1").unwrap_err().field.as_deref(),
            Some("dist")
        );
        assert!(TimeDist::parse("2h").is_err());
    }

    #[test]
    fn frames_come_apart_at_any_cut() {
        let sizes = [4u32, 5, 300, 4, 70_000, 9];
        let mut stream = Vec::new();
        for &s in &sizes {
            let mut m = vec![0xabu8; s as usize];
            put_frame(&mut m, s);
            stream.extend_from_slice(&m);
        }
        for cut in [1usize, 2, 3, 7, 4096] {
            let mut d = Deframer::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(cut) {
                d.feed(chunk, 1 << 20, |s| got.push(s as u32)).unwrap();
            }
            assert_eq!(got, sizes, "cut {cut}");
            assert!(d.idle());
        }
        let mut d = Deframer::default();
        assert!(d.feed(&[0, 0, 0, 2], 100, |_| {}).is_err());
        assert!(d.feed(&[0, 0, 1, 0], 100, |_| {}).is_err());
    }
}
