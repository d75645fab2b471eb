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

use crate::sys::RawFd;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::RoleCtx;
use crate::measure::{latency_histogram, RoleReport};
use crate::sys::buffer::MsgBuf;

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
        use crate::sys::AsRawFd;
        self.socket().map(|s| s.as_raw_fd())
    }
    /// Makes progress; what the flow waits for next. An error ends the flow: the driver
    /// records it in the report, and the figures so far stay.
    fn step(&mut self, cx: &mut Cx) -> Result<Want, super::EngineError>;
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
        match want {
            Want::Write | Want::ReadWrite => "write",
            Want::Until(_) => "waiting",
            _ => "read",
        }
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
