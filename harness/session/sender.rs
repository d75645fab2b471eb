//! The sender process's side of a test: connecting to a receiver (or starting a local one
//! as a child process), running a test over the control channel, and gathering both
//! sides' measurements.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::engine::RoleCtx;
use crate::measure::hostinfo::HostFacts;
pub use crate::measure::outcome::{RelayOutcome, Status, TestOutcome};
use crate::measure::SideReport;
use crate::net::auth::{self, Psk};
use crate::net::control::{self, Channel, ControlError, Message, SessionKey, Way, DEFAULT_PORT};
use crate::net::transport::ClientData;
use crate::session::roles::spawn_roles;
use crate::spec::config::{Side, TestSpec};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a receiver may take to answer the hello. A daemon answers at once (its own
/// deadline for the whole handshake is 5 s): a listener silent this long is not one.
pub const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum ReachError {
    #[error("'{0}' is not HOST or HOST:PORT")]
    BadAddress(String),
    #[error("cannot resolve '{0}': {1}")]
    Resolve(String, std::io::Error),
    // The cause is in the message, not a `source` too: an error chain printed whole
    // (`error: {e:#}`) would say it twice.
    #[error("cannot reach the receiver at {addr}: {error} (is `sockbench serve` running there?)")]
    Connect {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(
        "the receiver at {addr} did not answer the handshake within {}s (is it `sockbench serve`, and not another service?)",
        WELCOME_TIMEOUT.as_secs()
    )]
    Silent { addr: SocketAddr },
    #[error("the receiver at {addr} refused the handshake: {error}")]
    Handshake {
        addr: SocketAddr,
        error: ControlError,
    },
    #[error("the receiver at {addr}: {message}")]
    Auth { addr: SocketAddr, message: String },
    #[error("starting the local receiver: {0}")]
    Local(LocalError),
}

/// Why the local receiver (a `sockbench serve` child) did not start.
#[derive(Debug, Error)]
pub enum LocalError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it did not report its address")]
    Silent,
    #[error("unexpected first line {0:?}")]
    FirstLine(String),
}

/// Parses `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address; the port defaults to 5301.
pub fn resolve_target(target: &str) -> Result<SocketAddr, ReachError> {
    let t = target.trim();
    if t.is_empty() {
        return Err(ReachError::BadAddress(target.to_string()));
    }
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    let with_port = match t.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            port.parse::<u16>()
                .map_err(|_| ReachError::BadAddress(target.to_string()))?;
            t.to_string()
        }
        _ => format!("{t}:{DEFAULT_PORT}"),
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| ReachError::Resolve(target.to_string(), e))?
        .next()
        .ok_or_else(|| ReachError::BadAddress(target.to_string()))
}

/// A control connection to a receiver that has accepted our handshake.
pub struct Peer {
    control: Channel<TcpStream>,
    pub addr: SocketAddr,
    pub host: HostFacts,
    pub version: String,
}

