//! Traffic patterns. Each pattern is one file holding both of its roles behind
//! [`Pattern`]: the active role drives a connection (writes the bulk data, sends the
//! requests), the passive role answers. Which process plays which role comes from the
//! connection plan, so the same code serves forward, reverse and bidir.
//!
//! Every loop here is bounded in time by the role's hard deadline, and checks the abort
//! flag whenever a socket call times out.

pub mod crr;
pub mod flow;
pub mod multi;
pub mod rr;
pub mod stream;

pub(crate) use crate::sys::poll::wait_fd;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::measure::{thread_cpu_ns, IntervalCounter, RoleReport, SideReport};
use crate::net::sockopt;
use crate::net::transport::{dgram, is_timeout, DataConn};
use crate::spec::config::{ConnKind, Side, TestSpec};

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
    /// The peer broke the pattern's protocol (closed mid-message, a bad header...).
    #[error("{0}")]
    Protocol(String),
    /// No progress for the stall limit.
    #[error("{what}: stalled, no progress for {secs}s (the peer or the path is gone)")]
    Stalled { what: &'static str, secs: u64 },
    #[error("{0}: timed out (the peer stopped responding)")]
    TimedOut(&'static str),
    #[error("{0}: the test was aborted")]
    Aborted(&'static str),
}

/// How often a blocked socket call wakes up to look at the clock and the abort flag.
pub const POLL: Duration = Duration::from_millis(100);
/// A datagram receiver that has not heard its END marker stops after this much silence
/// past the sender's nominal end.
pub const DGRAM_IDLE: Duration = Duration::from_millis(500);
/// A role that has made no progress for this long gives up: the peer or the path is gone
/// (a killed process, a cut link), and a run should end in seconds, not at its deadline.
pub const STALL: Duration = Duration::from_secs(10);
const STALL_POLLS: u32 = (STALL.as_millis() / POLL.as_millis()) as u32;
/// A datagram sender waits this long after its last datagram before the END markers, so
/// that they do not meet a bottleneck queue still full of data.
pub const END_PAUSE: Duration = Duration::from_millis(100);
/// Sequence numbers a datagram receiver has room for before its bitmap must grow (one
/// bit each: 128 KiB), so that a run of up to a million datagrams records without
/// allocating.
pub const SEQ_ROOM: u64 = 1 << 20;
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
}

/// Socket calls that returned without progress, for the stall limit. Blocking calls wait
/// POLL each; a spinning role counts one only per POLL of wall time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Idle {
    polls: u32,
    since: Option<Instant>,
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
    /// After a socket call timed out with no progress since the last one: the abort flag,
    /// the deadline, and the stall limit. `idle` counts such calls; reset it on progress.
    fn idle(&self, what: &str, idle: &mut Idle) -> Result<(), String> {
        if self.spin {
            std::hint::spin_loop();
            let now = Instant::now();
            let since = *idle.since.get_or_insert(now);
            if now.duration_since(since) < POLL {
                return Ok(());
            }
            idle.since = Some(now);
        }
        self.check(what)?;
        idle.polls += 1;
        if idle.polls >= STALL_POLLS {
            return Err(format!(
                "{what}: stalled, no progress for {}s (the peer or the path is gone)",
                STALL.as_secs()
            ));
        }
        Ok(())
    }

    /// Checks the abort flag and the deadline after a timed-out socket call.
    fn check(&self, what: &str) -> Result<(), String> {
        if self.aborted() {
            return Err(format!("{what}: the test was aborted"));
        }
        if Instant::now() >= self.hard_deadline() {
            return Err(format!("{what}: timed out (the peer stopped responding)"));
        }
        Ok(())
    }
}

