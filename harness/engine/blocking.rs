//! The blocking driver: one flow per thread, on a blocking socket whose receive and send
//! timeouts are [`POLL`], so that a call that would block waits in the kernel (today's
//! system calls, one per message) and returns `WouldBlock` after `POLL` at most. A step
//! that made progress is followed at once by the next; one that made none is followed by
//! the idle checks (the abort flag, the hard deadline, the stall limit). `--spin` makes
//! the socket non-blocking and steps in a loop instead.
//!
//! A flow that spawns flows (crr's acceptor) moves, with them, onto an epoll worker on
//! the same thread ([`super::epoll::Worker`]): bounded and accounted like any other. This
//! hand-off is the one import between the drivers (blocking uses epoll, never the other
//! way); what both use (the buffers, the histograms) lives in [`super::flow`].

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::flow::{histograms_for, Bufs, Flow, Want};
use super::{read_back, role_for, EngineError, RoleCtx, POLL, STALL};
use crate::measure::{thread_cpu_ns, EncodedHistogram, RoleReport};
use crate::net::transport::DataConn;
use crate::spec::config::Side;
use crate::sys::epoll as sys;
use crate::sys::RawFd;

/// Runs one role to its end on the calling thread (pinned as the knobs say) and reports
/// what it measured, read-backs and CPU time included.
pub fn run(conn: DataConn, side: Side, mut ctx: RoleCtx) -> RoleReport {
    // --spin: this side's roles poll non-blocking sockets in user space (crr makes a new
    // socket per transaction and keeps to blocking ones).
    ctx.spin = ctx.spec.knobs(side).spin && !conn.plan.kind.reconnects();
    // Pinned first, so that everything the role does runs where it was asked to.
    let pin = ctx
        .spec
        .knobs(side)
        .cpus
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| c[conn.plan.id as usize % c.len()]);
    let pinned = crate::measure::pin_thread(pin);
    let cpu0 = thread_cpu_ns();
    let mut flow = role_for(conn, side, &ctx);
    let mut rep = if pinned.is_ok() {
        run_flow(flow, &ctx)
    } else {
        let mut rep = std::mem::take(flow.report());
        read_back(&mut rep, flow.socket(), &ctx.spec);
        rep
    };
    match pinned {
        Ok(cpus) => rep.cpus = cpus,
        Err(e) => rep.error = Some(format!("connection {}: {e}", rep.conn)),
    }
    rep.cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    rep
}

/// How a driven flow ended.
enum Ended {
    Done,
    Failed(EngineError),
    /// It spawned flows: they and it go on to an epoll worker on this thread (with what
    /// the spawning step returned).
    Spawned(Vec<Box<dyn Flow>>, Result<Want, EngineError>),
}

/// Puts a (new) socket of a flow in the driver's mode.
fn configure(fd: Option<RawFd>, spin: bool) {
    if let Some(fd) = fd {
        if spin {
            let _ = sys::set_nonblocking(fd, true);
        } else {
            let _ = sys::set_nonblocking(fd, false);
            let _ = sys::set_timeouts(fd, POLL);
        }
    }
}

/// Runs a flow to its end on the calling thread.
pub fn run_flow(mut flow: Box<dyn Flow>, ctx: &RoleCtx) -> RoleReport {
    let mut bufs = Bufs::for_test(ctx);
    let [mut rtt, mut unc] = histograms_for(&*flow);
    if ctx.spec.rate.is_some() {
        sys::fine_timer_slack();
    }
    let ended = drive(&mut *flow, ctx, &mut bufs, [&mut rtt, &mut unc]);
    let mut none = Vec::new();
    let mut cx = bufs.cx(ctx, [&mut rtt, &mut unc], &mut none);
    match ended {
        Ended::Done => {}
        Ended::Failed(e) => {
            if matches!(
                e,
                EngineError::Aborted(_) | EngineError::TimedOut(_) | EngineError::Stalled { .. }
            ) {
                flow.cancel(&mut cx);
            }
            let rep = flow.report();
            rep.error = Some(format!("connection {}: {e}", rep.conn));
        }
        Ended::Spawned(children, stepped) => {
            let mut w = super::epoll::Worker::new(ctx.clone(), [rtt, unc]);
            let parent = w.adopt(flow, stepped);
            for c in children {
                w.add(c, Some(parent));
            }
            return w.run().into_iter().next().unwrap_or_default();
        }
    }
    flow.finish(&mut cx);
    let mut rep = std::mem::take(flow.report());
    read_back(&mut rep, flow.socket(), &ctx.spec);
    for (name, h) in flow.histograms().iter().zip([&rtt, &unc]) {
        rep.histograms.push(EncodedHistogram::encode(name, h));
    }
    rep
}

