//! `sockbench report DIR...`: reads results directories (never re-running anything) and
//! writes one self-contained HTML file with inline SVG charts drawn by plotters.

pub mod charts;
pub mod compare;
pub mod html;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use thiserror::Error;

use crate::measure::latency_histogram;
use crate::output::summary::SPEC_COLUMNS;

/// A results directory the report cannot use. One line, exit code 2.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct ReportError(pub String);

type Row = HashMap<String, String>;

/// One case of a results directory: its aggregate and its repetitions.
#[derive(Debug, Clone)]
pub struct Case {
    pub case: u32,
    pub label: String,
    /// The aggregate row of cases.csv.
    pub agg: Row,
    /// The summary.csv rows of its repetitions.
    pub reps: Vec<Row>,
    /// Latency histograms merged over the repetitions, by metric (from latency.hlog).
    pub histograms: BTreeMap<String, Histogram<u64>>,
    /// Per-interval throughput: (repetition, start_s, bits/s) summed over connections of
    /// the main flows.
    pub intervals: Vec<(u32, f64, f64)>,
}

impl Case {
    pub fn get(&self, col: &str) -> &str {
        self.agg.get(col).map(String::as_str).unwrap_or("")
    }
    pub fn num(&self, col: &str) -> Option<f64> {
        self.get(col).parse().ok()
    }
    /// The first repetition's value of a summary column (knob read-backs are the same in
    /// every repetition).
    pub fn rep(&self, col: &str) -> &str {
        self.reps
            .first()
            .and_then(|r| r.get(col))
            .map(String::as_str)
            .unwrap_or("")
    }
    /// The values of a summary column over the repetitions that ended ok.
    pub fn rep_values(&self, col: &str) -> Vec<f64> {
        self.reps
            .iter()
            .filter(|r| r.get("status").map(String::as_str) == Some("ok"))
            .filter_map(|r| r.get(col)?.parse().ok())
            .collect()
    }
    /// `key=value` pairs of the case label.
    pub fn knobs(&self) -> Vec<(String, String)> {
        self.label
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    /// What identifies this case across directories: the transport, the pattern and the
    /// knob values that made it.
    pub fn key(&self) -> String {
        format!(
            "{} {} {} flows={} msg={} {}",
            self.get("protocol"),
            self.get("pattern"),
            self.get("direction"),
            self.get("flows"),
            self.get("msg_size"),
            self.label
        )
    }
}

/// A results directory, read.
#[derive(Debug, Clone)]
pub struct ResultsDir {
    pub path: PathBuf,
    /// A short name for tables and legends: the directory's file name.
    pub name: String,
    pub meta: serde_json::Value,
    pub cases: Vec<Case>,
}

/// Columns the report needs, by file (summary.csv: the contract's first columns,
/// docs/results.md).
const NEED_CASES: &[&str] = &[
    "case",
    "case_label",
    "protocol",
    "pattern",
    "direction",
    "flows",
    "msg_size",
    "repetitions",
    "goodput_bps_mean",
    "goodput_bps_ci95_low",
    "goodput_bps_ci95_high",
    "rtt_p50_ns_mean",
    "rtt_p99_ns_mean",
    "rtt_p999_ns_mean",
];
const NEED_INTERVALS: &[&str] = &[
    "case",
    "repetition",
    "conn",
    "interval",
    "start_s",
    "throughput_bps",
];

fn read_rows(path: &Path, need: &[&str]) -> Result<Vec<Row>, ReportError> {
    let err = |msg: String| ReportError(format!("{}: {msg}", path.display()));
    let mut r = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| err(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    if let Some(missing) = need.iter().find(|c| !header.iter().any(|h| h == *c)) {
        return Err(err(format!(
            "missing column {missing} (not sockbench results, or from an incompatible version)"
        )));
    }
    r.records()
        .map(|rec| {
            let rec = rec.map_err(|e| err(e.to_string()))?;
            Ok(header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect())
        })
        .collect()
}

/// Reads latency.hlog: histograms tagged `case<N>.rep<M>.<metric>`, merged per case and
/// metric.
fn read_hlog(path: &Path) -> Result<BTreeMap<(u32, String), Histogram<u64>>, ReportError> {
    let err = |msg: String| ReportError(format!("{}: {msg}", path.display()));
    let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut out: BTreeMap<(u32, String), Histogram<u64>> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&text) {
        let entry = entry.map_err(|e| err(format!("unreadable interval log: {e:?}")))?;
        let LogEntry::Interval(ih) = entry else {
            continue;
        };
        let Some(tag) = ih.tag() else { continue };
        let parts: Vec<&str> = tag.as_str().splitn(3, '.').collect();
        let (Some(case), Some(metric)) = (
            parts
                .first()
                .and_then(|c| c.strip_prefix("case")?.parse::<u32>().ok()),
            parts.get(2),
        ) else {
            continue;
        };
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            ih.encoded_histogram(),
        )
        .map_err(|e| err(format!("histogram {}: {e}", tag.as_str())))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut &bytes[..])
            .map_err(|e| err(format!("histogram {}: {e:?}", tag.as_str())))?;
        out.entry((case, metric.to_string()))
            .or_insert_with(latency_histogram)
            .add(&h)
            .map_err(|e| err(format!("histogram {}: {e:?}", tag.as_str())))?;
    }
    Ok(out)
}

