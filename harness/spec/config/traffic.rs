//! What a test's connections do, typed: one variant per pattern, each holding only what
//! applies to it. [`TestSpec`] stays the flat form the control channel, `meta.json` and
//! the library's `Test` carry; [`Traffic::parse`] turns it into this, refusing a setting
//! that does not apply to the pattern, and code that depends on the pattern matches on
//! [`Traffic`] (or [`Pattern`]) exhaustively, so a new pattern is a compile error at every
//! place it matters.

use super::*;

/// A test's traffic: the pattern and what only that pattern takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Traffic {
    /// Bulk transfer, byte stream or datagrams.
    Stream(StreamSpec),
    /// Request/response on connections that stay open.
    Rr(RrSpec),
    /// Connect, request(s), response(s), close; again and again.
    Crr(CrrSpec),
}

/// Bulk transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Open-loop pacing per flow in bits per second; None = as fast as possible.
    pub rate_bps: Option<u64>,
    /// The request/response latency probe beside the flows, if asked for.
    pub probe: Option<Probe>,
    /// Datagrams per sendmmsg/recvmmsg call (datagram protocols; 1 = send/recv).
    pub batch: u32,
}

/// The latency probe of a stream test: one rr connection, fixed sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Request and response size in bytes.
    pub size: u32,
}

/// What one request/response transaction carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Request size in bytes (the largest drawn when `request_dist` is set).
    pub request_size: u32,
    /// Response size in bytes (the largest drawn when `response_dist` is set).
    pub response_size: u32,
    pub request_dist: Option<SizeDist>,
    pub response_dist: Option<SizeDist>,
}

/// Request/response on long-lived connections.
#[derive(Debug, Clone, PartialEq)]
pub struct RrSpec {
    pub exchange: Exchange,
    /// How long a datagram requester waits for a response before counting it lost.
    pub timeout: Duration,
    pub load: RrLoad,
}

/// How an rr requester issues its requests.
#[derive(Debug, Clone, PartialEq)]
pub enum RrLoad {
    /// The next request when a response arrives (after a think time), or up to
    /// `pipeline` outstanding over a byte stream.
    Closed {
        pipeline: u32,
        think_time: Option<TimeDist>,
    },
    /// On a schedule, whatever the responses do.
    Open { rate_tps: u64, arrival: Arrival },
}

/// A connection per `requests_per_conn` transactions.
#[derive(Debug, Clone, PartialEq)]
pub struct CrrSpec {
    pub exchange: Exchange,
    pub requests_per_conn: u32,
    pub think_time: Option<TimeDist>,
}

impl Pattern {
    /// Whether the pattern's main figures are transactions (and round-trip times) rather
    /// than bulk bytes.
    pub fn is_transactional(self) -> bool {
        match self {
            Pattern::Stream => false,
            Pattern::Rr | Pattern::Crr => true,
        }
    }

    /// Whether the pattern opens a new connection per transaction (or per
    /// `requests_per_conn` of them): the connection's end is part of what is measured.
    pub fn reconnects(self) -> bool {
        match self {
            Pattern::Stream | Pattern::Rr => false,
            Pattern::Crr => true,
        }
    }
}

impl Traffic {
    /// The typed traffic of a spec, refusing what does not apply to its pattern (with the
    /// flag that set it). Ranges are [`TestSpec::validate`]'s.
    pub fn parse(spec: &TestSpec) -> Result<Traffic, ConfigError> {
        spec.check_applies()?;
        Ok(Traffic::of(spec))
    }

    /// The typed traffic of a spec, leaving out what does not apply to its pattern. On a
    /// validated spec (every spec the engine sees) nothing is left out.
    pub fn of(s: &TestSpec) -> Traffic {
        let exchange = || Exchange {
            request_size: s.msg_size,
            response_size: s.response_size,
            request_dist: s.msg_dist.clone(),
            response_dist: s.response_dist.clone(),
        };
        match s.pattern {
            Pattern::Stream => Traffic::Stream(StreamSpec {
                rate_bps: s.rate,
                probe: s.probe.then_some(Probe { size: s.probe_size }),
                batch: s.batch,
            }),
            Pattern::Rr => Traffic::Rr(RrSpec {
                exchange: exchange(),
                timeout: s.rr_timeout,
                load: match s.rate {
                    None => RrLoad::Closed {
                        pipeline: s.pipeline,
                        think_time: s.think_time.clone(),
                    },
                    Some(rate_tps) => RrLoad::Open {
                        rate_tps,
                        arrival: s.arrival,
                    },
                },
            }),
            Pattern::Crr => Traffic::Crr(CrrSpec {
                exchange: exchange(),
                requests_per_conn: s.requests_per_conn,
                think_time: s.think_time.clone(),
            }),
        }
    }

    pub fn pattern(&self) -> Pattern {
        match self {
            Traffic::Stream(_) => Pattern::Stream,
            Traffic::Rr(_) => Pattern::Rr,
            Traffic::Crr(_) => Pattern::Crr,
        }
    }