impl Peer {
    /// Connects and completes the handshake; with a key, both ends prove they hold it.
    pub fn connect(addr: SocketAddr, psk: Option<&Psk>) -> Result<Peer, ReachError> {
        let mut control = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|error| ReachError::Connect { addr, error })?;
        let hs = |error| ReachError::Handshake { addr, error };
        control.set_nodelay(true).map_err(|e| hs(e.into()))?;
        control
            .set_read_timeout(Some(WELCOME_TIMEOUT))
            .map_err(|e| hs(e.into()))?;
        control
            .set_write_timeout(Some(STEP_TIMEOUT))
            .map_err(|e| hs(e.into()))?;
        control::send(&mut control, &Message::hello()).map_err(hs)?;
        let (version, peer_version, challenge, host) =
            control::expect(&mut control, "welcome", |m| match m {
                Message::Welcome {
                    version,
                    sockbench_version,
                    challenge,
                    host,
                } => Some((version, sockbench_version, challenge, host)),
                _ => None,
            })
            .map_err(|e| match e {
                ControlError::Timeout => ReachError::Silent { addr },
                e => hs(e),
            })?;
        control
            .set_read_timeout(Some(STEP_TIMEOUT))
            .map_err(|e| hs(e.into()))?;
        let peer_version = control::clip(&peer_version);
        if version != control::PROTOCOL_VERSION {
            return Err(hs(ControlError::Version {
                ours: control::PROTOCOL_VERSION,
                theirs: version,
                peer_version,
            }));
        }
        let auth_err = |msg: &str| ReachError::Auth {
            addr,
            message: msg.to_string(),
        };
        let (host, key) = match (challenge, psk, host) {
            (None, None, Some(host)) => (host, None),
            (None, Some(_), _) => {
                return Err(auth_err(
                    "this sender has a key but the receiver asks for none; refusing to run unauthenticated (start the receiver with the same --psk-file)",
                ))
            }
            (Some(_), None, _) => {
                return Err(auth_err("the receiver requires a pre-shared key: pass --psk-file with its key"))
            }
            (Some(challenge), Some(psk), _) => {
                let theirs = auth::unhex(&challenge)
                    .filter(|n| n.len() == auth::NONCE_LEN)
                    .ok_or_else(|| auth_err("the receiver sent a malformed challenge"))?;
                let ours = auth::nonce();
                let proof = psk.prove(auth::SENDER_LABEL, &theirs, &ours);
                control::send(&mut control, &Message::Auth { nonce: auth::hex(&ours), proof })
                    .map_err(hs)?;
                let (proof, host) = control::expect(&mut control, "auth_ok", |m| match m {
                    Message::AuthOk { proof, host } => Some((proof, host)),
                    _ => None,
                })
                .map_err(|e| match e {
                    ControlError::Remote(m) => auth_err(&control::clean(&m, control::MAX_REPORT)),
                    other => hs(other),
                })?;
                if !psk.verify(auth::RECEIVER_LABEL, &ours, &theirs, &proof) {
                    return Err(auth_err("the receiver could not prove it holds the key"));
                }
                (host, Some(SessionKey::derive(psk, &theirs, &ours)))
            }
            (None, None, None) => return Err(auth_err("the receiver sent no host facts")),
        };
        Ok(Peer {
            control: Channel::new(control, key, Way::ToReceiver, control::MAX_MESSAGE),
            addr,
            host,
            version: peer_version,
        })
    }
}

impl Peer {
    /// The control channel after the handshake, for tests that play a hostile sender
    /// over the real protocol (`tests/hostile.rs`).
    #[doc(hidden)]
    pub fn channel(&mut self) -> &mut Channel<TcpStream> {
        &mut self.control
    }
}

/// A `sockbench serve` child process on loopback: the embedded default receiver.
pub struct LocalReceiver {
    child: Child,
    _stdout: ChildStdout,
    pub addr: SocketAddr,
}

impl LocalReceiver {
    /// Starts `sockbench serve` on an ephemeral loopback port, with the same key file as
    /// the sender when it has one.
    pub fn spawn(psk_file: Option<&std::path::Path>) -> Result<LocalReceiver, ReachError> {
        let exe = std::env::current_exe().map_err(|e| ReachError::Local(e.into()))?;
        let mut cmd = Command::new(exe);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--quiet"]);
        if let Some(path) = psk_file {
            cmd.arg("--psk-file").arg(path);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        {
            // A process group of its own: Ctrl-C at the terminal reaches `run` only, which
            // then fetches this receiver's figures before stopping it.
            crate::sys::process::own_group(&mut cmd);
            // A killed `run` never leaves a receiver behind.
            crate::sys::process::die_with_parent(&mut cmd);
        }
        let mut child = cmd.spawn().map_err(|e| ReachError::Local(e.into()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        // Read the "listening on ADDR" line without blocking forever.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let r = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send((r, reader.into_inner()));
        });
        let fail = |child: &mut Child, e: LocalError| {
            let _ = child.kill();
            let _ = child.wait();
            ReachError::Local(e)
        };
        let (line, stdout) = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((Ok(line), stdout)) => (line, stdout),
            Ok((Err(e), _)) => return Err(fail(&mut child, e.into())),
            Err(_) => return Err(fail(&mut child, LocalError::Silent)),
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| fail(&mut child, LocalError::FirstLine(line.clone())))?;
        Ok(LocalReceiver {
            child,
            _stdout: stdout,
            addr,
        })
    }
}

