//! A whole `run`: finds or starts the receiver, runs every case × repetition, writes each
//! run's rows as soon as it ends, keeps `cases.csv` and `meta.json` current, and on Ctrl-C
//! ends the run in flight as `aborted`, keeping what was measured.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};

use crate::auth::Psk;
use crate::hostinfo::HostFacts;
use crate::output::cases::{self, CaseRecord};
use crate::output::meta::{utc_timestamp, CaseMeta, Hosts, Meta, SCHEMA_VERSION};
use crate::output::{table, ResultsWriter};
use crate::results::CaseRun;
use crate::sender::{resolve_target, run_test, LocalReceiver, Peer, Status, TestOutcome};
use crate::workload::PlannedCase;

/// What to run: validated cases, each repeated `repeat` times.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub name: String,
    pub description: String,
    /// The workload file, or "command line".
    pub source: String,
    pub cases: Vec<PlannedCase>,
    pub repeat: u32,
    pub shuffle: bool,
    pub seed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub to: Option<String>,
    /// The pre-shared key and the file it came from (handed to a local receiver).
    pub psk: Option<(Psk, PathBuf)>,
    /// Stop the sweep at the first run that does not end `ok`.
    pub fail_fast: bool,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    pub command_line: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    AllOk,
    SomeFailed,
    Interrupted,
}

/// The default results directory: `results/<UTC time>-<name>/`.
pub fn default_out_dir(name: &str, started: SystemTime) -> PathBuf {
    let stamp = utc_timestamp(started).replace([':', '-'], "");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from("results").join(format!("{stamp}-{safe}"))
}

/// The order of the runs: repetition by repetition, each going through every case (so a
/// slow drift of the machine does not bias one case), or all shuffled with the seed.
pub fn run_order(plan: &RunPlan) -> Vec<(usize, u32)> {
    let mut order: Vec<(usize, u32)> = (1..=plan.repeat)
        .flat_map(|rep| (0..plan.cases.len()).map(move |c| (c, rep)))
        .collect();
    if plan.shuffle {
        fastrand::Rng::with_seed(plan.seed).shuffle(&mut order);
    }
    order
}

/// Ctrl-C sets `abort`: the run in flight ends as `aborted` and the sweep stops. A second
/// Ctrl-C exits at once.
fn install_interrupt(abort: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if abort.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: ending the run in flight (Ctrl-C again to quit at once)");
    });
}

/// Prints to the terminal above the progress bar, or plainly.
struct Console {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Console {
    fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None => println!("{s}"),
        }
    }
    fn warn(&self, s: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{s}")),
            None => eprintln!("{s}"),
        }
    }
}

