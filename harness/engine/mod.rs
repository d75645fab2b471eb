//! The traffic engine. Each pattern is one file holding its roles as [`flow::Flow`]s,
//! state machines per connection that own their accounting: the active role drives a
//! connection (writes the bulk data, sends the requests), the passive role answers.
//! Which process plays which role comes from the connection plan, so the same code serves
//! forward, reverse and bidir. Two drivers run flows: [`blocking`] (a thread per
//! connection, blocking sockets with the `POLL` timeout, `--spin`, and the fast paths
//! that keep per-connection kernel state: `--zerocopy`, `--sendfile`, `--splice`) and
//! [`epoll`] (many connections per worker thread, one worker per CPU). [`choose`] picks
//! one per side; [`role_for`] is the registry of flows.
//!
//! Every loop here is bounded in time by the role's hard deadline, and checks the abort
//! flag whenever a socket call times out.

pub mod blocking;
pub mod crr;
pub mod dgram;
pub mod dgram_rr;
#[cfg(all(test, unix))]
mod drivers_tests;
pub mod epoll;
pub mod flow;
pub mod rr;
pub mod stream;
#[cfg(test)]
mod testdrive;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::measure::live::Gauge;
use crate::measure::RoleReport;
use crate::net::sockopt;
use crate::net::transport::{dgram as wire, DataConn};
use crate::spec::config::{Delivery, DriverChoice, Pattern, Side, TestSpec};
use crate::spec::dist::{rng_for, Arrivals};

