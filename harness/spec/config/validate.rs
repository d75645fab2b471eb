//! The rules a test description must satisfy, checked without touching the kernel.

use super::*;

impl TestSpec {
    /// Checks everything that can be checked without touching the kernel.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Each key's own range, from its entry of the key table.
        for key in keys::TEST_KEYS {
            (key.check)(self)?;
        }
        self.validate_driver()?;
        self.check_applies()?;
        self.validate_profile()?;
        self.validate_paths()?;
        self.validate_probe()?;
        self.validate_sizes()?;
        self.validate_limits()?;
        self.sender.validate(self.protocol)?;
        self.receiver.validate(self.protocol)?;
        Ok(())
    }

    /// The I/O paths: batches, GSO/GRO, sendfile, splice, zero-copy and spinning, and what each combines with.
    pub(super) fn validate_paths(&self) -> Result<(), ConfigError> {
        let sendfile = self.sender.sendfile || self.receiver.sendfile;
        if sendfile && !self.byte_stream_bulk() {
            return Err(ConfigError::not_applicable(
                "--sendfile applies to the stream pattern over tcp, mptcp or unix-stream",
            ));
        }
        if sendfile && (self.sender.zerocopy || self.receiver.zerocopy) {
            return Err(ConfigError::conflict(
                "--sendfile and --zerocopy are two ways to avoid the copy: choose one",
            ));
        }
        let splice = self.sender.splice || self.receiver.splice;
        if splice && !self.byte_stream_bulk() {
            return Err(ConfigError::not_applicable(
                "--splice applies to the stream pattern over tcp, mptcp or unix-stream",
            ));
        }
        for side in [&self.sender, &self.receiver] {
            if side.splice && (side.sendfile || side.zerocopy) {
                return Err(ConfigError::conflict(
                    "--splice, --sendfile and --zerocopy are ways to avoid the same copy: choose one",
                ));
            }
        }
        if (self.sender.spin || self.receiver.spin) && self.pattern.reconnects() {
            return Err(ConfigError::not_applicable(
                "--spin applies to stream and rr (crr opens a new socket per transaction)",
            ));
        }
        if (self.sender.zerocopy || self.receiver.zerocopy) && self.pattern.is_transactional() {
            return Err(ConfigError::not_applicable(
                "--zerocopy applies to the stream pattern",
            ));
        }
        if self.sender.udp_gso.is_some() && self.batch > 1 {
            return Err(ConfigError::conflict(
                "--gso and --batch are two ways to send many datagrams per call: choose one",
            ));
        }
        if (self.sender.udp_gso.is_some() || self.sender.udp_gro) && self.pattern.is_transactional()
        {
            return Err(ConfigError::not_applicable(
                "--gso and --gro apply to the stream pattern",
            ));
        }
        Ok(())
    }

    /// Bulk transfer over a byte stream: what sendfile and splice feed.
    fn byte_stream_bulk(&self) -> bool {
        match (self.pattern, self.protocol.delivery()) {
            (Pattern::Stream, Delivery::ByteStream) => true,
            (Pattern::Stream, Delivery::Datagram) | (Pattern::Rr | Pattern::Crr, _) => false,
        }
    }

    /// The latency probe's size (that it runs beside stream flows only is
    /// [`TestSpec::check_applies`]'s).
    pub(super) fn validate_probe(&self) -> Result<(), ConfigError> {
        if self.probe {
            let min = if self.protocol.is_datagram() {
                DGRAM_HEADER
            } else {
                1
            };
            if self.probe_size < min || self.probe_size > 65507 {
                return Err(ConfigError::Range(format!(
                    "--probe-size must be from {min} to 65507 bytes"
                )));
            }
        }
        Ok(())
    }

    /// Message and response sizes against what the protocol carries.
    pub(super) fn validate_sizes(&self) -> Result<(), ConfigError> {
        let sizes = [
            ("msg-size", self.msg_size),
            ("response-size", self.response_size),
        ];
        for (name, size) in sizes {
            if name == "response-size" && !self.pattern.is_transactional() {
                continue;
            }
            if self.protocol.is_datagram() {
                let max = if self.protocol == Protocol::Udp {
                    MAX_UDP_PAYLOAD
                } else {
                    212_992
                };
                if size < DGRAM_HEADER || size > max {
                    return Err(ConfigError::Range(format!(
                        "--{name} {size} is out of range for {}: {DGRAM_HEADER} (the sequence header) to {max} bytes",
                        self.protocol
                    )));
                }
            } else if size == 0 || size > MAX_STREAM_MSG {
                return Err(ConfigError::Range(format!(
                    "--{name} {size} is out of range: 1 byte to 64M"
                )));
            }
        }
        Ok(())
    }

    /// Timeouts, rates and samples within what one test may hold.
    pub(super) fn validate_limits(&self) -> Result<(), ConfigError> {
        if let Traffic::Rr(RrSpec {
            load: RrLoad::Open { rate_tps: rate, .. },
            ..
        }) = self.traffic()
        {
            let outstanding = (rate as f64 * self.rr_timeout.as_secs_f64()).ceil();
            if outstanding > MAX_OUTSTANDING as f64 {
                return Err(ConfigError::Range(format!(
                    "--rate {rate} with --rr-timeout {:?} lets {outstanding} requests be outstanding on one flow; at most {MAX_OUTSTANDING} are allowed (lower either)",
                    self.rr_timeout
                )));
            }
        }
        let intervals = (self.warmup + self.duration).as_nanos() / self.interval.as_nanos().max(1);
        if intervals > MAX_INTERVALS as u128 {
            return Err(ConfigError::Range(format!(
                "--interval {:?} cuts this test into {intervals} samples; at most {MAX_INTERVALS} are allowed (use a longer --interval)",
                self.interval
            )));
        }
        Ok(())
    }

    /// The checks of application traffic profiles: size distributions and arrivals.
    pub(super) fn validate_profile(&self) -> Result<(), ConfigError> {
        let dists = self.msg_dist.is_some() || self.response_dist.is_some();
        if dists {
            self.validate_dists()?;
        }
        if let Some(t) = &self.think_time {
            t.check().map_err(|e| ConfigError::Value(e.to_string()))?;
        }
        if self.pipeline > 1 {
            self.validate_pipeline(dists)?;
        }
        Ok(())
    }

    /// Size distributions: each message its own write, sizes within the protocol's.
    pub(super) fn validate_dists(&self) -> Result<(), ConfigError> {
        let copies = [&self.sender, &self.receiver]
            .iter()
            .any(|k| k.sendfile || k.splice || k.zerocopy || k.udp_gso.is_some());
        if copies || self.batch > 1 {
            return Err(ConfigError::conflict(
                "a size distribution sends each message with its own write; it does not combine with --sendfile, --splice, --zerocopy, --gso or --batch",
            ));
        }
        for (name, d, size) in [
            ("msg-size", &self.msg_dist, self.msg_size),
            ("response-size", &self.response_dist, self.response_size),
        ] {
            if let Some(d) = d {
                d.check()
                    .map_err(|e| ConfigError::Value(format!("--{name}: {e}")))?;
                if d.max() != size {
                    return Err(ConfigError::Range(format!(
                        "--{name}: the distribution's largest size ({}) and the size ({size}) disagree",
                        d.max()
                    )));
                }
                let floor = self.size_floor();
                if d.min() < floor {
                    return Err(ConfigError::Range(format!(
                        "--{name}: sizes from {} bytes; {} carries at least {floor}",
                        d.min(),
                        self.protocol
                    )));
                }
            }
        }
        Ok(())
    }

    /// Pipelined requests carry an id: room for it in every message.
    pub(super) fn validate_pipeline(&self, dists: bool) -> Result<(), ConfigError> {
        let room = PIPELINE_ID
            + if dists {
                crate::spec::dist::FRAME_HEADER
            } else {
                0
            };
        for (name, d, size) in [
            ("msg-size", &self.msg_dist, self.msg_size),
            ("response-size", &self.response_dist, self.response_size),
        ] {
            let min = d.as_ref().map_or(size, |d| d.min());
            if min < room {
                return Err(ConfigError::Range(format!(
                    "--{name}: a pipelined message carries an {PIPELINE_ID}-byte request id, so it needs at least {room} bytes (got {min})"
                )));
            }
        }
        Ok(())
    }

    /// `--driver epoll` with a path only the blocking driver has (a thread per connection:
    /// the send paths with per-connection kernel state) is refused.
    pub(super) fn validate_driver(&self) -> Result<(), ConfigError> {
        if self.driver != DriverChoice::Epoll {
            return Ok(());
        }
        for (side, k) in [("sender", &self.sender), ("receiver", &self.receiver)] {
            let only = [
                (k.zerocopy, "--zerocopy"),
                (k.sendfile, "--sendfile"),
                (k.splice, "--splice"),
            ];
            if let Some((_, flag)) = only.iter().find(|(on, _)| *on) {
                return Err(ConfigError::Conflict(format!(
                    "--driver epoll: {flag} ({side}) runs on the blocking driver only (a thread per connection); use --driver auto or blocking"
                )));
            }
        }
        Ok(())
    }
}
