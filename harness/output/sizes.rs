//! `sizes.csv`: the messages received and the round trips measured, by message size — one
//! row per case × repetition × log2 size bucket that saw any. Sums over a case ×
//! repetition's rows equal its summary row's `messages_received` and `bytes_received`, so
//! "which messages suffer from Nagle / a small buffer" is one group-by.
//!
//! With sizes from a distribution, each role counted the sizes it received; with fixed
//! sizes, every message a role received has the one size it reads, and its round trips
//! fall in that bucket.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::engine::rr::RTT;
use crate::measure::latency_histogram;
use crate::measure::sizes::{bucket_of, SIZE_BUCKETS};
use crate::results::CaseRun;
use crate::spec::config::Pattern;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SizeRow {
    pub case: u32,
    pub repetition: u32,
    /// The bucket's smallest size, bytes: a power of two (the bucket holds sizes up to
    /// twice that, less one).
    pub size_bucket: u64,
    /// The bucket's largest size, bytes.
    pub size_bucket_max: u64,
    /// Messages received in the bucket (every role, warm-up included).
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Round trips measured after the warm-up whose larger message (request or
    /// response) falls in the bucket; empty when the test measured none.
    pub transactions: Option<u64>,
    pub rtt_p50_ns: Option<u64>,
    pub rtt_p99_ns: Option<u64>,
    /// Fleet runs: the sending and the receiving host; empty otherwise.
    pub src: String,
    pub dst: String,
}

/// The rows of one finished test.
pub fn rows(run: &CaseRun) -> Vec<SizeRow> {
    let spec = &run.spec;
    let mut messages = [0u64; SIZE_BUCKETS];
    let mut bytes = [0u64; SIZE_BUCKETS];
    let mut rtt: Vec<Option<Histogram<u64>>> = (0..SIZE_BUCKETS).map(|_| None).collect();
    let mut add_rtt = |b: usize, h: &Histogram<u64>| {
        if h.is_empty() {
            return;
        }
        let _ = rtt[b].get_or_insert_with(latency_histogram).add(h);
    };
    for role in run.roles() {
        if let Some(c) = &role.sizes {
            for (b, (m, n)) in c
                .messages
                .iter()
                .zip(&c.bytes)
                .enumerate()
                .take(SIZE_BUCKETS)
            {
                messages[b] += m;
                bytes[b] += n;
            }
            for (b, enc) in &c.rtt {
                if let (Ok(h), true) = (enc.decode(), (*b as usize) < SIZE_BUCKETS) {
                    add_rtt(*b as usize, &h);
                }
            }
            continue;
        }
        let (req, resp) = spec.rr_sizes();
        let received = match (role.kind, role.active) {
            (Some(Pattern::Stream), _) | (None, _) => spec.msg_size,
            (Some(_), true) => resp,
            (Some(_), false) => req,
        };
        if role.messages_received > 0 || role.bytes_received > 0 {
            let b = bucket_of(received as u64);
            messages[b] += role.messages_received;
            bytes[b] += role.bytes_received;
        }
        if role.kind.is_some_and(Pattern::is_transactional) {
            for enc in role.histograms.iter().filter(|e| e.metric == RTT) {
                if let Ok(h) = enc.decode() {
                    add_rtt(bucket_of(req.max(resp) as u64), &h);
                }
            }
        }
    }
    (0..SIZE_BUCKETS)
        .filter(|&b| messages[b] > 0 || bytes[b] > 0 || rtt[b].is_some())
        .map(|b| {
            let h = rtt[b].as_ref();
            SizeRow {
                case: run.case,
                repetition: run.repetition,
                size_bucket: if b == 0 { 0 } else { 1 << b },
                size_bucket_max: (2u64 << b) - 1,
                messages: messages[b],
                bytes: bytes[b],
                transactions: h.map(|h| h.len()),
                rtt_p50_ns: h.map(|h| h.value_at_quantile(0.50)),
                rtt_p99_ns: h.map(|h| h.value_at_quantile(0.99)),
                src: run.src.clone(),
                dst: run.dst.clone(),
            }
        })
        .collect()
}
