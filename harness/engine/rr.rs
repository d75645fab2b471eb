//! Request/response. The active role sends a `msg_size` request, waits for the
//! `response_size` response, and records the round trip in an HdrHistogram (after the
//! warm-up); then the next. Over datagrams each request carries a sequence number and the
//! response echoes it; a response not back within `rr_timeout` counts the request as lost,
//! so a lost datagram never stalls the run.
//!
//! Sizes may vary (a distribution per direction: a length header frames each message on a
//! byte stream), a closed-loop requester may think between transactions, and a
//! pipelined one keeps several requests outstanding, each response matched to its
//! request by an echoed id.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::wait_fd;
use super::{
    answer_hello, finish_report, finish_stream, read_msg, rr_buckets, send_end_markers, write_full,
    Pattern, RoleCtx, Sizes, Think, DGRAM_IDLE, POLL, SEQ_ROOM,
};
use crate::measure::sizes::SizeBuckets;
use crate::measure::{
    latency_histogram, EncodedHistogram, IntervalCounter, RoleReport, SeqTracker,
};
use crate::net::sockopt;
use crate::net::transport::{as_uninit, dgram, is_timeout, DataConn};
use crate::spec::config::Pattern as TestPattern;
use crate::spec::dist::{Arrivals, FRAME_HEADER};
use crate::sys::buffer::MsgBuf;

pub struct Rr;

/// The metric name of request/response round trips in histograms and logs. In open-loop
/// runs it is measured from each request's intended send time.
pub const RTT: &str = "rtt";
/// Open-loop runs only: the same round trips measured from the actual send time, which
/// hides the waiting a slow response imposed on the requests behind it (coordinated
/// omission). Kept for comparison.
pub const RTT_UNCORRECTED: &str = "rtt_uncorrected";

