//! What a receiver lets a sender ask for (`--max-*`), the memory a test needs, and the
//! address blocks of `--allow-peers`.

use super::*;

/// What a receiver lets a sender ask for. `None` = no cap.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Longest warm-up + duration of one test.
    pub max_duration: Option<Duration>,
    /// Most data connections of one test: every flow in every direction, and the probe.
    pub max_flows: Option<u32>,
    /// Largest SO_SNDBUF / SO_RCVBUF request on either side.
    pub max_buffer: Option<u64>,
    /// Largest total rate of a test in bits/s of payload, over every flow and direction:
    /// a stream's rate, or for request/response transactions/s × (request + response) × 8;
    /// an unpaced test is refused.
    pub max_rate: Option<u64>,
    /// Largest message, response or probe size.
    pub max_message: Option<u32>,
    /// Most memory the tests running at once may need on this receiver (bytes), as
    /// [`memory_estimate`] counts it.
    pub max_memory: Option<u64>,
}

/// What one test needs on the receiver, by [`memory_estimate`].
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryNeed {
    pub bytes: u64,
    /// The arithmetic, for a refusal.
    pub how: String,
}

/// The memory a test needs on the receiver: message buffers (per thread that drives
/// connections), the socket buffers asked for (the kernel doubles them), an open-loop
/// requester's ring of outstanding requests, a datagram role's sequence bitmap and batch
/// buffers (`--batch`, `--gro`), and every role's interval counters.
pub fn memory_estimate(spec: &TestSpec) -> MemoryNeed {
    use crate::spec::config::Pattern;
    let conns = spec.conn_plan().len() as u64;
    let (req, resp) = spec.rr_sizes();
    let msg = match spec.pattern {
        Pattern::Stream => 2 * u64::from(spec.msg_size).max(64 << 10),
        Pattern::Rr | Pattern::Crr => u64::from(req) + u64::from(resp) + (64 << 10),
    };
    let on_workers = crate::engine::on_workers(spec, crate::spec::config::Side::Receiver);
    let threads = if on_workers {
        std::thread::available_parallelism().map_or(2, |n| n.get() as u64) + 1
    } else {
        conns
    };
    let k = &spec.receiver;
    let kernel = 2 * (k.sndbuf.unwrap_or(0) + k.rcvbuf.unwrap_or(0));
    let test = (spec.warmup + spec.duration).as_nanos();
    let intervals = u64::try_from(test / spec.interval.as_nanos().max(1)).unwrap_or(u64::MAX);
    let mut per_conn = kernel.saturating_add(intervals.saturating_add(4).saturating_mul(16)) + 4096;
    if spec.protocol.is_datagram() {
        per_conn += crate::measure::SeqTracker::bytes_for(crate::engine::dgram::seq_room(spec));
        // A batching role's buffers (--batch): a message's room per datagram of a call.
        if spec.batch > 1 {
            per_conn += u64::from(spec.batch) * (u64::from(spec.msg_size) + 128);
        }
        if k.udp_gro {
            per_conn += 64 << 10;
        }
    }
    if let Some((rate, timeout)) = spec.traffic().open_rr() {
        let margin = crate::engine::dgram_rr::RING_MARGIN as u64;
        let ring = (rate as f64 * timeout.as_secs_f64()) as u64 * 2 + margin;
        per_conn += ring * 40;
    }
    let bytes = threads
        .saturating_mul(msg)
        .saturating_add(conns.saturating_mul(per_conn));
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    MemoryNeed {
        bytes,
        how: format!(
            "{threads} thread(s) x {:.1} MiB of message buffers + {conns} connection(s) x {:.2} MiB (socket buffers, counters, queues) = {:.1} MiB",
            mib(msg),
            mib(per_conn),
            mib(bytes)
        ),
    }
}

