//! `cases.csv`: one row per case, its repetitions aggregated — mean, standard deviation
//! and 95% confidence interval (Student's t on the logarithms: never below zero; none with
//! fewer than 3 repetitions) of goodput, transaction rate and the latency percentiles,
//! over the repetitions that ended `ok`, and whether the case's main figure is noisy.
//! Rewritten whole after every run. Columns: docs/results.md.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::summary::SizeReq;
use crate::measure::outcome::Status;
use crate::results::stats::{summarize, Noise, Summary, MIN_REPS_FOR_CI};
use crate::results::CaseRun;
use crate::spec::config::{Direction, Pattern, Protocol};

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
            // A transactional test that completed none in its measured time (one
            // transaction in flight all along, on a starved machine) measured 0/s; a
            // stream has no transactions to count.
            transactions_per_s: run
                .measured_s()
                .filter(|_| tx > 0 || run.spec.main_kind().is_transactional())
                .map(|s| tx as f64 / s),
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
    /// Fleet runs: one record per case and ordered pair of hosts.
    pub src: String,
    pub dst: String,
    pub label: String,
    pub protocol: Protocol,
    pub pattern: Pattern,
    pub direction: Direction,
    pub flows: u32,
    pub msg_size: u32,
    /// The case's main figure is transactions/s (rr, crr) rather than goodput (stream).
    pub main_is_transactions: bool,
    pub sndbuf_req: Option<SizeReq>,
    pub rcvbuf_req: Option<SizeReq>,
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
            src: run.src.clone(),
            dst: run.dst.clone(),
            label: label.to_string(),
            protocol: spec.protocol,
            pattern: spec.pattern,
            direction: spec.direction,
            flows: spec.flows,
            msg_size: spec.msg_size,
            main_is_transactions: spec.main_kind().is_transactional(),
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
            self.sndbuf_req = active.map(|r| SizeReq::of(r.knobs.requested.sndbuf));
            self.sndbuf_eff = active.and_then(|r| r.knobs.effective.sndbuf);
            self.rcvbuf_req = passive.map(|r| SizeReq::of(r.knobs.requested.rcvbuf));
            self.rcvbuf_eff = passive.and_then(|r| r.knobs.effective.rcvbuf);
            self.mss_req = active.and_then(|r| r.knobs.requested.mss);
            self.mss_eff = active.and_then(|r| r.tcp_info.as_ref()).map(|i| i.snd_mss);
        }
        self.reps.push(figures);
    }

    fn values(&self, pick: impl Fn(&RepFigures) -> Option<f64>) -> Vec<f64> {
        self.reps.iter().filter(|r| r.ok).filter_map(pick).collect()
    }

    fn stat(&self, pick: impl Fn(&RepFigures) -> Option<f64>) -> Option<Summary> {
        summarize(&self.values(pick))
    }

    /// The name and the per-repetition values of the case's main figure: transactions/s
    /// for rr and crr, goodput for stream.
    fn main_values(&self) -> (&'static str, Vec<f64>) {
        if self.main_is_transactions {
            ("transactions/s", self.values(|r| r.transactions_per_s))
        } else {
            ("goodput", self.values(|r| r.goodput_bps))
        }
    }

    /// The main figure over the repetitions that ended ok.
    pub fn main_summary(&self) -> Option<Summary> {
        summarize(&self.main_values().1)
    }

    /// Spread and clusters of the main figure; None below two ok repetitions.
    pub fn noise(&self) -> Option<Noise> {
        Noise::of(&self.main_values().1)
    }

    /// One line for the terminal when the main figure is noisy, or (`missed_target`, from
    /// the caller) its interval stayed wider than asked.
    pub fn warning(&self, missed_target: Option<String>) -> Option<String> {
        let (figure, values) = self.main_values();
        let noise = Noise::of(&values)
            .and_then(|n| n.describe())
            .map(|why| format!("{figure} {why}"));
        let missed = missed_target.map(|m| format!("{figure} has {m}"));
        let why: Vec<String> = noise.into_iter().chain(missed).collect();
        if why.is_empty() {
            return None;
        }
        let label = if self.label.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.label)
        };
        Some(format!(
            "case {}{label}: over {} repetitions, {}; for a steadier figure add repetitions \
             (--repeat, or --max-repeat with --target-ci), pin with --cpu-affinity, or use a \
             quieter host",
            self.case,
            self.reps.len(),
            why.join("; ")
        ))
    }

    /// Why the row's figures need care: too few repetitions for an interval, noise.
    fn note(&self) -> Option<String> {
        let (figure, values) = self.main_values();
        let ok = self.reps.iter().filter(|r| r.ok).count();
        let mut notes = Vec::new();
        if ok == 0 {
            notes.push("no repetition ended ok".to_string());
        } else if ok < MIN_REPS_FOR_CI {
            notes.push(format!(
                "{ok} ok repetition(s): too few for a 95% interval (needs {MIN_REPS_FOR_CI})"
            ));
        }
        if let Some(why) = Noise::of(&values).and_then(|n| n.describe()) {
            notes.push(format!("noisy: {figure} {why}"));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseRow {
    pub case: u32,
    /// The knob values that make this case (from the matrix or a `[[case]]` table).
    pub case_label: String,
    pub protocol: Protocol,
    pub pattern: Pattern,
    pub direction: Direction,
    pub flows: u32,
    pub msg_size: u32,
    pub sndbuf_req: Option<SizeReq>,
    pub sndbuf_eff: Option<u64>,
    pub rcvbuf_req: Option<SizeReq>,
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
    /// The main figure (goodput for stream, transactions/s for rr and crr) varies by more
    /// than 10% (coefficient of variation) or falls in two clusters; empty below two ok
    /// repetitions.
    pub noisy: Option<bool>,
    /// Why the figures need care: too few repetitions for an interval, what is noisy.
    pub note: Option<String>,
    /// Fleet runs: the sending and the receiving host; empty otherwise.
    pub src: String,
    pub dst: String,
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
            protocol: c.protocol,
            pattern: c.pattern,
            direction: c.direction,
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
            noisy: c.noise().map(|n| n.noisy()),
            note: c.note(),
            src: c.src.clone(),
            dst: c.dst.clone(),
        }
    }
}

