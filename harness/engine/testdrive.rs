//! A small driver for unit tests of flows: every flow of a run stepped in turn on one
//! thread (non-blocking sockets: the epoll driver's view), or each on a thread of its own
//! (blocking sockets with the `POLL` timeouts: the blocking driver's view). It steps a
//! flow whenever its wait may be over, without watching sockets, and naps between
//! rounds; it folds spawned flows' counts into their parent. Only for small workloads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::flow::{Bufs, Cx, Flow, Want};
use super::{RoleCtx, POLL};
use crate::measure::{latency_histogram, RoleReport};

/// What a run of one flow gave: its report and its round trips.
pub(crate) struct Ran {
    pub rep: RoleReport,
    pub rtt: Histogram<u64>,
    pub rtt_uncorrected: Histogram<u64>,
}

struct Running {
    flow: Box<dyn Flow>,
    want: Want,
    /// Children: their flows (running), and the reports of those that ended.
    children: Vec<(Box<dyn Flow>, Want)>,
    done: bool,
}

fn due(want: Want, now: Instant) -> bool {
    match want {
        Want::Until(t) => now >= t,
        Want::Done => false,
        _ => true,
    }
}

/// Steps `f` once; on an error records it. True when it has ended.
fn step_one(f: &mut dyn Flow, want: &mut Want, cx: &mut Cx) -> bool {
    match f.step(cx) {
        Ok(w) => *want = w,
        Err(e) => {
            f.report().error = Some(e.to_string());
            *want = Want::Done;
        }
    }
    if *want == Want::Done {
        f.finish(cx);
        return true;
    }
    false
}

