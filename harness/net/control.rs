//! The control channel between sender and receiver: a versioned handshake, then
//! length-prefixed JSON messages (a 4-byte big-endian length, then the body). Data flows on
//! separate connections. Every read has a size limit and, set by the caller, a timeout;
//! no byte sequence makes the decoder panic.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::measure::hostinfo::HostFacts;
use crate::measure::SideReport;
use crate::spec::config::TestSpec;

/// Bumped whenever a message changes shape. Both ends refuse a peer that differs.
/// 3: with a key, every message after the handshake carries a MAC and a sequence number.
pub const PROTOCOL_VERSION: u32 = 3;
/// The first field of the first message, so that a stray client is recognised at once.
pub const MAGIC: &str = "sockbench";
/// The default control port.
pub const DEFAULT_PORT: u16 = 5301;
/// Largest message either end accepts. Results carry histograms and per-interval samples
/// of every flow, so this is generous, but bounded: a receiver's results take about 1.6 KB a
/// connection, 160 MB for 100,000. (Below 512 MiB, so that a length whose first byte is
/// printable still reads as a stranger's text.)
pub const MAX_MESSAGE: u32 = 256 << 20;
/// How often a receiver says it is alive while a test runs.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);
/// Largest message a receiver reads before the handshake is complete (hello, auth).
pub const MAX_PRE_AUTH: u32 = 4 << 10;
/// Largest message a receiver reads from a sender after the handshake (a test's setup).
pub const MAX_FROM_SENDER: u32 = 1 << 20;
/// Longest piece of a peer's text that is echoed back or logged.
pub const MAX_ECHO: usize = 120;
/// Length of a message's authentication tag (HMAC-SHA256) under a session key.
pub const TAG_LEN: usize = 32;

/// Where a data connection of the test goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataEndpoint {
    /// A port on the address the control connection reached.
    Port(u16),
    /// A Unix socket path on the receiver's host.
    Path(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Sender → receiver, first.
    Hello {
        magic: String,
        version: u32,
        sockbench_version: String,
        /// The sender's system (`sys::HOST`); absent from a sockbench that did not say.
        #[serde(default)]
        os: Option<crate::sys::Os>,
    },
    /// Receiver → sender: the protocol is agreed. With a `challenge` (a hex nonce) the
    /// receiver requires a key, and its host facts come only after authentication.
    Welcome {
        version: u32,
        sockbench_version: String,
        challenge: Option<String>,
        host: Option<HostFacts>,
    },
    /// Sender → receiver: the sender's nonce and its proof of the key (HMAC-SHA256 over
    /// both nonces).
    Auth { nonce: String, proof: String },
    /// Receiver → sender: the receiver's proof of the key, and its host facts.
    AuthOk { proof: String, host: HostFacts },
    /// Sender → receiver: the test to run.
    Setup { spec: Box<TestSpec> },
    /// Receiver → sender: data endpoints are open; one per connection of the plan. The
    /// token goes in every data connection's header.
    Ready {
        token: u64,
        endpoints: Vec<DataEndpoint>,
    },
    /// Sender → receiver: all data connections are attached; start the clock.
    Start,
    /// Receiver → sender: the receiver's roles are running.
    Started,
    /// Sender → receiver: the sender's roles are done; send your measurements.
    Finish,
    /// Receiver → sender, every [`HEARTBEAT`] while a test runs: still here.
    Alive,
    /// Receiver → sender: its measurements.
    Results { report: Box<SideReport> },
    /// Controller → daemon (fleet runs): run this test as the sender against the daemon
    /// at `to` (ADDR:PORT), and answer with [`Message::Relayed`].
    Relay {
        to: String,
        spec: Box<TestSpec>,
        /// Start the traffic at this wall-clock time (ms since the Unix epoch), so that the
        /// tests of a round start together; None = as soon as set up.
        #[serde(default)]
        start_at_ms: Option<u64>,
    },
    /// Daemon → controller: the relayed test's outcome, both sides' figures included.
    Relayed {
        outcome: Box<crate::measure::outcome::RelayOutcome>,
    },
    /// Either way: the test cannot go on.
    Error { message: String },
}