/// The two roles of a traffic pattern.
pub trait Pattern: Sync {
    /// Drives the connection. Fills `rep` as it goes, so that an error leaves partial
    /// figures behind.
    fn active(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String>;
    /// Answers the connection.
    fn passive(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String>;
}

/// The registry: which code runs a connection of each kind.
pub fn pattern_for(kind: ConnKind) -> &'static dyn Pattern {
    match kind {
        ConnKind::Stream => &stream::Stream,
        ConnKind::Rr => &rr::Rr,
        ConnKind::Crr => &crr::Crr,
    }
}

/// Runs one role to its end on the calling thread and reports what it measured.
pub fn run_role(conn: DataConn, side: Side, mut ctx: RoleCtx) -> RoleReport {
    // --spin: this side's roles poll non-blocking sockets in user space (crr makes a new
    // socket per transaction and keeps to blocking ones).
    ctx.spin = ctx.spec.knobs(side).spin && conn.plan.kind != ConnKind::Crr;
    if ctx.spin {
        let _ = conn.sock.set_nonblocking(true);
    }
    // Pinned first, so that everything the role does runs where it was asked to.
    let pin = ctx
        .spec
        .knobs(side)
        .cpus
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| c[conn.plan.id as usize % c.len()]);
    let pinned = crate::measure::pin_thread(pin);
    let cpu0 = thread_cpu_ns();
    let mut rep = RoleReport {
        conn: conn.plan.id,
        flow: conn.plan.flow,
        kind: Some(conn.plan.kind),
        side: Some(side),
        active: conn.plan.active == side,
        interval_ns: ctx.spec.interval.as_nanos() as u64,
        knobs: conn.knobs.clone(),
        ..RoleReport::default()
    };
    let pattern = pattern_for(conn.plan.kind);
    let result = match pinned {
        Ok(cpus) => {
            rep.cpus = cpus;
            Ok(())
        }
        Err(e) => Err(e),
    };
    let result = if result.is_err() {
        result
    } else if rep.active {
        pattern.active(&conn, &ctx, &mut rep)
    } else {
        pattern.passive(&conn, &ctx, &mut rep)
    };
    if let Err(e) = result {
        rep.error = Some(format!("connection {}: {e}", conn.plan.id));
    }
    rep.sndbuf_end = conn.sock.send_buffer_size().ok().map(|v| v as u64);
    rep.rcvbuf_end = conn.sock.recv_buffer_size().ok().map(|v| v as u64);
    if ctx.spec.protocol.is_tcp_like() {
        rep.tcp_info = sockopt::tcp_info(&conn.sock).ok();
    }
    rep.cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    rep
}

/// The role threads of one side of a test.
pub struct RunningRoles {
    reports: std::sync::mpsc::Receiver<(RoleReport, Instant)>,
    /// Reports taken from the channel by [`RunningRoles::all_ended`] before the join.
    early: Vec<(RoleReport, Instant)>,
    conns: Vec<u32>,
    t0: Instant,
    /// Past this, a role still running is reported, not waited for: a bug that wedges one
    /// role must not wedge the daemon.
    deadline: Instant,
    /// The process's memory, sampled just before the end of the transfer.
    rss: RssSampler,
}

/// Starts one thread per connection, each playing this side's role on it.
pub fn spawn_roles(conns: Vec<DataConn>, side: Side, ctx: &RoleCtx) -> RunningRoles {
    let (tx, rx) = std::sync::mpsc::channel();
    let ids = conns.iter().map(|c| c.plan.id).collect();
    let main = ctx.spec.main_kind();
    let (streams, others): (Vec<DataConn>, Vec<DataConn>) =
        conns.into_iter().partition(|c| c.plan.kind == main);
    let conns = if multi::eligible(&streams, ctx) {
        // Many flows: a few epoll workers (one per CPU), connections dealt round robin; a
        // probe keeps a thread of its own.
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let mut shares: Vec<Vec<DataConn>> = (0..workers).map(|_| Vec::new()).collect();
        for conn in streams {
            // By flow: both directions of a bidir flow share a worker.
            shares[conn.plan.flow as usize % workers].push(conn);
        }
        for share in shares.into_iter().filter(|s| !s.is_empty()) {
            let (ctx, tx) = (ctx.clone(), tx.clone());
            std::thread::spawn(move || multi::worker(share, side, ctx, tx));
        }
        others
    } else {
        streams.into_iter().chain(others).collect()
    };
    for conn in conns {
        let (ctx, tx) = (ctx.clone(), tx.clone());
        std::thread::spawn(move || {
            let rep = run_role(conn, side, ctx);
            let _ = tx.send((rep, Instant::now()));
        });
    }
    let sample_at = ctx.send_end() - (ctx.spec.duration / 10).min(Duration::from_millis(200));
    RunningRoles {
        reports: rx,
        early: Vec::new(),
        conns: ids,
        t0: ctx.t0,
        deadline: ctx.hard_deadline() + STALL,
        rss: sample_rss(sample_at),
    }
}

