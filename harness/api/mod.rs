//! The library's facade: what a Rust program needs to measure its socket settings from its
//! own code (a `cargo bench`, a test, a tool), without the internals of the `sockbench`
//! binary. See the crate documentation for an example.
//!
//! A [`Test`] takes the knobs of `sockbench run` and of workload files, typed or by their
//! key; a [`Receiver`] is the other end — in this process, or a `sockbench serve` elsewhere;
//! an [`Outcome`] holds both sides' measurements, read through the same types the results
//! files are written from ([`SummaryRow`], [`Percentiles`], the HdrHistograms themselves).

#![warn(missing_docs)]

#[cfg(feature = "criterion")]
pub mod criterion;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::measure::hostinfo::HostFacts;
use crate::net::auth::Psk;
use crate::output::cases::{self, CaseRecord};
use crate::output::meta::{CaseMeta, Meta};
use crate::output::ResultsWriter;
use crate::results::CaseRun;
use crate::session::receiver::{spawn_receiver, ServeError, ServeOptions};
use crate::session::sender::{resolve_target, run_test, Peer, ReachError};
use crate::spec::config::{ConfigError, SpecBuilder, TestSpec};
use crate::spec::units::{format_duration, format_size};

pub use crate::measure::outcome::Status;
pub use crate::measure::HistogramError;
pub use crate::output::summary::SummaryRow;
pub use crate::results::Percentiles;
pub use crate::spec::config::{Direction, Pattern, Protocol};

