//! Data sockets: creating them for each protocol, and attaching the two ends of every
//! connection of a test's plan. Stream connections open with a 16-byte header naming the
//! test (its token) and the connection; datagram sockets exchange a hello and its ack,
//! which also tells the receiver where to send (reverse direction, responses).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProto, SockAddr, Socket, Type};

use crate::net::control::DataEndpoint;
use crate::net::sockopt::{self, AppliedKnobs, Phase};
use crate::spec::config::{ConfigError, ConnKind, ConnPlan, Protocol, Side, SocketKnobs, TestSpec};

const STREAM_MAGIC: u32 = 0x5342_4454; // "SBDT"
pub const STREAM_HEADER_LEN: usize = 16;

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
    /// Receiver side of crr: the listener the transactions arrive on.
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
    match proto {
        Protocol::Tcp => Socket::new(domain, Type::STREAM, Some(SockProto::TCP)),
        Protocol::Mptcp => Socket::new(domain, Type::STREAM, Some(SockProto::MPTCP)),
        Protocol::Udp => Socket::new(domain, Type::DGRAM, Some(SockProto::UDP)),
        Protocol::UnixStream => Socket::new(Domain::UNIX, Type::STREAM, None),
        Protocol::UnixDgram => Socket::new(Domain::UNIX, Type::DGRAM, None),
        Protocol::Sctp => Socket::new(
            domain,
            Type::STREAM,
            Some(SockProto::from(libc::IPPROTO_SCTP)),
        ),
        Protocol::Dccp => Socket::new(domain, Type::from(6), Some(SockProto::from(33))),
    }
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
            Some(libc::EPROTONOSUPPORT)
            | Some(libc::ESOCKTNOSUPPORT)
            | Some(libc::EAFNOSUPPORT) => "this kernel does not support it".to_string(),
            Some(libc::ENOPROTOOPT) if proto == Protocol::Mptcp => {
                "MPTCP is disabled here (sysctl net.mptcp.enabled=0)".to_string()
            }
            _ => "the kernel would not open such a socket".to_string(),
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

fn finish_conn(
    sock: Socket,
    plan: ConnPlan,
    spec: &TestSpec,
    side: Side,
    domain: Domain,
    token: u64,
    mut warnings: Vec<String>,
) -> Result<DataConn, String> {
    let knobs = spec.knobs(side);
    warnings.extend(
        sockopt::apply(&sock, spec.protocol, domain, knobs, Phase::Connected)
            .map_err(|e| e.to_string())?,
    );
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
    listener: Option<(Socket, Domain)>,
    dgram: Vec<(Socket, Domain)>,
    warnings: Vec<String>,
    _paths: Vec<PathGuard>,
}

impl ServerData {
    /// Opens the data endpoints for `spec` on `local_ip` (the address the control
    /// connection arrived at). Returns them and what to tell the sender.
    pub fn open(
        spec: &TestSpec,
        local_ip: IpAddr,
        token: u64,
        data_ports: Option<(u16, u16)>,
    ) -> Result<(ServerData, Vec<DataEndpoint>), String> {
        let plan = spec.conn_plan();
        let knobs = &spec.receiver;
        let mut data = ServerData {
            listener: None,
            dgram: Vec::new(),
            warnings: Vec::new(),
            _paths: Vec::new(),
        };
        let mut endpoints = Vec::new();
        let domain = if spec.protocol.is_unix() {
            Domain::UNIX
        } else {
            domain_of(local_ip)
        };
        let open = |addr: &SockAddr| -> Result<(Socket, Vec<String>), String> {
            let sock =
                new_socket(spec.protocol, domain).map_err(|e| format!("data socket: {e}"))?;
            let w = sockopt::apply(&sock, spec.protocol, domain, knobs, Phase::BeforeConnect)
                .map_err(|e| e.to_string())?;
            match (addr.as_socket(), data_ports) {
                // A port range for firewalls: the first free port in it.
                (Some(inet), Some((low, high))) => {
                    let bound = (low..=high)
                        .any(|port| sock.bind(&SocketAddr::new(inet.ip(), port).into()).is_ok());
                    if !bound {
                        return Err(format!("no free data port in {low}-{high} (--data-ports)"));
                    }
                }
                _ => sock
                    .bind(addr)
                    .map_err(|e| format!("binding a data socket: {e}"))?,
            }
            Ok((sock, w))
        };
        if spec.protocol.is_datagram() {
            for conn in &plan {
                let (addr, path) =
                    endpoint_addr(spec, local_ip, token, "s", conn.id, &mut data._paths)?;
                let (sock, w) = open(&addr)?;
                let endpoint = endpoint_of(&sock, path)?;
                data.warnings.extend(w);
                data.dgram.push((sock, domain));
                endpoints.push(endpoint);
            }
        } else {
            let (addr, path) = endpoint_addr(spec, local_ip, token, "listen", 0, &mut data._paths)?;
            let (sock, w) = open(&addr)?;
            sock.listen(plan.len() as i32 + 16)
                .map_err(|e| format!("listen: {e}"))?;
            let endpoint = endpoint_of(&sock, path)?;
            data.warnings.extend(w);
            data.listener = Some((sock, domain));
            endpoints = vec![endpoint; plan.len()];
        }
        Ok((data, endpoints))
    }

