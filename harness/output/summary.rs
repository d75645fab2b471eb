//! `summary.csv`: one row per case × repetition. The first columns are exactly the
//! contract's (docs/results.md); further columns follow them. Units are in the names. An
//! empty cell means "not measured" or "does not apply to this row", never zero.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::measure::outcome::Status;
use crate::measure::RoleReport;
use crate::results::{CaseRun, Tally};
use crate::spec::config::{Direction, Pattern, Protocol};
use crate::spec::knobs::{Ends, KNOBS};
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

/// `auto` or a number of bytes; a CSV reader offers the number as text or as a number.
impl<'de> Deserialize<'de> for SizeReq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SizeReq;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size in bytes or auto")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<SizeReq, E> {
                Ok(SizeReq::Bytes(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SizeReq, E> {
                u64::try_from(n)
                    .map(SizeReq::Bytes)
                    .map_err(|_| E::custom(format!("{n} is not a size in bytes")))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SizeReq, E> {
                if text == "auto" {
                    return Ok(SizeReq::Auto);
                }
                text.parse()
                    .map(SizeReq::Bytes)
                    .map_err(|_| E::custom(format!("{text:?} is neither a size in bytes nor auto")))
            }
        }
        d.deserialize_any(Visitor)
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
    pub protocol: Protocol,
    pub pattern: Pattern,
    pub direction: Direction,
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
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub goodput_bps: Option<f64>,
    pub messages_sent: Option<u64>,
    pub messages_received: Option<u64>,
    pub lost: Option<u64>,
    pub reordered: Option<u64>,
    pub duplicated: Option<u64>,
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
    pub status: Status,
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
    /// connection, as the requester counted them; crr: the most connections the sender
    /// had open at once (from socket to close, counted as they open and close across all
    /// its workers); empty otherwise.
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
    /// The knob values that make this case (from the matrix or a `[[case]]` table).
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
    /// The systems the sending and the receiving process ran on: `linux`, `macos`,
    /// `freebsd`, `windows` (schema 3); empty when a side did not say.
    pub sender_os: Option<crate::sys::Os>,
    pub receiver_os: Option<crate::sys::Os>,
    /// SO_LINGER seconds asked for on the sending (requesting) socket, and as the kernel
    /// reported it back (empty: off, the default graceful close).
    pub linger_req: Option<u32>,
    pub linger_eff: Option<u32>,
    /// Datagrams whose sequence number fell outside the receiving end's tracking window
    /// (forged, corrupt, or too late to tell a duplicate from a reordering); empty for
    /// byte streams.
    pub invalid: Option<u64>,
}

impl SummaryRow {
    pub fn from_run(run: &CaseRun) -> SummaryRow {
        let mut row = SummaryRow::figures(run);
        row.add_details(run);
        let (active, passive) = run.first_conn_ends();
        let splice = run.spec.sender.splice || run.spec.receiver.splice;
        let (sender_cpus, receiver_cpus) = (
            run.cpus_of(crate::spec::config::Side::Sender),
            run.cpus_of(crate::spec::config::Side::Receiver),
        );
        let ends = Ends {
            proto: run.spec.protocol,
            sending: active.map(|r| &r.knobs),
            receiving: passive.map(|r| &r.knobs),
            sender: &run.spec.sender,
            receiver: &run.spec.receiver,
            snd_mss: active.and_then(|r| r.tcp_info.as_ref()).map(|i| i.snd_mss),
            cpus: [&sender_cpus, &receiver_cpus],
            spliced: [
                splice
                    .then(|| run.count(Tally::StreamSent, |r| r.spliced_out))
                    .flatten(),
                splice
                    .then(|| run.count(Tally::StreamReceived, |r| r.spliced_in))
                    .flatten(),
            ],
        };
        row.with_knob_columns(&ends)
    }

    /// The knobs' columns, each filled as its entry in the knob table says. The row goes
    /// through its own serde form so that a column is named once, by its field; a cell whose
    /// type does not fit its field fails the knob table's test, not a run.
    fn with_knob_columns(self, ends: &Ends) -> SummaryRow {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::to_value(&self) else {
            return self;
        };
        for column in KNOBS.iter().flat_map(|k| k.columns) {
            let cell = serde_json::to_value((column.cell)(ends)).unwrap_or_default();
            map.insert(column.name.to_string(), cell);
        }
        serde_json::from_value(serde_json::Value::Object(map)).unwrap_or(self)
    }

    /// The contract's columns but the knobs'.
    fn figures(run: &CaseRun) -> SummaryRow {
        let spec = &run.spec;
        let rtt = run.rtt();
        // Sequence-number counts: datagrams' receiving ends; none for a byte stream.
        let sequenced = |f: fn(&RoleReport) -> u64| match spec.protocol.is_datagram() {
            true => run.count(Tally::Received, f),
            false => Some(0),
        };
        SummaryRow {
            case: run.case,
            repetition: run.repetition,
            protocol: spec.protocol,
            pattern: spec.pattern,
            direction: spec.direction,
            flows: spec.flows,
            msg_size: spec.msg_size,
            duration_s: spec.duration.as_secs_f64(),
            bytes_sent: run.count(Tally::Sent, |r| r.bytes_sent),
            bytes_received: run.count(Tally::Received, |r| r.bytes_received),
            goodput_bps: run.goodput_bps().map(f64::round),
            messages_sent: run.count(Tally::Sent, |r| r.messages_sent),
            messages_received: run.count(Tally::Received, |r| r.messages_received),
            lost: run.lost(),
            reordered: sequenced(|r| r.reordered),
            duplicated: sequenced(|r| r.duplicated),
            transactions: spec
                .traffic()
                .has_transactions()
                .then(|| run.count(Tally::Requests, |r| r.transactions))
                .flatten(),
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
            status: run.status(),
            error: run.outcome.error.clone(),
            ..SummaryRow::default()
        }
    }

    /// The columns beyond the contract's but the knobs'.
    fn add_details(&mut self, run: &CaseRun) {
        let spec = &run.spec;
        let (active, passive) = run.first_conn_ends();
        let info = active.and_then(|r| r.tcp_info.as_ref());
        let unc = run.percentiles(crate::engine::rr::RTT_UNCORRECTED);
        let transactions = run.count(Tally::Requests, |r| r.transactions);
        let warnings = run.warnings();
        let traffic = spec.traffic();
        let rr_over_datagrams = spec.protocol.is_datagram() && traffic.has_transactions();
        let zerocopy = spec.sender.zerocopy || spec.receiver.zerocopy;
        let zerocopy_sum =
            |f: fn(&RoleReport) -> u64| zerocopy.then(|| run.count(Tally::StreamSent, f)).flatten();
        self.warmup_s = spec.warmup.as_secs_f64();
        self.response_size = traffic.exchange().map(|e| e.response_size);
        self.rate = spec.rate;
        self.measured_s = run.measured_s();
        self.transactions_per_s = (self.measured_s.zip(transactions))
            .filter(|&(_, t)| t > 0)
            .map(|(s, t)| round2(t as f64 / s));
        let requesters = |f: fn(&RoleReport) -> u64| {
            (rr_over_datagrams.then(|| run.count(Tally::Requests, f))).flatten()
        };
        self.rr_timeouts = requesters(|r| r.timeouts);
        self.rr_late = requesters(|r| r.late);
        self.connections = (spec.pattern.reconnects())
            .then(|| run.count(Tally::Accepted, |r| r.connections))
            .flatten();
        self.max_in_flight = (traffic.overlaps_transactions() && run.counted(Tally::Requests))
            .then(|| run.roles().map(|r| r.max_in_flight).max().unwrap_or(0));
        self.sndbuf_end = active.and_then(|r| r.sndbuf_end);
        self.rcvbuf_end = passive.and_then(|r| r.rcvbuf_end);
        self.tcp_rtt_us = info.map(|i| i.rtt_us);
        self.tcp_min_rtt_us = info.map(|i| i.min_rtt_us);
        self.tcp_cwnd = info.map(|i| i.snd_cwnd);
        self.tcp_delivery_rate_bps = info.map(|i| i.delivery_rate.saturating_mul(8));
        self.tcp_snd_wscale = info.map(|i| i.snd_wscale);
        self.tcp_rcv_wscale = info.map(|i| i.rcv_wscale);
        self.tcp_pmtu = info.map(|i| i.pmtu);
        self.tcp_bytes_retrans = info.map(|i| i.bytes_retrans);
        self.interval = format_duration(spec.interval);
        self.warnings = (!warnings.is_empty()).then(|| warnings.join("; "));
        self.rtt_uncorrected_p50_ns = unc.map(|p| p.p50);
        self.rtt_uncorrected_p99_ns = unc.map(|p| p.p99);
        self.rtt_uncorrected_p999_ns = unc.map(|p| p.p999);
        self.rtt_uncorrected_max_ns = unc.map(|p| p.max);
        self.probe = spec.probe;
        self.case_label = run.label.clone();
        self.batch = spec.protocol.is_datagram().then_some(spec.batch);
        self.zerocopy_sends = zerocopy_sum(|r| r.zerocopy_sends);
        self.zerocopy_completed = zerocopy_sum(|r| r.zerocopy_completed);
        self.zerocopy_copied = zerocopy_sum(|r| r.zerocopy_copied);
        let sender = &run.outcome.sender;
        self.sender_rss_kib = sender.rss_kib;
        self.receiver_rss_kib = run.outcome.receiver.as_ref().and_then(|r| r.rss_kib);
        self.sender_rss_kib_per_conn = sender
            .rss_kib
            .filter(|_| !sender.roles.is_empty())
            .map(|k| round2(k as f64 / sender.roles.len() as f64));
        self.not_applicable = run.not_applicable.join(";");
        self.src = run.src.clone();
        self.dst = run.dst.clone();
        self.invalid = (spec.protocol.is_datagram())
            .then(|| run.count(Tally::Received, |r| r.invalid))
            .flatten();
        self.sender_os = run.outcome.sender.os;
        self.receiver_os = run.outcome.receiver.as_ref().and_then(|r| r.os);
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

#[cfg(test)]
mod knob_column_tests {
    use super::*;
    use crate::output::header_of;
    use crate::spec::config::{Protocol, SocketKnobs};
    use crate::spec::knobs::{AppliedKnobs, Cell, EffectiveKnobs};

    /// Every column the knob table names is a column of summary.csv, and every cell the
    /// table gives fits its typed field (else the row would lose its knob columns).
    #[test]
    fn the_knob_tables_columns_are_summary_columns_and_fit_their_fields() {
        let header = header_of::<SummaryRow>();
        let mut requested = SocketKnobs::default();
        for knob in KNOBS {
            (knob.parse)(&mut requested, knob.example).unwrap();
        }
        let applied = AppliedKnobs {
            requested: requested.clone(),
            effective: EffectiveKnobs {
                sndbuf: Some(1),
                rcvbuf: Some(2),
                maxseg: Some(3),
                nodelay: Some(true),
                congestion: Some("reno".into()),
                tos: Some(4),
                quickack: Some(true),
                notsent_lowat: Some(5),
                cork: Some(true),
                busy_poll_us: Some(6),
                udp_gso: Some(7),
                udp_gro: Some(true),
                zerocopy: Some(true),
                linger: Some(10),
            },
            warnings: Vec::new(),
        };
        let ends = Ends {
            proto: Protocol::Tcp,
            sending: Some(&applied),
            receiving: Some(&applied),
            sender: &requested,
            receiver: &requested,
            snd_mss: Some(1188),
            cpus: ["0", "1"],
            spliced: [Some(8), Some(9)],
        };
        let row = SummaryRow::default().with_knob_columns(&ends);
        let json = serde_json::to_value(&row).unwrap();
        for column in KNOBS.iter().flat_map(|k| k.columns) {
            assert!(header.iter().any(|h| h == column.name), "{}", column.name);
            let cell = (column.cell)(&ends);
            assert_ne!(cell, Cell::Empty, "{}", column.name);
            assert_eq!(
                json[column.name],
                serde_json::to_value(&cell).unwrap(),
                "{}",
                column.name
            );
        }
        assert_eq!(row.sndbuf_req, Some(SizeReq::Bytes(65536)));
        assert_eq!(row.mss_eff, Some(1188));
    }

    #[test]
    fn a_requested_size_reads_back_from_text_or_number() {
        let auto: SizeReq = serde_json::from_str("\"auto\"").unwrap();
        assert_eq!(auto, SizeReq::Auto);
        let n: SizeReq = serde_json::from_str("65536").unwrap();
        assert_eq!(n, SizeReq::Bytes(65536));
        assert!(serde_json::from_str::<SizeReq>("\"64Q\"").is_err());
    }

    /// The summary row of a one-connection test of `keys`, whose sender's end (and the
    /// receiver's, if it reported) counted 1000 bytes out in 10 messages and 900 in in 9.
    fn row_of(keys: &[(&str, &str)], receiver: bool) -> SummaryRow {
        SummaryRow::from_run(&run_of(keys, receiver))
    }

    fn run_of(keys: &[(&str, &str)], receiver: bool) -> CaseRun {
        use crate::measure::outcome::{Status, TestOutcome};
        use crate::measure::SideReport;
        use std::time::SystemTime;
        let mut b = crate::spec::config::SpecBuilder::new();
        for (k, v) in keys {
            b.set(k, v).unwrap();
        }
        let spec = b.build().unwrap();
        let role = |active: bool| RoleReport {
            active,
            kind: Some(spec.main_kind()),
            bytes_sent: if active { 1000 } else { 0 },
            messages_sent: if active { 10 } else { 0 },
            bytes_received: if active { 0 } else { 900 },
            messages_received: if active { 0 } else { 9 },
            ..RoleReport::default()
        };
        let forward = spec.direction == Direction::Forward;
        let side = |active: bool| SideReport {
            roles: vec![role(active)],
            ..SideReport::default()
        };
        CaseRun {
            case: 1,
            repetition: 1,
            label: String::new(),
            outcome: TestOutcome {
                sender: side(forward),
                receiver: receiver.then(|| side(!forward)),
                status: if receiver {
                    Status::Ok
                } else {
                    Status::Aborted
                },
                error: None,
                started: SystemTime::now(),
            },
            spec,
            not_applicable: Vec::new(),
            src: String::new(),
            dst: String::new(),
        }
    }

    /// `tcp_retrans` (the contract's) sums the segments of every TCP data socket of both
    /// ends; `tcp_bytes_retrans`, like the other `tcp_*` details, is the first
    /// connection's sending socket's alone.
    #[test]
    fn retransmitted_segments_are_every_sockets_and_bytes_the_first_senders() {
        use crate::sys::tcp_info::TcpInfo;
        let mut run = run_of(&[("flows", "2")], true);
        let info = |segments: u32| TcpInfo {
            total_retrans: segments,
            bytes_retrans: u64::from(segments) * 1448,
            ..TcpInfo::default()
        };
        let sender = &mut run.outcome.sender.roles;
        sender[0].tcp_info = Some(info(3));
        sender.push(RoleReport {
            tcp_info: Some(info(4)),
            ..sender[0].clone()
        });
        run.outcome.receiver.as_mut().unwrap().roles[0].tcp_info = Some(info(1));
        let r = SummaryRow::from_run(&run);
        assert_eq!(r.tcp_retrans, Some(8));
        assert_eq!(r.tcp_bytes_retrans, Some(3 * 1448));
    }

    /// A test whose receiver died: its report never came, so what only its roles counted
    /// is not measured (empty), not zero; what the sender's roles counted alone stays.
    #[test]
    fn counts_of_a_receiver_that_never_reported_are_empty_not_zero() {
        // A forward tcp stream: the sender's sends stay; the receiving end's are unknown.
        let r = row_of(&[], false);
        assert_eq!((r.bytes_sent, r.messages_sent), (Some(1000), Some(10)));
        assert_eq!((r.bytes_received, r.messages_received), (None, None));
        // A byte stream loses, reorders and duplicates nothing, by definition.
        assert_eq!(
            (r.lost, r.reordered, r.duplicated),
            (Some(0), Some(0), Some(0))
        );
        let r = row_of(&[], true);
        assert_eq!(
            (r.bytes_received, r.messages_received),
            (Some(900), Some(9))
        );
        // Datagrams: the sequence-number counts were the receiver's.
        let r = row_of(&[("proto", "udp")], false);
        assert_eq!(
            (r.lost, r.reordered, r.duplicated, r.invalid),
            (None, None, None, None)
        );
        assert_eq!(r.bytes_sent, Some(1000));
        let r = row_of(&[("proto", "udp")], true);
        assert_eq!(
            (r.lost, r.reordered, r.duplicated, r.invalid),
            (Some(1), Some(0), Some(0), Some(0))
        );
        // Reverse: the receiver wrote the data, so the sends are its.
        let r = row_of(&[("direction", "reverse")], false);
        assert_eq!((r.bytes_sent, r.bytes_received), (None, Some(900)));
        // Request/response: both ends send and receive.
        let r = row_of(&[("pattern", "rr")], false);
        assert_eq!(
            (r.bytes_sent, r.bytes_received, r.transactions),
            (None, None, Some(0))
        );
        // The requesters' counts are theirs alone: in reverse, the receiver's.
        let r = row_of(&[("pattern", "rr"), ("direction", "reverse")], false);
        assert_eq!(r.transactions, None);
        // A probe's requesters are the sender's whatever the stream's direction; its
        // responders write too, so the sends are not all the sender's.
        let r = row_of(&[("direction", "reverse"), ("probe", "rr")], false);
        assert_eq!((r.transactions, r.bytes_sent), (Some(0), None));
        // Splice and zero-copy are the stream's alone: a probe's ends take no part.
        let r = row_of(&[("probe", "rr"), ("zerocopy", "true")], false);
        assert_eq!(r.zerocopy_sends, Some(0));
        let r = row_of(&[("probe", "rr")], false);
        assert_eq!(
            (r.transactions, r.bytes_sent, r.bytes_received),
            (Some(0), None, None)
        );
    }
}
