//! `sockbench report DIR...`: reads results directories (never re-running anything) and
//! writes one self-contained HTML file with inline SVG charts drawn by plotters.

pub mod charts;
pub mod compare;
pub mod html;
pub mod input;
pub mod table;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use thiserror::Error;

use crate::measure::latency_histogram;
use crate::measure::outcome::Status;
use crate::output::cases::CaseRow;
use crate::output::intervals::{FlowDirection, IntervalRow};
use crate::output::meta::Meta;
use crate::output::sizes::SizeRow;
use crate::output::summary::{SummaryRow, SPEC_COLUMNS};
use crate::session::mesh::MatrixRow;
use crate::spec::units::parse_size;
use crate::tune::search::TuneRow;
use input::Rows;

/// A results directory the report cannot use, and where. One line, exit code 2.
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{}: no such results directory", .0.display())]
    NoDirectory(PathBuf),
    #[error("{}: not a sockbench results directory ({file} is missing)", dir.display())]
    NotResults { dir: PathBuf, file: &'static str },
    /// A file that cannot be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A JSON file (`meta.json`, `answer.json`) that does not parse.
    #[error("{}:{}:{}: {source}", path.display(), source.line(), source.column())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A CSV file that is not CSV, at a line (0: its header).
    #[error("{}{}: {source}", path.display(), at_line(*line))]
    Csv {
        path: PathBuf,
        line: u64,
        source: csv::Error,
    },
    #[error("{}: missing column {column} (not sockbench results, or from an incompatible version)", path.display())]
    MissingColumn { path: PathBuf, column: String },
    #[error("{}:{line}: column {column}: {value:?} is not {expected}", path.display())]
    BadCell {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        expected: String,
    },
    #[error("{}:2: no rows after the header: {what}", path.display())]
    NoRows { path: PathBuf, what: String },
    #[error("{}:{line}: case {case} appears twice", path.display())]
    DuplicateCase { path: PathBuf, line: u64, case: u32 },
    /// A `latency.hlog` line or histogram that does not decode (line 0: a whole case's
    /// histograms that do not add up).
    #[error("{}{}: {detail}", path.display(), at_line(*line))]
    BadHistogram {
        path: PathBuf,
        line: u64,
        detail: String,
    },
}

/// `:LINE` after a file name, nothing for line 0 (the file as a whole).
fn at_line(line: u64) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

impl ReportError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
        move |source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The cases of one directory the report reads in full (the first ones, in case order);
/// beyond them it still checks every row but only counts the cases, so a sweep of any
/// size is reported in bounded memory (its CSV files hold everything).
pub const MAX_CASES: usize = 1000;
/// Cases of one directory that get a per-interval chart.
pub const MAX_INTERVAL_CASES: usize = 64;

/// The figures of one repetition that comparisons and tables use.
#[derive(Debug, Clone, Default)]
pub struct Rep {
    pub repetition: u32,
    pub ok: bool,
    pub goodput_bps: Option<f64>,
    pub transactions_per_s: Option<f64>,
    pub rtt_p50_ns: Option<f64>,
    pub rtt_p99_ns: Option<f64>,
    pub rtt_p999_ns: Option<f64>,
    pub sender_cpu_pct: Option<f64>,
    pub receiver_cpu_pct: Option<f64>,
}

impl Rep {
    fn of(r: &SummaryRow) -> Rep {
        Rep {
            repetition: r.repetition,
            ok: r.status == Status::Ok,
            goodput_bps: r.goodput_bps,
            transactions_per_s: r.transactions_per_s,
            rtt_p50_ns: r.rtt_p50_ns.map(|v| v as f64),
            rtt_p99_ns: r.rtt_p99_ns.map(|v| v as f64),
            rtt_p999_ns: r.rtt_p999_ns.map(|v| v as f64),
            sender_cpu_pct: r.sender_cpu_pct,
            receiver_cpu_pct: r.receiver_cpu_pct,
        }
    }
}

/// Throughput of one interval of one repetition in one direction, over the main flows'
/// connections (a latency probe's connection left out): their bytes over the span from
/// the earliest start to the latest end, so a connection's shorter last interval weighs
/// by its real length.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalPoint {
    pub repetition: u32,
    /// What the bytes are: `forward` (sender process to receiver process) or `reverse`;
    /// for rr and crr, the responses the requester counted.
    pub direction: FlowDirection,
    pub start_s: f64,
    pub end_s: f64,
    pub bps: f64,
}

