//! `histograms.csv`: the latency histograms themselves in long form, one row per case ×
//! repetition × metric × bucket, from HdrHistogram's logarithmic iteration. Only buckets
//! holding samples are written; `percentile` is the share of samples at or below
//! `value_ns`.

use hdrhistogram::Histogram;
use serde::Serialize;

/// First bucket boundary (ns) and growth factor of the log-bucketed iteration: 100 ns,
/// then 10% wider each bucket, up to the histogram's one-minute ceiling.
pub const FIRST_BUCKET_NS: u64 = 100;
pub const LOG_BASE: f64 = 1.1;

#[derive(Debug, Default, Serialize)]
pub struct HistogramRow {
    pub case: u32,
    pub repetition: u32,
    pub metric: String,
    /// Upper bound of the bucket, nanoseconds.
    pub value_ns: u64,
    pub count: u64,
    pub percentile: f64,
    /// Fleet runs: the sending and the receiving host; empty otherwise.
    pub src: String,
    pub dst: String,
}

pub fn bucket_rows(
    case: u32,
    repetition: u32,
    metric: &str,
    h: &Histogram<u64>,
) -> Vec<HistogramRow> {
    h.iter_log(FIRST_BUCKET_NS, LOG_BASE)
        .filter(|v| v.count_since_last_iteration() > 0)
        .map(|v| HistogramRow {
            case,
            repetition,
            metric: metric.to_string(),
            value_ns: v.value_iterated_to(),
            count: v.count_since_last_iteration(),
            percentile: (v.percentile() * 1e4).round() / 1e4,
            src: String::new(),
            dst: String::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::latency_histogram;

    #[test]
    fn buckets_account_for_every_sample() {
        let mut h = latency_histogram();
        for v in [10_000u64, 10_050, 20_000, 40_000, 40_000, 1_000_000] {
            h.record(v).unwrap();
        }
        let rows = bucket_rows(1, 1, "rtt", &h);
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 6);
        assert!(rows.windows(2).all(|w| w[0].value_ns < w[1].value_ns));
        assert_eq!(rows.last().unwrap().percentile, 100.0);
        assert!(rows.iter().all(|r| r.count > 0));
    }
}