fn round(r: &mut Running, cx: &mut Cx, now: Instant) {
    let mut i = 0;
    while i < r.children.len() {
        let (c, w) = &mut r.children[i];
        if due(*w, now) && step_one(c.as_mut(), w, cx) {
            let (mut c, _) = r.children.swap_remove(i);
            r.flow.report().absorb(c.report());
            continue;
        }
        i += 1;
    }
    if !r.done && due(r.want, now) {
        r.done = step_one(r.flow.as_mut(), &mut r.want, cx);
        if r.done && r.flow.report().active {
            // The sender's end: what the control channel tells a crr acceptor.
            cx.ctx
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    for c in cx.spawned.drain(..) {
        r.children.push((c, Want::Read));
    }
}

/// Runs `flows` to their end (or `limit`) on one thread.
pub(crate) fn run(flows: Vec<Box<dyn Flow>>, ctx: &RoleCtx, limit: Duration) -> Vec<Ran> {
    let mut bufs = Bufs::for_test(ctx);
    let mut hists: Vec<_> = flows
        .iter()
        .map(|_| (latency_histogram(), latency_histogram()))
        .collect();
    let mut running: Vec<Running> = flows
        .into_iter()
        .map(|flow| Running {
            flow,
            want: Want::Write,
            children: Vec::new(),
            done: false,
        })
        .collect();
    let stop = Instant::now() + limit;
    let mut spawned = Vec::new();
    while running.iter().any(|r| !r.done || !r.children.is_empty()) && Instant::now() < stop {
        for (r, (rtt, unc)) in running.iter_mut().zip(hists.iter_mut()) {
            let mut cx = bufs.cx(ctx, [rtt, unc], &mut spawned);
            let now = cx.now;
            round(r, &mut cx, now);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    running
        .into_iter()
        .zip(hists)
        .map(|(mut r, (rtt, rtt_uncorrected))| {
            if !r.done {
                r.flow.report().error = Some("testdrive: not done by the limit".into());
            }
            Ran {
                rep: r.flow.report().clone(),
                rtt,
                rtt_uncorrected,
            }
        })
        .collect()
}

/// Runs each flow on a thread of its own, as the blocking driver does (the caller makes
/// the sockets blocking with [`POLL`] timeouts).
pub(crate) fn run_threads(flows: Vec<Box<dyn Flow>>, ctx: &RoleCtx, limit: Duration) -> Vec<Ran> {
    let threads: Vec<_> = flows
        .into_iter()
        .map(|f| {
            let ctx = ctx.clone();
            std::thread::spawn(move || run(vec![f], &ctx, limit).pop())
        })
        .collect();
    threads
        .into_iter()
        .filter_map(|t| t.join().ok().flatten())
        .collect()
}

/// Makes a socket look as the blocking driver leaves it.
pub(crate) fn blocking(sock: &socket2::Socket) {
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(POLL)).unwrap();
    sock.set_write_timeout(Some(POLL)).unwrap();
}

/// A test's context from `--set`-style keys, starting now.
pub(crate) fn ctx(keys: &[(&str, &str)]) -> RoleCtx {
    let mut b = crate::spec::config::SpecBuilder::new();
    for (k, v) in keys {
        b.set(k, v).unwrap();
    }
    RoleCtx {
        spec: std::sync::Arc::new(b.build().unwrap()),
        t0: Instant::now(),
        abort: Default::default(),
        stop: Default::default(),
        spin: false,
        in_flight: Default::default(),
    }
}

/// The report a driver starts a role with.
pub(crate) fn report(conn: &crate::net::transport::DataConn, active: bool) -> RoleReport {
    use crate::spec::config::Side;
    RoleReport {
        conn: conn.plan.id,
        flow: conn.plan.flow,
        kind: Some(conn.plan.kind),
        side: Some(if active { Side::Sender } else { Side::Receiver }),
        active,
        knobs: conn.knobs.clone(),
        ..RoleReport::default()
    }
}

/// Two UDP sockets on loopback connected to each other, with the test's knobs: the
/// active (sender's) end and the passive (receiver's) end of connection 0.
pub(crate) fn udp_pair(
    ctx: &RoleCtx,
    kind: crate::spec::config::Pattern,
    blocking_socks: bool,
) -> [crate::net::transport::DataConn; 2] {
    use crate::net::sockopt::{apply, Phase};
    use crate::spec::config::{ConnPlan, Side};
    use socket2::{Domain, Socket, Type};
    let spec = &ctx.spec;
    let open = |side: Side| {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        let knobs = spec.knobs(side);
        apply(&s, spec.protocol, Domain::IPV4, knobs, Phase::BeforeConnect).unwrap();
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        s.bind(&any.into()).unwrap();
        (s, knobs.clone())
    };
    let (a, b) = (open(Side::Sender), open(Side::Receiver));
    a.0.connect(&b.0.local_addr().unwrap()).unwrap();
    b.0.connect(&a.0.local_addr().unwrap()).unwrap();
    let plan = ConnPlan {
        id: 0,
        flow: 0,
        kind,
        active: Side::Sender,
    };
    [a, b].map(|(sock, requested)| {
        let knobs = crate::spec::knobs::AppliedKnobs {
            requested,
            ..Default::default()
        };
        data_conn(sock, plan, knobs, blocking_socks, (0, None, None))
    })
}

/// The active end of a pair run alone (up to 5 s), its peer closed before it starts: what
/// it reported.
pub(crate) fn run_with_peer_closed(
    ctx: &RoleCtx,
    [a, p]: [crate::net::transport::DataConn; 2],
    flow: fn(crate::net::transport::DataConn, &RoleCtx, RoleReport) -> Box<dyn Flow>,
) -> RoleReport {
    drop(p);
    let rep = report(&a, true);
    let mut ran = run(vec![flow(a, ctx, rep)], ctx, Duration::from_secs(5));
    ran.remove(0).rep
}

/// A connected pair of Unix datagram sockets, the sender's end first (the tests that use
/// it hold Linux's errors).
#[cfg(target_os = "linux")]
pub(crate) fn unix_dgram_pair(
    kind: crate::spec::config::Pattern,
    blocking_socks: bool,
) -> [crate::net::transport::DataConn; 2] {
    use crate::spec::config::{ConnPlan, Side};
    let (a, b) = socket2::Socket::pair(socket2::Domain::UNIX, socket2::Type::DGRAM, None).unwrap();
    let plan = ConnPlan {
        id: 0,
        flow: 0,
        kind,
        active: Side::Sender,
    };
    [a, b].map(|sock| {
        data_conn(
            sock,
            plan,
            Default::default(),
            blocking_socks,
            (0, None, None),
        )
    })
}

/// One end of a pair on loopback, its socket in the mode of the driver tested; `attach`:
/// the test's token, the peer's address, the listener.
fn data_conn(
    sock: socket2::Socket,
    plan: crate::spec::config::ConnPlan,
    knobs: crate::spec::knobs::AppliedKnobs,
    blocking_socks: bool,
    (token, peer, listener): (u64, Option<socket2::SockAddr>, Option<Arc<socket2::Socket>>),
) -> crate::net::transport::DataConn {
    if blocking_socks {
        blocking(&sock);
    } else {
        sock.set_nonblocking(true).unwrap();
    }
    let domain = socket2::Domain::IPV4;
    let _paths = None;
    crate::net::transport::DataConn {
        sock,
        plan,
        domain,
        knobs,
        token,
        peer,
        listener,
        _paths,
    }
}

/// Runs a pair's two ends: on one thread (non-blocking) or on two (blocking).
pub(crate) fn run_pair(flows: Vec<Box<dyn Flow>>, ctx: &RoleCtx, threads: bool) -> (Ran, Ran) {
    let limit = ctx.spec.hard_deadline();
    let mut ran = if threads {
        run_threads(flows, ctx, limit)
    } else {
        run(flows, ctx, limit)
    };
    assert_eq!(ran.len(), 2);
    let b = ran.pop().unwrap();
    (ran.pop().unwrap(), b)
}

/// A crr test's two ends on loopback TCP: the attach connection on both, the receiver's
/// address on the sender's end, the listener on the receiver's.
pub(crate) fn tcp_crr_pair(blocking_socks: bool) -> [crate::net::transport::DataConn; 2] {
    use crate::spec::config::{ConnPlan, Pattern, Side};
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.set_reuse_address(true).unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(1024).unwrap();
    let addr = listener.local_addr().unwrap();
    let a = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    a.connect(&addr).unwrap();
    let (p, _) = listener.accept().unwrap();
    let plan = ConnPlan {
        id: 0,
        flow: 0,
        kind: Pattern::Crr,
        active: Side::Sender,
    };
    let token = 0x5eed;
    let listener = Arc::new(listener);
    [(a, Some(addr), None), (p, None, Some(listener))].map(|(sock, peer, listener)| {
        let attach = (token, peer, listener);
        data_conn(sock, plan, Default::default(), blocking_socks, attach)
    })
}
