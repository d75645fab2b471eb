//! `cases.csv`: one row per case, its repetitions aggregated — mean, standard deviation
//! and 95% confidence interval (Student's t) of goodput, transaction rate and the latency
//! percentiles, over the repetitions that ended `ok`. Rewritten whole after every run.

use std::path::Path;

use serde::Serialize;

use crate::results::CaseRun;
use crate::sender::Status;
use crate::stats::{summarize, Summary};

/// The figures of one finished repetition that `cases.csv` aggregates.
#[derive(Debug, Clone, Default)]
pub struct RepFigures {
    pub ok: bool,
    pub goodput_bps: Option<f64>,
    pub transactions_per_s: Option<f64>,
    pub rtt_p50_ns: Option<f64>,
    pub rtt_p99_ns: Option<f64>,
    pub rtt_p999_ns: Option<f64>,
    pub lost: Option<f64>,
    pub tcp_retrans: Option<f64>,
}

impl RepFigures {
    pub fn of(run: &CaseRun) -> RepFigures {
        let rtt = run.rtt();
        let tx = run.sum(|r| r.transactions);
        RepFigures {
            ok: run.status() == Status::Ok,
            goodput_bps: run.goodput_bps(),
            transactions_per_s: run.measured_s().filter(|_| tx > 0).map(|s| tx as f64 / s),
            rtt_p50_ns: rtt.map(|p| p.p50 as f64),
            rtt_p99_ns: rtt.map(|p| p.p99 as f64),
            rtt_p999_ns: rtt.map(|p| p.p999 as f64),
            lost: run.lost().map(|l| l as f64),
            tcp_retrans: run.tcp_retrans().map(|l| l as f64),
        }
    }
}

/// Everything known of one case so far.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub case: u32,
    pub label: String,
    pub protocol: String,
    pub pattern: String,
    pub direction: String,
    pub flows: u32,
    pub msg_size: u32,
    pub sndbuf_req: Option<u64>,
    pub rcvbuf_req: Option<u64>,
    pub sndbuf_eff: Option<u64>,
    pub rcvbuf_eff: Option<u64>,
    pub mss_req: Option<u32>,
    pub mss_eff: Option<u32>,
    pub reps: Vec<RepFigures>,
}

impl CaseRecord {
    pub fn new(case: u32, label: &str, run: &CaseRun) -> CaseRecord {
        let spec = &run.spec;
        CaseRecord {
            case,
            label: label.to_string(),
            protocol: spec.protocol.to_string(),
            pattern: spec.pattern.to_string(),
            direction: spec.direction.to_string(),
            flows: spec.flows,
            msg_size: spec.msg_size,
            sndbuf_req: None,
            rcvbuf_req: None,
            sndbuf_eff: None,
            rcvbuf_eff: None,
            mss_req: None,
            mss_eff: None,
            reps: Vec::new(),
        }
    }

    pub fn add(&mut self, run: &CaseRun) {
        let figures = RepFigures::of(run);
        if figures.ok && self.sndbuf_eff.is_none() {
            let (active, passive) = run.first_conn_ends();
            self.sndbuf_req = active.and_then(|r| r.knobs.requested.sndbuf);
            self.sndbuf_eff = active.and_then(|r| r.knobs.effective.sndbuf);
            self.rcvbuf_req = passive.and_then(|r| r.knobs.requested.rcvbuf);
            self.rcvbuf_eff = passive.and_then(|r| r.knobs.effective.rcvbuf);
            self.mss_req = active.and_then(|r| r.knobs.requested.mss);
            self.mss_eff = active.and_then(|r| r.tcp_info.as_ref()).map(|i| i.snd_mss);
        }
        self.reps.push(figures);
    }

