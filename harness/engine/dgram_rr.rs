//! Request/response over datagrams (udp, unix-dgram) as [`Flow`]s. Every request carries
//! a sequence number and its response echoes it, so a response is matched to its request
//! whatever arrives in between; a request whose response is not back within
//! `rr_timeout` counts as a timeout (a response that turns up later counts as late), so
//! a lost datagram never stalls the run.
//!
//! The closed-loop requester sends one request, waits for its response (or its
//! timeout), may think, and sends the next; the open-loop requester (`--rate` on an rr
//! test) sends on a schedule whatever the responses do, keeps each request's send times
//! in a ring indexed by its sequence number, and measures each round trip from the
//! request's intended send time. Both end with END markers, which end the answering
//! side; it also ends after [`super::DGRAM_IDLE`] of silence past the nominal end.
//! Round trips go to the driver's histograms ([`Cx::rtt`], [`Cx::rtt_uncorrected`]).

use std::io;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::dgram::{
    send_failed, seq_room, EndMarkers, SendFail, Silence, CALLS_PER_STEP, ENOBUFS_BACKOFF,
};
use super::flow::{core_field, CoreFlow, Cx, Flow, FlowCore, Want};
use super::rr::{RTT, RTT_UNCORRECTED};
use super::{answer_hello, rr_buckets, rr_sizes, EngineError, RoleCtx, Schedule, Sizes, Think};
use crate::measure::{RoleReport, SeqTracker};
use crate::net::transport::{as_uninit, dgram, is_timeout, DataConn};
use crate::spec::config::{RrLoad, RrSpec, Traffic};
use crate::sys::errno;
use crate::sys::socket::{recv_nowait, send_nowait};

mod open;
use open::*;

/// Slots an open-loop requester's ring has beyond twice the requests a timeout holds.
pub const RING_MARGIN: usize = 64;
/// A blocking requester narrows its receive timeout to what is left of a request's
/// timeout only when they differ by more than this (the send before the first receive
/// takes a few microseconds).
const NARROW_SLACK: Duration = Duration::from_micros(50);

/// Where a closed-loop requester is.
enum Closed {
    /// About to send the next request.
    Ready,
    /// Waiting for request `seq`'s response (sent at `start`, `rs` bytes).
    Awaiting { start: Instant, rs: usize },
    /// Thinking until then.
    Thinking(Instant),
    /// Sending done; the END markers.
    Ending(EndMarkers),
}

/// The closed-loop requester over datagrams.
pub struct DgramRrActive {
    core: FlowCore,
    ctx: RoleCtx,
    state: Closed,
    seqs: SeqTracker,
    /// The sequence number of the request in flight (or about to go).
    seq: u64,
    req_sizes: Sizes,
    think: Think,
    timeout: Duration,
    /// On a blocking socket (the blocking driver): the receive timeout set now, which a
    /// receive waits at most. `None` on a non-blocking socket, or before the first step.
    rcvtimeo: Option<Duration>,
    started: bool,
}

impl DgramRrActive {
    pub fn new(conn: DataConn, ctx: &RoleCtx, rep: RoleReport) -> DgramRrActive {
        let id = conn.plan.id;
        let (req_sizes, resp_sizes) = rr_sizes(ctx, id);
        let sizes = rr_buckets(&req_sizes, &resp_sizes, true);
        DgramRrActive {
            core: FlowCore::new(conn, rep, ctx)
                .with_sizes(sizes)
                .with_intervals(ctx),
            state: Closed::Ready,
            seqs: SeqTracker::with_capacity(seq_room(&ctx.spec)),
            seq: 0,
            req_sizes,
            think: Think::new(ctx, id),
            timeout: ctx.spec.rr_timeout,
            rcvtimeo: None,
            started: false,
            ctx: ctx.clone(),
        }
    }

    /// On a blocking socket, a receive waits for the request's whole timeout (today's
    /// system calls: one send, one receive per transaction).
    fn start(&mut self) -> Result<(), EngineError> {
        self.started = true;
        let sock = &self.core.conn.sock;
        if !crate::sys::socket::is_nonblocking(sock).map_err(EngineError::io("fcntl"))? {
            sock.set_read_timeout(Some(self.timeout))
                .map_err(EngineError::io("SO_RCVTIMEO"))?;
            self.rcvtimeo = Some(self.timeout);
        }
        Ok(())
    }

