//! The socket knobs: one table, [`KNOBS`], with one entry per knob of a side's data
//! sockets. Everything else derives from it: the flags of `run`, `mesh` and `tune`
//! (`cli::SocketKnobFlags`), the keys of workload files and `--set` and their per-side
//! forms `sender.KEY` / `receiver.KEY` (`SpecBuilder::set`), which protocols a knob
//! applies to (`SocketKnobs::validate`, `workload::knob_applies`), the setting and the
//! read-back of the socket option (`net::sockopt::apply` / `read_back`), and the knob's
//! columns of summary.csv (`output::summary`).
//!
//! Adding a knob:
//! 1. a field in [`SocketKnobs`] (what is asked for) and, when the kernel reports it, one
//!    in [`EffectiveKnobs`] (what it took);
//! 2. one [`Knob`] entry in [`KNOBS`]: its key, help, value, parser and printer, range
//!    check, protocols, the systems it can be set on and how each reads it back (a knob
//!    another system cannot apply is refused there: [`check_os`]), the socket option with
//!    its moment, setter and getter (socket2's,
//!    or `sys::opts`'s), and its summary.csv columns;
//! 3. if it has columns of its own, typed fields of the same names at the end of
//!    `output::summary::SummaryRow` (the order of the existing columns is a contract), and
//!    a row for each in docs/results.md (`tests/results_doc.rs`).
//!
//! The unit tests below walk the table: every entry has a flag, a key, a default in its
//! help, a column, and a parser its own printer round-trips; `output::summary`'s check that
//! every column is one of summary.csv's and that every cell fits its field; `cli`'s that
//! every entry is a flag of `run`, `mesh` and `tune`; `spec::config`'s that every entry is
//! a key for both sides and for each.

use std::io;

use serde::{Deserialize, Serialize, Serializer};
use socket2::{Domain, Socket};
use thiserror::Error;

use super::base::{ConfigError, Protocol, MAX_CPUS};
use super::units::UnitError;
use crate::sys::Os;

mod parse;
mod table;
#[cfg(test)]
mod tests;

pub use parse::CONGESTION_CONTROLS;
pub use table::KNOBS;

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
                return Err(ConfigError::NotApplicable(format!(
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

/// What the kernel reports for each option once the socket is configured. `None` where
/// the option does not apply to the protocol or the kernel would not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveKnobs {
    pub sndbuf: Option<u64>,
    pub rcvbuf: Option<u64>,
    /// TCP_MAXSEG as read back (on a connected socket: the current MSS).
    pub maxseg: Option<u32>,
    pub nodelay: Option<bool>,
    pub congestion: Option<String>,
    pub tos: Option<u32>,
    pub quickack: Option<bool>,
    pub notsent_lowat: Option<u32>,
    pub cork: Option<bool>,
    pub busy_poll_us: Option<u32>,
    pub udp_gso: Option<u32>,
    pub udp_gro: Option<bool>,
    pub zerocopy: Option<bool>,
    /// SO_LINGER's seconds when the kernel reports it on; None when off (the default).
    #[serde(default)]
    pub linger: Option<u32>,
}

/// Requested and effective values of one data socket, and any warning about clamping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedKnobs {
    pub requested: SocketKnobs,
    pub effective: EffectiveKnobs,
    pub warnings: Vec<String>,
}

/// When in a socket's life an option is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A socket about to `listen` or `connect`, or an unconnected datagram socket.
    BeforeConnect,
    /// A socket returned by `accept`: it inherited buffers and MSS from the listener; the
    /// TCP-level options are set again so that what is read back is what was asked for.
    Accepted,
    /// A connected stream socket: TCP_QUICKACK, which the kernel clears as it goes.
    Connected,
}

/// The protocols a knob means something on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Every,
    /// Not Unix sockets.
    Ip,
    /// tcp and mptcp: TCP-level options.
    TcpLike,
    Tcp,
    Udp,
}

impl Applies {
    pub fn to(self, proto: Protocol) -> bool {
        match self {
            Applies::Every => true,
            Applies::Ip => proto.is_ip(),
            Applies::TcpLike => proto.is_tcp_like(),
            Applies::Tcp => proto == Protocol::Tcp,
            Applies::Udp => proto == Protocol::Udp,
        }
    }

    /// "applies to {this}, not udp".
    pub fn describe(self) -> &'static str {
        match self {
            Applies::Every => "every protocol",
            Applies::Ip => "IP protocols only",
            Applies::TcpLike => "tcp and mptcp only",
            Applies::Tcp => "tcp only",
            Applies::Udp => "udp only",
        }
    }
}