impl Pattern for Rr {
    fn active(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let spec = &ctx.spec;
        let sock = &conn.sock;
        let mut hist = latency_histogram();
        let mut intervals = IntervalCounter::new(ctx.t0, spec.interval, spec.warmup, spec.duration);
        let (req_size, resp_size) = spec.rr_sizes();
        let mut req = MsgBuf::new(req_size as usize, 0x51);
        let mut resp = MsgBuf::new(resp_size as usize, 0);
        let warm = ctx.warmup_mark();
        let end = ctx.send_end();
        let mut last = None;
        let (req_dist, resp_dist) = spec.rr_dists();
        let mut req_sizes = Sizes::new(req_size, req_dist, ctx, conn.plan.id, 0);
        let resp_sizes = Sizes::new(resp_size, resp_dist, ctx, conn.plan.id, 1);
        let mut sizes = rr_buckets(&req_sizes, &resp_sizes);
        let resp_framed = resp_sizes.framed();
        let open_loop = if spec.pattern == TestPattern::Rr {
            spec.rate
        } else {
            None
        };
        // Pipelined: the open-loop machinery with a window instead of a schedule.
        let window =
            (spec.pattern == TestPattern::Rr && spec.pipeline > 1 && !spec.protocol.is_datagram())
                .then_some(spec.pipeline as usize);
        if open_loop.is_some() || window.is_some() {
            let rate = open_loop.unwrap_or(1);
            let mut uncorrected = latency_histogram();
            let mut ol = OpenLoop {
                conn,
                ctx,
                period: Duration::from_secs_f64(1.0 / rate as f64),
                arrivals: Arrivals::new(
                    spec.arrival,
                    rate,
                    crate::spec::dist::rng_for(spec.dist_seed, conn.plan.id, 2),
                ),
                window,
                req_sizes: &mut req_sizes,
                resp_framed,
                sizes: &mut sizes,
                hist: &mut hist,
                uncorrected: &mut uncorrected,
                intervals: &mut intervals,
                last: &mut last,
            };
            let result = if spec.protocol.is_datagram() {
                ol.datagrams(rep, &mut req, &mut resp)
            } else {
                let r = ol.stream(rep, &mut req, resp_size as usize);
                // Back to blocking reads with timeouts for the closing handshake.
                let _ = sock.set_nonblocking(false);
                r.and_then(|_| finish_stream(sock, ctx))
            };
            finish_report(rep, ctx, last, Some(intervals));
            rep.histograms = vec![EncodedHistogram::encode(RTT, &hist)];
            if window.is_none() {
                rep.histograms
                    .push(EncodedHistogram::encode(RTT_UNCORRECTED, &uncorrected));
            }
            rep.sizes = sizes.map(|b| b.report());
            return result;
        }
        let result = if spec.protocol.is_datagram() {
            rr_datagram_active(
                conn,
                ctx,
                rep,
                &mut req,
                &mut resp,
                &mut hist,
                &mut intervals,
                &mut last,
                (&mut req_sizes, &mut sizes),
            )
        } else {
            sock.set_read_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            sock.set_write_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            let quickack = conn.knobs.requested.quickack;
            let mut think = Think::new(ctx, conn.plan.id);
            let mut r = Ok(());
            loop {
                let start = Instant::now();
                if start >= end || ctx.aborted() {
                    break;
                }
                let rs = req_sizes.prepare(&mut req, true);
                if let Err(e) = write_full(sock, &req[..rs], ctx) {
                    r = Err(e);
                    break;
                }
                rep.bytes_sent += rs as u64;
                rep.messages_sent += 1;
                let n = match read_msg(sock, &mut resp, resp_framed, ctx) {
                    Ok(Some(n)) => n as u64,
                    Ok(None) => {
                        r = Err("the peer closed before responding".to_string());
                        break;
                    }
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                };
                let done = Instant::now();
                if quickack {
                    sockopt::rearm_quickack(sock);
                }
                rep.bytes_received += n;
                rep.messages_received += 1;
                intervals.record(done, n, 1);
                let ns = done.duration_since(start).as_nanos() as u64;
                if let Some(b) = &mut sizes {
                    b.record(n);
                    if start >= warm {
                        b.record_rtt(n.max(rs as u64), ns);
                    }
                }
                if start >= warm {
                    hist.saturating_record(ns);
                    rep.transactions += 1;
                    rep.measured_bytes += n;
                    last = Some(done);
                }
                think.wait(ctx);
            }
            r.and_then(|_| finish_stream(sock, ctx))
        };
        finish_report(rep, ctx, last, Some(intervals));
        rep.histograms = vec![EncodedHistogram::encode(RTT, &hist)];
        rep.sizes = sizes.map(|b| b.report());
        result
    }

    fn passive(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let spec = &ctx.spec;
        let sock = &conn.sock;
        let (req_size, resp_size) = spec.rr_sizes();
        let mut req = MsgBuf::new(req_size as usize, 0);
        let mut resp = MsgBuf::new(resp_size as usize, 0x52);
        let warm = ctx.warmup_mark();
        let mut last = None;
        let (req_dist, resp_dist) = spec.rr_dists();
        let req_framed = req_dist.is_some();
        let mut resp_sizes = Sizes::new(resp_size, resp_dist, ctx, conn.plan.id, 1);
        let mut sizes = (req_dist.is_some() || resp_dist.is_some()).then(SizeBuckets::new);
        // Pipelined: each response echoes its request's id, at these offsets.
        let echo = (spec.pipeline > 1).then(|| {
            let at = |framed: bool| if framed { FRAME_HEADER as usize } else { 0 };
            (at(req_framed), at(resp_sizes.framed()))
        });
        let result = if spec.protocol.is_datagram() {
            rr_datagram_passive(
                conn,
                ctx,
                rep,
                &mut req,
                &mut resp,
                &mut last,
                (&mut resp_sizes, &mut sizes),
            )
        } else {
            sock.set_read_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            sock.set_write_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            let quickack = conn.knobs.requested.quickack;
            loop {
                let n = match read_msg(sock, &mut req, req_framed, ctx) {
                    Ok(Some(n)) => n as u64,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                };
                let now = Instant::now();
                if quickack {
                    sockopt::rearm_quickack(sock);
                }
                rep.bytes_received += n;
                rep.messages_received += 1;
                if let Some(b) = &mut sizes {
                    b.record(n);
                }
                if now >= warm {
                    rep.measured_bytes += n;
                    last = Some(now);
                }
                let rs = resp_sizes.prepare(&mut resp, true);
                if let Some((from, to)) = echo {
                    resp[to..to + 8].copy_from_slice(&req[from..from + 8]);
                }
                if let Err(e) = write_full(sock, &resp[..rs], ctx) {
                    break Err(e);
                }
                rep.bytes_sent += rs as u64;
                rep.messages_sent += 1;
            }
        };
        rep.sizes = sizes.map(|b| b.report());
        finish_report(rep, ctx, last, None);
        result
    }
}

