//! The one shape every traffic pattern has: a state machine per connection.
//!
//! A [`Flow`] is one role on one connection (the active or the passive end of a stream,
//! a request/response connection, a crr requester, a datagram sender...). It owns its
//! socket and its accounting (the [`RoleReport`] it fills as it goes), makes the socket
//! calls itself, and after each [`Flow::step`] says what it waits for next ([`Want`]).
//! A driver runs flows: the blocking driver one per thread on blocking sockets with the
//! `POLL` timeout (a call that times out returns `WouldBlock`, exactly as on a
//! non-blocking socket), the epoll driver many per thread on non-blocking sockets. The
//! flow cannot tell them apart, so its accounting is the same on both.
//!
//! Rules for a flow's `step`:
//! - Make as much progress as the socket allows now, then return what would unblock it.
//!   `WouldBlock` from a socket call is never an error: return [`Want::Read`] or
//!   [`Want::Write`] (or [`Want::ReadUntil`] when a timer also matters).
//! - Never sleep and never block past one socket call: time is the driver's. A flow
//!   that must wait for an instant returns [`Want::Until`].
//! - Bound the work of one step (a few writes or reads), so that one fast connection
//!   cannot starve the others on an epoll worker. A step that stops for that reason
//!   returns what its NEXT move needs (`Write` if that is a write: level-triggered
//!   readiness wakes it at once), never `Read` while the next move is a write (it would
//!   wait for a response to a request it has not sent).
//! - A socket call may block (the blocking driver's sockets wait up to `POLL`) or return
//!   `WouldBlock` at once (epoll, `--spin`): both are fine. A flow that must never wait in
//!   a call (an open-loop schedule) uses `MSG_DONTWAIT`.
//! - A flow's socket is registered by the driver from [`Flow::fd`]. A flow's first
//!   sockets ([`Flow::fd`] and [`Flow::socket`]) are put in the driver's mode before its
//!   first step. A descriptor the flow changes to later is put in `POLL` timeouts by the
//!   blocking driver; on the epoll driver it must be non-blocking from its birth (crr
//!   makes it with SOCK_NONBLOCK when its first socket is non-blocking), as must a
//!   spawned flow's (accept4 with SOCK_NONBLOCK): the epoll driver spends no fcntl on
//!   them.
//! - Read the clock through [`Cx::now`] where a fresh reading is not needed.
//!
//! What every role has besides its pattern's state lives in a [`FlowCore`]: the
//! connection (socket, plan, knobs), the report, the end of the measured window, the
//! per-interval and per-size counts, and how they close. A pattern's role holds one and
//! implements [`CoreFlow`] (its step, and what it does differently); the blanket
//! `impl Flow` supplies the socket, the report, the progress and the finish from the core.

use crate::sys::RawFd;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::{EngineError, RoleCtx};
use crate::measure::sizes::SizeBuckets;
use crate::measure::{latency_histogram, IntervalCounter, RoleReport, SeqTracker};
use crate::net::transport::DataConn;
use crate::sys::buffer::MsgBuf;
use crate::sys::AsRawFd;

/// What a flow waits for before its next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The socket to be readable.
    Read,
    /// The socket to be writable.
    Write,
    /// The socket to be readable, or the instant, whichever comes first (an open-loop
    /// requester: responses arrive while the next request's send time approaches).
    ReadUntil(Instant),
    /// The instant; the socket is not watched (a paced sender ahead of its rate, a
    /// think time).
    Until(Instant),
    /// The socket to be readable or writable (a pipelined requester with a request
    /// half-written: the responses must keep flowing while it waits for room).
    ReadWrite,
    /// The flow has ended; [`Flow::finish`] comes next.
    Done,
}