/// Why a test could not be built, started, or its results written. A test that started
/// and then failed is not an error here: its [`Outcome`] says so ([`Outcome::status`]),
/// as its row in `summary.csv` would; [`Outcome::ok`] turns that into [`Error::Test`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A knob or a combination of knobs that `sockbench run` would refuse too.
    #[error(transparent)]
    Config(ConfigError),
    /// The pre-shared key file could not be read or holds no usable key.
    #[error("the pre-shared key {}", .path.display())]
    Psk {
        /// The file as given.
        path: std::path::PathBuf,
        /// What was wrong with it.
        #[source]
        source: ConfigError,
    },
    /// The in-process receiver could not listen.
    #[error("starting the in-process receiver")]
    Serve(#[from] ServeError),
    /// The receiver could not be resolved, reached, or refused the handshake.
    #[error(transparent)]
    Reach(#[from] ReachError),
    /// The test ran but did not end `ok`.
    #[error("the test ended {}: {message}", .status.as_str())]
    Test {
        /// `aborted` or `error`.
        status: Status,
        /// The run's error message.
        message: String,
    },
    /// A latency histogram from a report would not decode or merge.
    #[error(transparent)]
    Histogram(#[from] HistogramError),
    /// A results file could not be written.
    #[error("writing the results")]
    Output(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// docs/library.md's example runs as a doctest, so that the page stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/library.md")]
struct LibraryPage;

fn output_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Output(e.into())
}

/// One test: a protocol, a traffic pattern and socket knobs, with the same names and
/// values as `sockbench run`'s flags and a workload file's keys. Unset knobs keep their
/// defaults (tcp, stream, forward, 1 flow, 128 KiB messages, kernel-chosen buffers, 10 s
/// measured after a 1 s warm-up, as `sockbench run`).
///
/// Values are checked when the test runs ([`Test::run`]) or by [`Test::check`]; a bad one
/// is an [`Error::Config`] naming the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Test {
    settings: Vec<(String, String)>,
}

impl Test {
    /// A test with every knob at its default.
    pub fn new() -> Test {
        Test::default()
    }

    /// Sets any knob by its key, as `--set KEY=VALUE` or a workload file would:
    /// `set("congestion", "bbr")`, `set("receiver.rcvbuf", "1M")`. A later setting of
    /// the same key replaces an earlier one.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Test {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.to_string(), value.into()));
        self
    }

    /// The transport (`--proto`).
    pub fn protocol(self, p: Protocol) -> Test {
        self.set("proto", p.as_str())
    }

    /// The traffic pattern (`--pattern`).
    pub fn pattern(self, p: Pattern) -> Test {
        self.set("pattern", p.as_str())
    }

    /// Which way the bulk data flows (`--direction`).
    pub fn direction(self, d: Direction) -> Test {
        self.set("direction", d.as_str())
    }

    /// The measured time (`--duration`).
    pub fn duration(self, d: Duration) -> Test {
        self.set("duration", format_duration(d))
    }

    /// The time before the measured time, whose traffic is not measured (`--warmup`).
    pub fn warmup(self, d: Duration) -> Test {
        self.set("warmup", format_duration(d))
    }

    /// Bytes an application write carries; a datagram's payload; an rr request
    /// (`--msg-size`).
    pub fn msg_size(self, bytes: u64) -> Test {
        self.set("msg_size", format_size(bytes))
    }

    /// Bytes of an rr response (`--response-size`); by default the request's size.
    pub fn response_size(self, bytes: u64) -> Test {
        self.set("response_size", format_size(bytes))
    }

    /// SO_SNDBUF on the data sockets, in bytes as requested (`--sndbuf`); unset, the
    /// kernel autotunes. Linux stores and reports double the request.
    pub fn sndbuf(self, bytes: u64) -> Test {
        self.set("sndbuf", format_size(bytes))
    }

    /// SO_RCVBUF on the data sockets (`--rcvbuf`); as [`Test::sndbuf`].
    pub fn rcvbuf(self, bytes: u64) -> Test {
        self.set("rcvbuf", format_size(bytes))
    }

    /// TCP_MAXSEG, set before connect and listen (`--mss`).
    pub fn mss(self, bytes: u32) -> Test {
        self.set("mss", bytes.to_string())
    }

    /// TCP_NODELAY (`--nodelay`).
    pub fn nodelay(self, on: bool) -> Test {
        self.set("nodelay", on.to_string())
    }

    /// Parallel data connections (`--flows`).
    pub fn flows(self, n: u32) -> Test {
        self.set("flows", n.to_string())
    }

    /// The settings made, in order, as `key=value` texts joined by spaces: the case's
    /// label in the results. Empty when nothing was set (every default).
    pub fn label(&self) -> String {
        let parts: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.join(" ")
    }

    /// Checks every setting as `sockbench run` would, without running anything.
    pub fn check(&self) -> Result<(), Error> {
        self.spec().map(drop)
    }

    #[doc(hidden)]
    pub fn spec(&self) -> Result<TestSpec, Error> {
        let mut b = SpecBuilder::new();
        for (k, v) in &self.settings {
            b.set(k, v).map_err(Error::Config)?;
        }
        b.build().map_err(Error::Config)
    }

    /// Runs the test against `receiver` and returns both sides' measurements. An error
    /// means it could not start (a bad knob, an unreachable receiver); a test that started
    /// and failed returns its [`Outcome`] with that [`Status`].
    pub fn run(&self, receiver: &Receiver) -> Result<Outcome, Error> {
        receiver.run_spec(self.spec()?, self.label())
    }
}

/// The receiving end of tests: a receiver in this process (threads serving loopback), or a
/// `sockbench serve` on another host. It keeps its control connection between tests.
pub struct Receiver {
    addr: SocketAddr,
    psk: Option<Psk>,
    peer: Mutex<Option<Peer>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .field("psk", &self.psk.is_some())
            .finish()
    }
}