    /// On a blocking socket, bounds the next receive by what is left of the timeout.
    fn narrow(&mut self, left: Duration) {
        if let Some(cur) = self.rcvtimeo {
            if cur > left + NARROW_SLACK || cur < left {
                let t = left.clamp(Duration::from_micros(10), self.timeout);
                let _ = self.core.conn.sock.set_read_timeout(Some(t));
                self.rcvtimeo = Some(t);
            }
        }
    }

    /// Sends request `seq` (a size drawn anew at every try, as ever).
    fn send(&mut self, scratch: &mut [u8]) -> Result<Option<Want>, EngineError> {
        let start = Instant::now();
        if start >= self.ctx.send_end() || self.ctx.aborted() {
            self.state = Closed::Ending(EndMarkers::new(self.core.conn.plan.id, self.seq, start));
            return Ok(None);
        }
        let rs = self.req_sizes.next();
        dgram::put_header(
            &mut scratch[..rs],
            self.seq,
            dgram::REQUEST,
            self.core.conn.plan.id,
        );
        match self.core.conn.sock.send(&scratch[..rs]) {
            Ok(_) => {
                self.core.rep.messages_sent += 1;
                self.core.rep.bytes_sent += rs as u64;
                self.state = Closed::Awaiting { start, rs };
                Ok(None)
            }
            Err(e) => Ok(
                match send_failed(&self.ctx, e, Some(&mut self.core.rep.refused), "send")? {
                    SendFail::Full => Some(Want::Write),
                    SendFail::NoBufs => Some(Want::Until(start + ENOBUFS_BACKOFF)),
                    // The request goes again.
                    SendFail::Again => None,
                    // Nothing can be answered now.
                    SendFail::PeerGone => Some(Want::Done),
                },
            ),
        }
    }

    /// The transaction is over (answered or timed out): the next one, after thinking.
    fn next(&mut self) {
        self.seq += 1;
        if self.rcvtimeo.is_some_and(|t| t != self.timeout) {
            let _ = self.core.conn.sock.set_read_timeout(Some(self.timeout));
            self.rcvtimeo = Some(self.timeout);
        }
        let now = Instant::now();
        self.state = match self.think.until(now, self.ctx.send_end()) {
            Some(t) => Closed::Thinking(t),
            None => Closed::Ready,
        };
    }

    /// Accounts a response that arrived at `done`: true if it is the one awaited.
    fn response(
        &mut self,
        rtt: &mut Histogram<u64>,
        data: &[u8],
        start: Instant,
        rs: usize,
    ) -> bool {
        let (id, n, done) = (self.core.conn.plan.id, data.len(), Instant::now());
        match dgram::header(data) {
            Some((s, dgram::RESPONSE, c)) if c == id && self.seqs.record(s) => {
                self.core.received(n as u64);
                if s != self.seq {
                    self.core.rep.late += 1;
                    return false;
                }
                (self.core).transaction(rtt, start, done, n as u64, rs as u64);
                true
            }
            Some((s, dgram::HELLO, c)) if c == id => {
                answer_hello(&self.core.conn.sock, s, c);
                false
            }
            _ => false,
        }
    }

    /// Waits for request `seq`'s response: `None` once the transaction is over.
    fn await_response(
        &mut self,
        cx: &mut Cx,
        start: Instant,
        rs: usize,
    ) -> Result<Option<Want>, EngineError> {
        let deadline = start + self.timeout;
        let now = Instant::now();
        // Past the deadline, one last look without waiting.
        let got = if now >= deadline {
            recv_nowait(&self.core.conn.sock, cx.scratch)
        } else {
            self.narrow(deadline - now);
            self.core.conn.sock.recv(as_uninit(cx.scratch))
        };
        match got {
            Ok(n) => {
                if self.response(cx.rtt, &cx.scratch[..n], start, rs) {
                    self.next();
                } else if Instant::now() >= deadline {
                    // Something other than our response, and no time left.
                    self.core.rep.timeouts += 1;
                    self.next();
                }
                Ok(None)
            }
            Err(e) if is_timeout(&e) => {
                if Instant::now() >= deadline {
                    self.core.rep.timeouts += 1;
                    self.next();
                    return Ok(None);
                }
                Ok(Some(Want::ReadUntil(deadline)))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            // A refusal of an earlier datagram ([`SendFail::Again`]): counted; the request
            // may still be answered: wait on, up to its timeout.
            Err(e) if e.raw_os_error() == Some(errno::ECONNREFUSED) => {
                self.core.rep.refused += 1;
                Ok(None)
            }
            Err(e) => Err(EngineError::io("receive")(e)),
        }
    }
}

impl CoreFlow for DgramRrActive {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        if !self.started {
            self.start()?;
        }
        for _ in 0..CALLS_PER_STEP {
            let wait = match self.state {
                Closed::Ready => self.send(cx.scratch)?,
                Closed::Awaiting { start, rs } => self.await_response(cx, start, rs)?,
                Closed::Thinking(t) if Instant::now() < t => Some(Want::Until(t)),
                Closed::Thinking(_) => {
                    self.state = Closed::Ready;
                    None
                }
                Closed::Ending(ref mut m) => Some(m.step(&self.core.conn.sock, Instant::now())),
            };
            if let Some(w) = wait {
                return Ok(w);
            }
        }
        Ok(match self.state {
            Closed::Awaiting { start, .. } => Want::ReadUntil(start + self.timeout),
            _ => Want::Until(Instant::now()),
        })
    }