impl Drop for LocalReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one test against a connected receiver.
pub fn run_test(peer: &mut Peer, spec: &TestSpec, abort: Arc<AtomicBool>) -> TestOutcome {
    run_test_at(peer, spec, abort, None)
}

/// The longest a test may be asked to wait, set up, for its start time.
pub const MAX_START_WAIT: Duration = Duration::from_secs(10);

/// [`run_test`], with the traffic started at `start_at` (wall clock) once set up: the
/// tests of a fleet round, on hosts whose clocks agree, run over the same window. A
/// start time already past starts at once; one beyond [`MAX_START_WAIT`] is not waited for.
pub fn run_test_at(
    peer: &mut Peer,
    spec: &TestSpec,
    abort: Arc<AtomicBool>,
    start_at: Option<std::time::SystemTime>,
) -> TestOutcome {
    let started = std::time::SystemTime::now();
    let data = match set_up(peer, spec, start_at) {
        Ok(d) => d,
        Err(e) => {
            return TestOutcome::failed(
                Status::Error,
                crate::results::vet::clean_text(&e.to_string()),
            )
        }
    };
    let ctl = &mut peer.control;
    let late = start_late(start_at);

    // The roles' own abort flag: set by the user's (Ctrl-C) and by a receiver that has
    // gone silent, which must not look like the user's.
    // (t0 is taken again once every role's thread exists: see spawn_roles.)
    let mut ctx = RoleCtx {
        spec: Arc::new(spec.clone()),
        t0: Instant::now(),
        abort: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        spin: false,
        in_flight: Default::default(),
    };
    let lost = std::sync::Mutex::new(None::<String>);
    let done = AtomicBool::new(false);
    let roles = spawn_roles(data.conns, Side::Sender, &mut ctx);
    let sender = std::thread::scope(|scope| {
        let (done, abort, lost, roles_abort) = (&done, &abort, &lost, &ctx.abort);
        let ctl = &mut *ctl;
        let watcher = scope.spawn(move || watch_receiver(ctl, done, abort, roles_abort, lost));
        let report = roles.join();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = watcher.join();
        report
    });
    let mut sender = sender;
    if let Some(late) = late {
        sender.warnings.push(format!(
            "started {} ms after the round's start time (its set-up took longer): its \
             measured window is that much later than the round's other tests'",
            late.as_millis()
        ));
    }
    let lost = lost.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(why) = lost {
        let role_error = sender.roles.iter().find_map(|r| r.error.clone());
        let mut outcome = TestOutcome {
            sender,
            receiver: None,
            status: Status::Aborted,
            error: Some(role_error.map(|r| format!("{why}; {r}")).unwrap_or(why)),
            started,
        };
        crate::results::vet::vet(spec, &mut outcome);
        return outcome;
    }
    let ours_failed = sender.roles.iter().any(|r| r.error.is_some());
    let results = fetch_results(ctl, ours_failed, ctx.t0 + results_due(spec));
    let mut outcome = outcome_of(sender, results, started);
    crate::results::vet::vet(spec, &mut outcome);
    outcome
}

/// Lateness a test of a round reports: under this, its window coincides with the others'.
const START_LATE_REPORTED: Duration = Duration::from_millis(10);

/// How much later than the round's start time `start_at` this test's traffic starts (now),
/// when it is [`START_LATE_REPORTED`] or more: the tests of a round measure over one
/// window only if each starts on time.
fn start_late(start_at: Option<std::time::SystemTime>) -> Option<Duration> {
    start_at
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .filter(|late| *late >= START_LATE_REPORTED)
}

