//! One finished test (a case × repetition) and the figures derived from both sides'
//! reports. Derivations are sums and merges of what was measured; nothing is estimated.

pub mod stats;
pub mod vet;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::measure::outcome::{Status, TestOutcome};
use crate::measure::{latency_histogram, HistogramError, RoleReport};
use crate::spec::config::{Pattern, Side, TestSpec};

/// What a figure counts, and so which end of a connection counts into it: what is sent
/// (a stream's active end, both ends of a request/response), what is received (a stream's
/// passive end, both ends of a request/response), the requesters' own counts
/// (transactions, timeouts: a request/response's active end), crr's accepted
/// connections (its passive end), or what only a bulk stream's ends count (splice,
/// zero-copy: its active end sends, its passive end receives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    Sent,
    Received,
    Requests,
    Accepted,
    StreamSent,
    StreamReceived,
}

impl Tally {
    /// Whether the active (or the passive) end of a connection of `kind` counts into it.
    fn counted_at(self, kind: Pattern, active: bool) -> bool {
        let both = kind.is_transactional();
        match self {
            Tally::Sent => active || both,
            Tally::Received => !active || both,
            Tally::Requests => both && active,
            Tally::Accepted => kind.reconnects() && !active,
            Tally::StreamSent => !both && active,
            Tally::StreamReceived => !both && !active,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CaseRun {
    /// 1-based case number within the run.
    pub case: u32,
    /// 1-based repetition of the case.
    pub repetition: u32,
    /// The knob values that make this case (empty for a single-case run).
    pub label: String,
    pub spec: TestSpec,
    pub outcome: TestOutcome,
    /// Knobs of a sweep left out of this case because they do not apply to its protocol.
    pub not_applicable: Vec<String>,
    /// In a fleet run (`sockbench mesh`), the sending and the receiving host's names;
    /// empty otherwise.
    pub src: String,
    pub dst: String,
}

/// Percentiles of a merged latency histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        (!h.is_empty()).then(|| Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        })
    }
}

impl CaseRun {
    pub fn status(&self) -> Status {
        self.outcome.status
    }

    /// Every role report of both sides.
    pub fn roles(&self) -> impl Iterator<Item = &RoleReport> {
        self.outcome
            .sender
            .roles
            .iter()
            .chain(self.outcome.receiver.iter().flat_map(|r| r.roles.iter()))
    }

    /// The active and the passive end of the first connection: the socket that sends the
    /// bulk data (or the requests) and the one that receives it.
    pub fn first_conn_ends(&self) -> (Option<&RoleReport>, Option<&RoleReport>) {
        let active = self.roles().filter(|r| r.active).min_by_key(|r| r.conn);
        let passive = self.roles().filter(|r| !r.active).min_by_key(|r| r.conn);
        (active, passive)
    }

    /// Latency histograms merged over all flows, by metric name; an error for a histogram
    /// that will not decode or merge.
    pub fn merged_histograms(&self) -> Result<BTreeMap<String, Histogram<u64>>, HistogramError> {
        let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
        for role in self.roles() {
            for enc in &role.histograms {
                let h = enc.decode()?;
                merged
                    .entry(enc.metric.clone())
                    .or_insert_with(latency_histogram)
                    .add(&h)
                    .map_err(|error| HistogramError::Merge {
                        metric: enc.metric.clone(),
                        error,
                    })?;
            }
        }
        Ok(merged)
    }

    /// A counter summed over every role of both sides; saturating, as the receiver's
    /// figures arrive over the network and may be anything.
    pub fn sum(&self, f: impl Fn(&RoleReport) -> u64) -> u64 {
        self.roles().map(f).fold(0, u64::saturating_add)
    }

    /// Whether every end that counts into `tally` reported: not when the receiver's
    /// report never came (a failed test) and some of them were its.
    pub fn counted(&self, tally: Tally) -> bool {
        let its = |c: &crate::spec::config::ConnPlan| c.active == Side::Receiver;
        self.outcome.receiver.is_some()
            || !(self.spec.conn_plan().iter()).any(|c| tally.counted_at(c.kind, its(c)))
    }

    /// A sum over every role of a figure that counts `tally`, or `None` when not every end
    /// that counts into it reported ([`CaseRun::counted`]): a figure not measured, never a
    /// zero. (The other ends add nothing to it.)
    pub fn count(&self, tally: Tally, f: impl Fn(&RoleReport) -> u64) -> Option<u64> {
        self.counted(tally).then(|| self.sum(f))
    }

    /// Application payload received after the warm-up, over each receiver's own measured
    /// time, summed over connections (each end times itself on its own clock).
    pub fn goodput_bps(&self) -> Option<f64> {
        let main = self.spec.main_kind();
        let rates: Vec<f64> = self
            .roles()
            .filter(|r| r.kind == Some(main) && r.window_ns > 0 && r.measured_bytes > 0)
            .map(|r| r.measured_bytes as f64 * 8e9 / r.window_ns as f64)
            .collect();
        (!rates.is_empty()).then(|| rates.iter().sum())
    }

    /// The longest receiver-measured window, in seconds.
    pub fn measured_s(&self) -> Option<f64> {
        let main = self.spec.main_kind();
        self.roles()
            .filter(|r| r.kind == Some(main))
            .map(|r| r.window_ns)
            .max()
            .filter(|&w| w > 0)
            .map(|w| w as f64 / 1e9)
    }

    /// Datagrams that never arrived: sent minus unique received, over both directions.
    /// Known only when both sides reported.
    pub fn lost(&self) -> Option<u64> {
        if !self.spec.protocol.is_datagram() {
            return Some(0);
        }
        self.outcome.receiver.as_ref()?;
        Some(
            self.sum(|r| r.messages_sent)
                .saturating_sub(self.sum(|r| r.messages_received)),
        )
    }

    /// Segments retransmitted by every TCP data socket (TCP_INFO tcpi_total_retrans).
    pub fn tcp_retrans(&self) -> Option<u64> {
        let infos: Vec<_> = self.roles().filter_map(|r| r.tcp_info.as_ref()).collect();
        (!infos.is_empty()).then(|| infos.iter().map(|i| i.total_retrans as u64).sum())
    }

    pub fn rtt(&self) -> Option<Percentiles> {
        self.percentiles(crate::engine::rr::RTT)
    }

    /// Percentiles of one merged latency metric.
    pub fn percentiles(&self, metric: &str) -> Option<Percentiles> {
        self.merged_histograms()
            .ok()?
            .get(metric)
            .and_then(Percentiles::of)
    }

    /// The CPUs one side's traffic threads could run on, over all its connections.
    pub fn cpus_of(&self, side: crate::spec::config::Side) -> String {
        let mut cpus: Vec<u32> = self
            .roles()
            .filter(|r| r.side == Some(side))
            .flat_map(|r| r.cpus.iter().copied())
            .collect();
        cpus.sort_unstable();
        cpus.dedup();
        cpus.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Warnings from both sides (clamped buffers, ...), without repeats.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let sides = [Some(&self.outcome.sender), self.outcome.receiver.as_ref()];
        for (side, rep) in ["sender", "receiver"].iter().zip(sides) {
            let Some(rep) = rep else { continue };
            let role_warnings = rep.roles.iter().flat_map(|r| r.knobs.warnings.iter());
            for w in rep.warnings.iter().chain(role_warnings) {
                let line = format!("{side}: {w}");
                if seen.insert(line.clone()) {
                    out.push(line);
                }
            }
        }
        out
    }
}