    fn finish(&mut self, cx: &mut Cx) {
        if self.rcvtimeo.is_some() {
            let _ = self.core.conn.sock.set_read_timeout(Some(super::POLL));
        }
        self.core.count_seqs(&self.seqs);
        self.core.finish(cx.ctx);
    }

    fn doing(&self, _want: Want) -> &'static str {
        match self.state {
            Closed::Ready => "send",
            Closed::Awaiting { .. } => "receive",
            Closed::Thinking(_) => "thinking",
            Closed::Ending(_) => "sending the END markers",
        }
    }

    fn histograms(&self) -> &'static [&'static str] {
        &[RTT]
    }
}

/// The answering end over datagrams: a response for every new request, echoing its
/// sequence number, until the END marker or silence.
pub struct DgramRrPassive {
    core: FlowCore,
    ctx: RoleCtx,
    seqs: SeqTracker,
    resp_sizes: Sizes,
    /// An open-loop requester is paced.
    silence: Silence,
}

impl DgramRrPassive {
    pub fn new(conn: DataConn, ctx: &RoleCtx, rep: RoleReport) -> DgramRrPassive {
        let (req, resp_sizes) = rr_sizes(ctx, conn.plan.id);
        DgramRrPassive {
            core: FlowCore::new(conn, rep, ctx).with_sizes(rr_buckets(&req, &resp_sizes, false)),
            seqs: SeqTracker::with_capacity(seq_room(&ctx.spec)),
            resp_sizes,
            silence: Silence::new(ctx, open_loop(ctx).is_some()),
            ctx: ctx.clone(),
        }
    }

    /// Answers request `s` of `n` bytes that arrived at `now` (the response is built in
    /// the scratch space, over the request).
    fn answer(
        &mut self,
        scratch: &mut [u8],
        s: u64,
        n: usize,
        now: Instant,
    ) -> Result<(), EngineError> {
        if !self.seqs.record(s) {
            return Ok(());
        }
        self.core.request_in(n as u64, now);
        let rep = &mut self.core.rep;
        let rs = self.resp_sizes.next();
        dgram::put_header(
            &mut scratch[..rs],
            s,
            dgram::RESPONSE,
            self.core.conn.plan.id,
        );
        match self.core.conn.sock.send(&scratch[..rs]) {
            Ok(_) => {
                rep.messages_sent += 1;
                rep.bytes_sent += rs as u64;
                Ok(())
            }
            // Not sent: the requester will time out and count it lost.
            Err(e) => send_failed(&self.ctx, e, None, "send").map(|_| ()),
        }
    }

    /// Takes one datagram of `n` bytes: true at the END marker.
    fn take(&mut self, scratch: &mut [u8], n: usize, now: Instant) -> Result<bool, EngineError> {
        let id = self.core.conn.plan.id;
        match dgram::header(&scratch[..n]) {
            Some((s, dgram::REQUEST, c)) if c == id => self.answer(scratch, s, n, now)?,
            Some((_, dgram::END, c)) if c == id => return Ok(true),
            Some((s, dgram::HELLO, c)) if c == id => answer_hello(&self.core.conn.sock, s, c),
            _ => {}
        }
        Ok(false)
    }
}

