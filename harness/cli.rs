//! The command line. clap types stay in this module: everything else receives validated
//! configuration built here.

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
use crate::spec::config::{ConfigError, Direction, Pattern, Protocol, SpecBuilder};
use crate::spec::knobs::{Knob, Takes, KNOBS};
use crate::spec::units::{parse_duration, parse_rate, parse_size};
use crate::spec::workload::{Workload, MAX_RUNS};

/// A value kept as text (the config layer parses it, with its own messages) whose known
/// choices clap shows in `--help`, in completions and in the man page.
#[derive(Clone)]
pub struct Choices(Vec<&'static str>);

impl Choices {
    fn of(names: impl IntoIterator<Item = &'static str>) -> Choices {
        Choices(names.into_iter().collect())
    }
}

impl std::fmt::Debug for Choices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Choices").field(&self.0).finish()
    }
}

impl TypedValueParser for Choices {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        value
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidUtf8).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        if self.0.is_empty() {
            return None;
        }
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}

macro_rules! value_enum {
    ($($t:ty),+) => {$(
        /// Its names, as the config layer spells them, are the choices clap shows.
        impl ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                <$t>::ALL
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.as_str()))
            }
        }
    )+};
}

value_enum!(Protocol, Pattern, Direction);

/// The socket knob flags, one per entry of the knob table
/// ([`crate::spec::knobs::KNOBS`]): flag, help, value name and choices come from the
/// table. Values are kept as text, as for [`KnobArgs`], and parsed by the table's parser.
#[derive(Debug, Clone, Default)]
pub struct SocketKnobFlags {
    /// (key, value) of each flag given, in table order; a switch's value is `true`.
    pub settings: Vec<(&'static str, String)>,
}

impl SocketKnobFlags {
    fn arg(knob: &Knob) -> Arg {
        let arg = Arg::new(knob.key)
            .long(knob.key.replace('_', "-"))
            .help(knob.help)
            .help_heading(
                "Socket knobs (both sides; one side: --set sender.KEY=VALUE or receiver.KEY=VALUE)",
            );
        match knob.takes {
            Takes::Switch => arg.action(ArgAction::SetTrue),
            Takes::Value { name, choices } => arg
                .value_name(name)
                .allow_hyphen_values(true)
                .action(ArgAction::Set)
                .value_parser(Choices::of(choices.iter().copied())),
        }
    }
}

impl clap::FromArgMatches for SocketKnobFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut settings = Vec::new();
        for knob in KNOBS {
            match knob.takes {
                Takes::Switch if m.get_flag(knob.key) => settings.push((knob.key, "true".into())),
                Takes::Switch => {}
                Takes::Value { .. } => {
                    if let Some(v) = m.get_one::<String>(knob.key) {
                        settings.push((knob.key, v.clone()));
                    }
                }
            }
        }
        Ok(SocketKnobFlags { settings })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for SocketKnobFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        KNOBS.iter().fold(cmd, |cmd, knob| cmd.arg(Self::arg(knob)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

const RUN_EXAMPLES: &str = "\
Examples:
  sockbench run                                      one 10 s TCP stream against a local receiver
  sockbench run workloads/tcp-buffer-sweep.toml      a sweep from a workload file
  sockbench run --to host-b -P 4 -t 30s              4 flows for 30 s to `sockbench serve` on host-b
  sockbench run --proto udp -l 1400 -b 500M          UDP at 500 Mbit/s (iperf3: -u -l 1400 -b 500M)
  sockbench run --pattern rr --nodelay --rate 10k    open-loop request/response latency
  sockbench run w.toml --set repeat=5 --set 'sndbuf=[\"64K\",\"1M\"]'   override and sweep
  sockbench run --json | jq .goodput_bps             one JSON object per finished test

iperf3's flags: -c HOST = --to, -P = --flows, -t = --duration, -l = --msg-size,
-u = --proto udp, -b = --rate, -R = --direction reverse, -J = --json; -s is
`sockbench serve`; -w is --sndbuf and --rcvbuf (sockbench sets each side separately).";

const MESH_EXAMPLES: &str = "\
Examples:
  sockbench mesh hosts.txt --psk-file key                     every ordered pair, one at a time
  sockbench mesh hosts.txt workloads/rr-latency.toml --shape all   every pair at once
  sockbench mesh hosts.txt --shape star:storage1 --duration 5s  every host into storage1 at once

Every host runs: sockbench serve --psk-file key --allow-peers <the fleet's address block>
(and --max-concurrent 2x(hosts-1) for --shape all). hosts.txt, one host a line:
  # NAME ADDRESS[:PORT]
  web1 192.0.2.11
  web2 192.0.2.12:5301";

const SERVE_EXAMPLES: &str = "\
Examples:
  sockbench serve                                    listen on [::]:5301, test after test
  sockbench serve --listen 0.0.0.0:6000 --once       one sender, then exit
  sockbench serve --psk-file key --max-rate 1G       senders must hold the key; at most 1 Gbit/s
  sockbench serve --data-ports 5400-5499             data connections only on ports a firewall opens";

const TUNE_EXAMPLES: &str = "\
Examples:
  sockbench tune --set 'rcvbuf=\"4K..4M\"' --goal goodput            the receive buffer that maximises goodput
  sockbench tune w.toml --goal 'goodput>=0.95*max' --constraint 'rtt_p99<30ms' --probe rr
  sockbench tune w.toml --goal rtt_p99 --constraint 'goodput>=500M' --budget 10m
  sockbench tune --to host-b w.toml --constraint 'sender_cpu_pct<50' --budget 40

The search space is the workload's [matrix]: a size key may be a range, sndbuf = \"16K..16M\"
(every power of two between), other keys lists, congestion = [\"cubic\", \"bbr\"].
The budget goes to screening (one test per probe), then the race (finalists tested again
until their 95% intervals are apart, or their means within 5%: the cheapest is the answer),
then two kernel-default (buffers auto) tests from what is left. The results directory
holds the usual files, tune.csv (every step of the search) and answer.json
(docs/guide/tune.md).

Exit status: 0 ok (an answer); 1 unsatisfiable (no candidate meets the constraints), or a
test or the receiver failed; 2 bad input, nothing run; 3 inconclusive (the finalists'
intervals still overlap when the budget ends: answer.json names them); 130 interrupted.";

const REPORT_EXAMPLES: &str = "\
Examples:
  sockbench report results/A -o a.html               one run's charts and tables
  sockbench report results/A results/B               B compared with A: ratios and verdicts
  sockbench report results/* --baseline results/A --svg-dir charts/";

#[derive(Debug, Parser)]
#[command(
    name = "sockbench",
    version,
    about = "Measure what socket parameters do to a network application"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The receiver process: waits for senders on the control port.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// The sender process: runs a test against a receiver and writes the results.
    #[command(after_help = RUN_EXAMPLES)]
    Run(Box<RunArgs>),
    /// A fleet: every host's daemon asked to send to the others, pair by pair or all at once; one results directory with a matrix.
    #[command(after_help = MESH_EXAMPLES)]
    Mesh(Box<MeshArgs>),
    /// The socket settings to use for a goal: an adaptive search over the workload's matrix, the answer explained.
    #[command(after_help = TUNE_EXAMPLES)]
    Tune(Box<TuneArgs>),
    /// One self-contained HTML report (inline SVG charts) from results directories.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Prints a shell completion script: sockbench completions bash > /etc/bash_completion.d/sockbench
    #[command(after_help = "\
Examples:
  mkdir -p ~/.local/share/bash-completion/completions
  sockbench completions bash > ~/.local/share/bash-completion/completions/sockbench
  mkdir -p ~/.zfunc && sockbench completions zsh > ~/.zfunc/_sockbench
  mkdir -p ~/.config/fish/completions
  sockbench completions fish > ~/.config/fish/completions/sockbench.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Prints the man page (roff), or writes one page per command into a directory.
    #[command(after_help = "\
Examples:
  sockbench man | man -l -                           read it now
  sockbench man --out-dir /usr/local/share/man/man1  sockbench.1, sockbench-run.1, ...
  sockbench man --out-dir ~/.local/share/man/man1    for one user (made if missing)")]
    Man {
        /// Write sockbench.1 and a page per subcommand here instead of printing sockbench.1.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results directories written by `sockbench run`; with two or more, matching cases
    /// are compared.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(
        short = 'o',
        long,
        default_value = "report.html",
        value_name = "FILE.html"
    )]
    pub output: PathBuf,
    /// The directory the others are compared against [default: the first]
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Also write each chart as a standalone SVG file here [default: none]
    #[arg(long, value_name = "DIR")]
    pub svg_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Control address to listen on.
    #[arg(long, default_value = "[::]:5301", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Serve one sender, then exit.
    #[arg(long)]
    pub once: bool,
    /// No per-test log lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Senders served at once; the next is told "busy, try later".
    #[arg(long, default_value = "1", value_name = "N")]
    pub max_concurrent: usize,
    /// Longest test a sender may ask for (warm-up included), e.g. 5m [default: no limit]
    #[arg(long, value_name = "DURATION")]
    pub max_duration: Option<String>,
    /// Most flows a sender may ask for [default: no limit]
    #[arg(long, value_name = "N")]
    pub max_flows: Option<u32>,
    /// Largest SO_SNDBUF/SO_RCVBUF a sender may ask for, e.g. 16M [default: no limit]
    #[arg(long, value_name = "SIZE")]
    pub max_buffer: Option<String>,
    /// Largest rate a sender may ask for, in bits/s of payload over all flows (for rr: transactions/s x (request + response) x 8); unpaced tests are refused [default: no limit]
    #[arg(long, value_name = "RATE")]
    pub max_rate: Option<String>,
    /// Bind data sockets to ports in LOW-HIGH (for firewalls) [default: ephemeral ports]
    #[arg(long, value_name = "LOW-HIGH")]
    pub data_ports: Option<String>,
    /// Require senders to prove they hold this pre-shared key (HMAC-SHA256 challenge-response) [default: no key]
    #[arg(long, value_name = "FILE")]
    pub psk_file: Option<PathBuf>,
    /// Largest message, response or probe size a sender may ask for, e.g. 1M [default: no limit]
    #[arg(long, value_name = "SIZE")]
    pub max_message: Option<String>,
    /// Most memory the running tests may need on this host, e.g. 2G [default: a quarter of RAM, at most half of ulimit -v]
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Time a connection has to complete its handshake (hello and key proof).
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub handshake_timeout: String,
    /// Connections held that are not running a test (in their handshake, or idle without a key); a new one beyond evicts the oldest.
    #[arg(long, default_value_t = crate::session::receiver::DEFAULT_MAX_PENDING, value_name = "N")]
    pub max_pending: usize,
    /// The same, per source address block (/24 for IPv4, /56 for IPv6).
    #[arg(long, default_value_t = crate::session::receiver::DEFAULT_MAX_PER_SOURCE, value_name = "N")]
    pub max_per_source: usize,
    /// Address blocks a fleet controller may ask this daemon to send to, e.g. 192.0.2.0/24,203.0.113.0/24 [default: loopback only]
    #[arg(long, value_name = "CIDR,...")]
    pub allow_peers: Option<String>,
    /// Send for a controller (fleet runs) without a key: anyone who reaches this port could aim its traffic. Only for a closed lab [default: relaying needs --psk-file]
    #[arg(long)]
    pub allow_relay_without_key: bool,
}

#[derive(Debug, Args)]
pub struct MeshArgs {
    /// The fleet: one host a line, NAME ADDRESS[:PORT] (# comments; port default 5301)
    #[arg(value_name = "HOSTS")]
    pub hosts: PathBuf,
    /// A workload file; every case runs on every pair [default: one TCP stream test]
    #[arg(value_name = "WORKLOAD.toml")]
    pub workload: Option<PathBuf>,
    /// Which pairs and how many at once: pairs (each ordered pair alone), all (every pair at once), ring, star:NAME (every other host into NAME at once)
    #[arg(long, default_value = "pairs", value_name = "SHAPE")]
    pub shape: String,
    /// Override a workload key, one per --set (as for run)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Results directory; must not exist yet or be empty (see --force) [default: results/<UTC time>-mesh-<name>/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The fleet's pre-shared key file (every daemon holds the same key).
    #[arg(long, value_name = "FILE")]
    pub psk_file: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write into a results directory that already holds files, and run more than 100000 tests
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub knobs: KnobArgs,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// A workload file whose [matrix] is the search space (sizes as ranges "16K..16M" or lists).
    #[arg(value_name = "WORKLOAD.toml")]
    pub workload: Option<PathBuf>,
    /// goodput, transactions (maximise); rtt_p50, rtt_p99, rtt_p999 (minimise); or "goodput>=0.95*max": the smallest sizes reaching that share of the best goodput [default: goodput>=0.95*max for stream, rtt_p99 for rr and crr]
    #[arg(long, value_name = "GOAL")]
    pub goal: Option<String>,
    /// A limit on a measured figure, one per --constraint: rtt_p99<2ms, lost<0.1%, sender_cpu_pct<50, goodput>=500M
    #[arg(long, value_name = "EXPR")]
    pub constraint: Vec<String>,
    /// The most tests (a number) or time (a duration, e.g. 10m) the search may take [default: half the full grid's tests, or the candidates + 8 when more (at most twice the grid)]
    #[arg(long, value_name = "N|DURATION")]
    pub budget: Option<String>,
    /// Override a workload key, one per --set (as for run): --set 'sndbuf="16K..16M"'
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A receiver already running (`sockbench serve`) at HOST[:PORT] [default: a local receiver on loopback]
    #[arg(long, short = 'c', value_name = "HOST[:PORT]")]
    pub to: Option<String>,
    /// Results directory; must not exist yet or be empty (see --force) [default: results/<UTC time>-tune-<name>/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Authenticate to the receiver with this pre-shared key file (both ends need it).
    #[arg(long, value_name = "FILE")]
    pub psk_file: Option<PathBuf>,
    /// Print only errors (and the answer when no candidate meets the constraints).
    #[arg(long, short)]
    pub quiet: bool,
    /// One JSON object per finished test on stdout (the fields of summary.csv); the answer on stderr
    #[arg(long, short = 'J')]
    pub json: bool,
    /// Write into a results directory that already holds files
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub knobs: KnobArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A workload file (workloads/*.toml): defaults, a matrix of knob values, cases.
    #[arg(value_name = "WORKLOAD.toml")]
    pub workload: Option<PathBuf>,
    /// Override a workload key, one per --set: --set repeat=1 --set 'msg_size=["16K","64K"]' (a list sweeps it; msg-size and msg_size both work)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A receiver already running (`sockbench serve`) at HOST[:PORT] [default: a local receiver on loopback, started and stopped by this run] (iperf3: -c)
    #[arg(long, short = 'c', value_name = "HOST[:PORT]")]
    pub to: Option<String>,
    /// Results directory; must not exist yet or be empty (see --force) [default: results/<UTC time>-<name>/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// One JSON object per finished test on stdout (JSON Lines; the fields of summary.csv), and nothing else there (iperf3: -J)
    #[arg(long, short = 'J')]
    pub json: bool,
    /// Write into a results directory that already holds files, and run more than 100000 tests
    #[arg(long)]
    pub force: bool,
    /// Authenticate to the receiver with this pre-shared key file (both ends need it).
    #[arg(long, value_name = "FILE")]
    pub psk_file: Option<PathBuf>,
    /// Stop the sweep at the first run that does not end ok.
    #[arg(long)]
    pub fail_fast: bool,
    /// iperf3's -s: the receiver is `sockbench serve`.
    #[arg(short = 's', hide = true)]
    pub iperf_server: bool,
    /// iperf3's -w: sockbench sets each side's buffers separately.
    #[arg(
        short = 'w',
        hide = true,
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    pub iperf_window: Option<String>,
    /// iperf3's -i: the per-interval sample length is --interval.
    #[arg(
        short = 'i',
        hide = true,
        value_name = "SECS",
        allow_hyphen_values = true
    )]
    pub iperf_interval: Option<String>,
    /// iperf3's -p: the port goes with the address.
    #[arg(
        short = 'p',
        hide = true,
        value_name = "PORT",
        allow_hyphen_values = true
    )]
    pub iperf_port: Option<String>,
    #[command(flatten)]
    pub knobs: KnobArgs,
    /// Adaptive repetitions: at least N of every case [default: the workload's repeat]
    #[arg(long, value_name = "N")]
    pub min_repeat: Option<u32>,
    /// Adaptive repetitions: at most N of every case, fewer for a case whose main figure
    /// reaches --target-ci [default: 10, or --min-repeat if more]
    #[arg(long, value_name = "N")]
    pub max_repeat: Option<u32>,
    /// Adaptive repetitions: stop repeating a case once the 95% interval of its main
    /// figure (goodput; transactions/s for rr and crr) is within ±PCT of its mean [default: 5]
    #[arg(long, value_name = "PCT")]
    pub target_ci: Option<String>,
}

/// The knob flags: those of the test as a whole here, the socket knobs from the knob table
/// ([`SocketKnobFlags`]). Values are kept as text here and parsed by the config layer, so
/// that flags, workload files and `--set` share one parser and one set of messages.
/// Defaults are written in the help rather than given to clap, because a flag that is not
/// given must leave a workload file's value alone.
#[derive(Debug, Args, Default)]
pub struct KnobArgs {
    #[command(flatten)]
    pub socket: SocketKnobFlags,
    /// Transport (Unix sockets need both ends on one host) [default: tcp]
    #[arg(long, value_name = "PROTO", value_enum)]
    pub proto: Option<Protocol>,
    /// iperf3's -u: the same as --proto udp
    #[arg(short = 'u', conflicts_with = "proto")]
    pub udp: bool,
    /// Bulk transfer, request/response, or connect/request/response/close [default: stream]
    #[arg(long, value_enum)]
    pub pattern: Option<Pattern>,
    /// Which way the data flows: forward = from this process to the receiver [default: forward]
    #[arg(long, value_enum)]
    pub direction: Option<Direction>,
    /// iperf3's -R: the same as --direction reverse
    #[arg(short = 'R', conflicts_with = "direction")]
    pub reverse: bool,
    /// Measured time, e.g. 10s, 500ms, 2m [default: 10s] (iperf3: -t)
    #[arg(long, short = 't', allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// Time discarded before measuring [default: 1s]
    #[arg(long, allow_hyphen_values = true)]
    pub warmup: Option<String>,
    /// Per-interval sample length [default: 1s]
    #[arg(long, allow_hyphen_values = true)]
    pub interval: Option<String>,
    /// Write / datagram / request size, e.g. 128K, or a distribution: uniform:min=64,max=4K, lognormal:median=1K,p99=64K, pareto: (memcached ETC), empirical:file=sizes.csv [default: 128K stream, 1400 datagram, 64 rr] (iperf3: -l)
    #[arg(long, short = 'l', value_name = "SIZE", allow_hyphen_values = true)]
    pub msg_size: Option<String>,
    /// rr response size, or a distribution as for --msg-size [default: the request size, or its distribution]
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub response_size: Option<String>,
    /// Parallel data connections [default: 1] (iperf3: -P)
    #[arg(long, short = 'P')]
    pub flows: Option<String>,
    /// Open-loop rate per flow: bits/s for stream (100M), transactions/s for rr (10k) [default: as fast as it goes] (iperf3: -b)
    #[arg(long, short = 'b')]
    pub rate: Option<String>,
    /// How long an rr datagram request waits for its response [default: 200ms]
    #[arg(long, value_name = "DURATION")]
    pub rr_timeout: Option<String>,
    /// A request/response latency probe beside the stream flows (latency under load) [default: none]
    #[arg(long, value_name = "PROBE", value_parser = Choices::of(["rr", "none"]))]
    pub probe: Option<String>,
    /// Request and response size of the probe [default: 64]
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub probe_size: Option<String>,
    /// Datagrams per sendmmsg/recvmmsg call on udp/unix-dgram streams [default: 1 = send/recv]
    #[arg(long, value_name = "N")]
    pub batch: Option<String>,
    /// Repetitions of each case [default: 1]
    #[arg(long)]
    pub repeat: Option<String>,
    /// Closed-loop rr and crr: wait between a response and the next request, e.g. 1ms, exponential:mean=1ms or uniform:min=100us,max=2ms [default: none]
    #[arg(long, value_name = "DIST")]
    pub think_time: Option<String>,
    /// Engine driver: blocking (a thread per connection), epoll (workers, one per CPU), or auto (epoll beyond 64 connections a side) [default: auto]
    #[arg(long, value_name = "DRIVER", value_parser = Choices::of(["auto", "blocking", "epoll"]))]
    pub driver: Option<String>,
}

impl KnobArgs {
    /// The flags as knob settings, in a fixed order.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let named = [
            ("proto", self.proto.map(Protocol::as_str)),
            ("pattern", self.pattern.map(Pattern::as_str)),
            ("direction", self.direction.map(Direction::as_str)),
        ];
        let mut out: Vec<(&'static str, String)> = named
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?.to_string())))
            .collect();
        let text = [
            ("duration", &self.duration),
            ("warmup", &self.warmup),
            ("interval", &self.interval),
            ("msg_size", &self.msg_size),
            ("response_size", &self.response_size),
            ("flows", &self.flows),
            ("rate", &self.rate),
            ("rr_timeout", &self.rr_timeout),
            ("probe", &self.probe),
            ("probe_size", &self.probe_size),
            ("batch", &self.batch),
            ("think_time", &self.think_time),
            ("driver", &self.driver),
        ];
        for (k, v) in text {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        }
        // iperf3's spellings, with the same meaning.
        if self.udp {
            out.push(("proto", "udp".to_string()));
        }
        if self.reverse {
            out.push(("direction", "reverse".to_string()));
        }
        out.extend(self.socket.settings.iter().cloned());
        out
    }
}

/// A failure with its exit code: 2 for bad input (nothing was sent), 1 for a run that
/// failed.
pub enum Failure {
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Usage(e.0)
    }
}

fn flag_error(key: &str, e: ConfigError) -> Failure {
    // Name the flag as the user typed it.
    let flag = format!("--{}", key.replace('_', "-"));
    let msg =
        e.0.strip_prefix(&format!("{key}: "))
            .unwrap_or(&e.0)
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

fn mesh_command(args: MeshArgs) -> Result<i32, Failure> {
    let hosts =
        crate::session::mesh::read_hosts(&args.hosts).map_err(|e| Failure::Usage(e.to_string()))?;
    let shape = crate::session::mesh::Shape::parse(&args.shape, &hosts)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let (workload, cases) =
        load_workload(args.workload.as_ref(), &args.knobs, &args.set, args.force)?;
    let pairs: usize = shape.rounds(hosts.len()).iter().map(Vec::len).sum();
    let tests = (cases.len() * pairs) as u64 * u64::from(workload.repeat);
    if tests > MAX_RUNS && !args.force {
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
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&format!("mesh-{name}"), std::time::SystemTime::now()));
    check_out_dir(&out, args.force)?;
    let psk = args.psk_file.as_deref().map(read_key).transpose()?;
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
        quiet: args.quiet,
        command_line: std::env::args().collect(),
    };
    match crate::session::mesh::execute(&plan, &opts).map_err(|e| Failure::Runtime(e.into()))? {
        RunEnd::AllOk => Ok(0),
        RunEnd::SomeFailed => Ok(1),
        RunEnd::Interrupted => Ok(130),
    }
}

/// --budget: a number of tests or a duration; by default half the grid's tests, or the
/// candidates + 8 when more (a small grid needs a test of each and a race), at most twice
/// the grid.
fn tune_budget(
    budget: Option<&str>,
    grid: u64,
    candidates: u64,
) -> Result<crate::tune::search::Budget, Failure> {
    use crate::tune::search::Budget;
    let budget = match budget.map(str::trim) {
        None => Budget::Tests(
            grid.div_ceil(2)
                .max(candidates.saturating_add(8))
                .min(grid.saturating_mul(2)),
        ),
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
struct TuneInput {
    constraints: Vec<crate::tune::goal::Constraint>,
    goal: Option<crate::tune::goal::Goal>,
    workload: Workload,
    cases: Vec<crate::spec::workload::PlannedCase>,
}

/// tune's input, every case of which this kernel can run.
fn tune_input(args: &TuneArgs) -> Result<TuneInput, Failure> {
    use crate::tune::goal::{Constraint, Goal};
    if let Some(to) = &args.to {
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
    let (mut workload, mut cases) =
        load_workload(args.workload.as_ref(), &args.knobs, &args.set, args.force)?;
    if workload.matrix.is_empty() {
        return Err(Failure::Usage(
            "tune searches the workload's [matrix], and it has none: give one, e.g. --set 'rcvbuf=\"16K..16M\"' or sndbuf = \"16K..16M\" under [matrix] in the file".into(),
        ));
    }
    if !workload.cases.is_empty() {
        // The matrix's cases come first in the expansion; the [[case]] tables follow.
        if !args.quiet {
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
        check_here(&case.spec, args.to.is_none())?;
    }
    Ok(TuneInput {
        constraints,
        goal: explicit_goal,
        workload,
        cases,
    })
}

/// A pre-shared key, and the file it was read from.
type PskFile = Option<(Psk, PathBuf)>;

/// The search: its space, budget and results directory.
fn tune_plan(
    args: &TuneArgs,
    workload: Workload,
    cases: Vec<crate::spec::workload::PlannedCase>,
    goal: crate::tune::goal::Goal,
    constraints: Vec<crate::tune::goal::Constraint>,
) -> Result<(crate::tune::TunePlan, PathBuf, PskFile), Failure> {
    let space = crate::tune::search::Space::from_matrix(&workload.matrix);
    let max_reps = workload.repeat.max(3);
    let grid = space.grid_size().saturating_mul(u64::from(max_reps));
    let budget = tune_budget(args.budget.as_deref(), grid, space.grid_size())?;
    let first = &cases[0].spec;
    let name = if workload.name.is_empty() {
        format!("{}-{}", first.protocol, first.pattern)
    } else {
        workload.name.clone()
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&format!("tune-{name}"), std::time::SystemTime::now()));
    check_out_dir(&out, args.force)?;
    let psk = match &args.psk_file {
        Some(path) => Some((read_key(path)?, path.clone())),
        None => None,
    };
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

fn tune_command(args: TuneArgs) -> Result<i32, Failure> {
    use crate::tune::goal::Goal;
    let input = tune_input(&args)?;
    let (constraints, explicit_goal) = (input.constraints, input.goal);
    let (workload, cases) = (input.workload, input.cases);
    let first = &cases[0].spec;
    let goal = match explicit_goal {
        Some(g) => g,
        None if first.pattern == Pattern::Stream => {
            Goal::parse("goodput>=0.95*max").expect("a valid goal")
        }
        None => Goal::parse("rtt_p99").expect("a valid goal"),
    };
    // A round-trip figure needs transactions: rr, crr, or a probe beside a stream.
    let measures_rtt = cases
        .iter()
        .all(|c| c.spec.pattern != Pattern::Stream || c.spec.probe);
    for metric in std::iter::once(goal.metric()).chain(constraints.iter().map(|c| c.metric)) {
        if metric.is_rtt() && !measures_rtt {
            return Err(Failure::Usage(format!(
                "{}: round trips are measured only by rr and crr, or by a probe beside a stream: add --probe rr",
                crate::tune::goal::short_name(metric)
            )));
        }
    }
    if goal.metric() == crate::tune::goal::Metric::TransactionsPerS
        && cases
            .iter()
            .any(|c| c.spec.pattern == Pattern::Stream && !c.spec.probe)
    {
        return Err(Failure::Usage(
            "--goal transactions: a stream has no transactions; use --pattern rr or crr".into(),
        ));
    }
    let (plan, out, psk) = tune_plan(&args, workload, cases, goal, constraints)?;
    let opts = crate::tune::TuneOptions {
        to: args.to,
        psk,
        out,
        quiet: args.quiet,
        json: args.json,
        command_line: std::env::args().collect(),
    };
    let end = crate::tune::execute(&plan, &opts).map_err(|e| Failure::Runtime(e.into()))?;
    Ok(tune_exit(&plan, &end))
}

/// The exit status of a finished tune, its reason on stderr: 0 ok, 1 unsatisfiable,
/// 3 inconclusive.
fn tune_exit(plan: &crate::tune::TunePlan, end: &crate::tune::TuneEnd) -> i32 {
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

/// iperf3's flags that sockbench spells otherwise: the sockbench spelling, as a usage
/// error.
fn iperf3_flags(args: &RunArgs) -> Result<(), Failure> {
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
fn check_here(spec: &crate::spec::config::TestSpec, local_receiver: bool) -> Result<(), Failure> {
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

fn run_command(args: RunArgs) -> Result<i32, Failure> {
    iperf3_flags(&args)?;
    // A receiver address that cannot be one is a usage error, found before anything is
    // created or started.
    if let Some(to) = &args.to {
        resolve_target(to).map_err(|e| Failure::Usage(format!("--to: {e}")))?;
    }
    let (workload, cases) =
        load_workload(args.workload.as_ref(), &args.knobs, &args.set, args.force)?;
    // Every protocol and knob set must be one this kernel takes, before any traffic.
    let allowed = crate::measure::pin_thread(None).unwrap_or_default();
    for case in &cases {
        let spec = &case.spec;
        check_here(spec, args.to.is_none())?;
        // CPUs to pin to must exist here (and, with a local receiver, for it too).
        let sides = if args.to.is_none() {
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
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&name, std::time::SystemTime::now()));
    check_out_dir(&out, args.force)?;
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
    let psk = match &args.psk_file {
        Some(path) => Some((read_key(path)?, path.clone())),
        None => None,
    };
    let opts = RunOptions {
        to: args.to,
        psk,
        fail_fast: args.fail_fast,
        out: Some(out),
        quiet: args.quiet,
        json: args.json,
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
fn adaptive_repeats(args: &RunArgs, repeat: u32) -> Result<Option<Adaptive>, Failure> {
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

/// serve's limits on what a sender may ask for.
fn serve_limits(args: &ServeArgs) -> Result<Limits, Failure> {
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
fn data_ports(range: &str) -> Result<(u16, u16), Failure> {
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

fn serve_command(args: ServeArgs) -> Result<i32, Failure> {
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
    let charts = crate::report::write_report(&opts).map_err(|e| Failure::Usage(e.to_string()))?;
    println!("report: {} ({charts} charts)", opts.output.display());
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
        "-c", "-P", "-t", "-l", "-u", "-b", "-R", "-J", "-w", "-i", "-p", "--client",
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
mod tests {
    use super::*;

    /// Every entry of the knob table is a flag of run, mesh and tune, and a flag given
    /// becomes the table key's setting.
    #[test]
    fn every_knob_of_the_table_is_a_flag() {
        let cmd = Cli::command();
        for sub in ["run", "mesh", "tune"] {
            let sc = cmd.find_subcommand(sub).unwrap();
            for knob in KNOBS {
                let flag = knob.flag();
                let arg = sc
                    .get_arguments()
                    .find(|a| a.get_long() == Some(&flag[2..]))
                    .unwrap_or_else(|| panic!("{sub} has no {flag}"));
                assert_eq!(
                    arg.get_help().map(|h| h.to_string()).as_deref(),
                    Some(knob.help)
                );
            }
        }
        let mut argv = vec!["sockbench".to_string(), "run".to_string()];
        for knob in KNOBS {
            argv.push(knob.flag());
            if knob.takes != Takes::Switch {
                argv.push(knob.example.to_string());
            }
        }
        let Command::Run(run) = Cli::try_parse_from(&argv).unwrap().command else {
            panic!("not run");
        };
        let settings = run.knobs.settings();
        for knob in KNOBS {
            let want = match knob.takes {
                Takes::Switch => "true",
                Takes::Value { .. } => knob.example,
            };
            assert!(
                settings.contains(&(knob.key, want.to_string())),
                "{}: {settings:?}",
                knob.key
            );
        }
    }

    #[test]
    fn typed_values_keep_their_spellings() {
        let argv = [
            "sockbench",
            "run",
            "--proto",
            "unix-stream",
            "--pattern",
            "rr",
            "--direction",
            "reverse",
        ];
        let Command::Run(run) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not run");
        };
        assert_eq!(run.knobs.proto, Some(Protocol::UnixStream));
        let settings = run.knobs.settings();
        assert!(
            settings.contains(&("proto", "unix-stream".into())),
            "{settings:?}"
        );
        assert!(
            settings.contains(&("direction", "reverse".into())),
            "{settings:?}"
        );
        let err = Cli::try_parse_from(["sockbench", "run", "--proto", "quic"]).unwrap_err();
        let line = invalid_choice(&err).unwrap();
        assert!(
            line.contains("'quic'") && line.contains("unix-dgram"),
            "{line}"
        );
    }
}
