//! Datagram bulk transfer (udp, unix-dgram) as [`Flow`]s. The active end sends numbered
//! DATA datagrams as fast as it may (or paced by `--rate`) for warm-up + duration: one
//! per send(2), `--batch` per sendmmsg(2), or with `--gso` up to 64 laid end to end in
//! one send that the kernel splits; with sizes from a distribution, each datagram's size
//! is drawn. Then, after a pause, it sends END markers carrying the count sent. The
//! passive end receives (recv(2), recvmmsg(2) with `--batch`, UDP_GRO with `--gro`) and
//! counts every datagram once by its sequence number, so that loss, reordering and
//! duplicates are exact; it ends at an END marker, or after [`DGRAM_IDLE`] of silence
//! past the sender's nominal end. A repeated hello (its ack was lost) is answered.
//!
//! Neither end keeps a buffer of its own for the plain paths: datagrams are built and
//! received in the driver's scratch space, so ten thousand flows cost their sockets and
//! their sequence bitmaps.

use std::io;
use std::time::{Duration, Instant};

use socket2::Socket;

use super::flow::{core_field, CoreFlow, Cx, Flow, FlowCore, Want};
use super::{
    answer_hello, EngineError, Pacer, RoleCtx, Sizes, DGRAM_IDLE, END_MARKERS, END_PAUSE,
    LATE_GRACE, SEQ_ROOM,
};
use crate::measure::sizes::SizeBuckets;
use crate::measure::{RoleReport, SeqTracker};
use crate::net::transport::{as_uninit, dgram, is_timeout, DataConn};
use crate::spec::config::TestSpec;
use crate::sys::batch::{DgramBatch, GroBuf};
use crate::sys::errno;

/// Sends (or receives, or transactions) per step, so that one busy flow cannot starve
/// the others.
pub(crate) const CALLS_PER_STEP: usize = 32;
/// After ENOBUFS (a full device queue), wait this long before sending again.
pub(crate) const ENOBUFS_BACKOFF: Duration = Duration::from_micros(50);
/// How often a silent datagram receiver looks again before the sender's nominal end.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// The gap between two END markers.
const MARKER_GAP: Duration = Duration::from_millis(2);
/// The least room a datagram receiver's sequence bitmap starts with (bits), however many
/// flows share the process.
const SEQ_ROOM_MIN: u64 = 1 << 13;

/// The END markers' schedule: a pause after the last datagram, then [`END_MARKERS`]
/// markers [`MARKER_GAP`] apart, as waits the driver keeps, never sleeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndMarkers {
    conn: u32,
    /// The count of datagrams sent, which every marker carries.
    count: u64,
    sent: u32,
    at: Instant,
}

/// What the END-marker schedule wants now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Send one marker now.
    Send,
    /// The next marker is due then.
    Wait(Instant),
    /// Every marker has gone.
    Done,
}

impl EndMarkers {
    /// The schedule for a sender that sent `count` datagrams and stopped at `now`.
    pub fn new(conn: u32, count: u64, now: Instant) -> EndMarkers {
        EndMarkers {
            conn,
            count,
            sent: 0,
            at: now + END_PAUSE,
        }
    }

    /// Starts the schedule in `slot` for a sender that sent `count` datagrams and stopped
    /// at `now`: what to wait for.
    pub fn start(slot: &mut Option<EndMarkers>, conn: u32, count: u64, now: Instant) -> Want {
        Want::Until(slot.insert(EndMarkers::new(conn, count, now)).at)
    }

    /// What is due at `now`.
    pub fn poll(&self, now: Instant) -> Marker {
        if self.sent >= END_MARKERS {
            Marker::Done
        } else if now < self.at {
            Marker::Wait(self.at)
        } else {
            Marker::Send
        }
    }

