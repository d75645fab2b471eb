//! The receiver process, `sockbench serve`: accepts a sender on the control port, opens
//! and configures its own data sockets from the test description, plays its roles, and
//! sends its measurements back.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use socket2::{Domain, Socket, Type};

use crate::auth::{self, Psk};
use crate::config::{Side, TestSpec};
use crate::control::{self, ControlError, Message, PROTOCOL_VERSION};
use crate::hostinfo::HostFacts;
use crate::patterns::{spawn_roles, RoleCtx};
use crate::transport::{self, ServerData};

/// How long the receiver waits for the next message of a sender between tests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long each step of a test's setup may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// What a receiver lets a sender ask for. `None` = no cap.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Longest warm-up + duration of one test.
    pub max_duration: Option<Duration>,
    pub max_flows: Option<u32>,
    /// Largest SO_SNDBUF / SO_RCVBUF request on either side.
    pub max_buffer: Option<u64>,
    /// Largest `rate` (bits/s for stream, transactions/s for rr).
    pub max_rate: Option<u64>,
}

impl Limits {
    /// Refuses a test that asks for more than this receiver allows.
    pub fn check(&self, spec: &TestSpec) -> Result<(), String> {
        let asked = spec.warmup + spec.duration;
        if let Some(max) = self.max_duration.filter(|m| asked > *m) {
            return Err(format!("refused: this receiver allows tests of at most {max:?} (warm-up included); asked for {asked:?}"));
        }
        if let Some(max) = self.max_flows.filter(|m| spec.flows > *m) {
            return Err(format!(
                "refused: this receiver allows at most {max} flows; asked for {}",
                spec.flows
            ));
        }
        if let Some(max) = self.max_buffer {
            for k in [&spec.sender, &spec.receiver] {
                for v in [k.sndbuf, k.rcvbuf].into_iter().flatten() {
                    if v > max {
                        return Err(format!("refused: this receiver allows socket buffers of at most {max} bytes; asked for {v}"));
                    }
                }
            }
        }
        if let (Some(max), Some(rate)) = (self.max_rate, spec.rate) {
            if rate > max {
                return Err(format!(
                    "refused: this receiver allows a rate of at most {max}; asked for {rate}"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Serve one sender, then exit.
    pub once: bool,
    /// No per-test log lines.
    pub quiet: bool,
    /// Senders served at once; the next is told the receiver is busy.
    pub max_concurrent: usize,
    pub limits: Limits,
    /// Data sockets bind to ports from this range (for firewalls); None = ephemeral.
    pub data_ports: Option<(u16, u16)>,
    /// With a key, a sender must prove it holds the same key.
    pub psk: Option<Psk>,
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
        }
    }
}

/// Opens the control listener. `[::]` listens on IPv4 too where the host allows it.
pub fn bind_control(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::STREAM, None).context("control socket")?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        let _ = sock.set_only_v6(false);
    }
    sock.bind(&addr.into())
        .with_context(|| format!("cannot listen on {addr}"))?;
    sock.listen(64)?;
    Ok(sock.into())
}

/// Decrements the count of senders being served when a handler ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs the receiver until killed (or after one sender with `once`).
pub fn serve(opts: &ServeOptions) -> anyhow::Result<()> {
    let listener = bind_control(opts.listen)?;
    let addr = listener.local_addr()?;
    // The first line on stdout is for scripts (and `run`'s local child): where we listen.
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    serve_on(listener, opts)
}

/// A receiver on a thread of this process (for benches and embedding): binds `opts.listen`
/// and serves until the process ends. Returns the address it listens on.
pub fn spawn_receiver(opts: &ServeOptions) -> anyhow::Result<SocketAddr> {
    let listener = bind_control(opts.listen)?;
    let addr = listener.local_addr()?;
    let opts = opts.clone();
    thread::spawn(move || serve_on(listener, &opts));
    Ok(addr)
}

/// The accept loop on an open control listener.
pub fn serve_on(listener: TcpListener, opts: &ServeOptions) -> anyhow::Result<()> {
    let opts = Arc::new(opts.clone());
    let facts = Arc::new(HostFacts::gather());
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("sockbench serve: accept: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if opts.once {
            if let Err(e) = handle_sender(stream, peer, &facts, &opts) {
                log(&opts, &format!("{peer}: {e}"));
            }
            return Ok(());
        }
        let busy = active.fetch_add(1, Ordering::SeqCst) >= opts.max_concurrent;
        let slot = Slot(active.clone());
        let (facts, opts) = (facts.clone(), opts.clone());
        thread::spawn(move || {
            let _slot = slot;
            let result = if busy {
                refuse_busy(stream, opts.max_concurrent)
            } else {
                handle_sender(stream, peer, &facts, &opts)
            };
            if let Err(e) = result {
                log(&opts, &format!("{peer}: {e}"));
            }
        });
    }
}

