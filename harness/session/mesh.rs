//! `sockbench mesh`: a fleet of hosts measured as one run. Every host runs `sockbench
//! serve`; the controller (this process) asks each source host's daemon to run each test
//! as the sender against each destination host's daemon (`Message::Relay`), pair by pair
//! (`pairs`, every path alone), or all at once (`all`, `ring`, `star:NAME`: the paths that
//! share a bottleneck share it). Every row carries `src` and `dst`; `matrix.csv` has one
//! row per case and ordered pair.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::measure::hostinfo::HostFacts;
use crate::net::auth::Psk;
use crate::output::cases::{self, CaseRecord, CaseRow};
pub use crate::output::meta::FleetHost;
use crate::output::meta::{utc_timestamp, Meta};
use crate::output::ResultsWriter;
use crate::results::CaseRun;
use crate::session::runner::{case_metas, output, RunEnd, RunError};
use crate::session::sender::{resolve_target, Peer, RelayOutcome, Status, TestOutcome};
use crate::spec::config::ConfigError;
use crate::spec::workload::PlannedCase;

/// One host of the fleet, as the hosts file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    /// Its daemon's control address.
    pub addr: SocketAddr,
}

/// Largest hosts file read.
const MAX_HOSTS_FILE: u64 = 1 << 20;

/// Reads a hosts file: one host a line, `NAME ADDRESS[:PORT]`, `#` comments.
pub fn read_hosts(path: &Path) -> Result<Vec<Host>, ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| ConfigError::File(format!("{shown}: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_HOSTS_FILE {
        return Err(ConfigError::File(format!(
            "{shown}: not a regular file of at most 1 MiB"
        )));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::File(format!("{shown}: {e}")))?;
    parse_hosts(&text).map_err(|e| ConfigError::File(format!("{shown}:{}: {}", e.line, e.msg)))
}

/// A mistake on one line of a hosts file (lines count from 1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {msg}")]
pub struct HostsError {
    pub line: usize,
    pub msg: String,
}

fn line_err(line: usize, msg: impl Into<String>) -> HostsError {
    HostsError {
        line,
        msg: msg.into(),
    }
}

/// Parses a hosts file's text; an error names its line.
pub fn parse_hosts(text: &str) -> Result<Vec<Host>, HostsError> {
    let mut hosts: Vec<Host> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, address] = fields[..] else {
            return Err(line_err(
                i + 1,
                format!("expected NAME ADDRESS[:PORT], got {line:?}"),
            ));
        };
        let good_name = name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !good_name {
            return Err(line_err(
                i + 1,
                format!("host name {name:?}: use letters, digits, '.', '_' and '-' (at most 64)"),
            ));
        }
        if hosts.iter().any(|h| h.name == name) {
            return Err(line_err(i + 1, format!("host name {name} appears twice")));
        }
        let addr = resolve_target(address).map_err(|e| line_err(i + 1, e.to_string()))?;
        hosts.push(Host {
            name: name.to_string(),
            addr,
        });
    }
    if hosts.len() < 2 {
        return Err(line_err(
            text.lines().count().max(1),
            "a mesh needs at least two hosts",
        ));
    }
    Ok(hosts)
}

/// Which pairs run, and which of them at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Every ordered pair, one at a time: each path measured alone.
    Pairs,
    /// Every ordered pair at once.
    All,
    /// Each host to the next (the last to the first), all at once.
    Ring,
    /// Every other host to this one (an index into the hosts), all at once.
    Star(usize),
}

impl Shape {
    pub fn parse(text: &str, hosts: &[Host]) -> Result<Shape, ConfigError> {
        match text {
            "pairs" => Ok(Shape::Pairs),
            "all" => Ok(Shape::All),
            "ring" => Ok(Shape::Ring),
            _ => match text.strip_prefix("star:") {
                Some(name) => hosts
                    .iter()
                    .position(|h| h.name == name)
                    .map(Shape::Star)
                    .ok_or_else(|| {
                        ConfigError::Value(format!(
                            "--shape {text}: no host named {name} in the hosts file"
                        ))
                    }),
                None => Err(ConfigError::Value(format!(
                    "--shape {text}: expected pairs, all, ring or star:NAME"
                ))),
            },
        }
    }