/// Runs the plan.
pub fn execute(plan: &RunPlan, opts: &RunOptions) -> anyhow::Result<RunEnd> {
    let started = SystemTime::now();
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&plan.name, started));
    let mut writer = ResultsWriter::create(&dir, started)?;

    // The receiver: one given by the user, or a child process of ours on loopback.
    let (local, addr) = match &opts.to {
        Some(target) => (None, resolve_target(target)?),
        None => {
            let local = LocalReceiver::spawn(opts.psk.as_ref().map(|(_, p)| p.as_path()))?;
            let addr = local.addr;
            (Some(local), addr)
        }
    };
    let mut meta = Meta {
        schema_version: SCHEMA_VERSION,
        sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: env!("SOCKBENCH_GIT_REV").to_string(),
        command_line: opts.command_line.clone(),
        started_utc: utc_timestamp(started),
        finished_utc: None,
        receiver: if local.is_some() {
            "local".into()
        } else {
            addr.to_string()
        },
        receiver_sockbench_version: None,
        hosts: Hosts {
            sender: HostFacts::gather(),
            receiver: None,
        },
        workload_name: plan.name.clone(),
        workload_description: plan.description.clone(),
        workload_source: plan.source.clone(),
        repeat: plan.repeat,
        shuffle: plan.shuffle,
        seed: plan.seed,
        cases: plan
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| CaseMeta {
                case: i as u32 + 1,
                label: c.label.clone(),
                spec: c.spec.clone(),
            })
            .collect(),
        runs: 0,
        runs_ok: 0,
        interrupted: false,
    };
    meta.write(&dir)?;
    cases::write(&dir, &[])?;

    let order = run_order(plan);
    let bar = (!opts.quiet && std::io::stdout().is_terminal()).then(|| {
        let planned_ms: u64 = order
            .iter()
            .map(|&(c, _)| {
                (plan.cases[c].spec.warmup + plan.cases[c].spec.duration).as_millis() as u64
            })
            .sum();
        let b = ProgressBar::new(planned_ms.max(1));
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30} {percent:>3}% elapsed {elapsed} left ~{eta}  {msg}",
            )
            .expect("static template"),
        );
        b.enable_steady_tick(Duration::from_millis(250));
        b
    });
    let console = Console {
        bar,
        quiet: opts.quiet,
    };
    let target = if local.is_some() {
        format!("a local receiver ({addr})")
    } else {
        addr.to_string()
    };
    console.line(&format!(
        "sockbench {}: {} — {} case(s) x {} repetition(s) against {target}",
        meta.sockbench_version,
        plan.name,
        plan.cases.len(),
        plan.repeat
    ));
    console.line(&table::header());

    let abort = Arc::new(AtomicBool::new(false));
    install_interrupt(abort.clone());
    let mut records: Vec<CaseRecord> = Vec::new();
    let mut peer: Option<Peer> = None;
    let mut reach_error = String::new();
    let mut end = RunEnd::AllOk;
    for (n, &(ci, rep)) in order.iter().enumerate() {
        let case = &plan.cases[ci];
        let spec = &case.spec;
        if let Some(b) = &console.bar {
            let label = if case.label.is_empty() {
                String::new()
            } else {
                format!(" {}", case.label)
            };
            b.set_message(format!(
                "run {}/{}: case {} rep {rep}: {} {}{label}",
                n + 1,
                order.len(),
                ci + 1,
                spec.protocol,
                spec.pattern
            ));
        }
        if peer.is_none() {
            match Peer::connect(addr, opts.psk.as_ref().map(|(k, _)| k)) {
                Ok(p) => {
                    meta.hosts.receiver = Some(p.host.clone());
                    meta.receiver_sockbench_version = Some(p.version.clone());
                    peer = Some(p);
                }
                Err(e) => {
                    if reach_error != e.to_string() {
                        console.warn(&format!("error: {e}"));
                    }
                    reach_error = e.to_string();
                }
            }
        }
        let mut outcome = match peer.as_mut() {
            Some(p) => run_test(p, spec, abort.clone()),
            None => TestOutcome::failed(Status::Error, reach_error.clone()),
        };
        let interrupted = abort.load(Ordering::SeqCst);
        if interrupted && outcome.status == Status::Ok {
            outcome.status = Status::Aborted;
        }
        if interrupted {
            let why = "interrupted by the user".to_string();
            outcome.error = Some(outcome.error.map(|e| format!("{why}; {e}")).unwrap_or(why));
        }
        if outcome.status != Status::Ok {
            // The control connection may be broken: start afresh for the next run.
            peer = None;
            end = RunEnd::SomeFailed;
        }
        let run = CaseRun {
            case: ci as u32 + 1,
            repetition: rep,
            label: case.label.clone(),
            spec: spec.clone(),
            outcome,
        };
        writer.write(&run)?;
        match records.iter_mut().find(|r| r.case == run.case) {
            Some(r) => r.add(&run),
            None => {
                let mut r = CaseRecord::new(run.case, &case.label, &run);
                r.add(&run);
                records.push(r);
            }
        }
        cases::write(&dir, &records)?;
        meta.runs += 1;
        meta.runs_ok += usize::from(run.status() == Status::Ok);
        meta.write(&dir)?;
        console.line(&table::line(&run));
        if !opts.quiet {
            for w in run.warnings() {
                console.warn(&format!("warning: {w}"));
            }
        } else if let Some(e) = &run.outcome.error {
            eprintln!("error: case {} repetition {rep}: {e}", run.case);
        }
        if let Some(b) = &console.bar {
            b.inc((spec.warmup + spec.duration).as_millis() as u64);
        }
        if interrupted {
            end = RunEnd::Interrupted;
            meta.interrupted = true;
            break;
        }
        if opts.fail_fast && run.status() != Status::Ok {
            console.warn("stopping at the first failed run (--fail-fast)");
            break;
        }
    }
    if let Some(b) = &console.bar {
        b.finish_and_clear();
    }
    drop(peer);
    drop(local);
    meta.finished_utc = Some(utc_timestamp(SystemTime::now()));
    meta.write(&dir)?;
    if !opts.quiet {
        println!("results: {}", dir.display());
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TestSpec;

    fn plan(cases: usize, repeat: u32, shuffle: bool) -> RunPlan {
        RunPlan {
            name: "t".into(),
            description: String::new(),
            source: "test".into(),
            cases: (0..cases)
                .map(|_| PlannedCase {
                    label: String::new(),
                    spec: TestSpec::default(),
                })
                .collect(),
            repeat,
            shuffle,
            seed: 7,
        }
    }

    #[test]
    fn repetitions_interleave_and_shuffling_is_seeded() {
        assert_eq!(
            run_order(&plan(2, 2, false)),
            vec![(0, 1), (1, 1), (0, 2), (1, 2)]
        );
        let a = run_order(&plan(5, 3, true));
        assert_eq!(a, run_order(&plan(5, 3, true)), "same seed, same order");
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            run_order(&plan(5, 3, false))
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert_ne!(a, run_order(&plan(5, 3, false)));
    }
}
