//! The command line. clap types stay in this module: everything else receives validated
//! configuration built here.

mod args;
mod flags;
mod run;
mod serve;
mod tune;

pub use args::{
    Cli, Command, CommonArgs, KnobArgs, MeshArgs, ReceiverArgs, ReportArgs, RunArgs, ServeArgs,
    TuneArgs,
};
pub use flags::{Choices, SocketKnobFlags, TestKeyFlags};
use run::{mesh_command, run_command};
use serve::serve_command;
use tune::tune_command;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::net::auth::Psk;
use crate::net::transport;
use crate::session::receiver::{serve, Limits, ServeOptions};
use crate::session::runner::{default_out_dir, execute, Adaptive, RunEnd, RunOptions, RunPlan};
use crate::session::sender::resolve_target;
use crate::spec::config::{
    ConfigError, Direction, Pattern, Protocol, SpecBuilder, TestKey, TEST_KEYS,
};
use crate::spec::knobs::{Knob, Takes, KNOBS};
use crate::spec::units::{parse_duration, parse_rate, parse_size};
use crate::spec::workload::{Workload, MAX_RUNS};

/// A failure with its exit code: 2 for bad input (nothing was sent), 1 for a run that
/// failed.
pub enum Failure {
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Usage(e.to_string())
    }
}

fn flag_error(key: &str, e: ConfigError) -> Failure {
    // Name the flag as the user typed it.
    let flag = format!("--{}", key.replace('_', "-"));
    let msg = e
        .message()
        .strip_prefix(&format!("{key}: "))
        .unwrap_or(e.message())
        .to_string();
    if msg.starts_with("--") {
        Failure::Usage(msg)
    } else {
        Failure::Usage(format!("{flag}: {msg}"))
    }
}

/// A word as a shell would need it quoted to pass through unchanged.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.=-+:,/@%".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// A results directory a command made for itself under its default name: removed again
/// when the command ends with it still empty (it failed before writing a file). A
/// directory the user named is never touched.
pub(super) struct OwnDir(Option<PathBuf>);

impl OwnDir {
    pub(super) fn new(out: &Path, named_by_user: bool) -> OwnDir {
        OwnDir((!named_by_user).then(|| out.to_path_buf()))
    }
}