fn log(opts: &ServeOptions, line: &str) {
    if !opts.quiet {
        eprintln!("sockbench serve: {line}");
    }
}

/// Tells a sender at once that every slot is taken, rather than leaving it waiting.
fn refuse_busy(mut stream: TcpStream, max: usize) -> Result<(), ControlError> {
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    // Read the hello first so that the sender sees our answer, not a reset.
    let _ = control::recv(&mut stream);
    let message = format!("busy: this receiver is serving {max} sender(s) already (--max-concurrent {max}); try later");
    control::send(
        &mut stream,
        &Message::Error {
            message: message.clone(),
        },
    )?;
    Err(ControlError::Remote(message))
}

/// The handshake: version check and, with a key, mutual authentication. Returns when the
/// sender may run tests.
fn handshake(
    stream: &mut TcpStream,
    facts: &HostFacts,
    psk: Option<&Psk>,
) -> Result<(), ControlError> {
    let hello = control::recv(stream)?;
    if let Err(e) = control::check_hello(hello) {
        // Said from the receiver's side, so that the sender's user reads it right.
        let message = match &e {
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
        };
        let _ = control::send(stream, &Message::Error { message });
        return Err(e);
    }
    let version = env!("CARGO_PKG_VERSION").to_string();
    let Some(psk) = psk else {
        let welcome = Message::Welcome {
            version: PROTOCOL_VERSION,
            sockbench_version: version,
            challenge: None,
            host: Some(facts.clone()),
        };
        return control::send(stream, &welcome);
    };
    let ours = auth::nonce();
    let welcome = Message::Welcome {
        version: PROTOCOL_VERSION,
        sockbench_version: version,
        challenge: Some(auth::hex(&ours)),
        host: None,
    };
    control::send(stream, &welcome)?;
    let (theirs, proof) = control::expect(stream, "auth", |m| match m {
        Message::Auth { nonce, proof } => Some((nonce, proof)),
        _ => None,
    })?;
    let theirs = auth::unhex(&theirs).filter(|n| n.len() == auth::NONCE_LEN);
    let Some(theirs) = theirs.filter(|t| psk.verify(auth::SENDER_LABEL, &ours, t, &proof)) else {
        let message =
            "authentication failed: the sender does not hold this receiver's key".to_string();
        let _ = control::send(
            stream,
            &Message::Error {
                message: message.clone(),
            },
        );
        return Err(ControlError::Remote(message));
    };
    let proof = psk.prove(auth::RECEIVER_LABEL, &theirs, &ours);
    control::send(
        stream,
        &Message::AuthOk {
            proof,
            host: facts.clone(),
        },
    )
}

