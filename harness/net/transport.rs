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
use crate::spec::config::{ConfigError, ConnKind, ConnPlan, Protocol, Side, SocketKnobs, TestSpec};
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
        ConfigError(format!("protocol {proto}: {why} (socket(): {e})"))
    })?;
    if matches!(proto, Protocol::Sctp | Protocol::Dccp) {
        return Err(ConfigError(format!(
            "protocol {proto}: this kernel has it, but sockbench does not drive {proto}"
        )));
    }
    for k in knobs {
        sockopt::apply(&sock, proto, domain, k, Phase::BeforeConnect)
            .map_err(|e| ConfigError(format!("{proto}: {e}")))?;
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

/// The receiver's data endpoints of one test, open and waiting for the sender.
pub struct ServerData {
    /// Byte streams: the listening sockets, connections dealt over them by id.
    listeners: Vec<Socket>,
    /// Datagrams: a socket per connection, in plan order.
    dgram: Vec<Socket>,
    domain: Domain,
    warnings: Vec<String>,
    paths: Vec<PathGuard>,
}

impl ServerData {
    /// Opens the data endpoints for `spec` on `local_ip` (the address the control
    /// connection arrived at). Returns them and what to tell the sender, an endpoint per
    /// connection of the plan.
    pub fn open(
        spec: &TestSpec,
        local_ip: IpAddr,
        token: u64,
        data_ports: Option<(u16, u16)>,
    ) -> Result<(ServerData, Vec<DataEndpoint>), TransportError> {
        let domain = if spec.protocol.is_unix() {
            Domain::UNIX
        } else {
            domain_of(local_ip)
        };
        let mut data = ServerData {
            listeners: Vec::new(),
            dgram: Vec::new(),
            domain,
            warnings: Vec::new(),
            paths: Vec::new(),
        };
        let at = Bind {
            spec,
            local_ip,
            token,
            data_ports,
        };
        let endpoints = if spec.protocol.is_datagram() {
            data.open_dgram(&at)?
        } else {
            data.open_listeners(&at)?
        };
        Ok((data, endpoints))
    }

    /// A socket per connection, bound each to a port (or path) of its own.
    fn open_dgram(&mut self, at: &Bind) -> Result<Vec<DataEndpoint>, TransportError> {
        let plan = at.spec.conn_plan();
        let mut endpoints = Vec::with_capacity(plan.len());
        for conn in &plan {
            let (sock, endpoint) = self.bound(at, "s", conn.id)?;
            self.dgram.push(sock);
            endpoints.push(endpoint);
        }
        Ok(endpoints)
    }

    /// One listener per [`CONNS_PER_LISTENER`] connections (a single one for Unix
    /// sockets, which have no ports to run out of), the connections dealt over them by
    /// id. A `--data-ports` range with fewer free ports than that gets fewer listeners.
    fn open_listeners(&mut self, at: &Bind) -> Result<Vec<DataEndpoint>, TransportError> {
        let plan = at.spec.conn_plan();
        let wanted = if at.spec.protocol.is_unix() {
            1
        } else {
            plan.len().div_ceil(CONNS_PER_LISTENER).max(1)
        };
        let mut own = Vec::with_capacity(wanted);
        for i in 0..wanted {
            let (sock, endpoint) = match self.bound(at, "listen", i as u32) {
                Ok(bound) => bound,
                Err(TransportError::NoFreePort { .. }) if i > 0 => break,
                Err(e) => return Err(e),
            };
            // The kernel caps the backlog at net.core.somaxconn.
            let backlog = (plan.len().div_ceil(wanted) + 16).min(i32::MAX as usize) as i32;
            sock.listen(backlog).map_err(TransportError::Listen)?;
            self.listeners.push(sock);
            own.push(endpoint);
        }
        Ok(plan
            .iter()
            .map(|c| own[c.id as usize % own.len()].clone())
            .collect())
    }

    /// A data socket configured with the receiver's knobs and bound: to a fresh Unix path
    /// (removed when the test ends), or to the control connection's address with a port
    /// of the `--data-ports` range or any port.
    fn bound(
        &mut self,
        at: &Bind,
        tag: &str,
        id: u32,
    ) -> Result<(Socket, DataEndpoint), TransportError> {
        let spec = at.spec;
        let sock = new_socket(spec.protocol, self.domain).map_err(TransportError::Socket)?;
        let warnings = sockopt::apply(
            &sock,
            spec.protocol,
            self.domain,
            &spec.receiver,
            Phase::BeforeConnect,
        )?;
        for w in warnings {
            // Every data socket of a side has the same knobs, and so the same warnings.
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        if spec.protocol.is_unix() {
            let path = unix_path(at.token, tag, id);
            let _ = std::fs::remove_file(&path);
            let addr = unix_addr(&path)?;
            self.paths.push(PathGuard(path.clone()));
            sock.bind(&addr).map_err(TransportError::Bind)?;
            let endpoint = DataEndpoint::Path(path.to_string_lossy().into_owned());
            return Ok((sock, endpoint));
        }
        match at.data_ports {
            // A port range for firewalls: the first free port in it.
            Some((low, high)) => {
                let bound = (low..=high).any(|port| {
                    sock.bind(&SocketAddr::new(at.local_ip, port).into())
                        .is_ok()
                });
                if !bound {
                    return Err(TransportError::NoFreePort { low, high });
                }
            }
            None => sock
                .bind(&SocketAddr::new(at.local_ip, 0).into())
                .map_err(TransportError::Bind)?,
        }
        let endpoint = DataEndpoint::Port(local_port(&sock)?);
        Ok((sock, endpoint))
    }

    /// Waits until every connection of the plan is attached (or `deadline`).
    pub fn attach(
        mut self,
        spec: &TestSpec,
        token: u64,
        deadline: Instant,
        cancel: &AtomicBool,
    ) -> Result<Vec<DataConn>, TransportError> {
        let plan = spec.conn_plan();
        let mut conns = if self.listeners.is_empty() {
            self.attach_dgram(spec, &plan, token, (deadline, cancel))?
        } else {
            self.attach_streams(spec, &plan, token, (deadline, cancel))?
        };
        // crr transactions keep arriving on the listeners after the attach.
        if conns.iter().any(|c| c.plan.kind == ConnKind::Crr) {
            let shared: Vec<Arc<Socket>> = self.listeners.drain(..).map(Arc::new).collect();
            let paths = Arc::new(std::mem::take(&mut self.paths));
            for c in conns.iter_mut().filter(|c| c.plan.kind == ConnKind::Crr) {
                c.listener = Some(shared[c.plan.id as usize % shared.len()].clone());
                c._paths = Some(paths.clone());
            }
        }
        Ok(conns)
    }

    /// Accepts and identifies the stream connections, on every listener at once.
    fn attach_streams(
        &self,
        spec: &TestSpec,
        plan: &[ConnPlan],
        token: u64,
        (deadline, cancel): (Instant, &AtomicBool),
    ) -> Result<Vec<DataConn>, TransportError> {
        for l in &self.listeners {
            l.set_nonblocking(true).map_err(TransportError::Accept)?;
        }
        let mut slots: Vec<Option<DataConn>> = (0..plan.len()).map(|_| None).collect();
        // Connections are identified concurrently: a stranger that connects and says
        // nothing holds up no one, and is closed after GREETING_DEADLINE.
        let mut greeting = Greeting::new(token, plan.len().min(4096) + 256);
        let mut attached = 0;
        while attached < plan.len() {
            if cancel.load(Ordering::Relaxed) {
                return Err(TransportError::Cancelled);
            }
            if Instant::now() >= deadline {
                return Err(TransportError::Late {
                    attached,
                    wanted: plan.len(),
                });
            }
            greeting.wait_any(&self.listeners, Duration::from_millis(100));
            for l in &self.listeners {
                greeting.accept_all(l).map_err(TransportError::Accept)?;
            }
            while let Some((sock, id)) = greeting.ready() {
                let Some(conn) = plan.get(id as usize).copied() else {
                    continue;
                };
                if slots[id as usize].is_some() {
                    continue;
                }
                slots[id as usize] = Some(self.accepted(sock, conn, spec, token)?);
                attached += 1;
            }
        }
        Ok(slots.into_iter().flatten().collect())
    }

    fn accepted(
        &self,
        sock: Socket,
        conn: ConnPlan,
        spec: &TestSpec,
        token: u64,
    ) -> Result<DataConn, TransportError> {
        let (proto, domain) = (spec.protocol, self.domain);
        let mut warnings = self.warnings.clone();
        warnings.extend(sockopt::apply(
            &sock,
            proto,
            domain,
            &spec.receiver,
            Phase::Accepted,
        )?);
        finish_conn(sock, conn, spec, Side::Receiver, domain, token, warnings)
    }

    /// Waits for each datagram socket's hello, in plan order.
    fn attach_dgram(
        &mut self,
        spec: &TestSpec,
        plan: &[ConnPlan],
        token: u64,
        (deadline, cancel): (Instant, &AtomicBool),
    ) -> Result<Vec<DataConn>, TransportError> {
        let mut conns = Vec::with_capacity(plan.len());
        for (sock, conn) in std::mem::take(&mut self.dgram).into_iter().zip(plan) {
            dgram_await_hello(&sock, conn.id, token, deadline, cancel)?;
            conns.push(finish_conn(
                sock,
                *conn,
                spec,
                Side::Receiver,
                self.domain,
                token,
                self.warnings.clone(),
            )?);
        }
        Ok(conns)
    }
}

/// Where and how a receiver binds its data sockets.
struct Bind<'a> {
    spec: &'a TestSpec,
    local_ip: IpAddr,
    token: u64,
    data_ports: Option<(u16, u16)>,
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

/// Accepts one connection, waiting at most `wait`. The listener is non-blocking and the
/// wait is a poll, because SO_RCVTIMEO does not bound accept on every protocol: an MPTCP
/// listener accepts on its first subflow, which never sees the timeout.
pub fn accept_within(listener: &Socket, wait: Duration) -> io::Result<Option<Socket>> {
    crate::sys::poll::wait_fd(listener, false, wait);
    match listener.accept() {
        Ok((s, _)) => {
            // An accepted socket inherits O_NONBLOCK on some paths: the roles want timeouts.
            s.set_nonblocking(false)?;
            Ok(Some(s))
        }
        Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

/// How long an accepted data connection has to send its header.
pub const GREETING_DEADLINE: Duration = Duration::from_secs(2);

/// Accepted stream data connections that have not sent their header yet. They are
/// identified side by side, without blocking on any one, so that a stranger on a data
/// port costs nobody a wait; a connection with a wrong header, or none within
/// [`GREETING_DEADLINE`], is closed.
pub struct Greeting {
    token: u64,
    /// Connections whose header has not arrived whole yet, oldest first.
    waiting: std::collections::VecDeque<(Socket, Instant)>,
    /// Connections identified, not yet taken.
    ready: std::collections::VecDeque<(Socket, u32)>,
    /// Most connections waiting at once; beyond, the oldest is closed.
    cap: usize,
}

/// What a connection's first bytes say.
enum Header {
    /// One of ours: its connection id.
    Ours(u32),
    /// Not whole yet.
    Incomplete,
    /// Wrong, closed or failed.
    Bad,
}

impl Greeting {
    /// `cap`: connections allowed to wait for their header at once.
    pub fn new(token: u64, cap: usize) -> Greeting {
        Greeting {
            token,
            waiting: std::collections::VecDeque::new(),
            ready: std::collections::VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Reads a connection's header if it has arrived whole, without blocking.
    fn header(&self, sock: &Socket) -> Header {
        let mut hdr = [0u8; STREAM_HEADER_LEN];
        match sys_socket::peek_nowait(sock, &mut hdr) {
            Ok(n) if n >= STREAM_HEADER_LEN => {
                if (&*sock).read_exact(&mut hdr).is_err() {
                    return Header::Bad;
                }
                match parse_stream_header(&hdr, self.token) {
                    Some(id) => Header::Ours(id),
                    None => Header::Bad,
                }
            }
            Ok(n) if n > 0 => Header::Incomplete,
            Err(e) if is_timeout(&e) => Header::Incomplete,
            _ => Header::Bad,
        }
    }

    /// Sorts a newly accepted or still waiting connection: ready, waiting, or closed.
    fn sort(&mut self, sock: Socket, since: Instant, now: Instant) {
        match self.header(&sock) {
            Header::Ours(id) if sock.set_nonblocking(false).is_ok() => {
                self.ready.push_back((sock, id));
            }
            Header::Incomplete if now.duration_since(since) <= GREETING_DEADLINE => {
                if self.waiting.len() >= self.cap {
                    self.waiting.pop_front();
                }
                self.waiting.push_back((sock, since));
            }
            _ => {}
        }
    }

    /// Accepts every connection waiting on a non-blocking listener.
    pub fn accept_all(&mut self, listener: &Socket) -> io::Result<()> {
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    let now = Instant::now();
                    self.sort(s, now, now);
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                // Out of descriptors, or a connection reset before it was accepted: the
                // ones already here go on; the caller's deadline bounds the wait.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(errno::EMFILE | errno::ENFILE | errno::ECONNABORTED | errno::ENOBUFS)
                    ) =>
                {
                    return Ok(())
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the listener or a waiting connection has something to read, at most
    /// `wait`.
    pub fn wait(&self, listener: &Socket, wait: Duration) {
        self.wait_any(std::slice::from_ref(listener), wait);
    }

    /// Waits until one of the listeners or a waiting connection has something to read, at
    /// most `wait`.
    pub fn wait_any(&self, listeners: &[Socket], wait: Duration) {
        if !self.ready.is_empty() {
            return;
        }
        let fds = listeners.iter().chain(self.waiting.iter().map(|(s, _)| s));
        sys_socket::wait_readable(fds, wait);
    }

    /// The next connection whose header has arrived with this test's token, with its
    /// connection id. Closes the ones that failed or ran late.
    pub fn ready(&mut self) -> Option<(Socket, u32)> {
        if self.ready.is_empty() && !self.waiting.is_empty() {
            let now = Instant::now();
            for (sock, since) in std::mem::take(&mut self.waiting) {
                self.sort(sock, since, now);
            }
        }
        self.ready.pop_front()
    }

    /// Connections still waiting for their header.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
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

fn dgram_await_hello(
    sock: &Socket,
    conn: u32,
    token: u64,
    deadline: Instant,
    cancel: &AtomicBool,
) -> Result<(), TransportError> {
    let failed = TransportError::conn;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(failed(conn))?;
    let mut buf = [0u8; 64];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(TransportError::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(TransportError::NoHello { conn });
        }
        let (n, from) = match sock.recv_from(as_uninit(&mut buf)) {
            Ok(r) => r,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(conn)(e)),
        };
        if let Some((tok, dgram::HELLO, c)) = dgram::header(&buf[..n]) {
            if tok == token && c == conn {
                sock.connect(&from).map_err(failed(conn))?;
                let mut ack = [0u8; 16];
                dgram::put_header(&mut ack, token, dgram::HELLO_ACK, conn);
                sock.send(&ack).map_err(failed(conn))?;
                return Ok(());
            }
        }
    }
}

/// The sender's end: connects every connection of the plan to the receiver's endpoints.
pub struct ClientData {
    pub conns: Vec<DataConn>,
    _paths: Vec<PathGuard>,
}

/// What every connection of one sender's attach shares.
struct Dial<'a> {
    spec: &'a TestSpec,
    server_ip: IpAddr,
    token: u64,
    deadline: Instant,
}

impl ClientData {
    pub fn attach(
        spec: &TestSpec,
        server_ip: IpAddr,
        endpoints: &[DataEndpoint],
        token: u64,
        deadline: Instant,
    ) -> Result<ClientData, TransportError> {
        let plan = spec.conn_plan();
        if endpoints.len() != plan.len() {
            return Err(TransportError::EndpointCount {
                offered: endpoints.len(),
                wanted: plan.len(),
            });
        }
        let dial = Dial {
            spec,
            server_ip,
            token,
            deadline,
        };
        let mut out = ClientData {
            conns: Vec::with_capacity(plan.len()),
            _paths: Vec::new(),
        };
        for (conn, endpoint) in plan.iter().zip(endpoints) {
            let dc = out.connect(&dial, *conn, endpoint)?;
            out.conns.push(dc);
        }
        Ok(out)
    }

    /// Opens, configures and connects one connection, and identifies it to the receiver.
    fn connect(
        &mut self,
        dial: &Dial,
        conn: ConnPlan,
        endpoint: &DataEndpoint,
    ) -> Result<DataConn, TransportError> {
        let spec = dial.spec;
        let (addr, domain) = peer_addr(spec.protocol, dial.server_ip, endpoint)?;
        let sock = new_socket(spec.protocol, domain).map_err(TransportError::Socket)?;
        let warnings = sockopt::apply(
            &sock,
            spec.protocol,
            domain,
            &spec.sender,
            Phase::BeforeConnect,
        )?;
        if spec.protocol == Protocol::UnixDgram {
            // A Unix datagram socket needs a name of its own to be answered.
            let path = unix_path(dial.token, "c", conn.id);
            let _ = std::fs::remove_file(&path);
            sock.bind(&unix_addr(&path)?)
                .map_err(|error| TransportError::BindPath {
                    path: path.clone(),
                    error,
                })?;
            self._paths.push(PathGuard(path));
        }
        let source = loopback_source(dial.server_ip, conn.id).filter(|_| spec.protocol.is_ip());
        if let Some(source) = source {
            if !spec.protocol.is_datagram() {
                crate::sys::socket::set_bind_address_no_port(&sock, true)
                    .map_err(TransportError::Bind)?;
            }
            sock.bind(&source.into()).map_err(TransportError::Bind)?;
        }
        let refused = |error| connect_error(endpoint, error);
        if spec.protocol.is_datagram() {
            sock.connect(&addr).map_err(refused)?;
            dgram_hello(&sock, conn.id, dial.token, dial.deadline)?;
        } else {
            connect_within(&sock, &addr, dial.deadline).map_err(refused)?;
            (&sock)
                .write_all(&stream_header(conn.id, dial.token))
                .map_err(TransportError::conn(conn.id))?;
        }
        let mut dc = finish_conn(sock, conn, spec, Side::Sender, domain, dial.token, warnings)?;
        if conn.kind == ConnKind::Crr {
            dc.peer = Some(addr);
        }
        Ok(dc)
    }
}

/// Connects a stream socket, waiting at most until `deadline` (and 10 s). A blocking
/// connect bounded by SO_SNDTIMEO, which Linux applies to connect: three system calls,
/// where socket2's connect_timeout makes seven (O_NONBLOCK on and off, a poll, SO_ERROR),
/// which counts at 100,000 connections.
fn connect_within(sock: &Socket, addr: &SockAddr, deadline: Instant) -> io::Result<()> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(10), Duration::from_secs(10));
    sock.set_write_timeout(Some(left))?;
    match sock.connect(addr) {
        Ok(()) => sock.set_write_timeout(None),
        // The timeout ran out with the handshake still under way.
        Err(e) if e.raw_os_error() == Some(errno::EINPROGRESS) || is_timeout(&e) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))
        }
        Err(e) => Err(e),
    }
}