/// A test this receiver's limits do not allow; the text is what the sender is told.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Refusal {
    #[error("refused: this receiver allows tests of at most {max:?} (warm-up included); asked for {asked:?}")]
    Duration { max: Duration, asked: Duration },
    #[error("refused: this receiver allows at most {max} flows (connections, counting each direction and the probe); asked for {asked}")]
    Flows { max: u32, asked: u32 },
    #[error(
        "refused: this receiver allows socket buffers of at most {max} bytes; asked for {asked}"
    )]
    Buffer { max: u64, asked: u64 },
    #[error("refused: this receiver allows a rate of at most {max} {unit} in total (--max-rate), and this test is unpaced: pass --rate")]
    Unpaced { max: u64, unit: &'static str },
    #[error("refused: this receiver allows at most {max} bits/s in total (--max-rate); asked for {rate} transactions/s x ({request} + {response}) bytes x 8 on each of {conns} connection(s) = {total} bits/s")]
    RateBits {
        max: u64,
        rate: u64,
        request: u32,
        response: u32,
        conns: u64,
        total: u64,
    },
    #[error("refused: this receiver allows a rate of at most {max} {unit} in total (--max-rate); asked for {rate} on each of {conns} connection(s) = {total}")]
    Rate {
        max: u64,
        unit: &'static str,
        rate: u64,
        conns: u64,
        total: u64,
    },
    #[error("refused: this receiver allows messages of at most {max} bytes (--max-message); asked for {asked}")]
    Message { max: u32, asked: u32 },
    #[error("refused: this test needs about {} on the receiver ({}); it allows {} (--max-memory)", crate::spec::units::format_size_as(.need.bytes, *.max), .need.how, crate::spec::units::format_size(*.max))]
    Memory { need: MemoryNeed, max: u64 },
}

impl Limits {
    /// Refuses a test that asks for more than this receiver allows. Every connection,
    /// every direction and both sides' knobs count.
    pub fn check(&self, spec: &TestSpec) -> Result<(), Refusal> {
        let asked = spec.warmup + spec.duration;
        if let Some(max) = self.max_duration.filter(|m| asked > *m) {
            return Err(Refusal::Duration { max, asked });
        }
        let conns = spec.conn_plan().len() as u32;
        if let Some(max) = self.max_flows.filter(|m| conns > *m) {
            return Err(Refusal::Flows { max, asked: conns });
        }
        if let Some(max) = self.max_buffer {
            for k in [&spec.sender, &spec.receiver] {
                for v in [k.sndbuf, k.rcvbuf].into_iter().flatten() {
                    if v > max {
                        return Err(Refusal::Buffer { max, asked: v });
                    }
                }
            }
        }
        if let Some(max) = self.max_message {
            let (req, resp) = spec.rr_sizes();
            let biggest = spec
                .msg_size
                .max(req)
                .max(resp)
                .max(spec.traffic().exchange().map_or(0, |e| e.response_size));
            if biggest > max {
                return Err(Refusal::Message {
                    max,
                    asked: biggest,
                });
            }
        }
        if let Some(max) = self.max_rate {
            self.check_rate(spec, max)?;
        }
        if let Some(max) = self.max_memory {
            let need = memory_estimate(spec);
            if need.bytes > max {
                return Err(Refusal::Memory { need, max });
            }
        }
        Ok(())
    }

    fn check_rate(&self, spec: &TestSpec, max: u64) -> Result<(), Refusal> {
        let unit = "bits/s";
        let Some(rate) = spec.rate else {
            return Err(Refusal::Unpaced { max, unit });
        };
        // The probe is one request at a time, bounded by its round trip; the main
        // connections each run at `rate`.
        let conns = spec
            .conn_plan()
            .iter()
            .filter(|c| c.kind == spec.main_kind())
            .count() as u64;
        if spec.pattern.is_transactional() {
            // The bits on the wire, at the largest sizes the test may draw.
            let (req, resp) = spec.rr_sizes();
            let (req_dist, resp_dist) = spec.rr_dists();
            let request = req_dist.map_or(req, |d| d.max().max(req));
            let response = resp_dist.map_or(resp, |d| d.max().max(resp));
            let total = rate
                .saturating_mul(u64::from(request) + u64::from(response))
                .saturating_mul(8)
                .saturating_mul(conns);
            if total > max {
                return Err(Refusal::RateBits {
                    max,
                    rate,
                    request,
                    response,
                    conns,
                    total,
                });
            }
            return Ok(());
        }
        let total = rate.saturating_mul(conns);
        if total > max {
            return Err(Refusal::Rate {
                max,
                unit,
                rate,
                conns,
                total,
            });
        }
        Ok(())
    }
}

/// An address block, `192.0.2.0/24` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u8) {
            match a.to_canonical() {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (host, host_width)) = (bits(self.addr), bits(ip));
        if width != host_width {
            return false;
        }
        let shift = u32::from(width - self.prefix.min(width));
        shift >= 128 || (net >> shift) == (host >> shift)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An address block that will not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CidrError {
    #[error("'{0}' is not an address block (e.g. 192.0.2.0/24)")]
    Address(String),
    #[error("'{text}': the prefix length must be 0 to {width}")]
    Prefix { text: String, width: u8 },
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(s.to_string()))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| CidrError::Prefix {
                    text: s.to_string(),
                    width,
                })?,
        };
        Ok(Cidr { addr, prefix })
    }
}
