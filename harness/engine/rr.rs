//! Request/response over a byte stream (tcp, mptcp, unix-stream), as flows. The requester
//! sends a request, waits for the response, and records the round trip in an
//! HdrHistogram (after the warm-up); then the next, after an optional think time (closed
//! loop). Open loop (`--rate`): requests leave on a schedule (evenly spaced or Poisson)
//! whatever the responses do, and each round trip is measured from the request's intended
//! send time (corrected) and from its actual one (uncorrected). Pipelined (`--pipeline`):
//! up to N requests outstanding, each response matched to its request by an echoed id.
//! Sizes may vary (a distribution per direction: a length header frames each message).
//! The responder answers each request in turn.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use socket2::Socket;

use super::flow::{core_field, CoreFlow, Cx, Flow, FlowCore, Want};
use super::stream::{Closing, CALLS_PER_STEP};
use super::{rr_buckets, rr_sizes, EngineError, RoleCtx, Schedule, Sizes, Think};
use crate::measure::RoleReport;
use crate::net::sockopt;
use crate::net::transport::{is_timeout, DataConn};
use crate::spec::config::{RrLoad, RrSpec, Traffic};
use crate::spec::dist::{put_frame, Framer, FRAME_HEADER};
use crate::sys::socket::{recv_nowait, send_nowait};

mod open;
use open::*;

/// The metric name of request/response round trips in histograms and logs. In open-loop
/// runs it is measured from each request's intended send time.
pub const RTT: &str = "rtt";
/// Open-loop runs only: the same round trips measured from the actual send time, which
/// hides the waiting a slow response imposed on the requests behind it (coordinated
/// omission). Kept for comparison.
pub const RTT_UNCORRECTED: &str = "rtt_uncorrected";

const HDR: usize = FRAME_HEADER as usize;

/// What one read toward a message brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    /// A whole message of this size.
    Msg(usize),
    /// Part of one.
    More,
    /// Nothing now.
    Blocked,
    /// The end of the stream, this many bytes into a message.
    Eof(usize),
}

/// Reads one message at a time, never past its end ([`Framer`]): a framed message takes
/// two reads, header then body, as it always has.
pub(crate) struct MsgReader(Framer);

impl MsgReader {
    pub fn new(framed: bool, max: usize, id_off: Option<usize>) -> MsgReader {
        MsgReader(Framer::new(framed, max, HDR, id_off))
    }

    /// Bytes of the current message read so far.
    pub fn partial(&self) -> usize {
        self.0.partial()
    }

    /// The id the last message carried.
    pub fn id(&self) -> [u8; 8] {
        self.0.id()
    }

    #[inline]
    pub fn read(&mut self, sock: &Socket, scratch: &mut [u8]) -> Result<Got, EngineError> {
        let f = &mut self.0;
        if f.plain() {
            return self.read_plain(sock, scratch);
        }
        let want = f.want().min(scratch.len());
        let n = match (&*sock).read(&mut scratch[..want]) {
            Ok(0) => return Ok(Got::Eof(f.partial())),
            Ok(n) => n,
            Err(e) if is_timeout(&e) => return Ok(Got::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Got::More),
            Err(e) => return Err(EngineError::io("read")(e)),
        };
        Ok(f.take(&scratch[..n])?.map_or(Got::More, Got::Msg))
    }

    /// A fixed-size message without an id: only the count matters.
    #[inline]
    fn read_plain(&mut self, sock: &Socket, scratch: &mut [u8]) -> Result<Got, EngineError> {
        let f = &mut self.0;
        let want = f.rest().min(scratch.len());
        match (&*sock).read(&mut scratch[..want]) {
            Ok(0) => Ok(Got::Eof(f.partial())),
            Ok(n) => Ok(f.count(n).map_or(Got::More, Got::Msg)),
            Err(e) if is_timeout(&e) => Ok(Got::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Got::More),
            Err(e) => Err(EngineError::io("read")(e)),
        }
    }

    /// The error for an end of stream `got` bytes into a message.
    pub fn cut(&self, got: usize) -> EngineError {
        let of = self.0.expected();
        EngineError::Protocol(format!("the peer closed mid-message ({got} of {of} bytes)"))
    }
}

