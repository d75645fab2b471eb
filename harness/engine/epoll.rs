//! The epoll driver: many flows per worker thread, neper's model. Each worker owns a share
//! of the connections (dealt by flow, see `session::roles::spawn_roles`), puts their sockets in
//! non-blocking mode, and steps a flow when what it wants comes: readiness (level
//! triggered, interest from [`Want`]), or its instant (a binary heap of timers; the wait
//! is rounded up to epoll_wait's millisecond, so pacing is exact on average with bursts of
//! up to a millisecond). At the hard deadline or the abort flag every open flow is
//! cancelled and reported with the error; a flow without progress for the stall limit
//! (the peer or the path is gone) ends with that error, as on the blocking driver.
//!
//! Each flow still gets its own report, counted by the same code as on the blocking
//! driver. Round trips go into one HdrHistogram per worker (a histogram per connection
//! would cost ~100 KB each), attached to the worker's first flow that records them, so
//! that the merged histogram is the same. The worker's CPU time goes to its first report.
//! A flow that ends is closed at once, so that its peer (maybe on a worker that also
//! waits for flows of ours) sees the end without waiting for this worker's other flows.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::flow::{Bufs, Flow, Want};
use super::{read_back, EngineError, RoleCtx, STALL};
use crate::measure::{latency_histogram, thread_cpu_ns, EncodedHistogram, RoleReport};
use crate::sys::epoll::{self as sys, Epoll, IN, OUT};
use crate::sys::{AsRawFd, RawFd};

/// Events per epoll_wait.
const EVENTS: usize = 256;
/// The longest wait, so that the deadline and the abort flag are looked at.
const TICK: Duration = Duration::from_millis(50);
/// How often a worker looks for flows that have made no progress for the stall limit.
const SWEEP: Duration = Duration::from_secs(1);

/// One flow on a worker.
struct Slot {
    flow: Option<Box<dyn Flow>>,
    /// The descriptor registered with epoll, and for what.
    fd: Option<RawFd>,
    interest: u32,
    /// The instant the flow waits for, if any (a heap entry with another instant is stale).
    timer: Option<Instant>,
    /// Whether the slot is in the run queue.
    queued: bool,
    /// The flow that spawned this one: its counts go there when it ends.
    parent: Option<usize>,
    /// The last thing it wanted, for the error message of a cancelled flow.
    want: Want,
    /// Its progress at the last sweep, and since when it has not moved.
    seen: u64,
    since: Instant,
}

