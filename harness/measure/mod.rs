//! Measurement primitives used inside the traffic loops, and the reports each role sends
//! home. Everything here is allocation-free on the recording path once set up.

pub mod hostinfo;
pub mod live;
pub mod outcome;
pub mod sizes;

use std::time::{Duration, Instant};

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::spec::config::{Pattern, Side};
use crate::spec::knobs::AppliedKnobs;
use crate::sys::tcp_info::TcpInfo;

/// Highest latency a histogram tracks (values above are clamped to it): one minute.
pub const HIST_MAX_NS: u64 = 60_000_000_000;
/// HdrHistogram precision: three significant digits (0.1% value resolution).
pub const HIST_SIGFIG: u8 = 3;

/// A latency histogram in nanoseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, HIST_SIGFIG).expect("static histogram bounds")
}

/// A histogram as it travels: the HdrHistogram V2 encoding, base64 in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedHistogram {
    /// What was measured, e.g. `rtt`.
    pub metric: String,
    pub v2_base64: String,
}

impl EncodedHistogram {
    pub fn encode(metric: &str, h: &Histogram<u64>) -> EncodedHistogram {
        let mut buf = Vec::new();
        V2Serializer::new()
            .serialize(h, &mut buf)
            .expect("serializing into a Vec cannot fail");
        EncodedHistogram {
            metric: metric.to_string(),
            v2_base64: base64::engine::general_purpose::STANDARD.encode(buf),
        }
    }

    pub fn decode(&self) -> Result<Histogram<u64>, HistogramError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.v2_base64)
            .map_err(|error| HistogramError::Base64 {
                metric: self.metric.clone(),
                error,
            })?;
        check_v2(&bytes).map_err(|what| HistogramError::Malformed {
            metric: self.metric.clone(),
            what,
        })?;
        let h: Histogram<u64> =
            Deserializer::new()
                .deserialize(&mut &bytes[..])
                .map_err(|error| HistogramError::Decode {
                    metric: self.metric.clone(),
                    error,
                })?;
        Ok(h)
    }
}

/// The HdrHistogram V2 cookie (uncompressed), and its header's length.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_HEADER: usize = 40;

/// Checks a V2 encoding from the network before the decoder sees it, which trusts it: only
/// the uncompressed form this tool writes (no decompression bomb), a payload length that
/// is the bytes there are (the decoder allocates what the header says), bounds no wider
/// than [`latency_histogram`]'s (its counts array is allocated from them), and no run of
/// zeros the decoder cannot negate (it panics on one).
fn check_v2(bytes: &[u8]) -> Result<(), &'static str> {
    let word = |at: usize| -> Option<[u8; 8]> { bytes.get(at..at + 8)?.try_into().ok() };
    let half = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if bytes.len() < V2_HEADER || half(0) != Some(V2_COOKIE) {
        return Err("not an uncompressed V2 encoding");
    }
    if half(4).map(|l| l as usize) != Some(bytes.len() - V2_HEADER) {
        return Err("its payload length is not the bytes that came");
    }
    let digits = half(12).unwrap_or(u32::MAX);
    let (low, high) = (
        word(16).map_or(0, u64::from_be_bytes),
        word(24).map_or(u64::MAX, u64::from_be_bytes),
    );
    if digits > u32::from(HIST_SIGFIG) || low == 0 || high > HIST_MAX_NS {
        return Err("its bounds are wider than a latency histogram's");
    }
    let mut payload = &bytes[V2_HEADER..];
    while !payload.is_empty() {
        let mut n: u64 = 0;
        let mut used = 0;
        for (i, &b) in payload.iter().take(9).enumerate() {
            used = i + 1;
            if i == 8 {
                n |= u64::from(b) << 56;
                break;
            }
            n |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        if n == u64::MAX {
            return Err("a count that overflows");
        }
        payload = &payload[used..];
    }
    Ok(())
}