impl ResultsDir {
    pub fn load(path: &Path) -> Result<ResultsDir, ReportError> {
        if !path.is_dir() {
            return Err(ReportError(format!(
                "{}: no such results directory",
                path.display()
            )));
        }
        for f in [
            "summary.csv",
            "cases.csv",
            "intervals.csv",
            "latency.hlog",
            "meta.json",
        ] {
            if !path.join(f).is_file() {
                return Err(ReportError(format!(
                    "{}: not a sockbench results directory ({f} is missing)",
                    path.display()
                )));
            }
        }
        let summary = read_rows(&path.join("summary.csv"), SPEC_COLUMNS)?;
        let agg = read_rows(&path.join("cases.csv"), NEED_CASES)?;
        let intervals = read_rows(&path.join("intervals.csv"), NEED_INTERVALS)?;
        let mut hists = read_hlog(&path.join("latency.hlog"))?;
        let meta_path = path.join("meta.json");
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&meta_path)
                .map_err(|e| ReportError(format!("{}: {e}", meta_path.display())))?,
        )
        .map_err(|e| ReportError(format!("{}: {e}", meta_path.display())))?;
        if agg.is_empty() {
            return Err(ReportError(format!(
                "{}: no results (cases.csv has no rows)",
                path.display()
            )));
        }
        let probe_flows: HashMap<String, String> = summary
            .iter()
            .filter(|r| r.get("probe").map(String::as_str) == Some("true"))
            .map(|r| (r["case"].clone(), r["flows"].clone()))
            .collect();
        let mut cases = Vec::new();
        for a in agg {
            let id = a["case"].clone();
            let case: u32 = id
                .parse()
                .map_err(|_| ReportError(format!("{}: bad case number {id}", path.display())))?;
            let reps: Vec<Row> = summary
                .iter()
                .filter(|r| r["case"] == id)
                .cloned()
                .collect();
            // Per-interval throughput of the main flows (a probe's flow is the last one).
            let mut sums: BTreeMap<(u32, u64), (f64, f64)> = BTreeMap::new();
            for iv in intervals.iter().filter(|r| r["case"] == id) {
                if probe_flows
                    .get(&id)
                    .is_some_and(|f| iv.get("flow") == Some(f))
                {
                    continue;
                }
                let rep: u32 = iv["repetition"].parse().unwrap_or(0);
                let idx: u64 = iv["interval"].parse().unwrap_or(0);
                let start: f64 = iv["start_s"].parse().unwrap_or(0.0);
                let tput: f64 = iv["throughput_bps"].parse().unwrap_or(0.0);
                let e = sums.entry((rep, idx)).or_insert((start, 0.0));
                e.1 += tput;
            }
            let histograms = hists
                .keys()
                .filter(|(c, _)| *c == case)
                .cloned()
                .collect::<Vec<_>>()
                .into_iter()
                .filter_map(|k| hists.remove(&k).map(|h| (k.1, h)))
                .collect();
            cases.push(Case {
                case,
                label: a.get("case_label").cloned().unwrap_or_default(),
                agg: a,
                reps,
                histograms,
                intervals: sums
                    .into_iter()
                    .map(|((rep, _), (start, t))| (rep, start, t))
                    .collect(),
            });
        }
        let name = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| path.display().to_string());
        Ok(ResultsDir {
            path: path.to_path_buf(),
            name,
            meta,
            cases,
        })
    }
}

/// Options of `sockbench report`.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub dirs: Vec<PathBuf>,
    pub output: PathBuf,
    /// The directory others are compared against (default: the first).
    pub baseline: Option<PathBuf>,
    /// Also write each chart as a standalone SVG here.
    pub svg_dir: Option<PathBuf>,
}

/// Reads the directories and writes the report. Returns the number of charts drawn.
pub fn write_report(opts: &ReportOptions) -> Result<usize, ReportError> {
    let mut dirs: Vec<ResultsDir> = opts
        .dirs
        .iter()
        .map(|d| ResultsDir::load(d))
        .collect::<Result<_, _>>()?;
    if let Some(base) = &opts.baseline {
        let base = ResultsDir::load(base)?;
        dirs.retain(|d| d.path.canonicalize().ok() != base.path.canonicalize().ok());
        dirs.insert(0, base);
    }
    let charts = charts::all(&dirs);
    let page = html::page(&dirs, &charts);
    std::fs::write(&opts.output, page)
        .map_err(|e| ReportError(format!("{}: {e}", opts.output.display())))?;
    if let Some(svg_dir) = &opts.svg_dir {
        std::fs::create_dir_all(svg_dir)
            .map_err(|e| ReportError(format!("{}: {e}", svg_dir.display())))?;
        for c in &charts {
            let p = svg_dir.join(format!("{}.svg", c.id));
            std::fs::write(&p, &c.svg).map_err(|e| ReportError(format!("{}: {e}", p.display())))?;
        }
    }
    Ok(charts.len())
}