/// Why a test could not be set up or its figures fetched; the text is what the run records.
#[derive(Debug, Error)]
enum TestFailure {
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The data connections could not be opened or attached.
    #[error("{0}")]
    Data(Box<dyn std::error::Error + Send + Sync>),
    /// The receiver's own error message.
    #[error("receiver: {0}")]
    Receiver(String),
    #[error("receiver: unexpected {0} message while waiting for results")]
    Unexpected(&'static str),
    #[error("receiver: {0}")]
    Lost(ControlError),
    #[error("receiver: no results by the test's deadline (its duration, warm-up and grace); heartbeats alone do not extend it")]
    Overdue,
}

/// Asks the receiver to set the test up, attaches the data connections, waits for the
/// start time, and has the receiver start its roles.
fn set_up(
    peer: &mut Peer,
    spec: &TestSpec,
    start_at: Option<std::time::SystemTime>,
) -> Result<ClientData, TestFailure> {
    let ctl = &mut peer.control;
    let step = STEP_TIMEOUT + super::setup_extra(spec);
    let _ = ctl.stream.set_read_timeout(Some(step));
    ctl.send(&Message::Setup {
        spec: Box::new(spec.clone()),
    })?;
    let (token, endpoints) = ctl.expect("ready", |m| match m {
        Message::Ready { token, endpoints } => Some((token, endpoints)),
        _ => None,
    })?;
    let deadline = Instant::now() + step;
    let data = ClientData::attach(
        spec,
        peer.addr.ip().to_canonical(),
        &endpoints,
        token,
        deadline,
    )
    .map_err(|e| TestFailure::Data(e.into()))?;
    if let Some(wait) = start_at
        .and_then(|t| t.duration_since(std::time::SystemTime::now()).ok())
        .filter(|w| *w <= MAX_START_WAIT)
    {
        std::thread::sleep(wait);
    }
    ctl.send(&Message::Start)?;
    ctl.expect("started", |m| match m {
        Message::Started => Some(()),
        _ => None,
    })?;
    Ok(data)
}

/// How long after the start of its traffic a test's results are due at the latest: the
/// test's own time and its grace ([`TestSpec::hard_deadline`]), and a stall's worth for
/// the receiver's roles to give up. A receiver that only sends heartbeats past it is
/// stalling, and the test is aborted.
pub fn results_due(spec: &TestSpec) -> Duration {
    spec.hard_deadline() + crate::engine::STALL
}

/// Tells the receiver our roles have finished and waits for its figures, until `due` at
/// the latest, whatever heartbeats come meanwhile.
fn fetch_results(
    ctl: &mut Channel<TcpStream>,
    ours_failed: bool,
    due: Instant,
) -> Result<SideReport, TestFailure> {
    // The receiver's roles end about when ours did, or give up after a stall. When ours
    // failed, the path may be gone: ask, but do not wait long for the partial figures.
    let wait = if ours_failed {
        Duration::from_secs(5)
    } else {
        crate::engine::STALL + STEP_TIMEOUT
    };
    let due = due.min(Instant::now() + wait);
    ctl.send(&Message::Finish)?;
    loop {
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TestFailure::Overdue);
        }
        let _ = ctl.stream.set_read_timeout(Some(left));
        // Heartbeats sent before the receiver read our finish may come first.
        match ctl.recv() {
            Ok(Message::Alive) => continue,
            Err(ControlError::Timeout) => return Err(TestFailure::Overdue),
            Ok(Message::Results { report }) => return Ok(*report),
            Ok(Message::Error { message }) => return Err(TestFailure::Receiver(message)),
            Ok(other) => return Err(TestFailure::Unexpected(other.name())),
            Err(e) => return Err(TestFailure::Lost(e)),
        }
    }
}

/// The test's outcome from our figures and the receiver's (or why they did not come).
fn outcome_of(
    sender: SideReport,
    results: Result<SideReport, TestFailure>,
    started: std::time::SystemTime,
) -> TestOutcome {
    let role_error = sender.roles.iter().find_map(|r| r.error.clone());
    match results {
        Ok(receiver) => {
            let error = role_error.or_else(|| receiver.roles.iter().find_map(|r| r.error.clone()));
            TestOutcome {
                status: if error.is_some() {
                    Status::Aborted
                } else {
                    Status::Ok
                },
                sender,
                receiver: Some(receiver),
                error,
                started,
            }
        }
        Err(e) => TestOutcome {
            sender,
            receiver: None,
            status: Status::Aborted,
            error: Some(
                role_error
                    .map(|r| format!("{r}; {e}"))
                    .unwrap_or_else(|| e.to_string()),
            ),
            started,
        },
    }
}

