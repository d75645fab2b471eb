//! Validated configuration: what a test is, independent of where it came from (flags,
//! a workload file, or the control channel). Everything past the CLI sees only these types.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::spec::dist::{Arrival, DistSpec, SizeDist, TimeDist};
use crate::spec::knobs::{knob, KNOBS};

/// A user mistake in a test description. Reported as one line, exit code 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    pub fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ConfigError;
            fn from_str(s: &str) -> Result<Self, ConfigError> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(ConfigError(format!(
                        "unknown {} '{}' (expected one of: {})",
                        stringify!($name).to_ascii_lowercase(),
                        other,
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

named_enum!(
    /// The transport. `sctp` and `dccp` are recognised so that asking for them gives a
    /// precise answer about this kernel rather than "unknown protocol".
    Protocol {
        Tcp => "tcp",
        Udp => "udp",
        Mptcp => "mptcp",
        UnixStream => "unix-stream",
        UnixDgram => "unix-dgram",
        Sctp => "sctp",
        Dccp => "dccp",
    }
);

named_enum!(
    /// The traffic pattern.
    Pattern {
        Stream => "stream",
        Rr => "rr",
        Crr => "crr",
    }
);

named_enum!(
    /// Which engine driver runs a side's connections: `auto` (the blocking driver, a
    /// thread per connection, up to 64 connections of the test's main kind on a side;
    /// epoll workers beyond, unless a blocking-only path is asked for), or either one.
    DriverChoice {
        Auto => "auto",
        Blocking => "blocking",
        Epoll => "epoll",
    }
);

impl DriverChoice {
    fn auto() -> Self {
        DriverChoice::Auto
    }
    fn is_auto(&self) -> bool {
        *self == DriverChoice::Auto
    }
}

named_enum!(
    /// Which way the bulk data flows. Forward = the sender process (`run`) to the
    /// receiver process (`serve`).
    Direction {
        Forward => "forward",
        Reverse => "reverse",
        Bidir => "bidir",
    }
);

impl Protocol {
    /// Datagram protocols carry a sequence number in every message and count loss.
    pub fn is_datagram(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::UnixDgram)
    }
    pub fn is_unix(self) -> bool {
        matches!(self, Protocol::UnixStream | Protocol::UnixDgram)
    }
    /// TCP-level socket options (TCP_MAXSEG, TCP_NODELAY, ...) apply.
    pub fn is_tcp_like(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Mptcp)
    }
    pub fn is_ip(self) -> bool {
        !self.is_unix()
    }
}

/// Socket options for the data sockets of one side. `None`/`false` = not set: the kernel's
/// default (for buffers: autotuning) stays in force. Each field is parsed, checked, set on
/// the socket and reported by its entry in the knob table ([`crate::spec::knobs::KNOBS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketKnobs {
    /// SO_SNDBUF in bytes as requested (Linux stores double).
    pub sndbuf: Option<u64>,
    /// SO_RCVBUF in bytes as requested (Linux stores double).
    pub rcvbuf: Option<u64>,
    /// TCP_MAXSEG, set before connect/listen.
    pub mss: Option<u32>,
    /// TCP_NODELAY.
    pub nodelay: bool,
    /// TCP_CONGESTION.
    pub congestion: Option<String>,
    /// IP_TOS / IPV6_TCLASS.
    pub tos: Option<u8>,
    /// TCP_QUICKACK (re-armed after every read by the patterns, since the kernel clears it).
    pub quickack: bool,
    /// TCP_NOTSENT_LOWAT in bytes.
    pub notsent_lowat: Option<u32>,
    /// TCP_CORK.
    pub cork: bool,
    /// SO_BUSY_POLL in microseconds.
    pub busy_poll_us: Option<u32>,
    /// UDP_SEGMENT (UDP GSO): the segment size the kernel splits each send into.
    pub udp_gso: Option<u32>,
    /// UDP_GRO: coalesced datagrams arrive in one receive.
    pub udp_gro: bool,
    /// User-space busy polling: this side's sockets are non-blocking and its roles spin on
    /// them instead of sleeping in the kernel.
    pub spin: bool,
    /// Stream sends with sendfile(2) from an in-memory file instead of write(2).
    pub sendfile: bool,
    /// Byte streams through a pipe with splice(2): sends from an in-memory file, receives
    /// into /dev/null; the data never passes through user memory.
    pub splice: bool,
    /// SO_ZEROCOPY, and MSG_ZEROCOPY on stream sends (tcp).
    pub zerocopy: bool,
    /// CPUs this side's traffic threads are pinned to (sched_setaffinity), spread over
    /// its connections; None = wherever the scheduler puts them.
    pub cpus: Option<Vec<u32>>,
    /// SO_LINGER in seconds: a close waits that long for unsent data; 0 = an abortive
    /// close (RST, no TIME_WAIT). None = not set (a graceful close in the background).
    #[serde(default)]
    pub linger: Option<u32>,
}

impl SocketKnobs {
    /// Checks that every knob set applies to `proto` and is in a range the kernel accepts.
    pub fn validate(&self, proto: Protocol) -> Result<(), ConfigError> {
        for knob in KNOBS {
            if knob.is_set(self) && !knob.applies.to(proto) {
                return Err(ConfigError(format!(
                    "{} applies to {}, not {proto}",
                    knob.flag(),
                    knob.applies.describe()
                )));
            }
            (knob.check)(self)?;
        }
        Ok(())
    }
}

