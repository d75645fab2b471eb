//! The network path a run was measured on, as the lab (or the user) describes it in the
//! `SOCKBENCH_PATH` environment variable: `delay=20ms,jitter=0ms,loss=0.1%,rate=50mbit,
//! queue=100ms,emulator=sockbench-delay,seed=1`. sockbench does not emulate anything
//! itself; it records the description in meta.json (`path`), so that a results
//! directory says what it was measured on (docs/guide/paths.md).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::units::parse_duration;

/// The environment variable a lab sets for the runs it starts.
pub const PATH_ENV: &str = "SOCKBENCH_PATH";

/// A path description that does not parse: what is wrong with it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    /// An item that is not KEY=VALUE, or whose key is not one of the path's.
    #[error("{PATH_ENV}: '{0}' {EXPECTED}")]
    BadItem(String),
    /// A known key whose value does not read: what the key takes.
    #[error("{PATH_ENV}: '{item}': {key} takes {takes}")]
    BadValue {
        item: String,
        key: &'static str,
        takes: &'static str,
    },
    #[error("{PATH_ENV}: '{0}' given twice {EXPECTED}")]
    Twice(String),
    #[error("{PATH_ENV}: not UTF-8 {EXPECTED}")]
    NotUtf8,
}

const EXPECTED: &str = "(expected KEY=VALUE,... of delay, jitter, loss, rate, queue, emulator, seed; e.g. delay=20ms,loss=0.1%,rate=50mbit)";

/// What each key's value takes, for the error that refuses it.
const KEYS: [(&str, &str); 7] = [
    (
        "delay",
        "a duration with its unit, e.g. 20ms (a bare number is seconds to sockbench, microseconds to tc)",
    ),
    (
        "jitter",
        "a duration with its unit, e.g. 2ms (a bare number is seconds to sockbench, microseconds to tc)",
    ),
    (
        "queue",
        "a duration with its unit, e.g. 100ms (a bare number is seconds to sockbench, microseconds to tc)",
    ),
    (
        "loss",
        "a share from 0% to 100% with its %, e.g. 0.1% (netem reads a bare 1 as 1%)",
    ),
    (
        "rate",
        "a rate above 0 in bits per second, e.g. 50mbit, 1gbit or 50M (tc's bps is bytes)",
    ),
    ("seed", "a whole number"),
    ("emulator", "a name, e.g. netem or element"),
];

/// meta.json's `path`: the emulated path, each figure in its unit; absent keys are null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PathNote {
    /// The description as given.
    pub note: String,
    /// One-way delay, each direction.
    pub delay_ns: Option<u64>,
    pub jitter_ns: Option<u64>,
    /// Share of packets lost, each direction, in percent.
    pub loss_pct: Option<f64>,
    /// The bottleneck's rate.
    pub rate_bps: Option<u64>,
    /// The longest the bottleneck's queue may hold (tbf latency).
    pub queue_ns: Option<u64>,
    /// What emulated it: netem, element (sockbench-delay), or a name the user gives.
    pub emulator: Option<String>,
    /// The emulator's loss and jitter seed.
    pub seed: Option<u64>,
}

/// A rate as tc and users write it: `50mbit`, `1gbit`, `500kbit`, `50M`, `50Mbit/s`, or
/// bits per second. (tc's `bps` means bytes per second and is refused as ambiguous.)
fn parse_rate_bps(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let value: f64 = t[..end].parse().ok()?;
    let unit = t[end..].to_ascii_lowercase();
    let unit = unit.strip_suffix("bit").unwrap_or(&unit);
    let mult = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        _ => return None,
    };
    let bps = value * mult;
    (bps.is_finite() && (1.0..1e15).contains(&bps)).then(|| bps.round() as u64)
}

/// A loss share in percent, written with `%` (`0.1%`); `0` alone is also clear. A bare
/// number is refused: netem reads `loss 1` as 1 %, a fraction reading as 100 %.
pub fn loss_pct(text: &str) -> Option<f64> {
    let t = text.trim();
    let pct = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()?,
        None if t.parse::<f64>().ok()? == 0.0 => 0.0,
        None => return None,
    };
    (0.0..=100.0).contains(&pct).then_some(pct)
}

/// A path's delay, jitter or queue, written with its unit (`20ms`); `0` alone is also
/// clear. A bare number is refused: sockbench's durations read `20` as 20 s, tc as 20 µs.
pub fn path_duration(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let unitless = t
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_digit() || c == '.');
    if unitless && t.parse::<f64>().ok()? != 0.0 {
        return None;
    }
    parse_duration(t).ok()
}