impl Message {
    pub fn hello() -> Message {
        Message::Hello {
            magic: MAGIC.to_string(),
            version: PROTOCOL_VERSION,
            sockbench_version: env!("CARGO_PKG_VERSION").to_string(),
            os: Some(crate::sys::HOST),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Welcome { .. } => "welcome",
            Message::Auth { .. } => "auth",
            Message::AuthOk { .. } => "auth_ok",
            Message::Setup { .. } => "setup",
            Message::Ready { .. } => "ready",
            Message::Start => "start",
            Message::Started => "started",
            Message::Finish => "finish",
            Message::Alive => "alive",
            Message::Relay { .. } => "relay",
            Message::Relayed { .. } => "relayed",
            Message::Results { .. } => "results",
            Message::Error { .. } => "error",
        }
    }
}

#[derive(Debug, Error)]
pub enum ControlError {
    #[error("the peer closed the control connection")]
    Closed,
    #[error("timed out waiting for the peer on the control connection")]
    Timeout,
    #[error("the peer does not speak the sockbench control protocol (it sent {0})")]
    NotSockbench(String),
    #[error("control message of {0} bytes exceeds the {1}-byte limit")]
    TooLarge(u32, u32),
    #[error(
        "a control message failed its authentication tag: rewritten, replayed or out of order"
    )]
    BadTag,
    #[error("undecodable control message: {}", clean(&.0.to_string(), MAX_ECHO))]
    Decode(#[from] serde_json::Error),
    #[error("control connection: {0}")]
    Io(io::Error),
    #[error("protocol version mismatch: this end speaks version {ours}, the peer version {theirs} (sockbench {peer_version}); run the same sockbench release on both hosts")]
    Version {
        ours: u32,
        theirs: u32,
        peer_version: String,
    },
    #[error("unexpected {got} message while waiting for {expected}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("the peer reported: {}", clean(.0, MAX_REPORT))]
    Remote(String),
}

impl From<io::Error> for ControlError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ControlError::Timeout,
            io::ErrorKind::UnexpectedEof => ControlError::Closed,
            _ => ControlError::Io(e),
        }
    }
}

/// Encodes a message as one frame.
pub fn encode(msg: &Message) -> Result<Vec<u8>, ControlError> {
    let body = serde_json::to_vec(msg)?;
    let len =
        u32::try_from(body.len()).map_err(|_| ControlError::TooLarge(u32::MAX, MAX_MESSAGE))?;
    if len > MAX_MESSAGE {
        return Err(ControlError::TooLarge(len, MAX_MESSAGE));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

pub fn send(w: &mut impl Write, msg: &Message) -> Result<(), ControlError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

fn describe_garbage(prefix: &[u8]) -> String {
    if prefix.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        let text = String::from_utf8_lossy(prefix);
        if ["GET ", "POST", "HEAD", "PUT ", "HTTP"]
            .iter()
            .any(|m| text.starts_with(m))
        {
            return format!("what looks like HTTP: {text:?}");
        }
        return format!("text {text:?}");
    }
    format!("bytes {prefix:02x?}")
}

/// Reads one frame and decodes it. An EOF before the first byte is `Closed`.
pub fn recv(r: &mut impl Read) -> Result<Message, ControlError> {
    recv_limited(r, MAX_MESSAGE)
}

/// A peer's text made safe to echo or log: at most [`MAX_ECHO`] characters, control and
/// combining characters escaped.
pub fn clip(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_ECHO)
        .flat_map(char::escape_debug)
        .take(4 * MAX_ECHO)
        .collect();
    if text.chars().nth(MAX_ECHO).is_some() {
        out.push_str("...");
    }
    out
}

/// A peer's text made safe to show on a terminal or in a log line: control characters
/// (ESC, CR, newlines, NUL, bidirectional overrides) escaped, at most `max_chars`
/// characters kept. Unlike [`clip`], ordinary text is left as it is.
pub fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push_str("...");
            break;
        }
        if c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Longest peer report (an error message) shown, in characters.
pub const MAX_REPORT: usize = 400;

/// Reads one frame's body, of at most `max` bytes.
fn read_frame(r: &mut impl Read, max: u32) -> Result<Vec<u8>, ControlError> {
    let mut len_buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len_buf[got..]) {
            Ok(0) => return Err(ControlError::Closed),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(len_buf);
    if len > max {
        return Err(if len_buf[0] >= 0x20 {
            ControlError::NotSockbench(describe_garbage(&len_buf))
        } else {
            ControlError::TooLarge(len, max)
        });
    }
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() != len as usize {
        return Err(ControlError::Closed);
    }
    Ok(body)
}

