//! What the unit tests of flows share: a test's context, loopback pairs of connections,
//! and runs of a pair's two ends on the real drivers (each end on a thread of its own,
//! as the two processes of a test are), their reports and round trips.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::flow::Flow;
use super::rr::{RTT, RTT_UNCORRECTED};
use super::{blocking, epoll, RoleCtx, POLL};
use crate::measure::RoleReport;

/// What a run of one flow gave: its report and its round trips.
pub(crate) struct Ran {
    pub rep: RoleReport,
    pub rtt: Histogram<u64>,
    pub rtt_uncorrected: Histogram<u64>,
}

/// Runs a flow to its end on the blocking driver (`threads`) or on an epoll worker of
/// its own; its report, and the round trips the driver attached to it.
fn drive(flow: Box<dyn Flow>, ctx: &RoleCtx, threads: bool) -> Ran {
    let rep = match threads {
        true => blocking::run_flow(flow, ctx),
        false => epoll::run_worker(vec![flow], ctx.clone()).remove(0),
    };
    let hist = |name: &str| {
        let h = rep.histograms.iter().find(|h| h.metric == name);
        h.map_or_else(crate::measure::latency_histogram, |h| h.decode().unwrap())
    };
    let (rtt, rtt_uncorrected) = (hist(RTT), hist(RTT_UNCORRECTED));
    Ran {
        rep,
        rtt,
        rtt_uncorrected,
    }
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
    use crate::spec::config::Side;
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
    let plan = plan(kind);
    [a, b].map(|(sock, requested)| {
        let knobs = crate::spec::knobs::AppliedKnobs {
            requested,
            ..Default::default()
        };
        data_conn(sock, plan, knobs, blocking_socks, (0, None, None))
    })
}

/// The active end of a pair run alone on the driver of `threads`, its peer closed
/// before it starts: what it reported.
pub(crate) fn run_with_peer_closed(
    ctx: &RoleCtx,
    [a, p]: [crate::net::transport::DataConn; 2],
    flow: fn(crate::net::transport::DataConn, &RoleCtx, RoleReport) -> Box<dyn Flow>,
    threads: bool,
) -> RoleReport {
    drop(p);
    let rep = report(&a, true);
    drive(flow(a, ctx, rep), ctx, threads).rep
}

/// A connected pair of Unix datagram sockets, the sender's end first (the tests that use
/// it hold Linux's errors).
#[cfg(target_os = "linux")]
pub(crate) fn unix_dgram_pair(
    kind: crate::spec::config::Pattern,
    blocking_socks: bool,
) -> [crate::net::transport::DataConn; 2] {
    let (a, b) = socket2::Socket::pair(socket2::Domain::UNIX, socket2::Type::DGRAM, None).unwrap();
    let plan = plan(kind);
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

/// The plan of a pair's one connection: connection 0 of flow 0, the sender active.
fn plan(kind: crate::spec::config::Pattern) -> crate::spec::config::ConnPlan {
    use crate::spec::config::Side;
    crate::spec::config::ConnPlan {
        id: 0,
        flow: 0,
        kind,
        active: Side::Sender,
    }
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

/// Runs a pair's two ends (active first) at once, each on a thread of its own, on the
/// blocking driver (`threads`) or the epoll driver. Once the active end is done the
/// passive one is told, as the control channel tells a crr acceptor.
pub(crate) fn run_pair(flows: Vec<Box<dyn Flow>>, ctx: &RoleCtx, threads: bool) -> (Ran, Ran) {
    let [a, p]: [Box<dyn Flow>; 2] = flows.try_into().ok().expect("a pair");
    let go = |f: Box<dyn Flow>| {
        let ctx = ctx.clone();
        std::thread::spawn(move || drive(f, &ctx, threads))
    };
    let (a, p) = (go(a), go(p));
    let a = a.join().expect("the active end's thread");
    ctx.stop.store(true, Ordering::Relaxed);
    (a, p.join().expect("the passive end's thread"))
}

/// A crr test's two ends on loopback TCP: the attach connection on both, the receiver's
/// address on the sender's end, the listener on the receiver's.
pub(crate) fn tcp_crr_pair(blocking_socks: bool) -> [crate::net::transport::DataConn; 2] {
    use crate::spec::config::Pattern;
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
    let plan = plan(Pattern::Crr);
    let token = 0x5eed;
    let listener = Arc::new(listener);
    [(a, Some(addr), None), (p, None, Some(listener))].map(|(sock, peer, listener)| {
        let attach = (token, peer, listener);
        data_conn(sock, plan, Default::default(), blocking_socks, attach)
    })
}
