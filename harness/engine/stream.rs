//! Bulk transfer over a byte stream (tcp, mptcp, unix-stream), as flows. The active end
//! writes `msg_size` messages as fast as it may (or paced by `--rate`) for warm-up +
//! duration, then shuts down its sending half and waits for the peer's close; the passive
//! end reads and counts until the end of the stream. With sizes from a distribution,
//! every message's size is drawn (seeded per connection) and travels in a length header
//! in front of it. A message under way when the sending time ends is finished, so that
//! the bytes sent are always whole messages.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use socket2::Socket;

use super::flow::{core_field, CoreFlow, Cx, FlowCore, Want};
use super::{EngineError, Pacer, RoleCtx, Sizes};
use crate::measure::sizes::SizeBuckets;
use crate::measure::RoleReport;
use crate::net::sockopt;
use crate::net::transport::{is_timeout, DataConn};
use crate::spec::dist::{put_frame, Framer, FRAME_HEADER};
use crate::sys::errno;
use crate::sys::splice::{message_file, SpliceReceiver, SpliceSender};
use crate::sys::zerocopy::ZeroCopyCount;

/// Socket calls per step, so that one fast connection cannot starve the others on an
/// epoll worker.
pub(crate) const CALLS_PER_STEP: usize = 8;
/// The most a receiver reads per call (more if the message is larger).
const READ_CHUNK: usize = 256 * 1024;

/// The end of a byte stream's sending half: shut it down, then read (and discard) until
/// the peer's close, so that every byte has been read by the other end before the figures
/// are taken. A reset once the peer has everything counts as a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Not yet shut down.
    Start,
    /// Shut down; waiting for the peer's close.
    Awaiting,
    Closed,
}

impl Closing {
    /// Advances the handshake; `Want::Done` once the peer has closed.
    pub(crate) fn step(&mut self, sock: &Socket, scratch: &mut [u8]) -> Result<Want, EngineError> {
        const WHAT: &str = "waiting for the peer to finish";
        if *self == Closing::Start {
            let _ = crate::sys::opts::set_cork(sock, false);
            sock.shutdown(std::net::Shutdown::Write)
                .map_err(EngineError::io("shutdown"))?;
            *self = Closing::Awaiting;
        }
        let room = scratch.len().min(4096);
        let sink = &mut scratch[..room];
        for _ in 0..CALLS_PER_STEP {
            match (&*sock).read(sink) {
                Ok(0) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                Ok(_) => continue,
                Err(e) if is_timeout(&e) => return Ok(Want::Read),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(EngineError::io(WHAT)(e)),
            }
            *self = Closing::Closed;
            return Ok(Want::Done);
        }
        Ok(Want::Read)
    }
}

/// How the sender hands its messages to the kernel.
enum SendPath {
    /// write(2), the plain path the others are checked against.
    Write,
    /// MSG_ZEROCOPY, completions counted.
    ZeroCopy(ZeroCopyCount),
    /// sendfile(2) from an in-memory file, and the offset within the message.
    Sendfile(File, i64),
    /// splice(2): in-memory file to pipe to socket.
    Splice(Box<SpliceSender>),
}

/// What the sender asked for, before its first step sets it up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Write,
    ZeroCopy,
    Sendfile,
    Splice,
}

/// The active end of a bulk byte stream.
pub struct StreamSender {
    core: FlowCore,
    pacer: Pacer,
    /// The messages' sizes: fixed, or drawn (framed).
    sizes: Sizes,
    /// The current message's size, and how much of it has gone.
    size: usize,
    off: usize,
    /// A spliced message is partly in the socket (splice keeps its own offset): the
    /// sending time ends only between messages, as for the other paths.
    mid_splice: bool,
    kind: PathKind,
    path: Option<SendPath>,
    closing: Option<Closing>,
}

impl StreamSender {
    pub fn new(conn: DataConn, rep: RoleReport, ctx: &RoleCtx) -> StreamSender {
        let spec = &ctx.spec;
        let want = &conn.knobs.requested;
        let sizes = Sizes::new(spec.msg_size, spec.msg_dist.as_ref(), ctx, conn.plan.id, 0);
        // Framed messages always take write(2), as they always have.
        let kind = match () {
            _ if sizes.framed() => PathKind::Write,
            _ if want.zerocopy => PathKind::ZeroCopy,
            _ if want.sendfile => PathKind::Sendfile,
            _ if want.splice => PathKind::Splice,
            _ => PathKind::Write,
        };
        StreamSender {
            core: FlowCore::new(conn, rep, ctx),
            pacer: Pacer::new(ctx),
            sizes,
            size: spec.msg_size as usize,
            off: 0,
            mid_splice: false,
            kind,
            path: None,
            closing: None,
        }
    }