/// [`recv`] with a size limit of `max` bytes.
pub fn recv_limited(r: &mut impl Read, max: u32) -> Result<Message, ControlError> {
    let body = read_frame(r, max)?;
    Ok(serde_json::from_slice(&body)?)
}

/// A reader that gives up at an instant rather than after a quiet spell: a peer that
/// trickles one byte at a time cannot stretch the wait.
pub struct Deadline<'a> {
    pub stream: &'a std::net::TcpStream,
    pub until: std::time::Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self
            .until
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&*self.stream).read(buf)
    }
}

/// Which way a message travels, bound into its tag so that none can be reflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    ToReceiver,
    ToSender,
}

impl Way {
    fn label(self) -> &'static [u8] {
        match self {
            Way::ToReceiver => b"sockbench-v3 to receiver",
            Way::ToSender => b"sockbench-v3 to sender",
        }
    }
    fn other(self) -> Way {
        match self {
            Way::ToReceiver => Way::ToSender,
            Way::ToSender => Way::ToReceiver,
        }
    }
}

/// The key of one authenticated control connection, derived from the pre-shared key and
/// both nonces of its handshake: each message after the handshake carries
/// HMAC-SHA256(session key, way, sequence number, body), so that an on-path attacker can
/// neither rewrite, nor replay, nor reorder one.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

impl SessionKey {
    /// The session key for a handshake with these nonces (`receiver_nonce` first).
    pub fn derive(psk: &crate::net::auth::Psk, receiver_nonce: &[u8], sender_nonce: &[u8]) -> Self {
        let hex = psk.prove(SESSION_LABEL, receiver_nonce, sender_nonce);
        SessionKey(crate::net::auth::unhex(&hex).unwrap_or_default())
    }

    fn tag(&self, way: Way, seq: u64, body: &[u8]) -> [u8; TAG_LEN] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(way.label());
        mac.update(&seq.to_be_bytes());
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, way: Way, seq: u64, body: &[u8], tag: &[u8]) -> bool {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(way.label());
        mac.update(&seq.to_be_bytes());
        mac.update(body);
        mac.verify_slice(tag).is_ok()
    }
}

/// Label of the session-key derivation.
pub const SESSION_LABEL: &[u8] = b"sockbench-v3 session key";

/// A control connection after its handshake: messages framed as before, and with a
/// session key each one tagged and numbered.
pub struct Channel<S> {
    pub stream: S,
    key: Option<SessionKey>,
    /// The way this end sends.
    way: Way,
    sent: u64,
    received: u64,
    /// Largest message this end reads.
    max: u32,
}

impl<S: Read + Write> Channel<S> {
    pub fn new(stream: S, key: Option<SessionKey>, way: Way, max: u32) -> Self {
        Channel {
            stream,
            key,
            way,
            sent: 0,
            received: 0,
            max,
        }
    }

