//! crr's answering end: the acceptor on the test's listener, and a flow for every
//! connection it accepts, counting into the acceptor's tally.

use super::*;

/// What the connections one acceptor served add up to, and what they share: the
/// response sizes (one seeded sequence, drawn in the order requests arrive).
struct Served {
    /// Bytes, messages, the measured bytes and connections, for the acceptor's report.
    counts: RoleReport,
    last: Option<Instant>,
    buckets: Option<SizeBuckets>,
    resp: Sizes,
    /// Served connections still running.
    live: usize,
}

type Tally = Arc<Mutex<Served>>;

fn tally(t: &Tally) -> std::sync::MutexGuard<'_, Served> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a served connection is.
enum Serve {
    /// Reading the test's header (`got` of 16 bytes), accepted at `since`.
    Greeting {
        since: Instant,
        got: usize,
        hdr: [u8; STREAM_HEADER_LEN],
    },
    /// Reading request `i`.
    Request { i: u32 },
    /// Writing request `i`'s response (`off` of `rs` bytes).
    Response { i: u32, off: usize, rs: usize },
    /// Closed for writing (first, after the last response), or left open for the
    /// requester's abortive close (`--linger 0`): waiting for the close.
    Closing,
}

/// One accepted connection of crr's answering end, started by the acceptor.
pub struct CrrServed {
    sock: Socket,
    tally: Tally,
    ctx: RoleCtx,
    domain: socket2::Domain,
    token: u64,
    state: Serve,
    reader: MsgReader,
    resp_framed: bool,
    per_conn: u32,
    /// Always empty: the counts go to the acceptor's tally.
    rep: RoleReport,
    moved: u64,
}

impl CrrServed {
    /// Checks the test's header; applies the receiver's knobs to a connection of ours.
    fn greeted(&mut self, hdr: &[u8; STREAM_HEADER_LEN]) -> Result<bool, EngineError> {
        let ours = stream_header(0, self.token);
        if hdr[..4] != ours[..4] || hdr[8..] != ours[8..] {
            return Ok(false);
        }
        let spec = &self.ctx.spec;
        let knobs = spec.knobs(Side::Receiver);
        for phase in [Phase::Accepted, Phase::Connected] {
            sockopt::apply(&self.sock, spec.protocol, self.domain, knobs, phase)
                .map_err(knob_err)?;
        }
        tally(&self.tally).counts.connections += 1;
        self.state = Serve::Request { i: 0 };
        Ok(true)
    }