/// A histogram that arrived (from the peer, over the network) and will not decode or merge.
#[derive(Debug, Error)]
pub enum HistogramError {
    #[error("histogram {metric}: bad base64: {error}")]
    Base64 {
        metric: String,
        error: base64::DecodeError,
    },
    #[error("histogram {metric}: {what}")]
    Malformed { metric: String, what: &'static str },
    #[error("histogram {metric}: {error:?}")]
    Decode {
        metric: String,
        error: hdrhistogram::serialization::DeserializeError,
    },
    #[error("merging {metric}: {error:?}")]
    Merge {
        metric: String,
        error: hdrhistogram::errors::AdditionError,
    },
}

/// Per-interval counters relative to a start instant. The warm-up and the measured time
/// are cut into intervals separately, so that no interval holds some of each: the
/// warm-up's slots come first (the last of them ends at the warm-up mark, short if the
/// warm-up is not a whole number of intervals), then the measured time's slots start at
/// the warm-up mark. Slots are preallocated for the expected run length so that recording
/// does not allocate.
#[derive(Debug, Clone)]
pub struct IntervalCounter {
    t0: Instant,
    interval_ns: u64,
    warmup_ns: u64,
    warmup_slots: u64,
    pub bytes: Vec<u64>,
    pub messages: Vec<u64>,
}

/// How many interval slots the warm-up takes: ceil(warmup / interval).
pub fn warmup_slots(warmup_ns: u64, interval_ns: u64) -> u64 {
    warmup_ns.div_ceil(interval_ns.max(1))
}

impl IntervalCounter {
    pub fn new(
        t0: Instant,
        interval: Duration,
        warmup: Duration,
        duration: Duration,
    ) -> IntervalCounter {
        let interval_ns = interval.as_nanos().max(1) as u64;
        let warmup_ns = warmup.as_nanos() as u64;
        let warmup_slots = warmup_slots(warmup_ns, interval_ns);
        let slots = (warmup_slots + duration.as_nanos() as u64 / interval_ns + 4) as usize;
        IntervalCounter {
            t0,
            interval_ns,
            warmup_ns,
            warmup_slots,
            bytes: Vec::with_capacity(slots),
            messages: Vec::with_capacity(slots),
        }
    }

    #[inline]
    pub fn record(&mut self, now: Instant, bytes: u64, messages: u64) {
        let t = now.saturating_duration_since(self.t0).as_nanos() as u64;
        let idx = if t < self.warmup_ns {
            t / self.interval_ns
        } else {
            self.warmup_slots + (t - self.warmup_ns) / self.interval_ns
        } as usize;
        if idx >= self.bytes.len() {
            self.bytes.resize(idx + 1, 0);
            self.messages.resize(idx + 1, 0);
        }
        self.bytes[idx] += bytes;
        self.messages[idx] += messages;
    }

    pub fn interval_ns(&self) -> u64 {
        self.interval_ns
    }
}

/// Exact loss, reordering and duplicate accounting from per-datagram sequence numbers:
/// one bit per sequence number in a sliding window below the highest seen, so that the
/// memory is fixed when the tracker is made, whatever numbers arrive. A number too far
/// ahead of the window (a forged or corrupt datagram: no sender skips a whole window at
/// once) or too far behind it (too late to tell a duplicate from a reordering) is
/// counted as `invalid`, not tracked. Two far-ahead numbers within a window of each other
/// (a real sender after a longer outage than the window) move the window there; the first
/// of them stays `invalid` (a number is new, or not, when it comes: [`SeqTracker::record`]
/// never changes its answer later), the second is new.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    /// The window, a ring: bit `seq % window_bits` stands for `seq`.
    seen: Box<[u64]>,
    /// The highest sequence number seen, plus one; the window is the `window_bits`
    /// numbers below it.
    next_expected: u64,
    /// A far-ahead number already counted as invalid, remembered in case the next one
    /// confirms it.
    far_ahead: Option<u64>,
    pub unique: u64,
    pub reordered: u64,
    pub duplicated: u64,
    /// Sequence numbers outside the window (a corrupt or hostile datagram, or one too
    /// late to tell).
    pub invalid: u64,
}