    /// Records that a marker went at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.sent += 1;
        self.at = now + MARKER_GAP;
    }

    /// Sends the markers due now (they may be lost like any datagram: errors are
    /// ignored); what to wait for next.
    pub fn step(&mut self, sock: &Socket, now: Instant) -> Want {
        loop {
            match self.poll(now) {
                Marker::Done => return Want::Done,
                Marker::Wait(t) => return Want::Until(t),
                Marker::Send => {
                    let mut end = [0u8; 16];
                    dgram::put_header(&mut end, self.count, dgram::END, self.conn);
                    let _ = sock.send(&end);
                    self.sent(now);
                }
            }
        }
    }
}

/// How many sequence numbers a receiver's bitmap has room for before it grows: the whole
/// room for one flow, a share of it for many (never less than `SEQ_ROOM_MIN`).
pub fn seq_room(spec: &TestSpec) -> u64 {
    (SEQ_ROOM / u64::from(spec.flows.max(1))).max(SEQ_ROOM_MIN)
}

/// How the sender hands datagrams to the kernel.
enum SendHow {
    /// One datagram per send(2), built in the scratch space.
    Plain { size: usize },
    /// Up to `--batch` datagrams per sendmmsg(2).
    Batch(DgramBatch),
    /// UDP GSO: `per_send` datagrams end to end in one send, built in the scratch space.
    Gso { size: usize, per_send: usize },
    /// Sizes drawn from the test's distribution (seeded per connection); `next` is the
    /// size of the datagram about to go.
    Sized { sizes: Sizes, next: usize },
}

/// The active end of a datagram stream.
pub struct DgramSender {
    core: FlowCore,
    how: SendHow,
    pacer: Pacer,
    /// The next sequence number (the count sent so far).
    seq: u64,
    markers: Option<EndMarkers>,
}

impl DgramSender {
    pub fn new(conn: DataConn, ctx: &RoleCtx, rep: RoleReport) -> DgramSender {
        let spec = &ctx.spec;
        let size = spec.msg_size as usize;
        let how = if let Some(d) = &spec.msg_dist {
            let mut sizes = Sizes::new(spec.msg_size, Some(d), ctx, conn.plan.id, 0);
            let next = sizes.next();
            SendHow::Sized { sizes, next }
        } else if conn.knobs.requested.udp_gso.is_some() {
            let per_send = (65507 / size.max(1)).clamp(1, 64);
            SendHow::Gso { size, per_send }
        } else if spec.batch > 1 {
            SendHow::Batch(DgramBatch::new(spec.batch as usize, size, 0x5a))
        } else {
            SendHow::Plain { size }
        };
        DgramSender {
            core: FlowCore::new(conn, rep, ctx),
            how,
            pacer: Pacer::new(ctx),
            seq: 0,
            markers: None,
        }
    }

    /// Sends once (one datagram, a batch, or a GSO train) numbered from `self.seq`; how
    /// many datagrams went and their bytes.
    fn send_once(&mut self, scratch: &mut [u8]) -> io::Result<(u64, u64)> {
        let (seq, id, sock) = (self.seq, self.core.conn.plan.id, &self.core.conn.sock);
        match &mut self.how {
            SendHow::Plain { size } => {
                let d = &mut scratch[..*size];
                dgram::put_header(d, seq, dgram::DATA, id);
                sock.send(d).map(|_| (1, *size as u64))
            }
            SendHow::Batch(b) => {
                for i in 0..b.len() {
                    dgram::put_header(b.buf_mut(i), seq + i as u64, dgram::DATA, id);
                }
                let size = b.buf_mut(0).len() as u64;
                b.send(sock, b.len()).map(|k| (k as u64, k as u64 * size))
            }
            SendHow::Gso { size, per_send } => {
                let train = &mut scratch[..*size * *per_send];
                for (i, d) in train.chunks_mut(*size).enumerate() {
                    dgram::put_header(d, seq + i as u64, dgram::DATA, id);
                }
                let k = *per_send as u64;
                sock.send(train).map(|_| (k, k * *size as u64))
            }
            SendHow::Sized { sizes, next } => {
                let d = &mut scratch[..*next];
                dgram::put_header(d, seq, dgram::DATA, id);
                sock.send(d)?;
                let size = *next as u64;
                *next = sizes.next();
                Ok((1, size))
            }
        }
    }