    fn stat(&self, pick: impl Fn(&RepFigures) -> Option<f64>) -> Option<Summary> {
        let values: Vec<f64> = self.reps.iter().filter(|r| r.ok).filter_map(pick).collect();
        summarize(&values)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct CaseRow {
    pub case: u32,
    /// The knob values that make this case (from the matrix or a [[case]] table).
    pub case_label: String,
    pub protocol: String,
    pub pattern: String,
    pub direction: String,
    pub flows: u32,
    pub msg_size: u32,
    pub sndbuf_req: Option<u64>,
    pub sndbuf_eff: Option<u64>,
    pub rcvbuf_req: Option<u64>,
    pub rcvbuf_eff: Option<u64>,
    pub mss_req: Option<u32>,
    pub mss_eff: Option<u32>,
    pub repetitions: usize,
    pub repetitions_ok: usize,
    pub goodput_bps_mean: Option<f64>,
    pub goodput_bps_sd: Option<f64>,
    pub goodput_bps_ci95_low: Option<f64>,
    pub goodput_bps_ci95_high: Option<f64>,
    pub transactions_per_s_mean: Option<f64>,
    pub transactions_per_s_sd: Option<f64>,
    pub transactions_per_s_ci95_low: Option<f64>,
    pub transactions_per_s_ci95_high: Option<f64>,
    pub rtt_p50_ns_mean: Option<f64>,
    pub rtt_p50_ns_sd: Option<f64>,
    pub rtt_p50_ns_ci95_low: Option<f64>,
    pub rtt_p50_ns_ci95_high: Option<f64>,
    pub rtt_p99_ns_mean: Option<f64>,
    pub rtt_p99_ns_sd: Option<f64>,
    pub rtt_p99_ns_ci95_low: Option<f64>,
    pub rtt_p99_ns_ci95_high: Option<f64>,
    pub rtt_p999_ns_mean: Option<f64>,
    pub rtt_p999_ns_sd: Option<f64>,
    pub rtt_p999_ns_ci95_low: Option<f64>,
    pub rtt_p999_ns_ci95_high: Option<f64>,
    pub lost_mean: Option<f64>,
    pub tcp_retrans_mean: Option<f64>,
}

type Cols = (Option<f64>, Option<f64>, Option<f64>, Option<f64>);

fn cols(s: Option<Summary>) -> Cols {
    let r = |v: f64| (v * 100.0).round() / 100.0;
    match s {
        None => (None, None, None, None),
        Some(s) => (
            Some(r(s.mean)),
            s.sd.map(r),
            s.ci95.map(|c| r(c.0)),
            s.ci95.map(|c| r(c.1)),
        ),
    }
}

impl CaseRow {
    pub fn of(c: &CaseRecord) -> CaseRow {
        let (gm, gsd, glo, ghi) = cols(c.stat(|r| r.goodput_bps));
        let (tm, tsd, tlo, thi) = cols(c.stat(|r| r.transactions_per_s));
        let (p50m, p50sd, p50lo, p50hi) = cols(c.stat(|r| r.rtt_p50_ns));
        let (p99m, p99sd, p99lo, p99hi) = cols(c.stat(|r| r.rtt_p99_ns));
        let (p999m, p999sd, p999lo, p999hi) = cols(c.stat(|r| r.rtt_p999_ns));
        CaseRow {
            case: c.case,
            case_label: c.label.clone(),
            protocol: c.protocol.clone(),
            pattern: c.pattern.clone(),
            direction: c.direction.clone(),
            flows: c.flows,
            msg_size: c.msg_size,
            sndbuf_req: c.sndbuf_req,
            sndbuf_eff: c.sndbuf_eff,
            rcvbuf_req: c.rcvbuf_req,
            rcvbuf_eff: c.rcvbuf_eff,
            mss_req: c.mss_req,
            mss_eff: c.mss_eff,
            repetitions: c.reps.len(),
            repetitions_ok: c.reps.iter().filter(|r| r.ok).count(),
            goodput_bps_mean: gm,
            goodput_bps_sd: gsd,
            goodput_bps_ci95_low: glo,
            goodput_bps_ci95_high: ghi,
            transactions_per_s_mean: tm,
            transactions_per_s_sd: tsd,
            transactions_per_s_ci95_low: tlo,
            transactions_per_s_ci95_high: thi,
            rtt_p50_ns_mean: p50m,
            rtt_p50_ns_sd: p50sd,
            rtt_p50_ns_ci95_low: p50lo,
            rtt_p50_ns_ci95_high: p50hi,
            rtt_p99_ns_mean: p99m,
            rtt_p99_ns_sd: p99sd,
            rtt_p99_ns_ci95_low: p99lo,
            rtt_p99_ns_ci95_high: p99hi,
            rtt_p999_ns_mean: p999m,
            rtt_p999_ns_sd: p999sd,
            rtt_p999_ns_ci95_low: p999lo,
            rtt_p999_ns_ci95_high: p999hi,
            lost_mean: c.stat(|r| r.lost).map(|s| s.mean),
            tcp_retrans_mean: c.stat(|r| r.tcp_retrans).map(|s| s.mean),
        }
    }
}

/// Rewrites `cases.csv` in `dir` from the records so far (atomically: a reader never sees
/// half a file).
pub fn write(dir: &Path, records: &[CaseRecord]) -> anyhow::Result<()> {
    let mut sorted: Vec<&CaseRecord> = records.iter().collect();
    sorted.sort_by_key(|c| c.case);
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(super::header_of::<CaseRow>())?;
    for c in sorted {
        w.serialize(CaseRow::of(c))?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    super::write_atomically(&dir.join("cases.csv"), &bytes)?;
    Ok(())
}