/// Steps a flow until it is done, fails, or spawns flows.
fn drive(
    flow: &mut dyn Flow,
    ctx: &RoleCtx,
    bufs: &mut Bufs,
    [rtt, unc]: [&mut Histogram<u64>; 2],
) -> Ended {
    let mut fd = flow.fd();
    configure(fd, ctx.spin);
    let mut spawned = Vec::new();
    let mut progress = flow.progress();
    let mut last_progress = Instant::now();
    loop {
        let mut cx = bufs.cx(ctx, [&mut *rtt, &mut *unc], &mut spawned);
        let now = cx.now;
        let stepped = flow.step(&mut cx);
        if !spawned.is_empty() {
            return Ended::Spawned(spawned, stepped);
        }
        let want = match stepped {
            Ok(Want::Done) => return Ended::Done,
            Ok(w) => w,
            Err(e) => return Ended::Failed(e),
        };
        if flow.fd() != fd {
            fd = flow.fd();
            configure(fd, ctx.spin);
        }
        let p = flow.progress();
        let moved = p != progress;
        if moved {
            (progress, last_progress) = (p, now);
        }
        match want {
            Want::Until(t) => {
                sleep_until(t, ctx);
                // A timed wait is the flow's own, not a stall.
                last_progress = Instant::now();
                if let Err(e) = idle(ctx, flow.doing(want), last_progress) {
                    return Ended::Failed(e);
                }
                continue;
            }
            Want::ReadUntil(t) => {
                if let Some(fd) = fd {
                    let left = t.saturating_duration_since(Instant::now());
                    sys::wait_raw(fd, false, left.min(POLL));
                }
            }
            _ if moved => continue,
            _ if ctx.spin => std::hint::spin_loop(),
            // The call returned at once without progress (it did not block): wait here.
            w if Instant::now().duration_since(now) < POLL / 2 => {
                if let Some(fd) = fd {
                    sys::wait_raw(fd, matches!(w, Want::Write | Want::ReadWrite), POLL);
                }
            }
            _ => {}
        }
        if !moved {
            if let Err(e) = idle(ctx, flow.doing(want), last_progress) {
                return Ended::Failed(e);
            }
        } else if ctx.aborted() {
            // A flow whose waits count as progress (a datagram receiver before the
            // sender's nominal end) still stops when the test is aborted.
            return Ended::Failed(EngineError::Aborted(flow.doing(want)));
        }
    }
}

/// The checks after a step without progress: the abort flag, the hard deadline, the
/// stall limit.
pub(crate) fn idle(ctx: &RoleCtx, what: &'static str, since: Instant) -> Result<(), EngineError> {
    if ctx.aborted() {
        return Err(EngineError::Aborted(what));
    }
    let now = Instant::now();
    if now >= ctx.hard_deadline() {
        return Err(EngineError::TimedOut(what));
    }
    if now.duration_since(since) >= STALL {
        return Err(EngineError::Stalled {
            what,
            secs: STALL.as_secs(),
        });
    }
    Ok(())
}

/// Sleeps until `t`, in slices that watch the abort flag.
fn sleep_until(t: Instant, ctx: &RoleCtx) {
    loop {
        let now = Instant::now();
        if now >= t || ctx.aborted() {
            return;
        }
        std::thread::sleep((t - now).min(POLL).max(Duration::from_nanos(1)));
    }
}
