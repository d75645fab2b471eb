//! Legacy: the datagram patterns (datagram stream, datagram request/response) in their
//! blocking, thread-per-connection form, moved here verbatim from the old `stream.rs` and
//! `rr.rs` while H2 rewrites them as flows (engine/dgram.rs, engine/dgram_rr.rs). Run by
//! the blocking driver through the [`Pattern`] trait; delete each piece as its flow lands.

use std::io;
use std::time::{Duration, Instant};

use super::rr::{RTT, RTT_UNCORRECTED};
use super::Pacer;
use super::{
    answer_hello, finish_report, send_end_markers, wait_fd, Pattern, RoleCtx, Sizes, Think,
    DGRAM_IDLE, POLL, SEQ_ROOM,
};
use crate::measure::sizes::SizeBuckets;
use crate::measure::{
    latency_histogram, EncodedHistogram, IntervalCounter, RoleReport, SeqTracker,
};
use crate::net::transport::{as_uninit, dgram, is_timeout, DataConn};
use crate::spec::config::Pattern as TestPattern;
use crate::spec::dist::{rng_for, Arrivals, SizeDist, SizeSampler};
use crate::sys::batch::{DgramBatch, GroBuf};
use crate::sys::buffer::MsgBuf;

/// Datagram bulk transfer (the old `Stream` pattern's datagram half).
pub struct DgramStream;

impl Pattern for DgramStream {
    fn active(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let sock = &conn.sock;
        sock.set_write_timeout(Some(POLL))
            .map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(POLL))
            .map_err(|e| e.to_string())?;
        let size = ctx.spec.msg_size as usize;
        let mut buf = MsgBuf::new(size, 0x5a);
        let pacer = ctx.spec.rate.map(|r| Pacer::new(ctx.t0, r));
        if let Some(d) = &ctx.spec.msg_dist {
            return send_sized(conn, ctx, rep, &mut buf, d, pacer.as_ref());
        }
        let seq = if conn.knobs.requested.udp_gso.is_some() {
            send_gso(conn, ctx, rep, pacer.as_ref())?
        } else if ctx.spec.batch > 1 {
            send_batched(conn, ctx, rep, pacer.as_ref())?
        } else {
            send_plain(conn, ctx, rep, &mut buf, pacer.as_ref())?
        };
        send_end_markers(sock, conn.plan.id, seq);
        Ok(())
    }

    fn passive(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let sock = &conn.sock;
        sock.set_read_timeout(Some(POLL))
            .map_err(|e| e.to_string())?;
        let spec = &ctx.spec;
        let mut intervals = IntervalCounter::new(ctx.t0, spec.interval, spec.warmup, spec.duration);
        let mut last: Option<Instant> = None;
        let mut buf = MsgBuf::new(spec.msg_size as usize, 0);
        let mut sizes = spec.msg_dist.as_ref().map(|_| SizeBuckets::new());
        let mut seqs = SeqTracker::with_capacity(SEQ_ROOM);
        let result = recv_datagrams(
            conn,
            ctx,
            rep,
            &mut buf,
            &mut seqs,
            &mut intervals,
            &mut last,
            &mut sizes,
        );
        rep.messages_received = seqs.unique;
        rep.reordered = seqs.reordered;
        rep.duplicated = seqs.duplicated;
        rep.sizes = sizes.map(|b| b.report());
        finish_report(rep, ctx, last, Some(intervals));
        result
    }
}