/// One case of a results directory: its aggregate and its repetitions.
/// A case's rows in every file: the case number, and in a fleet run the source and
/// destination hosts (empty otherwise).
pub type Key = (u32, String, String);

#[derive(Debug)]
pub struct Case {
    /// The aggregate row of cases.csv.
    pub row: CaseRow,
    /// The first repetition's summary.csv row: knob read-backs (the same in every
    /// repetition), warm-up, probe.
    pub first: Option<SummaryRow>,
    /// Every repetition's figures, in file order.
    pub reps: Vec<Rep>,
    /// The congestion control read back from the sending sockets, over the repetitions.
    pub congestion: BTreeSet<String>,
    /// Latency histograms merged over the repetitions, by metric (from latency.hlog).
    pub histograms: BTreeMap<String, Histogram<u64>>,
    /// Per-interval throughput (only for the first `MAX_INTERVAL_CASES` cases).
    pub intervals: Vec<IntervalPoint>,
}

impl Case {
    /// A case with its aggregate row and nothing else yet.
    pub fn new(row: CaseRow) -> Case {
        Case {
            row,
            first: None,
            reps: Vec::new(),
            congestion: BTreeSet::new(),
            histograms: BTreeMap::new(),
            intervals: Vec::new(),
        }
    }
    /// Adds one repetition's summary row.
    pub fn add_rep(&mut self, r: SummaryRow) {
        self.reps.push(Rep::of(&r));
        if let Some(cc) = r.congestion.as_ref().filter(|c| !c.is_empty()) {
            self.congestion.insert(cc.clone());
        }
        if self.first.is_none() {
            self.first = Some(r);
        }
    }
    pub fn id(&self) -> u32 {
        self.row.case
    }
    /// What identifies the case's rows in every file: its number, and in a fleet run
    /// the pair of hosts.
    pub fn rows_key(&self) -> Key {
        (self.row.case, self.row.src.clone(), self.row.dst.clone())
    }
    pub fn label(&self) -> &str {
        &self.row.case_label
    }
    /// Request/response figures are its headline (rr, crr).
    pub fn is_transactional(&self) -> bool {
        self.row.pattern.is_transactional()
    }
    pub fn probe(&self) -> bool {
        self.first.as_ref().is_some_and(|r| r.probe)
    }
    pub fn warmup_s(&self) -> Option<f64> {
        self.first.as_ref().map(|r| r.warmup_s)
    }
    /// The values of one figure over the repetitions that ended ok.
    pub fn rep_values(&self, pick: impl Fn(&Rep) -> Option<f64>) -> Vec<f64> {
        self.reps.iter().filter(|r| r.ok).filter_map(pick).collect()
    }
    /// `key=value` pairs of the case label: the knobs as requested.
    pub fn knobs(&self) -> Vec<(String, String)> {
        label_knobs(self.label())
    }
    /// The requested value of one knob that the case's label names.
    pub fn knob(&self, key: &str) -> Option<String> {
        self.knobs()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|kv| kv.1)
    }
    /// What identifies this case across directories: the transport, the pattern and the
    /// knob values that made it.
    pub fn key(&self) -> String {
        format!(
            "{} {} {} flows={} msg={} {}",
            self.row.protocol,
            self.row.pattern,
            self.row.direction,
            self.row.flows,
            crate::spec::units::format_size(self.row.msg_size.into()),
            self.label()
        )
    }
}

/// The `key=value` pairs of a case label, in order; words around them (tune's baseline
/// is `kernel default (rcvbuf=auto)`) and brackets are not knobs.
pub fn label_knobs(label: &str) -> Vec<(String, String)> {
    let is_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    label
        .split_whitespace()
        .map(|w| w.trim_matches(|c| matches!(c, '(' | ')' | ',')))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, v)| is_key(k) && !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A results directory, read.
#[derive(Debug)]
pub struct ResultsDir {
    pub path: PathBuf,
    /// A short name for tables and legends: the directory's file name.
    pub name: String,
    pub meta: Meta,
    /// The first `MAX_CASES` cases, in case order.
    pub cases: Vec<Case>,
    /// Cases in cases.csv, and rows in summary.csv (all of them, read or only counted).
    pub cases_total: u64,
    pub rows_total: u64,
    /// A fleet run's matrix.csv (case × source × destination); empty for a `run`.
    pub matrix: Vec<crate::session::mesh::MatrixRow>,
    /// A `sockbench tune` directory's answer.json and tune.csv.
    pub tune: Option<(crate::tune::Answer, Vec<crate::tune::search::TuneRow>)>,
    /// sizes.csv, aggregated per case and size bucket (application traffic profiles).
    pub sizes: Vec<SizeBucket>,
}

