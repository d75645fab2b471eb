//! The knobs' parsers, printers and range checks.

use super::{ConfigError, SocketKnobs, Takes, ValueError, MAX_CPUS};
use crate::spec::units::{parse_duration, parse_size};
pub(super) fn show_bool(on: bool) -> Option<String> {
    on.then(|| "true".to_string())
}

pub(super) fn size_or_auto(v: &str) -> Result<Option<u64>, ValueError> {
    if v.trim().eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        Ok(Some(parse_size(v)?))
    }
}

pub(super) fn whole_u32(v: &str) -> Result<u32, ValueError> {
    v.trim()
        .parse()
        .map_err(|_| ValueError::NotWhole(v.to_string()))
}

pub(super) fn size_u32(v: &str) -> Result<u32, ValueError> {
    let n = parse_size(v)?;
    u32::try_from(n).map_err(|_| ValueError::TooLarge(v.to_string()))
}

pub(super) fn parse_tos(v: &str) -> Result<u8, ValueError> {
    let t = v.trim();
    let n = match t.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => t.parse::<u8>().ok(),
    };
    n.ok_or_else(|| ValueError::NotTos(v.to_string()))
}

pub(super) fn parse_cpus(v: &str) -> Result<Vec<u32>, ValueError> {
    let cpus: Result<Vec<u32>, _> = v.split(',').map(|c| c.trim().parse::<u32>()).collect();
    match cpus {
        Ok(c) if !c.is_empty() && c.iter().all(|&n| n < MAX_CPUS) => Ok(c),
        _ => Err(ValueError::NotCpus(v.to_string())),
    }
}

pub(super) fn parse_busy_poll(v: &str) -> Result<u32, ValueError> {
    let d = parse_duration(v)?;
    u32::try_from(d.as_micros()).map_err(|_| ValueError::TooLarge(v.to_string()))
}

pub(super) fn check_buffer(name: &str, v: Option<u64>) -> Result<(), ConfigError> {
    match v {
        Some(v) if v == 0 || v > i32::MAX as u64 / 2 => Err(ConfigError::Range(format!(
            "--{name} {v} is out of range (1 byte to 1G; use 'auto' for the kernel's autotuning)"
        ))),
        _ => Ok(()),
    }
}

pub(super) fn check_cpus(k: &SocketKnobs) -> Result<(), ConfigError> {
    let Some(cpus) = &k.cpus else { return Ok(()) };
    // sched_setaffinity's cpu_set_t holds CPU_SETSIZE (1024) CPUs; a number beyond it
    // would index out of the set.
    if cpus.is_empty() || cpus.len() > MAX_CPUS as usize {
        return Err(ConfigError::Range(format!(
            "--cpu-affinity takes 1 to {MAX_CPUS} CPU numbers; got {}",
            cpus.len()
        )));
    }
    match cpus.iter().find(|&&c| c >= MAX_CPUS) {
        Some(cpu) => Err(ConfigError::Range(format!(
            "--cpu-affinity: CPU {cpu} is out of range (0 to {})",
            MAX_CPUS - 1
        ))),
        None => Ok(()),
    }
}

/// A name TCP_CONGESTION could take: up to 15 letters, digits, `_` or `-`
/// (TCP_CA_NAME_MAX is 16 with the NUL).
pub(super) fn congestion_name(cc: &str) -> Result<String, ValueError> {
    let ok = !cc.is_empty()
        && cc.len() <= 15
        && cc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(cc.to_string())
    } else {
        Err(ValueError::NotCongestion(cc.to_string()))
    }
}

pub(super) fn check_congestion(k: &SocketKnobs) -> Result<(), ConfigError> {
    match &k.congestion {
        Some(cc) => match congestion_name(cc) {
            Ok(_) => Ok(()),
            Err(e) => Err(ConfigError::Value(format!("--congestion {e}"))),
        },
        None => Ok(()),
    }
}

pub(super) fn no_check(_: &SocketKnobs) -> Result<(), ConfigError> {
    Ok(())
}

/// The congestion control modules of Linux's own tree, shown as `--congestion`'s choices;
/// another one this kernel has loaded is taken too.
pub const CONGESTION_CONTROLS: &[&str] = &[
    "cubic",
    "bbr",
    "reno",
    "dctcp",
    "bic",
    "cdg",
    "highspeed",
    "htcp",
    "hybla",
    "illinois",
    "lp",
    "nv",
    "scalable",
    "vegas",
    "veno",
    "westwood",
    "yeah",
];

pub(super) const SIZE: Takes = Takes::Value {
    name: "SIZE",
    choices: &[],
};
