//! A whole `run`: finds or starts the receiver, runs every case × repetition, writes each
//! run's rows as soon as it ends, and keeps `meta.json` current.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;

use crate::config::TestSpec;
use crate::hostinfo::HostFacts;
use crate::output::meta::{utc_timestamp, CaseMeta, Hosts, Meta, SCHEMA_VERSION};
use crate::output::{table, ResultsWriter};
use crate::results::CaseRun;
use crate::sender::{resolve_target, run_test, LocalReceiver, Peer, Status, TestOutcome};

/// What to run: validated cases, each repeated `repeat` times.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub name: String,
    pub cases: Vec<TestSpec>,
    pub repeat: u32,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub to: Option<String>,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    pub command_line: Vec<String>,
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

/// Runs the plan. Returns whether every run ended `ok`.
pub fn execute(plan: &RunPlan, opts: &RunOptions) -> anyhow::Result<bool> {
    let started = SystemTime::now();
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&plan.name, started));
    let mut writer = ResultsWriter::create(&dir, started)?;

    // The receiver: one given by the user, or a child process of ours on loopback.
    let (local, addr, receiver_desc) = match &opts.to {
        Some(target) => {
            let addr = resolve_target(target)?;
            (None, addr, addr.to_string())
        }
        None => {
            let local = LocalReceiver::spawn()?;
            let addr = local.addr;
            (Some(local), addr, format!("local ({addr})"))
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
        repeat: plan.repeat,
        cases: plan
            .cases
            .iter()
            .enumerate()
            .map(|(i, spec)| CaseMeta {
                case: i as u32 + 1,
                spec: spec.clone(),
            })
            .collect(),
        runs: 0,
        runs_ok: 0,
    };
    meta.write(&dir).context("writing meta.json")?;

    if !opts.quiet {
        println!(
            "sockbench {}: {} case(s) x {} repetition(s) against the receiver at {receiver_desc}",
            meta.sockbench_version,
            plan.cases.len(),
            plan.repeat
        );
        println!("{}", table::header());
    }
    let abort = Arc::new(AtomicBool::new(false));
    let mut peer: Option<Peer> = None;
    let mut reach_error = String::new();
    let mut all_ok = true;
    for (ci, spec) in plan.cases.iter().enumerate() {
        for rep in 1..=plan.repeat {
            if peer.is_none() {
                match Peer::connect(addr) {
                    Ok(p) => {
                        meta.hosts.receiver = Some(p.host.clone());
                        meta.receiver_sockbench_version = Some(p.version.clone());
                        peer = Some(p);
                    }
                    Err(e) => {
                        if reach_error != e.to_string() {
                            eprintln!("error: {e}");
                        }
                        reach_error = e.to_string();
                    }
                }
            }
            let outcome = match peer.as_mut() {
                Some(p) => run_test(p, spec, abort.clone()),
                None => TestOutcome::failed(Status::Error, reach_error.clone()),
            };
            if outcome.status != Status::Ok {
                // The control connection may be broken: start afresh for the next run.
                peer = None;
                all_ok = false;
            }
            let run = CaseRun {
                case: ci as u32 + 1,
                repetition: rep,
                spec: spec.clone(),
                outcome,
            };
            writer.write(&run)?;
            meta.runs += 1;
            meta.runs_ok += usize::from(run.status() == Status::Ok);
            meta.write(&dir)?;
            if !opts.quiet {
                println!("{}", table::line(&run));
                for w in run.warnings() {
                    eprintln!("warning: {w}");
                }
            } else if let Some(e) = &run.outcome.error {
                eprintln!("error: case {} repetition {rep}: {e}", run.case);
            }
        }
    }
    drop(peer);
    drop(local);
    meta.finished_utc = Some(utc_timestamp(SystemTime::now()));
    meta.write(&dir)?;
    if !opts.quiet {
        println!("results: {}", dir.display());
    }
    Ok(all_ok)
}