/// Where a sender's data connection to an IPv4 loopback receiver comes from: an address
/// of 127.1.0.0/16, one per [`CONNS_PER_LISTENER`] connections, not the 127.0.0.1 every
/// other local program binds. The ports of the connections that close first stay taken
/// for a minute (TIME_WAIT) after a test: on 127.0.0.1, 100,000 of them would leave no
/// free port for the next `bind` to port 0 on that address, even the next test's
/// receiver's; and each source address has its own range of ephemeral ports.
fn loopback_source(server_ip: IpAddr, conn: u32) -> Option<SocketAddr> {
    let IpAddr::V4(ip) = server_ip else {
        return None;
    };
    if !ip.is_loopback() {
        return None;
    }
    let group = (conn as usize / CONNS_PER_LISTENER).min(0xffff) as u32;
    let source = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(127, 1, 0, 0)) + group);
    Some(SocketAddr::new(source.into(), 0))
}

/// The address an endpoint names, and its domain.
fn peer_addr(
    proto: Protocol,
    server_ip: IpAddr,
    endpoint: &DataEndpoint,
) -> Result<(SockAddr, Domain), TransportError> {
    match endpoint {
        DataEndpoint::Port(p) if proto.is_ip() => Ok((
            SockAddr::from(SocketAddr::new(server_ip, *p)),
            domain_of(server_ip),
        )),
        DataEndpoint::Path(p) if proto.is_unix() => Ok((unix_addr(p.as_ref())?, Domain::UNIX)),
        other => Err(TransportError::WrongEndpoint {
            endpoint: other.clone(),
            proto,
        }),
    }
}