/// What a driver lends a flow for one step. Shared scratch space lives here, not in the
/// flow, so that a hundred thousand flows on one worker cost what their sockets cost.
pub struct Cx<'a> {
    /// The test, the clock marks and the abort flag.
    pub ctx: &'a RoleCtx,
    /// The time the driver read just before this step.
    pub now: Instant,
    /// A read buffer to discard into (at least 64 KiB and the test's largest message).
    pub scratch: &'a mut [u8],
    /// A write buffer of the test's largest message, shared by the flows of a driver
    /// thread: write from it, stamping a header (length, id) in before each write of a
    /// message's first bytes, since another flow may have stamped its own in between.
    pub out: &'a mut [u8],
    /// Where round trips go: one per connection on the blocking driver, one per worker on
    /// the epoll driver (merged at the end, so the totals are identical).
    pub rtt: &'a mut Histogram<u64>,
    /// Open-loop requesters' round trips measured from the send, not the schedule.
    pub rtt_uncorrected: &'a mut Histogram<u64>,
    /// Flows this step started (a crr acceptor's accepted connections). The driver runs
    /// them beside their parent and adds their counts into the parent's report when they
    /// end, so that a role still reports once.
    pub spawned: &'a mut Vec<Box<dyn Flow>>,
}

/// One role on one connection, written once for both drivers.
pub trait Flow: Send {
    /// The socket the driver watches for this flow now (a crr requester's changes with
    /// every transaction). `None` while the flow has no socket to watch. By default the
    /// socket it reads back ([`Flow::socket`]); a flow that watches another (crr's
    /// acceptor: its listener) says so.
    fn fd(&self) -> Option<RawFd> {
        self.socket().map(|s| s.as_raw_fd())
    }
    /// Makes progress; what the flow waits for next. An error ends the flow: the driver
    /// records it in the report, and the figures so far stay.
    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError>;
    /// The driver's deadline or the abort flag ended the test now: stop where you are.
    /// The default does nothing; a flow with half-sent state may tidy up here.
    fn cancel(&mut self, _cx: &mut Cx) {}
    /// Closes the accounting once the flow is done (or failed, or was cancelled): partial
    /// messages, the measured window, per-interval samples. Called exactly once.
    fn finish(&mut self, cx: &mut Cx);
    /// The flow's report, filled as it goes.
    fn report(&mut self) -> &mut RoleReport;
    /// Bytes and messages moved so far, for the driver's stall check.
    fn progress(&self) -> u64;
    /// The socket whose buffer sizes and TCP_INFO are read back into the report when the
    /// flow ends (the driver does it). `None`: nothing to read back.
    fn socket(&self) -> Option<&socket2::Socket> {
        None
    }
    /// What the flow is doing while it waits for `want`, for the driver's error messages
    /// ("read: stalled, ...", "waiting for the peer to finish: timed out ...").
    fn doing(&self, want: Want) -> &'static str {
        doing(want)
    }
    /// The round-trip histograms the flow records into (`Cx::rtt`, then
    /// `Cx::rtt_uncorrected`), by metric name, for the driver to attach to its report:
    /// `&[RTT]` for a closed-loop requester, `&[RTT, RTT_UNCORRECTED]` for an open-loop
    /// one. On the epoll driver a worker's histograms go to its first flow naming them.
    fn histograms(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A driver thread's buffers: the read scratch and the shared write buffer.
pub(crate) struct Bufs {
    pub scratch: MsgBuf,
    pub out: MsgBuf,
}

impl Bufs {
    /// Room for the test's largest message (and the probe's), the scratch at least 256 KiB
    /// (a framed receiver's read).
    pub fn for_test(ctx: &RoleCtx) -> Bufs {
        let spec = &ctx.spec;
        let largest = spec
            .msg_size
            .max(spec.response_size)
            .max(spec.probe_size)
            .max(64) as usize;
        Bufs {
            scratch: MsgBuf::new(largest.max(256 * 1024), 0),
            out: MsgBuf::new(largest, 0x5a),
        }
    }

    /// What a flow's step is lent: these buffers, the round-trip histograms (rtt,
    /// rtt_uncorrected), where the flows it starts go, and the time now.
    pub fn cx<'a>(
        &'a mut self,
        ctx: &'a RoleCtx,
        [rtt, rtt_uncorrected]: [&'a mut Histogram<u64>; 2],
        spawned: &'a mut Vec<Box<dyn Flow>>,
    ) -> Cx<'a> {
        Cx {
            ctx,
            now: Instant::now(),
            scratch: &mut self.scratch,
            out: &mut self.out,
            rtt,
            rtt_uncorrected,
            spawned,
        }
    }
}

