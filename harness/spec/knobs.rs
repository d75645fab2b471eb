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
//!    check, protocols, the socket option with its moment, setter and getter (socket2's,
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

use super::config::{ConfigError, Protocol, SocketKnobs, MAX_CPUS, MAX_UDP_PAYLOAD};
use super::units::{format_duration, parse_duration, parse_size, UnitError};
use crate::sys::opts;

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

/// Before `listen`/`connect` only: SO_RCVBUF fixes the TCP window scale during the
/// handshake and TCP_MAXSEG the advertised MSS, and an accepted socket inherits both.
const HANDSHAKE: &[Phase] = &[Phase::BeforeConnect];
/// Before `listen`/`connect`, and again on the accepted socket.
const SOCKET: &[Phase] = &[Phase::BeforeConnect, Phase::Accepted];
/// On the connected socket.
const CONNECTED: &[Phase] = &[Phase::Connected];

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
#[error("{0}")]
pub struct ValueError(pub String);

impl From<UnitError> for ValueError {
    fn from(e: UnitError) -> Self {
        ValueError(e.to_string())
    }
}

/// A buffer the kernel silently caps at a sysctl: a warning when asked for more.
#[derive(Debug, Clone, Copy)]
pub struct Clamp {
    /// `net.core.wmem_max`.
    pub sysctl: &'static str,
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
    /// A sysctl listing the values this kernel takes, named when it refuses one.
    pub hint: Option<&'static str>,
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
        _ => Err(ValueError(format!("'{v}' is not true or false"))),
    }
}

fn show_bool(on: bool) -> Option<String> {
    on.then(|| "true".to_string())
}

fn size_or_auto(v: &str) -> Result<Option<u64>, ValueError> {
    if v.trim().eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        Ok(Some(parse_size(v)?))
    }
}

fn whole_u32(v: &str) -> Result<u32, ValueError> {
    v.trim()
        .parse()
        .map_err(|_| ValueError(format!("'{v}' is not a whole number")))
}

fn size_u32(v: &str) -> Result<u32, ValueError> {
    let n = parse_size(v)?;
    u32::try_from(n).map_err(|_| ValueError(format!("{v} is too large")))
}

fn parse_tos(v: &str) -> Result<u8, ValueError> {
    let t = v.trim();
    let n = match t.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => t.parse::<u8>().ok(),
    };
    n.ok_or_else(|| ValueError(format!("'{v}' is not a TOS byte (0-255 or 0x00-0xff)")))
}

fn parse_cpus(v: &str) -> Result<Vec<u32>, ValueError> {
    let cpus: Result<Vec<u32>, _> = v.split(',').map(|c| c.trim().parse::<u32>()).collect();
    match cpus {
        Ok(c) if !c.is_empty() && c.iter().all(|&n| n < MAX_CPUS) => Ok(c),
        _ => Err(ValueError(format!(
            "'{v}' is not a list of CPU numbers (e.g. 0 or 0,2)"
        ))),
    }
}

fn parse_busy_poll(v: &str) -> Result<u32, ValueError> {
    let d = parse_duration(v)?;
    u32::try_from(d.as_micros()).map_err(|_| ValueError("too long".into()))
}

fn check_buffer(name: &str, v: Option<u64>) -> Result<(), ConfigError> {
    match v {
        Some(v) if v == 0 || v > i32::MAX as u64 / 2 => Err(ConfigError(format!(
            "--{name} {v} is out of range (1 byte to 1G; use 'auto' for the kernel's autotuning)"
        ))),
        _ => Ok(()),
    }
}

fn check_cpus(k: &SocketKnobs) -> Result<(), ConfigError> {
    let Some(cpus) = &k.cpus else { return Ok(()) };
    // sched_setaffinity's cpu_set_t holds CPU_SETSIZE (1024) CPUs; a number beyond it
    // would index out of the set.
    if cpus.is_empty() || cpus.len() > MAX_CPUS as usize {
        return Err(ConfigError(format!(
            "--cpu-affinity takes 1 to {MAX_CPUS} CPU numbers; got {}",
            cpus.len()
        )));
    }
    match cpus.iter().find(|&&c| c >= MAX_CPUS) {
        Some(cpu) => Err(ConfigError(format!(
            "--cpu-affinity: CPU {cpu} is out of range (0 to {})",
            MAX_CPUS - 1
        ))),
        None => Ok(()),
    }
}

