//! Bulk transfer. The active role writes `msg_size` messages as fast as it may (or paced
//! by `--rate`) for warm-up + duration; the passive role reads and counts. For datagram
//! protocols every message carries a sequence number, and loss, reordering and
//! duplicates are counted exactly. With sizes from a distribution, every message's size
//! is drawn, and on a byte stream it travels in a length header in front of the message.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::{
    answer_hello, finish_report, finish_stream, send_end_markers, wait_fd, write_full, Idle, Pacer,
    Pattern, RoleCtx, DGRAM_IDLE, POLL, SEQ_ROOM,
};
use crate::measure::sizes::SizeBuckets;
use crate::measure::{IntervalCounter, RoleReport, SeqTracker};
use crate::net::sockopt;
use crate::net::transport::{as_uninit, dgram, is_timeout, DataConn};
use crate::spec::dist::{put_frame, rng_for, Deframer, SizeDist, SizeSampler};
use crate::sys::batch::{DgramBatch, GroBuf};
use crate::sys::buffer::MsgBuf;
use crate::sys::splice::{message_file, SpliceReceiver, SpliceSender};
use crate::sys::zerocopy::ZeroCopyCount;
use socket2::Socket;

pub struct Stream;

impl Pattern for Stream {
    fn active(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let sock = &conn.sock;
        sock.set_write_timeout(Some(POLL))
            .map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(POLL))
            .map_err(|e| e.to_string())?;
        let size = ctx.spec.msg_size as usize;
        let mut buf = MsgBuf::new(size, 0x5a);
        let end = ctx.send_end();
        let pacer = ctx.spec.rate.map(|r| Pacer::new(ctx.t0, r));
        if let Some(d) = &ctx.spec.msg_dist {
            return send_sized(conn, ctx, rep, &mut buf, d, pacer.as_ref());
        }
        if ctx.spec.protocol.is_datagram() {
            let seq = if conn.knobs.requested.udp_gso.is_some() {
                send_gso(conn, ctx, rep, pacer.as_ref())?
            } else if ctx.spec.batch > 1 {
                send_batched(conn, ctx, rep, pacer.as_ref())?
            } else {
                send_plain(conn, ctx, rep, &mut buf, pacer.as_ref())?
            };
            send_end_markers(sock, conn.plan.id, seq);
            return Ok(());
        }
        let want = &conn.knobs.requested;
        let mut how = if want.zerocopy {
            SendPath::ZeroCopy(ZeroCopyCount::default())
        } else if want.sendfile {
            // The message lives in an in-memory file the kernel sends from.
            SendPath::Sendfile(message_file(&buf).map_err(|e| format!("the message file: {e}"))?)
        } else if want.splice {
            SendPath::Splice(SpliceSender::new(&buf).map_err(|e| format!("splice setup: {e}"))?)
        } else {
            SendPath::Write
        };
        loop {
            let now = Instant::now();
            if now >= end || ctx.aborted() {
                break;
            }
            if let Some(p) = &pacer {
                p.wait(now, rep.bytes_sent);
            }
            match &mut how {
                SendPath::ZeroCopy(z) => write_zerocopy(sock, &buf, ctx, z)?,
                SendPath::Sendfile(f) => write_sendfile(sock, f, size, ctx)?,
                SendPath::Splice(sp) => rep.spliced_out += write_splice(sock, sp, ctx)?,
                SendPath::Write => write_full(sock, &buf, ctx)?,
            }
            rep.bytes_sent += size as u64;
            rep.messages_sent += 1;
        }
        if let SendPath::ZeroCopy(mut z) = how {
            // Every send's completion, so that the counts are final and no page stays pinned.
            let drained = z.drain(sock, Duration::from_secs(2));
            (
                rep.zerocopy_sends,
                rep.zerocopy_completed,
                rep.zerocopy_copied,
            ) = (z.sends, z.completed, z.copied);
            drained.map_err(|e| format!("zero-copy completions: {e}"))?;
        }
        finish_stream(sock, ctx)
    }

    fn passive(&self, conn: &DataConn, ctx: &RoleCtx, rep: &mut RoleReport) -> Result<(), String> {
        let sock = &conn.sock;
        sock.set_read_timeout(Some(POLL))
            .map_err(|e| e.to_string())?;
        let spec = &ctx.spec;
        let mut intervals = IntervalCounter::new(ctx.t0, spec.interval, spec.warmup, spec.duration);
        let warm = ctx.warmup_mark();
        let mut last: Option<Instant> = None;
        let mut buf = MsgBuf::new(spec.msg_size as usize, 0);
        let mut sizes = spec.msg_dist.as_ref().map(|_| SizeBuckets::new());
        let result = if spec.protocol.is_datagram() {
            let mut seqs = SeqTracker::with_capacity(SEQ_ROOM);
            let r = recv_datagrams(
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
            r
        } else if let Some(b) = &mut sizes {
            recv_framed(conn, ctx, rep, b, &mut intervals, &mut last)
        } else {
            let quickack = conn.knobs.requested.quickack;
            let mut spliced = if conn.knobs.requested.splice {
                let chunk = (spec.msg_size as usize).max(64 * 1024);
                Some(SpliceReceiver::new(chunk).map_err(|e| format!("splice setup: {e}"))?)
            } else {
                None
            };
            let mut idle = Idle::default();
            loop {
                let got = match &mut spliced {
                    Some(sp) => sp.recv(sock),
                    None => (&*sock).read(&mut buf),
                };
                match got {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        let now = Instant::now();
                        if ctx.aborted() {
                            break Err("read: the test was aborted".to_string());
                        }
                        rep.bytes_received += n as u64;
                        if spliced.is_some() {
                            rep.spliced_in += n as u64;
                        }
                        idle = Idle::default();
                        intervals.record(now, n as u64, 0);
                        if now >= warm {
                            rep.measured_bytes += n as u64;
                        }
                        last = Some(now);
                        if quickack {
                            sockopt::rearm_quickack(sock);
                        }
                    }
                    Err(e) if is_timeout(&e) => {
                        if let Err(e) = ctx.idle("read", &mut idle) {
                            break Err(e);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(format!("read: {e}")),
                }
            }
            .inspect(|_| rep.messages_received = rep.bytes_received / spec.msg_size as u64)
        };
        rep.sizes = sizes.map(|b| b.report());
        finish_report(rep, ctx, last, Some(intervals));
        result
    }
}

/// The bulk sender of a test whose message sizes follow a distribution: each message's
/// size drawn (seeded per connection), a length header in front of it on a byte stream,
/// the size itself on a datagram.
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
    let datagram = ctx.spec.protocol.is_datagram();
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
        if datagram {
            dgram::put_header(&mut buf[..size], seq, dgram::DATA, conn.plan.id);
            match sock.send(&buf[..size]) {
                Ok(_) => seq += 1,
                Err(e) if is_timeout(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(format!("send: {e}")),
            }
        } else {
            put_frame(buf, size as u32);
            write_full(sock, &buf[..size], ctx)?;
        }
        rep.bytes_sent += size as u64;
        rep.messages_sent += 1;
        size = sampler.sample(&mut rng) as usize;
    };
    if datagram {
        send_end_markers(sock, conn.plan.id, seq);
        result
    } else {
        result.and_then(|_| finish_stream(sock, ctx))
    }
}