impl Drop for OwnDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            // remove_dir removes an empty directory only.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Refuses a results directory that is a file, or that already holds files (unless
/// `force`): a second run must not silently mix its rows into the first's.
fn check_out_dir(dir: &Path, force: bool) -> Result<(), Failure> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::Usage(format!("--out {shown}: {e}"))),
        Ok(m) if !m.is_dir() => Err(Failure::Usage(format!(
            "--out {shown}: exists and is not a directory"
        ))),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)
                .map_err(|e| Failure::Usage(format!("--out {shown}: {e}")))?;
            if entries.next().is_some() && !force {
                Err(Failure::Usage(format!(
                    "--out {shown}: already holds files (an earlier run's?); choose a new directory, or add --force to write into it"
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// The workload of a run or a mesh: the file (or none), the knob flags and `--set`,
/// expanded into cases; more than MAX_RUNS tests are refused unless `force`.
fn load_workload(
    path: Option<&PathBuf>,
    knobs: &KnobArgs,
    set: &[String],
    force: bool,
) -> Result<(Workload, Vec<crate::spec::workload::PlannedCase>), Failure> {
    let mut workload = match path {
        Some(path) => {
            let text = path.to_string_lossy();
            if text.contains('=') && !path.exists() {
                // `--set a=1 b=2`: the second assignment landed where the workload goes.
                let sets: Vec<String> = set
                    .iter()
                    .map(|a| a.as_str())
                    .chain([text.as_ref()])
                    .map(|a| format!("--set {}", shell_word(a)))
                    .collect();
                return Err(Failure::Usage(format!(
                    "'{text}' is not a workload file; each assignment needs its own --set: {}",
                    sets.join(" ")
                )));
            }
            Workload::from_file(path).map_err(|e| Failure::Usage(e.to_string()))?
        }
        None => Workload::new(""),
    };
    // Knob flags set a value for every case, as `--set` does, overriding the file.
    for (key, value) in knobs.settings() {
        SpecBuilder::new()
            .set(key, &value)
            .map_err(|e| flag_error(key, e))?;
        workload.set_default(key, &value);
    }
    if let Some(r) = &knobs.repeat {
        workload.set(&format!("repeat={r}")).map_err(|_| {
            Failure::Usage(format!(
                "--repeat: '{r}' is not a whole number of 1 or more"
            ))
        })?;
    }
    for assignment in set {
        workload
            .set(assignment)
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    // Counted from the matrix's dimensions, before any case is built: a million-case
    // matrix is refused at once, not after it filled the memory.
    let case_count = workload.case_count();
    let runs = case_count.saturating_mul(u64::from(workload.repeat));
    if runs > MAX_RUNS && !force {
        return Err(Failure::Usage(format!(
            "this run is {case_count} case(s) x {} repetition(s) = {runs} tests, more than {MAX_RUNS}: narrow the matrix or the repetitions, or add --force to run them all",
            workload.repeat
        )));
    }
    let cases = workload
        .expand()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    Ok((workload, cases))
}

/// Reads a key file, warning (on stderr) when others than its owner may read it.
fn read_key(path: &std::path::Path) -> Result<Psk, crate::spec::config::ConfigError> {
    let psk = Psk::from_file(path)?;
    if let Some(warning) = Psk::permission_warning(path) {
        eprintln!("{warning}");
    }
    Ok(psk)
}

fn report_command(args: ReportArgs) -> Result<i32, Failure> {
    let opts = crate::report::ReportOptions {
        dirs: args.dirs,
        output: args.output,
        baseline: args.baseline,
        svg_dir: args.svg_dir,
    };
    let drawn = crate::report::write_report(&opts).map_err(|e| Failure::Usage(e.to_string()))?;
    for e in &drawn.passed_over {
        eprintln!("report: passed over {e}");
    }
    if !drawn.unpaired.is_empty() {
        let verb = if drawn.unpaired.len() == 1 {
            "shares"
        } else {
            "share"
        };
        eprintln!(
            "report: {} {verb} no case with the baseline {} (the same test and knob values): not compared; --baseline picks the directory to compare against",
            drawn.unpaired.join(", "),
            drawn.baseline
        );
    }
    println!(
        "report: {} ({} charts)",
        opts.output.display(),
        drawn.charts
    );
    Ok(0)
}

/// iperf3's habit of a flag first (`sockbench -c host -P 4`, `sockbench -s`): the
/// sockbench command that does the same, or None when the line does not start that way.
pub fn iperf3_habit(args: &[String]) -> Option<String> {
    let first = args.first()?;
    if first == "-s" || first == "--server" {
        return Some("the receiver is a command here: sockbench serve (iperf3's -s)".into());
    }
    const CLIENT: &[&str] = &[
        "-c", "-P", "-t", "-l", "-u", "-b", "-R", "-J", "-w", "-i", "-p", "-C", "-M", "-N",
        "--client", "--bidir",
    ];
    if CLIENT
        .iter()
        .any(|f| first == f || first.starts_with(&format!("{f}=")))
    {
        let rest: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
        return Some(format!(
            "the sender is a command here: sockbench run {} (iperf3's client)",
            rest.join(" ")
        ));
    }
    None
}

fn completions_command(shell: clap_complete::Shell) -> Result<i32, Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "sockbench", &mut std::io::stdout());
    Ok(0)
}

fn man_command(out_dir: Option<PathBuf>) -> Result<i32, Failure> {
    let cmd = Cli::command();
    let written = match &out_dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| {
                let mut cmd = cmd.disable_help_subcommand(true);
                cmd.build();
                man_pages_to(cmd, dir)
            })
            .map_err(|e| anyhow::anyhow!("writing man pages into {}: {e}", dir.display())),
        None => man_page(cmd)
            .and_then(|page| std::io::Write::write_all(&mut std::io::stdout(), &page))
            .map_err(|e| anyhow::anyhow!("writing the man page: {e}")),
    };
    written.map_err(Failure::Runtime)?;
    Ok(0)
}

/// A command's man page, its examples (clap's after-help, which clap_mangen files under
/// EXTRA) under EXAMPLES, where man page readers look for them.
fn man_page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    let text = String::from_utf8_lossy(&page).replace(".SH EXTRA", ".SH EXAMPLES");
    Ok(text.into_bytes())
}

/// A page for the command and one for each of its subcommands, as clap_mangen's
/// generate_to writes them, with EXAMPLES.
fn man_pages_to(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        man_pages_to(sub, dir)?;
    }
    let name = clap_mangen::Man::new(cmd.clone()).get_filename();
    std::fs::write(dir.join(name), man_page(cmd)?)
}

/// clap's refusal of a value outside a flag's choices (`--proto quic`) as one line.
fn invalid_choice(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidValue {
        return None;
    }
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (value, arg) = (
        text(ContextKind::InvalidValue)?,
        text(ContextKind::InvalidArg)?,
    );
    let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) else {
        return None;
    };
    if valid.is_empty() || value.is_empty() {
        return None;
    }
    Some(format!(
        "invalid value '{value}' for {arg}: expected one of {}",
        valid.join(", ")
    ))
}

/// Parses the command line, runs the command, and returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if let Some(hint) = iperf3_habit(&argv) {
        eprintln!("error: {hint}");
        return 2;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
            }
            // A value outside a flag's choices: one line, like every other bad value.
            if let Some(line) = invalid_choice(&e) {
                eprintln!("error: {line}");
                return 2;
            }
            // clap's whole message: the problem, a "did you mean" tip when one is close,
            // and the usage line.
            let _ = e.print();
            return 2;
        }
    };
    // The path a lab describes for meta.json: a bad description is a usage error.
    if matches!(
        cli.command,
        Command::Run(_) | Command::Mesh(_) | Command::Tune(_)
    ) {
        if let Err(e) = crate::spec::path::PathNote::from_env() {
            eprintln!("error: {e}");
            return 2;
        }
    }
    let result = match cli.command {
        Command::Serve(args) => serve_command(args),
        Command::Run(args) => run_command(*args),
        Command::Mesh(args) => mesh_command(*args),
        Command::Tune(args) => tune_command(*args),
        Command::Report(args) => report_command(args),
        Command::Completions { shell } => completions_command(shell),
        Command::Man { out_dir } => man_command(out_dir),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            2
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests;
