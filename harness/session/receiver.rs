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

use crate::engine::{spawn_roles, RoleCtx};
use crate::measure::hostinfo::HostFacts;
use crate::net::auth::{self, Psk};
use crate::net::control::{
    self, Channel, ControlError, Message, SessionKey, Way, PROTOCOL_VERSION,
};
use crate::net::transport::{self, DataConn, ServerData};
use crate::spec::config::{ConfigError, Protocol, Side, TestSpec};
use crate::spec::units::format_size_human;

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

/// What a receiver lets a sender ask for. `None` = no cap.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Longest warm-up + duration of one test.
    pub max_duration: Option<Duration>,
    /// Most data connections of one test: every flow in every direction, and the probe.
    pub max_flows: Option<u32>,
    /// Largest SO_SNDBUF / SO_RCVBUF request on either side.
    pub max_buffer: Option<u64>,
    /// Largest total rate of a test in bits/s of payload, over every flow and direction:
    /// a stream's rate, or for request/response transactions/s × (request + response) × 8;
    /// an unpaced test is refused.
    pub max_rate: Option<u64>,
    /// Largest message, response or probe size.
    pub max_message: Option<u32>,
    /// Most memory the tests running at once may need on this receiver (bytes), as
    /// [`memory_estimate`] counts it.
    pub max_memory: Option<u64>,
}

/// What one test needs on the receiver, by [`memory_estimate`].
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryNeed {
    pub bytes: u64,
    /// The arithmetic, for a refusal.
    pub how: String,
}

/// The memory a test needs on the receiver: message buffers (per thread that drives
/// connections), the socket buffers asked for (the kernel doubles them), an open-loop
/// requester's ring of outstanding requests, a datagram receiver's sequence bitmap and
/// every role's interval counters.
pub fn memory_estimate(spec: &TestSpec) -> MemoryNeed {
    use crate::spec::config::Pattern;
    let conns = spec.conn_plan().len() as u64;
    let (req, resp) = spec.rr_sizes();
    let msg = match spec.pattern {
        Pattern::Stream => 2 * u64::from(spec.msg_size).max(64 << 10),
        _ => u64::from(req) + u64::from(resp) + (64 << 10),
    };
    let on_workers = crate::engine::on_workers(spec, crate::spec::config::Side::Receiver);
    let threads = if on_workers {
        std::thread::available_parallelism().map_or(2, |n| n.get() as u64) + 1
    } else {
        conns
    };
    let k = &spec.receiver;
    let kernel = 2 * (k.sndbuf.unwrap_or(0) + k.rcvbuf.unwrap_or(0));
    let intervals = (spec.warmup + spec.duration).as_nanos() as u64
        / spec.interval.as_nanos().max(1) as u64
        + 4;
    let mut per_conn = kernel + intervals * 16 + 4096;
    if spec.protocol.is_datagram() {
        per_conn += crate::measure::SeqTracker::bytes_for(crate::engine::dgram::seq_room(spec));
    }
    if let (Pattern::Rr, Some(rate)) = (spec.pattern, spec.rate) {
        let margin = crate::engine::dgram_rr::RING_MARGIN as u64;
        let ring = (rate as f64 * spec.rr_timeout.as_secs_f64()) as u64 * 2 + margin;
        per_conn += ring * 40;
    }
    let bytes = threads
        .saturating_mul(msg)
        .saturating_add(conns.saturating_mul(per_conn));
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    MemoryNeed {
        bytes,
        how: format!(
            "{threads} thread(s) x {:.1} MiB of message buffers + {conns} connection(s) x {:.2} MiB (socket buffers, counters, queues) = {:.1} MiB",
            mib(msg),
            mib(per_conn),
            mib(bytes)
        ),
    }
}

