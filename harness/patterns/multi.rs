//! Many byte-stream flows on a few threads, neper's model: each worker owns a share of the
//! connections and drives them, non-blocking, through epoll. Used for stream tests with
//! more connections than threads are worth (`MULTI_THRESHOLD`); each connection still gets
//! its own report, counted exactly as the one-thread-per-connection roles count.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::mpsc::Sender;
use std::time::Instant;

use super::{finish_report, RoleCtx};
use crate::buffer::MsgBuf;
use crate::config::{ConnKind, Side};
use crate::measure::{thread_cpu_ns, IntervalCounter, RoleReport};
use crate::sockopt;
use crate::transport::DataConn;

/// Above this many connections on one side, stream roles run on epoll workers.
pub const MULTI_THRESHOLD: usize = 64;
/// Writes per readiness event, so that one fast connection cannot starve the others.
const WRITES_PER_EVENT: usize = 8;

/// Whether these connections can run on epoll workers: byte-stream bulk transfers only.
pub fn eligible(conns: &[DataConn], ctx: &RoleCtx) -> bool {
    conns.len() > MULTI_THRESHOLD
        && !ctx.spec.protocol.is_datagram()
        && conns.iter().all(|c| {
            c.plan.kind == ConnKind::Stream
                && !c.knobs.requested.zerocopy
                && !c.knobs.requested.spin
                && !c.knobs.requested.sendfile
                && !c.knobs.requested.splice
        })
}

#[derive(PartialEq)]
enum Phase {
    Sending,
    /// Shut down for writing; waiting for the peer's close.
    Finishing,
    Receiving,
    Done,
}

struct Flow {
    conn: DataConn,
    rep: RoleReport,
    phase: Phase,
    intervals: Option<IntervalCounter>,
    last: Option<Instant>,
    /// Bytes of the current message already written (a partial write).
    offset: usize,
    /// This flow's index in the worker's table, the epoll registration's data.
    slot: u64,
}

/// Runs `conns` on the calling thread with epoll; sends each connection's report when it
/// ends.
pub fn worker(conns: Vec<DataConn>, side: Side, ctx: RoleCtx, tx: Sender<(RoleReport, Instant)>) {
    let cpu0 = thread_cpu_ns();
    let spec = ctx.spec.clone();
    let size = spec.msg_size as usize;
    let wbuf = MsgBuf::new(size, 0x5a);
    let mut rbuf = MsgBuf::new(size.max(64 * 1024), 0);
    // SAFETY: epoll_create1 has no preconditions.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
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
            let intervals = (!active)
                .then(|| IntervalCounter::new(ctx.t0, spec.interval, spec.warmup + spec.duration));
            let phase = if active {
                Phase::Sending
            } else {
                Phase::Receiving
            };
            Flow {
                conn,
                rep,
                phase,
                intervals,
                last: None,
                offset: 0,
                slot: slot as u64,
            }
        })
        .collect();
    let interest = |f: &Flow| if f.phase == Phase::Sending { libc::EPOLLOUT } else { libc::EPOLLIN } as u32;
    for (i, f) in flows.iter_mut().enumerate() {
        let setup = f.conn.sock.set_nonblocking(true).and_then(|_| {
            let mut ev = libc::epoll_event {
                events: interest(f),
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
    let mut ended_sending = false;
    while open > 0 {
        let now = Instant::now();
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
        // At the end of the sending time, every sender shuts down, writable or not.
        if now >= send_end && !ended_sending {
            ended_sending = true;
            for f in flows.iter_mut().filter(|f| f.phase == Phase::Sending) {
                start_finishing(ep, f);
            }
        }
        let wait = if ended_sending {
            50
        } else {
            (send_end - now).as_millis().clamp(1, 50) as i32
        };
        // SAFETY: a valid epoll descriptor and a buffer of `events.len()` events.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, wait) };
        if n < 0 {
            continue; // EINTR
        }
        let now = Instant::now();
        for ev in &events[..n as usize] {
            let f = &mut flows[ev.u64 as usize];
            let result = match f.phase {
                Phase::Sending => {
                    let mut r = Ok(false);
                    for _ in 0..WRITES_PER_EVENT {
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
    // This thread's CPU time, carried by its first report so that the sum is exact.
    let cpu = thread_cpu_ns().saturating_sub(cpu0);
    for (i, mut f) in flows.into_iter().enumerate() {
        let _ = f.conn.sock.set_nonblocking(false);
        if f.rep.active {
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
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: f.slot,
    };
    // SAFETY: valid descriptors; the socket is registered with this epoll.
    unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, f.conn.sock.as_raw_fd(), &mut ev) };
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