/// Which process a role runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// `sockbench run`, the process that drives the test and writes the results.
    Sender,
    /// `sockbench serve`.
    Receiver,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Sender => "sender",
            Side::Receiver => "receiver",
        }
    }
}

/// What one data connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnKind {
    Stream,
    Rr,
    /// Connect, request, response, close; again and again.
    Crr,
}

/// One data connection of a test: both ends derive the same list from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnPlan {
    /// Index into the plan; also carried in the data connection's header.
    pub id: u32,
    /// The user-visible flow number (bidir has two connections per flow).
    pub flow: u32,
    pub kind: ConnKind,
    /// The process whose role drives this connection: writes the bulk data (stream) or
    /// sends the requests (rr).
    pub active: Side,
}

/// A fully validated test: what the sender sends the receiver over the control channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    pub protocol: Protocol,
    pub pattern: Pattern,
    pub direction: Direction,
    pub flows: u32,
    /// Application write size, datagram payload, or request size (bytes).
    pub msg_size: u32,
    /// Response size for rr (bytes).
    pub response_size: u32,
    pub duration: Duration,
    pub warmup: Duration,
    /// Length of one per-interval throughput sample.
    pub interval: Duration,
    /// Open-loop pacing per flow: bits per second for stream, transactions per second for
    /// rr. None = as fast as possible (stream) or closed loop (rr).
    pub rate: Option<u64>,
    /// A request/response latency probe runs beside the stream flows.
    pub probe: bool,
    /// Request and response size of the probe.
    pub probe_size: u32,
    /// Datagrams per sendmmsg/recvmmsg call on datagram streams; 1 = send/recv.
    pub batch: u32,
    /// How long an rr requester waits for a datagram response before counting it lost.
    pub rr_timeout: Duration,
    /// Knobs for the data sockets of the sender process (`run`).
    pub sender: SocketKnobs,
    /// Knobs for the data sockets of the receiver process (`serve`).
    pub receiver: SocketKnobs,
    /// Request (or stream message) sizes drawn from a distribution; `msg_size` is then
    /// its largest size. None = every message is `msg_size` bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_dist: Option<SizeDist>,
    /// Response sizes drawn from a distribution; `response_size` is then its largest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_dist: Option<SizeDist>,
    /// When open-loop rr requests are issued: evenly spaced, or a Poisson process.
    #[serde(default)]
    pub arrival: Arrival,
    /// Seed of the size and arrival generators (mixed with each connection's id).
    #[serde(default = "default_dist_seed")]
    pub dist_seed: u64,
    /// crr: request/response transactions per connection before it is closed (1 =
    /// connect, request, response, close).
    #[serde(default = "one")]
    pub requests_per_conn: u32,
    /// Closed-loop rr over a byte stream: requests kept outstanding per connection, each
    /// response matched to its request by an id the responder echoes (1 = one at a time).
    #[serde(default = "one")]
    pub pipeline: u32,
    /// Closed-loop rr and crr: how long the requester waits between a response and its
    /// next request, drawn per transaction. None = at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<TimeDist>,
    /// Which engine driver runs the connections (`--driver`); auto by default.
    #[serde(
        default = "DriverChoice::auto",
        skip_serializing_if = "DriverChoice::is_auto"
    )]
    pub driver: DriverChoice,
}

fn one() -> u32 {
    1
}

/// Bytes of the request id a pipelined request and its response carry (after the length
/// header when framed).
pub const PIPELINE_ID: u32 = 8;

fn default_dist_seed() -> u64 {
    DEFAULT_DIST_SEED
}

/// The seed of size distributions and arrivals unless `dist_seed` says otherwise: a fixed
/// one, so that two runs of one workload send the same sizes.
pub const DEFAULT_DIST_SEED: u64 = 1;