/// One size bucket of one case, over its repetitions (from sizes.csv).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SizeBucket {
    pub case: u32,
    pub size_bucket: u64,
    pub messages: u64,
    pub bytes: u64,
    /// The largest p50 and p99 round trip of the bucket over the repetitions.
    pub rtt_p50_ns: Option<u64>,
    pub rtt_p99_ns: Option<u64>,
    /// Round trips measured in the bucket, over the repetitions.
    pub transactions: u64,
    /// The fewest round trips behind one repetition's percentiles (each repetition's
    /// p99 is its own samples' p99): what decides whether a percentile may be shown.
    pub fewest_transactions: Option<u64>,
}

/// The fewest samples a percentile needs: `1 / (1 − q)`, so p50 needs 2, p99 needs 100
/// and p99.9 needs 1,000 (with fewer, the "p99" is the largest sample, not a p99).
pub fn samples_needed(q: f64) -> u64 {
    (1.0 / (1.0 - q).max(1e-9)).round() as u64
}

/// The names of columns of a row struct, each checked against the struct's fields when
/// compiled (the row types serialize their fields under their own names): a misspelt
/// column is a compile error.
macro_rules! columns {
    ($row:ty: $($field:ident),+ $(,)?) => {{
        let _fields_exist = |r: &$row| { $(let _ = &r.$field;)+ };
        &[$(stringify!($field)),+]
    }};
}

/// Columns the report needs, by file (summary.csv: the contract's first columns,
/// docs/results.md).
const NEED_CASES: &[&str] = columns!(CaseRow:
    case,
    case_label,
    protocol,
    pattern,
    direction,
    flows,
    msg_size,
    repetitions,
    goodput_bps_mean,
    goodput_bps_ci95_low,
    goodput_bps_ci95_high,
    rtt_p50_ns_mean,
    rtt_p99_ns_mean,
    rtt_p999_ns_mean,
);
const NEED_INTERVALS: &[&str] = columns!(IntervalRow:
    case,
    repetition,
    flow,
    conn,
    interval,
    start_s,
    end_s,
    bytes,
    throughput_bps,
);
const NEED_SIZES: &[&str] = columns!(SizeRow: case, size_bucket);
const NEED_MATRIX: &[&str] = columns!(MatrixRow: case, src, dst, status);
const NEED_TUNE: &[&str] = columns!(TuneRow: step, phase);

const FILES: [&str; 5] = [
    "summary.csv",
    "cases.csv",
    "intervals.csv",
    "latency.hlog",
    "meta.json",
];

impl ResultsDir {
    /// Reads a results directory in one pass over each file, keeping per case only what
    /// the report draws.
    pub fn load(path: &Path) -> Result<ResultsDir, ReportError> {
        if !path.is_dir() {
            return Err(ReportError::NoDirectory(path.to_path_buf()));
        }
        for f in FILES {
            if !path.join(f).is_file() {
                return Err(ReportError::NotResults {
                    dir: path.to_path_buf(),
                    file: f,
                });
            }
        }
        let meta = input::read_meta(&path.join("meta.json"))?;
        let (mut cases, cases_total) = read_cases(&path.join("cases.csv"))?;
        let index: HashMap<Key, usize> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| (c.rows_key(), i))
            .collect();
        let rows_total = read_summary(&path.join("summary.csv"), &index, &mut cases)?;
        read_intervals(&path.join("intervals.csv"), &index, &mut cases)?;
        input::read_hlog(
            &path.join("latency.hlog"),
            |case, src, dst| index.contains_key(&(case, src.to_string(), dst.to_string())),
            |t| {
                let c = &mut cases[index[&(t.case, t.src, t.dst)]];
                c.histograms
                    .entry(t.metric)
                    .or_insert_with(latency_histogram)
                    .add(&t.histogram)
                    .map_err(|e| ReportError::BadHistogram {
                        path: path.join("latency.hlog"),
                        line: 0,
                        detail: format!("histogram of case {}: {e:?}", t.case),
                    })
            },
        )?;
        let name = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| path.display().to_string());
        let matrix = read_matrix(&path.join("matrix.csv"))?;
        let tune = read_tune(path)?;
        let sizes = read_sizes(&path.join("sizes.csv"))?;
        Ok(ResultsDir {
            path: path.to_path_buf(),
            name,
            meta,
            cases,
            cases_total,
            rows_total,
            matrix,
            tune,
            sizes,
        })
    }

    /// The cases past `MAX_CASES`, which the report counts but does not show.
    pub fn cases_not_shown(&self) -> u64 {
        self.cases_total - self.cases.len() as u64
    }
}