    /// The rounds of one case's repetition: the pairs (source, destination) of a round
    /// run at once; rounds run one after another.
    pub fn rounds(&self, n: usize) -> Vec<Vec<(usize, usize)>> {
        let every: Vec<(usize, usize)> = (0..n)
            .flat_map(|s| (0..n).filter(move |&d| d != s).map(move |d| (s, d)))
            .collect();
        match self {
            Shape::Pairs => every.into_iter().map(|p| vec![p]).collect(),
            Shape::All => vec![every],
            Shape::Ring => vec![(0..n).map(|s| (s, (s + 1) % n)).collect()],
            Shape::Star(hub) => vec![(0..n).filter(|s| s != hub).map(|s| (s, *hub)).collect()],
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Pairs => f.write_str("pairs"),
            Shape::All => f.write_str("all"),
            Shape::Ring => f.write_str("ring"),
            Shape::Star(i) => write!(f, "star:{i}"),
        }
    }
}

/// A fleet run.
#[derive(Debug, Clone)]
pub struct MeshPlan {
    pub hosts: Vec<Host>,
    pub shape: Shape,
    pub name: String,
    pub description: String,
    pub source: String,
    pub cases: Vec<PlannedCase>,
    pub repeat: u32,
}

#[derive(Debug, Clone, Default)]
pub struct MeshOptions {
    pub psk: Option<Psk>,
    pub out: PathBuf,
    pub quiet: bool,
    /// `--json`: each pair's row on stdout as a JSON line, and nothing else there.
    pub json: bool,
    pub command_line: Vec<String>,
}

/// One row of `matrix.csv`: a case on one ordered pair of hosts, over its repetitions
/// (the means of those that ended ok, with 95% intervals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatrixRow {
    pub case: u32,
    pub case_label: String,
    pub src: String,
    pub dst: String,
    pub repetitions: usize,
    pub repetitions_ok: usize,
    pub goodput_bps: Option<f64>,
    pub goodput_bps_ci95_low: Option<f64>,
    pub goodput_bps_ci95_high: Option<f64>,
    pub transactions_per_s: Option<f64>,
    pub transactions_per_s_ci95_low: Option<f64>,
    pub transactions_per_s_ci95_high: Option<f64>,
    pub rtt_p50_ns: Option<f64>,
    pub rtt_p99_ns: Option<f64>,
    pub lost: Option<f64>,
    /// ok: every repetition ended ok; partial: some did; otherwise the last status
    /// (error, aborted).
    pub status: String,
}

impl MatrixRow {
    fn of(record: &CaseRecord, statuses: &[Status]) -> MatrixRow {
        let c = CaseRow::of(record);
        let ok = statuses.iter().filter(|s| **s == Status::Ok).count();
        let status = if ok == statuses.len() {
            "ok".to_string()
        } else if ok > 0 {
            "partial".to_string()
        } else {
            statuses.last().map_or("error", |s| s.as_str()).to_string()
        };
        MatrixRow {
            case: c.case,
            case_label: c.case_label,
            src: record.src.clone(),
            dst: record.dst.clone(),
            repetitions: c.repetitions,
            repetitions_ok: c.repetitions_ok,
            goodput_bps: c.goodput_bps_mean,
            goodput_bps_ci95_low: c.goodput_bps_ci95_low,
            goodput_bps_ci95_high: c.goodput_bps_ci95_high,
            transactions_per_s: c.transactions_per_s_mean,
            transactions_per_s_ci95_low: c.transactions_per_s_ci95_low,
            transactions_per_s_ci95_high: c.transactions_per_s_ci95_high,
            rtt_p50_ns: c.rtt_p50_ns_mean,
            rtt_p99_ns: c.rtt_p99_ns_mean,
            lost: c.lost_mean,
            status,
        }
    }
}

type PairKey = (u32, String, String);