    /// Waits until every connection of the plan is attached (or `deadline`).
    pub fn attach(
        self,
        spec: &TestSpec,
        token: u64,
        deadline: Instant,
        cancel: &AtomicBool,
    ) -> Result<Vec<DataConn>, String> {
        let plan = spec.conn_plan();
        let mut slots: Vec<Option<DataConn>> = (0..plan.len()).map(|_| None).collect();
        if let Some((listener, domain)) = &self.listener {
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            // Connections are identified concurrently: a stranger that connects and says
            // nothing holds up no one, and is closed after GREETING_DEADLINE.
            let mut greeting = Greeting::new(token, plan.len().min(4096) + 256);
            let mut attached = 0;
            while attached < plan.len() {
                if cancel.load(Ordering::Relaxed) {
                    return Err("the test was called off before it started".to_string());
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "only {attached} of {} data connections arrived in time",
                        plan.len()
                    ));
                }
                greeting.wait(listener, Duration::from_millis(100));
                greeting
                    .accept_all(listener)
                    .map_err(|e| format!("accepting a data connection: {e}"))?;
                while let Some((sock, id)) = greeting.ready() {
                    let Some(conn) = plan.get(id as usize).copied() else {
                        continue;
                    };
                    if slots[id as usize].is_some() {
                        continue;
                    }
                    let w = sockopt::apply(
                        &sock,
                        spec.protocol,
                        *domain,
                        &spec.receiver,
                        Phase::Accepted,
                    )
                    .map_err(|e| e.to_string())?;
                    let mut warnings = self.warnings.clone();
                    warnings.extend(w);
                    slots[id as usize] = Some(finish_conn(
                        sock,
                        conn,
                        spec,
                        Side::Receiver,
                        *domain,
                        token,
                        warnings,
                    )?);
                    attached += 1;
                }
            }
        } else {
            for ((sock, domain), conn) in self.dgram.into_iter().zip(&plan) {
                dgram_await_hello(&sock, conn.id, token, deadline, cancel)?;
                slots[conn.id as usize] = Some(finish_conn(
                    sock,
                    *conn,
                    spec,
                    Side::Receiver,
                    domain,
                    token,
                    self.warnings.clone(),
                )?);
            }
        }
        let mut conns: Vec<DataConn> = slots.into_iter().flatten().collect();
        if let Some((listener, _)) = self.listener {
            // crr transactions keep arriving on the listener after the attach.
            if conns.iter().any(|c| c.plan.kind == ConnKind::Crr) {
                let shared = Arc::new(listener);
                let paths = Arc::new(self._paths);
                for c in conns.iter_mut().filter(|c| c.plan.kind == ConnKind::Crr) {
                    c.listener = Some(shared.clone());
                    c._paths = Some(paths.clone());
                }
            }
        }
        Ok(conns)
    }
}

