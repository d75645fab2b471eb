//! Many byte-stream flows on a few threads, neper's model: each worker owns a share of the
//! connections and drives them, non-blocking, through epoll. Used for stream and
//! closed-loop request/response tests with more connections than threads are worth
//! (`MULTI_THRESHOLD`); each connection still gets its own report, counted exactly as the
//! one-thread-per-connection roles count. Round trips go into one HdrHistogram per worker
//! (a histogram per connection would cost ~100 KB each), carried by the worker's first
//! requesting connection, so that the merged histogram is the same.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::mpsc::Sender;
use std::time::Instant;

use super::rr::RTT;
use super::{finish_report, Pacer, RoleCtx};
use crate::measure::{
    latency_histogram, thread_cpu_ns, EncodedHistogram, IntervalCounter, RoleReport,
};
use crate::net::sockopt;
use crate::net::transport::DataConn;
use crate::spec::config::{Pattern, Side};
use crate::sys::buffer::MsgBuf;

/// Above this many connections on one side, stream roles run on epoll workers.
pub const MULTI_THRESHOLD: usize = 64;
/// Writes per readiness event, so that one fast connection cannot starve the others.
const WRITES_PER_EVENT: usize = 8;

/// Whether these connections (the test's main ones) run on epoll workers: enough of them,
/// and a test that fits (`TestSpec::fits_workers`).
pub fn eligible(conns: &[DataConn], ctx: &RoleCtx) -> bool {
    let main = ctx.spec.main_kind();
    conns.len() > MULTI_THRESHOLD
        && ctx.spec.fits_workers()
        && conns.iter().all(|c| c.plan.kind == main)
}

#[derive(PartialEq)]
enum Phase {
    Sending,
    /// Shut down for writing; waiting for the peer's close.
    Finishing,
    Receiving,
    /// Request/response, the requesting end: writing a request (`offset` bytes written),
    /// then reading its response (`offset` bytes read).
    Asking,
    Awaiting,
    /// Request/response, the answering end: reading a request, then writing the response.
    Serving,
    Answering,
    Done,
}

struct Flow {
    conn: DataConn,
    rep: RoleReport,
    phase: Phase,
    intervals: Option<IntervalCounter>,
    last: Option<Instant>,
    /// Bytes of the current message already written or read.
    offset: usize,
    /// When the current request/response transaction started; for a paced bulk sender
    /// waiting out of epoll's interest, its next send time.
    start: Instant,
    /// The epoll events the socket is registered for: EPOLLOUT, EPOLLIN, or none while a
    /// paced sender waits for its next send time (`start`).
    interest: u32,
    /// This flow's index in the worker's table, the epoll registration's data.
    slot: u64,
}