/// Rewrites `matrix.csv` from the records so far (atomically).
fn write_matrix(
    dir: &Path,
    records: &[CaseRecord],
    statuses: &HashMap<PairKey, Vec<Status>>,
) -> Result<(), RunError> {
    let tmp = dir.join(".matrix.csv.tmp");
    let csv_err = |source| RunError::Csv {
        path: tmp.clone(),
        source,
    };
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(&tmp)
        .map_err(csv_err)?;
    w.write_record(crate::output::header_of::<MatrixRow>())
        .map_err(csv_err)?;
    let mut sorted: Vec<&CaseRecord> = records.iter().collect();
    sorted.sort_by(|a, b| (a.case, &a.src, &a.dst).cmp(&(b.case, &b.src, &b.dst)));
    for r in sorted {
        let key = (r.case, r.src.clone(), r.dst.clone());
        let st = statuses.get(&key).map_or(&[][..], Vec::as_slice);
        w.serialize(MatrixRow::of(r, st)).map_err(csv_err)?;
    }
    w.flush().map_err(|source| RunError::Io {
        path: tmp.clone(),
        source,
    })?;
    drop(w);
    let path = dir.join("matrix.csv");
    std::fs::rename(&tmp, &path).map_err(|source| RunError::Io { path, source })
}

/// Runs one pair's test: asks the source's daemon to send to the destination's.
fn run_pair(
    src: &Host,
    dst: &Host,
    spec: &crate::spec::config::TestSpec,
    psk: Option<&Psk>,
    start_at: Option<SystemTime>,
) -> Pair {
    match Peer::connect(src.addr, psk) {
        Ok(mut peer) => {
            let relayed = peer.relay(dst.addr, spec, start_at);
            Pair {
                src_facts: Some(peer.host.clone()),
                relayed,
            }
        }
        Err(e) => Pair {
            src_facts: None,
            relayed: RelayOutcome {
                outcome: TestOutcome::failed(Status::Error, unreachable_sender(src, &e)),
                receiver_host: None,
            },
        },
    }
}

/// The controller could not reach the source host's own daemon: said as such, naming
/// the host and its address (ReachError speaks of "the receiver", which the source is
/// not in this pair).
fn unreachable_sender(src: &Host, e: &crate::session::sender::ReachError) -> String {
    use crate::session::sender::ReachError;
    match e {
        ReachError::Connect { addr, error } => format!(
            "cannot reach sender host {}'s daemon at {addr}: {error} (is `sockbench serve` running there?)",
            src.name
        ),
        other => format!("sender host {}: {other}", src.name),
    }
}

struct Pair {
    src_facts: Option<HostFacts>,
    relayed: RelayOutcome,
}

/// The fleet run's `meta.json` as it starts.
fn mesh_meta(plan: &MeshPlan, opts: &MeshOptions, started: SystemTime) -> Meta {
    let receiver = format!("mesh of {} hosts, shape {}", plan.hosts.len(), plan.shape);
    Meta {
        workload_name: plan.name.clone(),
        workload_description: plan.description.clone(),
        workload_source: plan.source.clone(),
        repeat: plan.repeat,
        cases: case_metas(&plan.cases),
        fleet: plan
            .hosts
            .iter()
            .map(|h| FleetHost {
                name: h.name.clone(),
                address: h.addr.to_string(),
                facts: None,
            })
            .collect(),
        shape: Some(shape_name(&plan.shape, &plan.hosts)),
        ..Meta::starting(&opts.command_line, started, receiver)
    }
}

/// One round's pairs at once: each source's daemon sends to its destination's. The pairs
/// start their traffic together, once every one has had time to set up (the hosts'
/// clocks must agree, as NTP keeps them).
fn run_round(
    plan: &MeshPlan,
    psk: Option<&Psk>,
    case: &PlannedCase,
    round: &[(usize, usize)],
) -> Vec<((usize, usize), Pair)> {
    let start_at = (round.len() > 1).then(|| {
        SystemTime::now()
            + std::time::Duration::from_millis((1500 + 100 * round.len() as u64).min(8000))
    });
    std::thread::scope(|scope| {
        let handles: Vec<_> = round
            .iter()
            .map(|&(s, d)| {
                let (src, dst) = (&plan.hosts[s], &plan.hosts[d]);
                let spec = &case.spec;
                let pair = scope.spawn(move || run_pair(src, dst, spec, psk, start_at));
                ((s, d), pair)
            })
            .collect();
        handles
            .into_iter()
            .map(|(p, h)| {
                let pair = h.join().unwrap_or_else(|_| Pair {
                    src_facts: None,
                    relayed: RelayOutcome {
                        outcome: TestOutcome::failed(
                            Status::Error,
                            "the controller's thread for this pair panicked".into(),
                        ),
                        receiver_host: None,
                    },
                });
                (p, pair)
            })
            .collect()
    })
}

