//! Validated configuration: what a test is, independent of where it came from (flags,
//! a workload file, or the control channel). Everything past the CLI sees only these types.

mod builder;
mod keys;
mod traffic;
mod validate;

pub use builder::SpecBuilder;
pub use keys::{
    columns_of, dict_lines, doc_table, is_size_key, keys_of, size_keys, takes_dist, test_key,
    test_keys, Search, TestKey, TEST_KEYS,
};
pub use traffic::{CrrSpec, Exchange, Probe, RrLoad, RrSpec, StreamSpec, Traffic};

pub use crate::spec::base::{ConfigError, Delivery, Protocol, MAX_CPUS, MAX_UDP_PAYLOAD};
pub use crate::spec::knobs::SocketKnobs;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::spec::base::named_enum;
use crate::spec::dist::{Arrival, DistSpec, SizeDist, TimeDist};
use crate::spec::knobs::knob;

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

/// One data connection of a test: both ends derive the same list from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnPlan {
    /// Index into the plan; also carried in the data connection's header.
    pub id: u32,
    /// The user-visible flow number (bidir has two connections per flow).
    pub flow: u32,
    /// What the connection carries: the test's pattern, or rr for the probe.
    pub kind: Pattern,
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
/// The largest application message we allow for byte streams.
pub const MAX_STREAM_MSG: u32 = 64 << 20;
/// Flows of one test. Beyond `engine::MULTI_THRESHOLD` connections on a side, roles run
/// on epoll workers, not a thread each. 100,000 connections are tested (tests/scale.rs,
/// docs/scale.md); a receiver's results for 131,072 of them fit in one control message
/// (`net::control::MAX_MESSAGE`).
pub const MAX_FLOWS: u32 = 1 << 17;
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
    /// The value of a key in this spec, as `--set` takes it: a key of the test
    /// (`pattern`), a knob of both sides (`nodelay`: the sender's) or of one
    /// (`receiver.rcvbuf`). `None` for a knob left to the kernel or of another protocol,
    /// an unset optional key, or an unknown key.
    pub fn value_of(&self, key: &str) -> Option<String> {
        let (side, name) = match key.split_once('.') {
            Some(("sender", k)) => (Some(Side::Sender), k),
            Some(("receiver", k)) => (Some(Side::Receiver), k),
            Some(_) => return None,
            None => (None, key),
        };
        match (knob(name), side) {
            // A knob of another protocol (`nodelay` on udp) has no value here.
            (Some(k), _) if !k.applies.to(self.protocol) => None,
            (Some(k), side) => {
                let shown = (k.show)(self.knobs(side.unwrap_or(Side::Sender)));
                let switch = matches!(k.takes, crate::spec::knobs::Takes::Switch);
                shown.or_else(|| switch.then(|| "false".to_string()))
            }
            // An unset optional key (`rate`) shows as empty: none.
            (None, None) => test_key(name)
                .map(|t| (t.show)(self))
                .filter(|v| !v.is_empty()),
            (None, Some(_)) => None,
        }
    }

    /// The request size of an rr test, or the message size of a stream test.
    pub fn request_size(&self) -> u32 {
        self.msg_size
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
        match self.pattern {
            Pattern::Stream => (None, None),
            Pattern::Rr | Pattern::Crr => (self.msg_dist.as_ref(), self.response_dist.as_ref()),
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
                kind: Pattern::Rr,
                active: Side::Sender,
            });
        }
        plan
    }

    /// Request and response sizes of a request/response connection: the probe's in a
    /// stream test, else the test's own.
    pub fn rr_sizes(&self) -> (u32, u32) {
        match self.pattern {
            Pattern::Stream => (self.probe_size, self.probe_size),
            Pattern::Rr | Pattern::Crr => (self.msg_size, self.response_size),
        }
    }

    /// What the connections that carry the test's main figures (goodput, transactions)
    /// do: the test's pattern; a probe's connection is rr.
    pub fn main_kind(&self) -> Pattern {
        self.pattern
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
mod tests;
