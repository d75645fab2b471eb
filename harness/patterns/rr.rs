//! Request/response. The active role sends a `msg_size` request, waits for the
//! `response_size` response, and records the round trip in an HdrHistogram (after the
//! warm-up); then the next. Over datagrams each request carries a sequence number and the
//! response echoes it; a response not back within `rr_timeout` counts the request as lost,
//! so a lost datagram never stalls the run.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::wait_fd;
use super::{
    answer_hello, finish_report, finish_stream, read_full, send_end_markers, write_full, Pattern,
    RoleCtx, DGRAM_IDLE, POLL, SEQ_ROOM,
};
use crate::buffer::MsgBuf;
use crate::config::Pattern as TestPattern;
use crate::measure::{
    latency_histogram, EncodedHistogram, IntervalCounter, RoleReport, SeqTracker,
};
use crate::sockopt;
use crate::transport::{as_uninit, dgram, is_timeout, DataConn};

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
        let open_loop = if spec.pattern == TestPattern::Rr {
            spec.rate
        } else {
            None
        };
        if let Some(rate) = open_loop {
            let mut uncorrected = latency_histogram();
            let mut ol = OpenLoop {
                conn,
                ctx,
                period: Duration::from_secs_f64(1.0 / rate as f64),
                hist: &mut hist,
                uncorrected: &mut uncorrected,
                intervals: &mut intervals,
                last: &mut last,
            };
            let result = if spec.protocol.is_datagram() {
                ol.datagrams(rep, &mut req, &mut resp)
            } else {
                let r = ol.stream(rep, &req, resp_size as usize);
                // Back to blocking reads with timeouts for the closing handshake.
                let _ = sock.set_nonblocking(false);
                r.and_then(|_| finish_stream(sock, ctx))
            };
            finish_report(rep, ctx, last, Some(intervals));
            rep.histograms = vec![
                EncodedHistogram::encode(RTT, &hist),
                EncodedHistogram::encode(RTT_UNCORRECTED, &uncorrected),
            ];
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
            )
        } else {
            sock.set_read_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            sock.set_write_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            let quickack = conn.knobs.requested.quickack;
            let mut r = Ok(());
            loop {
                let start = Instant::now();
                if start >= end || ctx.aborted() {
                    break;
                }
                if let Err(e) = write_full(sock, &req, ctx) {
                    r = Err(e);
                    break;
                }
                rep.bytes_sent += req.len() as u64;
                rep.messages_sent += 1;
                match read_full(sock, &mut resp, ctx) {
                    Ok(true) => {}
                    Ok(false) => {
                        r = Err("the peer closed before responding".to_string());
                        break;
                    }
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
                let done = Instant::now();
                if quickack {
                    sockopt::rearm_quickack(sock);
                }
                rep.bytes_received += resp.len() as u64;
                rep.messages_received += 1;
                intervals.record(done, resp.len() as u64, 1);
                if start >= warm {
                    hist.saturating_record(done.duration_since(start).as_nanos() as u64);
                    rep.transactions += 1;
                    rep.measured_bytes += resp.len() as u64;
                    last = Some(done);
                }
            }
            r.and_then(|_| finish_stream(sock, ctx))
        };
        finish_report(rep, ctx, last, Some(intervals));
        rep.histograms = vec![EncodedHistogram::encode(RTT, &hist)];
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
        let result = if spec.protocol.is_datagram() {
            rr_datagram_passive(conn, ctx, rep, &mut req, &mut resp, &mut last)
        } else {
            sock.set_read_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            sock.set_write_timeout(Some(POLL))
                .map_err(|e| e.to_string())?;
            let quickack = conn.knobs.requested.quickack;
            loop {
                match read_full(sock, &mut req, ctx) {
                    Ok(true) => {}
                    Ok(false) => break Ok(()),
                    Err(e) => break Err(e),
                }
                let now = Instant::now();
                if quickack {
                    sockopt::rearm_quickack(sock);
                }
                rep.bytes_received += req.len() as u64;
                rep.messages_received += 1;
                if now >= warm {
                    rep.measured_bytes += req.len() as u64;
                    last = Some(now);
                }
                if let Err(e) = write_full(sock, &resp, ctx) {
                    break Err(e);
                }
                rep.bytes_sent += resp.len() as u64;
                rep.messages_sent += 1;
            }
        };
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
    let result = 'outer: loop {
        let start = Instant::now();
        if start >= end || ctx.aborted() {
            break Ok(());
        }
        dgram::put_header(req, seq, dgram::REQUEST, id);
        match sock.send(req) {
            Ok(_) => {
                rep.messages_sent += 1;
                rep.bytes_sent += req.len() as u64;
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
                            if s == seq {
                                intervals.record(done, n as u64, 1);
                                if start >= warm {
                                    hist.saturating_record(
                                        done.duration_since(start).as_nanos() as u64
                                    );
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
                        if now >= warm {
                            rep.measured_bytes += n as u64;
                            *last = Some(now);
                        }
                        dgram::put_header(resp, s, dgram::RESPONSE, id);
                        match sock.send(resp) {
                            Ok(_) => {
                                rep.messages_sent += 1;
                                rep.bytes_sent += resp.len() as u64;
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
    period: Duration,
    hist: &'a mut hdrhistogram::Histogram<u64>,
    uncorrected: &'a mut hdrhistogram::Histogram<u64>,
    intervals: &'a mut IntervalCounter,
    last: &'a mut Option<Instant>,
}

impl OpenLoop<'_> {
    fn record(
        &mut self,
        rep: &mut RoleReport,
        intended: Instant,
        actual: Instant,
        done: Instant,
        bytes: u64,
    ) {
        self.intervals.record(done, bytes, 1);
        if intended >= self.ctx.warmup_mark() {
            self.hist
                .saturating_record(done.duration_since(intended).as_nanos() as u64);
            self.uncorrected
                .saturating_record(done.duration_since(actual).as_nanos() as u64);
            rep.transactions += 1;
            rep.measured_bytes += bytes;
            *self.last = Some(done);
        }
    }

    /// Over a byte stream: responses come back in order, so a FIFO of send times pairs them.
    fn stream(&mut self, rep: &mut RoleReport, req: &[u8], resp_size: usize) -> Result<(), String> {
        let sock = &self.conn.sock;
        let ctx = self.ctx;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        set_fine_timer_slack();
        let end = ctx.send_end();
        let mut next_due = ctx.t0;
        let mut inflight: VecDeque<(Instant, Instant)> = VecDeque::with_capacity(1024);
        let mut write_off: Option<usize> = None;
        let mut rbuf = MsgBuf::new(resp_size.clamp(4096, 1 << 20), 0);
        let mut partial = 0usize;
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
                if write_off.is_none() && sending && next_due <= now {
                    inflight.push_back((next_due, now));
                    next_due += self.period;
                    write_off = Some(0);
                }
                let Some(off) = write_off else { break };
                match (&*sock).write(&req[off..]) {
                    Ok(n) if off + n == req.len() => {
                        write_off = None;
                        rep.bytes_sent += req.len() as u64;
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
                    partial += n;
                    while partial >= resp_size {
                        partial -= resp_size;
                        let (intended, actual) =
                            inflight.pop_front().ok_or("a response to no request")?;
                        rep.messages_received += 1;
                        self.record(rep, intended, actual, done, resp_size as u64);
                    }
                    continue;
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
            let wait = if sending {
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
        let mut ring: Vec<(u64, Instant, Instant)> = vec![(u64::MAX, ctx.t0, ctx.t0); cap];
        let mut seqs = SeqTracker::with_capacity(SEQ_ROOM);
        let end = ctx.send_end();
        let mut next_due = ctx.t0;
        let mut seq = 0u64;
        let mut last_send = ctx.t0;
        let result = loop {
            let now = Instant::now();
            let sending = now < end && !ctx.aborted();
            if !sending
                && (rep.messages_received >= rep.messages_sent || now >= last_send + timeout)
            {
                break Ok(());
            }
            while sending && next_due <= now {
                dgram::put_header(req, seq, dgram::REQUEST, id);
                match sock.send(req) {
                    Ok(_) => {
                        ring[(seq as usize) & (cap - 1)] = (seq, next_due, now);
                        rep.messages_sent += 1;
                        rep.bytes_sent += req.len() as u64;
                        last_send = now;
                        seq += 1;
                        next_due += self.period;
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
                            let slot = ring[(s as usize) & (cap - 1)];
                            if slot.0 == s && done.duration_since(slot.1) <= timeout + self.period {
                                self.record(rep, slot.1, slot.2, done, n as u64);
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
