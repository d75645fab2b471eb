//! Measure what a network application's socket settings do to it — protocol, SO_SNDBUF and
//! SO_RCVBUF, TCP_MAXSEG, TCP_NODELAY, message sizes — from Rust: goodput, transactions and
//! latency HdrHistograms, with the values the kernel actually applied.
//!
//! This is the library behind the `sockbench` command; its facade is the items below.
//! A [`Test`] takes the same knobs as `sockbench run` and workload files; a [`Receiver`]
//! is the other end, in this process or a `sockbench serve` on another host; an
//! [`Outcome`] holds both sides' measurements, read through the types the results files
//! are written from ([`SummaryRow`], [`Percentiles`], the HdrHistograms themselves).
//!
//! ```
//! use std::time::Duration;
//! use sockbench::{Pattern, Protocol, Receiver, Test};
//!
//! # fn main() -> Result<(), sockbench::Error> {
//! let receiver = Receiver::in_process()?;
//! let outcome = Test::new()
//!     .protocol(Protocol::Tcp)
//!     .pattern(Pattern::Rr)
//!     .msg_size(4096)
//!     .nodelay(true)
//!     .duration(Duration::from_millis(200))
//!     .warmup(Duration::from_millis(50))
//!     .run(&receiver)?
//!     .ok()?;
//! let rtt = outcome.rtt().expect("round trips were timed");
//! println!("4 KiB request/response: p50 {} ns, p99 {} ns", rtt.p50, rtt.p99);
//! println!("SO_SNDBUF as the kernel reports it: {:?}", outcome.knobs().get("sndbuf_eff"));
//! # Ok(())
//! # }
//! ```
//!
//! With the `criterion` feature, `criterion::bench` turns a [`Test`] into a criterion
//! benchmark. [`write_results`] writes outcomes as the results directory `sockbench run`
//! writes, for `sockbench report`.
//!
//! The modules below the facade are the command's internals, hidden here and free to
//! change. They are layers; a lower one never imports a higher one (`tests/layers.rs`):
//! sys (every raw system call) → spec (what a test is) → measure (what a role counts) →
//! net (sockets, knobs, the control protocol) → engine (patterns and drivers) → results →
//! output → session (sender, receiver, runner, mesh) → tune → report → api (this facade)
//! → cli.

mod api;

pub use api::{
    write_results, Direction, Error, HistogramError, Outcome, Pattern, Percentiles, Protocol,
    Receiver, Status, SummaryRow, Test,
};

#[cfg(feature = "criterion")]
pub use api::criterion;

#[doc(hidden)]
pub mod sys;

#[doc(hidden)]
pub mod spec;

#[doc(hidden)]
pub mod measure;

#[doc(hidden)]
pub mod net;

#[doc(hidden)]
pub mod engine;

#[doc(hidden)]
pub mod results;

#[doc(hidden)]
pub mod output;

#[doc(hidden)]
pub mod session;

#[doc(hidden)]
pub mod tune;

#[doc(hidden)]
pub mod report;

// clap makes --help text of this module's doc comments (`HOST[:PORT]`, `<name>`), which
// are not markdown.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[doc(hidden)]
pub mod cli;
/// The fuzz targets' bodies, with the `fuzz` feature only (fuzz/, tests/fuzz_regressions.rs).
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzzing;