/// The histograms a flow records into: full ones if it names any, else tiny ones (a flow
/// that records nothing costs no 100 KB histogram).
pub(crate) fn histograms_for(flow: &dyn Flow) -> [Histogram<u64>; 2] {
    if flow.histograms().is_empty() {
        let tiny = || Histogram::new_with_bounds(1, 2, 1).expect("static bounds");
        [tiny(), tiny()]
    } else {
        [latency_histogram(), latency_histogram()]
    }
}

/// What a flow does while it waits, by default: a write, a timed wait, or a read.
fn doing(want: Want) -> &'static str {
    match want {
        Want::Write | Want::ReadWrite => "write",
        Want::Until(_) => "waiting",
        _ => "read",
    }
}

/// What every role keeps besides its pattern's state: its connection, its report, and
/// the accounting that closes the same way for every pattern.
pub struct FlowCore {
    /// The connection: its socket (read back when the flow ends), plan and knobs.
    pub conn: DataConn,
    /// The report, filled as the flow goes.
    pub rep: RoleReport,
    /// The warm-up mark: what happens before it is not measured.
    pub warm: Instant,
    /// The last receive that counts: the end of the measured window.
    pub last: Option<Instant>,
    /// Per-interval counts, for a role that keeps them.
    pub intervals: Option<IntervalCounter>,
    /// Per-size counts, when the sizes vary.
    pub sizes: Option<SizeBuckets>,
}

impl FlowCore {
    pub fn new(conn: DataConn, rep: RoleReport, ctx: &RoleCtx) -> FlowCore {
        FlowCore {
            conn,
            rep,
            warm: ctx.warmup_mark(),
            last: None,
            intervals: None,
            sizes: None,
        }
    }

    /// Keeps per-interval counts from the test's start (`--interval`), the warm-up and
    /// the sending time past.
    pub fn with_intervals(mut self, ctx: &RoleCtx) -> FlowCore {
        let spec = &ctx.spec;
        self.intervals = Some(IntervalCounter::new(
            ctx.t0,
            spec.interval,
            spec.warmup,
            spec.duration,
        ));
        self
    }

    /// Keeps per-size counts (`Some`: the sizes vary).
    pub fn with_sizes(mut self, sizes: Option<SizeBuckets>) -> FlowCore {
        self.sizes = sizes;
        self
    }

    /// Counts into the current interval, if the role keeps intervals.
    #[inline]
    pub fn interval(&mut self, now: Instant, bytes: u64, messages: u64) {
        if let Some(iv) = &mut self.intervals {
            iv.record(now, bytes, messages);
        }
    }

    /// A message of `n` bytes has come in: counted, and by its size.
    #[inline]
    pub fn received(&mut self, n: u64) {
        self.rep.bytes_received += n;
        self.rep.messages_received += 1;
        if let Some(b) = &mut self.sizes {
            b.record(n);
        }
    }

    /// The answering end: a request of `n` bytes has come in at `now`. Counted, and past
    /// the warm-up in the measured window.
    #[inline]
    pub fn request_in(&mut self, n: u64, now: Instant) {
        self.received(n);
        if now >= self.warm {
            self.rep.measured_bytes += n;
            self.last = Some(now);
        }
    }

    /// A requester's transaction is complete at `done`: a response of `n` bytes to a
    /// request of `req` bytes that went (or was due) at `start`. It counts in its
    /// interval; if it started past the warm-up, its round trip goes into `rtt` and the
    /// per-size counts, and it is a transaction of the measured window. The round trip
    /// (ns) when it was measured.
    #[inline]
    pub fn transaction(
        &mut self,
        rtt: &mut Histogram<u64>,
        start: Instant,
        done: Instant,
        n: u64,
        req: u64,
    ) -> Option<u64> {
        self.interval(done, n, 1);
        if start < self.warm {
            return None;
        }
        let ns = done.duration_since(start).as_nanos() as u64;
        rtt.saturating_record(ns);
        if let Some(b) = &mut self.sizes {
            b.record_rtt(n.max(req), ns);
        }
        self.rep.transactions += 1;
        self.rep.measured_bytes += n;
        self.last = Some(done);
        Some(ns)
    }