/// Size of the header every datagram carries: sequence number, kind, connection id.
pub const DGRAM_HEADER: u32 = 16;
/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: u32 = 65507;
/// The largest application message we allow for byte streams.
pub const MAX_STREAM_MSG: u32 = 64 << 20;
/// Flows of one test. Beyond `engine::MULTI_THRESHOLD` connections on a side, roles run
/// on epoll workers, not a thread each. 100,000 connections are tested (tests/scale.rs,
/// docs/scale.md); a receiver's results for 131,072 of them fit in one control message
/// (`net::control::MAX_MESSAGE`).
pub const MAX_FLOWS: u32 = 1 << 17;
/// CPUs a cpu_set_t can name (CPU_SETSIZE).
pub const MAX_CPUS: u32 = 1024;
/// The longest an rr requester may wait for one response.
pub const MAX_RR_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests an open-loop rr flow may have outstanding within its timeout (rate ×
/// rr_timeout): the requester keeps a slot for each.
pub const MAX_OUTSTANDING: u64 = 1 << 20;
/// Per-interval samples of one test (warm-up and duration over the interval): each role
/// keeps a counter for each.
pub const MAX_INTERVALS: u64 = 100_000;

impl Default for TestSpec {
    fn default() -> Self {
        TestSpec {
            protocol: Protocol::Tcp,
            pattern: Pattern::Stream,
            direction: Direction::Forward,
            flows: 1,
            msg_size: 128 * 1024,
            response_size: 0,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            rate: None,
            probe: false,
            probe_size: 64,
            batch: 1,
            rr_timeout: Duration::from_millis(200),
            sender: SocketKnobs::default(),
            receiver: SocketKnobs::default(),
            msg_dist: None,
            response_dist: None,
            arrival: Arrival::Fixed,
            dist_seed: DEFAULT_DIST_SEED,
            requests_per_conn: 1,
            pipeline: 1,
            think_time: None,
            driver: DriverChoice::Auto,
        }
    }
}

impl TestSpec {
    /// The request size of an rr test, or the message size of a stream test.
    pub fn request_size(&self) -> u32 {
        self.msg_size
    }

    /// Checks everything that can be checked without touching the kernel.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.duration.is_zero() {
            return Err(ConfigError::new("--duration must be more than zero"));
        }
        if self.duration > Duration::from_secs(24 * 3600) || self.warmup > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                "--duration is limited to 24h and --warmup to 1h",
            ));
        }
        if self.interval < Duration::from_millis(10) {
            return Err(ConfigError::new("--interval must be at least 10ms"));
        }
        if self.flows == 0 || self.flows > MAX_FLOWS {
            return Err(ConfigError(format!(
                "--flows must be from 1 to {MAX_FLOWS}"
            )));
        }
        self.validate_driver()?;
        self.validate_profile()?;
        if self.pattern == Pattern::Rr && self.direction == Direction::Bidir {
            return Err(ConfigError::new(
                "--direction bidir applies to the stream pattern; rr takes forward or reverse",
            ));
        }
        if self.rate.is_some() && self.pattern == Pattern::Crr {
            return Err(ConfigError::new(
                "--rate applies to stream (bits/s) and rr (transactions/s), not crr",
            ));
        }
        self.validate_paths()?;
        self.validate_pattern()?;
        self.validate_sizes()?;
        self.validate_limits()?;
        self.sender.validate(self.protocol)?;
        self.receiver.validate(self.protocol)?;
        Ok(())
    }

    /// The I/O paths: batches, GSO/GRO, sendfile, splice, zero-copy and spinning, and what each combines with.
    fn validate_paths(&self) -> Result<(), ConfigError> {
        if self.batch == 0 || self.batch > 1024 {
            return Err(ConfigError::new("--batch must be from 1 to 1024"));
        }
        let sendfile = self.sender.sendfile || self.receiver.sendfile;
        if sendfile && (self.pattern != Pattern::Stream || self.protocol.is_datagram()) {
            return Err(ConfigError::new(
                "--sendfile applies to the stream pattern over tcp, mptcp or unix-stream",
            ));
        }
        if sendfile && (self.sender.zerocopy || self.receiver.zerocopy) {
            return Err(ConfigError::new(
                "--sendfile and --zerocopy are two ways to avoid the copy: choose one",
            ));
        }
        let splice = self.sender.splice || self.receiver.splice;
        if splice && (self.pattern != Pattern::Stream || self.protocol.is_datagram()) {
            return Err(ConfigError::new(
                "--splice applies to the stream pattern over tcp, mptcp or unix-stream",
            ));
        }
        for side in [&self.sender, &self.receiver] {
            if side.splice && (side.sendfile || side.zerocopy) {
                return Err(ConfigError::new(
                    "--splice, --sendfile and --zerocopy are ways to avoid the same copy: choose one",
                ));
            }
        }
        if (self.sender.spin || self.receiver.spin) && self.pattern == Pattern::Crr {
            return Err(ConfigError::new(
                "--spin applies to stream and rr (crr opens a new socket per transaction)",
            ));
        }
        if (self.sender.zerocopy || self.receiver.zerocopy) && self.pattern != Pattern::Stream {
            return Err(ConfigError::new("--zerocopy applies to the stream pattern"));
        }
        if self.sender.udp_gso.is_some() && self.batch > 1 {
            return Err(ConfigError::new(
                "--gso and --batch are two ways to send many datagrams per call: choose one",
            ));
        }
        if (self.sender.udp_gso.is_some() || self.sender.udp_gro) && self.pattern != Pattern::Stream
        {
            return Err(ConfigError::new(
                "--gso and --gro apply to the stream pattern",
            ));
        }
        if self.batch > 1 && !(self.protocol.is_datagram() && self.pattern == Pattern::Stream) {
            return Err(ConfigError::new(
                "--batch (sendmmsg/recvmmsg) applies to the stream pattern over udp and unix-dgram",
            ));
        }
        Ok(())
    }

    /// What crr and the latency probe need.
    fn validate_pattern(&self) -> Result<(), ConfigError> {
        if self.pattern == Pattern::Crr {
            if self.protocol.is_datagram() {
                return Err(ConfigError(format!(
                    "crr opens a connection per transaction, so it needs a connection-oriented protocol, not {}",
                    self.protocol
                )));
            }
            if self.direction != Direction::Forward {
                return Err(ConfigError::new(
                    "crr runs forward only: the sender process connects",
                ));
            }
        }
        if self.probe {
            if self.pattern != Pattern::Stream {
                return Err(ConfigError::new(
                    "--probe rr runs beside stream flows; use it with --pattern stream",
                ));
            }
            let min = if self.protocol.is_datagram() {
                DGRAM_HEADER
            } else {
                1
            };
            if self.probe_size < min || self.probe_size > 65507 {
                return Err(ConfigError(format!(
                    "--probe-size must be from {min} to 65507 bytes"
                )));
            }
        }
        Ok(())
    }

    /// Message and response sizes against what the protocol carries.
    fn validate_sizes(&self) -> Result<(), ConfigError> {
        let sizes = [
            ("msg-size", self.msg_size),
            ("response-size", self.response_size),
        ];
        for (name, size) in sizes {
            if name == "response-size" && self.pattern == Pattern::Stream {
                continue;
            }
            if self.protocol.is_datagram() {
                let max = if self.protocol == Protocol::Udp {
                    MAX_UDP_PAYLOAD
                } else {
                    212_992
                };
                if size < DGRAM_HEADER || size > max {
                    return Err(ConfigError(format!(
                        "--{name} {size} is out of range for {}: {DGRAM_HEADER} (the sequence header) to {max} bytes",
                        self.protocol
                    )));
                }
            } else if size == 0 || size > MAX_STREAM_MSG {
                return Err(ConfigError(format!(
                    "--{name} {size} is out of range: 1 byte to 64M"
                )));
            }
        }
        Ok(())
    }

    /// Timeouts, rates and samples within what one test may hold.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        if self.rr_timeout < Duration::from_millis(1) || self.rr_timeout > MAX_RR_TIMEOUT {
            return Err(ConfigError(format!(
                "--rr-timeout must be from 1ms to {}s",
                MAX_RR_TIMEOUT.as_secs()
            )));
        }
        if let (Pattern::Rr, Some(rate)) = (self.pattern, self.rate) {
            let outstanding = (rate as f64 * self.rr_timeout.as_secs_f64()).ceil();
            if outstanding > MAX_OUTSTANDING as f64 {
                return Err(ConfigError(format!(
                    "--rate {rate} with --rr-timeout {:?} lets {outstanding} requests be outstanding on one flow; at most {MAX_OUTSTANDING} are allowed (lower either)",
                    self.rr_timeout
                )));
            }
        }
        if self.rate == Some(0) {
            return Err(ConfigError::new("--rate must be more than zero"));
        }
        let intervals = (self.warmup + self.duration).as_nanos() / self.interval.as_nanos().max(1);
        if intervals > MAX_INTERVALS as u128 {
            return Err(ConfigError(format!(
                "--interval {:?} cuts this test into {intervals} samples; at most {MAX_INTERVALS} are allowed (use a longer --interval)",
                self.interval
            )));
        }
        if self.probe_size == 0 || self.probe_size > MAX_UDP_PAYLOAD {
            return Err(ConfigError(format!(
                "--probe-size must be from 1 to {MAX_UDP_PAYLOAD} bytes"
            )));
        }
        Ok(())
    }

    /// The checks of application traffic profiles: size distributions and arrivals.
    fn validate_profile(&self) -> Result<(), ConfigError> {
        let dists = self.msg_dist.is_some() || self.response_dist.is_some();
        if dists {
            self.validate_dists()?;
        }
        if self.arrival != Arrival::Fixed && !(self.pattern == Pattern::Rr && self.rate.is_some()) {
            return Err(ConfigError::new(
                "arrival = poisson applies to open-loop request/response: --pattern rr with --rate",
            ));
        }
        if self.requests_per_conn == 0 || self.requests_per_conn > 1_000_000 {
            return Err(ConfigError::new(
                "requests_per_conn must be from 1 to 1000000",
            ));
        }
        if self.requests_per_conn > 1 && self.pattern != Pattern::Crr {
            return Err(ConfigError::new(
                "requests_per_conn applies to --pattern crr (connect, N requests, close); rr keeps one connection throughout",
            ));
        }
        if let Some(t) = &self.think_time {
            t.check().map_err(|e| ConfigError(e.to_string()))?;
            let closed_loop = match self.pattern {
                Pattern::Rr => self.rate.is_none() && self.pipeline <= 1,
                Pattern::Crr => true,
                Pattern::Stream => false,
            };
            if !closed_loop {
                return Err(ConfigError::new(
                    "think_time applies to closed-loop requests: --pattern rr (without --rate or pipeline) or crr",
                ));
            }
        }
        if self.pipeline == 0 || self.pipeline > 1024 {
            return Err(ConfigError::new("pipeline must be from 1 to 1024"));
        }
        if self.pipeline > 1 {
            self.validate_pipeline(dists)?;
        }
        Ok(())
    }

    /// Size distributions: each message its own write, sizes within the protocol's.
    fn validate_dists(&self) -> Result<(), ConfigError> {
        let copies = [&self.sender, &self.receiver]
            .iter()
            .any(|k| k.sendfile || k.splice || k.zerocopy || k.udp_gso.is_some());
        if copies || self.batch > 1 {
            return Err(ConfigError::new(
                "a size distribution sends each message with its own write; it does not combine with --sendfile, --splice, --zerocopy, --gso or --batch",
            ));
        }
        for (name, d, size) in [
            ("msg-size", &self.msg_dist, self.msg_size),
            ("response-size", &self.response_dist, self.response_size),
        ] {
            if let Some(d) = d {
                d.check()
                    .map_err(|e| ConfigError(format!("--{name}: {e}")))?;
                if d.max() != size {
                    return Err(ConfigError(format!(
                        "--{name}: the distribution's largest size ({}) and the size ({size}) disagree",
                        d.max()
                    )));
                }
                let floor = self.size_floor();
                if d.min() < floor {
                    return Err(ConfigError(format!(
                        "--{name}: sizes from {} bytes; {} carries at least {floor}",
                        d.min(),
                        self.protocol
                    )));
                }
            }
        }
        Ok(())
    }

    /// Pipelined requests carry an id: room for it in every message.
    fn validate_pipeline(&self, dists: bool) -> Result<(), ConfigError> {
        if self.pattern != Pattern::Rr || self.protocol.is_datagram() || self.rate.is_some() {
            return Err(ConfigError::new(
                "pipeline applies to closed-loop rr over tcp, mptcp or unix-stream (without --rate: open-loop requests are already outstanding as their schedule says)",
            ));
        }
        let room = PIPELINE_ID
            + if dists {
                crate::spec::dist::FRAME_HEADER
            } else {
                0
            };
        for (name, d, size) in [
            ("msg-size", &self.msg_dist, self.msg_size),
            ("response-size", &self.response_dist, self.response_size),
        ] {
            let min = d.as_ref().map_or(size, |d| d.min());
            if min < room {
                return Err(ConfigError(format!(
                    "--{name}: a pipelined message carries an {PIPELINE_ID}-byte request id, so it needs at least {room} bytes (got {min})"
                )));
            }
        }
        Ok(())
    }

    /// The smallest message a size distribution may draw: a datagram's sequence header,
    /// or a framed stream message's length header.
    pub fn size_floor(&self) -> u32 {
        if self.protocol.is_datagram() {
            DGRAM_HEADER
        } else if self.pipeline > 1 {
            crate::spec::dist::FRAME_HEADER + PIPELINE_ID
        } else {
            crate::spec::dist::FRAME_HEADER
        }
    }

    /// The largest message the protocol takes.
    pub fn size_ceiling(&self) -> u32 {
        match self.protocol {
            Protocol::Udp => MAX_UDP_PAYLOAD,
            Protocol::UnixDgram => 212_992,
            _ => MAX_STREAM_MSG,
        }
    }

    /// Request and response size distributions of a request/response connection (the
    /// probe's sizes are fixed).
    pub fn rr_dists(&self) -> (Option<&SizeDist>, Option<&SizeDist>) {
        if self.pattern == Pattern::Stream {
            (None, None)
        } else {
            (self.msg_dist.as_ref(), self.response_dist.as_ref())
        }
    }

    /// The data connections of this test, in a fixed order both processes agree on.
    pub fn conn_plan(&self) -> Vec<ConnPlan> {
        let kind = self.main_kind();
        let sides: &[Side] = match self.direction {
            Direction::Forward => &[Side::Sender],
            Direction::Reverse => &[Side::Receiver],
            Direction::Bidir => &[Side::Sender, Side::Receiver],
        };
        let mut plan = Vec::new();
        for flow in 0..self.flows {
            for &active in sides {
                plan.push(ConnPlan {
                    id: plan.len() as u32,
                    flow,
                    kind,
                    active,
                });
            }
        }
        if self.probe {
            // The probe is one more flow, always driven by the sender process.
            plan.push(ConnPlan {
                id: plan.len() as u32,
                flow: self.flows,
                kind: ConnKind::Rr,
                active: Side::Sender,
            });
        }
        plan
    }

    /// Request and response sizes of a request/response connection: the probe's in a
    /// stream test, else the test's own.
    pub fn rr_sizes(&self) -> (u32, u32) {
        if self.pattern == Pattern::Stream {
            (self.probe_size, self.probe_size)
        } else {
            (self.msg_size, self.response_size)
        }
    }

    /// `--driver epoll` with a path only the blocking driver has (a thread per connection:
    /// the send paths with per-connection kernel state) is refused.
    fn validate_driver(&self) -> Result<(), ConfigError> {
        if self.driver != DriverChoice::Epoll {
            return Ok(());
        }
        for (side, k) in [("sender", &self.sender), ("receiver", &self.receiver)] {
            let only = [
                (k.zerocopy, "--zerocopy"),
                (k.sendfile, "--sendfile"),
                (k.splice, "--splice"),
            ];
            if let Some((_, flag)) = only.iter().find(|(on, _)| *on) {
                return Err(ConfigError(format!(
                    "--driver epoll: {flag} ({side}) runs on the blocking driver only (a thread per connection); use --driver auto or blocking"
                )));
            }
        }
        Ok(())
    }

    /// The connection kind that carries the test's main figures (goodput, transactions);
    /// a probe's connection is of another kind.
    pub fn main_kind(&self) -> ConnKind {
        match self.pattern {
            Pattern::Stream => ConnKind::Stream,
            Pattern::Rr => ConnKind::Rr,
            Pattern::Crr => ConnKind::Crr,
        }
    }

    /// The knobs of one process's data sockets.
    pub fn knobs(&self, side: Side) -> &SocketKnobs {
        match side {
            Side::Sender => &self.sender,
            Side::Receiver => &self.receiver,
        }
    }

    /// The longest a test can legitimately take, after which every loop gives up.
    pub fn hard_deadline(&self) -> Duration {
        self.warmup + self.duration + Duration::from_secs(15)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(p.as_str().parse::<Protocol>().unwrap(), *p);
        }
        let err = "quic".parse::<Protocol>().unwrap_err().to_string();
        assert!(
            err.contains("'quic'") && err.contains("unix-dgram"),
            "{err}"
        );
    }

    #[test]
    fn conn_plan_follows_direction() {
        let mut spec = TestSpec {
            flows: 2,
            ..TestSpec::default()
        };
        let plan = spec.conn_plan();
        assert_eq!(plan.len(), 2);
        assert!(plan.iter().all(|c| c.active == Side::Sender));
        spec.direction = Direction::Bidir;
        let plan = spec.conn_plan();
        assert_eq!(plan.len(), 4);
        assert_eq!(
            plan.iter().filter(|c| c.active == Side::Receiver).count(),
            2
        );
        assert_eq!(
            plan.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn validation_names_the_problem() {
        let mut spec = TestSpec {
            protocol: Protocol::Udp,
            ..TestSpec::default()
        };
        spec.msg_size = 8;
        assert!(spec.validate().unwrap_err().0.contains("--msg-size 8"));
        spec.msg_size = 1400;
        assert!(spec.validate().is_ok());
        spec.sender.mss = Some(1000);
        assert!(spec
            .validate()
            .unwrap_err()
            .0
            .contains("tcp and mptcp only"));
        let mut spec = TestSpec::default();
        spec.sender.mss = Some(10);
        assert!(spec.validate().unwrap_err().0.contains("88 to 32767"));
        let spec = TestSpec {
            duration: Duration::ZERO,
            ..TestSpec::default()
        };
        assert!(spec.validate().is_err());
        let spec = TestSpec {
            pattern: Pattern::Rr,
            direction: Direction::Bidir,
            ..TestSpec::default()
        };
        assert!(spec.validate().is_err());
        let spec = TestSpec {
            pattern: Pattern::Crr,
            protocol: Protocol::Udp,
            msg_size: 64,
            ..TestSpec::default()
        };
        assert!(spec
            .validate()
            .unwrap_err()
            .0
            .contains("connection-oriented"));
        let spec = TestSpec {
            pattern: Pattern::Rr,
            probe: true,
            msg_size: 64,
            ..TestSpec::default()
        };
        assert!(spec.validate().unwrap_err().0.contains("--probe"));
    }

    #[test]
    fn the_probe_is_one_more_connection() {
        let spec = TestSpec {
            flows: 2,
            probe: true,
            ..TestSpec::default()
        };
        let plan = spec.conn_plan();
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[2].kind, ConnKind::Rr);
        assert_eq!(plan[2].flow, 2);
        assert_eq!(spec.rr_sizes(), (64, 64));
    }
}

