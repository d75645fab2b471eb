//! A test description built key by key, as flags, workload files and `--set` give it.

use super::*;

/// Builds a [`TestSpec`] from knob settings, filling the defaults that depend on the
/// protocol and pattern (message sizes) once all settings are known.
#[derive(Debug, Clone, Default)]
pub struct SpecBuilder {
    pub(super) spec: TestSpec,
    pub(super) msg_size: Option<u32>,
    pub(super) response_size: Option<u32>,
    /// Sizes from a distribution (`msg_size = "lognormal:median=1K,p99=64K"`).
    pub(super) msg_dist: Option<DistSpec>,
    pub(super) response_dist: Option<DistSpec>,
}

impl SpecBuilder {
    pub fn new() -> SpecBuilder {
        SpecBuilder::default()
    }

    /// Applies one `key = value` setting: a key of the test as a whole, or a socket knob
    /// for both sides (`sndbuf`) or one (`sender.sndbuf`, `receiver.sndbuf`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let (sides, name): (&[Side], &str) = match key.split_once('.') {
            Some(("sender", k)) => (&[Side::Sender], k),
            Some(("receiver", k)) => (&[Side::Receiver], k),
            Some(_) => return Err(ConfigError::Value(format!("unknown key '{key}'"))),
            None => (&[Side::Sender, Side::Receiver], key),
        };
        match knob(name) {
            Some(knob) => {
                for side in sides {
                    let k = match side {
                        Side::Sender => &mut self.spec.sender,
                        Side::Receiver => &mut self.spec.receiver,
                    };
                    (knob.parse)(k, value)
                        .map_err(|e| ConfigError::Value(format!("{key}: {e}")))?;
                }
            }
            None if sides.len() == 1 => {
                return Err(ConfigError::Value(format!(
                    "'{name}' is not a per-side socket knob, so '{key}' is not a key"
                )))
            }
            None => self.set_test_key(key, value)?,
        }
        Ok(self)
    }

    /// Fills size defaults and validates. Stream over TCP/MPTCP/Unix stream writes 128K;
    /// datagrams carry 1400 bytes (one Ethernet MTU's worth); rr sends 64-byte requests and
    /// responses of the request's size unless told otherwise.
    pub fn build(&self) -> Result<TestSpec, ConfigError> {
        let mut spec = self.spec.clone();
        spec.msg_size = self
            .msg_size
            .unwrap_or(match (spec.pattern, spec.protocol.delivery()) {
                (Pattern::Rr | Pattern::Crr, _) => 64,
                (Pattern::Stream, Delivery::Datagram) => 1400,
                (Pattern::Stream, Delivery::ByteStream) => 128 * 1024,
            });
        spec.response_size = self.response_size.unwrap_or(spec.msg_size);
        self.resolve_dists(&mut spec)?;
        // UDP GSO's segment size is the message size.
        for k in [&mut spec.sender, &mut spec.receiver] {
            if k.udp_gso.is_some() {
                k.udp_gso = Some(spec.msg_size);
            }
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Distributions are cut to what the protocol carries; a response without a size of
    /// its own follows the request's distribution. The sizes are then the largest drawn.
    pub(super) fn resolve_dists(&self, spec: &mut TestSpec) -> Result<(), ConfigError> {
        let (floor, ceiling) = (spec.size_floor(), spec.size_ceiling());
        let resolve = |name: &str, d: &DistSpec| {
            d.resolve(floor, ceiling)
                .map_err(|e| ConfigError::Value(format!("{name}: {e}")))
        };
        spec.msg_dist = self
            .msg_dist
            .as_ref()
            .map(|d| resolve("msg_size", d))
            .transpose()?;
        spec.response_dist = match (&self.response_dist, self.response_size) {
            (Some(d), _) => Some(resolve("response_size", d)?),
            (None, None) if spec.pattern.is_transactional() => spec.msg_dist.clone(),
            (None, _) => None,
        };
        if let Some(d) = &spec.msg_dist {
            spec.msg_size = d.max();
            if self.response_size.is_none() && self.response_dist.is_none() {
                spec.response_size = d.max();
            }
        }
        if let Some(d) = &spec.response_dist {
            spec.response_size = d.max();
        }
        Ok(())
    }
}

#[cfg(test)]
mod builder_tests {
    use super::*;

    #[test]
    fn defaults_depend_on_pattern_and_protocol() {
        let spec = SpecBuilder::new().build().unwrap();
        assert_eq!(spec.msg_size, 128 * 1024);
        let mut b = SpecBuilder::new();
        b.set("proto", "udp").unwrap();
        assert_eq!(b.build().unwrap().msg_size, 1400);
        b.set("pattern", "rr").unwrap();
        let spec = b.build().unwrap();
        assert_eq!((spec.msg_size, spec.response_size), (64, 64));
        b.set("response_size", "1K").unwrap();
        assert_eq!(b.build().unwrap().response_size, 1024);
    }

    #[test]
    fn knobs_apply_to_both_sides_or_one() {
        let mut b = SpecBuilder::new();
        b.set("sndbuf", "64K")
            .unwrap()
            .set("receiver.rcvbuf", "1M")
            .unwrap();
        b.set("busy_poll", "50us")
            .unwrap()
            .set("tos", "0x10")
            .unwrap();
        let spec = b.build().unwrap();
        assert_eq!(spec.sender.sndbuf, Some(65536));
        assert_eq!(spec.receiver.sndbuf, Some(65536));
        assert_eq!(spec.receiver.rcvbuf, Some(1 << 20));
        assert_eq!(spec.sender.rcvbuf, None);
        assert_eq!(spec.sender.busy_poll_us, Some(50));
        assert_eq!(spec.sender.tos, Some(16));
        b.set("sndbuf", "auto").unwrap();
        assert_eq!(b.build().unwrap().sender.sndbuf, None);
    }

    #[test]
    fn size_distributions_resolve_against_the_protocol() {
        let mut b = SpecBuilder::new();
        b.set("msg_size", "uniform:min=1,max=100K").unwrap();
        let spec = b.build().unwrap();
        let d = spec.msg_dist.clone().unwrap();
        // A byte stream's messages carry their 4-byte length header.
        assert_eq!(
            (d.min(), d.max(), spec.msg_size),
            (4, 100 * 1024, 100 * 1024)
        );
        assert!(spec.response_dist.is_none(), "a stream has no responses");
        b.set("pattern", "rr").unwrap();
        let spec = b.build().unwrap();
        assert_eq!(
            spec.response_dist, spec.msg_dist,
            "responses follow the requests"
        );
        b.set("proto", "udp").unwrap();
        let e = b.build().unwrap_err().to_string();
        assert!(e.contains("max") && e.contains("65507"), "{e}");
        b.set("msg_size", "uniform:min=1,max=9000").unwrap();
        let spec = b.build().unwrap();
        assert_eq!(spec.msg_dist.unwrap().min(), DGRAM_HEADER);
        b.set("pattern", "stream")
            .unwrap()
            .set("gso", "true")
            .unwrap();
        assert!(b.build().unwrap_err().to_string().contains("its own write"));
        let mut b = SpecBuilder::new();
        b.set("pattern", "rr")
            .unwrap()
            .set("pipeline", "4")
            .unwrap();
        b.set("msg_size", "lognormal:median=100,p99=1K").unwrap();
        let spec = b.build().unwrap();
        assert_eq!(
            spec.msg_dist.unwrap().min(),
            12,
            "length header and request id"
        );
        assert!(b.set("think_time", "1ms").is_ok());
        assert!(b.build().unwrap_err().to_string().contains("think_time"));
    }

    /// Every knob of the table is a key for both sides and for each alone.
    #[test]
    fn every_table_knob_is_a_key_per_side() {
        for knob in crate::spec::knobs::KNOBS {
            let mut want = SocketKnobs::default();
            (knob.parse)(&mut want, knob.example).unwrap();
            let mut b = SpecBuilder::new();
            b.set(&format!("receiver.{}", knob.key), knob.example)
                .unwrap();
            assert_eq!(b.spec.receiver, want, "{}", knob.key);
            assert_eq!(b.spec.sender, SocketKnobs::default(), "{}", knob.key);
            b.set(knob.key, knob.example).unwrap();
            assert_eq!(b.spec.sender, want, "{}", knob.key);
        }
    }

    #[test]
    fn bad_settings_name_the_key() {
        let mut b = SpecBuilder::new();
        assert!(b
            .set("msg_size", "banana")
            .unwrap_err()
            .to_string()
            .starts_with("msg_size: 'banana'"));
        assert!(b.set("sender.duration", "1s").is_err());
        assert!(b
            .set("colour", "blue")
            .unwrap_err()
            .to_string()
            .contains("unknown key 'colour'"));
        assert!(b.set("nodelay", "maybe").is_err());
        assert!(b.set("tos", "300").is_err());
        assert!(b
            .set("duration", "-1s")
            .unwrap_err()
            .to_string()
            .contains("negative"));
    }
}
