//! Legacy: crr in its blocking, thread-per-connection form, run until the drivers run
//! the flows of `crr.rs`; deleted then.
//!
//! Connect, request, response, close — again and again. The active role opens a new
//! connection for every transaction (configured with the same knobs as any data socket),
//! sends the test's header and the request in one write, reads the response and closes;
//! the whole transaction's time goes into the `rtt` histogram. The passive role accepts
//! transactions on the test's listener until the sender says it has finished.
//!
//! The receiver closes first, after its response, so TIME_WAIT lands on the receiver's
//! side, where it holds no ephemeral port; should the sender still run out of ephemeral
//! ports, that is reported as such.

use std::io;
use std::time::{Duration, Instant};

use socket2::Socket;

use super::{
    await_close, finish_report, read_msg, rr_buckets, write_full, Pattern, RoleCtx, Sizes, Think,
    POLL,
};
use crate::engine::rr::RTT;
use crate::measure::sizes::SizeBuckets;
use crate::measure::{latency_histogram, EncodedHistogram, IntervalCounter, RoleReport};
use crate::net::sockopt::{self, Phase};
use crate::net::transport::{self, stream_header, DataConn, STREAM_HEADER_LEN};
use crate::spec::config::Side;
use crate::sys::buffer::MsgBuf;

pub struct Crr;

/// How long one transaction's connect may take before the run gives up on it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn connect_error(e: io::Error) -> String {
    if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
        format!(
            "connect: {e}: out of ephemeral ports, most likely held in TIME_WAIT by earlier \
             transactions (see net.ipv4.ip_local_port_range and net.ipv4.tcp_tw_reuse)"
        )
    } else {
        format!("connect: {e}")
    }
}

impl Pattern for Crr {
    fn active(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let spec = &ctx.spec;
        let peer = conn
            .peer
            .as_ref()
            .ok_or("crr needs the receiver's address")?;
        // The attach connection proved the path and showed the knobs' effect; it carries
        // no transaction.
        let _ = conn.sock.shutdown(std::net::Shutdown::Both);
        let (req_size, resp_size) = spec.rr_sizes();
        let mut req = MsgBuf::new(STREAM_HEADER_LEN + req_size as usize, 0x43);
        req[..STREAM_HEADER_LEN].copy_from_slice(&stream_header(conn.plan.id, conn.token));
        let mut resp = MsgBuf::new(resp_size as usize, 0);
        let (req_dist, resp_dist) = spec.rr_dists();
        let mut req_sizes = Sizes::new(req_size, req_dist, ctx, conn.plan.id, 0);
        let resp_sizes = Sizes::new(resp_size, resp_dist, ctx, conn.plan.id, 1);
        let mut sizes = rr_buckets(&req_sizes, &resp_sizes);
        let resp_framed = resp_sizes.framed();
        let mut hist = latency_histogram();
        let mut intervals = IntervalCounter::new(ctx.t0, spec.interval, spec.warmup, spec.duration);
        let (warm, end) = (ctx.warmup_mark(), ctx.send_end());
        let knobs = spec.knobs(Side::Sender);
        let mut last = None;
        let per_conn = spec.requests_per_conn.max(1);
        let mut think = Think::new(ctx, conn.plan.id);
        let result = loop {
            let start = Instant::now();
            if start >= end || ctx.aborted() {
                break Ok(());
            }
            // One connection: connect, `per_conn` requests and responses, close. Its
            // transactions all complete, so that every connection carries exactly that
            // many; the first one's time includes the connect, the last one's the close.
            let one = (|| -> Result<(), String> {
                let sock = transport::new_socket(spec.protocol, conn.domain)
                    .map_err(|e| format!("socket: {e}"))?;
                sockopt::apply(
                    &sock,
                    spec.protocol,
                    conn.domain,
                    knobs,
                    Phase::BeforeConnect,
                )
                .map_err(|e| e.to_string())?;
                sock.connect_timeout(peer, CONNECT_TIMEOUT)
                    .map_err(connect_error)?;
                sockopt::apply(&sock, spec.protocol, conn.domain, knobs, Phase::Connected)
                    .map_err(|e| e.to_string())?;
                sock.set_read_timeout(Some(POLL))
                    .map_err(|e| e.to_string())?;
                sock.set_write_timeout(Some(POLL))
                    .map_err(|e| e.to_string())?;
                let mut t_start = start;
                for i in 0..per_conn {
                    let rs = req_sizes.prepare(&mut req[STREAM_HEADER_LEN..], true);
                    // The test's header goes with the connection's first request only.
                    let from = if i == 0 { 0 } else { STREAM_HEADER_LEN };
                    write_full(&sock, &req[from..STREAM_HEADER_LEN + rs], ctx)?;
                    rep.bytes_sent += rs as u64;
                    rep.messages_sent += 1;
                    let Some(n) = read_msg(&sock, &mut resp, resp_framed, ctx)? else {
                        return Err("the receiver closed before responding".to_string());
                    };
                    let n = n as u64;
                    rep.bytes_received += n;
                    rep.messages_received += 1;
                    if let Some(b) = &mut sizes {
                        b.record(n);
                    }
                    if i + 1 == per_conn {
                        // The receiver closes first; we close on its FIN, so TIME_WAIT
                        // stays on its side and our ephemeral ports are free again at once.
                        await_close(&sock, ctx, "waiting for the close")?;
                    }
                    let done = Instant::now();
                    intervals.record(done, n, 1);
                    if t_start >= warm {
                        let ns = done.duration_since(t_start).as_nanos() as u64;
                        hist.saturating_record(ns);
                        if let Some(b) = &mut sizes {
                            b.record_rtt(n.max(rs as u64), ns);
                        }
                        rep.transactions += 1;
                        rep.measured_bytes += n;
                        last = Some(done);
                    }
                    think.wait(ctx);
                    t_start = Instant::now();
                }
                Ok(())
            })();
            if let Err(e) = one {
                break Err(e);
            }
        };
        finish_report(rep, ctx, last, Some(intervals));
        rep.histograms = vec![EncodedHistogram::encode(RTT, &hist)];
        rep.sizes = sizes.map(|b| b.report());
        result
    }

