//! The figures of a test that can be named, compared and optimised: each a numeric
//! summary.csv column, read from `SummaryRow`'s own field.

use serde::{Deserialize, Serialize};

use super::summary::SummaryRow;

/// A figure of one test that a goal, a constraint or a comparison may name: a numeric summary.csv
/// column (its serde name is the column's name), or `lost_pct` (datagrams lost over
/// those sent, in percent). Listed in the order of their names.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Duplicated,
    #[default]
    GoodputBps,
    Lost,
    LostPct,
    RcvbufEff,
    ReceiverCpuPct,
    ReceiverRssKib,
    Reordered,
    RrTimeouts,
    RttMaxNs,
    RttMeanNs,
    RttP50Ns,
    RttP90Ns,
    RttP999Ns,
    RttP99Ns,
    RttUncorrectedMaxNs,
    RttUncorrectedP50Ns,
    RttUncorrectedP999Ns,
    RttUncorrectedP99Ns,
    SenderCpuPct,
    SenderRssKib,
    SndbufEff,
    TcpBytesRetrans,
    TcpMinRttUs,
    TcpRetrans,
    TcpRttUs,
    Transactions,
    TransactionsPerS,
}

impl Metric {
    pub const ALL: [Metric; 28] = [
        Metric::Duplicated,
        Metric::GoodputBps,
        Metric::Lost,
        Metric::LostPct,
        Metric::RcvbufEff,
        Metric::ReceiverCpuPct,
        Metric::ReceiverRssKib,
        Metric::Reordered,
        Metric::RrTimeouts,
        Metric::RttMaxNs,
        Metric::RttMeanNs,
        Metric::RttP50Ns,
        Metric::RttP90Ns,
        Metric::RttP999Ns,
        Metric::RttP99Ns,
        Metric::RttUncorrectedMaxNs,
        Metric::RttUncorrectedP50Ns,
        Metric::RttUncorrectedP999Ns,
        Metric::RttUncorrectedP99Ns,
        Metric::SenderCpuPct,
        Metric::SenderRssKib,
        Metric::SndbufEff,
        Metric::TcpBytesRetrans,
        Metric::TcpMinRttUs,
        Metric::TcpRetrans,
        Metric::TcpRttUs,
        Metric::Transactions,
        Metric::TransactionsPerS,
    ];