/// The datagram sender of a test whose message sizes follow a distribution.
fn send_sized(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    buf: &mut [u8],
    dist: &SizeDist,
    pacer: Option<&Pacer>,
) -> Result<(), String> {
    let sock = &conn.sock;
    let sampler = SizeSampler::new(dist);
    let mut rng = rng_for(ctx.spec.dist_seed, conn.plan.id, 0);
    let end = ctx.send_end();
    let mut seq = 0u64;
    let mut size = sampler.sample(&mut rng) as usize;
    let result = loop {
        let now = Instant::now();
        if now >= end || ctx.aborted() {
            break Ok(());
        }
        if let Some(p) = pacer {
            p.wait(now, rep.bytes_sent);
        }
        dgram::put_header(&mut buf[..size], seq, dgram::DATA, conn.plan.id);
        match sock.send(&buf[..size]) {
            Ok(_) => seq += 1,
            Err(e) if is_timeout(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(format!("send: {e}")),
        }
        rep.bytes_sent += size as u64;
        rep.messages_sent += 1;
        size = sampler.sample(&mut rng) as usize;
    };
    send_end_markers(sock, conn.plan.id, seq);
    result
}

/// The datagram sending loop shared by the plain, batched and GSO paths: until the end
/// of the sending time, pace, then `step(seq)` sends datagrams numbered from `seq` and
/// says how many went. Returns the number sent.
fn send_datagrams(
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    pacer: Option<&Pacer>,
    what: &str,
    size: u64,
    mut step: impl FnMut(u64) -> io::Result<u64>,
) -> Result<u64, String> {
    let end = ctx.send_end();
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        if now >= end || ctx.aborted() {
            return Ok(seq);
        }
        if let Some(p) = pacer {
            p.wait(now, rep.bytes_sent);
        }
        match step(seq) {
            Ok(k) => {
                seq += k;
                rep.messages_sent += k;
                rep.bytes_sent += k * size;
            }
            // A full send queue: nothing was sent; try again.
            Err(e) if is_timeout(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// One datagram per send(2): the plain path the others are checked against.
fn send_plain(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    buf: &mut [u8],
    pacer: Option<&Pacer>,
) -> Result<u64, String> {
    let size = buf.len() as u64;
    send_datagrams(ctx, rep, pacer, "send", size, |seq| {
        dgram::put_header(buf, seq, dgram::DATA, conn.plan.id);
        conn.sock.send(buf).map(|_| 1)
    })
}

/// Up to `batch` datagrams per sendmmsg(2), each with its own sequence number.
fn send_batched(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    pacer: Option<&Pacer>,
) -> Result<u64, String> {
    let size = ctx.spec.msg_size as usize;
    let mut batch = DgramBatch::new(ctx.spec.batch as usize, size, 0x5a);
    send_datagrams(ctx, rep, pacer, "sendmmsg", size as u64, |seq| {
        for i in 0..batch.len() {
            dgram::put_header(batch.buf_mut(i), seq + i as u64, dgram::DATA, conn.plan.id);
        }
        batch.send(&conn.sock, batch.len()).map(|k| k as u64)
    })
}

/// UDP GSO: up to 64 datagrams laid end to end in one send, each with its own sequence
/// number; the kernel splits them at the UDP_SEGMENT size (the message size).
fn send_gso(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    pacer: Option<&Pacer>,
) -> Result<u64, String> {
    let size = ctx.spec.msg_size as usize;
    let per_send = (65507 / size).clamp(1, 64);
    let mut buf = MsgBuf::new(per_send * size, 0x5a);
    send_datagrams(ctx, rep, pacer, "send (UDP GSO)", size as u64, |seq| {
        for (i, d) in buf.chunks_mut(size).enumerate() {
            dgram::put_header(d, seq + i as u64, dgram::DATA, conn.plan.id);
        }
        conn.sock.send(&buf).map(|_| per_send as u64)
    })
}

/// Where the receiving loop's datagrams come from.
enum Source {
    /// recv(2), one datagram a call.
    Plain,
    /// recvmmsg(2), up to N a call.
    Batch(DgramBatch),
    /// UDP_GRO: the kernel's coalesced datagrams, split again here.
    Gro(Box<GroBuf>),
}

/// What the receiving loop does with one datagram.
struct DgramSink<'a> {
    conn: &'a DataConn,
    /// Per-size counts, when the sizes follow a distribution.
    sizes: &'a mut Option<SizeBuckets>,
    warm: Instant,
    seqs: &'a mut SeqTracker,
    intervals: &'a mut IntervalCounter,
    last: &'a mut Option<Instant>,
}

impl DgramSink<'_> {
    /// Accounts one datagram that arrived at `now`. Returns true at the END marker.
    #[inline]
    fn take(&mut self, rep: &mut RoleReport, data: &[u8], now: Instant) -> bool {
        let id = self.conn.plan.id;
        match dgram::header(data) {
            Some((seq, dgram::DATA, c)) if c == id && self.seqs.record(seq) => {
                let n = data.len() as u64;
                rep.bytes_received += n;
                if let Some(b) = self.sizes {
                    b.record(n);
                }
                self.intervals.record(now, n, 1);
                if now >= self.warm {
                    rep.measured_bytes += n;
                }
                *self.last = Some(now);
                false
            }
            Some((_, dgram::END, c)) if c == id => true,
            Some((seq, dgram::HELLO, c)) if c == id => {
                answer_hello(&self.conn.sock, seq, c);
                false
            }
            _ => false,
        }
    }
}

/// Receives DATA datagrams until the END marker, silence after the nominal end, or the
/// hard deadline.
#[allow(clippy::too_many_arguments)]
fn recv_datagrams(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    buf: &mut [u8],
    seqs: &mut SeqTracker,
    intervals: &mut IntervalCounter,
    last: &mut Option<Instant>,
    sizes: &mut Option<SizeBuckets>,
) -> Result<(), String> {
    let sock = &conn.sock;
    let nominal_end = ctx.send_end();
    let mut last_heard = Instant::now();
    let mut sink = DgramSink {
        conn,
        sizes,
        warm: ctx.warmup_mark(),
        seqs,
        intervals,
        last,
    };
    let mut source = if conn.knobs.requested.udp_gro {
        Source::Gro(Box::default())
    } else if ctx.spec.batch > 1 {
        Source::Batch(DgramBatch::new(ctx.spec.batch as usize, buf.len(), 0))
    } else {
        Source::Plain
    };
    loop {
        let got = match &mut source {
            Source::Plain => sock.recv(as_uninit(buf)),
            Source::Batch(b) => b.recv(sock),
            Source::Gro(g) => g.recv(sock),
        };
        match got {
            Ok(n) => {
                let now = Instant::now();
                last_heard = now;
                if ctx.aborted() {
                    return Err("receive: the test was aborted".to_string());
                }
                // Every datagram of a batch is accounted, even after an END marker.
                let mut end = false;
                match &source {
                    Source::Plain => end = sink.take(rep, &buf[..n], now),
                    Source::Batch(b) => {
                        for i in 0..n {
                            end |= sink.take(rep, b.received(i), now);
                        }
                    }
                    Source::Gro(g) => {
                        for d in g.datagrams() {
                            end |= sink.take(rep, d, now);
                        }
                    }
                }
                if end {
                    return Ok(());
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                let now = Instant::now();
                if now >= nominal_end && now.duration_since(last_heard) >= DGRAM_IDLE {
                    return Ok(());
                }
                ctx.check("receive")?;
            }
            // An ICMP error from an earlier send of ours (a hello ack); not fatal.
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => ctx.check("receive")?,
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
}

/// Datagram request/response (the old `Rr` pattern's datagram half).
pub struct DgramRr;

impl Pattern for DgramRr {
    fn active(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let spec = &ctx.spec;
        let mut hist = latency_histogram();
        let mut intervals = IntervalCounter::new(ctx.t0, spec.interval, spec.warmup, spec.duration);
        let (req_size, resp_size) = spec.rr_sizes();
        let mut req = MsgBuf::new(req_size as usize, 0x51);
        let mut resp = MsgBuf::new(resp_size as usize, 0);
        let mut last = None;
        let (req_dist, resp_dist) = spec.rr_dists();
        let mut req_sizes = Sizes::new(req_size, req_dist, ctx, conn.plan.id, 0);
        let resp_sizes = Sizes::new(resp_size, resp_dist, ctx, conn.plan.id, 1);
        let mut sizes = super::rr_buckets(&req_sizes, &resp_sizes);
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
                arrivals: Arrivals::new(
                    spec.arrival,
                    rate,
                    rng_for(spec.dist_seed, conn.plan.id, 2),
                ),
                req_sizes: &mut req_sizes,
                sizes: &mut sizes,
                hist: &mut hist,
                uncorrected: &mut uncorrected,
                intervals: &mut intervals,
                last: &mut last,
            };
            let result = ol.datagrams(rep, &mut req, &mut resp);
            finish_report(rep, ctx, last, Some(intervals));
            rep.histograms = vec![
                EncodedHistogram::encode(RTT, &hist),
                EncodedHistogram::encode(RTT_UNCORRECTED, &uncorrected),
            ];
            rep.sizes = sizes.map(|b| b.report());
            return result;
        }
        let result = rr_datagram_active(
            conn,
            ctx,
            rep,
            &mut req,
            &mut resp,
            &mut hist,
            &mut intervals,
            &mut last,
            (&mut req_sizes, &mut sizes),
        );
        finish_report(rep, ctx, last, Some(intervals));
        rep.histograms = vec![EncodedHistogram::encode(RTT, &hist)];
        rep.sizes = sizes.map(|b| b.report());
        result
    }

    fn passive(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let spec = &ctx.spec;
        let (req_size, resp_size) = spec.rr_sizes();
        let mut req = MsgBuf::new(req_size as usize, 0);
        let mut resp = MsgBuf::new(resp_size as usize, 0x52);
        let mut last = None;
        let (req_dist, resp_dist) = spec.rr_dists();
        let mut resp_sizes = Sizes::new(resp_size, resp_dist, ctx, conn.plan.id, 1);
        let mut sizes = (req_dist.is_some() || resp_dist.is_some()).then(SizeBuckets::new);
        let result = rr_datagram_passive(
            conn,
            ctx,
            rep,
            &mut req,
            &mut resp,
            &mut last,
            (&mut resp_sizes, &mut sizes),
        );
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

/// The open-loop datagram requester: requests leave on a schedule whatever the responses
/// do, and each round trip is measured from the request's intended send time.
struct OpenLoop<'a> {
    conn: &'a DataConn,
    ctx: &'a RoleCtx,
    /// The mean gap between requests (1 / rate).
    period: Duration,
    /// The intended send times: evenly spaced or a Poisson process.
    arrivals: Arrivals,
    req_sizes: &'a mut Sizes,
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
        crate::sys::epoll::fine_timer_slack();
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
