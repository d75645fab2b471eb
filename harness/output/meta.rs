//! `meta.json`: the run as a whole, enough to reproduce a result from its own directory.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::measure::hostinfo::HostFacts;
use crate::spec::config::TestSpec;
use crate::spec::path::PathNote;

use super::{write_atomically, WriteError};

/// Bumped when a results file loses or renames a column or field.
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseMeta {
    pub case: u32,
    /// The knob values that make this case.
    pub label: String,
    pub spec: TestSpec,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Hosts {
    pub sender: HostFacts,
    pub receiver: Option<HostFacts>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    pub schema_version: u32,
    pub sockbench_version: String,
    pub git_revision: String,
    pub command_line: Vec<String>,
    pub started_utc: String,
    pub finished_utc: Option<String>,
    /// Where the receiver was: `local` (a child process on loopback) or the address.
    pub receiver: String,
    pub receiver_sockbench_version: Option<String>,
    pub hosts: Hosts,
    pub workload_name: String,
    pub workload_description: String,
    /// The workload file, or "command line".
    pub workload_source: String,
    pub repeat: u32,
    /// Whether the runs went in shuffled order, and the seed of that order (recorded
    /// either way, so the same order can be asked for again).
    pub shuffle: bool,
    pub seed: u64,
    /// The fully resolved cases, as sent to the receiver.
    pub cases: Vec<CaseMeta>,
    pub runs: usize,
    pub runs_ok: usize,
    /// The user stopped the run (Ctrl-C); the last run is `aborted`.
    pub interrupted: bool,
    /// Fleet runs (`sockbench mesh`): every host, its address and facts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fleet: Vec<FleetHost>,
    /// Fleet runs: the shape (pairs, all, ring, star:NAME).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// The emulated path the lab says the run was measured on (`SOCKBENCH_PATH`):
    /// delay, jitter, loss, rate, queue. Absent when nothing described one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathNote>,
}

impl Meta {
    /// A run's `meta.json` as it starts, whatever the command: this build, the command
    /// line, the start time, the receiver (or what stands for it) and this host's facts.
    /// The caller fills in its workload and cases.
    pub fn starting(
        command_line: &[String],
        started: std::time::SystemTime,
        receiver: String,
    ) -> Meta {
        Meta {
            schema_version: SCHEMA_VERSION,
            sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: env!("SOCKBENCH_GIT_REV").to_string(),
            command_line: command_line.to_vec(),
            started_utc: utc_timestamp(started),
            receiver,
            hosts: Hosts {
                sender: HostFacts::gather(),
                receiver: None,
            },
            // The command line checked it before any traffic (a bad one is exit 2).
            path: PathNote::from_env().ok().flatten(),
            ..Meta::default()
        }
    }

    /// Replaces `meta.json` in `dir` at once: readers see the previous or the new one,
    /// always valid JSON.
    pub fn write(&self, dir: &Path) -> Result<(), WriteError> {
        let path = dir.join("meta.json");
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| WriteError {
            action: "writing",
            path: path.clone(),
            error: std::io::Error::other(e),
        })?;
        bytes.push(b'\n');
        write_atomically(&path, &bytes)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time since the epoch (civil-from-days, proleptic Gregorian).
pub fn utc_timestamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_795_462_245)),
            "2026-11-23T19:30:45Z"
        );
    }
}

/// One host in meta.json: its name, its daemon's address, and its facts (kernel, CPU, the
/// sysctls that bound every knob) as its daemon told them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetHost {
    pub name: String,
    pub address: String,
    pub facts: Option<HostFacts>,
}