    /// Whether the test measures request/response transactions: rr and crr, or a stream
    /// with a latency probe beside it.
    pub fn has_transactions(&self) -> bool {
        match self {
            Traffic::Stream(s) => s.probe.is_some(),
            Traffic::Rr(_) | Traffic::Crr(_) => true,
        }
    }

    /// Whether a connection may have more than one transaction in flight: pipelined rr,
    /// and crr (connections still closing while the next ones open).
    pub fn overlaps_transactions(&self) -> bool {
        match self {
            Traffic::Stream(_) => false,
            Traffic::Rr(rr) => match rr.load {
                RrLoad::Closed { pipeline, .. } => pipeline > 1,
                RrLoad::Open { .. } => false,
            },
            Traffic::Crr(_) => true,
        }
    }

    /// Open-loop rr: transactions per second a flow and how long each may stay
    /// outstanding.
    pub fn open_rr(&self) -> Option<(u64, Duration)> {
        match self {
            Traffic::Rr(RrSpec {
                load: RrLoad::Open { rate_tps, .. },
                timeout,
                ..
            }) => Some((*rate_tps, *timeout)),
            Traffic::Rr(_) | Traffic::Stream(_) | Traffic::Crr(_) => None,
        }
    }

    /// The request/response exchange of the test's main connections (None for stream).
    pub fn exchange(&self) -> Option<&Exchange> {
        match self {
            Traffic::Stream(_) => None,
            Traffic::Rr(rr) => Some(&rr.exchange),
            Traffic::Crr(crr) => Some(&crr.exchange),
        }
    }
}

impl TestSpec {
    /// This spec's traffic, typed (see [`Traffic::of`]).
    pub fn traffic(&self) -> Traffic {
        Traffic::of(self)
    }

    /// Every setting that applies to some patterns only, checked against this one: one
    /// arm a pattern, so a new pattern states its own.
    pub(super) fn check_applies(&self) -> Result<(), ConfigError> {
        let datagram = self.protocol.is_datagram();
        let no = |what: &str| Err(ConfigError::NotApplicable(what.to_string()));
        let (arrival, rpc, think, pipeline, probe, batch) = (
            self.arrival != Arrival::Fixed,
            self.requests_per_conn > 1,
            self.think_time.is_some(),
            self.pipeline > 1,
            self.probe,
            self.batch > 1,
        );
        match self.pattern {
            Pattern::Stream => {
                if arrival {
                    return no(NO_ARRIVAL);
                } else if rpc {
                    return no(NO_RPC);
                } else if think {
                    return no(NO_THINK);
                } else if pipeline {
                    return no(NO_PIPELINE);
                } else if batch && !datagram {
                    return no(NO_BATCH);
                }
            }
            Pattern::Rr => {
                let open = self.rate.is_some();
                if arrival && !open {
                    return no(NO_ARRIVAL);
                } else if rpc {
                    return no(NO_RPC);
                } else if think && (open || pipeline) {
                    return no(NO_THINK);
                } else if pipeline && (open || datagram) {
                    return no(NO_PIPELINE);
                } else if self.direction == Direction::Bidir {
                    return no("--direction bidir applies to the stream pattern; rr takes forward or reverse");
                } else if probe {
                    return no(NO_PROBE);
                } else if batch {
                    return no(NO_BATCH);
                }
            }
            Pattern::Crr => {
                if arrival {
                    return no(NO_ARRIVAL);
                } else if pipeline {
                    return no(NO_PIPELINE);
                } else if self.rate.is_some() {
                    return no(
                        "--rate applies to stream (bits/s) and rr (transactions/s), not crr",
                    );
                } else if probe {
                    return no(NO_PROBE);
                } else if batch {
                    return no(NO_BATCH);
                } else if datagram {
                    return Err(ConfigError::NotApplicable(format!(
                        "crr opens a connection per transaction, so it needs a connection-oriented protocol, not {}",
                        self.protocol
                    )));
                } else if self.direction != Direction::Forward {
                    return no("crr runs forward only: the sender process connects");
                }
            }
        }
        Ok(())
    }
}

const NO_ARRIVAL: &str =
    "arrival = poisson applies to open-loop request/response: --pattern rr with --rate";
const NO_RPC: &str = "requests_per_conn applies to --pattern crr (connect, N requests, close); rr keeps one connection throughout";
const NO_THINK: &str =
    "think_time applies to closed-loop requests: --pattern rr (without --rate or pipeline) or crr";
const NO_PIPELINE: &str = "pipeline applies to closed-loop rr over tcp, mptcp or unix-stream (without --rate: open-loop requests are already outstanding as their schedule says)";
const NO_PROBE: &str = "--probe rr runs beside stream flows; use it with --pattern stream";
const NO_BATCH: &str =
    "--batch (sendmmsg/recvmmsg) applies to the stream pattern over udp and unix-dgram";
