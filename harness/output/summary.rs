//! `summary.csv`: one row per case × repetition. The first columns are exactly the
//! contract's (docs/results.md); further columns follow them. Units are in the names. An
//! empty cell means "not measured" or "does not apply to this row", never zero.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::results::CaseRun;
use crate::spec::config::Pattern;
use crate::spec::units::format_duration;

/// A requested buffer size as the CSV writes it: bytes, or `auto` when no size was set
/// (whether `auto` was written or the knob left out: either way the kernel autotunes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeReq {
    Auto,
    Bytes(u64),
}

impl SizeReq {
    pub fn of(requested: Option<u64>) -> SizeReq {
        requested.map_or(SizeReq::Auto, SizeReq::Bytes)
    }
}

impl Serialize for SizeReq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SizeReq::Auto => s.serialize_str("auto"),
            SizeReq::Bytes(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for SizeReq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "auto" {
            return Ok(SizeReq::Auto);
        }
        text.parse().map(SizeReq::Bytes).map_err(|_| {
            serde::de::Error::custom(format!("{text:?} is neither a size in bytes nor auto"))
        })
    }
}

impl SizeReq {
    /// The bytes asked for; None for `auto`.
    pub fn bytes(self) -> Option<u64> {
        match self {
            SizeReq::Auto => None,
            SizeReq::Bytes(n) => Some(n),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SummaryRow {
    pub case: u32,
    pub repetition: u32,
    pub protocol: String,
    pub pattern: String,
    pub direction: String,
    pub flows: u32,
    /// Application write / datagram payload / request size, bytes.
    pub msg_size: u32,
    /// Measured time requested (warm-up excluded), seconds.
    pub duration_s: f64,
    /// SO_SNDBUF requested on the socket that sends the bulk data (or the requests):
    /// bytes, or `auto`; empty when the row has no such socket (it failed before one).
    pub sndbuf_req: Option<SizeReq>,
    /// SO_SNDBUF as the kernel reported it on that socket.
    pub sndbuf_eff: Option<u64>,
    /// SO_RCVBUF requested on the socket that receives the bulk data (or the requests).
    pub rcvbuf_req: Option<SizeReq>,
    pub rcvbuf_eff: Option<u64>,
    pub mss_req: Option<u32>,
    /// TCP_INFO snd_mss of the sending data socket.
    pub mss_eff: Option<u32>,
    /// TCP_NODELAY as read back from the sending socket.
    pub nodelay: Option<bool>,
    /// TCP_CONGESTION as read back from the sending socket.
    pub congestion: Option<String>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub goodput_bps: Option<f64>,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub lost: Option<u64>,
    pub reordered: u64,
    pub duplicated: u64,
    /// Request/response transactions after the warm-up; empty for a stream without a probe.
    pub transactions: Option<u64>,
    pub rtt_p50_ns: Option<u64>,
    pub rtt_p90_ns: Option<u64>,
    pub rtt_p99_ns: Option<u64>,
    pub rtt_p999_ns: Option<u64>,
    pub rtt_max_ns: Option<u64>,
    pub rtt_mean_ns: Option<f64>,
    pub tcp_retrans: Option<u64>,
    pub sender_cpu_pct: Option<f64>,
    pub receiver_cpu_pct: Option<f64>,
    pub status: String,
    // ---- beyond the contract's first columns (docs/results.md) ----
    pub error: Option<String>,
    pub warmup_s: f64,
    pub response_size: Option<u32>,
    pub rate: Option<u64>,
    /// The receiver's measured time: warm-up mark to last receive, longest over flows.
    pub measured_s: Option<f64>,
    pub transactions_per_s: Option<f64>,
    /// Datagram requests that timed out, responses that came after; empty unless
    /// request/response over datagrams.
    pub rr_timeouts: Option<u64>,
    pub rr_late: Option<u64>,
    /// crr: the connections the receiver accepted and served (`requests_per_conn`
    /// transactions each); empty for other patterns.
    pub connections: Option<u64>,
    /// Pipelined rr (`pipeline` above 1): the most requests outstanding at once on one
    /// connection, as the requester counted them; empty otherwise.
    pub max_in_flight: Option<u64>,
    /// TCP knobs as requested; empty for protocols without them.
    pub nodelay_req: Option<bool>,
    pub congestion_req: Option<String>,
    pub tos_req: Option<u8>,
    pub tos_eff: Option<u32>,
    pub quickack_req: Option<bool>,
    pub notsent_lowat_req: Option<u32>,
    pub notsent_lowat_eff: Option<u32>,
    pub cork_req: Option<bool>,
    pub busy_poll_req_us: Option<u32>,
    pub busy_poll_eff_us: Option<u32>,
    /// SO_SNDBUF of the sending socket and SO_RCVBUF of the receiving socket read back at
    /// the end: with `auto`, what the kernel's autotuning grew them to.
    pub sndbuf_end: Option<u64>,
    pub rcvbuf_end: Option<u64>,
    /// The other buffers of the two data sockets, as the kernel reported them.
    pub sender_rcvbuf_eff: Option<u64>,
    pub receiver_sndbuf_eff: Option<u64>,
    /// TCP_INFO of the sending data socket of the first connection at the end.
    pub tcp_rtt_us: Option<u32>,
    pub tcp_min_rtt_us: Option<u32>,
    pub tcp_cwnd: Option<u32>,
    pub tcp_delivery_rate_bps: Option<u64>,
    pub tcp_snd_wscale: Option<u8>,
    pub tcp_rcv_wscale: Option<u8>,
    pub tcp_pmtu: Option<u32>,
    pub tcp_bytes_retrans: Option<u64>,
    pub interval: String,
    pub warnings: Option<String>,
    /// Open-loop rr: round trips measured from the actual rather than the intended send
    /// time (what a closed-loop tool would report; see coordinated omission).
    pub rtt_uncorrected_p50_ns: Option<u64>,
    pub rtt_uncorrected_p99_ns: Option<u64>,
    pub rtt_uncorrected_p999_ns: Option<u64>,
    pub rtt_uncorrected_max_ns: Option<u64>,
    /// A request/response latency probe ran beside the stream flows.
    pub probe: bool,
    /// The knob values that make this case (from the matrix or a [[case]] table).
    pub case_label: String,
    /// Datagrams per sendmmsg/recvmmsg call (1: plain send/recv); empty for byte streams.
    pub batch: Option<u32>,
    /// UDP_SEGMENT on the sending socket as the kernel reported it (GSO segment size).
    pub udp_gso_eff: Option<u32>,
    /// UDP_GRO on the receiving socket as the kernel reported it.
    pub udp_gro_eff: Option<bool>,
    /// CPUs the sender's and the receiver's traffic threads ran on (sched_getaffinity,
    /// over all their connections; `;`-separated).
    pub sender_cpus: String,
    pub receiver_cpus: String,
    /// --zerocopy: SO_ZEROCOPY as read back, the MSG_ZEROCOPY sends, the completions the
    /// kernel reported, and how many of those it copied anyway (always, on loopback);
    /// the counts are empty without --zerocopy.
    pub zerocopy_eff: Option<bool>,
    pub zerocopy_sends: Option<u64>,
    pub zerocopy_completed: Option<u64>,
    pub zerocopy_copied: Option<u64>,
    /// --spin on the sending / the receiving end.
    pub sender_spin: bool,
    pub receiver_spin: bool,
    /// --sendfile: the bulk sender used sendfile(2).
    pub sendfile: bool,
    /// --splice: the bytes the sending end spliced into its sockets through a pipe, and
    /// those the receiving end spliced out of them into /dev/null (what splice returned);
    /// empty when neither side splices.
    pub spliced_bytes_sent: Option<u64>,
    pub spliced_bytes_received: Option<u64>,
    /// Resident memory of each process near the end of the transfer (KiB), and per
    /// connection of that side (the receiver daemon's figure includes whatever else it
    /// serves and holds).
    pub sender_rss_kib: Option<u64>,
    pub receiver_rss_kib: Option<u64>,
    pub sender_rss_kib_per_conn: Option<f64>,
    /// In a sweep, the knobs set for the run that do not apply to this case's protocol
    /// and were left out of it (`;`-separated, as written: `nodelay;sender.mss`).
    pub not_applicable: String,
    /// Fleet runs (`sockbench mesh`): the sending and the receiving host's names, as in
    /// the hosts file; empty otherwise.
    pub src: String,
    pub dst: String,
}

impl SummaryRow {
    pub fn from_run(run: &CaseRun) -> SummaryRow {
        let spec = &run.spec;
        let (active, passive) = run.first_conn_ends();
        let sending = active.map(|r| &r.knobs);
        let receiving = passive.map(|r| &r.knobs);
        let sending_info = active.and_then(|r| r.tcp_info.as_ref());
        let rtt = run.rtt();
        let unc = run.percentiles(crate::engine::rr::RTT_UNCORRECTED);
        let measured_s = run.measured_s();
        let transactions = run.sum(|r| r.transactions);
        let warnings = run.warnings();
        let tcp = spec.protocol.is_tcp_like();
        let rr_over_datagrams =
            spec.protocol.is_datagram() && (spec.pattern != Pattern::Stream || spec.probe);
        let zerocopy = spec.sender.zerocopy || spec.receiver.zerocopy;
        let splice = spec.sender.splice || spec.receiver.splice;
        SummaryRow {
            case: run.case,
            repetition: run.repetition,
            protocol: spec.protocol.to_string(),
            pattern: spec.pattern.to_string(),
            direction: spec.direction.to_string(),
            flows: spec.flows,
            msg_size: spec.msg_size,
            duration_s: spec.duration.as_secs_f64(),
            sndbuf_req: sending.map(|k| SizeReq::of(k.requested.sndbuf)),
            sndbuf_eff: sending.and_then(|k| k.effective.sndbuf),
            rcvbuf_req: receiving.map(|k| SizeReq::of(k.requested.rcvbuf)),
            rcvbuf_eff: receiving.and_then(|k| k.effective.rcvbuf),
            mss_req: sending.and_then(|k| k.requested.mss),
            mss_eff: sending_info.map(|i| i.snd_mss),
            nodelay: sending.and_then(|k| k.effective.nodelay),
            congestion: sending.and_then(|k| k.effective.congestion.clone()),
            bytes_sent: run.sum(|r| r.bytes_sent),
            bytes_received: run.sum(|r| r.bytes_received),
            goodput_bps: run.goodput_bps().map(f64::round),
            messages_sent: run.sum(|r| r.messages_sent),
            messages_received: run.sum(|r| r.messages_received),
            lost: run.lost(),
            reordered: run.sum(|r| r.reordered),
            duplicated: run.sum(|r| r.duplicated),
            transactions: (spec.pattern != Pattern::Stream || spec.probe).then_some(transactions),
            rtt_p50_ns: rtt.map(|p| p.p50),
            rtt_p90_ns: rtt.map(|p| p.p90),
            rtt_p99_ns: rtt.map(|p| p.p99),
            rtt_p999_ns: rtt.map(|p| p.p999),
            rtt_max_ns: rtt.map(|p| p.max),
            rtt_mean_ns: rtt.map(|p| (p.mean * 10.0).round() / 10.0),
            tcp_retrans: run.tcp_retrans(),
            sender_cpu_pct: run.outcome.sender.cpu_pct().map(round2),
            receiver_cpu_pct: run
                .outcome
                .receiver
                .as_ref()
                .and_then(|r| r.cpu_pct())
                .map(round2),
            status: run.status().as_str().to_string(),
            error: run.outcome.error.clone(),
            warmup_s: spec.warmup.as_secs_f64(),
            response_size: (spec.pattern != Pattern::Stream).then_some(spec.response_size),
            rate: spec.rate,
            measured_s,
            transactions_per_s: measured_s
                .filter(|_| transactions > 0)
                .map(|s| round2(transactions as f64 / s)),
            rr_timeouts: rr_over_datagrams.then(|| run.sum(|r| r.timeouts)),
            rr_late: rr_over_datagrams.then(|| run.sum(|r| r.late)),
            connections: (spec.pattern == Pattern::Crr).then(|| run.sum(|r| r.connections)),
            max_in_flight: (spec.pipeline > 1)
                .then(|| run.roles().map(|r| r.max_in_flight).max().unwrap_or(0)),
            nodelay_req: sending.filter(|_| tcp).map(|k| k.requested.nodelay),
            congestion_req: sending.and_then(|k| k.requested.congestion.clone()),
            tos_req: sending.and_then(|k| k.requested.tos),
            tos_eff: sending.and_then(|k| k.effective.tos),
            quickack_req: sending.filter(|_| tcp).map(|k| k.requested.quickack),
            notsent_lowat_req: sending.and_then(|k| k.requested.notsent_lowat),
            notsent_lowat_eff: sending.and_then(|k| k.effective.notsent_lowat),
            cork_req: sending.filter(|_| tcp).map(|k| k.requested.cork),
            busy_poll_req_us: sending.and_then(|k| k.requested.busy_poll_us),
            busy_poll_eff_us: sending.and_then(|k| k.effective.busy_poll_us),
            sndbuf_end: active.and_then(|r| r.sndbuf_end),
            rcvbuf_end: passive.and_then(|r| r.rcvbuf_end),
            sender_rcvbuf_eff: sending.and_then(|k| k.effective.rcvbuf),
            receiver_sndbuf_eff: receiving.and_then(|k| k.effective.sndbuf),
            tcp_rtt_us: sending_info.map(|i| i.rtt_us),
            tcp_min_rtt_us: sending_info.map(|i| i.min_rtt_us),
            tcp_cwnd: sending_info.map(|i| i.snd_cwnd),
            tcp_delivery_rate_bps: sending_info.map(|i| i.delivery_rate.saturating_mul(8)),
            tcp_snd_wscale: sending_info.map(|i| i.snd_wscale),
            tcp_rcv_wscale: sending_info.map(|i| i.rcv_wscale),
            tcp_pmtu: sending_info.map(|i| i.pmtu),
            tcp_bytes_retrans: sending_info.map(|i| i.bytes_retrans),
            interval: format_duration(spec.interval),
            warnings: (!warnings.is_empty()).then(|| warnings.join("; ")),
            rtt_uncorrected_p50_ns: unc.map(|p| p.p50),
            rtt_uncorrected_p99_ns: unc.map(|p| p.p99),
            rtt_uncorrected_p999_ns: unc.map(|p| p.p999),
            rtt_uncorrected_max_ns: unc.map(|p| p.max),
            probe: spec.probe,
            case_label: run.label.clone(),
            batch: spec.protocol.is_datagram().then_some(spec.batch),
            zerocopy_eff: sending.and_then(|k| k.effective.zerocopy),
            zerocopy_sends: zerocopy.then(|| run.sum(|r| r.zerocopy_sends)),
            zerocopy_completed: zerocopy.then(|| run.sum(|r| r.zerocopy_completed)),
            zerocopy_copied: zerocopy.then(|| run.sum(|r| r.zerocopy_copied)),
            sender_spin: spec.sender.spin,
            receiver_spin: spec.receiver.spin,
            sendfile: sending.is_some_and(|k| k.requested.sendfile),
            spliced_bytes_sent: splice.then(|| run.sum(|r| r.spliced_out)),
            spliced_bytes_received: splice.then(|| run.sum(|r| r.spliced_in)),
            sender_rss_kib: run.outcome.sender.rss_kib,
            receiver_rss_kib: run.outcome.receiver.as_ref().and_then(|r| r.rss_kib),
            sender_rss_kib_per_conn: run
                .outcome
                .sender
                .rss_kib
                .filter(|_| !run.outcome.sender.roles.is_empty())
                .map(|k| round2(k as f64 / run.outcome.sender.roles.len() as f64)),
            sender_cpus: run.cpus_of(crate::spec::config::Side::Sender),
            receiver_cpus: run.cpus_of(crate::spec::config::Side::Receiver),
            udp_gso_eff: sending.and_then(|k| k.effective.udp_gso).filter(|s| *s > 0),
            udp_gro_eff: receiving.and_then(|k| k.effective.udp_gro),
            not_applicable: run.not_applicable.join(";"),
            src: run.src.clone(),
            dst: run.dst.clone(),
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The columns the contract requires first, in its order (docs/results.md).
pub const SPEC_COLUMNS: &[&str] = &[
    "case",
    "repetition",
    "protocol",
    "pattern",
    "direction",
    "flows",
    "msg_size",
    "duration_s",
    "sndbuf_req",
    "sndbuf_eff",
    "rcvbuf_req",
    "rcvbuf_eff",
    "mss_req",
    "mss_eff",
    "nodelay",
    "congestion",
    "bytes_sent",
    "bytes_received",
    "goodput_bps",
    "messages_sent",
    "messages_received",
    "lost",
    "reordered",
    "duplicated",
    "transactions",
    "rtt_p50_ns",
    "rtt_p90_ns",
    "rtt_p99_ns",
    "rtt_p999_ns",
    "rtt_max_ns",
    "rtt_mean_ns",
    "tcp_retrans",
    "sender_cpu_pct",
    "receiver_cpu_pct",
    "status",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::header_of;

    #[test]
    fn header_starts_with_the_spec_columns_in_order() {
        let header = header_of::<SummaryRow>();
        assert_eq!(&header[..SPEC_COLUMNS.len()], SPEC_COLUMNS);
    }
}