/// Samples this process's resident memory at an instant, when every connection's buffers
/// are live, on a thread that a test's end wakes and joins however the test ends.
struct RssSampler {
    rss: Arc<std::sync::atomic::AtomicU64>,
    done: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn sample_rss(at: Instant) -> RssSampler {
    let rss = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let (out, wake) = (rss.clone(), done.clone());
    let thread = std::thread::Builder::new()
        .name("sockbench-rss".into())
        .spawn(move || {
            let (lock, cvar) = &*wake;
            let mut finished = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !*finished {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    out.store(crate::measure::rss_kib().unwrap_or(0), Ordering::Relaxed);
                    return;
                }
                finished = cvar
                    .wait_timeout(finished, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        })
        .ok();
    RssSampler { rss, done, thread }
}

impl RssSampler {
    /// Stops the sampler (if it has not sampled yet) and joins it; the sample, if any.
    fn finish(mut self) -> Option<u64> {
        let (lock, cvar) = &*self.done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Some(self.rss.load(Ordering::Relaxed)).filter(|&k| k > 0)
    }
}

impl RunningRoles {
    /// Whether every role has ended, without waiting.
    pub fn all_ended(&mut self) -> bool {
        while let Ok(r) = self.reports.try_recv() {
            self.early.push(r);
        }
        self.early.len() >= self.conns.len()
    }

    /// Gathers every role's report (each role is bounded by its hard deadline; one that
    /// is not by then is named as stuck).
    pub fn join(mut self) -> SideReport {
        let mut report = SideReport::default();
        let mut last_end = self.t0;
        for (rep, end) in std::mem::take(&mut self.early) {
            last_end = last_end.max(end);
            report.roles.push(rep);
        }
        while report.roles.len() < self.conns.len() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok((rep, end)) => {
                    last_end = last_end.max(end);
                    report.roles.push(rep);
                }
                Err(_) => break,
            }
        }
        // Sorted first: with 100,000 connections, a scan per connection takes minutes.
        report.roles.sort_by_key(|r| r.conn);
        for id in &self.conns {
            if report.roles.binary_search_by_key(id, |r| r.conn).is_err() {
                report.warnings.push(format!(
                    "connection {id}: its role panicked or did not finish by the deadline"
                ));
            }
        }
        report.rss_kib = self.rss.finish();
        report.wall_ns = last_end.duration_since(self.t0).as_nanos() as u64;
        report
    }
}

/// Reads exactly `buf.len()` bytes. `Ok(false)`: a clean end of stream before the first
/// byte (the peer is done).
pub(crate) fn read_full(sock: &Socket, buf: &mut [u8], ctx: &RoleCtx) -> Result<bool, String> {
    let (mut got, mut seen, mut idle) = (0, 0, Idle::default());
    while got < buf.len() {
        match (&*sock).read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(format!(
                    "the peer closed mid-message ({got} of {} bytes)",
                    buf.len()
                ))
            }
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) => {
                if got != seen {
                    (seen, idle) = (got, Idle::default());
                }
                ctx.idle("read", &mut idle)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(true)
}

/// Reads one message into `buf`: all of it (a fixed size), or with `framed`, a message of
/// the size its length header says (at most `buf.len()`). `Ok(None)`: a clean end of
/// stream before the message.
pub(crate) fn read_msg(
    sock: &Socket,
    buf: &mut [u8],
    framed: bool,
    ctx: &RoleCtx,
) -> Result<Option<usize>, String> {
    if !framed {
        return Ok(read_full(sock, buf, ctx)?.then_some(buf.len()));
    }
    let hdr = crate::spec::dist::FRAME_HEADER as usize;
    if !read_full(sock, &mut buf[..hdr], ctx)? {
        return Ok(None);
    }
    let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if size < hdr || size > buf.len() {
        return Err(format!(
            "a message header says {size} bytes; expected {hdr} to {}",
            buf.len()
        ));
    }
    if !read_full(sock, &mut buf[hdr..size], ctx)? {
        return Err("the peer closed mid-message".to_string());
    }
    Ok(Some(size))
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
            rng: crate::spec::dist::rng_for(ctx.spec.dist_seed, conn, stream),
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
            rng: crate::spec::dist::rng_for(ctx.spec.dist_seed, conn, 3),
        }
    }

    #[inline]
    pub fn wait(&mut self, ctx: &RoleCtx) {
        let Some(d) = &self.dist else { return };
        let until = (Instant::now() + d.sample(&mut self.rng)).min(ctx.send_end());
        loop {
            let now = Instant::now();
            if now >= until || ctx.aborted() {
                return;
            }
            std::thread::sleep((until - now).min(POLL));
        }
    }
}