/// Runs `conns` on the calling thread with epoll; sends each connection's report when it
/// ends.
pub fn worker(conns: Vec<DataConn>, side: Side, ctx: RoleCtx, tx: Sender<(RoleReport, Instant)>) {
    let cpu0 = thread_cpu_ns();
    let spec = ctx.spec.clone();
    let rr = spec.pattern == Pattern::Rr;
    let (req_size, resp_size) = if rr {
        let (q, r) = spec.rr_sizes();
        (q as usize, r as usize)
    } else {
        (spec.msg_size as usize, 0)
    };
    let size = spec.msg_size as usize;
    // What this side writes: bulk messages, requests or responses.
    let wbuf = MsgBuf::new(size, 0x5a);
    let req = MsgBuf::new(req_size, 0x51);
    let resp = MsgBuf::new(resp_size, 0x52);
    let mut rbuf = MsgBuf::new(size.max(req_size).max(resp_size).max(64 * 1024), 0);
    let mut hist = latency_histogram();
    // SAFETY: epoll_create1 has no preconditions.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    let t_start = Instant::now();
    let mut flows: Vec<Flow> = conns
        .into_iter()
        .enumerate()
        .map(|(slot, conn)| {
            let active = conn.plan.active == side;
            let rep = RoleReport {
                conn: conn.plan.id,
                flow: conn.plan.flow,
                kind: Some(conn.plan.kind),
                side: Some(side),
                active,
                interval_ns: spec.interval.as_nanos() as u64,
                knobs: conn.knobs.clone(),
                ..RoleReport::default()
            };
            // The receiving end counts intervals, and in rr the requesting end.
            let intervals = (active == rr)
                .then(|| IntervalCounter::new(ctx.t0, spec.interval, spec.warmup, spec.duration));
            let phase = match (rr, active) {
                (false, true) => Phase::Sending,
                (false, false) => Phase::Receiving,
                (true, true) => Phase::Asking,
                (true, false) => Phase::Serving,
            };
            Flow {
                conn,
                rep,
                phase,
                intervals,
                last: None,
                offset: 0,
                start: t_start,
                interest: 0,
                slot: slot as u64,
            }
        })
        .collect();
    for (i, f) in flows.iter_mut().enumerate() {
        f.interest = if f.phase == Phase::Sending { OUT } else { IN };
        let setup = f.conn.sock.set_nonblocking(true).and_then(|_| {
            let mut ev = libc::epoll_event {
                events: f.interest,
                u64: i as u64,
            };
            // SAFETY: valid epoll and socket descriptors, and an event to copy.
            let rc = unsafe {
                libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, f.conn.sock.as_raw_fd(), &mut ev)
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
        if let Err(e) = setup {
            f.rep.error = Some(format!("connection {}: epoll: {e}", f.conn.plan.id));
            f.phase = Phase::Done;
        }
    }
    let mut open = flows.iter().filter(|f| f.phase != Phase::Done).count();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let (warm, send_end, hard) = (ctx.warmup_mark(), ctx.send_end(), ctx.hard_deadline());
    let rr_io = RrIo {
        req: &req,
        resp: &resp,
        warm,
        send_end,
    };
    // Every requesting end sends its first request.
    for f in flows.iter_mut().filter(|f| f.phase == Phase::Asking) {
        f.start = Instant::now();
        if let Err(e) = rr_io.ask(ep, f) {
            f.rep.error = Some(format!("connection {}: {e}", f.conn.plan.id));
            done(ep, f);
            open -= 1;
        }
    }
    // --rate: each bulk sender keeps to it as on its own thread, message by message; one
    // that is ahead waits, out of epoll's interest, until its next send time.
    let pacer = spec.rate.filter(|_| !rr).map(|r| Pacer::new(ctx.t0, r));
    let mut parked: Vec<usize> = Vec::new();
    let mut next_due: Option<Instant> = None;
    let mut ended_sending = false;
    while open > 0 {
        let now = Instant::now();
        if next_due.is_some_and(|d| now >= d) {
            next_due = unpark(ep, &mut flows, &mut parked, now);
        }
        if now >= hard || ctx.aborted() {
            let why = if ctx.aborted() {
                "the test was aborted"
            } else {
                "timed out"
            };
            for f in flows.iter_mut().filter(|f| f.phase != Phase::Done) {
                f.rep.error = Some(format!("connection {}: {why}", f.conn.plan.id));
                f.phase = Phase::Done;
            }
            break;
        }
        // At the end of the sending time, every bulk sender shuts down, writable or not.
        // (A requester finishes its transaction first: see RrIo::awaiting.)
        if now >= send_end && !ended_sending {
            ended_sending = true;
            for f in flows.iter_mut().filter(|f| f.phase == Phase::Sending) {
                start_finishing(ep, f);
            }
        }
        let mut wait = if ended_sending {
            50
        } else {
            (send_end - now).as_millis().clamp(1, 50) as i32
        };
        if let Some(d) = next_due {
            // Rounded up to whole milliseconds, epoll_wait's resolution: the pacing is exact
            // on average (it counts from the start), with bursts of up to a millisecond.
            let ms = d.saturating_duration_since(now).as_micros().div_ceil(1000);
            wait = wait.min(ms as i32);
        }
        // SAFETY: a valid epoll descriptor and a buffer of `events.len()` events.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, wait) };
        if n < 0 {
            continue; // EINTR
        }
        let now = Instant::now();
        for ev in &events[..n as usize] {
            let slot = ev.u64 as usize;
            let f = &mut flows[slot];
            let result = match f.phase {
                Phase::Sending => {
                    let mut r = Ok(false);
                    // An event while parked is an error or hang-up: the write reports it.
                    let mut pace = f.interest != 0;
                    for _ in 0..WRITES_PER_EVENT {
                        if let Some(p) = pacer.as_ref().filter(|_| pace && f.offset == 0) {
                            let due = p.due(f.rep.bytes_sent);
                            if due > now {
                                f.start = due;
                                set_interest(ep, f, 0);
                                parked.push(slot);
                                next_due = Some(next_due.map_or(due, |d| d.min(due)));
                                break;
                            }
                        }
                        pace = true;
                        match (&f.conn.sock).write(&wbuf[f.offset..]) {
                            Ok(k) => {
                                f.offset += k;
                                if f.offset == size {
                                    f.offset = 0;
                                    f.rep.bytes_sent += size as u64;
                                    f.rep.messages_sent += 1;
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                r = Err(format!("write: {e}"));
                                break;
                            }
                        }
                    }
                    r
                }
                Phase::Finishing | Phase::Receiving => drain(f, &mut rbuf, now, warm),
                Phase::Asking => rr_io.ask(ep, f).map(|_| false),
                Phase::Awaiting => rr_io.awaiting(ep, f, &mut rbuf, &mut hist),
                Phase::Serving => rr_io.serving(ep, f, &mut rbuf),
                Phase::Answering => rr_io.answer(ep, f).map(|_| false),
                Phase::Done => Ok(false),
            };
            match result {
                Ok(false) => {}
                Ok(true) => {
                    done(ep, f);
                    open -= 1;
                }
                Err(e) => {
                    f.rep.error = Some(format!("connection {}: {e}", f.conn.plan.id));
                    done(ep, f);
                    open -= 1;
                }
            }
        }
    }
    // SAFETY: closing the epoll descriptor we created.
    unsafe { libc::close(ep) };
    // This thread's CPU time, carried by its first report so that the sum is exact; the
    // worker's round trips by its first requesting connection.
    let cpu = thread_cpu_ns().saturating_sub(cpu0);
    let mut hist = (rr && flows.iter().any(|f| f.rep.active)).then_some(hist);
    for (i, mut f) in flows.into_iter().enumerate() {
        let _ = f.conn.sock.set_nonblocking(false);
        if rr {
            if f.rep.active {
                if let Some(h) = hist.take() {
                    f.rep.histograms = vec![EncodedHistogram::encode(RTT, &h)];
                }
            }
        } else if f.rep.active {
            // A partial message at the end was written too: count its bytes.
            f.rep.bytes_sent += f.offset as u64;
        } else {
            f.rep.messages_received = f.rep.bytes_received / size as u64;
        }
        finish_report(&mut f.rep, &ctx, f.last, f.intervals.take());
        f.rep.sndbuf_end = f.conn.sock.send_buffer_size().ok().map(|v| v as u64);
        f.rep.rcvbuf_end = f.conn.sock.recv_buffer_size().ok().map(|v| v as u64);
        if spec.protocol.is_tcp_like() {
            f.rep.tcp_info = sockopt::tcp_info(&f.conn.sock).ok();
        }
        f.rep.cpu_ns = if i == 0 { cpu } else { 0 };
        let _ = tx.send((f.rep, Instant::now()));
    }
}

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;

/// Registers `f` for `events` (IN, OUT, or 0: none but errors and hang-ups).
fn set_interest(ep: i32, f: &mut Flow, events: u32) {
    if f.interest == events {
        return;
    }
    f.interest = events;
    let mut ev = libc::epoll_event {
        events,
        u64: f.slot,
    };
    // SAFETY: valid descriptors; the socket is registered with this epoll.
    unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, f.conn.sock.as_raw_fd(), &mut ev) };
}

/// Registers `f` for writability (a write would block) or for readability.
fn want_out(ep: i32, f: &mut Flow, out: bool) {
    set_interest(ep, f, if out { OUT } else { IN });
}

/// Paced senders whose send time has come wait for writability again. Returns the
/// earliest send time of those still parked.
fn unpark(ep: i32, flows: &mut [Flow], parked: &mut Vec<usize>, now: Instant) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    parked.retain(|&i| {
        let f = &mut flows[i];
        if f.phase != Phase::Sending || f.interest != 0 {
            return false;
        }
        if f.start <= now {
            set_interest(ep, f, OUT);
            return false;
        }
        next = Some(next.map_or(f.start, |n| n.min(f.start)));
        true
    });
    next
}

