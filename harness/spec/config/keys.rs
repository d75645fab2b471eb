//! The keys of a test as a whole: one table, [`TEST_KEYS`], with one entry per key, as
//! [`crate::spec::knobs::KNOBS`] is for the socket knobs. From an entry derive: the flag
//! of `run`, `mesh` and `tune` (`cli::TestKeyFlags`, with iperf3's one-letter spelling),
//! the key of workload files and `--set` ([`SpecBuilder::set`], [`test_keys`]), its
//! parser and printer, its range check ([`TestSpec::validate`]), its summary.csv column,
//! whether `tune` may search it (a size range or a list), its line in the fuzz
//! dictionary ([`dict_lines`]) and its row in docs/guide/workloads.md ([`doc_table`]).
//!
//! Adding a key: a typed field in [`TestSpec`] (with a serde default, so that a peer
//! without it still reads the spec), and one [`TestKey`] entry. Its column, if it has
//! one, is a typed field of `output::summary::SummaryRow` as for a knob. The unit tests
//! (here and in `cli`) fail when an entry is not a flag, a key, a dictionary line or a
//! docs row, or when its printer does not round-trip its parser. The terminal table shows
//! any key a sweep varies, from the case's label or [`TestSpec::value_of`]: nothing to add
//! there.

use super::builder::SpecBuilder;
use super::*;
use crate::spec::units::format_duration;

/// How `tune` may search a key's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// Not a parameter tune searches (it describes the test, or says how it is run).
    No,
    /// A list of the values given (`--set 'flows=[1,4]'`).
    List,
    /// A byte size: a list, or a range tune walks (`"16K..16M"`).
    Size,
}

/// One key of the test as a whole. See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct TestKey {
    /// The key of workload files and `--set`; the flag is the key with `-` for `_`.
    pub key: &'static str,
    /// iperf3's one-letter flag with the same meaning, if any.
    pub short: Option<char>,
    /// The flag's help, with its default.
    pub help: &'static str,
    /// The flag's value name.
    pub value: &'static str,
    /// The values it takes, when they are a fixed list (shown in --help and completions).
    pub choices: &'static [&'static str],
    /// Whether clap refuses a value not in `choices` (else the parser has the last word:
    /// `--probe off` is `none`).
    pub only_choices: bool,
    /// A value the parser takes, for the tests.
    pub example: &'static str,
    /// Parses a value into the builder.
    pub parse: fn(&mut SpecBuilder, &str) -> Result<(), ConfigError>,
    /// The value of a built spec, as the parser takes it.
    pub show: fn(&TestSpec) -> String,
    /// Its range check on a built spec (what needs other keys is `validate`'s).
    pub check: fn(&TestSpec) -> Result<(), ConfigError>,
    /// Its column of summary.csv, if it has one.
    pub column: Option<&'static str>,
    pub search: Search,
    /// Whether its value may be a distribution, written in a workload file or `--set` as
    /// an inline table (`{dist = "lognormal", median = "1K", p99 = "64K"}`).
    pub dist: bool,
}

impl TestKey {
    /// `--msg-size`.
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

/// The key's entry, if `key` is a key of the test as a whole.
pub fn test_key(key: &str) -> Option<&'static TestKey> {
    TEST_KEYS.iter().find(|k| k.key == key)
}

/// Whether a key's values are byte sizes, which a matrix may sweep as a range and `tune`
/// walks in order: a socket knob that takes a SIZE (also per side, `sender.sndbuf`), or a
/// test key `tune` searches as a size. Both tables answer; nothing else lists them.
pub fn is_size_key(key: &str) -> bool {
    let bare = key.rsplit('.').next().unwrap_or(key);
    crate::spec::knobs::knob(bare).is_some_and(|k| k.takes_size())
        || test_key(bare).is_some_and(|k| k.search == Search::Size)
}

/// The keys whose values are byte sizes ([`is_size_key`]), socket knobs first.
pub fn size_keys() -> Vec<&'static str> {
    crate::spec::knobs::KNOBS
        .iter()
        .filter(|k| k.takes_size())
        .map(|k| k.key)
        .chain(
            TEST_KEYS
                .iter()
                .filter(|k| k.search == Search::Size)
                .map(|k| k.key),
        )
        .collect()
}

