//! Sending for a fleet's controller (relaying): who may ask, to where, and what the
//! controller is told.

use super::*;

/// Where a request asks this daemon to send (None: it asks it to receive), if it may: a
/// relay needs a keyed connection (or `--allow-relay-without-key`) and an allowed peer.
pub(super) fn relay_target(
    opts: &ServeOptions,
    keyed: bool,
    relay_to: Option<&str>,
) -> Result<Option<SocketAddr>, TestError> {
    let Some(to) = relay_to else {
        return Ok(None);
    };
    if !keyed && !opts.allow_relay_without_key {
        return Err(TestError::RelayWithoutKey);
    }
    allowed_peer(opts, to).map(Some)
}

/// Whether this daemon may be asked to send to `to` (ADDR:PORT): loopback, or an address
/// in `--allow-peers`. Without it, anyone holding the key could aim the daemon's traffic
/// at any address.
pub(super) fn allowed_peer(opts: &ServeOptions, to: &str) -> Result<SocketAddr, TestError> {
    let addr: SocketAddr = to
        .parse()
        .map_err(|_| TestError::PeerAddress(control::clip(to)))?;
    let ip = addr.ip().to_canonical();
    if ip.is_loopback() || opts.allow_peers.iter().any(|c| c.contains(ip)) {
        return Ok(addr);
    }
    let allowed: Vec<String> = opts.allow_peers.iter().map(|c| c.to_string()).collect();
    Err(TestError::PeerNotAllowed {
        allowed: if allowed.is_empty() {
            "none given".to_string()
        } else {
            allowed.join(",")
        },
        ip,
    })
}

/// A test this daemon runs as the sender for a controller: connects to the peer daemon
/// with this daemon's key, runs it as `run` would, and answers with both sides' figures.
pub(super) fn relay(
    daemon: &Daemon,
    ctl: &mut Channel<TcpStream>,
    to: SocketAddr,
    spec: &TestSpec,
    start_at_ms: Option<u64>,
) -> Result<(), TestError> {
    let start_at = start_at_ms.map(|ms| std::time::UNIX_EPOCH + Duration::from_millis(ms));
    let outcome = match crate::session::sender::Peer::connect(to, daemon.opts.psk.as_ref()) {
        Ok(mut peer) => {
            let outcome = crate::session::sender::run_test_at(
                &mut peer,
                spec,
                Arc::new(AtomicBool::new(false)),
                start_at,
            );
            crate::session::sender::RelayOutcome {
                outcome,
                receiver_host: Some(peer.host.clone()),
            }
        }
        Err(e) => crate::session::sender::RelayOutcome {
            outcome: crate::session::sender::TestOutcome::failed(
                crate::session::sender::Status::Error,
                relay_reach_error(to, e),
            ),
            receiver_host: None,
        },
    };
    if let Some(e) = &outcome.outcome.error {
        // Said here, as the log line after the test says only how long it took.
        daemon.log(&format!(
            "sending to {to}: {}: {e}",
            outcome.outcome.status.as_str()
        ));
    }
    let _ = ctl.stream.set_write_timeout(Some(SETUP_TIMEOUT));
    ctl.send(&Message::Relayed {
        outcome: Box::new(outcome),
    })?;
    Ok(())
}

/// Why the peer a controller named could not be reached, said without what would make
/// this daemon a port scanner for it: whether a port that is not a sockbench daemon's is
/// open, and what it sent, are not told. What a real daemon answered is.
pub(super) fn relay_reach_error(to: SocketAddr, e: crate::session::sender::ReachError) -> String {
    use crate::session::sender::ReachError;
    match e {
        ReachError::Connect { .. }
        | ReachError::Silent { .. }
        | ReachError::Handshake {
            error:
                ControlError::NotSockbench(_)
                | ControlError::Decode(_)
                | ControlError::Closed
                | ControlError::Timeout
                | ControlError::Io(_)
                | ControlError::TooLarge(..)
                | ControlError::Unexpected { .. },
            ..
        } => format!(
            "the peer at {to} did not answer as a sockbench daemon (unreachable, or not sockbench)"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_sends_only_to_loopback_and_allowed_peers() {
        let mut opts = ServeOptions::default();
        assert!(allowed_peer(&opts, "127.0.0.1:5301").is_ok());
        assert!(allowed_peer(&opts, "[::1]:5301").is_ok());
        let e = allowed_peer(&opts, "192.0.2.1:5301")
            .unwrap_err()
            .to_string();
        assert!(e.contains("none given") && e.contains("192.0.2.1"), "{e}");
        opts.allow_peers = vec!["192.0.2.0/24".parse().unwrap()];
        assert!(allowed_peer(&opts, "192.0.2.1:5301").is_ok());
        assert!(allowed_peer(&opts, "198.51.100.1:5301").is_err());
        assert!(allowed_peer(&opts, "not an address").is_err());
    }

    /// A controller learns from a relay whether a peer is a sockbench daemon, and nothing
    /// about a port that is not: closed, silent and speaking another protocol read alike.
    #[test]
    fn a_relay_tells_nothing_about_a_port_that_is_not_a_daemon() {
        use crate::session::sender::ReachError;
        let to: SocketAddr = "192.0.2.1:5301".parse().unwrap();
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let not_sockbench = |error| ReachError::Handshake { addr: to, error };
        let said: Vec<String> = [
            ReachError::Connect {
                addr: to,
                error: refused,
            },
            ReachError::Silent { addr: to },
            not_sockbench(ControlError::Timeout),
            not_sockbench(ControlError::NotSockbench("HTTP".into())),
        ]
        .into_iter()
        .map(|e| relay_reach_error(to, e))
        .collect();
        assert!(said.iter().all(|s| s == &said[0]), "{said:?}");
        assert!(said[0].contains("did not answer as a sockbench daemon"));
    }
}