/// A worker: flows, their epoll set, timers, and the buffers and histograms they share.
pub struct Worker {
    ctx: RoleCtx,
    ep: Option<Epoll>,
    slots: Vec<Slot>,
    /// Reports of ended flows, by slot.
    reports: Vec<Option<RoleReport>>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    queue: Vec<usize>,
    bufs: Bufs,
    hists: [Histogram<u64>; 2],
    /// Which slot's report carries each histogram, and under which name.
    hist_owner: [Option<(usize, &'static str)>; 2],
    open: usize,
    /// When to look for flows stalled past the stall limit next.
    sweep_at: Instant,
}

/// Runs `flows` on the calling thread until every one has ended; their reports, in order.
pub fn run_worker(flows: Vec<Box<dyn Flow>>, ctx: RoleCtx) -> Vec<RoleReport> {
    let cpu0 = thread_cpu_ns();
    let mut w = Worker::new(ctx, [latency_histogram(), latency_histogram()]);
    for f in flows {
        w.add(f, None);
    }
    let mut reports = w.run();
    if let Some(first) = reports.first_mut() {
        first.cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    }
    reports
}

impl Worker {
    /// A worker whose flows record round trips into `hists` (rtt, rtt_uncorrected).
    pub fn new(ctx: RoleCtx, hists: [Histogram<u64>; 2]) -> Worker {
        if ctx.spec.rate.is_some() {
            sys::fine_timer_slack();
        }
        Worker {
            bufs: Bufs::for_test(&ctx),
            ctx,
            ep: None,
            slots: Vec::new(),
            reports: Vec::new(),
            timers: BinaryHeap::new(),
            queue: Vec::new(),
            hists,
            hist_owner: [None, None],
            open: 0,
            sweep_at: Instant::now() + SWEEP,
        }
    }

    /// Adds a flow (spawned by `parent`, if any); it takes its first step on the next turn.
    pub fn add(&mut self, flow: Box<dyn Flow>, parent: Option<usize>) {
        // Non-blocking before its first step: a flow's first read must not wait. Its
        // read-back socket too, from which a flow that makes sockets of its own (crr's
        // requester) learns the driver's mode. A spawned flow's socket was made
        // non-blocking by its spawner.
        if parent.is_none() {
            let read_back = flow.socket().map(|s| s.as_raw_fd());
            for fd in [flow.fd(), read_back.filter(|&r| Some(r) != flow.fd())] {
                let _ = fd.map(|fd| sys::set_nonblocking(fd, true));
            }
        }
        let i = self.slots.len();
        self.slots.push(Slot {
            flow: Some(flow),
            fd: None,
            interest: 0,
            timer: None,
            queued: true,
            parent,
            want: Want::Read,
            seen: 0,
            since: Instant::now(),
        });
        self.reports.push(None);
        self.queue.push(i);
        self.open += 1;
    }

    /// Takes over a flow another driver has stepped, with what its last step returned;
    /// its slot.
    pub fn adopt(&mut self, flow: Box<dyn Flow>, stepped: Result<Want, EngineError>) -> usize {
        self.add(flow, None);
        let i = self.slots.len() - 1;
        match stepped {
            Ok(Want::Done) | Err(_) => {
                self.queue.retain(|&q| q != i);
                self.slots[i].queued = false;
                let flow = self.slots[i].flow.take().expect("just added");
                self.end(i, flow, stepped.err().map(|e| e.to_string()));
            }
            Ok(_) => {}
        }
        i
    }

    /// Runs every flow to its end; the reports of the flows nobody spawned, in order.
    pub fn run(mut self) -> Vec<RoleReport> {
        match Epoll::new(EVENTS) {
            Ok(ep) => self.ep = Some(ep),
            Err(e) => self.end_all(&EngineError::io("epoll")(e).to_string()),
        }
        let mut ready = Vec::with_capacity(EVENTS);
        while self.open > 0 {
            let now = Instant::now();
            if now >= self.ctx.hard_deadline() || self.ctx.aborted() {
                let why = if self.ctx.aborted() {
                    EngineError::Aborted("")
                } else {
                    EngineError::TimedOut("")
                };
                self.end_all(&why.to_string());
                break;
            }
            self.expire(now);
            if now >= self.sweep_at {
                self.sweep(now);
                self.sweep_at = now + SWEEP;
            }
            for i in std::mem::take(&mut self.queue) {
                self.slots[i].queued = false;
                self.step(i);
            }
            let wait = if self.queue.is_empty() && !self.ctx.spin {
                let next = self.timers.peek().map(|Reverse((t, _))| *t);
                next.map_or(TICK, |t| {
                    t.saturating_duration_since(Instant::now()).min(TICK)
                })
            } else {
                Duration::ZERO
            };
            let Some(ep) = self.ep.as_mut() else { break };
            ready.clear();
            ready.extend(ep.wait(wait).iter().map(|r| r.token as usize));
            for &i in &ready {
                self.enqueue(i);
            }
        }
        self.collect()
    }

    fn enqueue(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if !s.queued && s.flow.is_some() {
            s.queued = true;
            self.queue.push(i);
        }
    }

    /// Flows whose instant has come go to the run queue.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.slots[i].timer == Some(t) {
                self.slots[i].timer = None;
                self.enqueue(i);
            }
        }
    }

    /// One step of flow `i`, and what follows from what it wants.
    fn step(&mut self, i: usize) {
        let Some(mut flow) = self.slots[i].flow.take() else {
            return;
        };
        let mut spawned = Vec::new();
        let [rtt, unc] = &mut self.hists;
        let mut cx = self.bufs.cx(&self.ctx, [rtt, unc], &mut spawned);
        let result = flow.step(&mut cx);
        for child in spawned {
            self.add(child, Some(i));
        }
        match result {
            Ok(Want::Done) => self.end(i, flow, None),
            Ok(want) => {
                self.slots[i].flow = Some(flow);
                self.arm(i, want);
            }
            Err(e) => self.end(i, flow, Some(e.to_string())),
        }
    }

    /// Registers flow `i` for what it wants.
    fn arm(&mut self, i: usize, want: Want) {
        let Some(ep) = self.ep.as_ref() else { return };
        let s = &mut self.slots[i];
        s.want = want;
        let fd = s.flow.as_ref().and_then(|f| f.fd());
        let interest = match want {
            Want::Read | Want::ReadUntil(_) => IN,
            Want::Write => OUT,
            Want::ReadWrite => IN | OUT,
            Want::Until(_) | Want::Done => 0,
        };
        if fd != s.fd {
            if let Some(old) = s.fd.take() {
                ep.delete(old);
            }
            if let Some(new) = fd {
                // A descriptor a flow changes to is non-blocking from its birth (the
                // flow's rule): no fcntl here.
                if ep.add(new, interest, i as u64).is_ok() {
                    (s.fd, s.interest) = (Some(new), interest);
                }
            }
        } else if let Some(fd) = fd.filter(|_| interest != s.interest) {
            let _ = ep.modify(fd, interest, i as u64);
            s.interest = interest;
        }
        match want {
            Want::Until(t) | Want::ReadUntil(t) => {
                if t <= Instant::now() {
                    s.timer = None;
                    self.enqueue(i);
                } else if s.timer != Some(t) {
                    s.timer = Some(t);
                    self.timers.push(Reverse((t, i)));
                }
            }
            _ => s.timer = None,
        }
    }

    /// Flow `i` has ended (with an error, if any): its accounting closed, its socket read
    /// back and closed, its counts into its parent's report if it was spawned.
    fn end(&mut self, i: usize, mut flow: Box<dyn Flow>, error: Option<String>) {
        let s = &mut self.slots[i];
        s.timer = None;
        if let (Some(fd), Some(ep)) = (s.fd.take(), self.ep.as_ref()) {
            ep.delete(fd);
        }
        let (mut none, [rtt, unc]) = (Vec::new(), &mut self.hists);
        let mut cx = self.bufs.cx(&self.ctx, [rtt, unc], &mut none);
        if let Some(e) = error {
            let rep = flow.report();
            rep.error = Some(format!("connection {}: {e}", rep.conn));
        }
        flow.finish(&mut cx);
        let mut rep = std::mem::take(flow.report());
        read_back(&mut rep, flow.socket(), &self.ctx.spec);
        let root = self.root(i);
        for (k, name) in flow.histograms().iter().enumerate().take(2) {
            self.hist_owner[k].get_or_insert((root, *name));
        }
        drop(flow);
        self.open -= 1;
        match self.slots[i].parent {
            Some(p) => match (&mut self.slots[p].flow, &mut self.reports[p]) {
                (Some(f), _) => f.report().absorb(&rep),
                (None, Some(r)) => r.absorb(&rep),
                (None, None) => {}
            },
            None => self.reports[i] = Some(rep),
        }
    }

    /// Ends the flows that have made no progress for the stall limit (the peer or the path
    /// is gone), as the blocking driver does; a flow waiting for its own instant is not
    /// stalled.
    fn sweep(&mut self, now: Instant) {
        let mut stalled = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(flow) = s.flow.as_ref() else {
                continue;
            };
            let p = flow.progress();
            if p != s.seen || matches!(s.want, Want::Until(_)) {
                (s.seen, s.since) = (p, now);
            } else if now.duration_since(s.since) >= STALL {
                stalled.push(i);
            }
        }
        for i in stalled {
            let Some(flow) = self.slots[i].flow.take() else {
                continue;
            };
            let what = flow.doing(self.slots[i].want);
            let e = EngineError::Stalled {
                what,
                secs: STALL.as_secs(),
            };
            self.cancel_and_end(i, flow, e.to_string());
        }
    }

    /// The flow nobody spawned that flow `i` descends from.
    fn root(&self, mut i: usize) -> usize {
        while let Some(p) = self.slots[i].parent {
            i = p;
        }
        i
    }

    /// The deadline or the abort flag: every open flow is cancelled and ends with `why`.
    /// Spawned flows end first, so that their counts reach their parents.
    fn end_all(&mut self, why: &str) {
        for i in (0..self.slots.len()).rev() {
            let Some(flow) = self.slots[i].flow.take() else {
                continue;
            };
            let doing = flow.doing(self.slots[i].want);
            self.cancel_and_end(i, flow, format!("{doing}{why}"));
        }
    }

    /// Flow `i` stops where it is (`Flow::cancel`) and ends with `error`.
    fn cancel_and_end(&mut self, i: usize, mut flow: Box<dyn Flow>, error: String) {
        let (mut none, [rtt, unc]) = (Vec::new(), &mut self.hists);
        let mut cx = self.bufs.cx(&self.ctx, [rtt, unc], &mut none);
        flow.cancel(&mut cx);
        self.end(i, flow, Some(error));
    }

    /// The reports of the flows nobody spawned, histograms attached.
    fn collect(mut self) -> Vec<RoleReport> {
        for (k, owner) in self.hist_owner.iter().enumerate() {
            if let Some((i, name)) = owner {
                if let Some(r) = self.reports[*i].as_mut() {
                    r.histograms
                        .push(EncodedHistogram::encode(name, &self.hists[k]));
                }
            }
        }
        let roots = self.slots.iter().map(|s| s.parent.is_none());
        self.reports
            .into_iter()
            .zip(roots)
            .filter_map(|(r, root)| r.filter(|_| root))
            .collect()
    }
}