/// A name TCP_CONGESTION could take: up to 15 letters, digits, `_` or `-`
/// (TCP_CA_NAME_MAX is 16 with the NUL).
fn congestion_name(cc: &str) -> Result<String, ValueError> {
    let ok = !cc.is_empty()
        && cc.len() <= 15
        && cc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(cc.to_string())
    } else {
        Err(ValueError(format!(
            "'{cc}' is not a congestion control name"
        )))
    }
}

fn check_congestion(k: &SocketKnobs) -> Result<(), ConfigError> {
    match &k.congestion {
        Some(cc) => match congestion_name(cc) {
            Ok(_) => Ok(()),
            Err(e) => Err(ConfigError(format!("--congestion {e}"))),
        },
        None => Ok(()),
    }
}

fn no_check(_: &SocketKnobs) -> Result<(), ConfigError> {
    Ok(())
}

/// The congestion control modules of Linux's own tree, shown as `--congestion`'s choices;
/// another one this kernel has loaded is taken too.
pub const CONGESTION_CONTROLS: &[&str] = &[
    "cubic",
    "bbr",
    "reno",
    "dctcp",
    "bic",
    "cdg",
    "highspeed",
    "htcp",
    "hybla",
    "illinois",
    "lp",
    "nv",
    "scalable",
    "vegas",
    "veno",
    "westwood",
    "yeah",
];

const SIZE: Takes = Takes::Value {
    name: "SIZE",
    choices: &[],
};

