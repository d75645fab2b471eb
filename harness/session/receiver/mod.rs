//! The receiver process, `sockbench serve`: accepts a sender on the control port, opens
//! and configures its own data sockets from the test description, plays its roles, and
//! sends its measurements back.

use std::io::Write;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use thiserror::Error;

use crate::engine::RoleCtx;
use crate::measure::hostinfo::HostFacts;
use crate::net::auth::{self, Psk};
use crate::net::control::{
    self, Channel, ControlError, Message, SessionKey, Way, PROTOCOL_VERSION,
};
use crate::net::transport::{self, DataConn, ServerData};
use crate::session::roles::spawn_roles;
use crate::spec::config::{ConfigError, Protocol, Side, TestSpec};
use crate::spec::units::{format_size, format_size_as};

mod daemon;
#[cfg(feature = "fuzz")]
mod fuzz;
mod handshake;
mod limits;
mod relay;

use daemon::{Daemon, KeyedGuard, LogLimit, Pending, PendingGuard, Touching};
#[cfg(feature = "fuzz")]
pub use fuzz::fuzz_control_session;
use handshake::handshake;
pub use limits::{memory_estimate, Cidr, CidrError, Limits, MemoryNeed, Refusal};
use relay::{relay, relay_target};

/// How long an authenticated sender may stay quiet between tests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long each step of a test's setup may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long after this side's roles have all ended the sender has to say it finished.
const FINISH_AFTER_ROLES: Duration = Duration::from_secs(15);
/// How long a connection has to complete the handshake (hello, and with a key the
/// challenge-response), in all: a peer that trickles bytes cannot stretch it.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections not running a test (in their handshake, or idle without a key) held at
/// once; a new one beyond this evicts the oldest (sshd's MaxStartups).
pub const DEFAULT_MAX_PENDING: usize = 64;
/// The same, per source address.
pub const DEFAULT_MAX_PER_SOURCE: usize = 16;

/// Why this daemon will not run a test, or how one it ran failed; the text is what the
/// sender is told and the daemon logs.
#[derive(Debug, Error)]
pub enum TestError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error(
        "busy: this receiver is running {0} test(s) already (--max-concurrent {0}); try later"
    )]
    Busy(usize),
    #[error("busy: the tests running now and this one would need {} of memory on this receiver; it allows {} (--max-memory); try later", format_size_as(*.total, *.max), format_size(*.max))]
    NoMemory { total: u64, max: u64 },
    #[error(
        "--cpu-affinity: CPU {cpu} is not available on the {side} (it may run on {allowed:?})"
    )]
    Cpu {
        cpu: u32,
        side: &'static str,
        allowed: Vec<u32>,
    },
    #[error("refused: this test needs about {need} file descriptors on this host and {free} are free (RLIMIT_NOFILE {limit}, {open} open); raise its limit (ulimit -n) or ask for fewer flows")]
    Descriptors {
        need: u64,
        free: u64,
        limit: u64,
        open: u64,
    },
    /// The peer a controller asked to send to, clipped.
    #[error("refused: the peer to send to, '{0}', is not ADDR:PORT")]
    PeerAddress(String),
    #[error("refused: this daemon sends for a controller only over a keyed connection: start it with --psk-file (and the controller with the same key), or with --allow-relay-without-key in a closed lab")]
    RelayWithoutKey,
    #[error("refused: this daemon may send only to loopback and --allow-peers ({allowed}); asked to send to {ip}")]
    PeerNotAllowed { allowed: String, ip: IpAddr },
    #[error("{protocol} needs both processes on one host; this sender connected from {from}")]
    UnixRemote { protocol: Protocol, from: IpAddr },
    /// The protocol or a knob this host does not support.
    #[error("receiver: {0}")]
    Unsupported(Box<dyn std::error::Error + Send + Sync>),
    /// The data sockets could not be opened or attached.
    #[error("{0}")]
    Data(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("the data attach thread panicked ({0})")]
    AttachPanicked(String),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("the sender went away: {0}")]
    SenderGone(ControlError),
    #[error("unexpected {0} message during the test")]
    Unexpected(&'static str),
    #[error("the sender sent no finish within {FINISH_AFTER_ROLES:?} of the end of the traffic; it is stopped or gone")]
    NoFinish,
}