    /// Reads the header: `Some` to wait (or to end: a stranger, a silent one).
    fn greeting(
        &mut self,
        since: Instant,
        mut got: usize,
        mut hdr: [u8; 16],
    ) -> Result<Option<Want>, EngineError> {
        loop {
            match (&self.sock).read(&mut hdr[got..]) {
                Ok(0) => return Ok(Some(Want::Done)),
                Ok(n) => got += n,
                Err(e) if is_timeout(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(Some(Want::Done)),
            }
            if got == STREAM_HEADER_LEN {
                return Ok((!self.greeted(&hdr)?).then_some(Want::Done));
            }
        }
        let deadline = since + GREETING_DEADLINE;
        if Instant::now() >= deadline {
            return Ok(Some(Want::Done));
        }
        self.state = Serve::Greeting { since, got, hdr };
        Ok(Some(Want::ReadUntil(deadline)))
    }

    /// Request `i` arrived whole (`n` bytes): account it and size its response.
    fn request(&mut self, i: u32, n: usize) {
        let arrived = Instant::now();
        let mut t = tally(&self.tally);
        t.counts.bytes_received += n as u64;
        t.counts.messages_received += 1;
        if let Some(b) = &mut t.buckets {
            b.record(n as u64);
        }
        if arrived >= self.ctx.warmup_mark() {
            t.counts.measured_bytes += n as u64;
            t.last = Some(arrived);
        }
        let rs = t.resp.next();
        drop(t);
        self.moved += 1;
        self.state = Serve::Response { i, off: 0, rs };
    }

    /// Closes for writing, first, so that TIME_WAIT lands here, on the listening port,
    /// instead of on one of the sender's ephemeral ports.
    fn close_first(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
        self.state = Serve::Closing;
    }

    fn advance(&mut self, cx: &mut Cx) -> Result<Option<Want>, EngineError> {
        match self.state {
            Serve::Greeting { since, got, hdr } => self.greeting(since, got, hdr),
            Serve::Request { i } => {
                match self.reader.read(&self.sock, cx.scratch)? {
                    Got::Msg(n) => self.request(i, n),
                    Got::More => {}
                    // The sender closed (or a stranger left) before this request.
                    Got::Eof(0) => self.close_first(),
                    Got::Eof(got) => return Err(self.reader.cut(got)),
                    Got::Blocked => return Ok(Some(Want::Read)),
                }
                Ok(None)
            }
            Serve::Response { i, mut off, rs } => {
                // The scratch space is shared: the length header goes in again before
                // any write of the message's first bytes.
                if self.resp_framed && off < FRAME_HEADER as usize {
                    put_frame(cx.scratch, rs as u32);
                }
                if !write_some(&self.sock, &cx.scratch[..rs], &mut off)? {
                    self.state = Serve::Response { i, off, rs };
                    return Ok(Some(Want::Write));
                }
                let mut t = tally(&self.tally);
                t.counts.bytes_sent += rs as u64;
                t.counts.messages_sent += 1;
                drop(t);
                if i + 1 < self.per_conn {
                    self.state = Serve::Request { i: i + 1 };
                } else if abortive(&self.ctx) {
                    // The requester resets the connection once it has the response.
                    self.state = Serve::Closing;
                } else {
                    self.close_first();
                }
                // Neither the next request nor the sender's close can come before this
                // response: wait rather than spend a read on EAGAIN.
                Ok(Some(Want::Read))
            }
            Serve::Closing => Closing::Awaiting.step(&self.sock, cx.scratch).map(Some),
        }
    }
}

impl Flow for CrrServed {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for _ in 0..16 {
            // A connection that goes wrong (a reset, a stranger) costs that connection
            // only.
            match self.advance(cx) {
                Ok(None) => {}
                Ok(Some(w)) => return Ok(w),
                Err(_) => return Ok(Want::Done),
            }
        }
        Ok(Want::Until(Instant::now()))
    }

    fn finish(&mut self, _cx: &mut Cx) {
        let mut t = tally(&self.tally);
        t.live = t.live.saturating_sub(1);
    }

    fn report(&mut self) -> &mut RoleReport {
        &mut self.rep
    }

    fn progress(&self) -> u64 {
        self.moved
    }
}

/// The answering end of crr: accepts on the test's listener and starts a [`CrrServed`]
/// for every connection, until the sender says it has finished and the last served
/// connection has ended.
pub struct CrrAcceptor {
    core: FlowCore,
    /// The test's listener (`None`: the attach step gave none, an error at once).
    listener: Option<Arc<Socket>>,
    ctx: RoleCtx,
    tally: Tally,
    /// Whether this acceptor accepts for its thread (see [`claim`]); `None` before its
    /// first step.
    accepts: Option<bool>,
    /// Waits for connections before the sender's nominal end (see `progress`).
    waits: u64,
}

impl CrrAcceptor {
    pub fn new(conn: DataConn, ctx: &RoleCtx, rep: RoleReport) -> CrrAcceptor {
        let listener = conn.listener.clone();
        let _ = conn.sock.shutdown(std::net::Shutdown::Both);
        let (req, resp) = rr_sizes(ctx, conn.plan.id);
        let served = Served {
            counts: RoleReport::default(),
            last: None,
            buckets: rr_buckets(&req, &resp, false),
            resp,
            live: 0,
        };
        CrrAcceptor {
            core: FlowCore::new(conn, rep, ctx),
            listener,
            ctx: ctx.clone(),
            tally: Arc::new(Mutex::new(served)),
            accepts: None,
            waits: 0,
        }
    }