impl CoreFlow for DgramRrPassive {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for _ in 0..CALLS_PER_STEP {
            match self.core.conn.sock.recv(as_uninit(cx.scratch)) {
                Ok(n) => {
                    let now = Instant::now();
                    self.silence.last_heard = now;
                    if self.take(cx.scratch, n, now)? {
                        return Ok(Want::Done);
                    }
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    return Ok(self.silence.idle(Instant::now()));
                }
                Err(e) if e.raw_os_error() == Some(errno::ECONNREFUSED) => {}
                Err(e) => return Err(EngineError::io("receive")(e)),
            }
        }
        Ok(Want::ReadUntil(self.silence.until()))
    }

    fn finish(&mut self, cx: &mut Cx) {
        self.core.count_seqs(&self.seqs);
        self.core.finish(cx.ctx);
    }

    /// Requests and responses, and waits before the requester's nominal end
    /// ([`Silence::waits`]).
    fn progress(&self) -> u64 {
        self.core.rep.messages_sent + self.core.rep.messages_received + self.silence.waits
    }

    fn doing(&self, _want: Want) -> &'static str {
        "receive"
    }
}

/// An open-loop rr test's rate in transactions per second; `None` for a closed loop.
fn open_loop(ctx: &RoleCtx) -> Option<u64> {
    match ctx.spec.traffic() {
        Traffic::Rr(RrSpec {
            load: RrLoad::Open { rate_tps, .. },
            ..
        }) => Some(rate_tps),
        Traffic::Rr(_) | Traffic::Stream(_) | Traffic::Crr(_) => None,
    }
}

