//! The commands and their flags, as clap parses them.

use super::*;

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
until the 99% interval of their ratio excludes 1, or their medians are within 5%, 10% for a
tail percentile: the cheapest is the answer), then two kernel-default (buffers auto) tests
from what is left. The results directory
holds the usual files, tune.csv (every step of the search) and answer.json
(docs/guide/tune.md).

Exit status: 0 ok (an answer); 1 unsatisfiable (no candidate meets the constraints), or the
receiver could not be reached or failed, or the results could not be written (a failed
test only leaves its candidate without figures); 2 bad input, nothing run; 3 inconclusive (the finalists'
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
    /// Most data connections a test may use (each direction of a bidir flow and the probe count) [default: no limit]
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
    /// Most memory the running tests may need on this host, e.g. 2G [default: on Linux a quarter of RAM, at most half of ulimit -v; elsewhere no limit]
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Time a connection has to complete its handshake (hello and key proof).
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub handshake_timeout: String,
    /// Connections held that are not running a test (in their handshake, or idle without a key); a new one beyond evicts the oldest. Also the most authenticated sessions open at once; one more is told the receiver is busy.
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
    /// One JSON object per finished pair test on stdout (JSON Lines; the fields of summary.csv, src and dst among them), and nothing else there (iperf3: -J)
    #[arg(long, short = 'J')]
    pub json: bool,
    #[command(flatten)]
    pub common: CommonArgs,
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
    /// The most tests (a number) or time (a duration, e.g. 10m) the search may take [default: twice the full grid's tests + 16, at least a race of three finalists to the race's cap; a clear answer ends well before]
    #[arg(long, value_name = "N|DURATION")]
    pub budget: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub receiver: ReceiverArgs,
    #[command(flatten)]
    pub knobs: KnobArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A workload file (workloads/*.toml): defaults, a matrix of knob values, cases.
    #[arg(value_name = "WORKLOAD.toml")]
    pub workload: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub receiver: ReceiverArgs,
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
    /// iperf3's -C: the congestion control is --congestion.
    #[arg(short = 'C', hide = true, value_name = "NAME")]
    pub iperf_congestion: Option<String>,
    /// iperf3's -M: the segment size is --mss.
    #[arg(short = 'M', hide = true, value_name = "BYTES")]
    pub iperf_mss: Option<String>,
    /// iperf3's -N: TCP_NODELAY is --nodelay.
    #[arg(short = 'N', hide = true)]
    pub iperf_nodelay: bool,
    /// iperf3's -p: the port goes with the address.
    #[arg(
        short = 'p',
        hide = true,
        value_name = "PORT",
        allow_hyphen_values = true
    )]
    pub iperf_port: Option<String>,
    /// iperf3's --bidir: both directions at once is --direction bidir.
    #[arg(long = "bidir", hide = true)]
    pub iperf_bidir: bool,
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

/// The flags `run`, `tune` and `mesh` share, each with one help text (quinn's perf
/// `CommonOpt`): the workload's overrides, where the results go, the key, and how much is
/// printed. The knob flags are shared the same way ([`KnobArgs`]).
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Override a workload key, one per --set: --set repeat=1 --set 'msg_size=["16K","64K"]' (a list sweeps it; msg-size and msg_size both work; tune also takes a range: --set 'sndbuf="16K..16M"')
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Results directory; must not exist yet or be empty (see --force) [default: results/<UTC time>-<name>/; tune: results/<UTC time>-tune-<name>/, mesh: results/<UTC time>-mesh-<name>/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Authenticate with this pre-shared key file: the receiver holds the same key (a fleet: every daemon does)
    #[arg(long, value_name = "FILE")]
    pub psk_file: Option<PathBuf>,
    /// Print only errors (and tune's answer when no candidate meets the constraints).
    #[arg(long, short)]
    pub quiet: bool,
    /// Write into a results directory that already holds files, and run more than 100000 tests
    #[arg(long)]
    pub force: bool,
}

/// The flags of the commands that test against one receiver (`run`, `tune`): where it
/// is, and JSON Lines on stdout.
#[derive(Debug, Args)]
pub struct ReceiverArgs {
    /// A receiver already running (`sockbench serve`) at HOST[:PORT] [default: a local receiver on loopback, started and stopped by this command] (iperf3: -c)
    #[arg(long, short = 'c', value_name = "HOST[:PORT]")]
    pub to: Option<String>,
    /// One JSON object per finished test on stdout (JSON Lines; the fields of summary.csv), and nothing else there: tune prints its answer on stderr (iperf3: -J)
    #[arg(long, short = 'J')]
    pub json: bool,
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
    /// The keys of the test as a whole, from the key table ([`TestKeyFlags`]).
    #[command(flatten)]
    pub test: TestKeyFlags,
    /// iperf3's -u: the same as --proto udp
    #[arg(short = 'u', conflicts_with = "proto")]
    pub udp: bool,
    /// iperf3's -R: the same as --direction reverse
    #[arg(short = 'R', conflicts_with = "direction")]
    pub reverse: bool,
    /// Repetitions of each case [default: 1]
    #[arg(long)]
    pub repeat: Option<String>,
}

impl KnobArgs {
    /// The flags as knob settings, in a fixed order.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut out = self.test.settings.clone();
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