    /// A datagram role's sequence-number counts into the report.
    pub fn count_seqs(&mut self, seqs: &SeqTracker) {
        let r = &mut self.rep;
        (r.duplicated, r.invalid, r.reordered) = (seqs.duplicated, seqs.invalid, seqs.reordered);
    }

    /// Closes the accounting: the per-size counts, the measured window (from the warm-up
    /// mark to the last counted receive), the time of that receive, the intervals.
    pub fn finish(&mut self, ctx: &RoleCtx) {
        let rep = &mut self.rep;
        if let Some(b) = self.sizes.take() {
            rep.sizes = Some(b.report());
        }
        let since = |t: Instant| {
            let ns = |l: Instant| l.saturating_duration_since(t).as_nanos() as u64;
            self.last.map_or(0, ns)
        };
        (rep.window_ns, rep.end_ns) = (since(ctx.warmup_mark()), since(ctx.t0));
        if let Some(iv) = self.intervals.take() {
            rep.interval_bytes = iv.bytes;
            rep.interval_messages = iv.messages;
        }
    }
}

/// The `core` and `core_mut` of a [`CoreFlow`] whose core is its field `core`: write
/// `core_field!();` in the impl.
macro_rules! core_field {
    () => {
        fn core(&self) -> &$crate::engine::flow::FlowCore {
            &self.core
        }
        fn core_mut(&mut self) -> &mut $crate::engine::flow::FlowCore {
            &mut self.core
        }
    };
}
pub(crate) use core_field;

/// A role built on a [`FlowCore`]: it says where its core is and how it steps; the core
/// gives the [`Flow`] its socket, report, progress and finish unless the role says
/// otherwise (the methods mean what they mean on [`Flow`]).
pub trait CoreFlow: Send {
    fn core(&self) -> &FlowCore;
    fn core_mut(&mut self) -> &mut FlowCore;
    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError>;
    fn cancel(&mut self, _cx: &mut Cx) {}
    /// By default the core's finish; a role with counts of its own puts them in the
    /// report first.
    fn finish(&mut self, cx: &mut Cx) {
        self.core_mut().finish(cx.ctx);
    }
    /// By default what the report has moved: bytes, messages and transactions.
    fn progress(&self) -> u64 {
        let r = &self.core().rep;
        r.bytes_sent + r.bytes_received + r.messages_sent + r.messages_received + r.transactions
    }
    /// By default the core's socket.
    fn fd(&self) -> Option<RawFd> {
        Some(self.core().conn.sock.as_raw_fd())
    }
    fn doing(&self, want: Want) -> &'static str {
        doing(want)
    }
    fn histograms(&self) -> &'static [&'static str] {
        &[]
    }
}

impl<F: CoreFlow> Flow for F {
    #[inline]
    fn fd(&self) -> Option<RawFd> {
        CoreFlow::fd(self)
    }
    #[inline]
    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        CoreFlow::step(self, cx)
    }
    fn cancel(&mut self, cx: &mut Cx) {
        CoreFlow::cancel(self, cx)
    }
    fn finish(&mut self, cx: &mut Cx) {
        CoreFlow::finish(self, cx)
    }
    fn report(&mut self) -> &mut RoleReport {
        &mut self.core_mut().rep
    }
    #[inline]
    fn progress(&self) -> u64 {
        CoreFlow::progress(self)
    }
    fn socket(&self) -> Option<&socket2::Socket> {
        Some(&self.core().conn.sock)
    }
    fn doing(&self, want: Want) -> &'static str {
        CoreFlow::doing(self, want)
    }
    fn histograms(&self) -> &'static [&'static str] {
        CoreFlow::histograms(self)
    }
}