/// answer.json and tune.csv of a `sockbench tune` directory, when it is one.
fn read_tune(
    dir: &Path,
) -> Result<Option<(crate::tune::Answer, Vec<crate::tune::search::TuneRow>)>, ReportError> {
    let (answer, steps) = (dir.join("answer.json"), dir.join("tune.csv"));
    if !answer.is_file() || !steps.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&answer).map_err(ReportError::io(&answer))?;
    let answer: crate::tune::Answer =
        serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: answer.clone(),
            source,
        })?;
    let mut rows = Rows::<TuneRow>::open(&steps, NEED_TUNE)?;
    let mut out = Vec::new();
    while let Some((_, row)) = rows.next_row()? {
        if out.len() < 10_000 {
            out.push(row);
        }
    }
    Ok(Some((answer, out)))
}

/// sizes.csv, when there is one: per case and size bucket, summed over repetitions.
fn read_sizes(path: &Path) -> Result<Vec<SizeBucket>, ReportError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut rows = Rows::<SizeRow>::open(path, NEED_SIZES)?;
    let mut by: BTreeMap<(u32, u64), SizeBucket> = BTreeMap::new();
    while let Some((_, r)) = rows.next_row()? {
        if !r.src.is_empty() || by.len() >= 64 * MAX_CASES {
            continue;
        }
        let b = by.entry((r.case, r.size_bucket)).or_insert(SizeBucket {
            case: r.case,
            size_bucket: r.size_bucket,
            ..SizeBucket::default()
        });
        b.messages += r.messages;
        b.bytes += r.bytes;
        b.rtt_p50_ns = b.rtt_p50_ns.max(r.rtt_p50_ns);
        b.rtt_p99_ns = b.rtt_p99_ns.max(r.rtt_p99_ns);
        if let Some(n) = r.transactions.filter(|_| r.rtt_p99_ns.is_some()) {
            b.transactions += n;
            b.fewest_transactions = Some(b.fewest_transactions.map_or(n, |f| f.min(n)));
        }
    }
    Ok(by.into_values().collect())
}

/// matrix.csv of a fleet run, when there is one (at most `MAX_CASES` rows kept).
fn read_matrix(path: &Path) -> Result<Vec<crate::session::mesh::MatrixRow>, ReportError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut rows = Rows::<MatrixRow>::open(path, NEED_MATRIX)?;
    let mut out = Vec::new();
    while let Some((_, row)) = rows.next_row()? {
        if out.len() < MAX_CASES {
            out.push(row);
        }
    }
    Ok(out)
}

/// cases.csv: the first `MAX_CASES` rows kept, every row checked and counted.
fn read_cases(path: &Path) -> Result<(Vec<Case>, u64), ReportError> {
    let mut rows = Rows::<CaseRow>::open(path, NEED_CASES)?;
    let mut cases = Vec::new();
    let mut seen: BTreeSet<Key> = BTreeSet::new();
    while let Some((line, mut row)) = rows.next_row()? {
        if cases.len() < MAX_CASES {
            if !seen.insert((row.case, row.src.clone(), row.dst.clone())) {
                return Err(ReportError::DuplicateCase {
                    path: path.to_path_buf(),
                    line,
                    case: row.case,
                });
            }
            if !row.src.is_empty() {
                // A fleet run: each pair of a case is a case of its own in tables and
                // charts, named by the pair.
                row.case_label = format!("{}→{} {}", row.src, row.dst, row.case_label)
                    .trim()
                    .to_string();
            }
            cases.push(Case::new(row));
        }
    }
    rows.require_rows("the run recorded no case")?;
    Ok((cases, rows.count))
}

/// summary.csv: each row checked, and added to its case when that case is kept.
fn read_summary(
    path: &Path,
    index: &HashMap<Key, usize>,
    cases: &mut [Case],
) -> Result<u64, ReportError> {
    let mut rows = Rows::<SummaryRow>::open(path, SPEC_COLUMNS)?;
    while let Some((_, row)) = rows.next_row()? {
        if let Some(&i) = index.get(&(row.case, row.src.clone(), row.dst.clone())) {
            cases[i].add_rep(row);
        }
    }
    rows.require_rows("the run recorded no test")?;
    Ok(rows.count)
}

