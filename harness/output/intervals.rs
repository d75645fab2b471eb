//! `intervals.csv`: the time series, one row per case × repetition × connection ×
//! interval, measured by the end that receives the data (for rr: the requester, counting
//! completed transactions).

use serde::{Deserialize, Serialize};

use crate::config::Side;
use crate::results::CaseRun;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IntervalRow {
    pub case: u32,
    pub repetition: u32,
    pub flow: u32,
    pub conn: u32,
    /// forward = data from the sender process to the receiver process.
    #[serde(deserialize_with = "crate::report::input::interned")]
    pub direction: crate::report::input::Interned,
    /// Which process measured this row.
    #[serde(deserialize_with = "crate::report::input::interned")]
    pub measured_by: crate::report::input::Interned,
    pub interval: u32,
    /// Interval start and end, seconds since that process's start of traffic.
    pub start_s: f64,
    pub end_s: f64,
    /// The interval lies (partly) in the warm-up, excluded from goodput.
    pub warmup: bool,
    pub bytes: u64,
    pub messages: u64,
    pub throughput_bps: Option<f64>,
}

pub fn rows(run: &CaseRun) -> Vec<IntervalRow> {
    let warmup_s = run.spec.warmup.as_secs_f64();
    let mut rows = Vec::new();
    let mut roles: Vec<_> = run
        .roles()
        .filter(|r| !r.interval_bytes.is_empty())
        .collect();
    roles.sort_by_key(|r| r.conn);
    for role in roles {
        let step = role.interval_ns as f64 / 1e9;
        let end_s = role.end_ns as f64 / 1e9;
        let data_from_sender = matches!(
            (role.side, role.active),
            (Some(Side::Sender), true) | (Some(Side::Receiver), false)
        );
        // For stream, the passive end receives; for rr the active end measures responses.
        let direction = if data_from_sender == (role.kind == Some(crate::config::ConnKind::Stream))
        {
            "forward"
        } else {
            "reverse"
        };
        for (i, (&bytes, &messages)) in role
            .interval_bytes
            .iter()
            .zip(&role.interval_messages)
            .enumerate()
        {
            let start = i as f64 * step;
            // The last interval ends at the last receive, not at its nominal end.
            let end = ((i + 1) as f64 * step).min(end_s.max(start));
            let len = end - start;
            rows.push(IntervalRow {
                case: run.case,
                repetition: run.repetition,
                flow: role.flow,
                conn: role.conn,
                direction,
                measured_by: role.side.map(|s| s.as_str()).unwrap_or(""),
                interval: i as u32,
                start_s: round6(start),
                end_s: round6(end),
                warmup: start < warmup_s,
                bytes,
                messages,
                throughput_bps: (len > 0.0).then(|| (bytes as f64 * 8.0 / len).round()),
            });
        }
    }
    rows
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}