    /// The summary.csv column (or `lost_pct`), as serde names it.
    pub fn column(self) -> &'static str {
        match self {
            Metric::Duplicated => "duplicated",
            Metric::GoodputBps => "goodput_bps",
            Metric::Lost => "lost",
            Metric::LostPct => "lost_pct",
            Metric::RcvbufEff => "rcvbuf_eff",
            Metric::ReceiverCpuPct => "receiver_cpu_pct",
            Metric::ReceiverRssKib => "receiver_rss_kib",
            Metric::Reordered => "reordered",
            Metric::RrTimeouts => "rr_timeouts",
            Metric::RttMaxNs => "rtt_max_ns",
            Metric::RttMeanNs => "rtt_mean_ns",
            Metric::RttP50Ns => "rtt_p50_ns",
            Metric::RttP90Ns => "rtt_p90_ns",
            Metric::RttP999Ns => "rtt_p999_ns",
            Metric::RttP99Ns => "rtt_p99_ns",
            Metric::RttUncorrectedMaxNs => "rtt_uncorrected_max_ns",
            Metric::RttUncorrectedP50Ns => "rtt_uncorrected_p50_ns",
            Metric::RttUncorrectedP999Ns => "rtt_uncorrected_p999_ns",
            Metric::RttUncorrectedP99Ns => "rtt_uncorrected_p99_ns",
            Metric::SenderCpuPct => "sender_cpu_pct",
            Metric::SenderRssKib => "sender_rss_kib",
            Metric::SndbufEff => "sndbuf_eff",
            Metric::TcpBytesRetrans => "tcp_bytes_retrans",
            Metric::TcpMinRttUs => "tcp_min_rtt_us",
            Metric::TcpRetrans => "tcp_retrans",
            Metric::TcpRttUs => "tcp_rtt_us",
            Metric::Transactions => "transactions",
            Metric::TransactionsPerS => "transactions_per_s",
        }
    }

    /// What a reader calls the figure, without its unit: `goodput`, `p99 round trip`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Duplicated => "duplicated datagrams",
            Metric::GoodputBps => "goodput",
            Metric::Lost => "lost messages",
            Metric::LostPct => "lost share",
            Metric::RcvbufEff => "receive buffer (kernel's)",
            Metric::ReceiverCpuPct => "receiver CPU",
            Metric::ReceiverRssKib => "receiver memory",
            Metric::Reordered => "reordered datagrams",
            Metric::RrTimeouts => "request timeouts",
            Metric::RttMaxNs => "longest round trip",
            Metric::RttMeanNs => "mean round trip",
            Metric::RttP50Ns => "p50 round trip",
            Metric::RttP90Ns => "p90 round trip",
            Metric::RttP999Ns => "p99.9 round trip",
            Metric::RttP99Ns => "p99 round trip",
            Metric::RttUncorrectedMaxNs => "longest round trip (uncorrected)",
            Metric::RttUncorrectedP50Ns => "p50 round trip (uncorrected)",
            Metric::RttUncorrectedP999Ns => "p99.9 round trip (uncorrected)",
            Metric::RttUncorrectedP99Ns => "p99 round trip (uncorrected)",
            Metric::SenderCpuPct => "sender CPU",
            Metric::SenderRssKib => "sender memory",
            Metric::SndbufEff => "send buffer (kernel's)",
            Metric::TcpBytesRetrans => "bytes retransmitted",
            Metric::TcpMinRttUs => "TCP's minimum RTT",
            Metric::TcpRetrans => "segments retransmitted",
            Metric::TcpRttUs => "TCP's smoothed RTT",
            Metric::Transactions => "transactions",
            Metric::TransactionsPerS => "transactions",
        }
    }

    /// The metric of a column name.
    pub fn of_column(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.column() == name)
    }

    /// The unit to show this figure's values in, and what they are divided by for it,
    /// chosen from the largest value shown so that the numbers stay readable: `Mbit/s` on
    /// a 100 Mbit/s path and `Gbit/s` on loopback, `ms` for a 20 ms round trip.
    pub fn unit_for(self, max: f64) -> (f64, &'static str) {
        let column = self.column();
        if column.ends_with("_bps") {
            bps_unit(max)
        } else if column.ends_with("_ns") {
            match max {
                m if m >= 2e9 => (1e9, "s"),
                m if m >= 2e6 => (1e6, "ms"),
                _ => (1e3, "µs"),
            }
        } else if column.ends_with("_us") {
            if max >= 2e3 {
                (1e3, "ms")
            } else {
                (1.0, "µs")
            }
        } else if self == Metric::TransactionsPerS {
            if max >= 2e3 {
                (1e3, "k/s")
            } else {
                (1.0, "per s")
            }
        } else if column.ends_with("_pct") {
            (1.0, "%")
        } else if column.ends_with("_kib") {
            (1.0, "KiB")
        } else if column.ends_with("_eff") {
            (1024.0, "KiB")
        } else {
            (1.0, "")
        }
    }

    /// A round trip measured by the pattern or the probe (needs transactions).
    pub fn is_rtt(self) -> bool {
        self.column().starts_with("rtt_")
    }

    /// This figure of a summary row, when it was measured: the row's own field, so a
    /// misspelt column is a compile error.
    pub fn of(self, row: &SummaryRow) -> Option<f64> {
        let u = |v: Option<u64>| v.map(|x| x as f64);
        let v = match self {
            Metric::Duplicated => u(row.duplicated),
            Metric::GoodputBps => row.goodput_bps,
            Metric::Lost => u(row.lost),
            Metric::LostPct => match (row.messages_sent, row.lost) {
                (Some(sent), Some(lost)) if sent > 0 => Some(lost as f64 * 100.0 / sent as f64),
                _ => None,
            },
            Metric::RcvbufEff => u(row.rcvbuf_eff),
            Metric::ReceiverCpuPct => row.receiver_cpu_pct,
            Metric::ReceiverRssKib => u(row.receiver_rss_kib),
            Metric::Reordered => u(row.reordered),
            Metric::RrTimeouts => u(row.rr_timeouts),
            Metric::RttMaxNs => u(row.rtt_max_ns),
            Metric::RttMeanNs => row.rtt_mean_ns,
            Metric::RttP50Ns => u(row.rtt_p50_ns),
            Metric::RttP90Ns => u(row.rtt_p90_ns),
            Metric::RttP999Ns => u(row.rtt_p999_ns),
            Metric::RttP99Ns => u(row.rtt_p99_ns),
            Metric::RttUncorrectedMaxNs => u(row.rtt_uncorrected_max_ns),
            Metric::RttUncorrectedP50Ns => u(row.rtt_uncorrected_p50_ns),
            Metric::RttUncorrectedP999Ns => u(row.rtt_uncorrected_p999_ns),
            Metric::RttUncorrectedP99Ns => u(row.rtt_uncorrected_p99_ns),
            Metric::SenderCpuPct => row.sender_cpu_pct,
            Metric::SenderRssKib => u(row.sender_rss_kib),
            Metric::SndbufEff => u(row.sndbuf_eff),
            Metric::TcpBytesRetrans => u(row.tcp_bytes_retrans),
            Metric::TcpMinRttUs => row.tcp_min_rtt_us.map(f64::from),
            Metric::TcpRetrans => u(row.tcp_retrans),
            Metric::TcpRttUs => row.tcp_rtt_us.map(f64::from),
            Metric::Transactions => u(row.transactions),
            Metric::TransactionsPerS => row.transactions_per_s,
        };
        v.filter(|x| x.is_finite())
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.column())
    }
}

/// A unit for bits per second that keeps the numbers readable, from the largest value.
pub fn bps_unit(max: f64) -> (f64, &'static str) {
    if max >= 2e9 {
        (1e9, "Gbit/s")
    } else if max >= 2e6 {
        (1e6, "Mbit/s")
    } else if max >= 2e3 {
        (1e3, "kbit/s")
    } else {
        (1.0, "bit/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_named_by_their_columns() {
        for m in Metric::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.column()));
            assert_eq!(Metric::of_column(m.column()), Some(m));
        }
        for m in Metric::ALL {
            let name = m.name();
            assert!(!name.contains('_'), "{m}: '{name}' is a column's name");
        }
        let mut sorted = Metric::ALL;
        sorted.sort_by_key(|m| m.column());
        assert_eq!(sorted, Metric::ALL, "in the order of their names");
    }
}