/// intervals.csv: per kept case (the first `MAX_INTERVAL_CASES`), throughput per
/// repetition and interval, summed over the main flows' connections.
fn read_intervals(
    path: &Path,
    index: &HashMap<Key, usize>,
    cases: &mut [Case],
) -> Result<(), ReportError> {
    let mut rows = Rows::<IntervalRow>::open(path, NEED_INTERVALS)?;
    // Per case: (repetition, direction, interval) → (start, end, bytes).
    type Sums = BTreeMap<(u32, FlowDirection, u32), (f64, f64, u64)>;
    let mut sums: HashMap<usize, Sums> = HashMap::new();
    while let Some((_, iv)) = rows.next_row()? {
        let key = (iv.case, iv.src.clone(), iv.dst.clone());
        let Some(&i) = index.get(&key).filter(|i| **i < MAX_INTERVAL_CASES) else {
            continue;
        };
        let c = &cases[i];
        // The probe's connection is its own flow, after the main ones.
        let probe_flow = c.probe() && iv.flow >= c.row.flows;
        if iv.direction == FlowDirection::Probe || probe_flow || iv.throughput_bps.is_none() {
            continue;
        }
        let p = sums
            .entry(i)
            .or_default()
            .entry((iv.repetition, iv.direction, iv.interval))
            .or_insert((iv.start_s, iv.end_s, 0));
        p.0 = p.0.min(iv.start_s);
        p.1 = p.1.max(iv.end_s);
        p.2 += iv.bytes;
    }
    for (i, points) in sums {
        cases[i].intervals = points
            .into_iter()
            .filter(|(_, (start, end, _))| end > start)
            .map(
                |((repetition, direction, _), (start_s, end_s, bytes))| IntervalPoint {
                    repetition,
                    direction,
                    start_s,
                    end_s,
                    bps: bytes as f64 * 8.0 / (end_s - start_s),
                },
            )
            .collect();
    }
    Ok(())
}

/// Sorts knob values as a reader expects: sizes by size (64K before 1M), numbers by
/// value, `auto` (the kernel's choice) last, anything else by name.
pub fn value_order(v: &str) -> (u8, u64, String) {
    if v == "auto" {
        (2, 0, String::new())
    } else if let Ok(n) = parse_size(v) {
        (0, n, String::new())
    } else {
        (1, 0, v.to_string())
    }
}

/// Orders series names made of `key=value` words by each value in `value_order`.
pub fn label_order(label: &str) -> Vec<(String, (u8, u64, String))> {
    label
        .split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), value_order(v)),
            None => (kv.to_string(), (1, 0, String::new())),
        })
        .collect()
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

/// What a report drew: its charts, and the paths it passed over (with why).
#[derive(Debug)]
pub struct Drawn {
    pub charts: usize,
    pub passed_over: Vec<ReportError>,
    /// The baseline's name, and the directories that share no case with it (nothing of
    /// them compared).
    pub baseline: String,
    pub unpaired: Vec<String>,
}

/// The results directories among `paths`, loaded. Of several paths (a glob such as
/// `results/*`, which also matches the README beside the runs) those that hold no results
/// (a file, a directory without sockbench's files, a run that recorded no case) are
/// passed over, and said, as long as one does; any other error (a path that does not
/// exist among them), or none usable, is the answer.
fn load_all(paths: &[PathBuf]) -> Result<(Vec<ResultsDir>, Vec<ReportError>), ReportError> {
    let (mut dirs, mut passed_over) = (Vec::new(), Vec::new());
    for p in paths {
        match ResultsDir::load(p) {
            Ok(d) => dirs.push(d),
            // A path that does not exist is a typo, never a glob's: refused.
            Err(e @ (ReportError::NotResults { .. } | ReportError::NoRows { .. }))
                if paths.len() > 1 =>
            {
                passed_over.push(e)
            }
            Err(e @ ReportError::NoDirectory(_)) if paths.len() > 1 && p.exists() => {
                passed_over.push(e)
            }
            Err(e) => return Err(e),
        }
    }
    match dirs.is_empty() {
        true => Err(passed_over.remove(0)),
        false => Ok((dirs, passed_over)),
    }
}