/// Whether a key's value may be a distribution written as an inline table.
pub fn takes_dist(key: &str) -> bool {
    test_key(key).is_some_and(|k| k.dist)
}

/// The keys of the test as a whole, in table order (the socket knobs' are
/// [`crate::spec::knobs::socket_keys`]).
pub fn test_keys() -> impl Iterator<Item = &'static str> {
    keys_of(TEST_KEYS)
}

/// The keys of a table.
pub fn keys_of(table: &'static [TestKey]) -> impl Iterator<Item = &'static str> {
    table.iter().map(|k| k.key)
}

/// The summary.csv columns a table's keys fill.
pub fn columns_of(table: &[TestKey]) -> Vec<&'static str> {
    table.iter().filter_map(|k| k.column).collect()
}

/// The lines of a table's keys in the workload fuzz dictionary (`fuzz/workload.dict`).
pub fn dict_lines(table: &[TestKey]) -> Vec<String> {
    table.iter().map(|k| format!("\"{}\"", k.key)).collect()
}

/// The rows of the keys table of docs/guide/workloads.md: key, flag, column, tune.
pub fn doc_table(table: &[TestKey]) -> String {
    let mut out = String::from("| key | flag | summary.csv | tune searches |\n|---|---|---|---|\n");
    for k in table {
        let flag = match k.short {
            Some(c) => format!("`{}`, `-{c}`", k.flag()),
            None => format!("`{}`", k.flag()),
        };
        let column = k.column.map_or("-".to_string(), |c| format!("`{c}`"));
        let search = match k.search {
            Search::No => "no",
            Search::List => "a list",
            Search::Size => "a list or a size range",
        };
        out.push_str(&format!("| `{}` | {flag} | {column} | {search} |\n", k.key));
    }
    out
}

impl SpecBuilder {
    /// A key of the test as a whole: its entry of [`TEST_KEYS`].
    pub(super) fn set_test_key(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_with(TEST_KEYS, key, value)
    }

    /// A key of the test as a whole, by its entry of `table` (the key table; another one
    /// in its tests).
    pub fn set_with(
        &mut self,
        table: &'static [TestKey],
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        match table.iter().find(|k| k.key == key) {
            Some(k) => (k.parse)(self, value),
            None => {
                let known: Vec<&str> = keys_of(table)
                    .chain(crate::spec::knobs::socket_keys())
                    .collect();
                Err(ConfigError::Value(format!(
                    "unknown key '{key}' (known: {})",
                    known.join(", ")
                )))
            }
        }
    }
}

fn parse_u32(key: &str, v: &str) -> Result<u32, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| ConfigError::Value(format!("{key}: '{v}' is not a whole number")))
}

fn parse_size_u32(key: &str, v: &str) -> Result<u32, ConfigError> {
    let n =
        crate::spec::units::parse_size(v).map_err(|e| ConfigError::Value(format!("{key}: {e}")))?;
    u32::try_from(n).map_err(|_| ConfigError::Value(format!("{key}: {v} is too large")))
}

/// A fixed size (`64K`) or a distribution (`uniform:min=64,max=4K`).
fn parse_size_or_dist(key: &str, v: &str) -> Result<(Option<u32>, Option<DistSpec>), ConfigError> {
    if crate::spec::dist::is_dist_text(v) {
        let d = DistSpec::parse(v, None).map_err(|e| ConfigError::Value(format!("{key}: {e}")))?;
        Ok((None, Some(d)))
    } else {
        Ok((Some(parse_size_u32(key, v)?), None))
    }
}

fn parse_dur(key: &str, v: &str) -> Result<Duration, ConfigError> {
    crate::spec::units::parse_duration(v).map_err(|e| ConfigError::Value(format!("{key}: {e}")))
}

fn parse_probe(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "rr" => Ok(true),
        "none" | "off" | "false" | "" => Ok(false),
        other => Err(ConfigError::Value(format!(
            "{key}: '{other}' is not a probe (expected rr or none)"
        ))),
    }
}

fn ok(_: &TestSpec) -> Result<(), ConfigError> {
    Ok(())
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::Range(msg.into()))
}

