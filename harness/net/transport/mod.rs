//! Data sockets: creating them for each protocol, and attaching the two ends of every
//! connection of a test's plan. Stream connections open with a 16-byte header naming the
//! test (its token) and the connection; datagram sockets exchange a hello and its ack,
//! which also tells the receiver where to send (reverse direction, responses).
//!
//! Many connections: the receiver listens on one port per [`CONNS_PER_LISTENER`]
//! connections and deals the connections over them, so that the sender's ephemeral ports
//! (a range of 28,232 by default, shared by every connection to one address and port) do
//! not run out and the kernel's search for a free one stays short.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProto, SockAddr, Socket, Type};
use thiserror::Error;

use crate::net::control::DataEndpoint;
use crate::net::sockopt::{self, AppliedKnobs, KnobError, Phase};
use crate::spec::config::{ConfigError, ConnPlan, Protocol, Side, SocketKnobs, TestSpec};
pub use crate::sys::socket::as_uninit;
use crate::sys::{errno, socket as sys_socket};

const STREAM_MAGIC: u32 = 0x5342_4454; // "SBDT"
pub const STREAM_HEADER_LEN: usize = 16;

/// Connections the receiver deals to one listening port, at most. Linux looks for a free
/// ephemeral port for each connect from the sender's range (`net.ipv4.ip_local_port_range`,
/// 28,232 ports by default) among those not yet used towards that address and port, and
/// the search grows long as the range fills (at 19,000 connections to one port it took
/// most of the attach time): a few thousand a port keeps it short, and a test of 100,000
/// connections far from running out.
pub const CONNS_PER_LISTENER: usize = 2048;

/// Setting up and attaching data connections.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("data socket: {0}")]
    Socket(io::Error),
    #[error(transparent)]
    Knob(#[from] KnobError),
    #[error("binding a data socket: {0}")]
    Bind(io::Error),
    #[error("binding {}: {error}", path.display())]
    BindPath { path: PathBuf, error: io::Error },
    #[error("no free data port in {low}-{high} (--data-ports)")]
    NoFreePort { low: u16, high: u16 },
    #[error("listen: {0}")]
    Listen(io::Error),
    #[error("data socket has no port")]
    NoPort,
    #[error("the Unix socket path {}: {error}", path.display())]
    UnixPath { path: PathBuf, error: io::Error },
    #[error("the test was called off before it started")]
    Cancelled,
    #[error("only {attached} of {wanted} data connections arrived in time")]
    Late { attached: usize, wanted: usize },
    #[error("accepting a data connection: {0}")]
    Accept(io::Error),
    #[error("data connection {conn}: no hello from the sender in time")]
    NoHello { conn: u32 },
    #[error("data connection {conn}: its hello came from {from}, not from {control}, the control connection's address, and was refused (a NAT that gives UDP another address than TCP, or a forged hello)")]
    HelloElsewhere {
        conn: u32,
        from: IpAddr,
        control: IpAddr,
    },
    #[error("data connection {conn}: the receiver did not answer the hello")]
    NoHelloAck { conn: u32 },
    #[error("data connection {conn}: {error}")]
    Conn { conn: u32, error: io::Error },
    #[error("the receiver offered {offered} data endpoints for {wanted} connections")]
    EndpointCount { offered: usize, wanted: usize },
    #[error("the receiver offered {endpoint:?} for {proto}")]
    WrongEndpoint {
        endpoint: DataEndpoint,
        proto: Protocol,
    },
    #[error("connecting to the receiver's data port {port}: {error}")]
    ConnectPort { port: u16, error: io::Error },
    #[error("connecting to {path}: {error}")]
    ConnectPath { path: String, error: io::Error },
}

impl TransportError {
    fn conn(conn: u32) -> impl FnOnce(io::Error) -> TransportError {
        move |error| TransportError::Conn { conn, error }
    }
}

/// For callers that still carry errors as text (the session layer, until it has typed
/// errors of its own): `?` turns a transport error into its message.
impl From<TransportError> for String {
    fn from(e: TransportError) -> String {
        e.to_string()
    }
}