/// Reads the directories and writes the report: the charts drawn, the paths passed over.
pub fn write_report(opts: &ReportOptions) -> Result<Drawn, ReportError> {
    let (mut dirs, passed_over) = load_all(&opts.dirs)?;
    if let Some(base) = &opts.baseline {
        let base = ResultsDir::load(base)?;
        dirs.retain(|d| d.path.canonicalize().ok() != base.path.canonicalize().ok());
        dirs.insert(0, base);
    }
    let charts = charts::all(&dirs);
    let page = html::page(&dirs, &charts);
    std::fs::write(&opts.output, page).map_err(ReportError::io(&opts.output))?;
    if let Some(svg_dir) = &opts.svg_dir {
        std::fs::create_dir_all(svg_dir).map_err(ReportError::io(svg_dir))?;
        let mut taken = std::collections::HashSet::new();
        for c in &charts {
            let p = svg_dir.join(svg_file_name(&c.id, &mut taken));
            std::fs::write(&p, &c.svg).map_err(ReportError::io(&p))?;
        }
    }
    let unpaired = dirs[1..]
        .iter()
        .filter(|d| compare::pair(&dirs[0], d).is_empty())
        .map(|d| d.name.clone())
        .collect();
    Ok(Drawn {
        charts: charts.len(),
        passed_over,
        baseline: dirs[0].name.clone(),
        unpaired,
    })
}

/// A chart's file name from its id, which may hold labels from a results directory (a
/// tampered one, too): letters, digits, `-`, `_` and inner dots only, at most 100
/// characters, and never a name already taken.
fn svg_file_name(id: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let mut stem: String = id
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    stem = stem.trim_start_matches('.').to_string();
    if stem.is_empty() {
        stem = "chart".into();
    }
    let mut name = format!("{stem}.svg");
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{stem}-{n}.svg");
        n += 1;
    }
    name
}

/// Escapes text for HTML and SVG: `&`, `<`, `>` and `"`.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn svg_file_names_are_safe_whatever_the_labels() {
        let mut taken = std::collections::HashSet::new();
        assert_eq!(
            svg_file_name("goodput-vs-sndbuf", &mut taken),
            "goodput-vs-sndbuf.svg"
        );
        let hostile = svg_file_name("../../etc/passwd\u{1b}[2J/x", &mut taken);
        assert!(
            !hostile.contains('/') && !hostile.starts_with('.'),
            "{hostile}"
        );
        assert_eq!(svg_file_name("a/b", &mut taken), "a_b.svg");
        assert_eq!(svg_file_name("a?b", &mut taken), "a_b-2.svg");
        assert_eq!(svg_file_name("", &mut taken), "chart.svg");
        assert!(svg_file_name(&"x".repeat(5000), &mut taken).len() <= 104);
    }

    /// A meta.json of no particular run.
    pub fn meta() -> Meta {
        Meta::default()
    }

    #[test]
    fn a_percentile_needs_one_over_its_tail_in_samples() {
        assert_eq!(samples_needed(0.5), 2);
        assert_eq!(samples_needed(0.9), 10);
        assert_eq!(samples_needed(0.99), 100);
        assert_eq!(samples_needed(0.999), 1000);
    }

    #[test]
    fn a_labels_knobs_are_its_key_value_pairs_only() {
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            label_knobs("sndbuf=64K receiver.rcvbuf=1M msg-size=1K"),
            [
                kv("sndbuf", "64K"),
                kv("receiver.rcvbuf", "1M"),
                kv("msg-size", "1K")
            ]
        );
        // tune's baseline: one knob, no "(rcvbuf" column.
        assert_eq!(
            label_knobs("kernel default (rcvbuf=auto)"),
            [kv("rcvbuf", "auto")]
        );
        assert_eq!(
            label_knobs("kernel default (sndbuf=auto rcvbuf=auto)"),
            [kv("sndbuf", "auto"), kv("rcvbuf", "auto")]
        );
        assert!(label_knobs("a = b =x").is_empty());
    }

    #[test]
    fn knob_values_sort_by_size_with_auto_last() {
        let mut v = vec!["1M", "auto", "256K", "4M", "64K"];
        v.sort_by_key(|s| value_order(s));
        assert_eq!(v, ["64K", "256K", "1M", "4M", "auto"]);
        let mut l = vec!["rcvbuf=4M", "rcvbuf=auto", "rcvbuf=64K", "rcvbuf=1M"];
        l.sort_by_key(|s| label_order(s));
        assert_eq!(l, ["rcvbuf=64K", "rcvbuf=1M", "rcvbuf=4M", "rcvbuf=auto"]);
    }
}