/// 2^36 datagrams: beyond what 24 hours at ten million a second can send... almost; a
/// number at or above it is invalid wherever the window is.
const MAX_SEQ: u64 = 1 << 36;
/// The window of a tracker made with [`Default`], in bits.
const DEFAULT_WINDOW: u64 = 1 << 13;
/// The largest window, in bits (2 MiB): reordering deeper than 16 million datagrams is
/// not told from a forgery.
pub const MAX_WINDOW: u64 = 1 << 24;

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker::with_capacity(DEFAULT_WINDOW)
    }
}

impl SeqTracker {
    /// A tracker whose window holds `window` sequence numbers (rounded up to a multiple
    /// of 64, at least 64): `window / 8` bytes, allocated now and never again.
    pub fn with_capacity(window: u64) -> SeqTracker {
        let words = window.clamp(64, MAX_WINDOW).div_ceil(64) as usize;
        SeqTracker {
            seen: vec![0; words].into_boxed_slice(),
            next_expected: 0,
            far_ahead: None,
            unique: 0,
            reordered: 0,
            duplicated: 0,
            invalid: 0,
        }
    }

    /// How many sequence numbers the window holds.
    pub fn window(&self) -> u64 {
        self.seen.len() as u64 * 64
    }

    /// The bytes a tracker with room for `window` numbers holds.
    pub fn bytes_for(window: u64) -> u64 {
        window.clamp(64, MAX_WINDOW).div_ceil(64) * 8
    }

    /// Records one arrival. Returns true when this sequence number is new.
    #[inline]
    pub fn record(&mut self, seq: u64) -> bool {
        let w = self.window();
        if seq >= MAX_SEQ || seq < self.next_expected.saturating_sub(w) {
            self.invalid += 1;
            return false;
        }
        if seq >= self.next_expected + w {
            match self.far_ahead {
                Some(f) if seq > f && seq - f < w => {
                    // The sender really is out there: the window follows it. The first
                    // number stays counted invalid, as it was when it came (its caller
                    // counted no bytes for it then); it is marked seen, so that a copy of
                    // it is a duplicate.
                    self.far_ahead = None;
                    self.seen.fill(0);
                    self.next_expected = f + 1;
                    self.mark(f);
                }
                _ => {
                    self.far_ahead = Some(seq);
                    self.invalid += 1;
                    return false;
                }
            }
        }
        if seq >= self.next_expected {
            self.clear(self.next_expected, seq + 1);
            self.next_expected = seq + 1;
            self.mark(seq);
            self.unique += 1;
            return true;
        }
        let (word, bit) = self.slot(seq);
        if self.seen[word] & bit != 0 {
            self.duplicated += 1;
            return false;
        }
        self.seen[word] |= bit;
        self.unique += 1;
        self.reordered += 1;
        true
    }

    #[inline]
    fn slot(&self, seq: u64) -> (usize, u64) {
        let i = seq % self.window();
        ((i / 64) as usize, 1 << (i % 64))
    }

    #[inline]
    fn mark(&mut self, seq: u64) {
        let (word, bit) = self.slot(seq);
        self.seen[word] |= bit;
    }

    /// Forgets the numbers `from..to` (at most a window of them) as the window moves
    /// over them: what they stood for is below it now.
    #[inline]
    fn clear(&mut self, mut from: u64, to: u64) {
        if to - from >= self.window() {
            self.seen.fill(0);
            return;
        }
        while from < to {
            let (word, bit) = self.slot(from);
            if bit == 1 && to - from >= 64 {
                self.seen[word] = 0;
                from += 64;
            } else {
                self.seen[word] &= !bit;
                from += 1;
            }
        }
    }
}

pub use crate::sys::affinity::{pin_thread, AffinityError};
pub use crate::sys::clock::thread_cpu_ns;