/// Why a flow ended early. The message is what the user sees, after "connection N: ".
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A socket call failed: what was being done, and the kernel's error.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The peer broke the pattern's protocol (closed mid-message...).
    #[error("{0}")]
    Protocol(String),
    /// A framed byte stream's header gave a size out of bounds.
    #[error(transparent)]
    Frame(#[from] crate::spec::dist::FrameError),
    /// No progress for the stall limit.
    #[error("{what}: stalled, no progress for {secs}s (the peer or the path is gone)")]
    Stalled { what: &'static str, secs: u64 },
    #[error("{0}: timed out (the peer stopped responding)")]
    TimedOut(&'static str),
    #[error("{0}: the test was aborted")]
    Aborted(&'static str),
}

impl EngineError {
    /// A failed socket call doing `what`, for `map_err`.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> EngineError {
        move |source| EngineError::Io { what, source }
    }
}

/// How often a blocked socket call wakes up to look at the clock and the abort flag.
pub const POLL: Duration = Duration::from_millis(100);
/// A datagram receiver that has not heard its END marker stops after this much silence
/// past the sender's nominal end.
pub const DGRAM_IDLE: Duration = Duration::from_millis(500);
/// A role that has made no progress for this long gives up: the peer or the path is gone
/// (a killed process, a cut link), and a run should end in seconds, not at its deadline.
pub const STALL: Duration = Duration::from_secs(10);
/// A datagram sender waits this long after its last datagram before the END markers, so
/// that they do not meet a bottleneck queue still full of data.
pub const END_PAUSE: Duration = Duration::from_millis(100);
/// Sequence numbers a datagram receiver has room for before its bitmap must grow (one
/// bit each: 128 KiB), so that a run of up to a million datagrams records without
/// allocating.
pub const SEQ_ROOM: u64 = 1 << 20;
/// A paced sender whose thread got to run late (a loaded machine) still sends what was
/// due before the end of the sending time, within this much past it; one held back by a
/// full socket (a rate above what the path takes) stops at the end.
pub const LATE_GRACE: Duration = Duration::from_secs(1);
/// How many END markers a datagram sender sends (they may be lost like any datagram).
pub const END_MARKERS: u32 = 5;

/// What a role needs besides its socket.
#[derive(Clone)]
pub struct RoleCtx {
    pub spec: Arc<TestSpec>,
    /// This process's start of traffic. The warm-up and the intervals count from here.
    pub t0: Instant,
    /// Set when the test must end now (the peer or the user gave up).
    pub abort: Arc<AtomicBool>,
    /// Set when the peer has finished: a passive role that cannot see the end in-band
    /// (crr's acceptor) stops, without error.
    pub stop: Arc<AtomicBool>,
    /// This role spins on non-blocking sockets (--spin) instead of blocking in the kernel.
    pub spin: bool,
    /// Connections open at once on this side (crr's requesters count theirs), shared by
    /// every role of the side.
    pub in_flight: Arc<Gauge>,
}

impl RoleCtx {
    pub fn warmup_mark(&self) -> Instant {
        self.t0 + self.spec.warmup
    }
    /// When an active role stops sending.
    pub fn send_end(&self) -> Instant {
        self.t0 + self.spec.warmup + self.spec.duration
    }
    /// When every role gives up, finished or not.
    pub fn hard_deadline(&self) -> Instant {
        self.t0 + self.spec.hard_deadline()
    }
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Above this many connections of the test's main kind on one side, the automatic choice
/// is the epoll driver.
pub const MULTI_THRESHOLD: usize = 64;

/// Which driver runs a side's main connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Blocking,
    Epoll,
}

/// Whether a side's knobs ask for a path only the blocking driver has: the send paths
/// that keep per-connection kernel state (`--zerocopy`, `--sendfile`, `--splice`).
/// (`--spin` runs on both: the epoll driver's workers poll with a zero timeout.)
pub fn blocking_only(spec: &TestSpec, side: Side) -> Option<&'static str> {
    let k = spec.knobs(side);
    [
        (k.zerocopy, "--zerocopy"),
        (k.sendfile, "--sendfile"),
        (k.splice, "--splice"),
    ]
    .into_iter()
    .find_map(|(on, name)| on.then_some(name))
}

/// The one rule: `--driver blocking|epoll` as asked; by default (auto) the epoll driver
/// when a side has more than [`MULTI_THRESHOLD`] connections of the main kind and asks
/// for no blocking-only path, else the blocking driver.
pub fn choose(spec: &TestSpec, side: Side, main_conns: usize) -> Driver {
    match spec.driver {
        DriverChoice::Blocking => Driver::Blocking,
        DriverChoice::Epoll => Driver::Epoll,
        DriverChoice::Auto => {
            if main_conns > MULTI_THRESHOLD && blocking_only(spec, side).is_none() {
                Driver::Epoll
            } else {
                Driver::Blocking
            }
        }
    }
}

/// Whether a side's main connections run on epoll workers (the memory estimate's
/// question).
pub fn on_workers(spec: &TestSpec, side: Side) -> bool {
    let main = spec.main_kind();
    let mains = spec.conn_plan().iter().filter(|c| c.kind == main).count();
    choose(spec, side, mains) == Driver::Epoll
}

/// A role's report before it has run: who it is.
pub fn new_report(conn: &DataConn, side: Side, ctx: &RoleCtx) -> RoleReport {
    RoleReport {
        conn: conn.plan.id,
        flow: conn.plan.flow,
        kind: Some(conn.plan.kind),
        side: Some(side),
        active: conn.plan.active == side,
        interval_ns: ctx.spec.interval.as_nanos() as u64,
        knobs: conn.knobs.clone(),
        ..RoleReport::default()
    }
}

/// The registry: which flow plays this side's role on a connection, by (kind, protocol,
/// side).
pub fn role_for(conn: DataConn, side: Side, ctx: &RoleCtx) -> Box<dyn flow::Flow> {
    let rep = new_report(&conn, side, ctx);
    use Delivery::{ByteStream, Datagram};
    match (conn.plan.kind, ctx.spec.protocol.delivery(), rep.active) {
        (Pattern::Stream, ByteStream, true) => Box::new(stream::StreamSender::new(conn, rep, ctx)),
        (Pattern::Stream, ByteStream, false) => {
            Box::new(stream::StreamReceiver::new(conn, rep, ctx))
        }
        (Pattern::Rr, ByteStream, true) => rr::requester(conn, rep, ctx),
        (Pattern::Rr, ByteStream, false) => Box::new(rr::Responder::new(conn, rep, ctx)),
        (Pattern::Stream, Datagram, _) => dgram::flow(conn, ctx, rep),
        (Pattern::Rr, Datagram, _) => dgram_rr::flow(conn, ctx, rep),
        (Pattern::Crr, _, _) => crr::flow(conn, ctx, rep),
    }
}

/// The end-of-transfer read-backs of a role's socket: the buffer sizes autotuning grew
/// to, and TCP_INFO.
pub(crate) fn read_back(rep: &mut RoleReport, sock: Option<&Socket>, spec: &TestSpec) {
    let Some(sock) = sock else { return };
    rep.sndbuf_end = sock.send_buffer_size().ok().map(|v| v as u64);
    rep.rcvbuf_end = sock.recv_buffer_size().ok().map(|v| v as u64);
    if spec.protocol.is_tcp_like() {
        rep.tcp_info = sockopt::tcp_info(sock).ok();
    }
}

/// The sizes of one direction of a request/response connection: fixed, or drawn from the
/// test's distribution with the connection's own seeded generator.
pub(crate) struct Sizes {
    fixed: usize,
    sampler: Option<crate::spec::dist::SizeSampler>,
    rng: fastrand::Rng,
}

impl Sizes {
    /// `stream` tells requests (0) from responses (1).
    pub fn new(
        fixed: u32,
        dist: Option<&crate::spec::dist::SizeDist>,
        ctx: &RoleCtx,
        conn: u32,
        stream: u32,
    ) -> Sizes {
        Sizes {
            fixed: fixed as usize,
            sampler: dist.map(crate::spec::dist::SizeSampler::new),
            rng: rng_for(ctx.spec.dist_seed, conn, stream),
        }
    }

    /// The next message's size.
    #[inline]
    pub fn next(&mut self) -> usize {
        match &self.sampler {
            Some(s) => s.sample(&mut self.rng) as usize,
            None => self.fixed,
        }
    }

    /// The size the test gives: every message's, or the largest a framed one may have.
    pub fn fixed(&self) -> usize {
        self.fixed
    }

    /// Whether the sizes vary, so that a byte stream carries a length header.
    pub fn framed(&self) -> bool {
        self.sampler.is_some()
    }

    /// The smallest and largest size.
    pub fn range(&self) -> (u32, u32) {
        match &self.sampler {
            Some(s) => (s.min(), s.max()),
            None => (self.fixed as u32, self.fixed as u32),
        }
    }

    /// Sizes the next message: writes its length header into `buf` on a framed stream.
    #[inline]
    pub fn prepare(&mut self, buf: &mut [u8], stream: bool) -> usize {
        let n = self.next();
        if stream && self.framed() {
            crate::spec::dist::put_frame(buf, n as u32);
        }
        n
    }
}

/// A closed-loop requester's think time between transactions: waits a drawn time, in
/// slices that watch the abort flag, never past the end of sending.
pub(crate) struct Think {
    dist: Option<crate::spec::dist::TimeDist>,
    rng: fastrand::Rng,
}

impl Think {
    pub fn new(ctx: &RoleCtx, conn: u32) -> Think {
        Think {
            dist: ctx.spec.think_time.clone(),
            rng: rng_for(ctx.spec.dist_seed, conn, 3),
        }
    }

    /// When the next transaction may start: `None` without think times, else a drawn
    /// time from `now`, never past the end of sending (the same draws, seeded per
    /// connection, on every driver).
    #[inline]
    pub fn until(&mut self, now: Instant, send_end: Instant) -> Option<Instant> {
        let d = self.dist.as_ref()?;
        Some((now + d.sample(&mut self.rng)).min(send_end))
    }
}

/// Both directions' sizes of a request/response connection `id`: requests, responses.
pub(crate) fn rr_sizes(ctx: &RoleCtx, id: u32) -> (Sizes, Sizes) {
    let (req_size, resp_size) = ctx.spec.rr_sizes();
    let (req_dist, resp_dist) = ctx.spec.rr_dists();
    let req = Sizes::new(req_size, req_dist, ctx, id, 0);
    (req, Sizes::new(resp_size, resp_dist, ctx, id, 1))
}

/// Per-size accounting for a request/response role whose sizes vary; a requester's
/// (`rtt`) also buckets round trips by the larger of request and response.
pub(crate) fn rr_buckets(
    req: &Sizes,
    resp: &Sizes,
    rtt: bool,
) -> Option<crate::measure::sizes::SizeBuckets> {
    use crate::measure::sizes::SizeBuckets;
    (req.framed() || resp.framed()).then(|| {
        let (a, b) = (req.range(), resp.range());
        match rtt {
            true => SizeBuckets::with_rtt(a.0.max(b.0), a.1.max(b.1)),
            false => SizeBuckets::new(),
        }
    })
}

/// Answers a repeated hello (its ack was lost) during the test.
pub(crate) fn answer_hello(sock: &Socket, seq: u64, conn: u32) {
    let mut ack = [0u8; 16];
    wire::put_header(&mut ack, seq, wire::HELLO_ACK, conn);
    let _ = sock.send(&ack);
}

/// An open-loop requester's schedule (`--rate`): send times from the start of traffic,
/// evenly spaced or Poisson, drawn with the connection's own seeded generator. Every
/// request due before the end of the sending time goes, however late the thread got to
/// run (so that the count is the rate's, not the machine's), within [`LATE_GRACE`].
pub(crate) struct Schedule {
    arrivals: Arrivals,
    /// The next request's intended send time.
    pub next_due: Instant,
    end: Instant,
}

impl Schedule {
    pub fn new(ctx: &RoleCtx, conn: u32, rate: u64) -> Schedule {
        let spec = &ctx.spec;
        let rng = rng_for(spec.dist_seed, conn, 2);
        Schedule {
            arrivals: Arrivals::new(spec.arrival, rate, rng),
            next_due: ctx.t0,
            end: ctx.send_end(),
        }
    }

    /// Whether requests still go at `now`.
    #[inline]
    pub fn sending(&self, now: Instant) -> bool {
        self.next_due < self.end && now < self.end + LATE_GRACE
    }

    /// Whether the next request is due at `now`.
    #[inline]
    pub fn due(&self, now: Instant) -> bool {
        self.next_due <= now && self.next_due < self.end
    }

    /// The next request goes: its intended send time. The schedule moves on.
    #[inline]
    pub fn advance(&mut self) -> Instant {
        let at = self.next_due;
        self.next_due += self.arrivals.next_gap();
        at
    }

    /// No more requests go (the peer is gone).
    pub fn stop(&mut self) {
        self.next_due = self.end;
    }
}

/// A bulk sender's schedule: paced by `--rate` (never more than the rate on average since
/// the start of traffic) or not, until the end of the sending time.
pub(crate) struct Pacer {
    start: Instant,
    /// `None`: unpaced.
    bytes_per_sec: Option<f64>,
    end: Instant,
    /// The socket was full at the last try (reset when the pacer is ahead).
    pub held: bool,
}

impl Pacer {
    pub fn new(ctx: &RoleCtx) -> Pacer {
        Pacer {
            start: ctx.t0,
            bytes_per_sec: ctx.spec.rate.map(|bps| bps as f64 / 8.0),
            end: ctx.send_end(),
            held: false,
        }
    }

    /// Paced, when sending more than `sent` bytes keeps within the rate.
    #[inline]
    pub fn due(&self, sent: u64) -> Option<Instant> {
        let rate = self.bytes_per_sec?;
        Some(self.start + Duration::from_secs_f64(sent as f64 / rate))
    }

    /// Whether the sending time is over for the next message (`due`: its send time when
    /// paced). Paced, the schedule says what goes: every message due before the end, so
    /// that the count is the rate's and not the machine's, unless the socket held the
    /// sender back (the path takes less than the rate) or it is later than
    /// [`LATE_GRACE`]; unpaced, what goes before the end.
    pub fn ends(&self, now: Instant, due: Option<Instant>) -> bool {
        let Some(due) = due else {
            return now >= self.end;
        };
        let late = now >= self.end && (self.held || now >= self.end + LATE_GRACE);
        due >= self.end || late
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::config::{DriverChoice, Side, TestSpec};

    #[test]
    fn one_rule_chooses_the_driver() {
        let mut spec = TestSpec::default();
        assert_eq!(choose(&spec, Side::Sender, 64), Driver::Blocking);
        assert_eq!(choose(&spec, Side::Sender, 65), Driver::Epoll);
        // A blocking-only path keeps the blocking driver whatever the count, on its side.
        spec.sender.zerocopy = true;
        assert_eq!(choose(&spec, Side::Sender, 100_000), Driver::Blocking);
        assert_eq!(choose(&spec, Side::Receiver, 100_000), Driver::Epoll);
        spec.driver = DriverChoice::Blocking;
        assert_eq!(choose(&spec, Side::Receiver, 100_000), Driver::Blocking);
        spec.driver = DriverChoice::Epoll;
        spec.sender.zerocopy = false;
        assert_eq!(choose(&spec, Side::Sender, 1), Driver::Epoll);
    }
}