/// A test this receiver's limits do not allow; the text is what the sender is told.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Refusal {
    #[error("refused: this receiver allows tests of at most {max:?} (warm-up included); asked for {asked:?}")]
    Duration { max: Duration, asked: Duration },
    #[error("refused: this receiver allows at most {max} flows (connections, counting each direction and the probe); asked for {asked}")]
    Flows { max: u32, asked: u32 },
    #[error(
        "refused: this receiver allows socket buffers of at most {max} bytes; asked for {asked}"
    )]
    Buffer { max: u64, asked: u64 },
    #[error("refused: this receiver allows a rate of at most {max} {unit} in total (--max-rate), and this test is unpaced: pass --rate")]
    Unpaced { max: u64, unit: &'static str },
    #[error("refused: this receiver allows at most {max} bits/s in total (--max-rate); asked for {rate} transactions/s x ({request} + {response}) bytes x 8 on each of {conns} connection(s) = {total} bits/s")]
    RateBits {
        max: u64,
        rate: u64,
        request: u32,
        response: u32,
        conns: u64,
        total: u64,
    },
    #[error("refused: this receiver allows a rate of at most {max} {unit} in total (--max-rate); asked for {rate} on each of {conns} connection(s) = {total}")]
    Rate {
        max: u64,
        unit: &'static str,
        rate: u64,
        conns: u64,
        total: u64,
    },
    #[error("refused: this receiver allows messages of at most {max} bytes (--max-message); asked for {asked}")]
    Message { max: u32, asked: u32 },
    #[error("refused: this test needs about {} on the receiver ({}); it allows {} (--max-memory)", format_size_human(.need.bytes), .need.how, format_size_human(*.max))]
    Memory { need: MemoryNeed, max: u64 },
}

impl Limits {
    /// Refuses a test that asks for more than this receiver allows. Every connection,
    /// every direction and both sides' knobs count.
    pub fn check(&self, spec: &TestSpec) -> Result<(), Refusal> {
        let asked = spec.warmup + spec.duration;
        if let Some(max) = self.max_duration.filter(|m| asked > *m) {
            return Err(Refusal::Duration { max, asked });
        }
        let conns = spec.conn_plan().len() as u32;
        if let Some(max) = self.max_flows.filter(|m| conns > *m) {
            return Err(Refusal::Flows { max, asked: conns });
        }
        if let Some(max) = self.max_buffer {
            for k in [&spec.sender, &spec.receiver] {
                for v in [k.sndbuf, k.rcvbuf].into_iter().flatten() {
                    if v > max {
                        return Err(Refusal::Buffer { max, asked: v });
                    }
                }
            }
        }
        if let Some(max) = self.max_message {
            let (req, resp) = spec.rr_sizes();
            let biggest = spec.msg_size.max(req).max(resp).max(
                if spec.pattern == crate::spec::config::Pattern::Stream {
                    0
                } else {
                    spec.response_size
                },
            );
            if biggest > max {
                return Err(Refusal::Message {
                    max,
                    asked: biggest,
                });
            }
        }
        if let Some(max) = self.max_rate {
            self.check_rate(spec, max)?;
        }
        if let Some(max) = self.max_memory {
            let need = memory_estimate(spec);
            if need.bytes > max {
                return Err(Refusal::Memory { need, max });
            }
        }
        Ok(())
    }

    fn check_rate(&self, spec: &TestSpec, max: u64) -> Result<(), Refusal> {
        use crate::spec::config::Pattern;
        let unit = "bits/s";
        let Some(rate) = spec.rate else {
            return Err(Refusal::Unpaced { max, unit });
        };
        // The probe is one request at a time, bounded by its round trip; the main
        // connections each run at `rate`.
        let conns = spec
            .conn_plan()
            .iter()
            .filter(|c| c.kind == spec.main_kind())
            .count() as u64;
        if spec.pattern != Pattern::Stream {
            // The bits on the wire, at the largest sizes the test may draw.
            let (req, resp) = spec.rr_sizes();
            let (req_dist, resp_dist) = spec.rr_dists();
            let request = req_dist.map_or(req, |d| d.max().max(req));
            let response = resp_dist.map_or(resp, |d| d.max().max(resp));
            let total = rate
                .saturating_mul(u64::from(request) + u64::from(response))
                .saturating_mul(8)
                .saturating_mul(conns);
            if total > max {
                return Err(Refusal::RateBits {
                    max,
                    rate,
                    request,
                    response,
                    conns,
                    total,
                });
            }
            return Ok(());
        }
        let total = rate.saturating_mul(conns);
        if total > max {
            return Err(Refusal::Rate {
                max,
                unit,
                rate,
                conns,
                total,
            });
        }
        Ok(())
    }
}

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
    #[error("busy: the tests running now and this one would need {} of memory on this receiver; it allows {} (--max-memory); try later", format_size_human(*.total), format_size_human(*.max))]
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
    #[error("the data attach thread panicked")]
    AttachPanicked,
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

