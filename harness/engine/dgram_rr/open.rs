//! The open-loop requester over datagrams (`--rate`): requests on a schedule, their
//! records in a ring until their responses or their timeouts.

use super::*;

/// One request's record in the open-loop ring: its sequence number, intended and actual
/// send times, and size.
#[derive(Clone, Copy)]
struct Sent {
    seq: u64,
    intended: Instant,
    actual: Instant,
    bytes: u64,
}

/// The open-loop requester over datagrams: requests leave on a schedule whatever the
/// responses do; each request's send times sit in a ring indexed by its sequence number,
/// where its response finds them, or counts as late.
pub struct DgramRrOpen {
    core: FlowCore,
    ctx: RoleCtx,
    ring: Vec<Sent>,
    seqs: SeqTracker,
    /// The mean gap between requests (1 / rate).
    period: Duration,
    timeout: Duration,
    schedule: Schedule,
    seq: u64,
    last_send: Instant,
    /// The size of the request about to go (0: not drawn yet).
    req_len: usize,
    req_sizes: Sizes,
    markers: Option<EndMarkers>,
}

impl DgramRrOpen {
    pub fn new(conn: DataConn, ctx: &RoleCtx, rep: RoleReport, rate: u64) -> DgramRrOpen {
        let spec = &ctx.spec;
        let id = conn.plan.id;
        let (req_sizes, resp_sizes) = rr_sizes(ctx, id);
        let sizes = rr_buckets(&req_sizes, &resp_sizes, true);
        let period = Duration::from_secs_f64(1.0 / rate as f64);
        // Room for every request that can be outstanding within the timeout (past which
        // a response is late anyway), twice over, and a margin for a burst of Poisson
        // arrivals: a slot is reused only after its request is long late. Small, so that
        // ten thousand requesters at 10/s cost kilobytes each.
        let outstanding =
            (spec.rr_timeout.as_secs_f64() / period.as_secs_f64()) as usize * 2 + RING_MARGIN;
        let cap = outstanding.next_power_of_two().min(1 << 22);
        let empty = Sent {
            seq: u64::MAX,
            intended: ctx.t0,
            actual: ctx.t0,
            bytes: 0,
        };
        DgramRrOpen {
            core: FlowCore::new(conn, rep, ctx)
                .with_sizes(sizes)
                .with_intervals(ctx),
            ring: vec![empty; cap],
            seqs: SeqTracker::with_capacity(seq_room(&ctx.spec)),
            period,
            timeout: spec.rr_timeout,
            schedule: Schedule::new(ctx, id, rate),
            seq: 0,
            last_send: ctx.t0,
            req_len: 0,
            req_sizes,
            markers: None,
            ctx: ctx.clone(),
        }
    }

    /// Whether requests still go ([`Schedule::sending`]) and the test goes on.
    fn sending(&self) -> bool {
        self.schedule.sending(Instant::now()) && !self.ctx.aborted()
    }

    /// Sends every request that is due at `now` (and before the end of the sending
    /// time), as far as the socket takes them.
    fn send_due(&mut self, now: Instant, scratch: &mut [u8]) -> Result<(), EngineError> {
        let (id, mask) = (self.core.conn.plan.id, self.ring.len() - 1);
        while self.schedule.due(now) {
            if self.req_len == 0 {
                self.req_len = self.req_sizes.next();
            }
            let req = &mut scratch[..self.req_len];
            dgram::put_header(req, self.seq, dgram::REQUEST, id);
            match send_nowait(&self.core.conn.sock, req) {
                Ok(_) => {
                    let bytes = self.req_len as u64;
                    self.ring[(self.seq as usize) & mask] = Sent {
                        seq: self.seq,
                        intended: self.schedule.advance(),
                        actual: now,
                        bytes,
                    };
                    self.core.rep.messages_sent += 1;
                    self.core.rep.bytes_sent += bytes;
                    self.last_send = now;
                    self.seq += 1;
                    self.req_len = 0;
                }
                Err(e) => {
                    match send_failed(&self.ctx, e, Some(&mut self.core.rep.refused), "send")? {
                        SendFail::Full | SendFail::NoBufs => break,
                        // The request goes again.
                        SendFail::Again => {}
                        // The sending ends.
                        SendFail::PeerGone => {
                            self.schedule.stop();
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Accounts a response of `n` bytes (in the scratch space) that arrived at `done`.
    fn response(&mut self, cx: &mut Cx, n: usize, done: Instant) {
        let Some((s, dgram::RESPONSE, c)) = dgram::header(&cx.scratch[..n]) else {
            return;
        };
        if c != self.core.conn.plan.id || !self.seqs.record(s) {
            return;
        }
        let bytes = n as u64;
        self.core.received(bytes);
        let slot = self.ring[(s as usize) & (self.ring.len() - 1)];
        if slot.seq != s || done.duration_since(slot.intended) > self.timeout + self.period {
            self.core.rep.late += 1;
            return;
        }
        let core = &mut self.core;
        if core
            .transaction(cx.rtt, slot.intended, done, bytes, slot.bytes)
            .is_some()
        {
            let unc = done.duration_since(slot.actual).as_nanos() as u64;
            cx.rtt_uncorrected.saturating_record(unc);
        }
    }

    /// Takes one response if one is there: true if it did.
    fn recv_one(&mut self, cx: &mut Cx) -> Result<bool, EngineError> {
        match recv_nowait(&self.core.conn.sock, cx.scratch) {
            Ok(n) => {
                self.response(cx, n, Instant::now());
                Ok(true)
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) if e.raw_os_error() == Some(errno::ECONNREFUSED) => {
                self.core.rep.refused += 1;
                Ok(false)
            }
            Err(e) => Err(EngineError::io("receive")(e)),
        }
    }
}

impl CoreFlow for DgramRrOpen {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        if let Some(m) = &mut self.markers {
            return Ok(m.step(&self.core.conn.sock, Instant::now()));
        }
        for _ in 0..CALLS_PER_STEP {
            let now = Instant::now();
            let sending = self.sending();
            let answered = self.core.rep.messages_received >= self.core.rep.messages_sent;
            if !sending && (answered || now >= self.last_send + self.timeout) {
                let (conn, count) = (self.core.conn.plan.id, self.seq);
                return Ok(EndMarkers::start(&mut self.markers, conn, count, now));
            }
            if sending {
                self.send_due(now, cx.scratch)?;
            }
            if !self.recv_one(cx)? {
                break;
            }
        }
        Ok(Want::ReadUntil(if self.sending() {
            self.schedule.next_due
        } else {
            self.last_send + self.timeout
        }))
    }

    fn finish(&mut self, cx: &mut Cx) {
        let rep = &mut self.core.rep;
        rep.timeouts = rep.messages_sent.saturating_sub(rep.messages_received);
        self.core.count_seqs(&self.seqs);
        self.core.finish(cx.ctx);
    }

    fn doing(&self, _want: Want) -> &'static str {
        "open-loop requests"
    }

    fn histograms(&self) -> &'static [&'static str] {
        &[RTT, RTT_UNCORRECTED]
    }
}
