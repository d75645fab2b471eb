//! `intervals.csv`: the time series, one row per case × repetition × connection ×
//! interval, measured by the end that receives the data (for rr: the requester, counting
//! completed transactions). The warm-up and the measured time are cut into intervals
//! separately (see [`IntervalCounter`](crate::measure::IntervalCounter)), so a row is
//! wholly one or the other. Columns: docs/results.md.

use serde::{Deserialize, Serialize};

use crate::measure::{warmup_slots, RoleReport};
use crate::results::CaseRun;
use crate::spec::config::{Pattern, Side};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IntervalRow {
    pub case: u32,
    pub repetition: u32,
    pub flow: u32,
    pub conn: u32,
    /// forward = data from the sender process to the receiver process; reverse the other
    /// way; probe = the latency probe's connection beside a stream.
    pub direction: FlowDirection,
    /// Which process measured this row.
    pub measured_by: Option<Side>,
    pub interval: u32,
    /// Interval start and end, seconds since that process's start of traffic.
    pub start_s: f64,
    pub end_s: f64,
    /// The interval lies in the warm-up, excluded from goodput.
    pub warmup: bool,
    pub bytes: u64,
    /// Datagrams, or completed transactions (rr, crr, probe); empty for a byte stream's
    /// bulk data, which has no message boundaries at the receiving end.
    pub messages: Option<u64>,
    pub throughput_bps: Option<f64>,
    /// Fleet runs: the sending and the receiving host; empty otherwise.
    pub src: String,
    pub dst: String,
}

crate::spec::base::named_enum!(
    /// What a connection carries, intervals.csv's `direction`: forward = data from the
    /// sender process to the receiver process, reverse the other way, probe = the latency
    /// probe's connection beside a stream.
    FlowDirection {
        Forward => "forward",
        Reverse => "reverse",
        Probe => "probe",
    }
);

/// What the connection of a role carries.
fn direction(run: &CaseRun, role: &RoleReport) -> FlowDirection {
    if role.kind != Some(run.spec.main_kind()) {
        return FlowDirection::Probe;
    }
    let data_from_sender = matches!(
        (role.side, role.active),
        (Some(Side::Sender), true) | (Some(Side::Receiver), false)
    );
    // For stream, the passive end receives; for rr the active end measures responses.
    let bulk = role.kind.is_some_and(|k| !k.is_transactional());
    if data_from_sender == bulk {
        FlowDirection::Forward
    } else {
        FlowDirection::Reverse
    }
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
        let in_warmup = warmup_slots(run.spec.warmup.as_nanos() as u64, role.interval_ns);
        let direction = direction(run, role);
        let counts_messages =
            role.kind.map_or(true, Pattern::is_transactional) || run.spec.protocol.is_datagram();
        for (i, (&bytes, &messages)) in role
            .interval_bytes
            .iter()
            .zip(&role.interval_messages)
            .enumerate()
        {
            let warmup = (i as u64) < in_warmup;
            let (start, nominal_end) = if warmup {
                (i as f64 * step, ((i + 1) as f64 * step).min(warmup_s))
            } else {
                let j = (i as u64 - in_warmup) as f64;
                (warmup_s + j * step, warmup_s + (j + 1.0) * step)
            };
            // The last interval ends at the last receive, not at its nominal end.
            let end = nominal_end.min(end_s.max(start));
            let len = end - start;
            rows.push(IntervalRow {
                case: run.case,
                repetition: run.repetition,
                flow: role.flow,
                conn: role.conn,
                direction,
                measured_by: role.side,
                interval: i as u32,
                start_s: round6(start),
                end_s: round6(end),
                warmup,
                bytes,
                messages: counts_messages.then_some(messages),
                src: run.src.clone(),
                dst: run.dst.clone(),
                throughput_bps: rate(bytes, len),
            });
        }
        fold_a_sliver(&mut rows, step);
    }
    rows
}

/// Bits per second over `len` seconds; none for an interval without length.
fn rate(bytes: u64, len: f64) -> Option<f64> {
    (len > 0.0).then(|| (bytes as f64 * 8.0 / len).round())
}

