//! Per-size accounting: messages, bytes and round trips by log2 bucket of the message
//! size, for tests whose sizes follow a distribution.

use serde::{Deserialize, Serialize};

use super::EncodedHistogram;

/// log2 size buckets: bucket b holds sizes from 2^b to 2^(b+1) - 1 (bucket 0 also 0).
pub const SIZE_BUCKETS: usize = 33;

#[inline]
pub fn bucket_of(size: u64) -> usize {
    (63 - (size | 1).leading_zeros()) as usize
}

/// Per-size accounting of one role, recorded in fixed arrays (nothing allocates on the
/// recording path); the requester's round trips per bucket go into histograms made up
/// front for every bucket its sizes can reach.
pub struct SizeBuckets {
    pub messages: [u64; SIZE_BUCKETS],
    pub bytes: [u64; SIZE_BUCKETS],
    rtt: Vec<Option<hdrhistogram::Histogram<u64>>>,
}

impl SizeBuckets {
    /// Buckets that record received messages only.
    pub fn new() -> SizeBuckets {
        SizeBuckets {
            messages: [0; SIZE_BUCKETS],
            bytes: [0; SIZE_BUCKETS],
            rtt: Vec::new(),
        }
    }

    /// Buckets that also record round trips of transactions from `lo` to `hi` bytes.
    pub fn with_rtt(lo: u32, hi: u32) -> SizeBuckets {
        let mut s = SizeBuckets::new();
        s.rtt = (0..SIZE_BUCKETS)
            .map(|b| {
                (b >= bucket_of(lo as u64) && b <= bucket_of(hi as u64)).then(|| {
                    hdrhistogram::Histogram::new_with_bounds(
                        1,
                        super::HIST_MAX_NS,
                        // 1% resolution: a histogram per bucket stays small.
                        2,
                    )
                    .expect("static histogram bounds")
                })
            })
            .collect();
        s
    }

    /// One received message of `size` bytes.
    #[inline]
    pub fn record(&mut self, size: u64) {
        let b = bucket_of(size);
        self.messages[b] += 1;
        self.bytes[b] += size;
    }

    /// One transaction whose larger message had `size` bytes.
    #[inline]
    pub fn record_rtt(&mut self, size: u64, ns: u64) {
        if let Some(Some(h)) = self.rtt.get_mut(bucket_of(size)) {
            h.saturating_record(ns);
        }
    }

    /// The counts as they travel in a role's report.
    pub fn report(&self) -> SizeCounts {
        SizeCounts {
            messages: self.messages.to_vec(),
            bytes: self.bytes.to_vec(),
            rtt: self
                .rtt
                .iter()
                .enumerate()
                .filter_map(|(b, h)| {
                    h.as_ref()
                        .filter(|h| !h.is_empty())
                        .map(|h| (b as u32, EncodedHistogram::encode("rtt", h)))
                })
                .collect(),
        }
    }
}

impl Default for SizeBuckets {
    fn default() -> Self {
        SizeBuckets::new()
    }
}

/// A role's per-size counts: messages and bytes received per log2 bucket (index = bucket),
/// and the round trips of its transactions by the bucket of their larger message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SizeCounts {
    pub messages: Vec<u64>,
    pub bytes: Vec<u64>,
    pub rtt: Vec<(u32, EncodedHistogram)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(1023), 9);
        assert_eq!(bucket_of(1024), 10);
        assert_eq!(bucket_of(u32::MAX as u64), 31);
        let mut b = SizeBuckets::with_rtt(64, 4096);
        b.record(100);
        b.record(1000);
        b.record_rtt(1000, 5_000);
        b.record_rtt(1 << 20, 5_000); // no histogram there: ignored
        let r = b.report();
        assert_eq!(r.messages.iter().sum::<u64>(), 2);
        assert_eq!(r.bytes.iter().sum::<u64>(), 1100);
        assert_eq!(r.rtt.len(), 1);
        assert_eq!(r.rtt[0].0, 9);
    }
}