    fn what(&self) -> &'static str {
        match self.how {
            SendHow::Batch(_) => "sendmmsg",
            SendHow::Gso { .. } => "send (UDP GSO)",
            _ => "send",
        }
    }
}

impl CoreFlow for DgramSender {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        if let Some(m) = &mut self.markers {
            return Ok(m.step(&self.core.conn.sock, Instant::now()));
        }
        for _ in 0..CALLS_PER_STEP {
            let now = Instant::now();
            let due = self.pacer.due(self.core.rep.bytes_sent);
            if self.pacer.ends(now, due) || cx.ctx.aborted() {
                let (conn, count) = (self.core.conn.plan.id, self.seq);
                return Ok(EndMarkers::start(&mut self.markers, conn, count, now));
            }
            if let Some(due) = due.filter(|&d| d > now) {
                self.pacer.held = false;
                return Ok(Want::Until(due));
            }
            match self.send_once(cx.scratch) {
                Ok((k, bytes)) => {
                    self.seq += k;
                    self.core.rep.messages_sent += k;
                    self.core.rep.bytes_sent += bytes;
                }
                Err(e) => {
                    let what = self.what();
                    match send_failed(cx.ctx, e, Some(&mut self.core.rep.refused), what)? {
                        SendFail::Full => {
                            self.pacer.held = true;
                            return Ok(Want::Write);
                        }
                        SendFail::NoBufs => {
                            self.pacer.held = true;
                            return Ok(Want::Until(now + ENOBUFS_BACKOFF));
                        }
                        SendFail::Again => {}
                        // No END markers: nothing more can arrive.
                        SendFail::PeerGone => return Ok(Want::Done),
                    }
                }
            }
        }
        Ok(Want::Write)
    }

    /// The sender's report has no window: the receiver's is the measured one.
    fn finish(&mut self, _cx: &mut Cx) {}

    fn doing(&self, want: Want) -> &'static str {
        match (want, &self.markers) {
            (_, Some(_)) => "sending the END markers",
            (Want::Until(_), None) => "pacing",
            _ => self.what(),
        }
    }
}

/// Where the receiver's datagrams come from.
enum Source {
    /// recv(2) into the scratch space, one datagram a call.
    Plain,
    /// recvmmsg(2), up to `--batch` a call.
    Batch(DgramBatch),
    /// UDP_GRO: the kernel's coalesced datagrams, split again here.
    Gro(Box<GroBuf>),
}

/// Accounts one datagram that arrived at `now` on a receiver's connection, every one
/// counted once by its sequence number. Returns true at the END marker.
#[inline]
fn count(core: &mut FlowCore, seqs: &mut SeqTracker, data: &[u8], now: Instant) -> bool {
    let id = core.rep.conn;
    match dgram::header(data) {
        Some((seq, dgram::DATA, c)) if c == id && seqs.record(seq) => {
            let n = data.len() as u64;
            core.rep.bytes_received += n;
            if let Some(b) = &mut core.sizes {
                b.record(n);
            }
            core.interval(now, n, 1);
            if now >= core.warm {
                core.rep.measured_bytes += n;
            }
            core.last = Some(now);
            false
        }
        Some((_, dgram::END, c)) if c == id => true,
        Some((seq, dgram::HELLO, c)) if c == id => {
            answer_hello(&core.conn.sock, seq, c);
            false
        }
        _ => false,
    }
}

/// What a datagram send that failed means for the flow that made it.
pub(crate) enum SendFail {
    /// The socket is full (a timeout, or EAGAIN): nothing went; try when it has room.
    Full,
    /// ENOBUFS, a full device queue: nothing went; try after [`ENOBUFS_BACKOFF`].
    NoBufs,
    /// Nothing went; try again now. An interrupted call, or an ICMP port unreachable for
    /// an earlier datagram (a peer socket not open then) reported by this send instead of
    /// sending: a refusal. The start and end of a test are sequenced so that a refusal
    /// should not happen; if it does, it is counted (the run warns), never fatal, and a
    /// request it hit is accounted as a timeout, as a lost one is.
    Again,
    /// A Unix datagram peer that has closed (a refusal): nothing more can arrive. The
    /// first send after it is refused (ECONNREFUSED, counted as any refusal), every later
    /// one finds no peer (ENOTCONN, Linux). Seen when a receiver gave up on a silence
    /// while its sender was starved of CPU for longer than [`DGRAM_IDLE`] past the
    /// receiver's end. Other protocols' connected sockets do not return ENOTCONN: there
    /// it stays an error.
    PeerGone,
}