impl PathNote {
    /// Parses a description; every key at most once, every value in its unit.
    pub fn parse(text: &str) -> Result<PathNote, PathError> {
        let mut note = PathNote {
            note: text.trim().to_string(),
            ..PathNote::default()
        };
        let ns = |v: &str| path_duration(v).map(|d| d.as_nanos() as u64);
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) =
                (item.split_once('=')).ok_or_else(|| PathError::BadItem(item.to_string()))?;
            let (key, value) = (key.trim(), value.trim());
            let bad = || match KEYS.iter().find(|(k, _)| *k == key) {
                Some(&(key, takes)) => PathError::BadValue {
                    item: item.to_string(),
                    key,
                    takes,
                },
                None => PathError::BadItem(item.to_string()),
            };
            let fresh = match key {
                "delay" => note.delay_ns.replace(ns(value).ok_or_else(bad)?).is_none(),
                "jitter" => note.jitter_ns.replace(ns(value).ok_or_else(bad)?).is_none(),
                "queue" => note.queue_ns.replace(ns(value).ok_or_else(bad)?).is_none(),
                "loss" => note
                    .loss_pct
                    .replace(loss_pct(value).ok_or_else(bad)?)
                    .is_none(),
                "rate" => note
                    .rate_bps
                    .replace(parse_rate_bps(value).ok_or_else(bad)?)
                    .is_none(),
                "seed" => note
                    .seed
                    .replace(value.parse().map_err(|_| bad())?)
                    .is_none(),
                "emulator" if !value.is_empty() => {
                    note.emulator.replace(value.to_string()).is_none()
                }
                _ => return Err(bad()),
            };
            if !fresh {
                return Err(PathError::Twice(key.to_string()));
            }
        }
        Ok(note)
    }

    /// The path of `SOCKBENCH_PATH`, if it is set and not empty.
    pub fn from_env() -> Result<Option<PathNote>, PathError> {
        match std::env::var(PATH_ENV) {
            Ok(v) if !v.trim().is_empty() => PathNote::parse(&v).map(Some),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(PathError::NotUtf8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_labs_description_parses_into_units() {
        let p = PathNote::parse(
            "delay=20ms,jitter=0ms,loss=0.1%,rate=50mbit,queue=100ms,emulator=element,seed=1",
        )
        .unwrap();
        assert_eq!(p.delay_ns, Some(20_000_000));
        assert_eq!(p.jitter_ns, Some(0));
        assert_eq!(p.loss_pct, Some(0.1));
        assert_eq!(p.rate_bps, Some(50_000_000));
        assert_eq!(p.queue_ns, Some(100_000_000));
        assert_eq!(p.emulator.as_deref(), Some("element"));
        assert_eq!(p.seed, Some(1));
        assert_eq!(
            PathNote::parse("rate=1gbit").unwrap().rate_bps,
            Some(1_000_000_000)
        );
        assert_eq!(
            PathNote::parse("rate=50M").unwrap().rate_bps,
            Some(50_000_000)
        );
        assert_eq!(PathNote::parse("loss=0").unwrap().loss_pct, Some(0.0));
        assert_eq!(
            PathNote::parse(" delay = 5ms ,").unwrap().delay_ns,
            Some(5_000_000)
        );
    }

    #[test]
    fn a_bad_description_is_one_line_naming_the_item() {
        for (bad, says) in [
            ("delay", "'delay' (expected KEY=VALUE"),
            (
                "delay=soon",
                "'delay=soon': delay takes a duration with its unit",
            ),
            (
                "loss=120%",
                "'loss=120%': loss takes a share from 0% to 100%",
            ),
            // Without a unit: netem reads 1 as 1 %, a fraction 100 %; 20 is 20 s or 20 µs.
            ("loss=1", "'loss=1': loss takes a share"),
            ("loss=0.01", "'loss=0.01': loss takes"),
            (
                "delay=35",
                "'delay=35': delay takes a duration with its unit, e.g. 20ms",
            ),
            (
                "jitter=2",
                "'jitter=2': jitter takes a duration with its unit",
            ),
            ("queue=100", "'queue=100': queue takes a duration"),
            (
                "rate=50bps",
                "'rate=50bps': rate takes a rate above 0 in bits per second",
            ),
            ("rate=0", "'rate=0': rate takes a rate above 0"),
            ("seed=x", "'seed=x': seed takes a whole number"),
            (
                "colour=blue",
                "'colour=blue' (expected KEY=VALUE,... of delay",
            ),
            ("delay=1ms,delay=2ms", "'delay' given twice"),
            ("emulator=", "'emulator=': emulator takes a name"),
        ] {
            let e = PathNote::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says) && !e.contains('\n'), "{bad}: {e}");
            assert!(e.starts_with("SOCKBENCH_PATH: "), "{e}");
        }
    }
}
