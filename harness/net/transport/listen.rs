//! The receiver's end: listening and datagram endpoints, accepting and identifying the
//! sender's connections.

use super::*;

/// The receiver's data endpoints of one test, open and waiting for the sender.
pub struct ServerData {
    /// Byte streams: the listening sockets, connections dealt over them by id.
    listeners: Vec<Socket>,
    /// Datagrams: a socket per connection, in plan order.
    dgram: Vec<Socket>,
    domain: Domain,
    warnings: Vec<String>,
    paths: Vec<PathGuard>,
    /// A datagram hello counts only from this address: the control connection's peer.
    hellos_from: Option<IpAddr>,
}

impl ServerData {
    /// Takes datagram hellos only from `ip` (the control connection's peer, whose address
    /// its TCP handshake proved; on loopback, from any loopback address): a hello's source
    /// address can be forged, and the data of a reverse test goes where the hello came
    /// from, so that a stranger could otherwise aim this host's traffic at a third host.
    pub fn hellos_from(&mut self, ip: IpAddr) {
        self.hellos_from = Some(ip.to_canonical());
    }

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
            hellos_from: None,
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
        if conns.iter().any(|c| c.plan.kind.reconnects()) {
            let shared: Vec<Arc<Socket>> = self.listeners.drain(..).map(Arc::new).collect();
            let paths = Arc::new(std::mem::take(&mut self.paths));
            for c in conns.iter_mut().filter(|c| c.plan.kind.reconnects()) {
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
            let from = self.hellos_from;
            dgram_await_hello(&sock, (conn.id, token, from), deadline, cancel)?;
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

/// Whether a datagram hello from `source` may attach for a sender whose control
/// connection came from `control`: the same address, or both loopback (the sender's data
/// sockets on loopback come from addresses of 127.1.0.0/16; loopback is this host's own).
pub(super) fn hello_source_ok(source: Option<IpAddr>, control: IpAddr) -> bool {
    let Some(source) = source.map(|ip| ip.to_canonical()) else {
        return false;
    };
    let control = control.to_canonical();
    source == control || (source.is_loopback() && control.is_loopback())
}

/// Waits for connection `conn`'s hello with the test's `token`, from `from` if given (a
/// hello from elsewhere is ignored, as a stranger's datagram is), and acks it.
fn dgram_await_hello(
    sock: &Socket,
    (conn, token, from_ip): (u32, u64, Option<IpAddr>),
    deadline: Instant,
    cancel: &AtomicBool,
) -> Result<(), TransportError> {
    let failed = TransportError::conn;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(failed(conn))?;
    let mut buf = [0u8; 64];
    // The source of a hello with this test's token refused for its address: said if no
    // hello comes from the right one.
    let mut elsewhere = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(TransportError::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(match (elsewhere, from_ip) {
                (Some(from), Some(control)) => TransportError::HelloElsewhere {
                    conn,
                    from,
                    control,
                },
                _ => TransportError::NoHello { conn },
            });
        }
        let (n, from) = match sock.recv_from(as_uninit(&mut buf)) {
            Ok(r) => r,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(conn)(e)),
        };
        if let Some((tok, dgram::HELLO, c)) = dgram::header(&buf[..n]) {
            let source = from.as_socket().map(|a| a.ip());
            if from_ip.is_some_and(|ip| !hello_source_ok(source, ip)) {
                elsewhere = elsewhere.or(source.filter(|_| tok == token && c == conn));
                continue;
            }
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
