//! `sockbench run` and `sockbench mesh`.

use super::*;

pub(super) fn mesh_command(args: MeshArgs) -> Result<i32, Failure> {
    let hosts =
        crate::session::mesh::read_hosts(&args.hosts).map_err(|e| Failure::Usage(e.to_string()))?;
    let shape = crate::session::mesh::Shape::parse(&args.shape, &hosts)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let (workload, cases) = load_workload(
        args.workload.as_ref(),
        &args.knobs,
        &args.common.set,
        args.common.force,
    )?;
    let pairs: usize = shape.rounds(hosts.len()).iter().map(Vec::len).sum();
    let tests = (cases.len() * pairs) as u64 * u64::from(workload.repeat);
    if tests > MAX_RUNS && !args.common.force {
        return Err(Failure::Usage(format!(
            "this mesh is {} case(s) x {pairs} pair(s) x {} repetition(s) = {tests} tests, more than {MAX_RUNS}: narrow it, or add --force",
            cases.len(),
            workload.repeat
        )));
    }
    let name = if workload.name.is_empty() {
        format!("{}-{}", cases[0].spec.protocol, cases[0].spec.pattern)
    } else {
        workload.name.clone()
    };
    let psk = args.common.psk_file.as_deref().map(read_key).transpose()?;
    let out =
        args.common.out.clone().unwrap_or_else(|| {
            default_out_dir(&format!("mesh-{name}"), std::time::SystemTime::now())
        });
    let _own = OwnDir::new(&out, args.common.out.is_some());
    check_out_dir(&out, args.common.force)?;
    let plan = crate::session::mesh::MeshPlan {
        hosts,
        shape,
        name,
        description: workload.description.clone(),
        source: workload.source.clone(),
        cases,
        repeat: workload.repeat,
    };
    let opts = crate::session::mesh::MeshOptions {
        psk,
        out,
        quiet: args.common.quiet,
        json: args.json,
        command_line: std::env::args().collect(),
    };
    match crate::session::mesh::execute(&plan, &opts).map_err(|e| Failure::Runtime(e.into()))? {
        RunEnd::AllOk => Ok(0),
        RunEnd::SomeFailed => Ok(1),
        RunEnd::Interrupted => Ok(130),
    }
}

/// iperf3's flags that sockbench spells otherwise: the sockbench spelling, as a usage
/// error.
pub(super) fn iperf3_flags(args: &RunArgs) -> Result<(), Failure> {
    if args.iperf_server {
        return Err(Failure::Usage(
            "-s: the receiver is a command of its own here: sockbench serve (iperf3's -s)".into(),
        ));
    }
    if let Some(w) = &args.iperf_window {
        return Err(Failure::Usage(format!(
            "-w: sockbench sets each side separately: --sndbuf {w} --rcvbuf {w}"
        )));
    }
    if let Some(i) = &args.iperf_interval {
        // iperf3 takes seconds; sockbench takes a duration with its unit.
        let unit = if i.chars().all(|c| c.is_ascii_digit() || c == '.') {
            "s"
        } else {
            ""
        };
        return Err(Failure::Usage(format!(
            "-i: the per-interval sample length is --interval {i}{unit} (iperf3's -i)"
        )));
    }
    if let Some(c) = &args.iperf_congestion {
        return Err(Failure::Usage(format!(
            "-C: the congestion control is --congestion {c} (iperf3's -C)"
        )));
    }
    if let Some(m) = &args.iperf_mss {
        return Err(Failure::Usage(format!(
            "-M: the segment size (TCP_MAXSEG) is --mss {m} (iperf3's -M)"
        )));
    }
    if args.iperf_nodelay {
        return Err(Failure::Usage(
            "-N: TCP_NODELAY is --nodelay (iperf3's -N)".into(),
        ));
    }
    if args.iperf_bidir {
        return Err(Failure::Usage(
            "--bidir: both directions at once is --direction bidir (iperf3's --bidir)".into(),
        ));
    }
    if let Some(p) = &args.iperf_port {
        return Err(Failure::Usage(format!(
            "-p: the port goes with the address: --to HOST:{p}, and on the receiver \
             sockbench serve --listen 0.0.0.0:{p} (iperf3's -p)"
        )));
    }
    Ok(())
}

/// Refuses, before any traffic, a knob this host's system cannot apply (in one line:
/// `--gso: Linux only (this host: windows)`), then a protocol or knob this kernel refuses,
/// by configuring a throwaway socket. The receiver's knobs are checked here when it runs
/// here, or when this host could apply them; a remote receiver checks its own.
pub(super) fn check_here(
    spec: &crate::spec::config::TestSpec,
    local_receiver: bool,
) -> Result<(), Failure> {
    use crate::spec::knobs::check_os;
    use crate::sys::HOST;
    check_os(&spec.sender, HOST, "this host")?;
    if local_receiver {
        check_os(&spec.receiver, HOST, "this host")?;
    }
    if check_os(&spec.receiver, HOST, "this host").is_ok() {
        transport::probe(spec.protocol, &[&spec.sender, &spec.receiver])?;
    } else {
        transport::probe(spec.protocol, &[&spec.sender])?;
    }
    Ok(())
}

