//! The open-loop requester (`--rate`) and the pipelined one (`--pipeline`).

use super::*;

/// One outstanding request of the open-loop requester: intended and actual send time, its
/// size, and (pipelined) its id.
type Inflight = (Instant, Instant, u64, u64);

/// The open-loop requester (`--rate`: requests on a schedule, several outstanding), and
/// the pipelined one (a window of outstanding requests instead of a schedule). Socket
/// calls here never wait (MSG_DONTWAIT), on either driver: the schedule is the flow's.
pub struct OpenRequester {
    core: FlowCore,
    closing: Option<Closing>,
    /// Pipelined: at most this many requests outstanding.
    window: Option<usize>,
    schedule: Schedule,
    inflight: VecDeque<Inflight>,
    /// The request being written (its bytes gone so far) and its size.
    write_off: Option<usize>,
    req_len: usize,
    req_sizes: Sizes,
    /// Where a pipelined request carries its id.
    req_id_off: usize,
    next_id: u64,
    resp_size: usize,
    /// Responses taken apart by their headers (framed or pipelined), or counted by size.
    split: Option<Framer>,
    split_done: Vec<(u64, u64)>,
    partial: usize,
    /// The most one read takes.
    chunk: usize,
    end: Instant,
}

impl OpenRequester {
    pub fn new(conn: DataConn, rep: RoleReport, ctx: &RoleCtx) -> OpenRequester {
        let spec = &ctx.spec;
        let id = conn.plan.id;
        let (req_sizes, resp_sizes) = rr_sizes(ctx, id);
        let sizes = rr_buckets(&req_sizes, &resp_sizes, true);
        let resp_size = resp_sizes.fixed();
        let window = (spec.pipeline > 1).then_some(spec.pipeline as usize);
        let rate = spec.rate.unwrap_or(1);
        let resp_framed = resp_sizes.framed();
        let id_at = if resp_framed { HDR } else { 0 };
        // A header, and an id when pipelined, at least.
        let least = HDR + window.map_or(0, |_| 8);
        let split = (resp_framed || window.is_some())
            .then(|| Framer::new(resp_framed, resp_size, least, window.map(|_| id_at)));
        OpenRequester {
            core: FlowCore::new(conn, rep, ctx)
                .with_sizes(sizes)
                .with_intervals(ctx),
            closing: None,
            window,
            schedule: Schedule::new(ctx, id, rate),
            inflight: VecDeque::with_capacity(1024),
            write_off: None,
            req_len: 0,
            req_id_off: if req_sizes.framed() { HDR } else { 0 },
            req_sizes,
            next_id: 0,
            resp_size,
            split_done: Vec::with_capacity(if split.is_some() { 4096 } else { 0 }),
            split,
            partial: 0,
            chunk: resp_size.clamp(4096, 1 << 20),
            end: ctx.send_end(),
        }
    }