/// What the failed datagram send of `what` means; a refusal is counted into `refused`
/// when given (an answering end does not count: its lost response is the requester's
/// timeout). Any other error ends the flow.
pub(crate) fn send_failed(
    ctx: &RoleCtx,
    e: io::Error,
    refused: Option<&mut u64>,
    what: &'static str,
) -> Result<SendFail, EngineError> {
    let unix_dgram = ctx.spec.protocol == crate::spec::config::Protocol::UnixDgram;
    let (fail, refusal) = match e.raw_os_error() {
        _ if is_timeout(&e) => (SendFail::Full, false),
        Some(errno::ENOBUFS) => (SendFail::NoBufs, false),
        Some(errno::ECONNREFUSED) => (SendFail::Again, true),
        Some(errno::ENOTCONN) if unix_dgram => (SendFail::PeerGone, true),
        _ if e.kind() == io::ErrorKind::Interrupted => (SendFail::Again, false),
        _ => return Err(EngineError::io(what)(e)),
    };
    if let (true, Some(n)) = (refusal, refused) {
        *n += 1;
    }
    Ok(fail)
}

/// A passive datagram end's watch on silence: it ends [`DGRAM_IDLE`] after the last
/// datagram it heard, but never before the last instant its peer may still send (the
/// nominal end, and [`LATE_GRACE`] past it when the peer is paced: a late paced sender
/// catches up), so that a datagram cannot find its socket closed and draw an ICMP port
/// unreachable.
pub(crate) struct Silence {
    nominal_end: Instant,
    last_send: Instant,
    pub last_heard: Instant,
    /// Waits for datagrams before the peer's nominal end: progress for the drivers'
    /// stall limit (silence then is a slow rate or think time, not a stall; after it the
    /// flow ends itself once [`DGRAM_IDLE`] passes without a datagram).
    pub waits: u64,
}

impl Silence {
    pub fn new(ctx: &RoleCtx, paced: bool) -> Silence {
        let nominal_end = ctx.send_end();
        Silence {
            nominal_end,
            last_send: nominal_end + if paced { LATE_GRACE } else { Duration::ZERO },
            last_heard: Instant::now(),
            waits: 0,
        }
    }

    /// When silence ends the flow.
    pub fn until(&self) -> Instant {
        idle_end(self.nominal_end, self.last_heard).max(self.last_send)
    }

    /// Nothing to receive at `now`: done after enough silence, else what to wait for.
    pub fn idle(&mut self, now: Instant) -> Want {
        if now < self.nominal_end {
            self.waits += 1;
        }
        let until = self.until();
        if now >= until {
            Want::Done
        } else {
            Want::ReadUntil(idle_wake(now, self.nominal_end, until))
        }
    }
}

/// When a datagram receiver that last heard its peer at `last_heard` gives up waiting:
/// [`DGRAM_IDLE`] of silence, but not before the sender's nominal end.
pub(crate) fn idle_end(nominal_end: Instant, last_heard: Instant) -> Instant {
    nominal_end.max(last_heard + DGRAM_IDLE)
}

/// When a silent datagram receiver looks again: at its idle end, but before the sender's
/// nominal end at least every [`IDLE_TICK`], so that its waits count as progress for the
/// drivers' stall limit (silence then is a slow rate or think time, not a stall).
pub(crate) fn idle_wake(now: Instant, nominal_end: Instant, until: Instant) -> Instant {
    if now < nominal_end {
        until.min(now + IDLE_TICK)
    } else {
        until
    }
}

/// The passive end of a datagram stream.
pub struct DgramReceiver {
    core: FlowCore,
    source: Source,
    seqs: SeqTracker,
    silence: Silence,
}

