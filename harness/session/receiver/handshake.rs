//! The control connection's handshake: the version check, the busy check and, with a
//! key, the mutual challenge-response, within the handshake deadline.

use super::*;

/// The handshake: version check and, with a key, mutual authentication, all within the
/// handshake deadline and with pre-authentication size limits. Returns the session key
/// and its place among the authenticated sessions (with a key) when the sender may run
/// tests.
pub(super) fn handshake<'a>(
    daemon: &'a Daemon,
    stream: &TcpStream,
    until: Instant,
    pending: Option<u64>,
) -> Result<Option<(SessionKey, KeyedGuard<'a>)>, ControlError> {
    let (facts, psk) = (&daemon.facts, daemon.opts.psk.as_ref());
    let mut w = stream;
    let mut r = Touching {
        inner: control::Deadline { stream, until },
        daemon,
        id: pending,
    };
    let hello = control::recv_limited(&mut r, control::MAX_PRE_AUTH)?;
    if let Err(e) = control::check_hello(hello) {
        let message = hello_refusal(&e);
        let _ = control::send(&mut w, &Message::Error { message });
        return Err(e);
    }
    let max = daemon.opts.max_concurrent;
    if daemon.tests.load(Ordering::SeqCst) >= max {
        // Said at once, so that a sender need not wait; this connection holds no slot.
        let message = TestError::Busy(max).to_string();
        let _ = control::send(
            &mut w,
            &Message::Error {
                message: message.clone(),
            },
        );
        return Err(ControlError::Remote(message));
    }
    let Some(psk) = psk else {
        let welcome = Message::Welcome {
            version: PROTOCOL_VERSION,
            sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
            challenge: None,
            host: Some(facts.clone()),
        };
        control::send(&mut w, &welcome)?;
        return Ok(None);
    };
    authenticate(daemon, stream, &mut r, psk).map(Some)
}

/// Why a hello is refused, said from the receiver's side, so that the sender's user reads
/// it right.
fn hello_refusal(e: &ControlError) -> String {
    match e {
        ControlError::Version {
            ours,
            theirs,
            peer_version,
        } => format!(
            "protocol version mismatch: the receiver speaks version {ours} (sockbench {}), \
             the sender version {theirs} (sockbench {peer_version}); run the same release on both hosts",
            env!("CARGO_PKG_VERSION")
        ),
        other => other.to_string(),
    }
}

/// The challenge-response with a key: our nonce out, the sender's proof over both nonces
/// in, ours back. Returns the session key both ends derive, and the session's place among
/// the authenticated ones (`--max-pending` of them; beyond, the sender is told it is busy).
fn authenticate<'a>(
    daemon: &'a Daemon,
    stream: &TcpStream,
    r: &mut impl std::io::Read,
    psk: &Psk,
) -> Result<(SessionKey, KeyedGuard<'a>), ControlError> {
    let facts = &daemon.facts;
    let mut w = stream;
    let ours = auth::nonce();
    let welcome = Message::Welcome {
        version: PROTOCOL_VERSION,
        sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
        challenge: Some(auth::hex(&ours)),
        host: None,
    };
    control::send(&mut w, &welcome)?;
    let (theirs, proof) = match control::recv_limited(r, control::MAX_PRE_AUTH)? {
        Message::Auth { nonce, proof } => (nonce, proof),
        Message::Error { message } => return Err(ControlError::Remote(control::clip(&message))),
        other => {
            return Err(ControlError::Unexpected {
                expected: "auth",
                got: other.name(),
            })
        }
    };
    let theirs = auth::unhex(&theirs).filter(|n| n.len() == auth::NONCE_LEN);
    let Some(theirs) = theirs.filter(|t| psk.verify(auth::SENDER_LABEL, &ours, t, &proof)) else {
        let message =
            "authentication failed: the sender does not hold this receiver's key".to_string();
        let _ = control::send(
            &mut w,
            &Message::Error {
                message: message.clone(),
            },
        );
        return Err(ControlError::Remote(message));
    };
    let Some(place) = daemon.keyed_session() else {
        let message = format!(
            "busy: {} authenticated sessions are open on this receiver (--max-pending); try later",
            daemon.opts.max_pending
        );
        let _ = control::send(
            &mut w,
            &Message::Error {
                message: message.clone(),
            },
        );
        return Err(ControlError::Remote(message));
    };
    let proof = psk.prove(auth::RECEIVER_LABEL, &theirs, &ours);
    control::send(
        &mut w,
        &Message::AuthOk {
            proof,
            host: facts.clone(),
        },
    )?;
    Ok((SessionKey::derive(psk, &ours, &theirs), place))
}