/// Kinds of datagram, in the header's kind field.
pub mod dgram {
    pub const DATA: u32 = 1;
    pub const END: u32 = 2;
    pub const HELLO: u32 = 3;
    pub const HELLO_ACK: u32 = 4;
    pub const REQUEST: u32 = 5;
    pub const RESPONSE: u32 = 6;

    /// Writes the 16-byte header: sequence number, kind, connection id (little-endian).
    #[inline]
    pub fn put_header(buf: &mut [u8], seq: u64, kind: u32, conn: u32) {
        buf[0..8].copy_from_slice(&seq.to_le_bytes());
        buf[8..12].copy_from_slice(&kind.to_le_bytes());
        buf[12..16].copy_from_slice(&conn.to_le_bytes());
    }

    /// Reads the header of a datagram of at least 16 bytes; shorter ones are not ours.
    #[inline]
    pub fn header(buf: &[u8]) -> Option<(u64, u32, u32)> {
        if buf.len() < 16 {
            return None;
        }
        let seq = u64::from_le_bytes(buf[0..8].try_into().ok()?);
        let kind = u32::from_le_bytes(buf[8..12].try_into().ok()?);
        let conn = u32::from_le_bytes(buf[12..16].try_into().ok()?);
        Some((seq, kind, conn))
    }
}

/// One attached end of a data connection.
#[derive(Debug)]
pub struct DataConn {
    pub sock: Socket,
    pub plan: ConnPlan,
    pub domain: Domain,
    pub knobs: AppliedKnobs,
    /// The test's token, which every new connection of a crr test presents.
    pub token: u64,
    /// Sender side of crr: where to connect each transaction.
    pub peer: Option<SockAddr>,
    /// Receiver side of crr: the listener this connection's transactions arrive on (the
    /// one its endpoint named).
    pub listener: Option<Arc<Socket>>,
    /// Receiver side of crr over Unix sockets: the listener's path, kept until the test's
    /// last role ends.
    pub _paths: Option<Arc<Vec<PathGuard>>>,
}

/// Removes a Unix socket path when dropped.
#[derive(Debug)]
pub struct PathGuard(pub PathBuf);

impl Drop for PathGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Opens an unconnected socket of `proto`.
pub fn new_socket(proto: Protocol, domain: Domain) -> io::Result<Socket> {
    open_socket(proto, domain, false)
}

/// A new data socket of `proto`, non-blocking from its birth (an epoll driver's crr
/// connection: no fcntl per transaction).
pub fn new_nonblocking_socket(proto: Protocol, domain: Domain) -> io::Result<Socket> {
    open_socket(proto, domain, true)
}

fn open_socket(proto: Protocol, domain: Domain, nonblocking: bool) -> io::Result<Socket> {
    let (domain, ty, p) = match proto {
        Protocol::Tcp => (domain, Type::STREAM, Some(SockProto::TCP)),
        Protocol::Udp => (domain, Type::DGRAM, Some(SockProto::UDP)),
        Protocol::UnixStream => (Domain::UNIX, Type::STREAM, None),
        Protocol::UnixDgram => (Domain::UNIX, Type::DGRAM, None),
        Protocol::Mptcp => return sys_socket::mptcp(domain, nonblocking),
        Protocol::Sctp => return sys_socket::sctp(domain, nonblocking),
        Protocol::Dccp => return sys_socket::dccp(domain, nonblocking),
    };
    sys_socket::open(domain, ty, p, nonblocking)
}