/// How a knob's flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// `--nodelay`: on when given (`nodelay = true` in a file).
    Switch,
    /// `--sndbuf SIZE`; `choices` are shown in `--help` and completions (others may be
    /// accepted: the kernel has the last word).
    Value {
        name: &'static str,
        choices: &'static [&'static str],
    },
}

/// A value a knob's parser refused: what was wrong with it (the caller names the key).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// A size, duration or rate that does not read as one.
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error("'{0}' is not true or false")]
    NotBool(String),
    #[error("'{0}' is not a whole number")]
    NotWhole(String),
    /// A number beyond what the option's type holds.
    #[error("{0} is too large")]
    TooLarge(String),
    #[error("'{0}' is not a TOS byte (0-255 or 0x00-0xff)")]
    NotTos(String),
    #[error("'{0}' is not a list of CPU numbers (e.g. 0 or 0,2)")]
    NotCpus(String),
    #[error("'{0}' is not a congestion control name")]
    NotCongestion(String),
}

/// A buffer the kernel silently caps at a sysctl: a warning when asked for more.
#[derive(Debug, Clone, Copy)]
pub struct Clamp {
    /// Which direction's limit: SO_SNDBUF's (`net.core.wmem_max` on Linux) or SO_RCVBUF's
    /// (`net.core.rmem_max`); the BSDs cap both at `kern.ipc.maxsockbuf` (`Os::buffer_limit`).
    pub send: bool,
    pub requested: fn(&SocketKnobs) -> Option<u64>,
}

/// The socket option behind a knob.
#[derive(Debug, Clone, Copy)]
pub struct SockOpt {
    /// As errors name it: `SO_SNDBUF`.
    pub name: &'static str,
    /// When it is set.
    pub phases: &'static [Phase],
    /// Sets it; None when the knob is not set (the kernel's default stays).
    pub set: fn(&Socket, Domain, &SocketKnobs) -> Option<io::Result<()>>,
    /// Reads it back into the effective knobs.
    pub read: fn(&Socket, Domain, &mut EffectiveKnobs),
    pub clamp: Option<Clamp>,
    /// The sysctls listing the values this kernel takes, named when it refuses one.
    pub hint: Option<Hint>,
}

/// Where the values a kernel takes for an option are listed.
#[derive(Debug, Clone, Copy)]
pub struct Hint {
    /// Every value this kernel has.
    pub available: &'static str,
    /// The values a process without CAP_NET_ADMIN may set; the kernel refuses it the
    /// others (EPERM).
    pub permitted: Option<&'static str>,
}

/// One cell of summary.csv as a knob fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Not set, not measured, or not applicable.
    Empty,
    Bool(bool),
    Int(u64),
    Text(String),
}

impl Cell {
    pub fn of<T: Into<Cell>>(v: Option<T>) -> Cell {
        v.map_or(Cell::Empty, Into::into)
    }
    /// A requested buffer size: bytes, or `auto` when none was set (autotuning).
    fn size_req(k: Option<&AppliedKnobs>, size: fn(&SocketKnobs) -> Option<u64>) -> Cell {
        match k.map(|k| size(&k.requested)) {
            None => Cell::Empty,
            Some(None) => Cell::Text("auto".into()),
            Some(Some(n)) => Cell::Int(n),
        }
    }
}

impl From<bool> for Cell {
    fn from(v: bool) -> Cell {
        Cell::Bool(v)
    }
}
impl From<u64> for Cell {
    fn from(v: u64) -> Cell {
        Cell::Int(v)
    }
}
impl From<u32> for Cell {
    fn from(v: u32) -> Cell {
        Cell::Int(v.into())
    }
}
impl From<u8> for Cell {
    fn from(v: u8) -> Cell {
        Cell::Int(v.into())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(v)
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Empty => s.serialize_none(),
            Cell::Bool(b) => s.serialize_bool(*b),
            Cell::Int(n) => s.serialize_u64(*n),
            Cell::Text(t) => s.serialize_str(t),
        }
    }
}

/// What a summary row knows about the knobs of one test: the two ends of its first data
/// connection (as configured and read back) and both processes' requests.
#[derive(Debug, Clone, Copy)]
pub struct Ends<'a> {
    pub proto: Protocol,
    /// The socket that sends the bulk data (or the requests).
    pub sending: Option<&'a AppliedKnobs>,
    /// The socket that receives them.
    pub receiving: Option<&'a AppliedKnobs>,
    /// The knobs the sender process (`run`) and the receiver process (`serve`) were given.
    pub sender: &'a SocketKnobs,
    pub receiver: &'a SocketKnobs,
    /// TCP_INFO snd_mss of the sending socket once connected.
    pub snd_mss: Option<u32>,
    /// The CPUs the sender's and the receiver's traffic threads ran on (`;`-separated).
    pub cpus: [&'a str; 2],
    /// Bytes spliced into the sending and out of the receiving sockets, when splicing.
    pub spliced: [Option<u64>; 2],
}