/// The keys a test description accepts (the long flag names of `run` with `_` for `-`,
/// as in workload files and `--set`): those of the test as a whole here, the socket knobs
/// in the knob table ([`crate::spec::knobs::socket_keys`]).
pub const KNOB_KEYS: &[&str] = &[
    "proto",
    "pattern",
    "direction",
    "duration",
    "warmup",
    "interval",
    "msg_size",
    "response_size",
    "flows",
    "rate",
    "rr_timeout",
    "probe",
    "probe_size",
    "batch",
    "arrival",
    "dist_seed",
    "requests_per_conn",
    "pipeline",
    "think_time",
    "driver",
];

fn parse_u32(key: &str, v: &str) -> Result<u32, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| ConfigError(format!("{key}: '{v}' is not a whole number")))
}

fn parse_size_u32(key: &str, v: &str) -> Result<u32, ConfigError> {
    let n = crate::spec::units::parse_size(v).map_err(|e| ConfigError(format!("{key}: {e}")))?;
    u32::try_from(n).map_err(|_| ConfigError(format!("{key}: {v} is too large")))
}

/// A fixed size (`64K`) or a distribution (`uniform:min=64,max=4K`).
fn parse_size_or_dist(key: &str, v: &str) -> Result<(Option<u32>, Option<DistSpec>), ConfigError> {
    if crate::spec::dist::is_dist_text(v) {
        let d = DistSpec::parse(v, None).map_err(|e| ConfigError(format!("{key}: {e}")))?;
        Ok((None, Some(d)))
    } else {
        Ok((Some(parse_size_u32(key, v)?), None))
    }
}