/// Checks before any traffic that this kernel has the protocol and accepts every knob,
/// by configuring a throwaway socket exactly as a data socket would be.
pub fn probe(proto: Protocol, knobs: &[&SocketKnobs]) -> Result<(), ConfigError> {
    let domain = if proto.is_unix() {
        Domain::UNIX
    } else {
        Domain::IPV4
    };
    let sock = new_socket(proto, domain).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(errno::EPROTONOSUPPORT)
            | Some(errno::ESOCKTNOSUPPORT)
            | Some(errno::EAFNOSUPPORT) => "this kernel does not support it",
            Some(errno::ENOPROTOOPT) if proto == Protocol::Mptcp => {
                "MPTCP is disabled here (sysctl net.mptcp.enabled=0)"
            }
            _ => "the kernel would not open such a socket",
        };
        ConfigError::Unsupported(format!("protocol {proto}: {why} (socket(): {e})"))
    })?;
    if matches!(proto, Protocol::Sctp | Protocol::Dccp) {
        return Err(ConfigError::Unsupported(format!(
            "protocol {proto}: this kernel has it, but sockbench does not drive {proto}"
        )));
    }
    for k in knobs {
        sockopt::apply(&sock, proto, domain, k, Phase::BeforeConnect)
            .map_err(|e| ConfigError::Unsupported(format!("{proto}: {e}")))?;
    }
    Ok(())
}

fn domain_of(ip: IpAddr) -> Domain {
    if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

fn unix_path(token: u64, tag: &str, conn: u32) -> PathBuf {
    std::env::temp_dir().join(format!(
        "sockbench-{}-{token:016x}-{tag}{conn}.sock",
        std::process::id()
    ))
}

/// Applies the connected-phase knobs to an attached socket and reads back what the kernel
/// made of them all.
fn finish_conn(
    sock: Socket,
    plan: ConnPlan,
    spec: &TestSpec,
    side: Side,
    domain: Domain,
    token: u64,
    mut warnings: Vec<String>,
) -> Result<DataConn, TransportError> {
    let knobs = spec.knobs(side);
    warnings.extend(sockopt::apply(
        &sock,
        spec.protocol,
        domain,
        knobs,
        Phase::Connected,
    )?);
    let effective = sockopt::read_back(&sock, spec.protocol, domain);
    Ok(DataConn {
        sock,
        plan,
        domain,
        knobs: AppliedKnobs {
            requested: knobs.clone(),
            effective,
            warnings,
        },
        token,
        peer: None,
        listener: None,
        _paths: None,
    })
}

fn unix_addr(path: &std::path::Path) -> Result<SockAddr, TransportError> {
    SockAddr::unix(path).map_err(|error| TransportError::UnixPath {
        path: path.to_path_buf(),
        error,
    })
}

fn local_port(sock: &Socket) -> Result<u16, TransportError> {
    sock.local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .ok_or(TransportError::NoPort)
}

/// The header that opens every stream data connection: magic, connection id, token.
pub fn stream_header(conn: u32, token: u64) -> [u8; STREAM_HEADER_LEN] {
    let mut hdr = [0u8; STREAM_HEADER_LEN];
    hdr[0..4].copy_from_slice(&STREAM_MAGIC.to_le_bytes());
    hdr[4..8].copy_from_slice(&conn.to_le_bytes());
    hdr[8..16].copy_from_slice(&token.to_le_bytes());
    hdr
}

/// The connection id in a stream header, if it is one of this test's (`token`).
fn parse_stream_header(hdr: &[u8; STREAM_HEADER_LEN], token: u64) -> Option<u32> {
    let magic = u32::from_le_bytes(hdr[0..4].try_into().ok()?);
    let id = u32::from_le_bytes(hdr[4..8].try_into().ok()?);
    let tok = u64::from_le_bytes(hdr[8..16].try_into().ok()?);
    (magic == STREAM_MAGIC && tok == token).then_some(id)
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads and checks a stream connection's header; returns the connection id.
pub fn read_stream_header(sock: &Socket, token: u64) -> Option<u32> {
    sock.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut hdr = [0u8; STREAM_HEADER_LEN];
    (&*sock).read_exact(&mut hdr).ok()?;
    parse_stream_header(&hdr, token)
}

mod dial;
mod listen;
#[cfg(test)]
mod tests;

pub use dial::*;
pub use listen::*;