/// Why a daemon could not start serving.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error("control socket")]
    Socket(#[source] std::io::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Serve one sender, then exit.
    pub once: bool,
    /// No per-test log lines.
    pub quiet: bool,
    /// Tests run at once; a sender asking for one more is told the receiver is busy.
    pub max_concurrent: usize,
    pub limits: Limits,
    /// Data sockets bind to ports from this range (for firewalls); None = ephemeral.
    pub data_ports: Option<(u16, u16)>,
    /// With a key, a sender must prove it holds the same key.
    pub psk: Option<Psk>,
    /// Time a connection has for its whole handshake.
    pub handshake_timeout: Duration,
    /// Connections not running a test held at once; beyond, the oldest is closed.
    pub max_pending: usize,
    /// The same, per source address.
    pub max_per_source: usize,
    /// Addresses besides loopback a controller may ask this daemon to send to.
    pub allow_peers: Vec<Cidr>,
    /// How long a test's setup may take: the sender's start, its data connections.
    pub setup_timeout: Duration,
    /// Send for a controller (relay) on a keyless connection: for a closed lab only, as
    /// anyone who reaches the port could aim this daemon's traffic.
    pub allow_relay_without_key: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            once: false,
            quiet: false,
            max_concurrent: 1,
            limits: Limits::default(),
            data_ports: None,
            psk: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
            max_per_source: DEFAULT_MAX_PER_SOURCE,
            allow_peers: Vec::new(),
            setup_timeout: SETUP_TIMEOUT,
            allow_relay_without_key: false,
        }
    }
}

/// Opens the control listener. `[::]` listens on IPv4 too where the host allows it.
pub fn bind_control(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::STREAM, None).map_err(ServeError::Socket)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        let _ = sock.set_only_v6(false);
    }
    sock.bind(&addr.into())
        .map_err(|source| ServeError::Listen { addr, source })?;
    sock.listen(64)?;
    Ok(sock.into())
}

/// Runs the receiver until killed (or after one sender with `once`).
pub fn serve(opts: &ServeOptions) -> Result<(), ServeError> {
    let listener = bind_control(opts.listen)?;
    let addr = listener.local_addr()?;
    // The first line on stdout is for scripts (and `run`'s local child): where we listen.
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    // A quiet daemon logs nothing: its panics print as they always did.
    if !opts.quiet {
        daemon::route_handler_panics();
    }
    serve_on(listener, opts)
}

/// A receiver on a thread of this process (for benches and embedding): binds `opts.listen`
/// and serves until the process ends. Returns the address it listens on.
pub fn spawn_receiver(opts: &ServeOptions) -> Result<SocketAddr, ServeError> {
    let listener = bind_control(opts.listen)?;
    let addr = listener.local_addr()?;
    let opts = opts.clone();
    thread::spawn(move || serve_on(listener, &opts));
    Ok(addr)
}

