//! Hostile peers: a sender or a receiver that has passed the handshake (with or without a
//! key) and then lies, stalls or forges. Each one is played here by a small fake speaking
//! the real control protocol; the real daemon or `sockbench run` must survive it, say what
//! happened in the row, and go on.

mod common;

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use sockbench::measure::hostinfo::HostFacts;
use sockbench::measure::{EncodedHistogram, RoleReport, SideReport};
use sockbench::net::auth::Psk;
use sockbench::net::control::{self, Channel, Message, Way, PROTOCOL_VERSION};
use sockbench::net::transport::{dgram, ClientData, DataConn, ServerData};
use sockbench::session::sender::Peer;
use sockbench::spec::config::{Direction, Pattern, Protocol, Side, TestSpec};

/// The address-space limit (`ulimit -v`, KiB) the processes under attack run with: room
/// for their threads and buffers, not for a bitmap of 2^36 bits.
const ADDRESS_SPACE_KIB: u64 = 2 << 20;
/// A key both ends of a keyed test hold.
const KEY: &str = "3f9c2a7b81d04e6f5a3c9e1b7d2f4a6c";

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sockbench ARGS` under an address-space limit (through sh's `ulimit -v`).
fn limited(args: &[&str], as_kib: u64) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {as_kib} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// A key file the daemon and the fake peers share.
fn key_file(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("key");
    std::fs::write(&path, KEY).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A daemon under attack: `sockbench serve` on a loopback port, under the address-space
/// limit.
struct Daemon {
    proc: Proc,
    addr: SocketAddr,
}

impl Daemon {
    fn start(extra: &[&str]) -> Daemon {
        Daemon::start_on("127.0.0.1:0", extra)
    }

    fn start_on(listen: &str, extra: &[&str]) -> Daemon {
        let mut args = vec!["serve", "--listen", listen];
        args.extend(extra);
        let mut child = limited(&args, ADDRESS_SPACE_KIB)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let addr = listening_addr(&mut child);
        Daemon {
            proc: Proc(child),
            addr,
        }
    }

    fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    fn alive(&mut self) -> bool {
        self.proc.0.try_wait().unwrap().is_none()
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A short single-flow udp stream: the test the forged datagrams ride on.
fn udp_stream(direction: Direction) -> TestSpec {
    TestSpec {
        protocol: Protocol::Udp,
        pattern: Pattern::Stream,
        direction,
        msg_size: 64,
        duration: Duration::from_millis(500),
        warmup: Duration::ZERO,
        interval: Duration::from_millis(100),
        ..TestSpec::default()
    }
}

/// Sends `spec` as a Setup over `peer`'s control channel: the daemon's token and data
/// endpoints from its Ready.
fn set_up(peer: &mut Peer, spec: &TestSpec) -> (u64, Vec<sockbench::net::control::DataEndpoint>) {
    let ctl = peer.channel();
    ctl.send(&Message::Setup {
        spec: Box::new(spec.clone()),
    })
    .unwrap();
    ctl.expect("ready", |m| match m {
        Message::Ready { token, endpoints } => Some((token, endpoints)),
        _ => None,
    })
    .unwrap()
}

/// A hostile sender's test, set up over the real protocol and started: the control
/// channel (in `peer`) and the attached data connections.
fn hostile_sender(addr: SocketAddr, psk: Option<&Psk>, spec: &TestSpec) -> (Peer, ClientData) {
    let mut peer = Peer::connect(addr, psk).expect("the handshake");
    let (token, endpoints) = set_up(&mut peer, spec);
    let ctl = peer.channel();
    let data = ClientData::attach(
        spec,
        IpAddr::from([127, 0, 0, 1]),
        &endpoints,
        token,
        Instant::now() + Duration::from_secs(10),
    )
    .unwrap();
    ctl.send(&Message::Start).unwrap();
    ctl.expect("started", |m| matches!(m, Message::Started).then_some(()))
        .unwrap();
    (peer, data)
}

/// Sends `seqs` as DATA datagrams of 64 bytes on `conn`, then the END markers saying
/// `count` were sent.
fn send_datagrams(conn: &DataConn, seqs: &[u64], count: u64) {
    let mut buf = [0u8; 64];
    let send = |buf: &[u8]| match &conn.peer {
        Some(to) => conn.sock.send_to(buf, to),
        None => conn.sock.send(buf),
    };
    for &seq in seqs {
        dgram::put_header(&mut buf, seq, dgram::DATA, conn.plan.id);
        send(&buf).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(50));
    for _ in 0..3 {
        dgram::put_header(&mut buf, count, dgram::END, conn.plan.id);
        let _ = send(&buf);
    }
}

/// Asks for the receiver's figures after the traffic, as `run` does.
fn finish(ctl: &mut Channel<TcpStream>) -> Result<SideReport, String> {
    ctl.stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    ctl.send(&Message::Finish).map_err(|e| e.to_string())?;
    loop {
        match ctl.recv() {
            Ok(Message::Alive) => continue,
            Ok(Message::Results { report }) => return Ok(*report),
            Ok(other) => return Err(format!("{other:?}")),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Ten real datagrams and forged sequence numbers among them.
fn forged_seqs() -> Vec<u64> {
    vec![0, 1, 2, (1 << 36) - 1, 3, 4, 1 << 33, 5, 6, 7, 8, 9]
}

#[test]
fn one_forged_datagram_costs_a_daemon_no_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path());
    let psk = Psk::from_bytes(KEY.as_bytes());
    for keyed in [false, true] {
        let mut daemon = if keyed {
            Daemon::start(&["--psk-file", key.to_str().unwrap()])
        } else {
            Daemon::start(&[])
        };
        let before = rss_kib(daemon.pid());
        let spec = udp_stream(Direction::Forward);
        let (mut peer, data) = hostile_sender(daemon.addr, keyed.then_some(&psk), &spec);
        send_datagrams(&data.conns[0], &forged_seqs(), 10);
        let report = finish(peer.channel())
            .unwrap_or_else(|e| panic!("keyed {keyed}: the daemon's figures did not come: {e}"));
        assert!(daemon.alive(), "keyed {keyed}: the daemon died");
        let role = &report.roles[0];
        assert_eq!(
            (role.messages_received, role.invalid, role.duplicated),
            (10, 2, 0),
            "keyed {keyed}: {role:?}"
        );
        let after = rss_kib(daemon.pid());
        assert!(
            after < before + (64 << 10),
            "keyed {keyed}: RSS grew from {before} KiB to {after} KiB"
        );
    }
}

/// A reverse udp test's data goes where its hello came from. A hello from an address
/// other than the control connection's (a forged source; here another address of the
/// sender host, in a namespace lab) is ignored, keyed or not: the daemon's traffic cannot
/// be aimed at a third host. The sender's own hello, after it, is the one acked and sent
/// to. Needs root and iproute2 (the lab); skipped without.
#[test]
fn a_hello_from_another_address_cannot_aim_a_daemons_datagrams() {
    if !common::lab::lab_needs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path());
    for keyed in [false, true] {
        let mut lab = common::lab::Lab::up(if keyed { "hk" } else { "hn" }, None, None);
        let psk_args = ["--psk-file", key.to_str().unwrap()];
        lab.serve_with("198.51.100.2:5301", if keyed { &psk_args[..] } else { &[] });
        // A second address on the sender host: the "third host" a forged hello names.
        let ns = lab.ns("snd");
        let added = Command::new("ip")
            .args(["-n", &ns, "addr", "add", "192.0.2.3/24", "dev", "snd0"])
            .status()
            .unwrap();
        assert!(added.success());
        let (to_sender, to_victim, sent) = thread::scope(|s| {
            s.spawn(|| {
                lab.enter("snd");
                let psk = Psk::from_bytes(KEY.as_bytes());
                aim_a_reverse_udp_test(keyed.then_some(&psk))
            })
            .join()
            .unwrap()
        });
        assert_eq!(
            to_victim, 0,
            "keyed {keyed}: datagrams went to the other address"
        );
        assert!(
            to_sender as u64 > sent.min(1),
            "keyed {keyed}: the sender got {to_sender} datagrams (the ack and data)"
        );
    }
}

/// From the lab's sender host: sets up a reverse udp test with the daemon, sends its
/// hello first from 192.0.2.3, then from the sender's own 192.0.2.2, runs it. The
/// datagrams each address received, and what the daemon says it sent.
fn aim_a_reverse_udp_test(psk: Option<&Psk>) -> (usize, usize, u64) {
    use sockbench::net::control::DataEndpoint;
    let daemon = SocketAddr::from(([198, 51, 100, 2], 5301));
    let mut peer = Peer::connect(daemon, psk).expect("the handshake");
    let (token, endpoints) = set_up(&mut peer, &udp_stream(Direction::Reverse));
    let ctl = peer.channel();
    let [DataEndpoint::Port(port)] = endpoints[..] else {
        panic!("{endpoints:?}")
    };
    let to = SocketAddr::new(daemon.ip(), port);
    let mut hello = [0u8; 16];
    dgram::put_header(&mut hello, token, dgram::HELLO, 0);
    // A read that waits this long is a hang (the END markers never came), not a speed.
    let socket_at = |ip: [u8; 4]| {
        let s = std::net::UdpSocket::bind(SocketAddr::from((ip, 0))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    let victim = socket_at([192, 0, 2, 3]);
    victim.send_to(&hello, to).unwrap();
    // The forged hello first (a pause for its turn, not a bound).
    thread::sleep(Duration::from_millis(200));
    let sender = socket_at([192, 0, 2, 2]);
    sender.send_to(&hello, to).unwrap();
    ctl.send(&Message::Start).unwrap();
    ctl.expect("started", |m| matches!(m, Message::Started).then_some(()))
        .unwrap();
    // Whatever reached an address until the END markers did: all the daemon sent there.
    let mut buf = [0u8; 2048];
    let mut to_sender = 0;
    while let Ok(n) = sender.recv(&mut buf) {
        to_sender += 1;
        if matches!(dgram::header(&buf[..n]), Some((_, dgram::END, _))) {
            break;
        }
    }
    victim.set_nonblocking(true).unwrap();
    let to_victim = std::iter::from_fn(|| victim.recv(&mut buf).ok()).count();
    let report = finish(peer.channel()).unwrap();
    (to_sender, to_victim, report.roles[0].messages_sent)
}

/// What a fake daemon does once `run`'s test is set up and started; whether the control
/// connection stays usable for the next test (`run` reconnects after a failed one).
type Script = Box<dyn FnOnce(&mut Channel<TcpStream>, &TestSpec, Vec<DataConn>) -> bool + Send>;

/// The fake daemon's side of a keyless handshake on a new connection; None when no
/// connection comes within a minute (`run` has ended).
fn greet(listener: &TcpListener) -> Option<Channel<TcpStream>> {
    listener.set_nonblocking(true).unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < until => thread::sleep(Duration::from_millis(20)),
            Err(_) => return None,
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let _ = control::recv(&mut stream).unwrap();
    control::send(
        &mut stream,
        &Message::Welcome {
            version: PROTOCOL_VERSION,
            sockbench_version: env!("CARGO_PKG_VERSION").into(),
            challenge: None,
            host: Some(HostFacts::default()),
        },
    )
    .unwrap();
    Some(Channel::new(
        stream,
        None,
        Way::ToSender,
        control::MAX_FROM_SENDER,
    ))
}

/// A fake daemon for one `run`: the real handshake (keyless), the real setup with real
/// data sockets, then `script` for each test, as many tests as `run` asks for.
fn fake_daemon(scripts: Vec<Script>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let Some(mut ctl) = greet(&listener) else {
            return;
        };
        for script in scripts {
            let spec = match ctl.recv() {
                Ok(Message::Setup { spec }) => spec,
                Err(control::ControlError::Closed) => {
                    let Some(again) = greet(&listener) else {
                        return;
                    };
                    ctl = again;
                    match ctl.recv() {
                        Ok(Message::Setup { spec }) => spec,
                        _ => return,
                    }
                }
                _ => return,
            };
            let token = 0x5eed;
            let (data, endpoints) =
                ServerData::open(&spec, IpAddr::from([127, 0, 0, 1]), token, None).unwrap();
            ctl.send(&Message::Ready { token, endpoints }).unwrap();
            let attach_spec = (*spec).clone();
            let attacher = thread::spawn(move || {
                data.attach(
                    &attach_spec,
                    token,
                    Instant::now() + Duration::from_secs(10),
                    &AtomicBool::new(false),
                )
            });
            let start = ctl.recv();
            let conns = attacher.join().unwrap().unwrap();
            assert!(matches!(start, Ok(Message::Start)), "{start:?}");
            ctl.send(&Message::Started).unwrap();
            if !script(&mut ctl, &spec, conns) {
                let Some(again) = greet(&listener) else {
                    return;
                };
                ctl = again;
            }
        }
    });
    (addr, handle)
}

/// Waits for the sender's finish, sending heartbeats meanwhile.
fn await_finish(ctl: &mut Channel<TcpStream>) {
    ctl.stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        match ctl.recv() {
            Ok(Message::Finish) => return,
            Ok(_) | Err(control::ControlError::Timeout) => {
                let _ = ctl.send(&Message::Alive);
            }
            Err(_) => return,
        }
    }
}

/// A plausible receiver report for a test of `spec` that sent `messages` of 64 bytes.
fn plausible_report(spec: &TestSpec, messages: u64) -> SideReport {
    let plan = spec.conn_plan();
    SideReport {
        roles: plan
            .iter()
            .map(|c| RoleReport {
                conn: c.id,
                flow: c.flow,
                kind: Some(c.kind),
                side: Some(Side::Receiver),
                active: c.active == Side::Receiver,
                bytes_sent: messages * 64,
                messages_sent: messages,
                interval_ns: spec.interval.as_nanos() as u64,
                cpu_ns: 1_000_000,
                ..RoleReport::default()
            })
            .collect(),
        rss_kib: Some(4096),
        wall_ns: (spec.warmup + spec.duration).as_nanos() as u64,
        warnings: Vec::new(),
        os: None,
    }
}

/// `sockbench run --to ADDR ARGS` under the address-space limit, killed (and the test
/// failed) if it outlives `limit`.
fn run_against(addr: SocketAddr, args: &[&str], limit: Duration) -> RunResult {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let to = addr.to_string();
    let mut all = vec!["run", "--to", &to, "--out", dir.to_str().unwrap()];
    all.extend(args);
    let output = output_bounded(&mut limited(&all, ADDRESS_SPACE_KIB), limit)
        .unwrap_or_else(|_| panic!("sockbench run {args:?} ran past {limit:?}"));
    RunResult {
        _tmp: tmp,
        dir,
        output,
    }
}

#[test]
fn one_forged_datagram_costs_run_no_memory() {
    let script: Script = Box::new(|ctl, spec, conns| {
        send_datagrams(&conns[0], &forged_seqs(), 10);
        await_finish(ctl);
        let _ = ctl.send(&Message::Results {
            report: Box::new(plausible_report(spec, 10)),
        });
        true
    });
    let (addr, daemon) = fake_daemon(vec![script]);
    let run = run_against(
        addr,
        &[
            "--proto",
            "udp",
            "--direction",
            "reverse",
            "--msg-size",
            "64",
            "--duration",
            "500ms",
            "--warmup",
            "0s",
        ],
        Duration::from_secs(120),
    );
    daemon.join().unwrap();
    assert!(
        run.output.status.code().is_some(),
        "run was killed: {:?}\n{}",
        run.output.status,
        run.stderr()
    );
    let summary = run.summary();
    let row = &summary.rows[0];
    assert_eq!(row.int("messages_received"), 10, "{row:?}");
    assert_eq!(row.int("invalid"), 2, "{row:?}");
}

/// The same forged datagrams against a daemon that relays a reverse udp stream to the
/// fake: the relaying daemon, under the same address-space limit, takes them as `run`
/// does, stays up, keeps its RSS, and its row counts them `invalid`.
#[test]
fn one_forged_datagram_costs_a_relaying_daemon_no_memory() {
    let script: Script = Box::new(|ctl, spec, conns| {
        send_datagrams(&conns[0], &forged_seqs(), 10);
        await_finish(ctl);
        let _ = ctl.send(&Message::Results {
            report: Box::new(plausible_report(spec, 10)),
        });
        true
    });
    let (fake, fake_thread) = fake_daemon(vec![script]);
    let mut relay = Daemon::start(&["--quiet", "--allow-relay-without-key"]);
    let before = rss_kib(relay.pid());
    let mut controller = Peer::connect(relay.addr, None).unwrap();
    let answer = controller.relay(fake, &udp_stream(Direction::Reverse), None);
    fake_thread.join().unwrap();
    assert!(relay.alive(), "the relaying daemon died");
    let after = rss_kib(relay.pid());
    assert!(
        after < before + (64 << 10),
        "RSS grew from {before} KiB to {after} KiB"
    );
    let o = &answer.outcome;
    let received: u64 = o.sender.roles.iter().map(|r| r.messages_received).sum();
    let invalid: u64 = o.sender.roles.iter().map(|r| r.invalid).sum();
    assert_eq!((received, invalid), (10, 2), "{:?} {:?}", o.status, o.error);
}

#[test]
fn a_keyless_daemon_relays_for_no_one_unless_told_to() {
    let mut target = Daemon::start(&[]);
    let mut relay = Daemon::start(&[]);
    let spec = TestSpec {
        duration: Duration::from_millis(300),
        warmup: Duration::ZERO,
        interval: Duration::from_millis(100),
        ..TestSpec::default()
    };
    let mut stranger = Peer::connect(relay.addr, None).unwrap();
    let answer = stranger.relay(target.addr, &spec, None);
    let error = answer.outcome.error.clone().unwrap_or_default();
    assert_eq!(
        answer.outcome.status,
        sockbench::session::sender::Status::Error,
        "{answer:?}"
    );
    assert!(
        error.contains("--psk-file") && error.contains("--allow-relay-without-key"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    assert!(relay.alive() && target.alive());

    // In a closed lab, the flag allows it.
    let mut lab = Daemon::start(&["--allow-relay-without-key"]);
    let mut controller = Peer::connect(lab.addr, None).unwrap();
    let answer = controller.relay(target.addr, &spec, None);
    assert_eq!(
        answer.outcome.status,
        sockbench::session::sender::Status::Ok,
        "{:?}",
        answer.outcome.error
    );
    assert!(lab.alive());
}

/// A receiver that never answers Finish: heartbeats for as long as the other end stays.
fn stalling_script() -> Script {
    Box::new(|ctl, _spec, _conns| {
        ctl.stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let until = Instant::now() + Duration::from_secs(300);
        while Instant::now() < until {
            match ctl.recv() {
                Ok(_) | Err(control::ControlError::Timeout) => {}
                Err(_) => return true,
            }
            if ctl.send(&Message::Alive).is_err() {
                return true;
            }
        }
        true
    })
}

const SHORT_TCP: &[&str] = &[
    "--duration",
    "300ms",
    "--warmup",
    "0s",
    "--interval",
    "100ms",
];

#[test]
fn a_receiver_that_never_finishes_cannot_hang_run() {
    let (addr, daemon) = fake_daemon(vec![stalling_script()]);
    let run = run_against(addr, SHORT_TCP, Duration::from_secs(180));
    daemon.join().unwrap();
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let summary = run.summary();
    let row = &summary.rows[0];
    assert_eq!(row.get_str("status"), "aborted", "{row:?}");
    assert!(
        row.get_str("error")
            .contains("no results by the test's deadline"),
        "{row:?}"
    );
}

#[test]
fn a_receiver_that_never_finishes_cannot_hold_a_relaying_daemon() {
    let mut relay = Daemon::start(&["--allow-relay-without-key"]);
    let (fake, stalling) = fake_daemon(vec![stalling_script()]);
    let spec = TestSpec {
        duration: Duration::from_millis(300),
        warmup: Duration::ZERO,
        interval: Duration::from_millis(100),
        ..TestSpec::default()
    };
    let mut controller = Peer::connect(relay.addr, None).unwrap();
    let answer = controller.relay(fake, &spec, None);
    stalling.join().unwrap();
    assert_eq!(
        answer.outcome.status,
        sockbench::session::sender::Status::Aborted,
        "{answer:?}"
    );
    assert!(
        answer
            .outcome
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("no results by the test's deadline"),
        "{answer:?}"
    );
    // Its slot is free: the next controller is served, not told "busy".
    let target = Daemon::start(&[]);
    let mut next = connect_when_free(relay.addr, None);
    let answer = next.relay(target.addr, &spec, None);
    assert_eq!(
        answer.outcome.status,
        sockbench::session::sender::Status::Ok,
        "{:?}",
        answer.outcome.error
    );
    assert!(relay.alive());
}

/// A receiver that answers with `histogram` in its report, for a stream test of 1 flow,
/// `bytes` received, and its report edited by `edit`.
fn lying_script(histogram: Option<EncodedHistogram>, bytes: u64) -> Script {
    forging_script(histogram, bytes, |_| ())
}

fn forging_script(
    histogram: Option<EncodedHistogram>,
    bytes: u64,
    edit: fn(&mut SideReport),
) -> Script {
    Box::new(move |ctl, spec, conns| {
        let drain = thread::spawn(move || drain(conns));
        await_finish(ctl);
        let _ = drain.join();
        let mut report = plausible_report(spec, 0);
        for role in &mut report.roles {
            role.bytes_received = bytes;
            role.measured_bytes = bytes;
            role.window_ns = spec.duration.as_nanos() as u64;
            role.histograms.extend(histogram.clone());
        }
        edit(&mut report);
        let _ = ctl.send(&Message::Results {
            report: Box::new(report),
        });
        true
    })
}

/// Reads the sender's data to its end, as a receiver would: the bytes, and the time from
/// the first read to the last.
fn drain(conns: Vec<DataConn>) -> (u64, Duration) {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 16];
    let until = Instant::now() + Duration::from_secs(60);
    let (mut bytes, mut first, mut last) = (0u64, None, Instant::now());
    for c in &conns {
        let _ = c.sock.set_read_timeout(Some(Duration::from_secs(5)));
        while Instant::now() < until {
            match (&c.sock).read(&mut buf) {
                Ok(n) if n > 0 => {
                    last = Instant::now();
                    first.get_or_insert(last);
                    bytes += n as u64;
                }
                _ => break,
            }
        }
    }
    (bytes, last - first.unwrap_or(last))
}

/// A receiver that reports the bytes it really took, over the time it really took them,
/// or, when `forge`, over a window short enough for 1 Tbit/s: under any physical
/// ceiling, but far beyond what the sender sent in its own time.
fn window_script(forge: bool) -> Script {
    Box::new(move |ctl, spec, conns| {
        let drain = thread::spawn(move || drain(conns));
        await_finish(ctl);
        let (bytes, took) = drain.join().unwrap();
        let mut report = plausible_report(spec, 0);
        let window_ns = if forge {
            bytes * 8 / 1000
        } else {
            took.as_nanos() as u64
        };
        for role in &mut report.roles {
            role.bytes_received = bytes;
            role.measured_bytes = bytes;
            role.window_ns = window_ns.max(1);
        }
        let _ = ctl.send(&Message::Results {
            report: Box::new(report),
        });
        true
    })
}

/// An HdrHistogram V2 encoding whose counts field is garbage that overflows.
fn overflowing_histogram() -> EncodedHistogram {
    use base64::Engine;
    let mut h = sockbench::measure::latency_histogram();
    h.record(1000).unwrap();
    let good = EncodedHistogram::encode("rtt", &h);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(&good.v2_base64).unwrap();
    let header = 40;
    bytes.truncate(header);
    bytes.extend([0xff; 9].repeat(4));
    let len = (bytes.len() - header) as u32;
    bytes[4..8].copy_from_slice(&len.to_be_bytes());
    EncodedHistogram {
        metric: "rtt".into(),
        v2_base64: b64.encode(bytes),
    }
}

#[test]
fn a_lying_results_reply_is_an_error_row_and_the_run_goes_on() {
    let bad_base64 = EncodedHistogram {
        metric: "rtt".into(),
        v2_base64: "not base64 at all!".into(),
    };
    // Each repetition's receiver lies differently, the last tells the truth; the run has
    // to ask how many bytes were sent, so the honest figure is the sender's own.
    let scripts = vec![
        lying_script(Some(bad_base64), 0),
        lying_script(Some(overflowing_histogram()), 0),
        lying_script(None, u64::MAX / 2),
        forging_script(None, 0, |r| {
            r.roles[0].cpu_ns = u64::MAX;
            r.wall_ns = 1;
        }),
        forging_script(None, 0, |r| r.rss_kib = Some(u64::MAX)),
        forging_script(None, 100_000, |r| r.roles[0].window_ns = 1),
        window_script(true),
        window_script(false),
        lying_script(None, 0),
    ];
    let (addr, daemon) = fake_daemon(scripts);
    // Paced at 2 Gbit/s: 75 MB in the 300 ms on a quiet machine, where the forged window
    // (repetition 7) is told from the sender's own rate (the check cannot tell it for a
    // sender that sent less than its buffers and the clocks' skew explain, or at more
    // than about 30 Gbit/s, where the skew allowed outgrows the forged window).
    let mut args = SHORT_TCP.to_vec();
    args.extend(["--repeat", "9", "--rate", "2G"]);
    let run = run_against(addr, &args, Duration::from_secs(180));
    daemon.join().unwrap();
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let summary = run.summary();
    assert_eq!(summary.rows.len(), 9, "{}", run.stderr());
    let statuses: Vec<&str> = summary.rows.iter().map(|r| r.get_str("status")).collect();
    // A sender starved of CPU for most of its 300 ms (seen at a load average of 50) may
    // have sent too little: the row is then rightly `ok`.
    let forged_provable = forged_window_provable(&summary.rows[6]);
    let mut expected = [
        "error", "error", "error", "error", "error", "error", "error", "ok", "ok",
    ];
    if !forged_provable {
        eprintln!(
            "repetition 7: the sender's {} bytes in 300 ms cannot tell its forged window (too few for its buffers and the clocks' skew): either status accepted",
            summary.rows[6].get_str("bytes_sent")
        );
        expected[6] = statuses[6];
    }
    assert_eq!(statuses, expected, "{}", run.stderr());
    let errors: Vec<&str> = summary.rows.iter().map(|r| r.get_str("error")).collect();
    assert!(errors[0].contains("histogram rtt"), "{errors:?}");
    assert!(errors[1].contains("histogram rtt"), "{errors:?}");
    assert!(errors[2].contains("bytes received of"), "{errors:?}");
    assert!(errors[3].contains("receiver: CPU"), "{errors:?}");
    assert!(errors[4].contains("resident memory"), "{errors:?}");
    assert!(errors[5].contains("measured time of 1 ns"), "{errors:?}");
    assert!(
        !forged_provable
            || errors[6].contains("more than 10 times what the sender sent at its own rate"),
        "{errors:?}"
    );
    // The honest receiver's goodput, over the window it really took, is the row's.
    let honest = summary.rows[7].num("goodput_bps");
    let forged = summary.rows[6].num("goodput_bps");
    assert!(honest > 0.0 && forged > 10.0 * honest, "{honest} {forged}");
}

/// Whether a receiver that reports its bytes over the 1 Tbit/s window of
/// [`window_script`] claims, by a tenth more than the check allows, more than ten times
/// what the sender sent at its own rate over 300 ms (the clocks' start skew, 20 ms, added
/// to the window, and twice the sender's send buffer plus 1 MiB that buffers may have
/// held): the sender's own figures, in the row, can then tell the window is forged.
fn forged_window_provable(row: &std::collections::HashMap<String, String>) -> bool {
    let sent = row.num("bytes_sent");
    let received = row.num("bytes_received");
    let sndbuf = row.num("sndbuf_end").min((1u64 << 30) as f64);
    let window_ns = received * 8.0 / 1000.0;
    let could = 10.0 * sent / 300e6 * (window_ns + 20e6) + 2.0 * sndbuf + (1u64 << 20) as f64;
    received > 1.1 * could
}

/// A fleet host that lies: to a daemon that relays a test to it, it is a receiver that
/// drains the data and reports far more bytes than were sent; asked to relay itself, it
/// refuses. It serves each connection on a thread of its own, until `stop`.
fn lying_host(stop: Arc<AtomicBool>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.3:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        let mut served = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => served.push(thread::spawn(move || lie_to(stream))),
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
        for t in served {
            let _ = t.join();
        }
    });
    (addr, handle)
}

/// One connection to [`lying_host`]: the real keyless handshake, then a lying test or a
/// refusal.
fn lie_to(mut stream: TcpStream) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    if control::recv(&mut stream).is_err() {
        return;
    }
    let welcome = Message::Welcome {
        version: PROTOCOL_VERSION,
        sockbench_version: env!("CARGO_PKG_VERSION").into(),
        challenge: None,
        host: Some(HostFacts::default()),
    };
    if control::send(&mut stream, &welcome).is_err() {
        return;
    }
    let mut ctl = Channel::new(stream, None, Way::ToSender, control::MAX_FROM_SENDER);
    let spec = match ctl.recv() {
        Ok(Message::Setup { spec }) => spec,
        _ => {
            let message = "this host does not relay".to_string();
            let _ = ctl.send(&Message::Error { message });
            return;
        }
    };
    let token = 0x11e;
    let (data, endpoints) =
        ServerData::open(&spec, IpAddr::from([127, 0, 0, 3]), token, None).unwrap();
    ctl.send(&Message::Ready { token, endpoints }).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let conns = data.attach(&spec, token, until, &AtomicBool::new(false));
    if !matches!(ctl.recv(), Ok(Message::Start)) || ctl.send(&Message::Started).is_err() {
        return;
    }
    let drain = thread::spawn(move || drain(conns.unwrap_or_default()));
    await_finish(&mut ctl);
    let _ = drain.join();
    let mut report = plausible_report(&spec, 0);
    for role in &mut report.roles {
        role.bytes_received = u64::MAX / 4;
        role.measured_bytes = u64::MAX / 4;
        role.window_ns = spec.duration.as_nanos() as u64;
    }
    let _ = ctl.send(&Message::Results {
        report: Box::new(report),
    });
}

/// A mesh of two real daemons and a lying host: the pairs to the liar are `error` rows
/// saying its figures cannot be true, its own pairs are `error`, and the mesh goes on to
/// measure the honest pairs, `ok`.
#[test]
fn a_lying_host_in_a_mesh_is_error_rows_and_the_mesh_goes_on() {
    let daemons: Vec<Daemon> = (1..=2)
        .map(|i| {
            let listen = format!("127.0.0.{i}:0");
            Daemon::start_on(&listen, &["--quiet", "--allow-relay-without-key"])
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (liar, liar_thread) = lying_host(stop.clone());
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("hosts");
    let text = format!(
        "h1 {}\nh2 {}\nliar {liar}\n",
        daemons[0].addr, daemons[1].addr
    );
    std::fs::write(&hosts, text).unwrap();
    let out = tmp.path().join("out");
    let mesh = sockbench(
        &[
            "mesh",
            hosts.to_str().unwrap(),
            "--duration",
            "300ms",
            "--warmup",
            "0s",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    stop.store(true, Ordering::Relaxed);
    liar_thread.join().unwrap();
    let said = String::from_utf8_lossy(&mesh.stderr).into_owned();
    assert_eq!(mesh.status.code(), Some(1), "{said}");
    let summary = read_csv(&out.join("summary.csv"));
    assert_eq!(
        summary.rows.len(),
        6,
        "every ordered pair has its row: {said}"
    );
    for r in &summary.rows {
        let (src, dst) = (r.get_str("src"), r.get_str("dst"));
        let (status, error) = (r.get_str("status"), r.get_str("error"));
        match (src, dst) {
            ("liar", _) => assert_eq!(status, "error", "{src}->{dst}: {error}"),
            (_, "liar") => assert!(
                status == "error"
                    && error.matches("cannot be true").count() == 1
                    && error.contains("bytes received of"),
                "{src}->{dst}: {status} {error}"
            ),
            _ => assert_eq!(status, "ok", "{src}->{dst}: {error}"),
        }
    }
}

#[test]
fn max_rate_bounds_the_bits_of_request_response() {
    let daemon = Daemon::start(&["--max-rate", "100M"]);
    let spec = |rate: u64, size: u32| TestSpec {
        protocol: Protocol::Udp,
        pattern: Pattern::Rr,
        direction: Direction::Reverse,
        msg_size: size,
        response_size: size,
        rate: Some(rate),
        duration: Duration::from_millis(300),
        warmup: Duration::ZERO,
        interval: Duration::from_millis(100),
        ..TestSpec::default()
    };
    let answer = |s: TestSpec| {
        let mut peer = connect_when_free(daemon.addr, None);
        let ctl = peer.channel();
        ctl.send(&Message::Setup { spec: Box::new(s) }).unwrap();
        ctl.recv().unwrap()
    };
    // 1M transactions/s of 1400-byte messages each way: 22.4 Gbit/s, not 100 Mbit/s.
    match answer(spec(1_000_000, 1400)) {
        Message::Error { message } => assert!(
            message.contains("at most 100000000 bits/s")
                && message.contains("= 22400000000 bits/s"),
            "{message}"
        ),
        other => panic!("accepted: {other:?}"),
    }
    // Unpaced request/response cannot be bounded: refused.
    match answer(TestSpec {
        rate: None,
        ..spec(1, 64)
    }) {
        Message::Error { message } => assert!(message.contains("unpaced"), "{message}"),
        other => panic!("accepted: {other:?}"),
    }
    // 1000 transactions/s of 64 bytes each way: 1 Mbit/s, within the limit.
    assert!(matches!(answer(spec(1000, 64)), Message::Ready { .. }));

    // A daemon asked to relay (to send, for a fleet's controller) is held to its own
    // limit the same way: the 22.4 Gbit/s rr is refused before it sends anything.
    let target = Daemon::start(&["--quiet"]);
    let relay = Daemon::start(&["--max-rate", "100M", "--allow-relay-without-key"]);
    let mut controller = Peer::connect(relay.addr, None).unwrap();
    let relayed = controller.relay(target.addr, &spec(1_000_000, 1400), None);
    let error = relayed.outcome.error.unwrap_or_default();
    assert!(
        error.contains("at most 100000000 bits/s") && error.contains("= 22400000000 bits/s"),
        "{error}"
    );
}

/// Connections from many loopback sources at about `per_s` a second, each sending a hello
/// and then nothing, until `stop`; each held open until a few hundred newer ones exist.
/// Made in the network namespace `netns`.
fn flood(
    addr: SocketAddr,
    per_s: u32,
    stop: Arc<AtomicBool>,
    netns: String,
) -> thread::JoinHandle<u64> {
    use socket2::{Domain, Socket, Type};
    use std::io::Write;
    thread::spawn(move || {
        common::lab::enter_netns(&netns);
        let hello = control::encode(&Message::hello()).unwrap();
        let mut held = std::collections::VecDeque::new();
        let gap = Duration::from_secs(1) / per_s;
        let mut n: u64 = 0;
        let give_up = Instant::now() + Duration::from_secs(300);
        while !stop.load(Ordering::Relaxed) && Instant::now() < give_up {
            // 250 sources in 125 /24 blocks: 127.20.B.H.
            let i = (n % 250) as u8;
            let source = SocketAddr::from(([127, 20, i % 125, 1 + i / 125], 0));
            let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            if sock.bind(&source.into()).is_ok()
                && sock
                    .connect_timeout(&addr.into(), Duration::from_secs(1))
                    .is_ok()
            {
                let mut s: TcpStream = sock.into();
                let _ = s.write_all(&hello);
                held.push_back(s);
                if held.len() > 400 {
                    held.pop_front();
                }
            }
            n += 1;
            thread::sleep(gap);
        }
        n
    })
}

/// The daemon's open file descriptors.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// 300 new connections a second from 250 loopback sources on the daemon's own host (each
/// a hello, then silence), while a real sender reaches the daemon over the lab's path of
/// 25 ms each way (a 50 ms round trip: its handshake stays pending for several round
/// trips, as a fleet's does): each of its 20 runs is served and ends ok, and once the
/// flood stops the daemon's descriptors return to what it had before.
#[test]
fn a_many_source_flood_of_silent_connections_cannot_keep_a_sender_out() {
    if !common::lab::path_lab_needs() {
        return;
    }
    let path = common::lab::LabPath {
        delay: Some("25ms"),
        ..common::lab::LabPath::default()
    };
    let mut lab = common::lab::Lab::with_path("hf", &path);
    lab.serve_with("0.0.0.0:5301", &["--max-concurrent", "4"]);
    assert_ne!(lab.emulator(), "none", "the path has its delay");
    let pid = lab.server_pid().unwrap();
    let baseline = fds(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let target = SocketAddr::from(([127, 0, 0, 1], 5301));
    let flooder = flood(target, 300, stop.clone(), lab.ns("rcv"));
    // Let the flood fill the daemon's pending connections first.
    thread::sleep(Duration::from_secs(1));
    let (mut failures, mut peak) = (Vec::new(), 0);
    for i in 0..20 {
        peak = peak.max(fds(pid));
        let run = lab.run(&[
            "--duration",
            "200ms",
            "--warmup",
            "0s",
            "--interval",
            "100ms",
            "--quiet",
        ]);
        let status = (run.code() == 0).then(|| run.summary().rows[0].get_str("status").to_string());
        if status.as_deref() != Some("ok") {
            failures.push(format!("run {i}: exit {}: {}", run.code(), run.stderr()));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flooded = flooder.join().unwrap();
    assert!(flooded > 300, "the flood made only {flooded} connections");
    assert!(
        peak > baseline + 20,
        "the flood reached the daemon: {peak} descriptors at most, {baseline} before"
    );
    assert!(
        failures.is_empty(),
        "served {} of 20: {failures:?}",
        20 - failures.len()
    );
    // The flood's connections are closed: the daemon lets go of every one.
    let until = Instant::now() + Duration::from_secs(60);
    while fds(pid) > baseline && Instant::now() < until {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        fds(pid) <= baseline,
        "{} descriptors after the flood, {baseline} before",
        fds(pid)
    );
}

/// What a terminal would take for commands: a title change, a clear line, a carriage
/// return that overwrites the line with a fake result, and a flood of text.
fn poisoned_text() -> String {
    format!(
        "\u{1b}]0;pwned\u{7}\u{1b}[2K\r99.99 Gbit/s ok\nFORGED LINE {}",
        "x".repeat(5000)
    )
}

#[test]
fn a_peers_text_is_escaped_and_clipped_on_the_terminal_and_in_the_log() {
    // A receiver that answers the setup with a poisoned error.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = thread::spawn(move || {
        if let Some(mut ctl) = greet(&listener) {
            let _ = ctl.recv();
            let _ = ctl.send(&Message::Error {
                message: poisoned_text(),
            });
        }
    });
    let run = run_against(addr, SHORT_TCP, Duration::from_secs(120));
    fake.join().unwrap();
    let shown = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\r') && !shown.contains("\nFORGED"),
        "{shown:?}"
    );
    assert!(shown.len() < 4000, "{} bytes shown", shown.len());
    let summary = run.summary();
    let error = summary.rows[0].get_str("error");
    assert!(
        error.contains("99.99 Gbit/s ok") && error.len() < 1000,
        "{error}"
    );

    // A daemon that logs what a stranger sent before any handshake, and a setup it cannot
    // decode.
    let mut daemon = Daemon::start(&[]);
    let poison = serde_json::to_string(&poisoned_text()[..3000]).unwrap();
    for body in [
        format!("{{\"type\":{poison}}}"),
        format!("{{\"type\":\"hello\",\"magic\":{poison}}}"),
    ] {
        let mut s = TcpStream::connect(daemon.addr).unwrap();
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(body.as_bytes());
        std::io::Write::write_all(&mut s, &frame).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = std::io::Read::read(&mut s, &mut [0u8; 64]);
    }
    thread::sleep(Duration::from_millis(300));
    let _ = daemon.proc.0.kill();
    let mut log = String::new();
    std::io::Read::read_to_string(daemon.proc.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("undecodable") && log.contains("\\u{1b}"),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}') && !log.contains('\r') && !log.contains("\nFORGED"),
        "{log:?}"
    );
    assert!(log.lines().all(|l| l.len() < 1000), "{log}");
}

#[test]
fn an_undecodable_setup_is_answered_before_the_close() {
    let daemon = Daemon::start(&[]);
    let mut peer = Peer::connect(daemon.addr, None).unwrap();
    let ctl = peer.channel();
    let body = br#"{"type":"setup","spec":{"protocol":"carrier-pigeon"}}"#;
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    std::io::Write::write_all(&mut ctl.stream, &frame).unwrap();
    match ctl.recv() {
        Ok(Message::Error { message }) => {
            assert!(message.contains("could not read this request"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// A controller on a daemon that serves one test at a time, once the previous
/// controller's session has ended: the daemon frees a slot when it sees that session
/// close, a moment after the previous controller has its answer (longer on a loaded
/// machine). A slot that never frees fails at the daemon's own heartbeat limit, thrice.
fn connect_when_free(addr: SocketAddr, psk: Option<&Psk>) -> Peer {
    let started = Instant::now();
    loop {
        match Peer::connect(addr, psk) {
            Ok(peer) => return peer,
            Err(e) if e.to_string().contains("busy:") => {
                assert!(
                    started.elapsed() < sockbench::session::sender::HEARTBEAT_LOSS * 3,
                    "still busy: {e}"
                );
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_relay_tells_nothing_of_ports_that_are_not_a_daemons() {
    use std::io::Write;
    let daemon = Daemon::start(&["--allow-relay-without-key"]);
    // A service that is not sockbench, and a port where nothing listens.
    let service = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = service.local_addr().unwrap();
    let banner = thread::spawn(move || {
        if let Ok((mut s, _)) = service.accept() {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
            thread::sleep(Duration::from_millis(500));
        }
    });
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let spec = TestSpec {
        duration: Duration::from_millis(300),
        warmup: Duration::ZERO,
        interval: Duration::from_millis(100),
        ..TestSpec::default()
    };
    let mut told = Vec::new();
    for to in [open, closed] {
        let mut controller = connect_when_free(daemon.addr, None);
        let answer = controller.relay(to, &spec, None);
        let error = answer.outcome.error.unwrap_or_default();
        told.push(error.replace(&to.to_string(), "PEER"));
    }
    banner.join().unwrap();
    assert!(!told[0].contains("SSH"), "{told:?}");
    assert_eq!(told[0], told[1], "an open and a closed port told apart");
    assert!(told[0].contains("not sockbench"), "{told:?}");
}