/// A fleet run in progress: where its results go, and what it has recorded so far.
struct MeshSweep<'a> {
    plan: &'a MeshPlan,
    quiet: bool,
    json: bool,
    writer: ResultsWriter,
    meta: Meta,
    records: Vec<CaseRecord>,
    statuses: HashMap<PairKey, Vec<Status>>,
    end: RunEnd,
    /// `--json` output that failed: the run ends after the round it failed in.
    stdout_gone: Option<RunError>,
}

impl MeshSweep<'_> {
    fn say(&self, line: &str) {
        if self.quiet {
            return;
        }
        // --json: stdout holds the rows alone; the progress goes to stderr.
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// Records one pair's test of case `ci`, repetition `rep`.
    fn record(
        &mut self,
        ci: usize,
        rep: u32,
        (s, d): (usize, usize),
        pair: Pair,
    ) -> Result<(), RunError> {
        let (plan, case) = (self.plan, &self.plan.cases[ci]);
        if let Some(f) = pair.src_facts {
            self.meta.fleet[s].facts.get_or_insert(f);
        }
        if let Some(f) = pair.relayed.receiver_host {
            self.meta.fleet[d].facts.get_or_insert(f);
        }
        // Both sides' figures come from other hosts: checked before anything is written.
        let mut outcome = pair.relayed.outcome;
        crate::results::vet::vet(&case.spec, &mut outcome);
        let run = CaseRun {
            case: ci as u32 + 1,
            repetition: rep,
            label: case.label.clone(),
            spec: case.spec.clone(),
            outcome,
            not_applicable: case.not_applicable.clone(),
            src: plan.hosts[s].name.clone(),
            dst: plan.hosts[d].name.clone(),
        };
        if let Err(e) = self.writer.write(&run) {
            // A full disk: the files keep the runs meta.json counts.
            self.writer.roll_back();
            return Err(output(e));
        }
        self.say(&pair_line(&run));
        if self.json && self.stdout_gone.is_none() {
            // Stdout is a view of the files: when it fails (its reader went away: a
            // closed pipe), the tests measured stay in them and the run ends after the round.
            self.stdout_gone = crate::session::runner::print_json(&run).err();
        }
        if run.status() != Status::Ok {
            self.end = RunEnd::SomeFailed;
        }
        let key = (run.case, run.src.clone(), run.dst.clone());
        self.statuses.entry(key).or_default().push(run.status());
        let found = self
            .records
            .iter_mut()
            .find(|r| r.case == run.case && r.src == run.src && r.dst == run.dst);
        match found {
            Some(r) => r.add(&run),
            None => {
                let mut r = CaseRecord::new(run.case, &case.label, &run);
                r.add(&run);
                self.records.push(r);
            }
        }
        self.meta.runs += 1;
        self.meta.runs_ok += usize::from(run.status() == Status::Ok);
        Ok(())
    }

    /// Rewrites `meta.json`, `cases.csv` and `matrix.csv` from what is recorded. If
    /// `meta.json` cannot be written (a full disk), the runs it does not count are taken
    /// back out of the other files.
    fn rewrite(&mut self, dir: &Path) -> Result<(), RunError> {
        if let Err(e) = self.meta.write(dir) {
            self.writer.roll_back();
            return Err(output(e));
        }
        self.writer.commit();
        cases::write(dir, &self.records).map_err(output)?;
        write_matrix(dir, &self.records, &self.statuses)
    }
}