impl DgramReceiver {
    pub fn new(conn: DataConn, ctx: &RoleCtx, rep: RoleReport) -> DgramReceiver {
        let spec = &ctx.spec;
        let source = if conn.knobs.requested.udp_gro {
            Source::Gro(Box::default())
        } else if spec.batch > 1 {
            Source::Batch(DgramBatch::new(
                spec.batch as usize,
                spec.msg_size as usize,
                0,
            ))
        } else {
            Source::Plain
        };
        DgramReceiver {
            core: FlowCore::new(conn, rep, ctx)
                .with_intervals(ctx)
                .with_sizes(spec.msg_dist.is_some().then(SizeBuckets::new)),
            source,
            seqs: SeqTracker::with_capacity(seq_room(spec)),
            silence: Silence::new(ctx, spec.rate.is_some()),
        }
    }

    /// Accounts the `n` datagrams (or bytes, for a plain receive) the last receive got.
    /// Every datagram of a batch is accounted, even after an END marker. True at END.
    fn take(&mut self, n: usize, scratch: &[u8], now: Instant) -> bool {
        let (core, seqs) = (&mut self.core, &mut self.seqs);
        let mut end = false;
        match &self.source {
            Source::Plain => end = count(core, seqs, &scratch[..n], now),
            Source::Batch(b) => {
                for i in 0..n {
                    end |= count(core, seqs, b.received(i), now);
                }
            }
            Source::Gro(g) => {
                for d in g.datagrams() {
                    end |= count(core, seqs, d, now);
                }
            }
        }
        end
    }
}

impl CoreFlow for DgramReceiver {
    core_field!();

    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for _ in 0..CALLS_PER_STEP {
            let sock = &self.core.conn.sock;
            let got = match &mut self.source {
                Source::Plain => sock.recv(as_uninit(cx.scratch)),
                Source::Batch(b) => b.recv(sock),
                Source::Gro(g) => g.recv(sock),
            };
            match got {
                Ok(n) => {
                    let now = Instant::now();
                    self.silence.last_heard = now;
                    if cx.ctx.aborted() {
                        return Err(EngineError::Aborted("receive"));
                    }
                    if self.take(n, cx.scratch, now) {
                        return Ok(Want::Done);
                    }
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    return Ok(self.silence.idle(Instant::now()));
                }
                // An ICMP error from an earlier send of ours (a hello ack); not fatal.
                Err(e) if e.raw_os_error() == Some(errno::ECONNREFUSED) => {}
                Err(e) => return Err(EngineError::io("receive")(e)),
            }
        }
        Ok(Want::ReadUntil(self.silence.until()))
    }

    fn finish(&mut self, cx: &mut Cx) {
        self.core.rep.messages_received = self.seqs.unique;
        self.core.count_seqs(&self.seqs);
        self.core.finish(cx.ctx);
    }

    /// Datagrams, and waits before the sender's nominal end ([`Silence::waits`]).
    fn progress(&self) -> u64 {
        self.seqs.unique + self.seqs.duplicated + self.silence.waits
    }

    fn doing(&self, _want: Want) -> &'static str {
        "receive"
    }
}

