//! [criterion](https://docs.rs/criterion) benchmarks of [`Test`]s, without `iter_custom`
//! glue (the `criterion` feature).
//!
//! Each criterion sample runs the whole test once against the receiver; the figure
//! criterion gets is the test's own measurement, scaled to criterion's iteration count:
//!
//! - a stream test is [`Throughput::Bytes`] of its message size per iteration, timed by
//!   the receiver's goodput (criterion's throughput is sockbench's `goodput_bps`);
//! - an rr or crr test is one round trip per iteration ([`Throughput::Elements`]), timed
//!   by the mean of its round-trip histogram.
//!
//! criterion summarises means; the round trips' percentiles (p50, p99, p99.9, from the
//! HdrHistograms of every sample merged) and the goodputs' range are printed beside its
//! output, and returned as a [`BenchSummary`].

use std::time::Duration;

use ::criterion::measurement::WallTime;
use ::criterion::{BenchmarkGroup, BenchmarkId, SamplingMode, Throughput};
use hdrhistogram::Histogram;

use super::{Error, Outcome, Pattern, Percentiles, Receiver, Test};

/// What the tests behind one criterion benchmark measured, all samples together.
#[derive(Debug, Clone)]
pub struct BenchSummary {
    /// The benchmark's id within its group.
    pub id: String,
    /// Tests run (criterion's warm-up and samples).
    pub tests: u64,
    /// Every test's goodput, bits per second.
    pub goodput_bps: Vec<f64>,
    /// Every test's round trips, merged (nanoseconds); empty for a stream test.
    pub rtt: Histogram<u64>,
    /// Every test's outcome, in the order run: for [`crate::write_results`] (each a
    /// repetition of the case), or any figure criterion does not show.
    pub outcomes: Vec<Outcome>,
}

impl BenchSummary {
    /// Percentiles of the merged round trips.
    pub fn rtt_percentiles(&self) -> Option<Percentiles> {
        Percentiles::of(&self.rtt)
    }

    /// One line: the round trips' p50/p99/p99.9, or the goodputs' range.
    pub fn line(&self) -> String {
        let us = |ns: u64| ns as f64 / 1e3;
        let figures = match self.rtt_percentiles() {
            Some(p) => format!(
                "rtt p50 {:.1} us  p99 {:.1} us  p99.9 {:.1} us  max {:.1} us ({} round trips)",
                us(p.p50),
                us(p.p99),
                us(p.p999),
                us(p.max),
                p.count
            ),
            None => {
                let lo = self
                    .goodput_bps
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min);
                let hi = self.goodput_bps.iter().copied().fold(0.0, f64::max);
                format!("goodput {:.3}..{:.3} Gbit/s", lo / 1e9, hi / 1e9)
            }
        };
        format!(
            "{:<40} sockbench: {figures} over {} tests",
            self.id, self.tests
        )
    }
}

/// A test's figure as criterion's time for `iters` iterations, and what it adds to the
/// summary; `None` when the test measured nothing to time.
fn timed(outcome: &Outcome, pattern: Pattern, msg_size: u64, iters: u64) -> Option<Duration> {
    match pattern {
        Pattern::Stream => {
            let bytes_per_s = outcome.goodput_bps().filter(|g| *g > 0.0)? / 8.0;
            Some(Duration::from_secs_f64(
                iters as f64 * msg_size as f64 / bytes_per_s,
            ))
        }
        Pattern::Rr | Pattern::Crr => {
            let mean_ns = outcome.rtt()?.mean;
            Some(Duration::from_secs_f64(mean_ns * iters as f64 / 1e9))
        }
    }
}

/// Benchmarks `test` against `receiver` as `id` in `group`, prints the round trips'
/// percentiles (or the goodputs' range) after criterion's lines, and returns them. It sets
/// the group's throughput and its sampling mode (flat: each sample is one test).
///
/// A test that does not start or does not end `ok` stops the tests of this benchmark (the
/// remaining samples repeat the last figure, or 1 ns) and is returned as the error.
pub fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    test: &Test,
    receiver: &Receiver,
) -> Result<BenchSummary, Error> {
    let spec = test.spec()?;
    let msg_size = u64::from(spec.msg_size);
    match spec.pattern {
        Pattern::Stream => group.throughput(Throughput::Bytes(msg_size)),
        Pattern::Rr | Pattern::Crr => group.throughput(Throughput::Elements(1)),
    };
    // A sample is one whole test, whatever criterion's iteration count: the same count in
    // every sample, as criterion advises for long benchmarks.
    group.sampling_mode(SamplingMode::Flat);
    let mut summary = BenchSummary {
        id: id.to_string(),
        tests: 0,
        goodput_bps: Vec::new(),
        rtt: crate::measure::latency_histogram(),
        outcomes: Vec::new(),
    };
    let mut failure: Option<Error> = None;
    let mut last = Duration::from_nanos(1);
    group.bench_function(BenchmarkId::from_parameter(id), |b| {
        b.iter_custom(|iters| {
            if failure.is_some() {
                return last;
            }
            match sample(test, receiver, &spec.pattern, msg_size, iters, &mut summary) {
                Ok(d) => last = d,
                Err(e) => failure = Some(e),
            }
            last
        })
    });
    if let Some(e) = failure {
        println!("{id:<40} sockbench: failed: {e}");
        return Err(e);
    }
    // No tests: criterion's filter left this benchmark out.
    if summary.tests > 0 {
        println!("{}", summary.line());
    }
    Ok(summary)
}

/// One criterion sample: one test, its figure for `iters` iterations, added to `summary`.
fn sample(
    test: &Test,
    receiver: &Receiver,
    pattern: &Pattern,
    msg_size: u64,
    iters: u64,
    summary: &mut BenchSummary,
) -> Result<Duration, Error> {
    let outcome = test.run(receiver)?.ok()?;
    summary.tests += 1;
    if let Some(g) = outcome.goodput_bps() {
        summary.goodput_bps.push(g);
    }
    if let Some(h) = outcome.rtt_histogram()? {
        summary
            .rtt
            .add(&h)
            .map_err(|error| crate::measure::HistogramError::Merge {
                metric: "rtt".to_string(),
                error,
            })?;
    }
    let d = timed(&outcome, *pattern, msg_size, iters).ok_or_else(|| Error::Test {
        status: outcome.status(),
        message: "the test measured no goodput or round trips to time".to_string(),
    });
    summary.outcomes.push(outcome);
    d
}