    pub fn send(&mut self, msg: &Message) -> Result<(), ControlError> {
        let Some(key) = &self.key else {
            return send(&mut self.stream, msg);
        };
        let body = serde_json::to_vec(msg)?;
        let len = body.len() + TAG_LEN;
        if len > MAX_MESSAGE as usize {
            return Err(ControlError::TooLarge(len as u32, MAX_MESSAGE));
        }
        let tag = key.tag(self.way, self.sent, &body);
        self.sent += 1;
        let mut frame = Vec::with_capacity(4 + len);
        frame.extend_from_slice(&(len as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&tag);
        self.stream.write_all(&frame)?;
        self.stream.flush()?;
        Ok(())
    }

    pub fn recv(&mut self) -> Result<Message, ControlError> {
        let Some(key) = &self.key else {
            return recv_limited(&mut self.stream, self.max);
        };
        let frame = read_frame(&mut self.stream, self.max)?;
        if frame.len() < TAG_LEN {
            return Err(ControlError::BadTag);
        }
        let (body, tag) = frame.split_at(frame.len() - TAG_LEN);
        if !key.verify(self.way.other(), self.received, body, tag) {
            return Err(ControlError::BadTag);
        }
        self.received += 1;
        Ok(serde_json::from_slice(body)?)
    }

    /// Receives the next message and insists on a kind, as [`expect`] does.
    pub fn expect<T>(
        &mut self,
        expected: &'static str,
        pick: impl FnOnce(Message) -> Option<T>,
    ) -> Result<T, ControlError> {
        match self.recv()? {
            Message::Error { message } => Err(ControlError::Remote(message)),
            msg => {
                let got = msg.name();
                pick(msg).ok_or(ControlError::Unexpected { expected, got })
            }
        }
    }
}

/// Checks the peer's hello (receiver side). Returns the peer's sockbench version.
pub fn check_hello(msg: Message) -> Result<String, ControlError> {
    match msg {
        Message::Hello {
            magic,
            version,
            sockbench_version,
            ..
        } => {
            if magic != MAGIC {
                return Err(ControlError::NotSockbench(format!(
                    "magic \"{}\"",
                    clip(&magic)
                )));
            }
            if version != PROTOCOL_VERSION {
                return Err(ControlError::Version {
                    ours: PROTOCOL_VERSION,
                    theirs: version,
                    peer_version: clip(&sockbench_version),
                });
            }
            Ok(clip(&sockbench_version))
        }
        other => Err(ControlError::Unexpected {
            expected: "hello",
            got: other.name(),
        }),
    }
}

/// Receives the next message and insists on a kind: `pick` returns `Some` for the kind
/// wanted. An `Error` message from the peer becomes `Remote`.
pub fn expect<T>(
    r: &mut impl Read,
    expected: &'static str,
    pick: impl FnOnce(Message) -> Option<T>,
) -> Result<T, ControlError> {
    match recv(r)? {
        Message::Error { message } => Err(ControlError::Remote(message)),
        msg => {
            let got = msg.name();
            pick(msg).ok_or(ControlError::Unexpected { expected, got })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::SideReport;

    fn round_trip(msg: Message) {
        let frame = encode(&msg).unwrap();
        let back = recv(&mut &frame[..]).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn every_message_round_trips() {
        round_trip(Message::hello());
        round_trip(Message::Welcome {
            version: PROTOCOL_VERSION,
            sockbench_version: "0.1.0".into(),
            challenge: None,
            host: Some(HostFacts::gather()),
        });
        round_trip(Message::Welcome {
            version: PROTOCOL_VERSION,
            sockbench_version: "0.1.0".into(),
            challenge: Some("00ff".into()),
            host: None,
        });
        round_trip(Message::Auth {
            nonce: "ab".into(),
            proof: "cd".into(),
        });
        round_trip(Message::AuthOk {
            proof: "ef".into(),
            host: HostFacts::default(),
        });
        round_trip(Message::Setup {
            spec: Box::default(),
        });
        round_trip(Message::Ready {
            token: 42,
            endpoints: vec![
                DataEndpoint::Port(4000),
                DataEndpoint::Path("/tmp/x".into()),
            ],
        });
        round_trip(Message::Start);
        round_trip(Message::Started);
        round_trip(Message::Finish);
        round_trip(Message::Alive);
        round_trip(Message::Results {
            report: Box::new(SideReport::default()),
        });
        round_trip(Message::Error {
            message: "no".into(),
        });
    }

    /// Two ends of a keyed channel over in-memory pipes: what one sends, the other reads.
    fn keyed_pair(key: &[u8]) -> (SessionKey, SessionKey) {
        let psk = crate::net::auth::Psk::from_bytes(key);
        let (r, s) = ([1u8; 32], [2u8; 32]);
        (
            SessionKey::derive(&psk, &r, &s),
            SessionKey::derive(&psk, &r, &s),
        )
    }

    fn sent_frames(key: SessionKey, way: Way, msgs: &[Message]) -> Vec<Vec<u8>> {
        msgs.iter()
            .scan(
                Channel::new(
                    std::io::Cursor::new(Vec::new()),
                    Some(key),
                    way,
                    MAX_MESSAGE,
                ),
                |ch, m| {
                    ch.stream = std::io::Cursor::new(Vec::new());
                    ch.send(m).unwrap();
                    Some(ch.stream.get_ref().clone())
                },
            )
            .collect()
    }

    fn reader(key: SessionKey, way: Way, bytes: Vec<u8>) -> Channel<std::io::Cursor<Vec<u8>>> {
        Channel::new(std::io::Cursor::new(bytes), Some(key), way, MAX_MESSAGE)
    }

    #[test]
    fn keyed_messages_cannot_be_rewritten_replayed_reordered_or_reflected() {
        let (a, b) = keyed_pair(b"0123456789abcdef0123");
        let msgs = [Message::Start, Message::Finish, Message::Started];
        let frames = sent_frames(a.clone(), Way::ToReceiver, &msgs);
        // In order, as sent: every message arrives.
        let mut ch = reader(b.clone(), Way::ToSender, frames.concat());
        for m in &msgs {
            assert_eq!(&ch.recv().unwrap(), m);
        }
        // Rewritten: one byte of the body changed.
        let mut bad = frames[0].clone();
        bad[6] ^= 0x20;
        assert!(matches!(
            reader(b.clone(), Way::ToSender, bad).recv(),
            Err(ControlError::BadTag)
        ));
        // Replayed: the first message twice.
        let mut ch = reader(
            b.clone(),
            Way::ToSender,
            [&frames[0][..], &frames[0]].concat(),
        );
        ch.recv().unwrap();
        assert!(matches!(ch.recv(), Err(ControlError::BadTag)));
        // Reordered.
        let mut ch = reader(
            b.clone(),
            Way::ToSender,
            [&frames[1][..], &frames[0]].concat(),
        );
        assert!(matches!(ch.recv(), Err(ControlError::BadTag)));
        // Reflected: a message the receiver sent, played back to it.
        let mut ch = reader(a.clone(), Way::ToReceiver, frames[0].clone());
        assert!(matches!(ch.recv(), Err(ControlError::BadTag)));
        // Unkeyed, or under another key.
        let (other, _) = keyed_pair(b"another key of twenty");
        assert!(matches!(
            reader(other, Way::ToSender, frames[0].clone()).recv(),
            Err(ControlError::BadTag)
        ));
        let plain = encode(&Message::Start).unwrap();
        assert!(reader(b, Way::ToSender, plain).recv().is_err());
    }

    #[test]
    fn a_peer_text_is_clipped_before_it_is_echoed() {
        let long = "\u{301}".repeat(100_000);
        assert!(clip(&long).len() < 8 * MAX_ECHO);
        assert_eq!(clip("sockbench"), "sockbench");
        assert!(clip("a\nb").contains("\\n"));
    }

    #[test]
    fn http_is_recognised() {
        let err = recv(&mut &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]).unwrap_err();
        assert!(err.to_string().contains("HTTP"), "{err}");
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let frame = encode(&Message::Start).unwrap();
        for cut in 0..frame.len() {
            assert!(recv(&mut &frame[..cut]).is_err());
        }
        let huge = (MAX_MESSAGE + 1).to_be_bytes();
        assert!(matches!(
            recv(&mut &huge[..]),
            Err(ControlError::TooLarge(..))
        ));
    }

    #[test]
    fn version_mismatch_is_explained() {
        let hello = Message::Hello {
            magic: MAGIC.into(),
            version: 99,
            sockbench_version: "9.9.9".into(),
            os: None,
        };
        let err = check_hello(hello).unwrap_err().to_string();
        assert!(
            err.contains(&format!("version {PROTOCOL_VERSION}")) && err.contains("version 99"),
            "{err}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Any bytes at all: an error or a message, never a panic.
        #[test]
        fn the_decoder_takes_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = recv(&mut &bytes[..]);
        }

        /// Any body behind a valid length prefix.
        #[test]
        fn the_decoder_takes_any_framed_body(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            let _ = recv(&mut &frame[..]);
        }

        /// Any prefix of a real frame is an error, never a message or a panic.
        #[test]
        fn truncated_real_frames_are_errors(cut in 0usize..200) {
            let frame = encode(&Message::Ready { token: 7, endpoints: vec![DataEndpoint::Port(5000); 4] }).unwrap();
            if cut < frame.len() {
                proptest::prop_assert!(recv(&mut &frame[..cut]).is_err());
            }
        }
    }

    /// A small deterministic generator so this test needs no extra crate and is repeatable.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn arbitrary_bytes_give_errors_not_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for round in 0..20_000 {
            let len = (xorshift(&mut seed) % 96) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
            if round % 2 == 0 && bytes.len() >= 4 {
                // A plausible length prefix makes the decoder reach the JSON parser.
                let body = (bytes.len() - 4) as u32;
                bytes[..4].copy_from_slice(&body.to_be_bytes());
            }
            let _ = recv(&mut &bytes[..]);
        }
        // Valid framing around JSON of the wrong shape.
        for body in [
            &b"{}"[..],
            b"[]",
            b"{\"type\":\"setup\"}",
            b"{\"type\":\"nope\"}",
            b"null",
        ] {
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(body);
            assert!(matches!(
                recv(&mut &frame[..]),
                Err(ControlError::Decode(_))
            ));
        }
    }
}