/// Every protocol and knob set must be one this kernel takes, and every CPU to pin to
/// must exist here (and, with a `local` receiver, for it too): before any traffic.
fn check_cases(cases: &[crate::spec::workload::PlannedCase], local: bool) -> Result<(), Failure> {
    let allowed = crate::measure::pin_thread(None).unwrap_or_default();
    for case in cases {
        let spec = &case.spec;
        check_here(spec, local)?;
        let sides = if local {
            vec![&spec.sender, &spec.receiver]
        } else {
            vec![&spec.sender]
        };
        for cpu in sides.into_iter().filter_map(|k| k.cpus.as_ref()).flatten() {
            if !allowed.contains(cpu) {
                return Err(Failure::Usage(format!(
                    "--cpu-affinity: CPU {cpu} is not available here (this process may run on {allowed:?})"
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn run_command(args: RunArgs) -> Result<i32, Failure> {
    iperf3_flags(&args)?;
    // A receiver address that cannot be one is a usage error, found before anything is
    // created or started.
    if let Some(to) = &args.receiver.to {
        resolve_target(to).map_err(|e| Failure::Usage(format!("--to: {e}")))?;
    }
    let (workload, cases) = load_workload(
        args.workload.as_ref(),
        &args.knobs,
        &args.common.set,
        args.common.force,
    )?;
    check_cases(&cases, args.receiver.to.is_none())?;
    for (again, first) in Workload::repeated(&cases) {
        if !args.common.quiet {
            let (a, f) = (&cases[again].label, &cases[first].label);
            let (again, first) = (again + 1, first + 1);
            eprintln!("note: case {again} ({a}) is the same test as case {first} ({f}): it is measured twice");
        }
    }
    let name = if workload.name.is_empty() {
        format!("{}-{}", cases[0].spec.protocol, cases[0].spec.pattern)
    } else {
        workload.name.clone()
    };
    let seed = workload.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    let adaptive = adaptive_repeats(&args, workload.repeat)?;
    let psk = match &args.common.psk_file {
        Some(path) => Some((read_key(path)?, path.clone())),
        None => None,
    };
    let out = args
        .common
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&name, std::time::SystemTime::now()));
    let _own = OwnDir::new(&out, args.common.out.is_some());
    check_out_dir(&out, args.common.force)?;
    let plan = RunPlan {
        varied: workload.varied_keys(),
        name,
        description: workload.description.clone(),
        source: workload.source.clone(),
        cases,
        repeat: adaptive.map_or(workload.repeat, |a| a.max),
        shuffle: workload.shuffle,
        seed,
        adaptive,
    };
    let opts = RunOptions {
        to: args.receiver.to,
        psk,
        fail_fast: args.fail_fast,
        out: Some(out),
        quiet: args.common.quiet,
        json: args.receiver.json,
        command_line: std::env::args().collect(),
    };
    let ran = execute(&plan, &opts).map_err(|e| match e {
        crate::session::runner::RunError::Refused(m) => Failure::Usage(m),
        e => Failure::Runtime(e.into()),
    });
    match ran? {
        RunEnd::AllOk => Ok(0),
        RunEnd::SomeFailed => Ok(1),
        RunEnd::Interrupted => Ok(130),
    }
}

/// --min-repeat, --max-repeat and --target-ci, any of which turns adaptive repetitions on.
pub(super) fn adaptive_repeats(args: &RunArgs, repeat: u32) -> Result<Option<Adaptive>, Failure> {
    if args.min_repeat.is_none() && args.max_repeat.is_none() && args.target_ci.is_none() {
        return Ok(None);
    }
    let min = args.min_repeat.unwrap_or(repeat);
    if min == 0 {
        return Err(Failure::Usage("--min-repeat: must be 1 or more".into()));
    }
    let max = args.max_repeat.unwrap_or(min.max(10));
    if max < min {
        let least = match args.min_repeat {
            Some(_) => format!("--min-repeat {min}"),
            None => format!("repeat = {min}, the least when --min-repeat is not given"),
        };
        return Err(Failure::Usage(format!(
            "--max-repeat {max} is below {least}"
        )));
    }
    let target = match &args.target_ci {
        None => 5.0,
        Some(t) => t
            .trim()
            .trim_end_matches('%')
            .parse::<f64>()
            .ok()
            .filter(|p| *p > 0.0 && *p <= 100.0)
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "--target-ci: '{t}' is not a percentage above 0 and up to 100 (e.g. 5 for ±5%)"
                ))
            })?,
    };
    Ok(Some(Adaptive {
        min,
        max,
        target: target / 100.0,
    }))
}