/// Where a receiver's data socket binds: a fresh Unix path (removed when the test ends) or
/// the control connection's address with any port. Returns the address and the path.
fn endpoint_addr(
    spec: &TestSpec,
    local_ip: IpAddr,
    token: u64,
    tag: &str,
    id: u32,
    paths: &mut Vec<PathGuard>,
) -> Result<(SockAddr, Option<PathBuf>), String> {
    if !spec.protocol.is_unix() {
        return Ok((SocketAddr::new(local_ip, 0).into(), None));
    }
    let path = unix_path(token, tag, id);
    let _ = std::fs::remove_file(&path);
    let addr = SockAddr::unix(&path).map_err(|e| e.to_string())?;
    paths.push(PathGuard(path.clone()));
    Ok((addr, Some(path)))
}

/// What to tell the sender about a bound data socket: its path, or the port it got.
fn endpoint_of(sock: &Socket, path: Option<PathBuf>) -> Result<DataEndpoint, String> {
    match path {
        Some(p) => Ok(DataEndpoint::Path(p.to_string_lossy().into_owned())),
        None => Ok(DataEndpoint::Port(local_port(sock)?)),
    }
}

fn local_port(sock: &Socket) -> Result<u16, String> {
    sock.local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .ok_or_else(|| "data socket has no port".to_string())
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
        match sock.peek(as_uninit(&mut hdr)) {
            Ok(n) if n >= STREAM_HEADER_LEN => {
                if (&*sock).read_exact(&mut hdr).is_err() {
                    return Header::Bad;
                }
                let field = |r: std::ops::Range<usize>| hdr[r].to_vec();
                let magic = u32::from_le_bytes(field(0..4).try_into().unwrap_or_default());
                let id = u32::from_le_bytes(field(4..8).try_into().unwrap_or_default());
                let tok = u64::from_le_bytes(field(8..16).try_into().unwrap_or_default());
                if magic == STREAM_MAGIC && tok == self.token {
                    Header::Ours(id)
                } else {
                    Header::Bad
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
                    s.set_nonblocking(true)?;
                    let now = Instant::now();
                    self.sort(s, now, now);
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                // Out of descriptors, or a connection reset before it was accepted: the
                // ones already here go on; the caller's deadline bounds the wait.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ECONNABORTED | libc::ENOBUFS)
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
        use std::os::fd::AsRawFd;
        if !self.ready.is_empty() {
            return;
        }
        let mut fds: Vec<libc::pollfd> = std::iter::once(listener)
            .chain(self.waiting.iter().map(|(s, _)| s))
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of pollfd of the length given.
        unsafe {
            libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
        }
    }

    /// The next connection whose header has arrived with this test's token: returned in
    /// blocking mode, with its connection id. Closes the ones that failed or ran late.
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
    let magic = u32::from_le_bytes(hdr[0..4].try_into().ok()?);
    let id = u32::from_le_bytes(hdr[4..8].try_into().ok()?);
    let tok = u64::from_le_bytes(hdr[8..16].try_into().ok()?);
    (magic == STREAM_MAGIC && tok == token).then_some(id)
}

fn dgram_await_hello(
    sock: &Socket,
    conn: u32,
    token: u64,
    deadline: Instant,
    cancel: &AtomicBool,
) -> Result<(), String> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err("the test was called off before it started".to_string());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "data connection {conn}: no hello from the sender in time"
            ));
        }
        let (n, from) = match sock.recv_from(as_uninit(&mut buf)) {
            Ok(r) => r,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("data connection {conn}: {e}")),
        };
        if let Some((tok, dgram::HELLO, c)) = dgram::header(&buf[..n]) {
            if tok == token && c == conn {
                sock.connect(&from)
                    .map_err(|e| format!("data connection {conn}: connect: {e}"))?;
                let mut ack = [0u8; 16];
                dgram::put_header(&mut ack, token, dgram::HELLO_ACK, conn);
                sock.send(&ack)
                    .map_err(|e| format!("data connection {conn}: {e}"))?;
                return Ok(());
            }
        }
    }
}

/// Views an initialised buffer as the uninitialised one socket2's recv wants.
pub fn as_uninit(buf: &mut [u8]) -> &mut [std::mem::MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8, and recv only writes into the slice.
    unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) }
}