/// A request/response requester: the closed loop, or the open loop / pipelined one.
pub fn requester(conn: DataConn, rep: RoleReport, ctx: &RoleCtx) -> Box<dyn Flow> {
    // The probe of a stream test is a closed-loop requester, one at a time.
    match ctx.spec.traffic() {
        Traffic::Rr(RrSpec {
            load: RrLoad::Open { .. },
            ..
        }) => Box::new(OpenRequester::new(conn, rep, ctx)),
        Traffic::Rr(RrSpec {
            load: RrLoad::Closed { pipeline, .. },
            ..
        }) if pipeline > 1 => Box::new(OpenRequester::new(conn, rep, ctx)),
        Traffic::Rr(_) | Traffic::Stream(_) | Traffic::Crr(_) => {
            Box::new(Requester::new(conn, rep, ctx))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between transactions.
    Next,
    /// Writing the request.
    Asking,
    /// Reading the response.
    Awaiting,
    /// A think time until the instant.
    Thinking(Instant),
}

/// The closed-loop requester: one request at a time.
pub struct Requester {
    core: FlowCore,
    phase: Phase,
    closing: Option<Closing>,
    /// The current transaction's start, request size and bytes of it written.
    start: Instant,
    rs: usize,
    off: usize,
    req_sizes: Sizes,
    reader: MsgReader,
    think: Think,
    end: Instant,
    quickack: bool,
    /// Read right after the request (a blocking socket waits there for the response);
    /// off once a read right after the request found nothing.
    eager: bool,
}

impl Requester {
    pub fn new(conn: DataConn, rep: RoleReport, ctx: &RoleCtx) -> Requester {
        let id = conn.plan.id;
        let (req_sizes, resp_sizes) = rr_sizes(ctx, id);
        let sizes = rr_buckets(&req_sizes, &resp_sizes, true);
        let quickack = conn.knobs.requested.quickack;
        Requester {
            core: FlowCore::new(conn, rep, ctx)
                .with_sizes(sizes)
                .with_intervals(ctx),
            phase: Phase::Next,
            closing: None,
            start: ctx.t0,
            rs: 0,
            off: 0,
            reader: MsgReader::new(resp_sizes.framed(), resp_sizes.fixed(), None),
            req_sizes,
            think: Think::new(ctx, id),
            end: ctx.send_end(),
            quickack,
            eager: true,
        }
    }

    /// The response of `n` bytes is in: the transaction is counted.
    #[inline]
    fn answered(&mut self, n: usize, cx: &mut Cx) {
        let done = Instant::now();
        if self.quickack {
            sockopt::rearm_quickack(&self.core.conn.sock);
        }
        self.core.received(n as u64);
        (self.core).transaction(cx.rtt, self.start, done, n as u64, self.rs as u64);
    }

    /// Writes (the rest of) the request: true once it has gone.
    fn ask(&mut self, out: &mut [u8]) -> Result<bool, EngineError> {
        if self.req_sizes.framed() && self.off < HDR {
            put_frame(out, self.rs as u32);
        }
        match (&self.core.conn.sock).write(&out[self.off..self.rs]) {
            Ok(n) => self.off += n,
            Err(e) if is_timeout(&e) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(EngineError::io("write")(e)),
        }
        if self.off < self.rs {
            return Ok(false);
        }
        self.core.rep.bytes_sent += self.rs as u64;
        self.core.rep.messages_sent += 1;
        Ok(true)
    }

    /// One transaction's moves, as far as the socket allows: the request, then its
    /// response (falling through, so that a blocking socket does a whole transaction per
    /// turn). `Some(want)` when it must wait.
    fn turn(&mut self, cx: &mut Cx) -> Result<Option<Want>, EngineError> {
        if let Phase::Thinking(t) = self.phase {
            if Instant::now() < t && !cx.ctx.aborted() {
                return Ok(Some(Want::Until(t)));
            }
            self.phase = Phase::Next;
        }
        if self.phase == Phase::Next {
            let start = Instant::now();
            if start >= self.end || cx.ctx.aborted() {
                self.closing = Some(Closing::Start);
                return Ok(None);
            }
            (self.start, self.rs, self.off) = (start, self.req_sizes.next(), 0);
            self.phase = Phase::Asking;
        }
        let mut fresh = false;
        if self.phase == Phase::Asking {
            let before = self.off;
            if !self.ask(cx.out)? {
                return Ok((self.off == before).then_some(Want::Write));
            }
            self.phase = Phase::Awaiting;
            if !self.eager {
                return Ok(Some(Want::Read));
            }
            fresh = true;
        }
        match self.reader.read(&self.core.conn.sock, cx.scratch)? {
            Got::Msg(n) => {
                self.answered(n, cx);
                self.phase = match self.think.until(Instant::now(), cx.ctx.send_end()) {
                    Some(t) => Phase::Thinking(t),
                    None => Phase::Next,
                };
                Ok(None)
            }
            Got::More => Ok(None),
            Got::Blocked => {
                // A non-blocking socket: the response is never there at once, so the next
                // request waits for readiness instead of trying.
                self.eager &= !fresh;
                Ok(Some(Want::Read))
            }
            Got::Eof(0) => Err(EngineError::Protocol(
                "the peer closed before responding".into(),
            )),
            Got::Eof(got) => Err(self.reader.cut(got)),
        }
    }
}

impl CoreFlow for Requester {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for _ in 0..CALLS_PER_STEP * 2 {
            if let Some(c) = &mut self.closing {
                return c.step(&self.core.conn.sock, cx.scratch);
            }
            if let Some(want) = self.turn(cx)? {
                return Ok(want);
            }
        }
        // Out of turns: come back when the socket lets the next move happen.
        Ok(match self.phase {
            Phase::Next | Phase::Asking => Want::Write,
            Phase::Thinking(t) => Want::Until(t),
            Phase::Awaiting => Want::Read,
        })
    }

    fn progress(&self) -> u64 {
        let r = &self.core.rep;
        r.bytes_sent + r.bytes_received + (self.off + self.reader.partial()) as u64
    }

    fn doing(&self, want: Want) -> &'static str {
        match (self.closing, want) {
            (Some(_), _) => "waiting for the peer to finish",
            (None, Want::Write) => "write",
            (None, Want::Until(_)) => "waiting",
            _ => "read",
        }
    }

    fn histograms(&self) -> &'static [&'static str] {
        &[RTT]
    }
}