/// The accept loop on an open control listener.
pub fn serve_on(listener: TcpListener, opts: &ServeOptions) -> Result<(), ServeError> {
    let daemon = Arc::new(Daemon {
        opts: opts.clone(),
        facts: HostFacts::gather(),
        pending: Mutex::new(Pending::default()),
        tests: AtomicUsize::new(0),
        keyed: AtomicUsize::new(0),
        memory: AtomicU64::new(0),
        log: Mutex::new(LogLimit {
            window: Instant::now(),
            lines: 0,
            suppressed: 0,
        }),
    });
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors or memory for a moment: say so (rate-limited) and
                // let the running tests finish.
                daemon.log(&format!("accept: {e}"));
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if opts.once {
            serve_connection(&daemon, stream, peer);
            return Ok(());
        }
        let daemon = daemon.clone();
        let spawned = thread::Builder::new()
            .name(daemon::CONN_THREAD.into())
            .spawn(move || serve_connection(&daemon, stream, peer));
        if let Err(e) = spawned {
            eprintln!("sockbench serve: cannot start a thread for a connection: {e}");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Serves one control connection to its end; nothing that happens in it, a panic
/// included, reaches the daemon.
fn serve_connection(daemon: &Daemon, stream: TcpStream, peer: SocketAddr) {
    match daemon::handling(|| handle_sender(daemon, stream, peer)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => daemon.log(&format!("{peer}: {e}")),
        Err(what) => daemon.log(&format!(
            "{peer}: the connection's handler panicked ({what}); the daemon goes on"
        )),
    }
}

/// What a sender asks of a daemon: a test to receive, or (from a fleet's controller) one
/// to send to another daemon.
struct Request {
    spec: Box<TestSpec>,
    relay_to: Option<String>,
    start_at_ms: Option<u64>,
}

impl Request {
    /// The next request on the control connection; None when the sender has closed it.
    fn next(ctl: &mut Channel<TcpStream>) -> Result<Option<Request>, ControlError> {
        let request = match ctl.recv() {
            Ok(Message::Setup { spec }) => Request {
                spec,
                relay_to: None,
                start_at_ms: None,
            },
            Ok(Message::Relay {
                to,
                spec,
                start_at_ms,
            }) => Request {
                spec,
                relay_to: Some(to),
                start_at_ms,
            },
            Ok(other) => {
                return Err(ControlError::Unexpected {
                    expected: "setup",
                    got: other.name(),
                });
            }
            Err(ControlError::Closed) => return Ok(None),
            Err(e @ ControlError::Decode(_)) => {
                // Said before the connection closes, so that the sender knows why.
                let _ = ctl.send(&Message::Error {
                    message: format!("refused: the receiver could not read this request: {e}"),
                });
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        Ok(Some(request))
    }

    /// The test in a few words, for the log.
    fn describe(&self) -> String {
        let spec = &self.spec;
        format!(
            "{}{} {} {} x{} for {:?}",
            self.relay_to
                .as_deref()
                .map(|to| format!("sending to {} for the controller: ", control::clip(to)))
                .unwrap_or_default(),
            spec.protocol,
            spec.pattern,
            spec.direction,
            spec.flows,
            spec.duration
        )
    }
}

/// Serves one control connection: the handshake, then any number of tests. It holds a
/// test slot only while a test runs.
fn handle_sender(daemon: &Daemon, stream: TcpStream, peer: SocketAddr) -> Result<(), ControlError> {
    let opts = &daemon.opts;
    let source = peer.ip().to_canonical();
    let mut pending = daemon.register(&stream, source);
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(SETUP_TIMEOUT))?;
    let until = Instant::now() + opts.handshake_timeout;
    let key = match handshake(daemon, &stream, until, pending.id) {
        Ok(key) => key,
        Err(ControlError::Timeout) => {
            return Err(ControlError::Remote(format!(
                "no complete handshake within {:?} (--handshake-timeout); closed",
                opts.handshake_timeout
            )))
        }
        Err(e) => return Err(e),
    };
    let (key, _keyed) = key.unzip();
    if key.is_some() {
        // Authenticated: a stranger's connections can no longer evict this one (the
        // authenticated ones have a cap of their own).
        drop(pending);
        pending = PendingGuard { daemon, id: None };
    }
    let mut ctl = Channel::new(stream, key.clone(), Way::ToSender, control::MAX_FROM_SENDER);
    loop {
        ctl.stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
        let Some(request) = Request::next(&mut ctl)? else {
            return Ok(());
        };
        let started = Instant::now();
        let what = request.describe();
        let target = match relay_target(opts, key.is_some(), request.relay_to.as_deref()) {
            Ok(to) => to,
            Err(e) => {
                daemon.log(&format!("{peer}: {what}: {e}"));
                let _ = ctl.send(&Message::Error {
                    message: e.to_string(),
                });
                return Ok(());
            }
        };
        let side = if target.is_some() {
            Side::Sender
        } else {
            Side::Receiver
        };
        let result = match admit(daemon, &request.spec, side) {
            Ok(slot) => {
                drop(pending);
                let result = match target {
                    Some(to) => relay(daemon, &mut ctl, to, &request.spec, request.start_at_ms),
                    None => run_test(&mut ctl, peer, &request.spec, opts),
                };
                drop(slot);
                pending = if key.is_some() {
                    PendingGuard { daemon, id: None }
                } else {
                    daemon.register(&ctl.stream, source)
                };
                result
            }
            Err(e) => Err(e),
        };
        match &result {
            Ok(()) => daemon.log(&format!(
                "{peer}: {what}: done in {:.1?}",
                started.elapsed()
            )),
            Err(e) => daemon.log(&format!("{peer}: {what}: {e}")),
        }
        if let Err(e) = result {
            // Already logged above; the sender hears why, and the connection ends.
            let _ = ctl.send(&Message::Error {
                message: e.to_string(),
            });
            return Ok(());
        }
    }
}

/// A running test's hold on the daemon's test slots and memory budget.
struct Slot<'a> {
    daemon: &'a Daemon,
    memory: u64,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.daemon.tests.fetch_sub(1, Ordering::SeqCst);
        self.daemon.memory.fetch_sub(self.memory, Ordering::SeqCst);
    }
}

/// Validates a test and takes a slot for it: the same checks as the command line's, the
/// daemon's limits, and room among the tests already running. `side`: the role this
/// daemon plays (the receiver, or the sender of a relayed test).
fn admit<'a>(daemon: &'a Daemon, spec: &TestSpec, side: Side) -> Result<Slot<'a>, TestError> {
    spec.validate()?;
    daemon.opts.limits.check(spec)?;
    check_host(spec, side)?;
    let max = daemon.opts.max_concurrent;
    if daemon.tests.fetch_add(1, Ordering::SeqCst) >= max {
        daemon.tests.fetch_sub(1, Ordering::SeqCst);
        return Err(TestError::Busy(max));
    }
    let need = memory_estimate(spec).bytes;
    let slot = Slot {
        daemon,
        memory: need,
    };
    let total = daemon.memory.fetch_add(need, Ordering::SeqCst) + need;
    if let Some(max) = daemon.opts.limits.max_memory.filter(|&m| total > m) {
        return Err(TestError::NoMemory { total, max });
    }
    Ok(slot)
}