impl Peer {
    /// Asks this daemon to run `spec` as the sender against the daemon at `to` (a fleet
    /// run's controller does this), and waits for both sides' figures.
    pub fn relay(
        &mut self,
        to: SocketAddr,
        spec: &TestSpec,
        start_at: Option<std::time::SystemTime>,
    ) -> RelayOutcome {
        let ctl = &mut self.control;
        let step = STEP_TIMEOUT + super::setup_extra(spec);
        let wait = spec.hard_deadline() + crate::engine::STALL + step * 3;
        let _ = ctl.stream.set_read_timeout(Some(wait));
        let start_at_ms = start_at.and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as u64)
        });
        let asked = ctl.send(&Message::Relay {
            to: to.to_string(),
            spec: Box::new(spec.clone()),
            start_at_ms,
        });
        let answer = asked.and_then(|()| {
            ctl.expect("relayed", |m| match m {
                Message::Relayed { outcome } => Some(*outcome),
                _ => None,
            })
        });
        answer.unwrap_or_else(|e| RelayOutcome {
            outcome: TestOutcome::failed(
                if matches!(e, ControlError::Remote(_)) {
                    Status::Error
                } else {
                    Status::Aborted
                },
                format!("sender host {}: {e}", self.addr),
            ),
            receiver_host: None,
        })
    }
}

/// How long the receiver may go without a heartbeat during a test before it is taken for
/// stopped or gone.
pub const HEARTBEAT_LOSS: Duration = crate::engine::STALL;

/// Watches the control connection while the roles run: the receiver's heartbeats, its
/// errors, and the user's abort, which it passes on to the roles. A receiver silent for
/// [`HEARTBEAT_LOSS`] aborts the roles and is recorded in `lost`.
fn watch_receiver(
    ctl: &mut Channel<TcpStream>,
    done: &AtomicBool,
    user_abort: &AtomicBool,
    roles_abort: &AtomicBool,
    lost: &std::sync::Mutex<Option<String>>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let _ = ctl
        .stream
        .set_read_timeout(Some(Duration::from_millis(100)));
    let mut heard = Instant::now();
    let give_up = |why: String| {
        *lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        roles_abort.store(true, Relaxed);
    };
    while !done.load(Relaxed) {
        if user_abort.load(Relaxed) {
            roles_abort.store(true, Relaxed);
        }
        match ctl.recv() {
            Ok(Message::Alive) => heard = Instant::now(),
            Ok(Message::Error { message }) => return give_up(format!("receiver: {message}")),
            Ok(other) => {
                return give_up(format!(
                    "receiver: unexpected {} message during the test",
                    other.name()
                ))
            }
            Err(ControlError::Timeout) => {
                if heard.elapsed() > HEARTBEAT_LOSS {
                    return give_up(format!(
                        "the receiver sent no heartbeat for {}s: it is stopped or gone",
                        HEARTBEAT_LOSS.as_secs()
                    ));
                }
            }
            Err(e) => return give_up(format!("receiver: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_default_to_the_control_port() {
        assert_eq!(resolve_target("127.0.0.1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(resolve_target("127.0.0.1:6000").unwrap().port(), 6000);
        assert_eq!(
            resolve_target("::1").unwrap(),
            "[::1]:5301".parse().unwrap()
        );
        assert_eq!(
            resolve_target("[::1]:7000").unwrap(),
            "[::1]:7000".parse().unwrap()
        );
        assert_eq!(resolve_target("localhost").unwrap().port(), DEFAULT_PORT);
        assert!(resolve_target("127.0.0.1:http").is_err());
        assert!(resolve_target("").is_err());
    }

    #[test]
    fn a_test_that_starts_after_its_rounds_start_time_says_how_late() {
        let now = std::time::SystemTime::now();
        // No round, a start time ahead, or one a moment ago: on time.
        assert_eq!(start_late(None), None);
        assert_eq!(start_late(Some(now + Duration::from_secs(5))), None);
        // Well past it: late by at least that much.
        let late = start_late(Some(now - Duration::from_secs(2))).expect("late");
        assert!(late >= Duration::from_secs(2), "{late:?}");
    }
}