    /// The send path, set up on the first step (its setup can fail).
    fn setup(&mut self, out: &[u8]) -> Result<(), EngineError> {
        let msg = &out[..self.size];
        let setup = |e: io::Error, what: &str| EngineError::Protocol(format!("{what}: {e}"));
        self.path = Some(match self.kind {
            PathKind::Write => SendPath::Write,
            PathKind::ZeroCopy => SendPath::ZeroCopy(ZeroCopyCount::default()),
            PathKind::Sendfile => SendPath::Sendfile(
                message_file(msg).map_err(|e| setup(e, "the message file"))?,
                0,
            ),
            PathKind::Splice => SendPath::Splice(Box::new(
                SpliceSender::new(msg).map_err(|e| setup(e, "splice setup"))?,
            )),
        });
        Ok(())
    }

    /// One call toward the current message: true once it has all gone.
    fn send(&mut self, out: &mut [u8]) -> io::Result<bool> {
        let sock = &self.core.conn.sock;
        match self.path.as_mut() {
            Some(SendPath::Write) | None => {
                if self.sizes.framed() && self.off < FRAME_HEADER as usize {
                    put_frame(out, self.size as u32);
                }
                self.off += (&*sock).write(&out[self.off..self.size])?;
            }
            Some(SendPath::ZeroCopy(z)) => {
                self.off += crate::sys::zerocopy::send(sock, &out[self.off..self.size])?;
                z.sends += 1;
            }
            Some(SendPath::Sendfile(f, at)) => {
                self.off += crate::sys::sendfile::sendfile(sock, f, at, self.size - self.off)?;
            }
            Some(SendPath::Splice(sp)) => {
                self.core.rep.spliced_out += sp.step(sock)? as u64;
                let done = sp.message_done();
                self.mid_splice = !done;
                return Ok(done);
            }
        }
        Ok(self.off == self.size)
    }

    /// A message has gone: count it and start the next.
    fn sent_one(&mut self) -> Result<(), EngineError> {
        self.core.rep.bytes_sent += self.size as u64;
        self.core.rep.messages_sent += 1;
        self.off = 0;
        match self.path.as_mut() {
            Some(SendPath::Sendfile(_, at)) => *at = 0,
            Some(SendPath::ZeroCopy(z)) => z
                .reap(&self.core.conn.sock)
                .map_err(EngineError::io("zero-copy completions"))?,
            _ => {}
        }
        Ok(())
    }

    /// The sending time is over: every zero-copy completion (so that the counts are final
    /// and no page stays pinned), then the closing handshake.
    fn stop_sending(&mut self) -> Result<(), EngineError> {
        if let Some(SendPath::ZeroCopy(z)) = self.path.as_mut() {
            let drained = z.drain(&self.core.conn.sock, Duration::from_secs(2));
            let r = &mut self.core.rep;
            (r.zerocopy_sends, r.zerocopy_completed, r.zerocopy_copied) =
                (z.sends, z.completed, z.copied);
            drained.map_err(EngineError::io("zero-copy completions"))?;
        }
        self.closing = Some(Closing::Start);
        Ok(())
    }

    fn sending(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for _ in 0..CALLS_PER_STEP {
            if self.off == 0 && !self.mid_splice {
                let now = Instant::now();
                let due = self.pacer.due(self.core.rep.bytes_sent);
                if self.pacer.ends(now, due) || cx.ctx.aborted() {
                    self.stop_sending()?;
                    return Ok(Want::Write);
                }
                if let Some(due) = due.filter(|&d| d > now) {
                    self.pacer.held = false;
                    return Ok(Want::Until(due));
                }
                self.size = self.sizes.next();
            }
            match self.send(cx.out) {
                Ok(true) => self.sent_one()?,
                Ok(false) => {}
                Err(e) if is_timeout(&e) => {
                    self.pacer.held = true;
                    return Ok(Want::Write);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.raw_os_error() == Some(errno::ENOBUFS)
                        && self.kind == PathKind::ZeroCopy =>
                {
                    // Out of room for pinned pages: completions free it.
                    if let Some(SendPath::ZeroCopy(z)) = self.path.as_mut() {
                        z.reap(&self.core.conn.sock)
                            .map_err(EngineError::io("zero-copy completions"))?;
                    }
                    return Ok(Want::ReadUntil(Instant::now() + Duration::from_millis(1)));
                }
                Err(e) => return Err(EngineError::io(self.what())(e)),
            }
        }
        Ok(Want::Write)
    }

    fn what(&self) -> &'static str {
        match self.kind {
            PathKind::Write => "write",
            PathKind::ZeroCopy => "write (MSG_ZEROCOPY)",
            PathKind::Sendfile => "sendfile",
            PathKind::Splice => "splice",
        }
    }
}

