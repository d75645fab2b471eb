//! One direction of the delay element: frames wait in arrival order until their time,
//! some are lost on purpose, and everything is counted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What the path does to every frame of one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// One-way delay added to every frame.
    pub delay: Duration,
    /// Each frame's delay is drawn uniformly from delay ± jitter (never below zero), and
    /// then raised to the previous frame's departure so that order is kept.
    pub jitter: Duration,
    /// The share of IP frames dropped, 0..=1.
    pub loss: f64,
}

/// The kind of a frame, from its Ethernet and IP headers: loss applies to IP frames
/// only, so that ARP (neighbour resolution) is never part of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Udp,
    OtherIp,
    NotIp,
}

pub fn kind_of(frame: &[u8]) -> Kind {
    let ethertype = match frame.get(12..14) {
        Some(t) => u16::from_be_bytes([t[0], t[1]]),
        None => return Kind::NotIp,
    };
    let proto = match ethertype {
        0x0800 => frame.get(14 + 9),
        0x86dd => frame.get(14 + 6),
        _ => return Kind::NotIp,
    };
    match proto {
        Some(6) => Kind::Tcp,
        Some(17) => Kind::Udp,
        _ => Kind::OtherIp,
    }
}

/// Counts of one direction, as the stats file and the exit summary print them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Frames read from the ingress interface.
    pub received: u64,
    /// Frames written to the egress interface.
    pub forwarded: u64,
    /// Frames dropped by the loss generator, in all and by kind.
    pub dropped: u64,
    pub dropped_tcp: u64,
    pub dropped_udp: u64,
    pub dropped_other: u64,
    /// Frames dropped because the line already held its limit.
    pub overflow: u64,
    /// Frames longer than the read buffer (offloads left on: GSO super-frames), dropped.
    pub oversize: u64,
    /// Frames the egress interface refused for good (an error other than no room).
    pub send_errors: u64,
    /// Times a frame found no room in the egress interface and was tried again.
    pub send_retries: u64,
    /// Frames waiting now.
    pub queued: u64,
    /// The longest a frame waited in the kernel before the element read it: its delay
    /// counts from the kernel's receive time, so this wait is not added to it.
    pub read_lag_max_ns: u64,
    /// The latest a frame left after its time, and how many left over 1 ms late ...
    pub late_max_ns: u64,
    pub late_over_1ms: u64,
    /// ... and the latest a frame left through the element's own doing: its lateness
    /// less what the system excused (see [`Departure`]).
    pub own_late_max_ns: u64,
}

/// When a frame left (its send began), and how much of its lateness the system caused
/// since its time ([`crate::ledger::Ledger`]): late wakes, time the element's thread was
/// held off the CPU, and the kernel's CPU time sending the frames ahead of it (a send
/// carries a frame through the peer's whole stack at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub at: Instant,
    pub excused: Duration,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What became of a frame offered to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Queued,
    Lost,
    Overflow,
}

/// A FIFO of frames, each with the time it may leave.
pub struct DelayLine {
    imp: Impairment,
    rng: fastrand::Rng,
    frames: VecDeque<(Instant, Vec<u8>)>,
    last_due: Option<Instant>,
    limit: usize,
    pub counts: Counts,
}

impl DelayLine {
    /// A line holding at most `limit` frames, its losses and jitter drawn from `seed`.
    pub fn new(imp: Impairment, seed: u64, limit: usize) -> DelayLine {
        DelayLine {
            imp,
            rng: fastrand::Rng::with_seed(seed),
            frames: VecDeque::new(),
            last_due: None,
            limit,
            counts: Counts::default(),
        }
    }

    fn draw_delay(&mut self) -> Duration {
        if self.imp.jitter.is_zero() {
            return self.imp.delay;
        }
        let j = self.imp.jitter.as_secs_f64() * (2.0 * self.rng.f64() - 1.0);
        Duration::from_secs_f64((self.imp.delay.as_secs_f64() + j).max(0.0))
    }

    /// A frame that arrived at `arrival`: lost, queued until its time, or refused.
    pub fn offer(&mut self, arrival: Instant, frame: &[u8]) -> Verdict {
        self.counts.received += 1;
        let kind = kind_of(frame);
        // The draw happens for every IP frame whatever the loss, so that a seed gives the
        // same losses whatever the jitter, and the same jitter whatever the loss.
        if kind != Kind::NotIp && self.imp.loss > 0.0 && self.rng.f64() < self.imp.loss {
            self.counts.dropped += 1;
            match kind {
                Kind::Tcp => self.counts.dropped_tcp += 1,
                Kind::Udp => self.counts.dropped_udp += 1,
                _ => self.counts.dropped_other += 1,
            }
            return Verdict::Lost;
        }
        if self.frames.len() >= self.limit {
            self.counts.overflow += 1;
            return Verdict::Overflow;
        }
        let mut due = arrival + self.draw_delay();
        if let Some(last) = self.last_due {
            due = due.max(last);
        }
        self.last_due = Some(due);
        self.frames.push_back((due, frame.to_vec()));
        self.counts.queued = self.frames.len() as u64;
        Verdict::Queued
    }

    /// When the first frame may leave.
    pub fn next_due(&self) -> Option<Instant> {
        self.frames.front().map(|f| f.0)
    }

    /// The first frame, if its time has come by `now`.
    pub fn due(&self, now: Instant) -> Option<&[u8]> {
        self.frames
            .front()
            .filter(|f| f.0 <= now)
            .map(|f| f.1.as_slice())
    }

    /// The first frame has left (`Some`) or failed for good (`None`).
    pub fn pop(&mut self, left: Option<Departure>) {
        if let Some((due, _)) = self.frames.pop_front() {
            match left {
                Some(d) => {
                    let c = &mut self.counts;
                    c.forwarded += 1;
                    let late = d.at.saturating_duration_since(due);
                    c.late_max_ns = c.late_max_ns.max(nanos(late));
                    c.late_over_1ms += u64::from(late > Duration::from_millis(1));
                    let own = late.saturating_sub(d.excused);
                    c.own_late_max_ns = c.own_late_max_ns.max(nanos(own));
                }
                None => self.counts.send_errors += 1,
            }
        }
        self.counts.queued = self.frames.len() as u64;
    }

    /// A frame read `lag` after the kernel received it.
    pub fn read_lag(&mut self, lag: Duration) {
        self.counts.read_lag_max_ns = self.counts.read_lag_max_ns.max(nanos(lag));
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
