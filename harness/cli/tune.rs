//! `sockbench tune`: the plan from the flags and the workload, the search, its exit code.

use super::*;

/// --budget: a number of tests or a duration; by default
/// [`crate::tune::search::default_budget`].
pub(super) fn tune_budget(
    budget: Option<&str>,
    candidates: u64,
    reps: u32,
) -> Result<crate::tune::search::Budget, Failure> {
    use crate::tune::search::Budget;
    let budget = match budget.map(str::trim) {
        None => Budget::Tests(crate::tune::search::default_budget(candidates, reps)),
        Some(b) if !b.is_empty() && b.chars().all(|c| c.is_ascii_digit()) => match b.parse::<u64>()
        {
            Ok(n) if n >= 1 => Budget::Tests(n),
            _ => {
                return Err(Failure::Usage(format!(
                    "--budget: '{b}' is not 1 test or more"
                )))
            }
        },
        Some(b) => Budget::Time(parse_duration(b).ok().filter(|d| !d.is_zero()).ok_or_else(
            || {
                Failure::Usage(format!(
                    "--budget: '{b}' is neither a number of tests (40) nor a duration (10m)"
                ))
            },
        )?),
    };
    Ok(budget)
}

/// What tune is asked: the constraints, the goal if one was given, and the workload whose
/// matrix it searches.
pub(super) struct TuneInput {
    constraints: Vec<crate::tune::goal::Constraint>,
    goal: Option<crate::tune::goal::Goal>,
    workload: Workload,
    cases: Vec<crate::spec::workload::PlannedCase>,
}