impl Receiver {
    /// A receiver on 127.0.0.1 (an ephemeral control port), served by threads of this
    /// process until it exits; the same daemon `sockbench serve` runs.
    pub fn in_process() -> Result<Receiver, Error> {
        Receiver::in_process_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The same on `listen` (`--listen`): `[::1]:0` for IPv6 loopback, or an address of
    /// this host. Data connections go to the address the control connection reached, as with
    /// `sockbench serve --listen`. It accepts tests from anyone who reaches it, with
    /// no key: a non-loopback address is for a lab.
    pub fn in_process_on(listen: SocketAddr) -> Result<Receiver, Error> {
        let opts = ServeOptions {
            listen,
            quiet: true,
            max_concurrent: 4,
            ..ServeOptions::default()
        };
        let addr = spawn_receiver(&opts)?;
        Ok(Receiver::at(addr))
    }

    /// A `sockbench serve` at `target`: `HOST`, `HOST:PORT` or `[V6]:PORT`, as `--to`
    /// takes it (the port defaults to 5301).
    pub fn remote(target: &str) -> Result<Receiver, Error> {
        Ok(Receiver::at(resolve_target(target)?))
    }

    fn at(addr: SocketAddr) -> Receiver {
        Receiver {
            addr,
            psk: None,
            peer: Mutex::new(None),
        }
    }

    /// Proves to the receiver that this end holds the key in `path`, as `--psk-file`.
    pub fn with_psk_file(mut self, path: &Path) -> Result<Receiver, Error> {
        let psk = Psk::from_file(path).map_err(|source| Error::Psk {
            path: path.to_path_buf(),
            source,
        })?;
        self.psk = Some(psk);
        Ok(self)
    }

    /// The same with the key's bytes.
    pub fn with_psk(mut self, key: &[u8]) -> Receiver {
        self.psk = Some(Psk::from_bytes(key));
        self
    }

    /// The receiver's control address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One test, already validated (a workload file's case), over the kept control
    /// connection (made afresh after a failed test).
    #[doc(hidden)]
    pub fn run_spec(&self, spec: TestSpec, label: String) -> Result<Outcome, Error> {
        let mut slot = self.peer.lock().unwrap_or_else(|p| p.into_inner());
        let peer = match slot.as_mut() {
            Some(p) => p,
            None => slot.insert(Peer::connect(self.addr, self.psk.as_ref())?),
        };
        let (host, version) = (peer.host.clone(), peer.version.clone());
        let outcome = run_test(peer, &spec, Arc::new(AtomicBool::new(false)));
        if outcome.status != Status::Ok {
            *slot = None;
        }
        Ok(Outcome {
            run: CaseRun {
                case: 1,
                repetition: 1,
                label,
                spec,
                outcome,
                not_applicable: Vec::new(),
                src: String::new(),
                dst: String::new(),
            },
            receiver_host: Some(host),
            receiver_version: Some(version),
            receiver_addr: self.addr,
        })
    }
}

/// One finished test: both sides' reports, and the figures `summary.csv` derives from them.
#[derive(Debug, Clone)]
pub struct Outcome {
    run: CaseRun,
    receiver_host: Option<HostFacts>,
    /// The receiver's sockbench version, as its handshake said.
    receiver_version: Option<String>,
    receiver_addr: SocketAddr,
}

impl Outcome {
    /// How the test ended.
    pub fn status(&self) -> Status {
        self.run.status()
    }

    /// Why it did not end `ok`.
    pub fn error(&self) -> Option<&str> {
        self.run.outcome.error.as_deref()
    }

    /// The outcome if it ended `ok`, else [`Error::Test`].
    pub fn ok(self) -> Result<Outcome, Error> {
        match self.status() {
            Status::Ok => Ok(self),
            status => Err(Error::Test {
                status,
                message: self.error().unwrap_or_default().to_string(),
            }),
        }
    }

    /// Application payload received after the warm-up, in bits per second, over each
    /// receiving end's own measured time (`goodput_bps`).
    pub fn goodput_bps(&self) -> Option<f64> {
        self.run.goodput_bps()
    }

    /// Request/response transactions completed after the warm-up (rr, crr, a probe):
    /// `transactions`.
    pub fn transactions(&self) -> Option<u64> {
        self.summary().transactions
    }

    /// Percentiles of the round trips (`rtt_*_ns`), all flows merged.
    pub fn rtt(&self) -> Option<Percentiles> {
        self.run.rtt()
    }

    /// The round-trip HdrHistogram (nanoseconds), all flows merged; `None` when the test
    /// timed no round trips.
    pub fn rtt_histogram(&self) -> Result<Option<Histogram<u64>>, Error> {
        Ok(self.histograms()?.remove(crate::engine::rr::RTT))
    }

    /// Every latency HdrHistogram of the test by metric name (`rtt`, ...), all flows
    /// merged: what `histograms.csv` and `latency.hlog` hold.
    pub fn histograms(&self) -> Result<BTreeMap<String, Histogram<u64>>, Error> {
        Ok(self.run.merged_histograms()?)
    }