fn connect_error(endpoint: &DataEndpoint, error: io::Error) -> TransportError {
    match endpoint {
        DataEndpoint::Port(port) => TransportError::ConnectPort { port: *port, error },
        DataEndpoint::Path(path) => TransportError::ConnectPath {
            path: path.clone(),
            error,
        },
    }
}

fn dgram_hello(
    sock: &Socket,
    conn: u32,
    token: u64,
    deadline: Instant,
) -> Result<(), TransportError> {
    let failed = TransportError::conn;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(failed(conn))?;
    let mut hello = [0u8; 16];
    dgram::put_header(&mut hello, token, dgram::HELLO, conn);
    let mut buf = [0u8; 64];
    loop {
        if Instant::now() >= deadline {
            return Err(TransportError::NoHelloAck { conn });
        }
        if let Err(e) = sock.send(&hello) {
            // ECONNREFUSED: an ICMP error from an earlier hello; the port may open later.
            if e.raw_os_error() != Some(errno::ECONNREFUSED) {
                return Err(failed(conn)(e));
            }
        }
        match sock.recv(as_uninit(&mut buf)) {
            Ok(n) => {
                if let Some((tok, dgram::HELLO_ACK, c)) = dgram::header(&buf[..n]) {
                    if tok == token && c == conn {
                        return Ok(());
                    }
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(errno::ECONNREFUSED) => {}
            Err(e) => return Err(failed(conn)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dgram_header_round_trips() {
        let mut buf = [0u8; 32];
        dgram::put_header(&mut buf, 123456789, dgram::DATA, 7);
        assert_eq!(dgram::header(&buf), Some((123456789, dgram::DATA, 7)));
        assert_eq!(dgram::header(&buf[..15]), None);
    }

    #[test]
    fn probe_refuses_missing_protocols_and_bad_knobs() {
        assert!(probe(Protocol::Tcp, &[&SocketKnobs::default()]).is_ok());
        let err = probe(Protocol::Dccp, &[]).unwrap_err().to_string();
        assert!(err.starts_with("protocol dccp:"), "{err}");
        let bad = SocketKnobs {
            congestion: Some("warp-drive".into()),
            ..Default::default()
        };
        let err = probe(Protocol::Tcp, &[&bad]).unwrap_err().to_string();
        assert!(err.contains("TCP_CONGESTION=warp-drive"), "{err}");
    }

    #[test]
    fn server_and_client_attach_every_protocol() {
        for proto in [
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::UnixStream,
            Protocol::UnixDgram,
        ] {
            let spec = TestSpec {
                protocol: proto,
                flows: 3,
                msg_size: 1000,
                ..TestSpec::default()
            };
            let token = 0xfeed_beef;
            let ip: IpAddr = "127.0.0.1".parse().unwrap();
            let (server, endpoints) = ServerData::open(&spec, ip, token, None).unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            let spec2 = spec.clone();
            let t = std::thread::spawn(move || {
                server.attach(&spec2, token, deadline, &AtomicBool::new(false))
            });
            let client = ClientData::attach(&spec, ip, &endpoints, token, deadline).unwrap();
            let server_conns = t.join().unwrap().unwrap();
            assert_eq!(client.conns.len(), 3, "{proto}");
            assert_eq!(server_conns.len(), 3, "{proto}");
            for (i, c) in server_conns.iter().enumerate() {
                assert_eq!(c.plan.id, i as u32);
            }
        }
    }

    /// Connections beyond CONNS_PER_LISTENER are dealt over several listening ports, each
    /// attached connection lands in its own slot, and on loopback they come from
    /// 127.1.0.0/16.
    #[test]
    fn many_connections_spread_over_listeners() {
        let flows = 2 * CONNS_PER_LISTENER + 1;
        let spec = TestSpec {
            flows: flows as u32,
            msg_size: 1000,
            ..TestSpec::default()
        };
        let token = 0x5ca1e;
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (server, endpoints) = ServerData::open(&spec, ip, token, None).unwrap();
        let mut ports = endpoints.clone();
        ports.sort_by_key(|e| format!("{e:?}"));
        ports.dedup();
        assert_eq!(ports.len(), 3, "{ports:?}");
        assert_eq!(endpoints[0], endpoints[3]);
        let deadline = Instant::now() + Duration::from_secs(30);
        let spec2 = spec.clone();
        let t = std::thread::spawn(move || {
            server.attach(&spec2, token, deadline, &AtomicBool::new(false))
        });
        let client = ClientData::attach(&spec, ip, &endpoints, token, deadline).unwrap();
        let server_conns = t.join().unwrap().unwrap();
        assert_eq!(client.conns.len(), flows);
        assert_eq!(server_conns.len(), flows);
        for (i, c) in server_conns.iter().enumerate() {
            assert_eq!(c.plan.id, i as u32);
            let peer = c.sock.peer_addr().unwrap().as_socket().unwrap();
            let group = (i / CONNS_PER_LISTENER) as u8;
            assert_eq!(peer.ip(), IpAddr::from([127, 1, 0, group]));
            let local = c.sock.local_addr().unwrap().as_socket().unwrap();
            assert_eq!(endpoints[i], DataEndpoint::Port(local.port()));
        }
    }

    /// A --data-ports range with fewer ports than listeners wanted: the ports it has take
    /// all the connections.
    #[test]
    fn a_narrow_data_port_range_takes_all_connections() {
        let spec = TestSpec {
            flows: (3 * CONNS_PER_LISTENER) as u32,
            ..TestSpec::default()
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let low = probe.local_addr().unwrap().port();
        drop(probe);
        let (_server, endpoints) = ServerData::open(&spec, ip, 1, Some((low, low))).unwrap();
        assert!(endpoints.iter().all(|e| *e == DataEndpoint::Port(low)));
    }
}