/// What this host must have for a test: the CPUs it pins to, and the file descriptors
/// its connections need.
fn check_host(spec: &TestSpec, side: Side) -> Result<(), TestError> {
    if let Some(cpus) = &spec.knobs(side).cpus {
        let allowed = crate::sys::affinity::allowed_cpus();
        if let Some(&cpu) = cpus.iter().find(|c| !allowed.contains(c)) {
            return Err(TestError::Cpu {
                cpu,
                side: side.as_str(),
                allowed,
            });
        }
    }
    let conns = spec.conn_plan().len() as u64;
    let per_conn = if spec.knobs(side).splice { 4 } else { 1 };
    let need = conns * per_conn + 32;
    let limit = crate::measure::hostinfo::nofile_limit();
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let free = limit.saturating_sub(open);
    if need > free {
        return Err(TestError::Descriptors {
            need,
            free,
            limit,
            open,
        });
    }
    Ok(())
}

fn random_token() -> u64 {
    u64::from_le_bytes(auth::nonce()[..8].try_into().unwrap_or_default())
}

/// One test: setup, the roles, the report. An `Err` is reported to the sender. Every
/// thread it starts is joined before it returns, however it ends.
fn run_test(
    ctl: &mut Channel<TcpStream>,
    peer: SocketAddr,
    spec: &TestSpec,
    opts: &ServeOptions,
) -> Result<(), TestError> {
    let conns = set_up_data(ctl, peer, spec, opts)?;

    let abort = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // (t0 is taken again once every role's thread exists: see spawn_roles.)
    let mut ctx = RoleCtx {
        spec: Arc::new(spec.clone()),
        t0: Instant::now(),
        abort: abort.clone(),
        stop: stop.clone(),
        spin: false,
        in_flight: Default::default(),
    };
    let mut roles = spawn_roles(conns, Side::Receiver, &mut ctx);
    let t0 = ctx.t0;
    if let Err(e) = ctl.send(&Message::Started) {
        abort.store(true, Ordering::Relaxed);
        roles.join();
        return Err(e.into());
    }

    // Wait for the sender to finish; if the control connection dies, abort the roles.
    let hard = t0 + spec.hard_deadline() + SETUP_TIMEOUT;
    let finish = await_finish(ctl, hard, || roles.all_ended());
    match finish {
        Ok(()) => stop.store(true, Ordering::Relaxed),
        Err(_) => abort.store(true, Ordering::Relaxed),
    }
    let report = roles.join();
    finish?;
    let _ = ctl.stream.set_write_timeout(Some(SETUP_TIMEOUT));
    ctl.send(&Message::Results {
        report: Box::new(report),
    })?;
    Ok(())
}