/// An address block, `192.0.2.0/24` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u8) {
            match a.to_canonical() {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (host, host_width)) = (bits(self.addr), bits(ip));
        if width != host_width {
            return false;
        }
        let shift = u32::from(width - self.prefix.min(width));
        shift >= 128 || (net >> shift) == (host >> shift)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An address block that will not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CidrError {
    #[error("'{0}' is not an address block (e.g. 192.0.2.0/24)")]
    Address(String),
    #[error("'{text}': the prefix length must be 0 to {width}")]
    Prefix { text: String, width: u8 },
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(s.to_string()))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| CidrError::Prefix {
                    text: s.to_string(),
                    width,
                })?,
        };
        Ok(Cidr { addr, prefix })
    }
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

/// The connections of a daemon that are not running a test: those in their handshake,
/// and (without a key, when anyone can complete one) those idle between tests. A new
/// connection beyond the caps evicts the one that has made no progress (no byte read) for
/// longest — of its source's block (/24, /56) when that block is at its cap, else of all —
/// so that a flood of connections that go silent evicts itself, never a sender whose
/// handshake is arriving.
#[derive(Default)]
struct Pending {
    next_id: u64,
    conns: Vec<PendingConn>,
}

struct PendingConn {
    id: u64,
    /// The source's address block ([`source_block`]).
    source: IpAddr,
    /// When a byte last came from it (or it connected, or finished a test).
    progress: Instant,
    /// A second handle on the socket, to shut it down when evicted.
    sock: TcpStream,
}

/// Shared state of one daemon.
struct Daemon {
    opts: ServeOptions,
    facts: HostFacts,
    pending: Mutex<Pending>,
    /// Tests running now.
    tests: AtomicUsize,
    /// Memory the running tests need, by [`memory_estimate`].
    memory: AtomicU64,
    log: Mutex<LogLimit>,
}

/// At most [`LOG_BURST`] lines per [`LOG_WINDOW`]; the rest are counted and the count is
/// logged once the window has passed, so that a flood of connections cannot flood the log.
struct LogLimit {
    window: Instant,
    lines: u32,
    suppressed: u64,
}

const LOG_BURST: u32 = 20;
/// Longest log line, in characters.
const LOG_LINE_MAX: usize = 600;
const LOG_WINDOW: Duration = Duration::from_secs(10);

/// A registration in [`Pending`], removed when dropped.
struct PendingGuard<'a> {
    daemon: &'a Daemon,
    id: Option<u64>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.daemon.unregister(id);
        }
    }
}

impl Daemon {
    /// Logs one line, its control characters escaped and its length clipped: it may hold
    /// a peer's bytes (a JSON decode error before authentication quotes them).
    fn log(&self, line: &str) {
        if self.opts.quiet {
            return;
        }
        let line = &control::clean(line, LOG_LINE_MAX);
        let mut l = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(l.window) >= LOG_WINDOW {
            if l.suppressed > 0 {
                eprintln!(
                    "sockbench serve: ({} more lines in {:?} not logged)",
                    l.suppressed, LOG_WINDOW
                );
            }
            l.window = now;
            l.lines = 0;
            l.suppressed = 0;
        }
        if l.lines < LOG_BURST {
            l.lines += 1;
            eprintln!("sockbench serve: {line}");
        } else {
            l.suppressed += 1;
        }
    }

    /// Registers a connection that is not running a test, evicting the oldest ones
    /// beyond the caps.
    fn register(&self, stream: &TcpStream, source: IpAddr) -> PendingGuard<'_> {
        let Ok(sock) = stream.try_clone() else {
            return PendingGuard {
                daemon: self,
                id: None,
            };
        };
        let source = source_block(source);
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let same = p.conns.iter().filter(|c| c.source == source).count();
        let stalest = |only: Option<IpAddr>| {
            p.conns
                .iter()
                .enumerate()
                .filter(|(_, c)| only.map_or(true, |s| c.source == s))
                .min_by_key(|(_, c)| c.progress)
                .map(|(i, _)| i)
        };
        let victim = if same >= self.opts.max_per_source {
            stalest(Some(source))
        } else if p.conns.len() >= self.opts.max_pending {
            stalest(None)
        } else {
            None
        };
        let evicted = victim.map(|i| p.conns.remove(i));
        p.next_id += 1;
        let id = p.next_id;
        p.conns.push(PendingConn {
            id,
            source,
            progress: Instant::now(),
            sock,
        });
        drop(p);
        if let Some(old) = evicted {
            let _ = old.sock.shutdown(Shutdown::Both);
            self.log(&format!(
                "{}: closed an idle or unauthenticated connection to make room (--max-pending {}, --max-per-source {})",
                old.source, self.opts.max_pending, self.opts.max_per_source
            ));
        }
        PendingGuard {
            daemon: self,
            id: Some(id),
        }
    }

    /// Notes that a pending connection made progress: a byte came.
    fn touch(&self, id: Option<u64>) {
        let Some(id) = id else { return };
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = p.conns.iter_mut().find(|c| c.id == id) {
            c.progress = Instant::now();
        }
    }

    fn unregister(&self, id: u64) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.conns.retain(|c| c.id != id);
    }
}