    fn passive(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let listener = conn
            .listener
            .as_ref()
            .ok_or("crr needs the test's listener")?;
        let _ = conn.sock.shutdown(std::net::Shutdown::Both);
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let (req_size, resp_size) = ctx.spec.rr_sizes();
        let mut req = MsgBuf::new(req_size as usize, 0);
        let mut resp = MsgBuf::new(resp_size as usize, 0x52);
        let (req_dist, resp_dist) = ctx.spec.rr_dists();
        let mut sizes = Sized {
            req_framed: req_dist.is_some(),
            resp: Sizes::new(resp_size, resp_dist, ctx, conn.plan.id, 1),
            buckets: (req_dist.is_some() || resp_dist.is_some()).then(SizeBuckets::new),
        };
        let warm = ctx.warmup_mark();
        let mut last = None;
        // Transactions are identified side by side: a stranger that connects and stays
        // silent delays no real transaction, and is closed after its greeting deadline.
        let mut greeting = transport::Greeting::new(conn.token, 256);
        let result = loop {
            if ctx.stopped() {
                break Ok(());
            }
            greeting.wait(listener, POLL);
            if let Err(e) = greeting.accept_all(listener) {
                break Err(format!("accept: {e}"));
            }
            let mut served = false;
            while let Some((sock, _)) = greeting.ready() {
                served = true;
                rep.connections += 1;
                // A transaction that goes wrong (a reset, a stranger) costs that
                // transaction only.
                let _ = serve_one(
                    &sock,
                    conn,
                    ctx,
                    (&mut req, &mut resp),
                    rep,
                    &mut sizes,
                    (warm, &mut last),
                );
            }
            if !served {
                if let Err(e) = ctx.check("accept") {
                    break Err(e);
                }
            }
        };
        rep.sizes = sizes.buckets.map(|b| b.report());
        finish_report(rep, ctx, last, None);
        result
    }
}

/// The answering end's sizes: whether requests are framed, how big responses are, and
/// the per-size counts when sizes vary.
struct Sized {
    req_framed: bool,
    resp: Sizes,
    buckets: Option<SizeBuckets>,
}

/// Answers one connection whose header has been read: up to `requests_per_conn`
/// requests (fewer if the sender closes first), then the close.
fn serve_one(
    sock: &Socket,
    conn: &DataConn,
    ctx: &RoleCtx,
    (req, resp): (&mut [u8], &mut [u8]),
    rep: &mut RoleReport,
    sizes: &mut Sized,
    (warm, last): (Instant, &mut Option<Instant>),
) -> Result<(), String> {
    let spec = &ctx.spec;
    let knobs = spec.knobs(Side::Receiver);
    sockopt::apply(sock, spec.protocol, conn.domain, knobs, Phase::Accepted)
        .map_err(|e| e.to_string())?;
    sockopt::apply(sock, spec.protocol, conn.domain, knobs, Phase::Connected)
        .map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(POLL))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(POLL))
        .map_err(|e| e.to_string())?;
    for _ in 0..spec.requests_per_conn.max(1) {
        let Some(n) = read_msg(sock, req, sizes.req_framed, ctx)? else {
            // The sender closed (or a stranger left) before this request.
            break;
        };
        let arrived = Instant::now();
        rep.bytes_received += n as u64;
        rep.messages_received += 1;
        if let Some(b) = &mut sizes.buckets {
            b.record(n as u64);
        }
        if arrived >= warm {
            rep.measured_bytes += n as u64;
            *last = Some(arrived);
        }
        let rs = sizes.resp.prepare(resp, true);
        write_full(sock, &resp[..rs], ctx)?;
        rep.bytes_sent += rs as u64;
        rep.messages_sent += 1;
    }
    // Close first (FIN after the response), then wait for the sender's close: TIME_WAIT
    // lands here, on the listening port, instead of on one of the sender's ephemeral
    // ports — so a high connection rate does not run the sender out of ports.
    let _ = sock.shutdown(std::net::Shutdown::Write);
    await_close(sock, ctx, "waiting for the close")?;
    Ok(())
}