/// Writes `buf[f.offset..]` until done (Ok(true)) or the socket is full (Ok(false)).
fn write_rest(f: &mut Flow, buf: &[u8]) -> Result<bool, String> {
    while f.offset < buf.len() {
        match (&f.conn.sock).write(&buf[f.offset..]) {
            Ok(k) => f.offset += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(true)
}

/// Reads toward `want` bytes in all. Ok(Some(true)) when they are in, Ok(Some(false)) when
/// the socket has no more now, Ok(None) at the peer's close.
fn read_toward(f: &mut Flow, want: usize, rbuf: &mut [u8]) -> Result<Option<bool>, String> {
    while f.offset < want {
        let room = (want - f.offset).min(rbuf.len());
        match (&f.conn.sock).read(&mut rbuf[..room]) {
            Ok(0) => return Ok(None),
            Ok(k) => f.offset += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Some(false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(Some(true))
}

/// The request/response steps, each counted as the thread-per-connection rr roles count.
struct RrIo<'a> {
    req: &'a [u8],
    resp: &'a [u8],
    warm: Instant,
    send_end: Instant,
}

impl RrIo<'_> {
    /// Requesting end: (the rest of) the request; then await the response.
    fn ask(&self, ep: i32, f: &mut Flow) -> Result<(), String> {
        f.phase = Phase::Asking;
        if !write_rest(f, self.req)? {
            want_out(ep, f, true);
            return Ok(());
        }
        f.rep.bytes_sent += self.req.len() as u64;
        f.rep.messages_sent += 1;
        (f.offset, f.phase) = (0, Phase::Awaiting);
        want_out(ep, f, false);
        Ok(())
    }

    /// Requesting end: the response; at its end the round trip is recorded and the next
    /// request goes out, or after the sending time the flow finishes.
    fn awaiting(
        &self,
        ep: i32,
        f: &mut Flow,
        rbuf: &mut [u8],
        hist: &mut hdrhistogram::Histogram<u64>,
    ) -> Result<bool, String> {
        match read_toward(f, self.resp.len(), rbuf)? {
            None => return Err("the peer closed before responding".into()),
            Some(false) => return Ok(false),
            Some(true) => {}
        }
        let done = Instant::now();
        if f.conn.knobs.requested.quickack {
            sockopt::rearm_quickack(&f.conn.sock);
        }
        let n = self.resp.len() as u64;
        f.rep.bytes_received += n;
        f.rep.messages_received += 1;
        if let Some(iv) = &mut f.intervals {
            iv.record(done, n, 1);
        }
        if f.start >= self.warm {
            hist.saturating_record(done.duration_since(f.start).as_nanos() as u64);
            f.rep.transactions += 1;
            f.rep.measured_bytes += n;
            f.last = Some(done);
        }
        f.offset = 0;
        if done >= self.send_end {
            start_finishing(ep, f);
            return Ok(false);
        }
        f.start = done;
        self.ask(ep, f)?;
        Ok(false)
    }

    /// Answering end: the request; then the response. Ok(true) at the requester's close.
    fn serving(&self, ep: i32, f: &mut Flow, rbuf: &mut [u8]) -> Result<bool, String> {
        loop {
            match read_toward(f, self.req.len(), rbuf)? {
                None if f.offset == 0 => return Ok(true),
                None => {
                    return Err(format!(
                        "the peer closed mid-message ({} of {} bytes)",
                        f.offset,
                        self.req.len()
                    ))
                }
                Some(false) => return Ok(false),
                Some(true) => {}
            }
            let now = Instant::now();
            if f.conn.knobs.requested.quickack {
                sockopt::rearm_quickack(&f.conn.sock);
            }
            let n = self.req.len() as u64;
            f.rep.bytes_received += n;
            f.rep.messages_received += 1;
            if now >= self.warm {
                f.rep.measured_bytes += n;
                f.last = Some(now);
            }
            (f.offset, f.phase) = (0, Phase::Answering);
            self.answer(ep, f)?;
            if f.phase != Phase::Serving {
                return Ok(false);
            }
        }
    }

    /// Answering end: (the rest of) the response; then the next request.
    fn answer(&self, ep: i32, f: &mut Flow) -> Result<(), String> {
        if !write_rest(f, self.resp)? {
            want_out(ep, f, true);
            return Ok(());
        }
        f.rep.bytes_sent += self.resp.len() as u64;
        f.rep.messages_sent += 1;
        (f.offset, f.phase) = (0, Phase::Serving);
        want_out(ep, f, false);
        Ok(())
    }
}

/// A flow has ended: out of epoll at once (an ended socket would stay readable), and a
/// receiving flow closes its side now, so that its peer — maybe on a worker that also
/// waits for flows of ours — sees the end without waiting for this worker's other flows.
fn done(ep: i32, f: &mut Flow) {
    f.phase = Phase::Done;
    // SAFETY: valid descriptors; the socket is registered with this epoll.
    unsafe {
        libc::epoll_ctl(
            ep,
            libc::EPOLL_CTL_DEL,
            f.conn.sock.as_raw_fd(),
            std::ptr::null_mut(),
        )
    };
    if !f.rep.active {
        let _ = f.conn.sock.shutdown(std::net::Shutdown::Write);
    }
}

/// The sending time is over: shut down for writing (a partial message's written bytes are
/// counted at the end) and wait for the peer's close.
fn start_finishing(ep: i32, f: &mut Flow) {
    let _ = f.conn.sock.shutdown(std::net::Shutdown::Write);
    f.phase = Phase::Finishing;
    set_interest(ep, f, IN);
}

/// Reads what is there. Ok(true) at the end of the stream.
fn drain(f: &mut Flow, rbuf: &mut [u8], now: Instant, warm: Instant) -> Result<bool, String> {
    loop {
        match (&f.conn.sock).read(rbuf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                if f.phase == Phase::Receiving {
                    f.rep.bytes_received += n as u64;
                    if let Some(iv) = &mut f.intervals {
                        iv.record(now, n as u64, 0);
                    }
                    if now >= warm {
                        f.rep.measured_bytes += n as u64;
                    }
                    f.last = Some(now);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if f.phase == Phase::Finishing && e.kind() == io::ErrorKind::ConnectionReset => {
                return Ok(true)
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}