fn dur(d: Duration) -> String {
    format_duration(d)
}

const DURATION: &str = "DURATION";

/// The table. Its order is the order of `--help` and of the "known keys" list.
pub static TEST_KEYS: &[TestKey] = &[
    TestKey {
        key: "proto",
        short: None,
        help: "Transport (Unix sockets need both ends on one host) [default: tcp]",
        value: "PROTO",
        choices: &["tcp", "udp", "mptcp", "unix-stream", "unix-dgram", "sctp", "dccp"],
        only_choices: true,
        example: "udp",
        parse: |b, v| {
            b.spec.protocol = v.parse()?;
            Ok(())
        },
        show: |s| s.protocol.to_string(),
        check: ok,
        column: Some("protocol"),
        search: Search::List,
        dist: false,
    },
    TestKey {
        key: "pattern",
        short: None,
        help: "Bulk transfer, request/response, or connect/request/response/close [default: stream]",
        value: "PATTERN",
        choices: &["stream", "rr", "crr"],
        only_choices: true,
        example: "rr",
        parse: |b, v| {
            b.spec.pattern = v.parse()?;
            Ok(())
        },
        show: |s| s.pattern.to_string(),
        check: ok,
        column: Some("pattern"),
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "direction",
        short: None,
        help: "Which way the data flows: forward = from this process to the receiver [default: forward]",
        value: "DIRECTION",
        choices: &["forward", "reverse", "bidir"],
        only_choices: true,
        example: "reverse",
        parse: |b, v| {
            b.spec.direction = v.parse()?;
            Ok(())
        },
        show: |s| s.direction.to_string(),
        check: ok,
        column: Some("direction"),
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "duration",
        short: Some('t'),
        help: "Measured time, e.g. 10s, 500ms, 2m [default: 10s] (iperf3: -t)",
        value: DURATION,
        choices: &[],
        only_choices: false,
        example: "2s",
        parse: |b, v| {
            b.spec.duration = parse_dur("duration", v)?;
            Ok(())
        },
        show: |s| dur(s.duration),
        check: |s| {
            if s.duration.is_zero() {
                err("--duration must be more than zero")
            } else if s.duration > Duration::from_secs(24 * 3600) {
                err("--duration is limited to 24h and --warmup to 1h")
            } else {
                Ok(())
            }
        },
        column: Some("duration_s"),
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "warmup",
        short: None,
        help: "Time discarded before measuring [default: 1s]",
        value: DURATION,
        choices: &[],
        only_choices: false,
        example: "500ms",
        parse: |b, v| {
            b.spec.warmup = parse_dur("warmup", v)?;
            Ok(())
        },
        show: |s| dur(s.warmup),
        check: |s| {
            if s.warmup > Duration::from_secs(3600) {
                err("--duration is limited to 24h and --warmup to 1h")
            } else {
                Ok(())
            }
        },
        column: Some("warmup_s"),
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "interval",
        short: None,
        help: "Per-interval sample length [default: 1s]",
        value: DURATION,
        choices: &[],
        only_choices: false,
        example: "100ms",
        parse: |b, v| {
            b.spec.interval = parse_dur("interval", v)?;
            Ok(())
        },
        show: |s| dur(s.interval),
        check: |s| {
            if s.interval < Duration::from_millis(10) {
                err("--interval must be at least 10ms")
            } else if s.interval > Duration::from_secs(24 * 3600) {
                err("--interval is limited to 24h")
            } else {
                Ok(())
            }
        },
        column: Some("interval"),
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "msg_size",
        short: Some('l'),
        help: "Write / datagram / request size, e.g. 128K, or a distribution: uniform:min=64,max=4K, lognormal:median=1K,p99=64K, pareto: (memcached ETC), empirical:file=sizes.csv [default: 128K stream, 1400 datagram, 64 rr] (iperf3: -l)",
        value: "SIZE",
        choices: &[],
        only_choices: false,
        example: "16K",
        parse: |b, v| {
            (b.msg_size, b.msg_dist) = parse_size_or_dist("msg_size", v)?;
            Ok(())
        },
        // A distribution prints its largest size (summary.csv's msg_size).
        show: |s| s.msg_size.to_string(),
        check: ok,
        column: Some("msg_size"),
        search: Search::Size,
        dist: true,
    },
    TestKey {
        key: "response_size",
        short: None,
        help: "rr response size, or a distribution as for --msg-size [default: the request size, or its distribution]",
        value: "SIZE",
        choices: &[],
        only_choices: false,
        example: "1K",
        parse: |b, v| {
            (b.response_size, b.response_dist) = parse_size_or_dist("response_size", v)?;
            Ok(())
        },
        show: |s| s.response_size.to_string(),
        check: ok,
        column: Some("response_size"),
        search: Search::Size,
        dist: true,
    },
    TestKey {
        key: "flows",
        short: Some('P'),
        help: "Parallel data connections [default: 1] (iperf3: -P)",
        value: "FLOWS",
        choices: &[],
        only_choices: false,
        example: "4",
        parse: |b, v| {
            b.spec.flows = parse_u32("flows", v)?;
            Ok(())
        },
        show: |s| s.flows.to_string(),
        check: |s| {
            if s.flows == 0 || s.flows > MAX_FLOWS {
                err(format!("--flows must be from 1 to {MAX_FLOWS}"))
            } else {
                Ok(())
            }
        },
        column: Some("flows"),
        search: Search::List,
        dist: false,
    },
    TestKey {
        key: "rate",
        short: Some('b'),
        help: "Open-loop rate per flow: bits/s for stream (100M), transactions/s for rr (10k) [default: as fast as it goes] (iperf3: -b)",
        value: "RATE",
        choices: &[],
        only_choices: false,
        example: "100M",
        parse: |b, v| {
            let rate = crate::spec::units::parse_rate(v).map_err(|e| ConfigError::Value(format!("rate: {e}")))?;
            b.spec.rate = Some(rate);
            Ok(())
        },
        show: |s| s.rate.map_or(String::new(), |r| r.to_string()),
        check: |s| {
            if s.rate == Some(0) {
                err("--rate must be more than zero")
            } else {
                Ok(())
            }
        },
        column: Some("rate"),
        search: Search::List,
        dist: false,
    },
    TestKey {
        key: "rr_timeout",
        short: None,
        help: "How long an rr datagram request waits for its response [default: 200ms]",
        value: DURATION,
        choices: &[],
        only_choices: false,
        example: "50ms",
        parse: |b, v| {
            b.spec.rr_timeout = parse_dur("rr_timeout", v)?;
            Ok(())
        },
        show: |s| dur(s.rr_timeout),
        check: |s| {
            if s.rr_timeout < Duration::from_millis(1) || s.rr_timeout > MAX_RR_TIMEOUT {
                err(format!(
                    "--rr-timeout must be from 1ms to {}s",
                    MAX_RR_TIMEOUT.as_secs()
                ))
            } else {
                Ok(())
            }
        },
        column: None,
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "probe",
        short: None,
        help: "A request/response latency probe beside the stream flows (latency under load) [default: none]",
        value: "PROBE",
        choices: &["rr", "none"],
        only_choices: false,
        example: "rr",
        parse: |b, v| {
            b.spec.probe = parse_probe("probe", v)?;
            Ok(())
        },
        show: |s| if s.probe { "rr" } else { "none" }.to_string(),
        check: ok,
        column: Some("probe"),
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "probe_size",
        short: None,
        help: "Request and response size of the probe [default: 64]",
        value: "SIZE",
        choices: &[],
        only_choices: false,
        example: "256",
        parse: |b, v| {
            b.spec.probe_size = parse_size_u32("probe_size", v)?;
            Ok(())
        },
        show: |s| s.probe_size.to_string(),
        check: |s| {
            if s.probe_size == 0 || s.probe_size > MAX_UDP_PAYLOAD {
                err(format!("--probe-size must be from 1 to {MAX_UDP_PAYLOAD} bytes"))
            } else {
                Ok(())
            }
        },
        column: None,
        search: Search::Size,
        dist: false,
    },
    TestKey {
        key: "batch",
        short: None,
        help: "Datagrams per sendmmsg/recvmmsg call on udp/unix-dgram streams [default: 1 = send/recv]",
        value: "N",
        choices: &[],
        only_choices: false,
        example: "16",
        parse: |b, v| {
            b.spec.batch = parse_u32("batch", v)?;
            Ok(())
        },
        show: |s| s.batch.to_string(),
        check: |s| {
            if s.batch == 0 || s.batch > 1024 {
                err("--batch must be from 1 to 1024")
            } else {
                Ok(())
            }
        },
        column: Some("batch"),
        search: Search::List,
        dist: false,
    },
    TestKey {
        key: "arrival",
        short: None,
        help: "Open-loop rr: requests evenly spaced (fixed) or a Poisson process [default: fixed]",
        value: "ARRIVAL",
        choices: &["fixed", "poisson"],
        only_choices: false,
        example: "poisson",
        parse: |b, v| {
            b.spec.arrival = v
                .parse()
                .map_err(|e| ConfigError::Value(format!("arrival: {e}")))?;
            Ok(())
        },
        show: |s| match s.arrival {
            Arrival::Fixed => "fixed".into(),
            Arrival::Poisson => "poisson".into(),
        },
        check: ok,
        column: None,
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "dist_seed",
        short: None,
        help: "Seed of the size distributions and arrivals [default: 1]",
        value: "N",
        choices: &[],
        only_choices: false,
        example: "7",
        parse: |b, v| {
            b.spec.dist_seed = v
                .trim()
                .parse()
                .map_err(|_| ConfigError::Value(format!("dist_seed: '{v}' is not a whole number")))?;
            Ok(())
        },
        show: |s| s.dist_seed.to_string(),
        check: ok,
        column: None,
        search: Search::No,
        dist: false,
    },
    TestKey {
        key: "requests_per_conn",
        short: None,
        help: "crr: transactions per connection before it closes [default: 1]",
        value: "N",
        choices: &[],
        only_choices: false,
        example: "10",
        parse: |b, v| {
            b.spec.requests_per_conn = parse_u32("requests_per_conn", v)?;
            Ok(())
        },
        show: |s| s.requests_per_conn.to_string(),
        check: |s| {
            if s.requests_per_conn == 0 || s.requests_per_conn > 1_000_000 {
                err("requests_per_conn must be from 1 to 1000000")
            } else {
                Ok(())
            }
        },
        column: None,
        search: Search::List,
        dist: false,
    },
    TestKey {
        key: "pipeline",
        short: None,
        help: "Closed-loop rr over a byte stream: requests outstanding per connection [default: 1]",
        value: "N",
        choices: &[],
        only_choices: false,
        example: "8",
        parse: |b, v| {
            b.spec.pipeline = parse_u32("pipeline", v)?;
            Ok(())
        },
        show: |s| s.pipeline.to_string(),
        check: |s| {
            if s.pipeline == 0 || s.pipeline > 1024 {
                err("pipeline must be from 1 to 1024")
            } else {
                Ok(())
            }
        },
        column: None,
        search: Search::List,
        dist: false,
    },
    TestKey {
        key: "think_time",
        short: None,
        help: "Closed-loop rr and crr: wait between a response and the next request, e.g. 1ms, exponential:mean=1ms or uniform:min=100us,max=2ms [default: none]",
        value: "DIST",
        choices: &[],
        only_choices: false,
        example: "1ms",
        parse: |b, v| {
            b.spec.think_time = match v.trim() {
                "" | "none" | "0" => None,
                v => Some(
                    TimeDist::parse(v).map_err(|e| ConfigError::Value(format!("think_time: {e}")))?,
                ),
            };
            Ok(())
        },
        show: |s| s.think_time.as_ref().map_or("none".into(), TimeDist::text),
        check: ok,
        column: None,
        search: Search::No,
        dist: true,
    },
    TestKey {
        key: "driver",
        short: None,
        help: "Engine driver: blocking (a thread per connection), epoll (workers, one per CPU), or auto (epoll beyond 64 connections a side) [default: auto]",
        value: "DRIVER",
        choices: &["auto", "blocking", "epoll"],
        only_choices: false,
        example: "epoll",
        parse: |b, v| {
            b.spec.driver = v.parse()?;
            Ok(())
        },
        show: |s| s.driver.to_string(),
        check: ok,
        column: None,
        search: Search::No,
        dist: false,
    },
];
