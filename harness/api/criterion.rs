//! [criterion](https://docs.rs/criterion) benchmarks of [`Test`]s, without `iter_custom`
//! glue (the `criterion` feature).
//!
//! Each criterion sample runs the whole test once against the receiver; the figure
//! criterion gets is the test's own measurement, scaled to criterion's iteration count:
//!
//! - a stream test is [`Throughput::Bytes`] of its message size per iteration, timed by
//!   the receiver's goodput (each sample's throughput is that test's `goodput_bps`;
//!   criterion's summary, from its mean time per iteration, is their harmonic mean);
//! - an rr or crr test is one round trip per iteration ([`Throughput::Elements`]), timed
//!   by the mean of its round-trip histogram.
//!
//! criterion summarises means; the round trips' percentiles (p50, p99, p99.9, from the
//! HdrHistograms of every sample merged) and the goodputs' range are printed beside its
//! output, and returned as a [`BenchSummary`].

use std::panic::AssertUnwindSafe;
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
    /// Tests run: criterion's warm-up (one test) and its samples.
    pub tests: u64,
    /// Every sample's goodput, bits per second.
    pub goodput_bps: Vec<f64>,
    /// Every sample's round trips, merged (nanoseconds): an rr or crr test's, a stream's
    /// latency probe's (`probe = "rr"`); empty for a stream without one.
    pub rtt: Histogram<u64>,
    /// Every sample's outcome, in the order run: for [`crate::write_results`] (each a
    /// repetition of the case), or any figure criterion does not show. In criterion's test
    /// mode (`--test`), its one test.
    pub outcomes: Vec<Outcome>,
    /// The warm-up test's outcome, apart from the samples' (none in test mode).
    pub warmup: Option<Outcome>,
}

impl BenchSummary {
    /// Percentiles of the merged round trips.
    pub fn rtt_percentiles(&self) -> Option<Percentiles> {
        Percentiles::of(&self.rtt)
    }

    /// What is wrong when the samples' figure that criterion timed (a stream's goodput,
    /// an rr or crr test's mean round trip) is noisy, as `sockbench run` warns of a case:
    /// "mean round trip varies by 43% (coefficient of variation, over 10%)". `None` when
    /// quiet, or under two samples.
    pub fn noise(&self) -> Option<String> {
        let (figure, values): (_, Vec<f64>) = if self.timed_by_goodput() {
            ("goodput", self.goodput_bps.clone())
        } else {
            let means = self.outcomes.iter().filter_map(|o| o.rtt().map(|p| p.mean));
            ("mean round trip", means.collect())
        };
        let why = crate::results::stats::Noise::of(&values)?.describe()?;
        Some(format!("{figure} {why}"))
    }

    /// Whether criterion timed the samples' goodput (a stream, with or without a latency
    /// probe) rather than their mean round trip (rr, crr).
    fn timed_by_goodput(&self) -> bool {
        match self.outcomes.first() {
            Some(o) => matches!(o.case_run().spec.pattern, Pattern::Stream),
            None => self.rtt.is_empty(),
        }
    }

    /// One line: the goodputs' range for a stream (and its probe's round trips, when it
    /// had one), else the round trips' p50/p99/p99.9.
    pub fn line(&self) -> String {
        let us = |ns: u64| ns as f64 / 1e3;
        let rtt = self.rtt_percentiles().map(|p| {
            format!(
                "rtt p50 {:.1} us  p99 {:.1} us  p99.9 {:.1} us  max {:.1} us ({} round trips)",
                us(p.p50),
                us(p.p99),
                us(p.p999),
                us(p.max),
                p.count
            )
        });
        let figures = if self.timed_by_goodput() {
            let lo = (self.goodput_bps.iter().copied()).fold(f64::INFINITY, f64::min);
            let hi = self.goodput_bps.iter().copied().fold(0.0, f64::max);
            let goodput = format!("goodput {:.3}..{:.3} Gbit/s", lo / 1e9, hi / 1e9);
            match rtt {
                Some(rtt) => format!("{goodput}; probe {rtt}"),
                None => goodput,
            }
        } else {
            rtt.unwrap_or_else(|| "no round trip measured".to_string())
        };
        let warmup = if self.warmup.is_some() {
            " (after a warm-up test)"
        } else {
            ""
        };
        format!(
            "{:<40} sockbench: {figures} over {} tests{warmup}",
            self.id,
            self.outcomes.len()
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
/// the group's throughput, its sampling mode (flat: each sample is one test) and its
/// warm-up time to the least, so that criterion warms up with one test (the test's own
/// warm-up, [`Test::warmup`], is what readies the path; criterion's would repeat whole
/// tests); these settings stay on the group, over any of the caller's. The first test of
/// the benchmark is kept apart from the samples ([`BenchSummary::warmup`]) unless it is
/// the only one (criterion's `--test`); in `--quick` mode, which has no warm-up, that is
/// its first sample, and `--profile-time` warms up for a second of tests of its own.
///
/// A test that does not start or does not end `ok` ends this benchmark at once, before
/// criterion has recorded anything of it, and is returned as the error; the group's other
/// benchmarks go on.
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
    group.warm_up_time(Duration::from_nanos(1));
    let mut summary = BenchSummary {
        id: id.to_string(),
        tests: 0,
        goodput_bps: Vec::new(),
        rtt: crate::measure::latency_histogram(),
        outcomes: Vec::new(),
        warmup: None,
    };
    let mut failure: Option<Error> = None;
    // criterion cannot be told to stop: a failed test unwinds out of its measurement
    // (without the panic hook: nothing is printed) to here, before it records anything.
    let measured = std::panic::catch_unwind(AssertUnwindSafe(|| {
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter_custom(|iters| {
                match sample(test, receiver, &spec.pattern, msg_size, iters, &mut summary) {
                    Ok(d) => d,
                    Err(e) => {
                        failure = Some(e);
                        std::panic::resume_unwind(Box::new(Failed))
                    }
                }
            })
        });
    }));
    match measured {
        Err(payload) if !payload.is::<Failed>() => std::panic::resume_unwind(payload),
        _ => {}
    }
    if let Some(e) = failure {
        println!("{id:<40} sockbench: failed: {e}");
        return Err(e);
    }
    // No tests: criterion's filter left this benchmark out.
    if summary.tests > 0 {
        println!("{}", summary.line());
    }
    if let Some(why) = summary.noise() {
        println!(
            "{id:<40} sockbench: noisy: {why}; criterion's change from a baseline may be noise"
        );
    }
    Ok(summary)
}