impl Ends<'_> {
    /// A figure of the sending socket's knobs; empty when the row has no such socket.
    fn sent<T>(&self, f: impl Fn(&AppliedKnobs) -> Option<T>) -> Option<T> {
        self.sending.and_then(f)
    }
    /// A TCP switch as requested on the sending socket; empty where TCP options are not.
    fn tcp_switch(&self, f: fn(&SocketKnobs) -> bool) -> Cell {
        Cell::of(
            self.sending
                .filter(|_| self.proto.is_tcp_like())
                .map(|k| f(&k.requested)),
        )
    }
}

/// A column of summary.csv and how a knob fills it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub cell: fn(&Ends) -> Cell,
}

/// A system a knob can be set on, and how what it did is known there.
#[derive(Debug, Clone, Copy)]
pub struct OnOs {
    pub os: Os,
    /// How the effective value is read back there (`getsockopt SO_SNDBUF, ...`), or
    /// "no read-back".
    pub read_back: &'static str,
}

/// One socket knob. See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct Knob {
    /// The key of workload files and `--set` (`notsent_lowat`); the flag is the key with
    /// `-` for `_` (`--notsent-lowat`).
    pub key: &'static str,
    /// The flag's help, with its default.
    pub help: &'static str,
    pub takes: Takes,
    /// A value the parser takes, for the help's examples and the tests.
    pub example: &'static str,
    pub applies: Applies,
    /// Parses a value into one side's knobs.
    pub parse: fn(&mut SocketKnobs, &str) -> Result<(), ValueError>,
    /// The value set, as the parser takes it; None when the knob is not set.
    pub show: fn(&SocketKnobs) -> Option<String>,
    /// The range check of a set value (beyond what the parser refuses).
    pub check: fn(&SocketKnobs) -> Result<(), ConfigError>,
    /// The systems it can be set on, each with how its effect is read back there.
    pub on: &'static [OnOs],
    /// The socket option; None for a knob that changes how sockbench does I/O.
    pub sockopt: Option<SockOpt>,
    /// Its columns of summary.csv.
    pub columns: &'static [Column],
}

impl Knob {
    /// `--notsent-lowat`.
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }

    /// Its value is a byte size (`64K`), which a matrix may sweep as a range.
    pub fn takes_size(&self) -> bool {
        matches!(self.takes, Takes::Value { name: "SIZE", .. })
    }

    pub fn is_set(&self, k: &SocketKnobs) -> bool {
        (self.show)(k).is_some()
    }

    /// How it is set and read back on `os`; None when `os` cannot apply it.
    pub fn on(&self, os: Os) -> Option<&'static OnOs> {
        self.on.iter().find(|o| o.os == os)
    }

    /// Where it can be set: `Linux only`, `Linux and FreeBSD only`, `every system`.
    pub fn where_set(&self) -> String {
        if Os::ALL.iter().all(|&os| self.on(os).is_some()) {
            return "every system".into();
        }
        let names: Vec<&str> = self.on.iter().map(|o| o.os.title()).collect();
        match names.split_last() {
            None => "no system".into(),
            Some((last, [])) => format!("{last} only"),
            Some((last, rest)) => format!("{} and {last} only", rest.join(", ")),
        }
    }
}

/// Refuses a knob set in `k` that `os` cannot apply, in one line naming the knob and the
/// system: `--gso: Linux only (this host: windows)`. `whose` says which host `os` is.
pub fn check_os(k: &SocketKnobs, os: Os, whose: &str) -> Result<(), ConfigError> {
    match KNOBS
        .iter()
        .find(|knob| knob.is_set(k) && knob.on(os).is_none())
    {
        Some(knob) => Err(ConfigError::NotApplicable(format!(
            "{}: {} ({whose}: {os})",
            knob.flag(),
            knob.where_set()
        ))),
        None => Ok(()),
    }
}

/// Whether `os` can apply the knob of `key` (a key that is not a socket knob: yes).
pub fn knob_works_on(key: &str, os: Os) -> bool {
    knob(key).map_or(true, |k| k.on(os).is_some())
}

/// The knob of a key (`sndbuf`), if it is a socket knob.
pub fn knob(key: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| k.key == key)
}

/// The keys of the socket knobs, in table order: each may be set for one side only, as
/// `sender.KEY` (the `run` process) or `receiver.KEY` (the `serve` process).
pub fn socket_keys() -> impl Iterator<Item = &'static str> {
    KNOBS.iter().map(|k| k.key)
}

pub fn parse_bool(v: &str) -> Result<bool, ValueError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(ValueError::NotBool(v.to_string())),
    }
}