/// The table. Its order is the order of `--help`, of the "known keys" list, and in which
/// the options are set on a socket.
pub static KNOBS: &[Knob] = &[
    Knob {
        key: "sndbuf",
        help: "SO_SNDBUF on the data sockets, or auto for the kernel's autotuning [default: auto]",
        takes: SIZE,
        example: "64K",
        applies: Applies::Every,
        parse: |k, v| { k.sndbuf = size_or_auto(v)?; Ok(()) },
        show: |k| k.sndbuf.map(|n| n.to_string()),
        check: |k| check_buffer("sndbuf", k.sndbuf),
        sockopt: Some(SockOpt {
            name: "SO_SNDBUF",
            phases: HANDSHAKE,
            set: |s, _, k| k.sndbuf.map(|v| s.set_send_buffer_size(v as usize)),
            read: |s, _, e| e.sndbuf = s.send_buffer_size().ok().map(|v| v as u64),
            clamp: Some(Clamp {
                sysctl: "net.core.wmem_max",
                requested: |k| k.sndbuf,
            }),
            hint: None,
        }),
        columns: &[
            Column {
                name: "sndbuf_req",
                cell: |e| Cell::size_req(e.sending, |k| k.sndbuf),
            },
            Column {
                name: "sndbuf_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.sndbuf)),
            },
            Column {
                name: "receiver_sndbuf_eff",
                cell: |e| Cell::of(e.receiving.and_then(|k| k.effective.sndbuf)),
            },
        ],
    },
    Knob {
        key: "rcvbuf",
        help: "SO_RCVBUF on the data sockets, or auto for the kernel's autotuning [default: auto]",
        takes: SIZE,
        example: "256K",
        applies: Applies::Every,
        parse: |k, v| { k.rcvbuf = size_or_auto(v)?; Ok(()) },
        show: |k| k.rcvbuf.map(|n| n.to_string()),
        check: |k| check_buffer("rcvbuf", k.rcvbuf),
        sockopt: Some(SockOpt {
            name: "SO_RCVBUF",
            phases: HANDSHAKE,
            set: |s, _, k| k.rcvbuf.map(|v| s.set_recv_buffer_size(v as usize)),
            read: |s, _, e| e.rcvbuf = s.recv_buffer_size().ok().map(|v| v as u64),
            clamp: Some(Clamp {
                sysctl: "net.core.rmem_max",
                requested: |k| k.rcvbuf,
            }),
            hint: None,
        }),
        columns: &[
            Column {
                name: "rcvbuf_req",
                cell: |e| Cell::size_req(e.receiving, |k| k.rcvbuf),
            },
            Column {
                name: "rcvbuf_eff",
                cell: |e| Cell::of(e.receiving.and_then(|k| k.effective.rcvbuf)),
            },
            Column {
                name: "sender_rcvbuf_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.rcvbuf)),
            },
        ],
    },
    Knob {
        key: "mss",
        help: "TCP_MAXSEG (88..32767), set before connect and listen [default: the kernel's, from the path MTU]",
        takes: Takes::Value {
            name: "BYTES",
            choices: &[],
        },
        example: "1200",
        applies: Applies::TcpLike,
        parse: |k, v| { k.mss = Some(whole_u32(v)?); Ok(()) },
        show: |k| k.mss.map(|n| n.to_string()),
        check: |k| match k.mss {
            Some(mss) if !(88..=32767).contains(&mss) => Err(ConfigError(format!(
                "--mss {mss} is out of range: Linux accepts TCP_MAXSEG from 88 to 32767"
            ))),
            _ => Ok(()),
        },
        sockopt: Some(SockOpt {
            name: "TCP_MAXSEG",
            phases: HANDSHAKE,
            set: |s, _, k| k.mss.map(|v| opts::set_tcp_mss(s, v)),
            read: |s, _, e| e.maxseg = opts::tcp_mss(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "mss_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.mss)),
            },
            // What the connection uses: TCP_INFO's snd_mss, not the option read back.
            Column {
                name: "mss_eff",
                cell: |e| Cell::of(e.snd_mss),
            },
        ],
    },
    Knob {
        key: "nodelay",
        help: "TCP_NODELAY [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::TcpLike,
        parse: |k, v| { k.nodelay = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.nodelay),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_NODELAY",
            phases: SOCKET,
            set: |s, _, k| k.nodelay.then(|| s.set_tcp_nodelay(true)),
            read: |s, _, e| e.nodelay = s.tcp_nodelay().ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "nodelay",
                cell: |e| Cell::of(e.sent(|k| k.effective.nodelay)),
            },
            Column {
                name: "nodelay_req",
                cell: |e| e.tcp_switch(|k| k.nodelay),
            },
        ],
    },
    Knob {
        key: "congestion",
        help: "TCP_CONGESTION: a congestion control this kernel has (net.ipv4.tcp_available_congestion_control) [default: the kernel's, net.ipv4.tcp_congestion_control]",
        takes: Takes::Value {
            name: "NAME",
            choices: CONGESTION_CONTROLS,
        },
        example: "reno",
        applies: Applies::TcpLike,
        parse: |k, v| { k.congestion = Some(congestion_name(v.trim())?); Ok(()) },
        show: |k| k.congestion.clone(),
        check: check_congestion,
        sockopt: Some(SockOpt {
            name: "TCP_CONGESTION",
            phases: SOCKET,
            set: |s, _, k| k.congestion.as_ref().map(|cc| opts::set_congestion(s, cc.as_bytes())),
            read: |s, _, e| {
                e.congestion = opts::congestion(s).ok().map(|name| {
                    String::from_utf8_lossy(&name)
                        .trim_end_matches('\0')
                        .to_string()
                })
            },
            clamp: None,
            hint: Some("net.ipv4.tcp_available_congestion_control"),
        }),
        columns: &[
            Column {
                name: "congestion",
                cell: |e| Cell::of(e.sent(|k| k.effective.congestion.clone())),
            },
            Column {
                name: "congestion_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.congestion.clone())),
            },
        ],
    },
    Knob {
        key: "tos",
        help: "IP_TOS / IPV6_TCLASS byte, e.g. 0x10 [default: not set]",
        takes: Takes::Value {
            name: "TOS",
            choices: &[],
        },
        example: "0x10",
        applies: Applies::Ip,
        parse: |k, v| { k.tos = Some(parse_tos(v)?); Ok(()) },
        show: |k| k.tos.map(|n| n.to_string()),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "IP_TOS",
            phases: SOCKET,
            set: |s, d, k| {
                k.tos.map(|v| {
                    if d == Domain::IPV6 {
                        opts::set_tclass_v6(s, v.into())
                    } else {
                        opts::set_tos_v4(s, v.into())
                    }
                })
            },
            read: |s, d, e| {
                e.tos = if d == Domain::IPV6 {
                    opts::tclass_v6(s).ok()
                } else {
                    opts::tos_v4(s).ok()
                }
            },
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "tos_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.tos)),
            },
            Column {
                name: "tos_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.tos)),
            },
        ],
    },
    Knob {
        key: "quickack",
        help: "TCP_QUICKACK, re-armed after every read [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::TcpLike,
        parse: |k, v| { k.quickack = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.quickack),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_QUICKACK",
            phases: CONNECTED,
            set: |s, _, k| k.quickack.then(|| opts::set_quickack(s, true)),
            read: |s, _, e| e.quickack = opts::quickack(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "quickack_req",
            cell: |e| e.tcp_switch(|k| k.quickack),
        }],
    },
    Knob {
        key: "notsent_lowat",
        help: "TCP_NOTSENT_LOWAT [default: not set]",
        takes: SIZE,
        example: "16K",
        applies: Applies::TcpLike,
        parse: |k, v| { k.notsent_lowat = Some(size_u32(v)?); Ok(()) },
        show: |k| k.notsent_lowat.map(|n| n.to_string()),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_NOTSENT_LOWAT",
            phases: SOCKET,
            set: |s, _, k| k.notsent_lowat.map(|v| opts::set_notsent_lowat(s, v)),
            read: |s, _, e| e.notsent_lowat = opts::notsent_lowat(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "notsent_lowat_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.notsent_lowat)),
            },
            Column {
                name: "notsent_lowat_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.notsent_lowat)),
            },
        ],
    },
    Knob {
        key: "cork",
        help: "TCP_CORK [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::TcpLike,
        parse: |k, v| { k.cork = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.cork),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_CORK",
            phases: SOCKET,
            set: |s, _, k| k.cork.then(|| opts::set_cork(s, true)),
            read: |s, _, e| e.cork = opts::cork(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "cork_req",
            cell: |e| e.tcp_switch(|k| k.cork),
        }],
    },
    Knob {
        key: "busy_poll",
        help: "SO_BUSY_POLL, e.g. 50us [default: not set]",
        takes: Takes::Value {
            name: "DURATION",
            choices: &[],
        },
        example: "50us",
        applies: Applies::Ip,
        parse: |k, v| { k.busy_poll_us = Some(parse_busy_poll(v)?); Ok(()) },
        show: |k| {
            k.busy_poll_us
                .map(|us| format_duration(std::time::Duration::from_micros(us.into())))
        },
        check: |k| match k.busy_poll_us {
            Some(us) if us > 1_000_000 => Err(ConfigError(format!(
                "--busy-poll {us} is out of range: 0 to 1000000 microseconds"
            ))),
            _ => Ok(()),
        },
        sockopt: Some(SockOpt {
            name: "SO_BUSY_POLL",
            phases: SOCKET,
            set: |s, _, k| k.busy_poll_us.map(|v| opts::set_busy_poll(s, v)),
            read: |s, _, e| e.busy_poll_us = opts::busy_poll(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "busy_poll_req_us",
                cell: |e| Cell::of(e.sent(|k| k.requested.busy_poll_us)),
            },
            Column {
                name: "busy_poll_eff_us",
                cell: |e| Cell::of(e.sent(|k| k.effective.busy_poll_us)),
            },
        ],
    },
    Knob {
        key: "linger",
        help: "SO_LINGER seconds: a close waits that long for unsent data; 0 = an abortive close (RST, no TIME_WAIT), as neper's tcp_crr closes; off = not set [default: off, a graceful close]",
        takes: Takes::Value {
            name: "SECONDS",
            choices: &[],
        },
        example: "0",
        applies: Applies::TcpLike,
        // `off`: not set, so that a matrix may sweep the graceful close beside others.
        parse: |k, v| {
            k.linger = match v.trim() {
                o if o.eq_ignore_ascii_case("off") => None,
                n => Some(whole_u32(n)?),
            };
            Ok(())
        },
        show: |k| k.linger.map(|n| n.to_string()),
        // Windows' l_linger is 16 bits: the same range everywhere.
        check: |k| match k.linger {
            Some(s) if s > u32::from(u16::MAX) => Err(ConfigError(format!(
                "--linger {s} is out of range: 0 to 65535 seconds"
            ))),
            _ => Ok(()),
        },
        // Set before connect and listen: an accepted socket inherits it, so that no system
        // call per connection is spent on it.
        sockopt: Some(SockOpt {
            name: "SO_LINGER",
            phases: HANDSHAKE,
            set: |s, _, k| {
                k.linger
                    .map(|v| s.set_linger(Some(std::time::Duration::from_secs(v.into()))))
            },
            read: |s, _, e| {
                e.linger = s
                    .linger()
                    .ok()
                    .flatten()
                    .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            },
            clamp: None,
            hint: None,
        }),
        // The requester's socket: in crr, the end whose close acts on the connection (it
        // closes after the receiver's FIN: a graceful close acknowledges it, an abortive
        // one resets).
        columns: &[
            Column {
                name: "linger_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.linger)),
            },
            Column {
                name: "linger_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.linger)),
            },
        ],
    },
    Knob {
        key: "gso",
        help: "UDP GSO (UDP_SEGMENT): up to 64 datagrams per send, split by the kernel [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Udp,
        // The segment size is the message size, known once the whole test is: until
        // `SpecBuilder::build` fills it, 0 stands for "on".
        parse: |k, v| { k.udp_gso = parse_bool(v)?.then_some(0); Ok(()) },
        show: |k| show_bool(k.udp_gso.is_some()),
        check: |k| match k.udp_gso {
            Some(gso) if gso == 0 || gso > MAX_UDP_PAYLOAD => Err(ConfigError(format!(
                "--gso {gso} is out of range: 1 to {MAX_UDP_PAYLOAD} bytes"
            ))),
            _ => Ok(()),
        },
        sockopt: Some(SockOpt {
            name: "UDP_SEGMENT",
            phases: SOCKET,
            set: |s, _, k| k.udp_gso.map(|seg| opts::set_udp_gso(s, seg)),
            read: |s, _, e| e.udp_gso = opts::udp_gso(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "udp_gso_eff",
            cell: |e| Cell::of(e.sent(|k| k.effective.udp_gso).filter(|s| *s > 0)),
        }],
    },
    Knob {
        key: "gro",
        help: "UDP GRO (UDP_GRO): coalesced datagrams per receive, split again by sockbench [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Udp,
        parse: |k, v| { k.udp_gro = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.udp_gro),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "UDP_GRO",
            phases: SOCKET,
            set: |s, _, k| k.udp_gro.then(|| opts::set_udp_gro(s, true)),
            read: |s, _, e| e.udp_gro = opts::udp_gro(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "udp_gro_eff",
            cell: |e| Cell::of(e.receiving.and_then(|k| k.effective.udp_gro)),
        }],
    },
    Knob {
        key: "cpu_affinity",
        help: "Pin both sides' traffic threads to CPUs, e.g. 1 or 0,1 (per side: --set sender.cpu_affinity=0) [default: not pinned]",
        takes: Takes::Value {
            name: "CPUS",
            choices: &[],
        },
        example: "0,1",
        applies: Applies::Every,
        parse: |k, v| { k.cpus = Some(parse_cpus(v)?); Ok(()) },
        show: |k| {
            k.cpus.as_ref().map(|c| {
                c.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            })
        },
        check: check_cpus,
        sockopt: None,
        columns: &[
            Column {
                name: "sender_cpus",
                cell: |e| Cell::Text(e.cpus[0].to_string()),
            },
            Column {
                name: "receiver_cpus",
                cell: |e| Cell::Text(e.cpus[1].to_string()),
            },
        ],
    },
    Knob {
        key: "zerocopy",
        help: "MSG_ZEROCOPY on tcp stream sends, completions counted (and copies reported) [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Tcp,
        parse: |k, v| { k.zerocopy = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.zerocopy),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "SO_ZEROCOPY",
            phases: SOCKET,
            set: |s, _, k| k.zerocopy.then(|| opts::set_zerocopy(s, true)),
            read: |s, _, e| e.zerocopy = opts::zerocopy(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "zerocopy_eff",
            cell: |e| Cell::of(e.sent(|k| k.effective.zerocopy)),
        }],
    },
    Knob {
        key: "spin",
        help: "User-space busy polling: spin on non-blocking sockets instead of sleeping (both sides; per side: --set sender.spin=true) [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Every,
        parse: |k, v| { k.spin = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.spin),
        check: no_check,
        sockopt: None,
        columns: &[
            Column {
                name: "sender_spin",
                cell: |e| Cell::Bool(e.sender.spin),
            },
            Column {
                name: "receiver_spin",
                cell: |e| Cell::Bool(e.receiver.spin),
            },
        ],
    },
    Knob {
        key: "sendfile",
        help: "Stream sends with sendfile(2) from an in-memory file [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Every,
        parse: |k, v| { k.sendfile = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.sendfile),
        check: no_check,
        sockopt: None,
        columns: &[Column {
            name: "sendfile",
            cell: |e| Cell::Bool(e.sending.is_some_and(|k| k.requested.sendfile)),
        }],
    },
    Knob {
        key: "splice",
        help: "Byte streams through a pipe with splice(2): sends from an in-memory file, receives into /dev/null [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Every,
        parse: |k, v| { k.splice = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.splice),
        check: no_check,
        sockopt: None,
        columns: &[
            Column {
                name: "spliced_bytes_sent",
                cell: |e| Cell::of(e.spliced[0]),
            },
            Column {
                name: "spliced_bytes_received",
                cell: |e| Cell::of(e.spliced[1]),
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_has_a_flag_a_key_columns_and_a_parser_that_round_trips() {
        let mut keys = std::collections::HashSet::new();
        for k in KNOBS {
            assert!(keys.insert(k.key), "{}: twice in the table", k.key);
            assert!(
                k.key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}: a key is lower case with _",
                k.key
            );
            assert_eq!(k.flag(), format!("--{}", k.key.replace('_', "-")));
            assert!(
                k.help.contains("[default:"),
                "{}: no default in the help",
                k.key
            );
            assert!(!k.columns.is_empty(), "{}: no summary.csv column", k.key);
            let mut set = SocketKnobs::default();
            assert!(!k.is_set(&set), "{}: set by default", k.key);
            (k.parse)(&mut set, k.example).unwrap_or_else(|e| panic!("{}: {e}", k.key));
            let shown = (k.show)(&set).unwrap_or_else(|| panic!("{}: not shown", k.key));
            let mut again = SocketKnobs::default();
            (k.parse)(&mut again, &shown).unwrap_or_else(|e| panic!("{}: {e}", k.key));
            assert_eq!(set, again, "{}: '{}' shown as '{shown}'", k.key, k.example);
            assert!((k.parse)(&mut again, "?").is_err(), "{}: took '?'", k.key);
            if let Some(o) = &k.sockopt {
                assert!(!o.phases.is_empty(), "{}: never set", k.key);
            }
        }
    }

    #[test]
    fn switches_are_off_unless_turned_on() {
        for k in KNOBS.iter().filter(|k| k.takes == Takes::Switch) {
            let mut set = SocketKnobs::default();
            (k.parse)(&mut set, "false").unwrap();
            assert!(!k.is_set(&set), "{}", k.key);
            (k.parse)(&mut set, "on").unwrap();
            assert!(k.is_set(&set), "{}", k.key);
        }
    }

    #[test]
    fn range_checks_name_the_flag() {
        let k = SocketKnobs {
            mss: Some(10),
            busy_poll_us: Some(2_000_000),
            ..SocketKnobs::default()
        };
        let errors: Vec<String> = KNOBS
            .iter()
            .filter_map(|knob| (knob.check)(&k).err())
            .map(|e| e.0)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("--mss 10"), "{errors:?}");
        assert!(errors[1].starts_with("--busy-poll"), "{errors:?}");
    }
}