/// A test's setup on this side: opens the data sockets, tells the sender where they are,
/// and attaches the sender's connections while waiting for its start.
fn set_up_data(
    ctl: &mut Channel<TcpStream>,
    peer: SocketAddr,
    spec: &TestSpec,
    opts: &ServeOptions,
) -> Result<Vec<DataConn>, TestError> {
    if spec.protocol.is_unix() && !peer.ip().to_canonical().is_loopback() {
        return Err(TestError::UnixRemote {
            protocol: spec.protocol,
            from: peer.ip(),
        });
    }
    crate::spec::knobs::check_os(&spec.receiver, crate::sys::HOST, "this host")
        .map_err(|e| TestError::Unsupported(e.into()))?;
    transport::probe(spec.protocol, &[&spec.receiver])
        .map_err(|e| TestError::Unsupported(e.into()))?;
    let token = random_token();
    let local_ip: IpAddr = ctl.stream.local_addr()?.ip().to_canonical();
    let (mut data, endpoints) = ServerData::open(spec, local_ip, token, opts.data_ports)
        .map_err(|e| TestError::Data(e.into()))?;
    if !spec.protocol.is_unix() {
        data.hellos_from(peer.ip());
    }
    let setup = opts.setup_timeout + crate::session::setup_extra(spec);
    let deadline = Instant::now() + setup;
    let attach_spec = spec.clone();
    let cancel = Arc::new(AtomicBool::new(false));
    let attach_cancel = cancel.clone();
    let attacher = thread::Builder::new()
        .name("sockbench-attach".into())
        .spawn(move || {
            daemon::handling(|| data.attach(&attach_spec, token, deadline, &attach_cancel))
        })
        .map_err(TestError::Thread)?;
    let started = (|| -> Result<(), TestError> {
        ctl.send(&Message::Ready { token, endpoints })?;
        ctl.stream.set_read_timeout(Some(setup))?;
        ctl.expect("start", |m| match m {
            Message::Start => Some(()),
            _ => None,
        })?;
        Ok(())
    })();
    if started.is_err() {
        // The sender is gone or confused: the attach gives up at once and its sockets close.
        cancel.store(true, Ordering::Relaxed);
    }
    let attached = attacher
        .join()
        .map_err(|_| TestError::AttachPanicked("no message".into()))?
        .map_err(TestError::AttachPanicked)?;
    started?;
    attached.map_err(|e| TestError::Data(e.into()))
}

/// Waits for the sender's finish, sending heartbeats. Our roles end when the sender's do
/// (or stall out): a sender that says nothing for long after that (`all_ended`) is
/// stopped or gone, and the test's slot is not held for it until the test's nominal end.
fn await_finish(
    ctl: &mut Channel<TcpStream>,
    hard: Instant,
    mut all_ended: impl FnMut() -> bool,
) -> Result<(), TestError> {
    let _ = ctl
        .stream
        .set_read_timeout(Some(Duration::from_millis(250)));
    let mut ended: Option<Instant> = None;
    let mut beat = Instant::now();
    loop {
        if beat.elapsed() >= control::HEARTBEAT {
            beat = Instant::now();
            ctl.send(&Message::Alive).map_err(TestError::SenderGone)?;
        }
        match ctl.recv() {
            Ok(Message::Finish) => return Ok(()),
            Ok(other) => return Err(TestError::Unexpected(other.name())),
            Err(ControlError::Timeout) if Instant::now() < hard => {
                if ended.is_none() && all_ended() {
                    ended = Some(Instant::now());
                }
                if ended.is_some_and(|t| t.elapsed() > FINISH_AFTER_ROLES) {
                    return Err(TestError::NoFinish);
                }
            }
            Err(e) => return Err(TestError::SenderGone(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_blocks_hold_what_they_should() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let one: Cidr = "203.0.113.9".parse().unwrap();
        assert!(one.contains("203.0.113.9".parse().unwrap()));
        assert!(!one.contains("203.0.113.8".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("198.51.100.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        for bad in ["192.0.2.0/33", "x/24", "192.0.2.0/", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_say_what_was_asked_and_what_is_allowed() {
        let spec = TestSpec {
            duration: Duration::from_secs(30),
            ..TestSpec::default()
        };
        let limits = Limits {
            max_duration: Some(Duration::from_secs(10)),
            ..Limits::default()
        };
        let e = limits.check(&spec).unwrap_err();
        assert!(matches!(e, Refusal::Duration { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(
                "refused: this receiver allows tests of at most 10s (warm-up included); asked for"
            ),
            "{e}"
        );
        let limits = Limits {
            max_flows: Some(0),
            ..Limits::default()
        };
        assert!(limits
            .check(&spec)
            .unwrap_err()
            .to_string()
            .starts_with("refused: this receiver allows at most 0 flows"));
        assert_eq!(
            TestError::Busy(2).to_string(),
            "busy: this receiver is running 2 test(s) already (--max-concurrent 2); try later"
        );
    }
}