#[allow(clippy::too_many_arguments)]
fn rr_datagram_active(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    req: &mut [u8],
    resp: &mut [u8],
    hist: &mut hdrhistogram::Histogram<u64>,
    intervals: &mut IntervalCounter,
    last: &mut Option<Instant>,
    (req_sizes, sizes): (&mut Sizes, &mut Option<SizeBuckets>),
) -> Result<(), String> {
    let spec = &ctx.spec;
    let sock = &conn.sock;
    let timeout = spec.rr_timeout;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(POLL))
        .map_err(|e| e.to_string())?;
    let warm = ctx.warmup_mark();
    let end = ctx.send_end();
    let mut seqs = SeqTracker::with_capacity(SEQ_ROOM);
    let mut seq = 0u64;
    let id = conn.plan.id;
    let mut think = Think::new(ctx, id);
    let result = 'outer: loop {
        let start = Instant::now();
        if start >= end || ctx.aborted() {
            break Ok(());
        }
        let rs = req_sizes.next();
        dgram::put_header(&mut req[..rs], seq, dgram::REQUEST, id);
        match sock.send(&req[..rs]) {
            Ok(_) => {
                rep.messages_sent += 1;
                rep.bytes_sent += rs as u64;
            }
            Err(e) if is_timeout(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(format!("send: {e}")),
        }
        // Wait for this request's response; earlier ones arriving now are late.
        let mut narrowed = false;
        loop {
            match sock.recv(as_uninit(resp)) {
                Ok(n) => {
                    let done = Instant::now();
                    match dgram::header(&resp[..n]) {
                        Some((s, dgram::RESPONSE, c)) if c == id && seqs.record(s) => {
                            rep.messages_received += 1;
                            rep.bytes_received += n as u64;
                            if let Some(b) = sizes {
                                b.record(n as u64);
                            }
                            if s == seq {
                                intervals.record(done, n as u64, 1);
                                if start >= warm {
                                    let ns = done.duration_since(start).as_nanos() as u64;
                                    hist.saturating_record(ns);
                                    if let Some(b) = sizes {
                                        b.record_rtt(n.max(rs) as u64, ns);
                                    }
                                    rep.transactions += 1;
                                    rep.measured_bytes += n as u64;
                                    *last = Some(done);
                                }
                                break;
                            }
                            rep.late += 1;
                        }
                        Some((s, dgram::HELLO, c)) if c == id => answer_hello(sock, s, c),
                        _ => {}
                    }
                    // Something other than our response: wait only for what is left.
                    let left = timeout.saturating_sub(done.duration_since(start));
                    if left.is_zero() {
                        rep.timeouts += 1;
                        break;
                    }
                    narrowed = true;
                    let _ = sock.set_read_timeout(Some(left.max(Duration::from_micros(10))));
                }
                Err(e) if is_timeout(&e) && ctx.spin && start.elapsed() < timeout => {
                    std::hint::spin_loop();
                }
                Err(e) if is_timeout(&e) => {
                    rep.timeouts += 1;
                    if let Err(e) = ctx.check("receive") {
                        break 'outer Err(e);
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    break 'outer Err(
                        "the receiver's port is closed (ICMP port unreachable)".to_string()
                    );
                }
                Err(e) => break 'outer Err(format!("receive: {e}")),
            }
        }
        if narrowed {
            let _ = sock.set_read_timeout(Some(timeout));
        }
        seq += 1;
        think.wait(ctx);
    };
    send_end_markers(sock, id, seq);
    rep.duplicated = seqs.duplicated;
    rep.reordered = seqs.reordered;
    result
}