/// The block a source address counts in for `--max-per-source`: its /24 (IPv4) or /56
/// (IPv6), so that one host with many addresses is one source.
fn source_block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => std::net::Ipv4Addr::from(u32::from(v4) & 0xffff_ff00).into(),
        IpAddr::V6(v6) => std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 72) - 1)).into(),
    }
}

/// A handshake's reader that tells the daemon of every byte that comes, so that a
/// connection whose handshake is arriving is never the one evicted.
struct Touching<'a, R> {
    inner: R,
    daemon: &'a Daemon,
    id: Option<u64>,
}

impl<R: std::io::Read> std::io::Read for Touching<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.daemon.touch(self.id);
        }
        Ok(n)
    }
}

/// Runs the receiver until killed (or after one sender with `once`).
pub fn serve(opts: &ServeOptions) -> Result<(), ServeError> {
    let listener = bind_control(opts.listen)?;
    let addr = listener.local_addr()?;
    // The first line on stdout is for scripts (and `run`'s local child): where we listen.
    println!("listening on {addr}");
    std::io::stdout().flush()?;
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
            .name("sockbench-conn".into())
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
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handle_sender(daemon, stream, peer)
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => daemon.log(&format!("{peer}: {e}")),
        Err(_) => daemon.log(&format!(
            "{peer}: the connection's handler panicked; the daemon goes on"
        )),
    }
}

/// The handshake: version check and, with a key, mutual authentication, all within the
/// handshake deadline and with pre-authentication size limits. Returns the session key
/// (with a key) when the sender may run tests.
fn handshake(
    daemon: &Daemon,
    stream: &TcpStream,
    until: Instant,
    pending: Option<u64>,
) -> Result<Option<SessionKey>, ControlError> {
    let (facts, psk) = (&daemon.facts, daemon.opts.psk.as_ref());
    let mut w = stream;
    let mut r = Touching {
        inner: control::Deadline { stream, until },
        daemon,
        id: pending,
    };
    let hello = control::recv_limited(&mut r, control::MAX_PRE_AUTH)?;
    if let Err(e) = control::check_hello(hello) {
        let message = hello_refusal(&e);
        let _ = control::send(&mut w, &Message::Error { message });
        return Err(e);
    }
    let max = daemon.opts.max_concurrent;
    if daemon.tests.load(Ordering::SeqCst) >= max {
        // Said at once, so that a sender need not wait; this connection holds no slot.
        let message = TestError::Busy(max).to_string();
        let _ = control::send(
            &mut w,
            &Message::Error {
                message: message.clone(),
            },
        );
        return Err(ControlError::Remote(message));
    }
    let Some(psk) = psk else {
        let welcome = Message::Welcome {
            version: PROTOCOL_VERSION,
            sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
            challenge: None,
            host: Some(facts.clone()),
        };
        control::send(&mut w, &welcome)?;
        return Ok(None);
    };
    authenticate(stream, &mut r, psk, facts).map(Some)
}

/// Why a hello is refused, said from the receiver's side, so that the sender's user reads
/// it right.
fn hello_refusal(e: &ControlError) -> String {
    match e {
        ControlError::Version {
            ours,
            theirs,
            peer_version,
        } => format!(
            "protocol version mismatch: the receiver speaks version {ours} (sockbench {}), \
             the sender version {theirs} (sockbench {peer_version}); run the same release on both hosts",
            env!("CARGO_PKG_VERSION")
        ),
        other => other.to_string(),
    }
}

