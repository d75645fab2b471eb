//! Results directories made in memory, as a run would have written them.

use sockbench::output::cases::CaseRow;
use sockbench::output::meta::Meta;
use sockbench::output::summary::SizeReq;
use sockbench::output::summary::SummaryRow;
use sockbench::report::{Case, IntervalPoint, ResultsDir};

/// A case as the run would have written it: its repetitions' rows and their aggregate.
pub struct Made {
    pub label: &'static str,
    pub protocol: &'static str,
    pub pattern: &'static str,
    pub goodputs: Vec<f64>,
    pub tps: Option<f64>,
    pub p50_p99_ns: Option<(u64, u64)>,
    pub sndbuf: Option<(u64, u64)>,
    pub probe: bool,
    pub congestion: &'static str,
}

impl Made {
    pub fn stream(label: &'static str, goodputs: &[f64]) -> Made {
        Made {
            label,
            protocol: "tcp",
            pattern: "stream",
            goodputs: goodputs.to_vec(),
            tps: None,
            p50_p99_ns: None,
            sndbuf: None,
            probe: false,
            congestion: "cubic",
        }
    }
}

pub fn made_case(id: u32, m: &Made) -> Case {
    let s = sockbench::results::stats::summarize(&m.goodputs);
    let mut c = Case::new(CaseRow {
        case: id,
        case_label: m.label.into(),
        protocol: m.protocol.parse().unwrap(),
        pattern: m.pattern.parse().unwrap(),
        direction: sockbench::Direction::Forward,
        flows: 1,
        msg_size: 65536,
        repetitions: m.goodputs.len().max(1),
        repetitions_ok: m.goodputs.len().max(1),
        goodput_bps_mean: s.map(|s| s.mean),
        goodput_bps_ci95_low: s.and_then(|s| s.ci95).map(|c| c.0),
        goodput_bps_ci95_high: s.and_then(|s| s.ci95).map(|c| c.1),
        transactions_per_s_mean: m.tps,
        rtt_p50_ns_mean: m.p50_p99_ns.map(|p| p.0 as f64),
        rtt_p99_ns_mean: m.p50_p99_ns.map(|p| p.1 as f64),
        sndbuf_req: Some(m.sndbuf.map_or(SizeReq::Auto, |s| SizeReq::Bytes(s.0))),
        sndbuf_eff: m.sndbuf.map(|s| s.1),
        ..Default::default()
    });
    if let Some((p50, p99)) = m.p50_p99_ns {
        // 10,000 round trips: half at or below p50, 99% at or below p99, a tail beyond.
        let mut h = sockbench::measure::latency_histogram();
        for k in 0..10_000u64 {
            let v = match k {
                0..=4_999 => p50 * 9 / 10 + k % 100,
                5_000..=9_899 => p50 + (p99 - p50) * (k - 5_000) / 4_900,
                _ => p99 + (k - 9_900) * p99 / 50,
            };
            h.record(v).unwrap();
        }
        c.histograms.insert("rtt".into(), h);
    }
    let reps = m.goodputs.len().max(1);
    for rep in 0..reps {
        c.add_rep(SummaryRow {
            case: id,
            repetition: rep as u32 + 1,
            protocol: m.protocol.parse().unwrap(),
            pattern: m.pattern.parse().unwrap(),
            status: sockbench::Status::Ok,
            goodput_bps: m.goodputs.get(rep).copied(),
            transactions_per_s: m.tps,
            rtt_p50_ns: m.p50_p99_ns.map(|p| p.0),
            rtt_p99_ns: m.p50_p99_ns.map(|p| p.1),
            sndbuf_req: Some(m.sndbuf.map_or(SizeReq::Auto, |s| SizeReq::Bytes(s.0))),
            sndbuf_eff: m.sndbuf.map(|s| s.1),
            congestion: Some(m.congestion.into()),
            probe: m.probe,
            warmup_s: 0.5,
            case_label: m.label.into(),
            ..Default::default()
        });
        // One second of 4 intervals of 0.25 s after a 0.5 s warm-up.
        for i in 0..6 {
            c.intervals.push(IntervalPoint {
                repetition: rep as u32 + 1,
                direction: sockbench::output::intervals::FlowDirection::Forward,
                start_s: i as f64 * 0.25,
                end_s: (i as f64 + 1.0) * 0.25,
                bps: m.goodputs.get(rep).copied().unwrap_or(1e6) * (1.0 + 0.01 * i as f64),
            });
        }
    }
    c
}

pub fn made_dir(name: &str, cases: &[Made]) -> ResultsDir {
    made_dir_with(name, cases, Meta::default())
}

pub fn made_dir_with(name: &str, cases: &[Made], meta: Meta) -> ResultsDir {
    let cases: Vec<Case> = cases
        .iter()
        .enumerate()
        .map(|(i, m)| made_case(i as u32 + 1, m))
        .collect();
    ResultsDir {
        path: name.into(),
        name: name.into(),
        meta,
        cases_total: cases.len() as u64,
        rows_total: cases.iter().map(|c| c.reps.len() as u64).sum(),
        cases,
        matrix: Vec::new(),
        tune: None,
        sizes: Vec::new(),
    }
}

pub const SIZES: [&str; 5] = ["64K", "256K", "1M", "4M", "auto"];

/// sndbuf × rcvbuf, 5 × 5, two repetitions each (so wide 95% intervals), in the order a
/// workload file gives them.
pub fn buffer_sweep() -> Vec<Made> {
    let mut out = Vec::new();
    for (i, s) in SIZES.iter().enumerate() {
        for (j, r) in ["4M", "auto", "64K", "1M", "256K"].iter().enumerate() {
            let label: &'static str = Box::leak(format!("sndbuf={s} rcvbuf={r}").into_boxed_str());
            let g = 10e9 + 1e9 * (i * 5 + j) as f64;
            // One case's repetitions disagree wildly: its interval (three repetitions, the
            // fewest that give one) runs far above every mean.
            let spread = if i == 1 && j == 1 { 8e9 } else { 0.2e9 };
            out.push(Made::stream(label, &[g - spread, g, g + spread]));
        }
    }
    out
}