/// Runs the plan: for each repetition, each case, each round of the shape, the round's
/// pairs at once. A host that is unreachable or dies gives its pairs `error`/`aborted`
/// rows; the rest of the fleet goes on.
pub fn execute(plan: &MeshPlan, opts: &MeshOptions) -> Result<RunEnd, RunError> {
    let started = SystemTime::now();
    let dir = &opts.out;
    let writer = ResultsWriter::create(dir, started).map_err(output)?;
    let meta = mesh_meta(plan, opts, started);
    meta.write(dir).map_err(output)?;
    cases::write(dir, &[]).map_err(output)?;
    let abort = Arc::new(AtomicBool::new(false));
    crate::session::runner::install_interrupt(abort.clone());
    let mut sweep = MeshSweep {
        plan,
        quiet: opts.quiet,
        json: opts.json,
        writer,
        meta,
        records: Vec::new(),
        statuses: HashMap::new(),
        end: RunEnd::AllOk,
        stdout_gone: None,
    };
    sweep.say(&format!(
        "sockbench {} mesh: {} host(s), shape {}, {} case(s) x {} repetition(s)",
        sweep.meta.sockbench_version,
        plan.hosts.len(),
        shape_name(&plan.shape, &plan.hosts),
        plan.cases.len(),
        plan.repeat
    ));
    let rounds = plan.shape.rounds(plan.hosts.len());
    'run: for rep in 1..=plan.repeat {
        for (ci, case) in plan.cases.iter().enumerate() {
            for round in &rounds {
                for (pair_at, pair) in run_round(plan, opts.psk.as_ref(), case, round) {
                    sweep.record(ci, rep, pair_at, pair)?;
                }
                sweep.rewrite(dir)?;
                if sweep.stdout_gone.is_some() {
                    break 'run;
                }
                if abort.load(Ordering::SeqCst) {
                    sweep.meta.interrupted = true;
                    sweep.end = RunEnd::Interrupted;
                    break 'run;
                }
            }
        }
    }
    sweep.meta.finished_utc = Some(utc_timestamp(SystemTime::now()));
    sweep.rewrite(dir)?;
    sweep.say(&format!("results: {}", dir.display()));
    sweep.stdout_gone.take().map_or(Ok(sweep.end), Err)
}

fn shape_name(shape: &Shape, hosts: &[Host]) -> String {
    match shape {
        Shape::Star(i) => format!("star:{}", hosts[*i].name),
        other => other.to_string(),
    }
}

/// One line per finished pair: who sent to whom, the main figure, the status.
fn pair_line(run: &CaseRun) -> String {
    let figure = if !run.spec.main_kind().is_transactional() {
        run.goodput_bps()
            .map(crate::spec::units::format_bps)
            .unwrap_or_else(|| "-".into())
    } else {
        let tx = run.sum(|r| r.transactions);
        run.measured_s()
            .filter(|s| *s > 0.0)
            .map(|s| format!("{:.0} transactions/s", tx as f64 / s))
            .unwrap_or_else(|| "-".into())
    };
    let error = run
        .outcome
        .error
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    format!(
        "case {} rep {} {} -> {}: {figure} {}{error}",
        run.case,
        run.repetition,
        run.src,
        run.dst,
        run.status().as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_files_are_parsed_and_refused_by_line() {
        let hosts =
            parse_hosts("# the lab\na 192.0.2.11\nb 192.0.2.12:6000  # b's daemon\n\n").unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].addr.port(), crate::net::control::DEFAULT_PORT);
        assert_eq!(hosts[1].addr.to_string(), "192.0.2.12:6000");
        for (text, line, says) in [
            ("a 192.0.2.1\na 192.0.2.2\n", 2, "twice"),
            ("a 192.0.2.1 extra\nb 192.0.2.2\n", 1, "NAME ADDRESS"),
            ("a b c\n", 1, "NAME ADDRESS"),
            ("a/b 192.0.2.1\nb 192.0.2.2\n", 1, "host name"),
            ("a 192.0.2.1\n", 1, "at least two"),
            ("a 192.0.2.1:99999\nb 192.0.2.2\n", 1, ""),
        ] {
            let HostsError { line: l, msg: e } = parse_hosts(text).unwrap_err();
            assert_eq!(l, line, "{text:?}: {e}");
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn shapes_give_the_right_pairs_and_rounds() {
        let hosts = parse_hosts("a 127.0.0.1\nb 127.0.0.2\nc 127.0.0.3\n").unwrap();
        let pairs = Shape::parse("pairs", &hosts).unwrap().rounds(3);
        assert_eq!(pairs.len(), 6);
        assert!(pairs.iter().all(|r| r.len() == 1));
        let all = Shape::parse("all", &hosts).unwrap().rounds(3);
        assert_eq!(
            all,
            vec![vec![(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]]
        );
        assert_eq!(
            Shape::parse("ring", &hosts).unwrap().rounds(3),
            vec![vec![(0, 1), (1, 2), (2, 0)]]
        );
        assert_eq!(
            Shape::parse("star:b", &hosts).unwrap().rounds(3),
            vec![vec![(0, 1), (2, 1)]]
        );
        assert!(Shape::parse("star:z", &hosts).is_err());
        assert!(Shape::parse("mesh", &hosts).is_err());
    }
}