fn rr_datagram_passive(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    req: &mut [u8],
    resp: &mut [u8],
    last: &mut Option<Instant>,
    (resp_sizes, sizes): (&mut Sizes, &mut Option<SizeBuckets>),
) -> Result<(), String> {
    let sock = &conn.sock;
    sock.set_read_timeout(Some(POLL))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(POLL))
        .map_err(|e| e.to_string())?;
    let warm = ctx.warmup_mark();
    let nominal_end = ctx.send_end();
    let id = conn.plan.id;
    let mut seqs = SeqTracker::with_capacity(SEQ_ROOM);
    let mut last_heard = Instant::now();
    let result = loop {
        match sock.recv(as_uninit(req)) {
            Ok(n) => {
                let now = Instant::now();
                last_heard = now;
                match dgram::header(&req[..n]) {
                    Some((s, dgram::REQUEST, c)) if c == id => {
                        if !seqs.record(s) {
                            continue;
                        }
                        rep.messages_received += 1;
                        rep.bytes_received += n as u64;
                        if let Some(b) = sizes {
                            b.record(n as u64);
                        }
                        if now >= warm {
                            rep.measured_bytes += n as u64;
                            *last = Some(now);
                        }
                        let rs = resp_sizes.next();
                        dgram::put_header(&mut resp[..rs], s, dgram::RESPONSE, id);
                        match sock.send(&resp[..rs]) {
                            Ok(_) => {
                                rep.messages_sent += 1;
                                rep.bytes_sent += rs as u64;
                            }
                            // Not sent: the requester will time out and count it lost.
                            Err(e) if is_timeout(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => {
                            }
                            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
                            Err(e) => break Err(format!("send: {e}")),
                        }
                    }
                    Some((_, dgram::END, c)) if c == id => break Ok(()),
                    Some((s, dgram::HELLO, c)) if c == id => answer_hello(sock, s, c),
                    _ => {}
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                let now = Instant::now();
                if now >= nominal_end && now.duration_since(last_heard) >= DGRAM_IDLE {
                    break Ok(());
                }
                if let Err(e) = ctx.check("receive") {
                    break Err(e);
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                if let Err(e) = ctx.check("receive") {
                    break Err(e);
                }
            }
            Err(e) => break Err(format!("receive: {e}")),
        }
    };
    rep.duplicated = seqs.duplicated;
    rep.reordered = seqs.reordered;
    result
}

/// The open-loop requester: requests leave on a fixed schedule (`period` apart from the
/// role's start) whatever the responses do, several may be outstanding, and each round trip
/// is measured from the request's intended send time, so a stall shows in the tail instead
/// of silently delaying the requests behind it.
struct OpenLoop<'a> {
    conn: &'a DataConn,
    ctx: &'a RoleCtx,
    /// The mean gap between requests (1 / rate).
    period: Duration,
    /// The intended send times: evenly spaced or a Poisson process.
    arrivals: Arrivals,
    /// Pipelined closed loop instead of a schedule: at most this many requests
    /// outstanding, each response matched to its request by the id it echoes.
    window: Option<usize>,
    req_sizes: &'a mut Sizes,
    /// Responses carry a length header (their sizes vary).
    resp_framed: bool,
    sizes: &'a mut Option<SizeBuckets>,
    hist: &'a mut hdrhistogram::Histogram<u64>,
    uncorrected: &'a mut hdrhistogram::Histogram<u64>,
    intervals: &'a mut IntervalCounter,
    last: &'a mut Option<Instant>,
}

impl OpenLoop<'_> {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        rep: &mut RoleReport,
        intended: Instant,
        actual: Instant,
        done: Instant,
        bytes: u64,
        req_bytes: u64,
    ) {
        self.intervals.record(done, bytes, 1);
        if intended >= self.ctx.warmup_mark() {
            let ns = done.duration_since(intended).as_nanos() as u64;
            self.hist.saturating_record(ns);
            if let Some(b) = self.sizes {
                b.record_rtt(bytes.max(req_bytes), ns);
            }
            self.uncorrected
                .saturating_record(done.duration_since(actual).as_nanos() as u64);
            rep.transactions += 1;
            rep.measured_bytes += bytes;
            *self.last = Some(done);
        }
    }

    /// Over a byte stream: responses come back in order, so a FIFO of send times pairs them.
    fn stream(
        &mut self,
        rep: &mut RoleReport,
        req: &mut [u8],
        resp_size: usize,
    ) -> Result<(), String> {
        let sock = &self.conn.sock;
        let ctx = self.ctx;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        set_fine_timer_slack();
        let end = ctx.send_end();
        let mut next_due = ctx.t0;
        // Per request: intended and actual send time, size, and (pipelined) its id.
        let mut inflight: VecDeque<(Instant, Instant, u64, u64)> = VecDeque::with_capacity(1024);
        let mut write_off: Option<usize> = None;
        let mut req_len = req.len();
        let mut rbuf = MsgBuf::new(resp_size.clamp(4096, 1 << 20), 0);
        let mut partial = 0usize;
        let pipelined = self.window.is_some();
        let req_id_off = if self.req_sizes.framed() {
            FRAME_HEADER as usize
        } else {
            0
        };
        let mut split = Splitter::new(
            self.resp_framed,
            resp_size as u64,
            pipelined.then_some(if self.resp_framed {
                FRAME_HEADER as usize
            } else {
                0
            }),
        );
        let split_all = self.resp_framed || pipelined;
        let mut split_done: Vec<(u64, u64)> = Vec::with_capacity(if split_all { 4096 } else { 0 });
        let mut next_id = 0u64;
        loop {
            let now = Instant::now();
            let sending = now < end && !ctx.aborted();
            if !sending && inflight.is_empty() && write_off.is_none() {
                return Ok(());
            }
            if !sending && write_off.is_none() {
                ctx.check("waiting for the last responses")?;
            }
            // Issue every request that is due, as far as the socket takes them.
            loop {
                let due = match self.window {
                    Some(w) => inflight.len() < w,
                    None => next_due <= now,
                };
                if write_off.is_none() && sending && due {
                    req_len = self.req_sizes.prepare(req, true);
                    if pipelined {
                        // Closed loop: a request is due when the window has room, and its
                        // time counts from when it goes.
                        let at = Instant::now();
                        req[req_id_off..req_id_off + 8].copy_from_slice(&next_id.to_le_bytes());
                        inflight.push_back((at, at, req_len as u64, next_id));
                        next_id += 1;
                        rep.max_in_flight = rep.max_in_flight.max(inflight.len() as u64);
                    } else {
                        inflight.push_back((next_due, now, req_len as u64, 0));
                        next_due += self.arrivals.next_gap();
                    }
                    write_off = Some(0);
                }
                let Some(off) = write_off else { break };
                match (&*sock).write(&req[off..req_len]) {
                    Ok(n) if off + n == req_len => {
                        write_off = None;
                        rep.bytes_sent += req_len as u64;
                        rep.messages_sent += 1;
                    }
                    Ok(n) => write_off = Some(off + n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            // Take whatever responses have arrived.
            match (&*sock).read(&mut rbuf) {
                Ok(0) => return Err("the peer closed with responses outstanding".to_string()),
                Ok(n) => {
                    let done = Instant::now();
                    rep.bytes_received += n as u64;
                    if split_all {
                        // The responses this read completed, in order: their sizes, and
                        // (pipelined) the ids of the requests they answer.
                        split_done.clear();
                        split.feed(&rbuf[..n], |size, id| split_done.push((size, id)))?;
                        for &(size, id) in &split_done {
                            let (intended, actual, req_bytes, want) =
                                inflight.pop_front().ok_or("a response to no request")?;
                            if pipelined && id != want {
                                return Err(format!(
                                    "a response carries request id {id}; the oldest outstanding request is {want}"
                                ));
                            }
                            rep.messages_received += 1;
                            if let Some(b) = self.sizes {
                                b.record(size);
                            }
                            self.record(rep, intended, actual, done, size, req_bytes);
                        }
                        continue;
                    }
                    partial += n;
                    while partial >= resp_size {
                        partial -= resp_size;
                        let (intended, actual, req_bytes, _) =
                            inflight.pop_front().ok_or("a response to no request")?;
                        rep.messages_received += 1;
                        if let Some(b) = self.sizes {
                            b.record(resp_size as u64);
                        }
                        self.record(rep, intended, actual, done, resp_size as u64, req_bytes);
                    }
                    continue;
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
            let wait = if sending && !pipelined {
                next_due.saturating_duration_since(Instant::now())
            } else {
                POLL
            };
            wait_fd(sock, write_off.is_some(), wait.min(POLL));
        }
    }

    /// Over datagrams: each request's send times sit in a ring indexed by its sequence
    /// number; a response finds its request there, or counts as late.
    fn datagrams(
        &mut self,
        rep: &mut RoleReport,
        req: &mut [u8],
        resp: &mut [u8],
    ) -> Result<(), String> {
        let sock = &self.conn.sock;
        let ctx = self.ctx;
        let id = self.conn.plan.id;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        set_fine_timer_slack();
        let timeout = ctx.spec.rr_timeout;
        // Room for every request that can be outstanding within the timeout, twice over.
        let outstanding = (timeout.as_secs_f64() / self.period.as_secs_f64()) as usize * 2 + 1024;
        let cap = outstanding.next_power_of_two().min(1 << 22);
        let mut ring: Vec<(u64, Instant, Instant, u64)> = vec![(u64::MAX, ctx.t0, ctx.t0, 0); cap];
        let mut seqs = SeqTracker::with_capacity(SEQ_ROOM);
        let end = ctx.send_end();
        let mut next_due = ctx.t0;
        let mut seq = 0u64;
        let mut last_send = ctx.t0;
        // The size of the request about to go (0: not drawn yet).
        let mut req_len = 0usize;
        let result = loop {
            let now = Instant::now();
            let sending = now < end && !ctx.aborted();
            if !sending
                && (rep.messages_received >= rep.messages_sent || now >= last_send + timeout)
            {
                break Ok(());
            }
            while sending && next_due <= now {
                if req_len == 0 {
                    req_len = self.req_sizes.next();
                }
                dgram::put_header(&mut req[..req_len], seq, dgram::REQUEST, id);
                match sock.send(&req[..req_len]) {
                    Ok(_) => {
                        ring[(seq as usize) & (cap - 1)] = (seq, next_due, now, req_len as u64);
                        rep.messages_sent += 1;
                        rep.bytes_sent += req_len as u64;
                        last_send = now;
                        seq += 1;
                        next_due += self.arrivals.next_gap();
                        req_len = 0;
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.raw_os_error() == Some(libc::ENOBUFS) =>
                    {
                        break
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("send: {e}")),
                }
            }
            match sock.recv(as_uninit(resp)) {
                Ok(n) => {
                    let done = Instant::now();
                    if let Some((s, dgram::RESPONSE, c)) = dgram::header(&resp[..n]) {
                        if c == id && seqs.record(s) {
                            rep.messages_received += 1;
                            rep.bytes_received += n as u64;
                            if let Some(b) = self.sizes {
                                b.record(n as u64);
                            }
                            let slot = ring[(s as usize) & (cap - 1)];
                            if slot.0 == s && done.duration_since(slot.1) <= timeout + self.period {
                                self.record(rep, slot.1, slot.2, done, n as u64, slot.3);
                            } else {
                                rep.late += 1;
                            }
                        }
                    }
                    continue;
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    break Err("the receiver's port is closed (ICMP port unreachable)".to_string());
                }
                Err(e) => break Err(format!("receive: {e}")),
            }
            if let Err(e) = ctx.check("open-loop requests") {
                break Err(e);
            }
            let wait = if sending {
                next_due.saturating_duration_since(Instant::now())
            } else {
                POLL
            };
            wait_fd(sock, false, wait.min(Duration::from_millis(10)));
        };
        let _ = sock.set_nonblocking(false);
        rep.timeouts = rep.messages_sent.saturating_sub(rep.messages_received);
        rep.duplicated = seqs.duplicated;
        rep.reordered = seqs.reordered;
        send_end_markers(sock, id, seq);
        result
    }
}

/// Asks for timer wake-ups without the default 50 us slack, so that a schedule of short
/// periods is kept.
fn set_fine_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// Takes a byte stream of responses apart: fixed-size ones, or framed ones by their
/// length headers; with `id_off`, each one's 8-byte request id at that offset.
struct Splitter {
    framed: bool,
    fixed: u64,
    id_off: Option<usize>,
    /// Position within the current message, and its size once known.
    pos: u64,
    size: u64,
    hdr: [u8; 4],
    id: [u8; 8],
}

impl Splitter {
    fn new(framed: bool, fixed: u64, id_off: Option<usize>) -> Splitter {
        Splitter {
            framed,
            fixed,
            id_off,
            pos: 0,
            size: 0,
            hdr: [0; 4],
            id: [0; 8],
        }
    }

    /// Takes `data`, calling `done(size, id)` for each message it completes; `fixed` is
    /// also the largest framed size allowed.
    fn feed(&mut self, mut data: &[u8], mut done: impl FnMut(u64, u64)) -> Result<(), String> {
        let hdr = FRAME_HEADER as u64;
        while !data.is_empty() {
            if self.pos == 0 && !self.framed {
                self.size = self.fixed;
            }
            if self.framed && self.pos < hdr {
                let at = self.pos as usize;
                let take = (4 - at).min(data.len());
                self.hdr[at..at + take].copy_from_slice(&data[..take]);
                self.pos += take as u64;
                data = &data[take..];
                if self.pos < hdr {
                    return Ok(());
                }
                self.size = u32::from_be_bytes(self.hdr) as u64;
                let least = hdr + self.id_off.map_or(0, |_| 8);
                if self.size < least || self.size > self.fixed {
                    return Err(format!(
                        "a response header says {} bytes; expected {least} to {}",
                        self.size, self.fixed
                    ));
                }
            } else {
                let take = ((self.size - self.pos) as usize).min(data.len());
                if let Some(off) = self.id_off {
                    // The part of [off, off + 8) within [pos, pos + take).
                    let (from, to) = (self.pos as usize, self.pos as usize + take);
                    let (a, b) = (from.max(off), to.min(off + 8));
                    if a < b {
                        self.id[a - off..b - off].copy_from_slice(&data[a - from..b - from]);
                    }
                }
                self.pos += take as u64;
                data = &data[take..];
            }
            if self.pos == self.size {
                done(self.size, u64::from_le_bytes(self.id));
                self.pos = 0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_splitter_finds_sizes_and_ids_at_any_cut() {
        let mut stream = Vec::new();
        let msgs: [(u32, u64); 4] = [(12, 7), (300, 8), (12, 9), (5000, 10)];
        for (size, id) in msgs {
            let mut m = vec![0u8; size as usize];
            m[..4].copy_from_slice(&size.to_be_bytes());
            m[4..12].copy_from_slice(&id.to_le_bytes());
            stream.extend_from_slice(&m);
        }
        for cut in [1, 3, 5, 11, 4096] {
            let mut s = Splitter::new(true, 8192, Some(4));
            let mut got = Vec::new();
            for c in stream.chunks(cut) {
                s.feed(c, |size, id| got.push((size as u32, id))).unwrap();
            }
            assert_eq!(got, msgs, "cut {cut}");
        }
        // Fixed-size responses with the id first.
        let mut fixed = Vec::new();
        for id in 0..5u64 {
            let mut m = vec![1u8; 64];
            m[..8].copy_from_slice(&id.to_le_bytes());
            fixed.extend_from_slice(&m);
        }
        let mut s = Splitter::new(false, 64, Some(0));
        let mut ids = Vec::new();
        for c in fixed.chunks(7) {
            s.feed(c, |size, id| {
                assert_eq!(size, 64);
                ids.push(id)
            })
            .unwrap();
        }
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        // A header beyond the largest size is refused.
        let mut s = Splitter::new(true, 100, None);
        assert!(s.feed(&1000u32.to_be_bytes(), |_, _| {}).is_err());
    }
}
