//! The short human-readable table `run` prints on stdout.

use crate::results::CaseRun;
use crate::units::{format_bps, format_ns, format_size, format_size_human};

pub fn header() -> String {
    format!(
        "{:>4} {:>3}  {:<11} {:<6} {:<7} {:>5} {:>7} {:>7} {:>7}  {:>13} {:>9} {:>9} {:>8} {:>7}  {:<7} {}",
        "case", "rep", "proto", "pattern", "dir", "flows", "msg", "sndbuf", "rcvbuf", "goodput",
        "rtt p50", "rtt p99", "lost", "retrans", "status", "case label"
    )
}

/// `64K` for a buffer that was set (the kernel's value), `auto:3M` for an autotuned one
/// (its size at the end of the transfer).
fn buffer(requested: Option<u64>, effective: Option<u64>, end: Option<u64>) -> String {
    match (requested, effective, end) {
        (Some(_), Some(eff), _) => format_size_human(eff),
        (None, _, Some(end)) => format!("auto:{}", format_size_human(end)),
        _ => "auto".to_string(),
    }
}

pub fn line(run: &CaseRun) -> String {
    let spec = &run.spec;
    let (active, passive) = run.first_conn_ends();
    let sndbuf = active.map(|r| {
        buffer(
            r.knobs.requested.sndbuf,
            r.knobs.effective.sndbuf,
            r.sndbuf_end,
        )
    });
    let rcvbuf = passive.map(|r| {
        buffer(
            r.knobs.requested.rcvbuf,
            r.knobs.effective.rcvbuf,
            r.rcvbuf_end,
        )
    });
    let rtt = run.rtt();
    let dash = || "-".to_string();
    // The status column holds the word; an error follows the label.
    let (status, label) = match &run.outcome.error {
        Some(e) => (
            run.status().as_str(),
            format!("{} ({e})", run.label).trim_start().to_string(),
        ),
        None => (run.status().as_str(), run.label.clone()),
    };
    format!(
        "{:>4} {:>3}  {:<11} {:<6} {:<7} {:>5} {:>7} {:>7} {:>7}  {:>13} {:>9} {:>9} {:>8} {:>7}  {:<7} {}",
        run.case,
        run.repetition,
        spec.protocol.as_str(),
        spec.pattern.as_str(),
        spec.direction.as_str(),
        spec.flows,
        format_size(spec.msg_size as u64),
        sndbuf.unwrap_or_else(dash),
        rcvbuf.unwrap_or_else(dash),
        run.goodput_bps().map(format_bps).unwrap_or_else(dash),
        rtt.map(|p| format_ns(p.p50)).unwrap_or_else(dash),
        rtt.map(|p| format_ns(p.p99)).unwrap_or_else(dash),
        run.lost().map(|l| l.to_string()).unwrap_or_else(dash),
        run.tcp_retrans().map(|l| l.to_string()).unwrap_or_else(dash),
        status,
        label
    )
}