/// The answering end: reads a request, writes its response, and again.
pub struct Responder {
    core: FlowCore,
    reader: MsgReader,
    resp_sizes: Sizes,
    /// Pipelined: where the request's id is, and where the response echoes it.
    echo: Option<(usize, usize)>,
    /// The response being written: its size, the bytes gone, and the id it echoes.
    writing: bool,
    rs: usize,
    off: usize,
    id: [u8; 8],
    quickack: bool,
}

impl Responder {
    pub fn new(conn: DataConn, rep: RoleReport, ctx: &RoleCtx) -> Responder {
        let (req, resp_sizes) = rr_sizes(ctx, conn.plan.id);
        let at = |framed: bool| if framed { HDR } else { 0 };
        let echo = (ctx.spec.pipeline > 1).then(|| (at(req.framed()), at(resp_sizes.framed())));
        let quickack = conn.knobs.requested.quickack;
        Responder {
            core: FlowCore::new(conn, rep, ctx).with_sizes(rr_buckets(&req, &resp_sizes, false)),
            reader: MsgReader::new(req.framed(), req.fixed(), echo.map(|e| e.0)),
            resp_sizes,
            echo,
            writing: false,
            rs: 0,
            off: 0,
            id: [0; 8],
            quickack,
        }
    }

    /// A request of `n` bytes is in: count it and start its response.
    #[inline]
    fn asked(&mut self, n: usize) {
        let now = Instant::now();
        if self.quickack {
            sockopt::rearm_quickack(&self.core.conn.sock);
        }
        self.core.request_in(n as u64, now);
        (self.rs, self.off, self.id) = (self.resp_sizes.next(), 0, self.reader.id());
        self.writing = true;
    }

    /// Writes (the rest of) the response: `Some(want)` when the socket is full.
    fn answer(&mut self, out: &mut [u8]) -> Result<Option<Want>, EngineError> {
        if self.resp_sizes.framed() && self.off < HDR {
            put_frame(out, self.rs as u32);
        }
        if let Some((_, to)) = self.echo.filter(|&(_, to)| self.off < to + 8) {
            out[to..to + 8].copy_from_slice(&self.id);
        }
        match (&self.core.conn.sock).write(&out[self.off..self.rs]) {
            Ok(n) => self.off += n,
            Err(e) if is_timeout(&e) => return Ok(Some(Want::Write)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(EngineError::io("write")(e)),
        }
        if self.off == self.rs {
            self.core.rep.bytes_sent += self.rs as u64;
            self.core.rep.messages_sent += 1;
            self.writing = false;
        }
        Ok(None)
    }
}

impl CoreFlow for Responder {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for _ in 0..CALLS_PER_STEP * 2 {
            if !self.writing {
                match self.reader.read(&self.core.conn.sock, cx.scratch)? {
                    Got::Msg(n) => self.asked(n),
                    Got::More => continue,
                    Got::Blocked => return Ok(Want::Read),
                    Got::Eof(0) => return Ok(Want::Done),
                    Got::Eof(got) => return Err(self.reader.cut(got)),
                }
            }
            if let Some(w) = self.answer(cx.out)? {
                return Ok(w);
            }
        }
        Ok(if self.writing {
            Want::Write
        } else {
            Want::Read
        })
    }

    fn progress(&self) -> u64 {
        let r = &self.core.rep;
        r.bytes_sent + r.bytes_received + (self.off + self.reader.partial()) as u64
    }
}
