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

mod frame;
mod parse;
mod sample;
mod time;

pub use frame::{put_frame, Framer};
pub use parse::{parse_sizes, read_sizes_file};
pub use sample::{rng_for, SizeSampler};
pub use time::{Arrival, Arrivals, TimeDist, MAX_THINK};

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
#[error("unknown arrival '{name}' (expected fixed or poisson)")]
pub struct UnknownArrival {
    /// What was given.
    pub name: String,
}

/// A framed byte stream whose header gives a size out of bounds: the stream is not what
/// it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a message header says {size} bytes; expected {least} to {max}")]
pub struct FrameError {
    pub size: u32,
    pub least: u32,
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

#[cfg(test)]
mod tests;