    /// A flow for a connection just accepted.
    fn serve(&self, sock: Socket) -> CrrServed {
        let spec = &self.ctx.spec;
        let (req_size, _) = spec.rr_sizes();
        let (req_dist, resp_dist) = spec.rr_dists();
        tally(&self.tally).live += 1;
        CrrServed {
            sock,
            tally: self.tally.clone(),
            ctx: self.ctx.clone(),
            domain: self.core.conn.domain,
            token: self.core.conn.token,
            state: Serve::Greeting {
                since: Instant::now(),
                got: 0,
                hdr: [0; STREAM_HEADER_LEN],
            },
            reader: MsgReader::new(req_dist.is_some(), req_size as usize, None),
            resp_framed: resp_dist.is_some(),
            per_conn: spec.requests_per_conn.max(1),
            rep: RoleReport::default(),
            moved: 0,
        }
    }
}

thread_local! {
    /// The listeners an acceptor on this thread accepts on already.
    static ACCEPTING: std::cell::RefCell<Vec<std::sync::Weak<Socket>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether the calling acceptor is the one to accept on `listener` for this thread: the
/// first to ask. Every acceptor of a test shares the test's listener; on an epoll worker
/// one watches it and serves what it accepts, and the others only wait for the end (one
/// registration per worker, no herd of acceptors woken by each connection). On the
/// blocking driver each acceptor has a thread of its own and accepts.
fn claim(listener: &Arc<Socket>) -> bool {
    ACCEPTING.with(|a| {
        let mut a = a.borrow_mut();
        a.retain(|l| l.strong_count() > 0);
        if a.iter()
            .any(|l| std::ptr::eq(l.as_ptr(), Arc::as_ptr(listener)))
        {
            return false;
        }
        a.push(Arc::downgrade(listener));
        true
    })
}

impl CoreFlow for CrrAcceptor {
    core_field!();

    fn fd(&self) -> Option<RawFd> {
        if self.accepts == Some(false) {
            return None;
        }
        self.listener.as_ref().map(|l| l.as_raw_fd())
    }

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        let Some(listener) = self.listener.clone() else {
            return Err(EngineError::Protocol(
                "crr needs the test's listener".to_string(),
            ));
        };
        let accepts = match self.accepts {
            Some(a) => a,
            None => {
                let a = claim(&listener);
                if a {
                    // Accepts never wait, whatever mode the driver gave the listener: the
                    // driver watches it, and a blocked accept would hold up the
                    // connections accepted.
                    listener
                        .set_nonblocking(true)
                        .map_err(EngineError::io("fcntl"))?;
                }
                self.accepts = Some(a);
                a
            }
        };
        let now = Instant::now();
        if self.ctx.stopped() {
            if tally(&self.tally).live == 0 {
                return Ok(Want::Done);
            }
            return Ok(Want::Until(now + ACCEPT_BACKOFF));
        }
        if !accepts {
            // Another acceptor on this thread accepts: wait for the sender's end.
            return Ok(Want::Until(self.ctx.send_end().max(now + POLL)));
        }
        for _ in 0..ACCEPTS_PER_STEP {
            // Accepted non-blocking (accept4): the served connection's mode from its birth.
            match sys_socket::accept_nonblocking(&listener) {
                Ok(s) => cx.spawned.push(Box::new(self.serve(s))),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => break,
                // Out of descriptors, or a connection reset before it was accepted: the
                // ones already here go on.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(errno::EMFILE | errno::ENFILE | errno::ECONNABORTED | errno::ENOBUFS)
                    ) =>
                {
                    return Ok(Want::Until(now + ACCEPT_BACKOFF))
                }
                Err(e) => return Err(EngineError::io("accept")(e)),
            }
        }
        if now < self.ctx.send_end() {
            self.waits += 1;
        }
        // Awake now and then to see the sender's end.
        Ok(Want::ReadUntil(now + POLL))
    }

    fn finish(&mut self, cx: &mut Cx) {
        let mut t = tally(&self.tally);
        self.core.rep.absorb(&t.counts);
        (self.core.sizes, self.core.last) = (t.buckets.take(), t.last);
        drop(t);
        self.core.finish(cx.ctx);
    }

    /// Connections and requests, and waits before the sender's nominal end: no new
    /// connection for a while is no stall then (think time).
    fn progress(&self) -> u64 {
        let t = tally(&self.tally);
        t.counts.connections + t.counts.messages_received + self.waits
    }

    fn doing(&self, _want: Want) -> &'static str {
        "accept"
    }
}
