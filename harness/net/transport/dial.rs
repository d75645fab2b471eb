//! The sender's end: connecting every connection of the plan to the receiver's
//! endpoints.

use super::*;

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
        if conn.kind.reconnects() {
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