/// What one role (one end of one data connection) measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleReport {
    pub conn: u32,
    pub flow: u32,
    pub kind: Option<Pattern>,
    pub side: Option<Side>,
    /// This role drove the connection (wrote the bulk data or sent the requests).
    pub active: bool,
    /// Payload bytes written, warm-up included.
    pub bytes_sent: u64,
    /// Payload bytes read, warm-up included.
    pub bytes_received: u64,
    pub messages_sent: u64,
    /// Messages received; for datagrams, unique sequence numbers only.
    pub messages_received: u64,
    pub reordered: u64,
    pub duplicated: u64,
    /// Datagrams whose sequence number was outside the receiver's tracking window (see
    /// [`SeqTracker`]): forged, corrupt, or too late to tell.
    #[serde(default)]
    pub invalid: u64,
    /// Datagram responses that arrived after their request had timed out.
    pub late: u64,
    /// rr requests whose response never came within the timeout (datagrams).
    pub timeouts: u64,
    /// Transactions completed after the warm-up.
    pub transactions: u64,
    /// Payload bytes received after the warm-up mark.
    pub measured_bytes: u64,
    /// From the warm-up mark to the last receive: the receiver's measured time.
    pub window_ns: u64,
    pub interval_ns: u64,
    /// Payload bytes received per interval from this role's start.
    pub interval_bytes: Vec<u64>,
    /// Messages received per interval (for rr requesters: completed transactions).
    pub interval_messages: Vec<u64>,
    /// Time of the role's last receive, from its start.
    pub end_ns: u64,
    pub histograms: Vec<EncodedHistogram>,
    pub knobs: AppliedKnobs,
    /// SO_SNDBUF and SO_RCVBUF read back at the end of the transfer: what autotuning grew
    /// them to, when they were not set.
    pub sndbuf_end: Option<u64>,
    pub rcvbuf_end: Option<u64>,
    /// TCP_INFO at the end of the transfer.
    pub tcp_info: Option<TcpInfo>,
    pub cpu_ns: u64,
    /// MSG_ZEROCOPY sends, their completions, and how many of those the kernel copied.
    pub zerocopy_sends: u64,
    pub zerocopy_completed: u64,
    pub zerocopy_copied: u64,
    /// Bytes moved by splice(2) into the socket (--splice on the sending end) and out of
    /// it (on the receiving end), as splice returned them.
    #[serde(default)]
    pub spliced_out: u64,
    #[serde(default)]
    pub spliced_in: u64,
    /// The CPUs the role's thread could run on, as sched_getaffinity reported them.
    pub cpus: Vec<u32>,
    /// Per-size accounting when the test's sizes come from a distribution: received
    /// messages and bytes per log2 size bucket, and round trips by size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<crate::measure::sizes::SizeCounts>,
    /// crr, the accepting end: connections accepted and served.
    #[serde(default)]
    pub connections: u64,
    /// Pipelined rr, the requesting end: the most requests that were outstanding at once.
    #[serde(default)]
    pub max_in_flight: u64,
    /// Datagram sends the kernel refused with ECONNREFUSED (an ICMP port unreachable from
    /// the peer: its socket was not open), or ENOTCONN (a Unix datagram peer that has
    /// closed; the sending then ends): those datagrams did not go and are not counted as
    /// sent.
    #[serde(default)]
    pub refused: u64,
    /// Set when the role ended early; the figures above are partial.
    pub error: Option<String>,
}

impl RoleReport {
    /// Adds a spawned flow's counts (`child`) into this, its parent's report, so that a
    /// role reports once.
    pub fn absorb(&mut self, child: &RoleReport) {
        let parent = self;
        parent.bytes_sent += child.bytes_sent;
        parent.bytes_received += child.bytes_received;
        parent.messages_sent += child.messages_sent;
        parent.messages_received += child.messages_received;
        parent.reordered += child.reordered;
        parent.duplicated += child.duplicated;
        parent.late += child.late;
        parent.timeouts += child.timeouts;
        parent.transactions += child.transactions;
        parent.measured_bytes += child.measured_bytes;
        parent.connections += child.connections;
        parent.window_ns = parent.window_ns.max(child.window_ns);
        parent.end_ns = parent.end_ns.max(child.end_ns);
        for (into, from) in [
            (&mut parent.interval_bytes, &child.interval_bytes),
            (&mut parent.interval_messages, &child.interval_messages),
        ] {
            if into.len() < from.len() {
                into.resize(from.len(), 0);
            }
            for (a, b) in into.iter_mut().zip(from) {
                *a += b;
            }
        }
        let Some(c) = &child.sizes else { return };
        let Some(p) = &mut parent.sizes else {
            parent.sizes = Some(c.clone());
            return;
        };
        for (into, from) in [(&mut p.messages, &c.messages), (&mut p.bytes, &c.bytes)] {
            if into.len() < from.len() {
                into.resize(from.len(), 0);
            }
            for (a, b) in into.iter_mut().zip(from) {
                *a += b;
            }
        }
        // Round trips by size are the requester's, which is never spawned; kept if present.
        p.rtt.extend(c.rtt.iter().cloned());
    }
}