/// The sender's end: connects every connection of the plan to the receiver's endpoints.
pub struct ClientData {
    pub conns: Vec<DataConn>,
    _paths: Vec<PathGuard>,
}

impl ClientData {
    pub fn attach(
        spec: &TestSpec,
        server_ip: IpAddr,
        endpoints: &[DataEndpoint],
        token: u64,
        deadline: Instant,
    ) -> Result<ClientData, String> {
        let plan = spec.conn_plan();
        if endpoints.len() != plan.len() {
            return Err(format!(
                "the receiver offered {} data endpoints for {} connections",
                endpoints.len(),
                plan.len()
            ));
        }
        let mut out = ClientData {
            conns: Vec::with_capacity(plan.len()),
            _paths: Vec::new(),
        };
        for (conn, endpoint) in plan.iter().zip(endpoints) {
            let (addr, domain) = match endpoint {
                DataEndpoint::Port(p) if spec.protocol.is_ip() => (
                    SockAddr::from(SocketAddr::new(server_ip, *p)),
                    domain_of(server_ip),
                ),
                DataEndpoint::Path(p) if spec.protocol.is_unix() => {
                    (SockAddr::unix(p).map_err(|e| e.to_string())?, Domain::UNIX)
                }
                other => {
                    return Err(format!(
                        "the receiver offered {other:?} for {}",
                        spec.protocol
                    ))
                }
            };
            let sock =
                new_socket(spec.protocol, domain).map_err(|e| format!("data socket: {e}"))?;
            let warnings = sockopt::apply(
                &sock,
                spec.protocol,
                domain,
                &spec.sender,
                Phase::BeforeConnect,
            )
            .map_err(|e| e.to_string())?;
            if spec.protocol == Protocol::UnixDgram {
                // A Unix datagram socket needs a name of its own to be answered.
                let path = unix_path(token, "c", conn.id);
                let _ = std::fs::remove_file(&path);
                sock.bind(&SockAddr::unix(&path).map_err(|e| e.to_string())?)
                    .map_err(|e| format!("binding {}: {e}", path.display()))?;
                out._paths.push(PathGuard(path));
            }
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10));
            if spec.protocol.is_datagram() {
                sock.connect(&addr)
                    .map_err(|e| connect_error(endpoint, e))?;
                dgram_hello(&sock, conn.id, token, deadline)?;
            } else {
                sock.connect_timeout(&addr, left.min(Duration::from_secs(10)))
                    .map_err(|e| connect_error(endpoint, e))?;
                (&sock)
                    .write_all(&stream_header(conn.id, token))
                    .map_err(|e| format!("data connection {}: {e}", conn.id))?;
            }
            let mut dc = finish_conn(sock, *conn, spec, Side::Sender, domain, token, warnings)?;
            if conn.kind == ConnKind::Crr {
                dc.peer = Some(addr);
            }
            out.conns.push(dc);
        }
        Ok(out)
    }
}

fn connect_error(endpoint: &DataEndpoint, e: io::Error) -> String {
    match endpoint {
        DataEndpoint::Port(p) => format!("connecting to the receiver's data port {p}: {e}"),
        DataEndpoint::Path(p) => format!("connecting to {}: {e}", Path::new(p).display()),
    }
}

fn dgram_hello(sock: &Socket, conn: u32, token: u64, deadline: Instant) -> Result<(), String> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let mut hello = [0u8; 16];
    dgram::put_header(&mut hello, token, dgram::HELLO, conn);
    let mut buf = [0u8; 64];
    loop {
        if Instant::now() >= deadline {
            return Err(format!(
                "data connection {conn}: the receiver did not answer the hello"
            ));
        }
        if let Err(e) = sock.send(&hello) {
            // ECONNREFUSED: an ICMP error from an earlier hello; the port may open later.
            if e.raw_os_error() != Some(libc::ECONNREFUSED) {
                return Err(format!("data connection {conn}: {e}"));
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
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
            Err(e) => return Err(format!("data connection {conn}: {e}")),
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
}