/// Per-size accounting for a request/response role whose sizes vary: round trips are
/// bucketed by the larger of request and response.
pub(crate) fn rr_buckets(req: &Sizes, resp: &Sizes) -> Option<crate::measure::sizes::SizeBuckets> {
    (req.framed() || resp.framed()).then(|| {
        let (a, b) = (req.range(), resp.range());
        crate::measure::sizes::SizeBuckets::with_rtt(a.0.max(b.0), a.1.max(b.1))
    })
}

/// Writes all of `buf`, waking up on timeouts to honour the deadline and abort flag.
pub(crate) fn write_full(sock: &Socket, buf: &[u8], ctx: &RoleCtx) -> Result<(), String> {
    let (mut sent, mut idle) = (0, Idle::default());
    while sent < buf.len() {
        match (&*sock).write(&buf[sent..]) {
            Ok(n) => (sent, idle) = (sent + n, Idle::default()),
            Err(e) if is_timeout(&e) => ctx.idle("write", &mut idle)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

/// After the last write of a stream: shut down the sending half and wait for the peer to
/// close, so that every byte has been read by the other end before the figures are taken
/// (and a close with unread data cannot turn into a reset).
pub(crate) fn finish_stream(sock: &Socket, ctx: &RoleCtx) -> Result<(), String> {
    let _ = sock.set_tcp_cork(false);
    sock.shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))?;
    await_close(sock, ctx, "waiting for the peer to finish")
}

/// Reads (and discards) until the peer's FIN, bounded by the stall limit. A reset once
/// the peer has everything counts as a close.
pub(crate) fn await_close(sock: &Socket, ctx: &RoleCtx, what: &str) -> Result<(), String> {
    let mut sink = [0u8; 4096];
    let mut idle = Idle::default();
    loop {
        match (&*sock).read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => ctx.idle(what, &mut idle)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// Tells a datagram peer that this side is done: END markers carrying the count sent.
pub(crate) fn send_end_markers(sock: &Socket, conn: u32, sent: u64) {
    let mut end = [0u8; 16];
    dgram::put_header(&mut end, sent, dgram::END, conn);
    std::thread::sleep(END_PAUSE);
    for i in 0..END_MARKERS {
        let _ = sock.send(&end);
        if i + 1 < END_MARKERS {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Answers a repeated hello (its ack was lost) during the test.
pub(crate) fn answer_hello(sock: &Socket, seq: u64, conn: u32) {
    let mut ack = [0u8; 16];
    dgram::put_header(&mut ack, seq, dgram::HELLO_ACK, conn);
    let _ = sock.send(&ack);
}

/// Paces an open-loop sender: never more than `rate_bps` on average since `start`.
pub(crate) struct Pacer {
    start: Instant,
    bytes_per_sec: f64,
}

impl Pacer {
    pub fn new(start: Instant, rate_bps: u64) -> Pacer {
        Pacer {
            start,
            bytes_per_sec: rate_bps as f64 / 8.0,
        }
    }

    /// When sending more than `sent` bytes keeps within the rate.
    #[inline]
    pub fn due(&self, sent: u64) -> Instant {
        self.start + Duration::from_secs_f64(sent as f64 / self.bytes_per_sec)
    }

    /// Sleeps until sending more than `sent` bytes keeps within the rate.
    #[inline]
    pub fn wait(&self, now: Instant, sent: u64) {
        let due = self.due(sent);
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Closes a role's report: the measured window, the time of the last receive, and the
/// per-interval samples when the role kept them.
pub(crate) fn finish_report(
    rep: &mut RoleReport,
    ctx: &RoleCtx,
    last: Option<Instant>,
    intervals: Option<IntervalCounter>,
) {
    rep.window_ns = window_ns(ctx, last);
    rep.end_ns = last
        .map(|l| l.saturating_duration_since(ctx.t0).as_nanos() as u64)
        .unwrap_or(0);
    if let Some(iv) = intervals {
        rep.interval_bytes = iv.bytes;
        rep.interval_messages = iv.messages;
    }
}

/// Window from the warm-up mark to the last receive, in nanoseconds.
fn window_ns(ctx: &RoleCtx, last: Option<Instant>) -> u64 {
    last.map(|l| l.saturating_duration_since(ctx.warmup_mark()).as_nanos() as u64)
        .unwrap_or(0)
}
