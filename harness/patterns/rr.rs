//! Request/response. The active role sends a `msg_size` request, waits for the
//! `response_size` response, and records the round trip in an HdrHistogram (after the
//! warm-up); then the next. Over datagrams each request carries a sequence number and the
//! response echoes it; a response not back within `rr_timeout` counts the request as lost,
//! so a lost datagram never stalls the run.

use std::io;
use std::time::{Duration, Instant};

use super::{
    answer_hello, finish_stream, read_full, send_end_markers, window_ns, write_full, Pattern,
    RoleCtx, DGRAM_IDLE, POLL,
};
use crate::measure::{
    latency_histogram, EncodedHistogram, IntervalCounter, RoleReport, SeqTracker,
};
use crate::sockopt;
use crate::transport::{as_uninit, dgram, is_timeout, DataConn};

pub struct Rr;

/// The metric name of request/response round trips in histograms and logs.
pub const RTT: &str = "rtt";

impl Pattern for Rr {
    fn active(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let spec = &ctx.spec;
        let sock = &conn.sock;
        let mut hist = latency_histogram();
        let mut intervals =
            IntervalCounter::new(ctx.t0, spec.interval, spec.warmup + spec.duration);
        let mut req = vec![0x51u8; spec.msg_size as usize];
        let mut resp = vec![0u8; spec.response_size as usize];
        let warm = ctx.warmup_mark();
        let end = ctx.send_end();
        let mut last = None;
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
        rep.window_ns = window_ns(ctx, last);
        rep.end_ns = last
            .map(|l| l.saturating_duration_since(ctx.t0).as_nanos() as u64)
            .unwrap_or(0);
        rep.interval_bytes = intervals.bytes;
        rep.interval_messages = intervals.messages;
        rep.histograms = vec![EncodedHistogram::encode(RTT, &hist)];
        result
    }

    fn passive(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let spec = &ctx.spec;
        let sock = &conn.sock;
        let mut req = vec![0u8; spec.msg_size as usize];
        let mut resp = vec![0x52u8; spec.response_size as usize];
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
        rep.window_ns = window_ns(ctx, last);
        rep.end_ns = last
            .map(|l| l.saturating_duration_since(ctx.t0).as_nanos() as u64)
            .unwrap_or(0);
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
    let mut seqs = SeqTracker::default();
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
    let mut seqs = SeqTracker::default();
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
