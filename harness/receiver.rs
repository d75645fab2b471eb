//! The receiver process, `sockbench serve`: accepts a sender on the control port, opens
//! and configures its own data sockets from the test description, plays its roles, and
//! sends its measurements back.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use socket2::{Domain, Socket, Type};

use crate::config::{Side, TestSpec};
use crate::control::{self, ControlError, Message, PROTOCOL_VERSION};
use crate::hostinfo::HostFacts;
use crate::patterns::{spawn_roles, RoleCtx};
use crate::transport::{self, ServerData};

/// How long the receiver waits for the next message of a sender between tests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long each step of a test's setup may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Serve one sender, then exit.
    pub once: bool,
    /// No per-test log lines.
    pub quiet: bool,
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

/// Runs the receiver until killed (or after one sender with `once`).
pub fn serve(opts: &ServeOptions) -> anyhow::Result<()> {
    let listener = bind_control(opts.listen)?;
    let addr = listener.local_addr()?;
    // The first line on stdout is for scripts (and `run`'s local child): where we listen.
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    let facts = HostFacts::gather();
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("sockbench serve: accept: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let outcome = handle_sender(stream, peer, &facts, opts.quiet);
        if let Err(e) = outcome {
            if !opts.quiet {
                eprintln!("sockbench serve: {peer}: {e}");
            }
        }
        if opts.once {
            return Ok(());
        }
    }
}

/// Serves one control connection: the handshake, then any number of tests.
fn handle_sender(
    mut stream: TcpStream,
    peer: SocketAddr,
    facts: &HostFacts,
    quiet: bool,
) -> Result<(), ControlError> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    stream.set_write_timeout(Some(SETUP_TIMEOUT))?;
    let hello = control::recv(&mut stream)?;
    if let Err(e) = control::check_hello(hello) {
        let _ = control::send(
            &mut stream,
            &Message::Error {
                message: e.to_string(),
            },
        );
        return Err(e);
    }
    control::send(
        &mut stream,
        &Message::Welcome {
            version: PROTOCOL_VERSION,
            sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
            host: facts.clone(),
        },
    )?;
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
        let result = run_test(&mut stream, peer, &spec);
        if !quiet {
            let what = format!(
                "{} {} {} x{} for {:?}",
                spec.protocol, spec.pattern, spec.direction, spec.flows, spec.duration
            );
            match &result {
                Ok(()) => eprintln!(
                    "sockbench serve: {peer}: {what}: done in {:.1?}",
                    started.elapsed()
                ),
                Err(e) => eprintln!("sockbench serve: {peer}: {what}: {e}"),
            }
        }
        if let Err(e) = result {
            let _ = control::send(&mut stream, &Message::Error { message: e.clone() });
            return Err(ControlError::Remote(e));
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
fn run_test(stream: &mut TcpStream, peer: SocketAddr, spec: &TestSpec) -> Result<(), String> {
    spec.validate().map_err(|e| e.to_string())?;
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
    let (data, endpoints) = ServerData::open(spec, local_ip, token)?;
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