/// Serves one control connection: the handshake, then any number of tests.
fn handle_sender(
    mut stream: TcpStream,
    peer: SocketAddr,
    facts: &HostFacts,
    opts: &ServeOptions,
) -> Result<(), ControlError> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    stream.set_write_timeout(Some(SETUP_TIMEOUT))?;
    handshake(&mut stream, facts, opts.psk.as_ref())?;
    loop {
        stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
        let spec = match control::recv(&mut stream) {
            Ok(Message::Setup { spec }) => spec,
            Ok(other) => {
                return Err(ControlError::Unexpected {
                    expected: "setup",
                    got: other.name(),
                });
            }
            Err(ControlError::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        let started = Instant::now();
        let result = run_test(&mut stream, peer, &spec, opts);
        let what = format!(
            "{} {} {} x{} for {:?}",
            spec.protocol, spec.pattern, spec.direction, spec.flows, spec.duration
        );
        match &result {
            Ok(()) => log(
                opts,
                &format!("{peer}: {what}: done in {:.1?}", started.elapsed()),
            ),
            Err(e) => log(opts, &format!("{peer}: {what}: {e}")),
        }
        if let Err(e) = result {
            // Already logged above; the sender hears why, and the connection ends.
            let _ = control::send(&mut stream, &Message::Error { message: e });
            return Ok(());
        }
    }
}

fn random_token() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        // Fall back on the clock: the token is not a secret without authentication.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return t.as_nanos() as u64 ^ (std::process::id() as u64) << 32;
    }
    u64::from_le_bytes(buf)
}

/// One test: setup, the roles, the report. An `Err` is reported to the sender.
fn run_test(
    stream: &mut TcpStream,
    peer: SocketAddr,
    spec: &TestSpec,
    opts: &ServeOptions,
) -> Result<(), String> {
    spec.validate().map_err(|e| e.to_string())?;
    opts.limits.check(spec)?;
    if spec.protocol.is_unix() && !peer.ip().to_canonical().is_loopback() {
        return Err(format!(
            "{} needs both processes on one host; this sender connected from {}",
            spec.protocol,
            peer.ip()
        ));
    }
    transport::probe(spec.protocol, &[&spec.receiver]).map_err(|e| format!("receiver: {e}"))?;
    let token = random_token();
    let local_ip: IpAddr = stream
        .local_addr()
        .map_err(|e| e.to_string())?
        .ip()
        .to_canonical();
    let (data, endpoints) = ServerData::open(spec, local_ip, token, opts.data_ports)?;
    let deadline = Instant::now() + SETUP_TIMEOUT;
    let attach_spec = spec.clone();
    let attacher = thread::spawn(move || data.attach(&attach_spec, token, deadline));
    let ctl = |e: ControlError| e.to_string();
    control::send(stream, &Message::Ready { token, endpoints }).map_err(ctl)?;
    stream
        .set_read_timeout(Some(SETUP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    control::expect(stream, "start", |m| match m {
        Message::Start => Some(()),
        _ => None,
    })
    .map_err(ctl)?;
    let conns = attacher
        .join()
        .map_err(|_| "the data attach thread panicked".to_string())??;

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
    let roles = spawn_roles(conns, Side::Receiver, &ctx);
    control::send(stream, &Message::Started).map_err(ctl)?;

    // Wait for the sender to finish; if the control connection dies, abort the roles.
    let hard = t0 + spec.hard_deadline() + SETUP_TIMEOUT;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(250)));
    let finish = loop {
        match control::recv(stream) {
            Ok(Message::Finish) => break Ok(()),
            Ok(other) => {
                break Err(format!(
                    "unexpected {} message during the test",
                    other.name()
                ))
            }
            Err(ControlError::Timeout) if Instant::now() < hard => continue,
            Err(e) => break Err(format!("the sender went away: {e}")),
        }
    };
    match finish {
        Ok(()) => stop.store(true, Ordering::Relaxed),
        Err(_) => abort.store(true, Ordering::Relaxed),
    }
    let report = roles.join();
    finish?;
    let _ = stream.set_write_timeout(Some(SETUP_TIMEOUT));
    control::send(
        stream,
        &Message::Results {
            report: Box::new(report),
        },
    )
    .map_err(ctl)
}