/// tune's input, every case of which this kernel can run.
pub(super) fn tune_input(args: &TuneArgs) -> Result<TuneInput, Failure> {
    use crate::tune::goal::{Constraint, Goal};
    if let Some(to) = &args.receiver.to {
        resolve_target(to).map_err(|e| Failure::Usage(format!("--to: {e}")))?;
    }
    let constraints: Vec<Constraint> = args
        .constraint
        .iter()
        .map(|c| Constraint::parse(c).map_err(|e| Failure::Usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    let explicit_goal = args
        .goal
        .as_deref()
        .map(|g| Goal::parse(g).map_err(|e| Failure::Usage(e.to_string())))
        .transpose()?;
    let (mut workload, mut cases) = load_workload(
        args.workload.as_ref(),
        &args.knobs,
        &args.common.set,
        args.common.force,
    )?;
    if workload.matrix.is_empty() {
        return Err(Failure::Usage(
            "tune searches the workload's [matrix], and it has none: give one, e.g. --set 'rcvbuf=\"16K..16M\"' or sndbuf = \"16K..16M\" under [matrix] in the file".into(),
        ));
    }
    if !workload.cases.is_empty() {
        // The matrix's cases come first in the expansion; the [[case]] tables follow.
        if !args.common.quiet {
            eprintln!(
                "note: {}: tune searches the [matrix]; its {} [[case]] table(s) are left out of the search (sockbench run measures them)",
                workload.source,
                workload.cases.len()
            );
        }
        workload.cases.clear();
        cases.truncate(
            crate::tune::search::Space::from_matrix(&workload.matrix).grid_size() as usize,
        );
    }
    for case in &cases {
        super::run::check_here(&case.spec, args.receiver.to.is_none())?;
    }
    Ok(TuneInput {
        constraints,
        goal: explicit_goal,
        workload,
        cases,
    })
}

/// A pre-shared key, and the file it was read from.
pub(super) type PskFile = Option<(Psk, PathBuf)>;

/// The search: its space, budget and results directory.
pub(super) fn tune_plan(
    args: &TuneArgs,
    workload: Workload,
    cases: Vec<crate::spec::workload::PlannedCase>,
    goal: crate::tune::goal::Goal,
    constraints: Vec<crate::tune::goal::Constraint>,
) -> Result<(crate::tune::TunePlan, PathBuf, PskFile), Failure> {
    let space = crate::tune::search::Space::from_matrix(&workload.matrix);
    let max_reps = workload.repeat.max(3);
    if workload.repeat_given && workload.repeat < max_reps && !args.common.quiet {
        eprintln!(
            "note: repeat {} asked; tune repeats a candidate up to {max_reps} times, the fewest that can tell two candidates apart",
            workload.repeat
        );
    }
    let budget = tune_budget(args.budget.as_deref(), space.grid_size(), max_reps)?;
    let first = &cases[0].spec;
    let name = if workload.name.is_empty() {
        format!("{}-{}", first.protocol, first.pattern)
    } else {
        workload.name.clone()
    };
    let psk = match &args.common.psk_file {
        Some(path) => Some((read_key(path)?, path.clone())),
        None => None,
    };
    let out =
        args.common.out.clone().unwrap_or_else(|| {
            default_out_dir(&format!("tune-{name}"), std::time::SystemTime::now())
        });
    check_out_dir(&out, args.common.force)?;
    let plan = crate::tune::TunePlan {
        name,
        workload,
        cases,
        space,
        goal,
        constraints,
        budget,
        max_reps,
    };
    Ok((plan, out, psk))
}

pub(super) fn tune_command(args: TuneArgs) -> Result<i32, Failure> {
    use crate::tune::goal::Goal;
    let input = tune_input(&args)?;
    let (constraints, explicit_goal) = (input.constraints, input.goal);
    let (workload, cases) = (input.workload, input.cases);
    let first = &cases[0].spec;
    let goal = match explicit_goal {
        Some(g) => g,
        None if !first.pattern.is_transactional() => {
            Goal::parse("goodput>=0.95*max").expect("a valid goal")
        }
        None => Goal::parse("rtt_p99").expect("a valid goal"),
    };
    // A round-trip figure needs transactions: rr, crr, or a probe beside a stream.
    let measures_rtt = cases.iter().all(|c| c.spec.traffic().has_transactions());
    for metric in std::iter::once(goal.metric()).chain(constraints.iter().map(|c| c.metric)) {
        if metric.is_rtt() && !measures_rtt {
            return Err(Failure::Usage(format!(
                "{}: round trips are measured only by rr and crr, or by a probe beside a stream: add --probe rr",
                crate::tune::goal::short_name(metric)
            )));
        }
    }
    if goal.metric() == crate::tune::goal::Metric::TransactionsPerS
        && cases.iter().any(|c| !c.spec.traffic().has_transactions())
    {
        return Err(Failure::Usage(
            "--goal transactions: a stream has no transactions; use --pattern rr or crr".into(),
        ));
    }
    let (plan, out, psk) = tune_plan(&args, workload, cases, goal, constraints)?;
    let _own = OwnDir::new(&out, args.common.out.is_some());
    let opts = crate::tune::TuneOptions {
        to: args.receiver.to,
        psk,
        out,
        quiet: args.common.quiet,
        json: args.receiver.json,
        command_line: std::env::args().collect(),
    };
    let end = match crate::tune::execute(&plan, &opts) {
        Ok(end) => end,
        // Ctrl-C: the tests so far are kept; 130 as for `run` and `mesh`.
        Err(e @ crate::tune::TuneError::Interrupted(_)) => {
            eprintln!("{e}");
            return Ok(130);
        }
        Err(e) => return Err(Failure::Runtime(e.into())),
    };
    Ok(tune_exit(&plan, &end))
}

/// The exit status of a finished tune, its reason on stderr: 0 ok, 1 unsatisfiable,
/// 3 inconclusive.
pub(super) fn tune_exit(plan: &crate::tune::TunePlan, end: &crate::tune::TuneEnd) -> i32 {
    use crate::tune::search::Status;
    let a = &end.answer;
    if a.status == Status::Unsatisfiable {
        let figures: Vec<String> = a
            .figures
            .iter()
            .filter(|(m, _)| plan.constraints.iter().any(|c| c.metric == **m))
            .map(|(m, f)| {
                format!(
                    "{} {}",
                    crate::tune::goal::short_name(*m),
                    crate::tune::goal::format_figure(*m, f.mean)
                )
            })
            .collect();
        let closest = if a.label.is_empty() {
            "no candidate ended ok".to_string()
        } else if figures.is_empty() {
            format!("the closest candidate was {}", a.label)
        } else {
            format!(
                "the closest candidate was {} ({})",
                a.label,
                figures.join(", ")
            )
        };
        eprintln!(
            "error: unsatisfiable: {}; {closest}; every step is in {}",
            a.why,
            end.dir.join("tune.csv").display()
        );
        return 1;
    }
    if a.status == Status::Inconclusive {
        eprintln!(
            "inconclusive: {}; every step is in {}",
            a.why,
            end.dir.join("tune.csv").display()
        );
        return 3;
    }
    0
}