/// Resident memory of this process now (VmRSS), in KiB.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Everything one process measured in one test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideReport {
    pub roles: Vec<RoleReport>,
    /// Resident memory of the process near the end of the transfer (VmRSS, KiB), when
    /// every connection's buffers are live.
    #[serde(default)]
    pub rss_kib: Option<u64>,
    /// From the start of this side's traffic to the end of its last role.
    pub wall_ns: u64,
    pub warnings: Vec<String>,
    /// The system this side ran on (`sys::HOST` of the process that measured it).
    #[serde(default)]
    pub os: Option<crate::sys::Os>,
}

impl SideReport {
    /// CPU time of this side's traffic threads as a percentage of one core over the test.
    pub fn cpu_pct(&self) -> Option<f64> {
        (self.wall_ns > 0).then(|| {
            self.roles.iter().map(|r| r.cpu_ns as f64).sum::<f64>() * 100.0 / self.wall_ns as f64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_tracker_counts_exactly() {
        let mut t = SeqTracker::default();
        for seq in [0, 1, 2, 5, 3, 3, 4, 200, 200, 7] {
            t.record(seq);
        }
        assert_eq!(t.unique, 8); // 0 1 2 5 3 4 200 7
        assert_eq!(t.duplicated, 2);
        assert_eq!(t.reordered, 3); // 3, 4 after 5; 7 after 200
        assert!(!t.record(u64::MAX));
        assert_eq!(t.invalid, 1);
    }

    #[test]
    fn seq_tracker_memory_is_its_window_whatever_arrives() {
        let mut t = SeqTracker::with_capacity(1024);
        assert_eq!(t.window(), 1024);
        for seq in 0..100 {
            assert!(t.record(seq));
        }
        // One forged number far ahead: invalid, and the window stays.
        assert!(!t.record((1 << 36) - 1));
        assert!(!t.record(1 << 33));
        assert_eq!(t.invalid, 2);
        assert!(t.record(100));
        assert!(!t.record(100));
        assert_eq!((t.unique, t.duplicated, t.reordered), (101, 1, 0));
        // Within the window ahead (a loss of 900): tracked; the numbers it skipped can
        // still arrive late, once.
        assert!(t.record(1000));
        assert!(t.record(500));
        assert!(!t.record(500));
        assert_eq!((t.unique, t.reordered), (103, 1));
        // Too late to tell: below the window.
        assert!(t.record(1500));
        assert!(!t.record(3));
        assert_eq!(t.invalid, 3);
        // A real sender after a long outage: the second far-ahead number confirms the
        // first and moves the window. The first stays invalid, as record said when it
        // came (its caller counted nothing for it: unique counts only what record called
        // new); a copy of it is a duplicate.
        assert!(!t.record(50_000));
        assert!(t.record(50_001));
        assert_eq!((t.unique, t.invalid), (105, 4));
        assert!(t.record(50_002));
        assert!(!t.record(50_000));
        assert_eq!((t.unique, t.duplicated, t.reordered), (106, 3, 1));
        assert_eq!(t.seen.len(), 16);
    }

    #[test]
    fn seq_tracker_counts_as_unique_exactly_what_it_called_new() {
        // Whatever arrives (in order, reordered, copies, gaps past the window as a
        // starved receiver sees them, forgeries), `unique` is the number of arrivals
        // record called new: the receivers count bytes for exactly those, so messages
        // and bytes agree (a gap past the window once counted a datagram in `unique`
        // whose bytes were never counted).
        let mut rng = fastrand::Rng::with_seed(7);
        for window in [64, 1024] {
            let mut t = SeqTracker::with_capacity(window);
            let (mut seq, mut new) = (0u64, 0u64);
            for _ in 0..100_000 {
                seq += match rng.u32(0..100) {
                    0..=1 => window * rng.u64(1..4),
                    2..=9 => rng.u64(0..window),
                    _ => 1,
                };
                let got = match rng.u32(0..20) {
                    0 => seq.saturating_sub(rng.u64(0..window * 2)),
                    1 => rng.u64(0..1 << 40),
                    _ => seq,
                };
                new += u64::from(t.record(got));
                assert_eq!(t.unique, new, "window {window}, seq {got}");
            }
        }
    }

    #[test]
    fn seq_tracker_window_is_capped() {
        let t = SeqTracker::with_capacity(u64::MAX);
        assert_eq!(t.window(), MAX_WINDOW);
        assert_eq!(SeqTracker::bytes_for(u64::MAX), MAX_WINDOW / 8);
    }

    #[test]
    fn intervals_bucket_by_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = IntervalCounter::new(t0, ms(100), Duration::ZERO, Duration::from_secs(1));
        c.record(t0, 10, 1);
        c.record(t0 + ms(99), 5, 1);
        c.record(t0 + ms(250), 7, 2);
        assert_eq!(c.bytes, vec![15, 0, 7]);
        assert_eq!(c.messages, vec![2, 0, 2]);
    }

    #[test]
    fn intervals_split_at_the_warmup_mark() {
        // Warm-up 150 ms, intervals of 100 ms: warm-up slots [0,100) [100,150), then the
        // measured slots [150,250) [250,350) ...
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = IntervalCounter::new(t0, ms(100), ms(150), Duration::from_secs(1));
        c.record(t0 + ms(99), 1, 1);
        c.record(t0 + ms(149), 2, 1);
        c.record(t0 + ms(150), 4, 1);
        c.record(t0 + ms(249), 8, 1);
        c.record(t0 + ms(250), 16, 1);
        assert_eq!(c.bytes, vec![1, 2, 12, 16]);
        assert_eq!(warmup_slots(150_000_000, 100_000_000), 2);
        assert_eq!(warmup_slots(200_000_000, 100_000_000), 2);
        assert_eq!(warmup_slots(0, 100_000_000), 0);
    }

    #[test]
    fn histograms_survive_encoding() {
        let mut h = latency_histogram();
        for v in [1_000, 20_000, 20_000, 5_000_000] {
            h.record(v).unwrap();
        }
        let enc = EncodedHistogram::encode("rtt", &h);
        let back = enc.decode().unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        let bad = EncodedHistogram {
            metric: "rtt".into(),
            v2_base64: "!!".into(),
        };
        assert!(bad.decode().is_err());
    }

    #[test]
    fn hostile_encodings_are_errors_not_panics_or_gigabytes() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut h = latency_histogram();
        h.record(1000).unwrap();
        let good = b64
            .decode(EncodedHistogram::encode("rtt", &h).v2_base64)
            .unwrap();
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            f(&mut bytes);
            EncodedHistogram {
                metric: "rtt".into(),
                v2_base64: b64.encode(bytes),
            }
            .decode()
        };
        // A run of zeros the decoder would negate with overflow (a panic in debug builds).
        assert!(edit(&|b| {
            b.truncate(V2_HEADER);
            b.extend([0xff; 9]);
            let n = (b.len() - V2_HEADER) as u32;
            b[4..8].copy_from_slice(&n.to_be_bytes());
        })
        .is_err());
        // A payload length of 4 GiB, which the decoder would allocate.
        assert!(edit(&|b| b[4..8].copy_from_slice(&u32::MAX.to_be_bytes())).is_err());
        // Bounds that would make a counts array of tens of megabytes.
        assert!(edit(&|b| b[24..32].copy_from_slice(&u64::MAX.to_be_bytes())).is_err());
        assert!(edit(&|b| b[0] ^= 1).is_err());
        assert!(edit(&|_| ()).is_ok());
    }

    #[test]
    fn thread_cpu_advances_with_work() {
        let a = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() > a);
    }
}