/// The challenge-response with a key: our nonce out, the sender's proof over both nonces
/// in, ours back. Returns the session key both ends derive.
fn authenticate(
    stream: &TcpStream,
    r: &mut impl std::io::Read,
    psk: &Psk,
    facts: &HostFacts,
) -> Result<SessionKey, ControlError> {
    let mut w = stream;
    let ours = auth::nonce();
    let welcome = Message::Welcome {
        version: PROTOCOL_VERSION,
        sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
        challenge: Some(auth::hex(&ours)),
        host: None,
    };
    control::send(&mut w, &welcome)?;
    let (theirs, proof) = match control::recv_limited(r, control::MAX_PRE_AUTH)? {
        Message::Auth { nonce, proof } => (nonce, proof),
        Message::Error { message } => return Err(ControlError::Remote(control::clip(&message))),
        other => {
            return Err(ControlError::Unexpected {
                expected: "auth",
                got: other.name(),
            })
        }
    };
    let theirs = auth::unhex(&theirs).filter(|n| n.len() == auth::NONCE_LEN);
    let Some(theirs) = theirs.filter(|t| psk.verify(auth::SENDER_LABEL, &ours, t, &proof)) else {
        let message =
            "authentication failed: the sender does not hold this receiver's key".to_string();
        let _ = control::send(
            &mut w,
            &Message::Error {
                message: message.clone(),
            },
        );
        return Err(ControlError::Remote(message));
    };
    let proof = psk.prove(auth::RECEIVER_LABEL, &theirs, &ours);
    control::send(
        &mut w,
        &Message::AuthOk {
            proof,
            host: facts.clone(),
        },
    )?;
    Ok(SessionKey::derive(psk, &ours, &theirs))
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
    if key.is_some() {
        // Authenticated: a stranger's connections can no longer evict this one.
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

/// Where a request asks this daemon to send (None: it asks it to receive), if it may: a
/// relay needs a keyed connection (or `--allow-relay-without-key`) and an allowed peer.
fn relay_target(
    opts: &ServeOptions,
    keyed: bool,
    relay_to: Option<&str>,
) -> Result<Option<SocketAddr>, TestError> {
    let Some(to) = relay_to else {
        return Ok(None);
    };
    if !keyed && !opts.allow_relay_without_key {
        return Err(TestError::RelayWithoutKey);
    }
    allowed_peer(opts, to).map(Some)
}

/// Whether this daemon may be asked to send to `to` (ADDR:PORT): loopback, or an address
/// in `--allow-peers`. Without it, anyone holding the key could aim the daemon's traffic
/// at any address.
fn allowed_peer(opts: &ServeOptions, to: &str) -> Result<SocketAddr, TestError> {
    let addr: SocketAddr = to
        .parse()
        .map_err(|_| TestError::PeerAddress(control::clip(to)))?;
    let ip = addr.ip().to_canonical();
    if ip.is_loopback() || opts.allow_peers.iter().any(|c| c.contains(ip)) {
        return Ok(addr);
    }
    let allowed: Vec<String> = opts.allow_peers.iter().map(|c| c.to_string()).collect();
    Err(TestError::PeerNotAllowed {
        allowed: if allowed.is_empty() {
            "none given".to_string()
        } else {
            allowed.join(",")
        },
        ip,
    })
}

/// A test this daemon runs as the sender for a controller: connects to the peer daemon
/// with this daemon's key, runs it as `run` would, and answers with both sides' figures.
fn relay(
    daemon: &Daemon,
    ctl: &mut Channel<TcpStream>,
    to: SocketAddr,
    spec: &TestSpec,
    start_at_ms: Option<u64>,
) -> Result<(), TestError> {
    let start_at = start_at_ms.map(|ms| std::time::UNIX_EPOCH + Duration::from_millis(ms));
    let outcome = match crate::session::sender::Peer::connect(to, daemon.opts.psk.as_ref()) {
        Ok(mut peer) => {
            let outcome = crate::session::sender::run_test_at(
                &mut peer,
                spec,
                Arc::new(AtomicBool::new(false)),
                start_at,
            );
            crate::session::sender::RelayOutcome {
                outcome,
                receiver_host: Some(peer.host.clone()),
            }
        }
        Err(e) => crate::session::sender::RelayOutcome {
            outcome: crate::session::sender::TestOutcome::failed(
                crate::session::sender::Status::Error,
                relay_reach_error(to, e),
            ),
            receiver_host: None,
        },
    };
    let _ = ctl.stream.set_write_timeout(Some(SETUP_TIMEOUT));
    ctl.send(&Message::Relayed {
        outcome: Box::new(outcome),
    })?;
    Ok(())
}

/// Why the peer a controller named could not be reached, said without what would make
/// this daemon a port scanner for it: whether a port that is not a sockbench daemon's is
/// open, and what it sent, are not told. What a real daemon answered is.
fn relay_reach_error(to: SocketAddr, e: crate::session::sender::ReachError) -> String {
    use crate::session::sender::ReachError;
    match e {
        ReachError::Connect { .. }
        | ReachError::Handshake {
            source:
                ControlError::NotSockbench(_)
                | ControlError::Decode(_)
                | ControlError::Closed
                | ControlError::Timeout
                | ControlError::Io(_)
                | ControlError::TooLarge(..)
                | ControlError::Unexpected { .. },
            ..
        } => format!(
            "the peer at {to} did not answer as a sockbench daemon (unreachable, or not sockbench)"
        ),
        other => other.to_string(),
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
    let ctx = RoleCtx {
        spec: Arc::new(spec.clone()),
        t0: Instant::now(),
        abort: abort.clone(),
        stop: stop.clone(),
        spin: false,
    };
    let t0 = ctx.t0;
    let mut roles = spawn_roles(conns, Side::Receiver, &ctx);
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
    transport::probe(spec.protocol, &[&spec.receiver])
        .map_err(|e| TestError::Unsupported(e.into()))?;
    let token = random_token();
    let local_ip: IpAddr = ctl.stream.local_addr()?.ip().to_canonical();
    let (data, endpoints) = ServerData::open(spec, local_ip, token, opts.data_ports)
        .map_err(|e| TestError::Data(e.into()))?;
    let deadline = Instant::now() + opts.setup_timeout;
    let attach_spec = spec.clone();
    let cancel = Arc::new(AtomicBool::new(false));
    let attach_cancel = cancel.clone();
    let attacher = thread::Builder::new()
        .name("sockbench-attach".into())
        .spawn(move || data.attach(&attach_spec, token, deadline, &attach_cancel))
        .map_err(TestError::Thread)?;
    let started = (|| -> Result<(), TestError> {
        ctl.send(&Message::Ready { token, endpoints })?;
        ctl.stream.set_read_timeout(Some(opts.setup_timeout))?;
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
    let attached = attacher.join().map_err(|_| TestError::AttachPanicked)?;
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

/// For fuzzing (`fuzz/`): plays `input` as the bytes a sender sends on one control
/// connection to a keyless daemon, and runs the daemon's handling of it — the handshake,
/// then any setups — to its end, over a real loopback connection. A panic or a hang is
/// the finding; nothing is returned. Setups that pass every check really open data
/// sockets; their setup deadline is short so that each input ends quickly.
pub fn fuzz_control_session(input: &[u8]) {
    use std::io::Read;
    use std::sync::OnceLock;
    static LISTENER: OnceLock<TcpListener> = OnceLock::new();
    let listener =
        LISTENER.get_or_init(|| TcpListener::bind(("127.0.0.1", 0)).expect("a loopback port"));
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let Ok(mut client) = TcpStream::connect(addr) else {
        return;
    };
    let Ok((server, peer)) = listener.accept() else {
        return;
    };
    let bytes = input.to_vec();
    let sender = thread::spawn(move || {
        let _ = client.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = client.write_all(&bytes);
        let _ = client.shutdown(Shutdown::Write);
        let mut sink = [0u8; 4096];
        while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
    });
    let daemon = Daemon {
        opts: ServeOptions {
            quiet: true,
            handshake_timeout: Duration::from_millis(500),
            setup_timeout: Duration::from_millis(200),
            ..ServeOptions::default()
        },
        facts: HostFacts::default(),
        pending: Mutex::new(Pending::default()),
        tests: AtomicUsize::new(0),
        memory: AtomicU64::new(0),
        log: Mutex::new(LogLimit {
            window: Instant::now(),
            lines: 0,
            suppressed: 0,
        }),
    };
    let _ = handle_sender(&daemon, server, peer);
    let _ = sender.join();
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

    #[test]
    fn a_daemon_sends_only_to_loopback_and_allowed_peers() {
        let mut opts = ServeOptions::default();
        assert!(allowed_peer(&opts, "127.0.0.1:5301").is_ok());
        assert!(allowed_peer(&opts, "[::1]:5301").is_ok());
        let e = allowed_peer(&opts, "192.0.2.1:5301")
            .unwrap_err()
            .to_string();
        assert!(e.contains("none given") && e.contains("192.0.2.1"), "{e}");
        opts.allow_peers = vec!["192.0.2.0/24".parse().unwrap()];
        assert!(allowed_peer(&opts, "192.0.2.1:5301").is_ok());
        assert!(allowed_peer(&opts, "198.51.100.1:5301").is_err());
        assert!(allowed_peer(&opts, "not an address").is_err());
    }
}