/// What a failed test unwinds out of criterion's measurement with.
struct Failed;

/// One criterion sample: one test, its figure for `iters` iterations, added to `summary`.
/// The first test is criterion's warm-up: when a second comes (not in test mode), it is
/// set apart.
fn sample(
    test: &Test,
    receiver: &Receiver,
    pattern: &Pattern,
    msg_size: u64,
    iters: u64,
    summary: &mut BenchSummary,
) -> Result<Duration, Error> {
    let outcome = test.run(receiver)?.ok()?;
    if summary.tests == 1 {
        summary.warmup = summary.outcomes.pop();
        summary.goodput_bps.clear();
        summary.rtt.reset();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A test that fails ends its benchmark with the error, before criterion records
    /// anything of it, and the group goes on; a good one's summary holds criterion's
    /// samples, its warm-up test apart.
    #[test]
    fn a_failed_test_is_the_error_and_the_samples_are_the_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = ::criterion::Criterion::default()
            .output_directory(dir.path())
            .without_plots()
            .with_output_color(false);
        let receiver = Receiver::in_process().unwrap();
        let short = Test::new()
            .duration(Duration::from_millis(100))
            .warmup(Duration::from_millis(20));
        let mut group = c.benchmark_group("g");
        group
            .sample_size(10)
            .measurement_time(Duration::from_millis(100));
        // Valid as written; the kernel refuses it when the test runs.
        let bad = short.clone().set("congestion", "nosuch");
        assert!(bad.check().is_ok());
        let e = bench(&mut group, "bad", &bad, &receiver).unwrap_err();
        assert!(e.to_string().contains("nosuch"), "{e}");
        let good = bench(&mut group, "good", &short, &receiver).unwrap();
        let probed = bench(
            &mut group,
            "probed",
            &short.clone().set("probe", "rr"),
            &receiver,
        );
        group.finish();
        assert_eq!((good.tests, good.outcomes.len()), (11, 10));
        assert!(good.warmup.is_some());
        assert_eq!(good.goodput_bps.len(), 10);
        let recorded = |id: &str| dir.path().join("g").join(id).exists();
        assert!(!recorded("bad") && recorded("good"));
        // A stream's line is its goodputs' (criterion timed them), and its probe's round
        // trips beside them when it had one.
        assert!(good.line().contains(" goodput ") && !good.line().contains("rtt"));
        let line = probed.unwrap().line();
        assert!(
            line.contains(" goodput ") && line.contains("; probe rtt p50"),
            "{line}"
        );
    }

    /// Samples whose goodput falls in two clusters are said to be noisy, as `sockbench
    /// run` says of a case; steady samples, or a single one, are not.
    #[test]
    fn noisy_samples_are_said() {
        let summary = |goodput_bps: Vec<f64>| BenchSummary {
            id: "x".into(),
            tests: goodput_bps.len() as u64,
            goodput_bps,
            rtt: crate::measure::latency_histogram(),
            outcomes: Vec::new(),
            warmup: None,
        };
        let noisy = summary(vec![20e9, 21e9, 7e9, 20.5e9, 6.5e9, 21e9]).noise();
        assert!(
            noisy
                .as_deref()
                .is_some_and(|n| n.starts_with("goodput varies by")),
            "{noisy:?}"
        );
        assert_eq!(summary(vec![20e9, 20.2e9, 19.9e9, 20.1e9]).noise(), None);
        assert_eq!(summary(vec![7e9]).noise(), None);
    }
}
