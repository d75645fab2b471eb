//! `sockbench serve`: the daemon's limits and options from its flags.

use super::*;

/// serve's limits on what a sender may ask for.
pub(super) fn serve_limits(args: &ServeArgs) -> Result<Limits, Failure> {
    let usage = |flag: &str, e: String| Failure::Usage(format!("{flag}: {e}"));
    Ok(Limits {
        max_duration: args
            .max_duration
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| usage("--max-duration", e.to_string()))?,
        max_flows: args.max_flows,
        max_buffer: args
            .max_buffer
            .as_deref()
            .map(parse_size)
            .transpose()
            .map_err(|e| usage("--max-buffer", e.to_string()))?,
        max_rate: args
            .max_rate
            .as_deref()
            .map(parse_rate)
            .transpose()
            .map_err(|e| usage("--max-rate", e.to_string()))?,
        max_message: args
            .max_message
            .as_deref()
            .map(|m| {
                parse_size(m)
                    .map_err(|e| e.to_string())
                    .and_then(|v| u32::try_from(v).map_err(|_| format!("'{m}' is too large")))
            })
            .transpose()
            .map_err(|e| usage("--max-message", e))?,
        max_memory: match args.max_memory.as_deref() {
            Some(m) => Some(parse_size(m).map_err(|e| usage("--max-memory", e.to_string()))?),
            None => crate::measure::hostinfo::default_max_memory(),
        },
    })
}

/// --data-ports LOW-HIGH.
pub(super) fn data_ports(range: &str) -> Result<(u16, u16), Failure> {
    let parsed = range
        .split_once('-')
        .and_then(|(lo, hi)| {
            Some((
                lo.trim().parse::<u16>().ok()?,
                hi.trim().parse::<u16>().ok()?,
            ))
        })
        .filter(|(lo, hi)| *lo > 0 && lo <= hi);
    parsed.ok_or_else(|| {
        Failure::Usage(format!(
            "--data-ports: '{range}' is not LOW-HIGH (e.g. 5400-5499)"
        ))
    })
}

pub(super) fn serve_command(args: ServeArgs) -> Result<i32, Failure> {
    let usage = |flag: &str, e: String| Failure::Usage(format!("{flag}: {e}"));
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        usage(
            "--listen",
            format!(
                "'{}' is not ADDR:PORT (e.g. 0.0.0.0:5301 or [::]:5301)",
                args.listen
            ),
        )
    })?;
    if args.max_concurrent == 0 {
        return Err(usage("--max-concurrent", "must be 1 or more".into()));
    }
    let limits = serve_limits(&args)?;
    let handshake_timeout = parse_duration(&args.handshake_timeout)
        .map_err(|e| usage("--handshake-timeout", e.to_string()))?;
    if handshake_timeout.is_zero() || handshake_timeout > std::time::Duration::from_secs(600) {
        return Err(usage(
            "--handshake-timeout",
            "must be from 1ms to 10m".into(),
        ));
    }
    if args.max_pending == 0 || args.max_per_source == 0 {
        return Err(usage(
            "--max-pending/--max-per-source",
            "must be 1 or more".into(),
        ));
    }
    let data_ports = args.data_ports.as_deref().map(data_ports).transpose()?;
    let psk = args.psk_file.as_deref().map(read_key).transpose()?;
    let opts = ServeOptions {
        listen,
        once: args.once,
        quiet: args.quiet,
        max_concurrent: args.max_concurrent,
        limits,
        data_ports,
        psk,
        handshake_timeout,
        max_pending: args.max_pending,
        max_per_source: args.max_per_source,
        allow_peers: match &args.allow_peers {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .filter(|c| !c.trim().is_empty())
                .map(str::parse::<crate::session::receiver::Cidr>)
                .collect::<Result<_, _>>()
                .map_err(|e| usage("--allow-peers", e.to_string()))?,
        },
        allow_relay_without_key: args.allow_relay_without_key,
        ..ServeOptions::default()
    };
    serve(&opts).map_err(|e| Failure::Runtime(e.into()))?;
    Ok(0)
}