fn parse_dur(key: &str, v: &str) -> Result<Duration, ConfigError> {
    crate::spec::units::parse_duration(v).map_err(|e| ConfigError(format!("{key}: {e}")))
}

fn parse_probe(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "rr" => Ok(true),
        "none" | "off" | "false" | "" => Ok(false),
        other => Err(ConfigError(format!(
            "{key}: '{other}' is not a probe (expected rr or none)"
        ))),
    }
}

/// Builds a [`TestSpec`] from knob settings, filling the defaults that depend on the
/// protocol and pattern (message sizes) once all settings are known.
#[derive(Debug, Clone, Default)]
pub struct SpecBuilder {
    spec: TestSpec,
    msg_size: Option<u32>,
    response_size: Option<u32>,
    /// Sizes from a distribution (`msg_size = "lognormal:median=1K,p99=64K"`).
    msg_dist: Option<DistSpec>,
    response_dist: Option<DistSpec>,
}

impl SpecBuilder {
    pub fn new() -> SpecBuilder {
        SpecBuilder::default()
    }

    /// Applies one `key = value` setting: a key of the test as a whole, or a socket knob
    /// for both sides (`sndbuf`) or one (`sender.sndbuf`, `receiver.sndbuf`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let (sides, name): (&[Side], &str) = match key.split_once('.') {
            Some(("sender", k)) => (&[Side::Sender], k),
            Some(("receiver", k)) => (&[Side::Receiver], k),
            Some(_) => return Err(ConfigError(format!("unknown key '{key}'"))),
            None => (&[Side::Sender, Side::Receiver], key),
        };
        match knob(name) {
            Some(knob) => {
                for side in sides {
                    let k = match side {
                        Side::Sender => &mut self.spec.sender,
                        Side::Receiver => &mut self.spec.receiver,
                    };
                    (knob.parse)(k, value).map_err(|e| ConfigError(format!("{key}: {e}")))?;
                }
            }
            None if sides.len() == 1 => {
                return Err(ConfigError(format!(
                    "'{name}' is not a per-side socket knob, so '{key}' is not a key"
                )))
            }
            None => self.set_test_key(key, value)?,
        }
        Ok(self)
    }

    /// A key of the test as a whole ([`KNOB_KEYS`]).
    fn set_test_key(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let s = &mut self.spec;
        match key {
            "proto" => s.protocol = value.parse()?,
            "pattern" => s.pattern = value.parse()?,
            "direction" => s.direction = value.parse()?,
            "duration" => s.duration = parse_dur(key, value)?,
            "warmup" => s.warmup = parse_dur(key, value)?,
            "interval" => s.interval = parse_dur(key, value)?,
            "rr_timeout" => s.rr_timeout = parse_dur(key, value)?,
            "msg_size" => (self.msg_size, self.msg_dist) = parse_size_or_dist(key, value)?,
            "response_size" => {
                (self.response_size, self.response_dist) = parse_size_or_dist(key, value)?
            }
            "arrival" => {
                s.arrival = value
                    .parse()
                    .map_err(|e| ConfigError(format!("{key}: {e}")))?
            }
            "requests_per_conn" => s.requests_per_conn = parse_u32(key, value)?,
            "pipeline" => s.pipeline = parse_u32(key, value)?,
            "driver" => s.driver = value.parse()?,
            "think_time" => {
                s.think_time = match value.trim() {
                    "" | "none" | "0" => None,
                    v => Some(TimeDist::parse(v).map_err(|e| ConfigError(format!("{key}: {e}")))?),
                }
            }
            "dist_seed" => {
                s.dist_seed = value
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError(format!("{key}: '{value}' is not a whole number")))?
            }
            "flows" => s.flows = parse_u32(key, value)?,
            "probe" => s.probe = parse_probe(key, value)?,
            "probe_size" => s.probe_size = parse_size_u32(key, value)?,
            "batch" => s.batch = parse_u32(key, value)?,
            "rate" => {
                s.rate = Some(
                    crate::spec::units::parse_rate(value)
                        .map_err(|e| ConfigError(format!("{key}: {e}")))?,
                )
            }
            _ => {
                let known: Vec<&str> = KNOB_KEYS
                    .iter()
                    .copied()
                    .chain(crate::spec::knobs::socket_keys())
                    .collect();
                return Err(ConfigError(format!(
                    "unknown key '{key}' (known: {})",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Fills size defaults and validates. Stream over TCP/MPTCP/Unix stream writes 128K;
    /// datagrams carry 1400 bytes (one Ethernet MTU's worth); rr sends 64-byte requests and
    /// responses of the request's size unless told otherwise.
    pub fn build(&self) -> Result<TestSpec, ConfigError> {
        let mut spec = self.spec.clone();
        spec.msg_size =
            self.msg_size
                .unwrap_or(match (spec.pattern, spec.protocol.is_datagram()) {
                    (Pattern::Rr | Pattern::Crr, _) => 64,
                    (Pattern::Stream, true) => 1400,
                    (Pattern::Stream, false) => 128 * 1024,
                });
        spec.response_size = self.response_size.unwrap_or(spec.msg_size);
        self.resolve_dists(&mut spec)?;
        // UDP GSO's segment size is the message size.
        for k in [&mut spec.sender, &mut spec.receiver] {
            if k.udp_gso.is_some() {
                k.udp_gso = Some(spec.msg_size);
            }
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Distributions are cut to what the protocol carries; a response without a size of
    /// its own follows the request's distribution. The sizes are then the largest drawn.
    fn resolve_dists(&self, spec: &mut TestSpec) -> Result<(), ConfigError> {
        let (floor, ceiling) = (spec.size_floor(), spec.size_ceiling());
        let resolve = |name: &str, d: &DistSpec| {
            d.resolve(floor, ceiling)
                .map_err(|e| ConfigError(format!("{name}: {e}")))
        };
        spec.msg_dist = self
            .msg_dist
            .as_ref()
            .map(|d| resolve("msg_size", d))
            .transpose()?;
        spec.response_dist = match (&self.response_dist, self.response_size) {
            (Some(d), _) => Some(resolve("response_size", d)?),
            (None, None) if spec.pattern != Pattern::Stream => spec.msg_dist.clone(),
            (None, _) => None,
        };
        if let Some(d) = &spec.msg_dist {
            spec.msg_size = d.max();
            if self.response_size.is_none() && self.response_dist.is_none() {
                spec.response_size = d.max();
            }
        }
        if let Some(d) = &spec.response_dist {
            spec.response_size = d.max();
        }
        Ok(())
    }
}

#[cfg(test)]
mod builder_tests {
    use super::*;

    #[test]
    fn defaults_depend_on_pattern_and_protocol() {
        let spec = SpecBuilder::new().build().unwrap();
        assert_eq!(spec.msg_size, 128 * 1024);
        let mut b = SpecBuilder::new();
        b.set("proto", "udp").unwrap();
        assert_eq!(b.build().unwrap().msg_size, 1400);
        b.set("pattern", "rr").unwrap();
        let spec = b.build().unwrap();
        assert_eq!((spec.msg_size, spec.response_size), (64, 64));
        b.set("response_size", "1K").unwrap();
        assert_eq!(b.build().unwrap().response_size, 1024);
    }

    #[test]
    fn knobs_apply_to_both_sides_or_one() {
        let mut b = SpecBuilder::new();
        b.set("sndbuf", "64K")
            .unwrap()
            .set("receiver.rcvbuf", "1M")
            .unwrap();
        b.set("busy_poll", "50us")
            .unwrap()
            .set("tos", "0x10")
            .unwrap();
        let spec = b.build().unwrap();
        assert_eq!(spec.sender.sndbuf, Some(65536));
        assert_eq!(spec.receiver.sndbuf, Some(65536));
        assert_eq!(spec.receiver.rcvbuf, Some(1 << 20));
        assert_eq!(spec.sender.rcvbuf, None);
        assert_eq!(spec.sender.busy_poll_us, Some(50));
        assert_eq!(spec.sender.tos, Some(16));
        b.set("sndbuf", "auto").unwrap();
        assert_eq!(b.build().unwrap().sender.sndbuf, None);
    }

    #[test]
    fn size_distributions_resolve_against_the_protocol() {
        let mut b = SpecBuilder::new();
        b.set("msg_size", "uniform:min=1,max=100K").unwrap();
        let spec = b.build().unwrap();
        let d = spec.msg_dist.clone().unwrap();
        // A byte stream's messages carry their 4-byte length header.
        assert_eq!(
            (d.min(), d.max(), spec.msg_size),
            (4, 100 * 1024, 100 * 1024)
        );
        assert!(spec.response_dist.is_none(), "a stream has no responses");
        b.set("pattern", "rr").unwrap();
        let spec = b.build().unwrap();
        assert_eq!(
            spec.response_dist, spec.msg_dist,
            "responses follow the requests"
        );
        b.set("proto", "udp").unwrap();
        let e = b.build().unwrap_err().0;
        assert!(e.contains("max") && e.contains("65507"), "{e}");
        b.set("msg_size", "uniform:min=1,max=9000").unwrap();
        let spec = b.build().unwrap();
        assert_eq!(spec.msg_dist.unwrap().min(), DGRAM_HEADER);
        b.set("pattern", "stream")
            .unwrap()
            .set("gso", "true")
            .unwrap();
        assert!(b.build().unwrap_err().0.contains("its own write"));
        let mut b = SpecBuilder::new();
        b.set("pattern", "rr")
            .unwrap()
            .set("pipeline", "4")
            .unwrap();
        b.set("msg_size", "lognormal:median=100,p99=1K").unwrap();
        let spec = b.build().unwrap();
        assert_eq!(
            spec.msg_dist.unwrap().min(),
            12,
            "length header and request id"
        );
        assert!(b.set("think_time", "1ms").is_ok());
        assert!(b.build().unwrap_err().0.contains("think_time"));
    }

    /// Every knob of the table is a key for both sides and for each alone.
    #[test]
    fn every_table_knob_is_a_key_per_side() {
        for knob in KNOBS {
            let mut want = SocketKnobs::default();
            (knob.parse)(&mut want, knob.example).unwrap();
            let mut b = SpecBuilder::new();
            b.set(&format!("receiver.{}", knob.key), knob.example)
                .unwrap();
            assert_eq!(b.spec.receiver, want, "{}", knob.key);
            assert_eq!(b.spec.sender, SocketKnobs::default(), "{}", knob.key);
            b.set(knob.key, knob.example).unwrap();
            assert_eq!(b.spec.sender, want, "{}", knob.key);
        }
    }

    #[test]
    fn bad_settings_name_the_key() {
        let mut b = SpecBuilder::new();
        assert!(b
            .set("msg_size", "banana")
            .unwrap_err()
            .0
            .starts_with("msg_size: 'banana'"));
        assert!(b.set("sender.duration", "1s").is_err());
        assert!(b
            .set("colour", "blue")
            .unwrap_err()
            .0
            .contains("unknown key 'colour'"));
        assert!(b.set("nodelay", "maybe").is_err());
        assert!(b.set("tos", "300").is_err());
        assert!(b.set("duration", "-1s").unwrap_err().0.contains("negative"));
    }
}