/// Rewrites `cases.csv` in `dir` from the records so far (atomically: a reader never sees
/// half a file).
pub fn write(dir: &Path, records: &[CaseRecord]) -> Result<(), super::WriteError> {
    let mut sorted: Vec<&CaseRecord> = records.iter().collect();
    sorted.sort_by(|a, b| (a.case, &a.src, &a.dst).cmp(&(b.case, &b.src, &b.dst)));
    let path = dir.join("cases.csv");
    let header = [super::header_of::<CaseRow>()];
    let mut bytes = super::csv_bytes(header).map_err(|e| super::WriteError::writing(&path, e))?;
    let rows = super::csv_bytes(sorted.into_iter().map(CaseRow::of))
        .map_err(|e| super::WriteError::writing(&path, e))?;
    bytes.extend(rows);
    super::write_atomically(&path, &bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stream case whose ok repetitions measured these goodputs.
    pub(crate) fn record(goodputs: &[f64]) -> CaseRecord {
        CaseRecord {
            src: String::new(),
            dst: String::new(),
            case: 2,
            label: "sndbuf=64K".into(),
            protocol: Protocol::Tcp,
            pattern: Pattern::Stream,
            direction: Direction::Forward,
            flows: 1,
            msg_size: 131072,
            main_is_transactions: false,
            sndbuf_req: Some(SizeReq::Bytes(65536)),
            rcvbuf_req: Some(SizeReq::Auto),
            sndbuf_eff: Some(131072),
            rcvbuf_eff: Some(131072),
            mss_req: None,
            mss_eff: Some(32768),
            reps: goodputs
                .iter()
                .map(|&g| RepFigures {
                    ok: true,
                    goodput_bps: Some(g),
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn csv_of(row: &CaseRow) -> std::collections::HashMap<String, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let bytes = w.into_inner().unwrap();
        let mut r = csv::Reader::from_reader(&bytes[..]);
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        let rec = r.records().next().unwrap().unwrap();
        header
            .into_iter()
            .zip(rec.iter().map(String::from))
            .collect()
    }

    #[test]
    fn two_repetitions_give_no_interval_and_say_why() {
        let row = CaseRow::of(&record(&[1.0e9, 2.6e10]));
        assert_eq!(row.goodput_bps_mean, Some(1.35e10));
        assert!(row.goodput_bps_sd.is_some());
        assert_eq!(
            (row.goodput_bps_ci95_low, row.goodput_bps_ci95_high),
            (None, None)
        );
        assert!(row
            .note
            .as_deref()
            .unwrap()
            .contains("too few for a 95% interval"));
        assert_eq!(row.noisy, Some(true));
        let csv = csv_of(&row);
        assert_eq!(csv["goodput_bps_ci95_low"], "");
        assert_eq!(csv["sndbuf_req"], "65536");
        assert_eq!(csv["rcvbuf_req"], "auto");
        assert_eq!(csv["transactions_per_s_mean"], "", "not measured: empty");
    }

    #[test]
    fn three_widely_spread_repetitions_keep_the_interval_above_zero() {
        // Raw Student-t on these gives a low end of about -2.2e10.
        let row = CaseRow::of(&record(&[3.0e8, 2.6e10, 1.4e10]));
        let (lo, hi) = (
            row.goodput_bps_ci95_low.unwrap(),
            row.goodput_bps_ci95_high.unwrap(),
        );
        assert!(lo > 0.0 && lo < 3.0e8 && hi > 2.6e10, "{lo} {hi}");
        assert_eq!(row.noisy, Some(true));
        let note = row.note.unwrap();
        assert!(note.starts_with("noisy: goodput varies by"), "{note}");
    }

    #[test]
    fn quiet_repetitions_are_not_noisy() {
        let c = record(&[9.2e9, 9.4e9, 9.3e9, 9.5e9, 9.1e9]);
        let row = CaseRow::of(&c);
        assert_eq!((row.noisy, row.note.as_deref()), (Some(false), None));
        assert_eq!(c.warning(None), None);
        let missed = c.warning(Some("a 95% interval of ±2%".into())).unwrap();
        assert!(
            missed.contains("5 repetitions, goodput has a 95% interval of ±2%;"),
            "{missed}"
        );
        let s = c.main_summary().unwrap();
        assert!(s.relative_half_width().unwrap() < 0.03);
        let loud = record(&[5.0e9, 9.0e9, 7.0e9]).warning(None).unwrap();
        assert!(
            loud.starts_with("case 2 (sndbuf=64K): over 3 repetitions, goodput varies by")
                && loud.contains("--cpu-affinity"),
            "{loud}"
        );
    }

    #[test]
    fn one_repetition_cannot_be_judged_noisy() {
        let row = CaseRow::of(&record(&[9.2e9]));
        assert_eq!(row.noisy, None);
        assert_eq!(csv_of(&row)["noisy"], "");
    }
}