    /// The test's row of `summary.csv`: every figure, the requested (`*_req`) and the
    /// effective (`*_eff`, what the kernel reported) knobs.
    pub fn summary(&self) -> SummaryRow {
        SummaryRow::from_run(&self.run)
    }

    /// The knobs' columns of the test's `summary.csv` row (`sndbuf_req`, `sndbuf_eff`,
    /// `mss_eff`, ...) as written there, by column name.
    pub fn knobs(&self) -> BTreeMap<String, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let written = w
            .serialize(self.summary())
            .ok()
            .and_then(|()| w.into_inner().ok());
        let mut r = csv::Reader::from_reader(written.as_deref().unwrap_or_default());
        let (Ok(header), Some(Ok(row))) = (r.headers().cloned(), r.records().next()) else {
            return BTreeMap::new();
        };
        let knob_columns: Vec<&str> = crate::spec::knobs::KNOBS
            .iter()
            .flat_map(|k| k.columns.iter().map(|c| c.name))
            .collect();
        header
            .iter()
            .zip(row.iter())
            .filter(|(h, _)| knob_columns.contains(h))
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect()
    }

    #[doc(hidden)]
    pub fn case_run(&self) -> &CaseRun {
        &self.run
    }
}

/// Writes `outcomes` as a results directory like `sockbench run`'s — `summary.csv`,
/// `cases.csv`, `intervals.csv`, `histograms.csv`, `sizes.csv`, `latency.hlog`,
/// `meta.json` — into
/// `dir` (created if missing; those files replaced if there, as a bench rerun rewrites
/// its directory). Outcomes of equal tests are repetitions of one case, in the order
/// given; `name` is the workload name `meta.json` records. No outcomes is an error: a
/// directory without a row is no results directory (`sockbench report` refuses it).
pub fn write_results(dir: &Path, name: &str, outcomes: &[Outcome]) -> Result<(), Error> {
    if outcomes.is_empty() {
        return Err(output_error("no outcomes to write"));
    }
    let started = outcomes
        .iter()
        .map(|o| o.run.outcome.started)
        .min()
        .unwrap_or_else(SystemTime::now);
    let mut writer = ResultsWriter::create(dir, started).map_err(output_error)?;
    let mut specs: Vec<&Outcome> = Vec::new();
    let mut records: Vec<CaseRecord> = Vec::new();
    for o in outcomes {
        let case = match specs.iter().position(|s| s.run.spec == o.run.spec) {
            Some(i) => i + 1,
            None => {
                specs.push(o);
                specs.len()
            }
        } as u32;
        let mut run = o.run.clone();
        run.case = case;
        run.repetition = 1 + records
            .iter()
            .find(|r| r.case == case)
            .map_or(0, |r| r.reps.len()) as u32;
        writer.write(&run).map_err(output_error)?;
        match records.iter_mut().find(|r| r.case == case) {
            Some(r) => r.add(&run),
            None => {
                let mut r = CaseRecord::new(case, &run.label, &run);
                r.add(&run);
                records.push(r);
            }
        }
    }
    cases::write(dir, &records).map_err(output_error)?;
    let receiver = specs
        .first()
        .map_or_else(String::new, |o| o.receiver_addr.to_string());
    let mut meta = Meta {
        workload_name: name.to_string(),
        workload_source: "library".to_string(),
        repeat: records
            .iter()
            .map(|r| r.reps.len() as u32)
            .max()
            .unwrap_or(0),
        cases: specs
            .iter()
            .enumerate()
            .map(|(i, o)| CaseMeta {
                case: i as u32 + 1,
                label: o.run.label.clone(),
                spec: o.run.spec.clone(),
            })
            .collect(),
        runs: outcomes.len(),
        runs_ok: outcomes.iter().filter(|o| o.status() == Status::Ok).count(),
        ..Meta::starting(&[], started, receiver)
    };
    meta.hosts.receiver = specs.first().and_then(|o| o.receiver_host.clone());
    meta.receiver_sockbench_version = specs.first().and_then(|o| o.receiver_version.clone());
    meta.finished_utc = Some(crate::output::meta::utc_timestamp(SystemTime::now()));
    meta.write(dir).map_err(output_error)
}