    /// Issues every request that is due, as far as the socket takes them.
    fn issue(&mut self, now: Instant, sending: bool, out: &mut [u8]) -> Result<(), EngineError> {
        loop {
            let due = match self.window {
                Some(w) => self.inflight.len() < w,
                None => self.schedule.due(now),
            };
            if self.write_off.is_none() && sending && due {
                self.req_len = self.req_sizes.next();
                if self.window.is_some() {
                    // Closed loop: a request is due when the window has room, and its time
                    // counts from when it goes.
                    let at = Instant::now();
                    self.inflight
                        .push_back((at, at, self.req_len as u64, self.next_id));
                    self.next_id += 1;
                    let n = self.inflight.len() as u64;
                    self.core.rep.max_in_flight = self.core.rep.max_in_flight.max(n);
                } else {
                    let len = self.req_len as u64;
                    let at = self.schedule.advance();
                    self.inflight.push_back((at, now, len, 0));
                }
                self.write_off = Some(0);
            }
            let Some(off) = self.write_off else {
                return Ok(());
            };
            if self.req_sizes.framed() && off < HDR {
                put_frame(out, self.req_len as u32);
            }
            if let Some(&(_, _, _, id)) = self.inflight.back().filter(|_| self.window.is_some()) {
                let at = self.req_id_off;
                out[at..at + 8].copy_from_slice(&id.to_le_bytes());
            }
            match send_nowait(&self.core.conn.sock, &out[off..self.req_len]) {
                Ok(n) if off + n == self.req_len => {
                    self.write_off = None;
                    self.core.rep.bytes_sent += self.req_len as u64;
                    self.core.rep.messages_sent += 1;
                }
                Ok(n) => self.write_off = Some(off + n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(EngineError::io("write")(e)),
            }
        }
    }

    fn record(&mut self, cx: &mut Cx, inflight: Inflight, done: Instant, bytes: u64) {
        let (intended, actual, req_bytes, _) = inflight;
        self.core.rep.messages_received += 1;
        if let Some(b) = &mut self.core.sizes {
            b.record(bytes);
        }
        let core = &mut self.core;
        if core
            .transaction(cx.rtt, intended, done, bytes, req_bytes)
            .is_some()
        {
            let unc = done.duration_since(actual).as_nanos() as u64;
            cx.rtt_uncorrected.saturating_record(unc);
        }
    }

    fn oldest(&mut self) -> Result<Inflight, EngineError> {
        self.inflight
            .pop_front()
            .ok_or_else(|| EngineError::Protocol("a response to no request".into()))
    }

    /// Takes the `n` bytes of responses just read.
    fn take(&mut self, cx: &mut Cx, n: usize) -> Result<(), EngineError> {
        let done = Instant::now();
        self.core.rep.bytes_received += n as u64;
        let Some(split) = &mut self.split else {
            self.partial += n;
            while self.partial >= self.resp_size {
                self.partial -= self.resp_size;
                let f = self.oldest()?;
                self.record(cx, f, done, self.resp_size as u64);
            }
            return Ok(());
        };
        // The responses this read completed, in order: their sizes, and (pipelined) the
        // ids of the requests they answer.
        let mut finished = std::mem::take(&mut self.split_done);
        finished.clear();
        split.feed(&cx.scratch[..n], |size, id| finished.push((size, id)))?;
        for &(size, id) in &finished {
            let f = self.oldest()?;
            if self.window.is_some() && id != f.3 {
                return Err(EngineError::Protocol(format!(
                    "a response carries request id {id}; the oldest outstanding request is {}",
                    f.3
                )));
            }
            self.record(cx, f, done, size);
        }
        self.split_done = finished;
        Ok(())
    }

    /// Whether requests still go: on a schedule, as [`Schedule::sending`] says; pipelined,
    /// until the end.
    fn sending(&self, now: Instant, ctx: &RoleCtx) -> bool {
        let more = if self.window.is_some() {
            now < self.end
        } else {
            self.schedule.sending(now)
        };
        more && !ctx.aborted()
    }

    /// What lets the next move happen: room for the request under way, the next send
    /// time (open loop), room in the window (pipelined), or responses.
    fn waits_for(&self, sending: bool) -> Want {
        if self.write_off.is_some() {
            Want::ReadWrite
        } else if sending && self.window.is_none() {
            Want::ReadUntil(self.schedule.next_due)
        } else if sending && self.window.is_some_and(|w| self.inflight.len() < w) {
            Want::Write
        } else {
            Want::Read
        }
    }

    /// One round: issue what is due, take what has come. `Some(want)` when it must wait.
    fn turn(&mut self, cx: &mut Cx) -> Result<Option<Want>, EngineError> {
        let now = Instant::now();
        let sending = self.sending(now, cx.ctx);
        if !sending && self.inflight.is_empty() && self.write_off.is_none() {
            self.closing = Some(Closing::Start);
            return Ok(None);
        }
        self.issue(now, sending, cx.out)?;
        let chunk = self.chunk.min(cx.scratch.len());
        let got = recv_nowait(&self.core.conn.sock, &mut cx.scratch[..chunk]);
        match got {
            Ok(0) => Err(EngineError::Protocol(
                "the peer closed with responses outstanding".into(),
            )),
            Ok(n) => self.take(cx, n).map(|_| None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Some(self.waits_for(sending))),
            Err(e) => Err(EngineError::io("read")(e)),
        }
    }
}

impl CoreFlow for OpenRequester {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for _ in 0..CALLS_PER_STEP {
            if let Some(c) = &mut self.closing {
                return c.step(&self.core.conn.sock, cx.scratch);
            }
            if let Some(want) = self.turn(cx)? {
                return Ok(want);
            }
        }
        let sending = self.sending(Instant::now(), cx.ctx);
        Ok(self.waits_for(sending))
    }

    fn progress(&self) -> u64 {
        let r = &self.core.rep;
        r.bytes_sent + r.bytes_received + self.write_off.unwrap_or(0) as u64
    }

    fn doing(&self, want: Want) -> &'static str {
        match (self.closing, want) {
            (Some(_), _) => "waiting for the peer to finish",
            (None, Want::ReadWrite) => "write",
            _ if Instant::now() >= self.end => "waiting for the last responses",
            _ => "open-loop requests",
        }
    }

    fn histograms(&self) -> &'static [&'static str] {
        if self.window.is_some() {
            &[RTT]
        } else {
            &[RTT, RTT_UNCORRECTED]
        }
    }
}