/// The flow for one end of a datagram stream.
pub fn flow(conn: DataConn, ctx: &RoleCtx, rep: RoleReport) -> Box<dyn Flow> {
    if rep.active {
        Box::new(DgramSender::new(conn, ctx, rep))
    } else {
        Box::new(DgramReceiver::new(conn, ctx, rep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_markers_wait_the_pause_then_go_two_ms_apart() {
        let t = Instant::now();
        let mut m = EndMarkers::new(7, 42, t);
        assert_eq!(m.poll(t), Marker::Wait(t + END_PAUSE));
        assert_eq!(
            m.poll(t + END_PAUSE - Duration::from_nanos(1)),
            Marker::Wait(t + END_PAUSE)
        );
        let mut now = t + END_PAUSE;
        let mut times = Vec::new();
        loop {
            match m.poll(now) {
                Marker::Send => {
                    times.push(now);
                    m.sent(now);
                }
                Marker::Wait(at) => {
                    assert!(at > now);
                    now = at;
                }
                Marker::Done => break,
            }
        }
        assert_eq!(times.len(), END_MARKERS as usize);
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], MARKER_GAP);
        }
        assert_eq!(times[0], t + END_PAUSE);
    }

    #[test]
    fn a_receiver_waits_for_silence_but_not_before_the_nominal_end() {
        let t = Instant::now();
        let end = t + Duration::from_secs(1);
        assert_eq!(idle_end(end, t), end);
        assert_eq!(idle_end(end, end), end + DGRAM_IDLE);
        // Before the nominal end a silent receiver looks again every tick (its waits are
        // progress); after it, only at its idle end.
        assert_eq!(idle_wake(t, end, end), t + IDLE_TICK);
        assert_eq!(idle_wake(end - Duration::from_millis(1), end, end), end);
        let late = end + Duration::from_millis(10);
        assert_eq!(idle_wake(late, end, late + DGRAM_IDLE), late + DGRAM_IDLE);
    }

    use crate::engine::testdrive::{ctx, report, run_pair, udp_pair};
    use crate::spec::config::Pattern;

    /// A paced udp stream, low enough that loopback loses nothing: every datagram sent
    /// is received once, on either driver's view.
    fn exact_stream(extra: &[(&str, &str)], threads: bool) {
        let mut keys = vec![
            ("proto", "udp"),
            ("duration", "300ms"),
            ("warmup", "0s"),
            ("msg_size", "1000"),
            // Low, so that a loaded machine holding the receiver up loses nothing.
            ("rate", "1M"),
        ];
        keys.extend_from_slice(extra);
        let ctx = ctx(&keys);
        let [a, p] = udp_pair(&ctx, Pattern::Stream, threads);
        let (ra, rp) = (report(&a, true), report(&p, false));
        let flows = vec![flow(a, &ctx, ra), flow(p, &ctx, rp)];
        let (s, r) = run_pair(flows, &ctx, threads);
        let (s, r) = (s.rep, r.rep);
        let what = format!("{extra:?}, threads {threads}");
        assert_eq!(s.error, None, "{what}");
        assert_eq!(r.error, None, "{what}");
        // Some datagrams, however late a loaded machine makes the pacer.
        assert!(s.messages_sent > 0, "{what}: {}", s.messages_sent);
        assert_eq!(s.messages_sent, r.messages_received, "{what}");
        assert_eq!(s.bytes_sent, r.bytes_received, "{what}");
        assert_eq!((r.duplicated, r.reordered), (0, 0), "{what}");
        assert_eq!(r.interval_messages.iter().sum::<u64>(), r.messages_received);
    }

    /// A Unix datagram receiver that has closed (it gave up on a silence while this
    /// sender was starved of CPU): the sender's first send is refused, the next finds no
    /// peer; both are counted, and the sending ends there, not in an error.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_unix_datagram_sender_whose_peer_closed_counts_it_and_ends() {
        for threads in [false, true] {
            let ctx = ctx(&[
                ("proto", "unix-dgram"),
                ("duration", "10s"),
                ("warmup", "0s"),
            ]);
            let pair = crate::engine::testdrive::unix_dgram_pair(Pattern::Stream, threads);
            let r = &crate::engine::testdrive::run_with_peer_closed(&ctx, pair, flow, threads);
            assert_eq!(r.error, None, "threads {threads}");
            assert_eq!((r.refused, r.messages_sent), (2, 0), "threads {threads}");
        }
    }

    #[test]
    fn a_paced_udp_stream_counts_exactly_on_both_views() {
        for threads in [false, true] {
            exact_stream(&[], threads);
            exact_stream(&[("msg_size", "uniform:min=100,max=1400")], threads);
        }
    }

    #[test]
    fn batch_gso_and_gro_count_exactly_on_both_views() {
        for threads in [false, true] {
            exact_stream(&[("batch", "8")], threads);
            exact_stream(&[("gso", "true")], threads);
            exact_stream(&[("gro", "true")], threads);
        }
    }
}