impl CoreFlow for StreamSender {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        if let Some(c) = &mut self.closing {
            return c.step(&self.core.conn.sock, cx.scratch);
        }
        if self.path.is_none() {
            self.setup(cx.out)?;
        }
        self.sending(cx)
    }

    fn cancel(&mut self, _cx: &mut Cx) {
        if let Some(SendPath::ZeroCopy(z)) = &self.path {
            let r = &mut self.core.rep;
            (r.zerocopy_sends, r.zerocopy_completed, r.zerocopy_copied) =
                (z.sends, z.completed, z.copied);
        }
    }

    fn progress(&self) -> u64 {
        self.core.rep.bytes_sent + self.off as u64 + self.core.rep.spliced_out
    }

    fn doing(&self, want: Want) -> &'static str {
        match (self.closing, want) {
            (Some(_), _) => "waiting for the peer to finish",
            (None, Want::Write) => self.what(),
            (None, _) => "waiting",
        }
    }
}

/// The passive end of a bulk byte stream.
pub struct StreamReceiver {
    core: FlowCore,
    /// Framed sizes: the reassembler (the per-size counts are the core's).
    frames: Option<Framer>,
    max: u32,
    splice: Option<SpliceReceiver>,
    /// The most one read takes.
    chunk: usize,
    quickack: bool,
}

impl StreamReceiver {
    pub fn new(conn: DataConn, rep: RoleReport, ctx: &RoleCtx) -> StreamReceiver {
        let spec = &ctx.spec;
        let framed = spec.msg_dist.is_some();
        let quickack = conn.knobs.requested.quickack;
        StreamReceiver {
            core: FlowCore::new(conn, rep, ctx)
                .with_intervals(ctx)
                .with_sizes(framed.then(SizeBuckets::new)),
            frames: framed.then(|| Framer::framed(spec.msg_size)),
            max: spec.msg_size,
            splice: None,
            // Whatever is there, up to the driver's scratch (256 KiB at least): the counts
            // are by byte, so a read may take several messages.
            chunk: (spec.msg_size as usize).max(READ_CHUNK),
            quickack,
        }
    }

    /// Counts `n` bytes read at `now`.
    #[inline]
    fn take(&mut self, data: &[u8], n: usize, now: Instant) -> Result<(), EngineError> {
        let FlowCore {
            rep,
            sizes,
            intervals,
            last,
            warm,
            ..
        } = &mut self.core;
        rep.bytes_received += n as u64;
        if self.splice.is_some() {
            rep.spliced_in += n as u64;
        }
        if let (Some(frames), Some(sizes)) = (&mut self.frames, sizes) {
            let got = &mut rep.messages_received;
            frames.feed(&data[..n], |size, _| {
                sizes.record(size);
                *got += 1;
            })?;
        }
        if let Some(iv) = intervals {
            iv.record(now, n as u64, 0);
        }
        if now >= *warm {
            rep.measured_bytes += n as u64;
        }
        *last = Some(now);
        if self.quickack {
            sockopt::rearm_quickack(&self.core.conn.sock);
        }
        Ok(())
    }

    /// The end of the stream: whole messages only.
    fn ended(&mut self) -> Result<Want, EngineError> {
        match &self.frames {
            Some(f) if !f.idle() => {
                Err(EngineError::Protocol("the peer closed mid-message".into()))
            }
            Some(_) => Ok(Want::Done),
            None => {
                self.core.rep.messages_received = self.core.rep.bytes_received / self.max as u64;
                Ok(Want::Done)
            }
        }
    }
}

impl CoreFlow for StreamReceiver {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        if self.splice.is_none() && self.core.conn.knobs.requested.splice && self.frames.is_none() {
            let pipe = (self.max as usize).max(64 * 1024);
            let sp = SpliceReceiver::new(pipe)
                .map_err(|e| EngineError::Protocol(format!("splice setup: {e}")))?;
            self.splice = Some(sp);
        }
        let chunk = self.chunk.min(cx.scratch.len());
        for _ in 0..CALLS_PER_STEP {
            let got = match &mut self.splice {
                Some(sp) => sp.recv(&self.core.conn.sock),
                None => (&self.core.conn.sock).read(&mut cx.scratch[..chunk]),
            };
            match got {
                Ok(0) => return self.ended(),
                Ok(n) => {
                    let now = Instant::now();
                    if cx.ctx.aborted() {
                        return Err(EngineError::Aborted("read"));
                    }
                    self.take(cx.scratch, n, now)?;
                }
                Err(e) if is_timeout(&e) => return Ok(Want::Read),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(EngineError::io("read")(e)),
            }
        }
        Ok(Want::Read)
    }
}