/// The bulk receiver of framed messages: reads in large chunks, takes the messages apart
/// by their length headers and counts each in its size bucket.
fn recv_framed(
    conn: &DataConn,
    ctx: &RoleCtx,
    rep: &mut RoleReport,
    sizes: &mut SizeBuckets,
    intervals: &mut IntervalCounter,
    last: &mut Option<Instant>,
) -> Result<(), String> {
    let sock = &conn.sock;
    let max = ctx.spec.msg_size;
    let mut buf = MsgBuf::new(256 * 1024, 0);
    let mut frames = Deframer::default();
    let warm = ctx.warmup_mark();
    let quickack = conn.knobs.requested.quickack;
    let mut idle = Idle::default();
    loop {
        match (&*sock).read(&mut buf) {
            Ok(0) if frames.idle() => return Ok(()),
            Ok(0) => return Err("the peer closed mid-message".to_string()),
            Ok(n) => {
                let now = Instant::now();
                if ctx.aborted() {
                    return Err("read: the test was aborted".to_string());
                }
                rep.bytes_received += n as u64;
                frames
                    .feed(&buf[..n], max, |size| {
                        sizes.record(size);
                        rep.messages_received += 1;
                    })
                    .map_err(|e| e.to_string())?;
                idle = Idle::default();
                intervals.record(now, n as u64, 0);
                if now >= warm {
                    rep.measured_bytes += n as u64;
                }
                *last = Some(now);
                if quickack {
                    sockopt::rearm_quickack(sock);
                }
            }
            Err(e) if is_timeout(&e) => ctx.idle("read", &mut idle)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// How the bulk sender hands its messages to the kernel.
enum SendPath {
    /// write(2), the plain path the others are checked against.
    Write,
    /// MSG_ZEROCOPY, completions counted.
    ZeroCopy(ZeroCopyCount),
    /// sendfile(2) from an in-memory file.
    Sendfile(std::fs::File),
    /// splice(2): in-memory file to pipe to socket.
    Splice(SpliceSender),
}

/// Sends one message with splice(2), through the pipe. Returns the bytes splice said it
/// moved into the socket.
fn write_splice(sock: &Socket, sp: &mut SpliceSender, ctx: &RoleCtx) -> Result<u64, String> {
    let (mut moved, mut idle) = (0u64, Idle::default());
    loop {
        match sp.step(sock) {
            Ok(n) => {
                moved += n as u64;
                if sp.message_done() {
                    return Ok(moved);
                }
                idle = Idle::default();
            }
            Err(e) if is_timeout(&e) => ctx.idle("splice", &mut idle)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("splice: {e}")),
        }
    }
}

/// Sends one message from the file with sendfile(2).
fn write_sendfile(
    sock: &Socket,
    file: &std::fs::File,
    size: usize,
    ctx: &RoleCtx,
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let mut offset: libc::off_t = 0;
    let mut idle = Idle::default();
    while (offset as usize) < size {
        // SAFETY: valid descriptors; the kernel advances `offset`.
        let n = unsafe {
            libc::sendfile(
                sock.as_raw_fd(),
                file.as_raw_fd(),
                &mut offset,
                size - offset as usize,
            )
        };
        if n > 0 {
            idle = Idle::default();
            continue;
        }
        let e = if n == 0 {
            io::Error::other("sendfile sent nothing")
        } else {
            io::Error::last_os_error()
        };
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                ctx.idle("sendfile", &mut idle)?
            }
            io::ErrorKind::Interrupted => {}
            _ => return Err(format!("sendfile: {e}")),
        }
    }
    Ok(())
}

/// Writes all of `buf` with MSG_ZEROCOPY, reaping completions as it goes. When the
/// kernel runs out of room for pinned pages (ENOBUFS), completions free it.
fn write_zerocopy(
    sock: &Socket,
    buf: &[u8],
    ctx: &RoleCtx,
    zc: &mut ZeroCopyCount,
) -> Result<(), String> {
    let mut sent = 0;
    let mut idle = Idle::default();
    while sent < buf.len() {
        match sock.send_with_flags(&buf[sent..], libc::MSG_ZEROCOPY) {
            Ok(n) => {
                sent += n;
                idle = Idle::default();
                zc.sends += 1;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                zc.reap(sock)
                    .map_err(|e| format!("zero-copy completions: {e}"))?;
                wait_fd(sock, false, Duration::from_millis(1));
            }
            Err(e) if is_timeout(&e) => ctx.idle("write", &mut idle)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write (MSG_ZEROCOPY): {e}")),
        }
    }
    zc.reap(sock)
        .map_err(|e| format!("zero-copy completions: {e}"))
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