/// The flow for one end of a datagram request/response connection: the open-loop
/// requester on an rr test with `--rate`, else the closed-loop one; the answering end.
pub fn flow(conn: DataConn, ctx: &RoleCtx, rep: RoleReport) -> Box<dyn Flow> {
    match (rep.active, open_loop(ctx)) {
        (true, Some(rate)) => Box::new(DgramRrOpen::new(conn, ctx, rep, rate)),
        (true, None) => Box::new(DgramRrActive::new(conn, ctx, rep)),
        (false, _) => Box::new(DgramRrPassive::new(conn, ctx, rep)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdrive::{ctx, report, run_pair, udp_pair, Ran};
    use crate::engine::LATE_GRACE;
    use crate::spec::config::Pattern;

    fn run(keys: &[(&str, &str)], threads: bool) -> (Ran, Ran) {
        let mut all = vec![
            ("proto", "udp"),
            ("pattern", "rr"),
            ("duration", "300ms"),
            ("warmup", "0s"),
            ("rr_timeout", "50ms"),
        ];
        all.extend_from_slice(keys);
        let ctx = ctx(&all);
        let [a, p] = udp_pair(&ctx, Pattern::Rr, threads);
        let (ra, rp) = (report(&a, true), report(&p, false));
        run_pair(vec![flow(a, &ctx, ra), flow(p, &ctx, rp)], &ctx, threads)
    }

    #[test]
    fn closed_loop_transactions_and_timeouts_add_up_to_the_requests() {
        for threads in [false, true] {
            for extra in [&[][..], &[("msg_size", "uniform:min=16,max=900")][..]] {
                let (a, p) = run(extra, threads);
                let what = format!("{extra:?}, threads {threads}");
                assert_eq!((&a.rep.error, &p.rep.error), (&None, &None), "{what}");
                let r = &a.rep;
                // Some work, however little a loaded machine allows (7 was seen at a load
                // average of 40); what is asserted is that it all adds up.
                assert!(r.transactions > 0, "{what}: {}", r.transactions);
                assert_eq!(r.transactions + r.timeouts, r.messages_sent, "{what}");
                assert_eq!(a.rtt.len(), r.transactions, "{what}");
                assert_eq!(p.rep.messages_received, r.messages_sent, "{what}");
                // Every response received was sent (late ones included); one to a request
                // that timed out at the very end may not have arrived.
                assert!(p.rep.messages_sent >= r.messages_received, "{what}");
                assert!(r.late <= r.timeouts, "{what}");
                assert_eq!(p.rep.bytes_received, r.bytes_sent, "{what}");
            }
        }
    }

    #[test]
    fn open_loop_requests_go_on_schedule_and_are_all_accounted() {
        for threads in [false, true] {
            let (a, p) = run(&[("rate", "400")], threads);
            let r = &a.rep;
            assert_eq!(
                (&r.error, &p.rep.error),
                (&None, &None),
                "threads {threads}"
            );
            // 400/s for 300 ms: the schedule, whatever the load.
            assert_eq!(r.messages_sent, 120);
            // A response that comes after its request's timeout (a loaded machine) is late:
            // received, not a transaction.
            assert_eq!(r.transactions + r.late + r.timeouts, r.messages_sent);
            assert_eq!(a.rtt.len(), r.transactions);
            assert_eq!(a.rtt_uncorrected.len(), r.transactions);
            assert_eq!(p.rep.messages_received, r.messages_sent);
        }
    }

    /// A Unix datagram responder that has closed: the requester's first send is refused,
    /// the next finds no peer; both counted, and the requester ends, not in an error.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_unix_datagram_requester_whose_peer_closed_counts_it_and_ends() {
        for rate in [None, Some("100")] {
            let mut keys = vec![
                ("proto", "unix-dgram"),
                ("pattern", "rr"),
                ("duration", "10s"),
                ("warmup", "0s"),
                ("rr_timeout", "20ms"),
            ];
            keys.extend(rate.map(|r| ("rate", r)));
            let ctx = ctx(&keys);
            let pair = crate::engine::testdrive::unix_dgram_pair(Pattern::Rr, false);
            let r = &crate::engine::testdrive::run_with_peer_closed(&ctx, pair, flow, false);
            assert_eq!(r.error, None, "rate {rate:?}");
            assert_eq!((r.refused, r.messages_sent), (2, 0), "rate {rate:?}");
        }
    }

    #[test]
    fn a_closed_port_is_counted_and_every_request_times_out_without_aborting() {
        for threads in [false, true] {
            for rate in [None, Some("100")] {
                let mut keys = vec![
                    ("proto", "udp"),
                    ("pattern", "rr"),
                    ("duration", "300ms"),
                    ("warmup", "0s"),
                    ("rr_timeout", "20ms"),
                ];
                keys.extend(rate.map(|r| ("rate", r)));
                let ctx = ctx(&keys);
                let pair = udp_pair(&ctx, Pattern::Rr, threads);
                let r = &crate::engine::testdrive::run_with_peer_closed(&ctx, pair, flow, threads);
                let what = format!("threads {threads}, rate {rate:?}");
                // Not an abort: the requester ran to its end.
                assert_eq!(r.error, None, "{what}");
                assert!(r.messages_sent > 0, "{what}");
                // The ICMP reports were counted, and nothing was answered: every request
                // is a timeout, as a lost one would be.
                assert!(r.refused > 0, "{what}");
                assert_eq!(r.messages_received, 0, "{what}");
                assert_eq!(r.transactions, 0, "{what}");
                assert_eq!(r.timeouts, r.messages_sent, "{what}");
            }
        }
    }

    #[test]
    fn an_open_loop_responder_outwaits_a_late_requester() {
        for (rate, grace) in [(None, Duration::ZERO), (Some("100"), LATE_GRACE)] {
            let mut keys = vec![("proto", "udp"), ("pattern", "rr")];
            keys.extend(rate.map(|r| ("rate", r)));
            let ctx = ctx(&keys);
            let [_a, p] = udp_pair(&ctx, Pattern::Rr, false);
            let rep = report(&p, false);
            let mut passive = DgramRrPassive::new(p, &ctx, rep);
            // Silence, however long, does not end it before the last instant an open-loop
            // requester may still send (a paced sender late by a loaded machine).
            passive.silence.last_heard = ctx.t0;
            let until = passive.silence.until();
            assert_eq!(until, ctx.send_end() + grace, "rate {rate:?}");
        }
    }

    #[test]
    fn think_time_is_drawn_per_connection_and_ends_with_sending() {
        let c = ctx(&[("pattern", "rr"), ("think_time", "5ms")]);
        let mut t = Think::new(&c, 3);
        let now = Instant::now();
        assert_eq!(
            t.until(now, now + Duration::from_secs(1)),
            Some(now + Duration::from_millis(5))
        );
        assert_eq!(
            t.until(now, now + Duration::from_millis(1)),
            Some(now + Duration::from_millis(1))
        );
        let c = ctx(&[("pattern", "rr")]);
        assert_eq!(Think::new(&c, 3).until(now, now), None);
    }
}