/// The last measured interval of a connection, when shorter than a quarter of an
/// interval (the transaction or the drained bytes that land just after the deadline),
/// joins the interval before it: a rate over a few microseconds is one event, not a
/// rate (a 64-byte response in 4 µs reads as 128 Mbit/s beside a steady 40). The joined
/// row keeps its real span, so `throughput_bps` stays bytes × 8 / (`end_s` − `start_s`).
fn fold_a_sliver(rows: &mut Vec<IntervalRow>, step: f64) {
    let n = rows.len();
    if n < 2 {
        return;
    }
    let (last, prev) = (&rows[n - 1], &rows[n - 2]);
    let same_conn = (last.flow, last.conn) == (prev.flow, prev.conn);
    let sliver = last.end_s - last.start_s < step / 4.0;
    if !same_conn || !sliver || last.warmup || prev.warmup {
        return;
    }
    let Some(last) = rows.pop() else { return };
    let prev = &mut rows[n - 2];
    prev.end_s = last.end_s;
    // Saturating: the counts come from a peer's report, which may be anything.
    prev.bytes = prev.bytes.saturating_add(last.bytes);
    prev.messages = prev
        .messages
        .map(|m| m.saturating_add(last.messages.unwrap_or(0)));
    prev.throughput_bps = rate(prev.bytes, prev.end_s - prev.start_s);
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::outcome::{Status, TestOutcome};
    use crate::measure::SideReport;
    use crate::spec::config::{Protocol, TestSpec};
    use std::time::Duration;

    fn role(kind: Pattern, side: Side, active: bool, bytes: &[u64], msgs: &[u64]) -> RoleReport {
        RoleReport {
            conn: 0,
            kind: Some(kind),
            side: Some(side),
            active,
            interval_ns: 1_000_000_000,
            interval_bytes: bytes.to_vec(),
            interval_messages: msgs.to_vec(),
            end_ns: 3_200_000_000,
            ..Default::default()
        }
    }

    fn run(spec: TestSpec, sender: Vec<RoleReport>, receiver: Vec<RoleReport>) -> CaseRun {
        let mut outcome = TestOutcome::failed(Status::Ok, String::new());
        outcome.error = None;
        outcome.sender = SideReport {
            roles: sender,
            ..Default::default()
        };
        outcome.receiver = Some(SideReport {
            roles: receiver,
            ..Default::default()
        });
        CaseRun {
            case: 1,
            repetition: 1,
            label: String::new(),
            spec,
            outcome,
            not_applicable: Vec::new(),
            src: String::new(),
            dst: String::new(),
        }
    }

    #[test]
    fn warmup_gets_its_own_rows_and_measured_intervals_start_at_its_end() {
        // Warm-up 1.5 s, 1 s intervals, last receive at 3.2 s: slots [0,1) [1,1.5) in the
        // warm-up, then [1.5,2.5) [2.5,3.2).
        let spec = TestSpec {
            warmup: Duration::from_millis(1500),
            duration: Duration::from_secs(2),
            ..Default::default()
        };
        let receiving = role(
            Pattern::Stream,
            Side::Receiver,
            false,
            &[8, 4, 8, 7],
            &[0; 4],
        );
        let rows = rows(&run(spec, vec![], vec![receiving]));
        let spans: Vec<(f64, f64, bool)> = rows
            .iter()
            .map(|r| (r.start_s, r.end_s, r.warmup))
            .collect();
        assert_eq!(
            spans,
            [
                (0.0, 1.0, true),
                (1.0, 1.5, true),
                (1.5, 2.5, false),
                (2.5, 3.2, false)
            ]
        );
        assert_eq!(rows[1].throughput_bps, Some(64.0), "4 bytes over 0.5 s");
        assert_eq!(rows[3].throughput_bps, Some(80.0), "7 bytes over 0.7 s");
        assert!(rows.iter().all(
            |r| r.direction == FlowDirection::Forward && r.measured_by == Some(Side::Receiver)
        ));
        assert!(
            rows.iter().all(|r| r.messages.is_none()),
            "a byte stream's receiver cannot count messages"
        );
    }

    #[test]
    fn a_sliver_after_the_deadline_joins_the_interval_before_it() {
        // rr, no warm-up, 1 s intervals over 3 s; one transaction completes 4 µs after
        // the deadline. Alone it would be 64 bytes over 4 µs = 128 Mbit/s.
        let spec = TestSpec {
            pattern: crate::spec::config::Pattern::Rr,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(3),
            ..Default::default()
        };
        let mut requester = role(
            Pattern::Rr,
            Side::Sender,
            true,
            &[640_000, 640_000, 640_000, 64],
            &[10_000, 10_000, 10_000, 1],
        );
        requester.end_ns = 3_000_004_000;
        let rows = rows(&run(spec, vec![requester], vec![]));
        let spans: Vec<(f64, f64)> = rows.iter().map(|r| (r.start_s, r.end_s)).collect();
        assert_eq!(spans, [(0.0, 1.0), (1.0, 2.0), (2.0, 3.000004)]);
        let last = &rows[2];
        assert_eq!((last.bytes, last.messages), (640_064, Some(10_001)));
        assert_eq!(
            last.throughput_bps,
            Some((640_064.0 * 8.0 / 1.000004f64).round()),
            "the joined row's rate is over its real span"
        );
        let total: u64 = rows.iter().map(|r| r.bytes).sum();
        assert_eq!(total, 640_000 * 3 + 64, "no byte lost in the join");
        assert!(rows.iter().all(|r| r.direction == FlowDirection::Reverse));
    }

    #[test]
    fn datagrams_and_transactions_are_counted_and_the_probe_is_named() {
        let spec = TestSpec {
            protocol: Protocol::Udp,
            warmup: Duration::ZERO,
            probe: true,
            ..Default::default()
        };
        let stream = role(
            Pattern::Stream,
            Side::Receiver,
            false,
            &[2800, 1400],
            &[2, 1],
        );
        let mut probe = role(Pattern::Rr, Side::Sender, true, &[640, 640], &[10, 10]);
        probe.conn = 1;
        let rows = rows(&run(spec, vec![probe], vec![stream]));
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|r| !r.warmup));
        assert_eq!(
            (rows[0].direction, rows[0].messages),
            (FlowDirection::Forward, Some(2))
        );
        assert_eq!(
            (rows[2].direction, rows[2].messages),
            (FlowDirection::Probe, Some(10))
        );
        assert_eq!(rows[2].measured_by, Some(Side::Sender));
    }
}
