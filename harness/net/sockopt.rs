//! The one place that sets socket options. It walks the knob table
//! ([`crate::spec::knobs::KNOBS`]): each knob set for a side is applied with the table's
//! setter at the moments the table names, every option that applies to the protocol is
//! read back from the kernel, and TCP_INFO snapshots come from `sys::tcp_info`.
//!
//! Why the moments matter: SO_RCVBUF fixes the TCP window scale during the handshake and
//! TCP_MAXSEG the advertised MSS, so both go on the listening socket before `listen` (an
//! accepted socket inherits them) and on the connecting socket before `connect`.

use std::io;

use socket2::{Domain, Socket};
use thiserror::Error;

use crate::measure::hostinfo::read_sysctl;
use crate::spec::config::{Protocol, SocketKnobs};
pub use crate::spec::knobs::{AppliedKnobs, EffectiveKnobs, Phase};
use crate::spec::knobs::{Clamp, Hint, Knob, SockOpt, KNOBS};
pub use crate::sys::tcp_info::{tcp_info, TcpInfo};

/// A knob the kernel refused.
#[derive(Debug, Error)]
#[error("the kernel refused {option}={value}: {source}{hint}")]
pub struct KnobError {
    pub option: &'static str,
    pub value: String,
    pub hint: String,
    #[source]
    pub source: io::Error,
}

/// The knobs with a socket option that applies to `proto`.
fn options(proto: Protocol) -> impl Iterator<Item = (&'static Knob, &'static SockOpt)> {
    KNOBS
        .iter()
        .filter(move |k| k.applies.to(proto))
        .filter_map(|k| k.sockopt.as_ref().map(|o| (k, o)))
}

/// Applies the knobs for `phase`. Returns warnings (a buffer clamped by a sysctl).
pub fn apply(
    sock: &Socket,
    proto: Protocol,
    domain: Domain,
    knobs: &SocketKnobs,
    phase: Phase,
) -> Result<Vec<String>, KnobError> {
    let mut warnings = Vec::new();
    for (knob, opt) in options(proto).filter(|(_, o)| o.phases.contains(&phase)) {
        let Some(done) = (opt.set)(sock, domain, knobs) else {
            continue;
        };
        done.map_err(|source| KnobError {
            option: opt.name,
            value: (knob.show)(knobs).unwrap_or_default(),
            hint: opt
                .hint
                .map(|h| refusal_hint(h, &source))
                .unwrap_or_default(),
            source,
        })?;
        if let Some(clamp) = &opt.clamp {
            warnings.extend(clamp_warning(opt.name, clamp, knobs));
        }
    }
    Ok(warnings)
}

/// What the kernel takes instead of a value it refused: the values it has, or, refused
/// for want of privilege (EPERM), those this process may set.
fn refusal_hint(hint: Hint, refused: &io::Error) -> String {
    let list = |sysctl: &str| read_sysctl(&sysctl.replace('.', "/"));
    let denied = refused.kind() == io::ErrorKind::PermissionDenied;
    let permitted = hint.permitted.filter(|_| denied);
    match permitted.and_then(|p| list(p).map(|l| (p, l))) {
        Some((sysctl, l)) => format!(
            " (without root or CAP_NET_ADMIN this process may set only: {}, the list in {sysctl})",
            l.trim()
        ),
        None => list(hint.available)
            .map(|l| format!(" (available here: {})", l.trim()))
            .unwrap_or_default(),
    }
}

/// Re-arms TCP_QUICKACK, which the kernel clears when it leaves quick-ack mode. Called by
/// the patterns after reads when the knob is on; errors are ignored as the socket may be
/// closing.
pub fn rearm_quickack(sock: &Socket) {
    let _ = crate::sys::opts::set_quickack(sock, true);
}

fn clamp_warning(option: &str, clamp: &Clamp, knobs: &SocketKnobs) -> Option<String> {
    let requested = (clamp.requested)(knobs)?;
    // Windows reports no limit: it takes what is asked for.
    let sysctl = crate::sys::HOST.buffer_limit(clamp.send)?;
    let max: u64 = read_sysctl(&sysctl.replace('.', "/"))?
        .trim()
        .parse()
        .ok()?;
    (requested > max).then(|| {
        format!(
            "{option} {requested} requested, but {sysctl} = {max} caps it; the kernel clamped it"
        )
    })
}

/// Reads every option that applies to `proto` back from the kernel.
pub fn read_back(sock: &Socket, proto: Protocol, domain: Domain) -> EffectiveKnobs {
    let mut eff = EffectiveKnobs::default();
    for (_, opt) in options(proto) {
        (opt.read)(sock, domain, &mut eff);
    }
    eff
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Protocol as SockProto, Type};

    fn tcp_socket() -> Socket {
        Socket::new(Domain::IPV4, Type::STREAM, Some(SockProto::TCP)).unwrap()
    }

    fn knobs() -> SocketKnobs {
        SocketKnobs {
            sndbuf: Some(65536),
            rcvbuf: Some(131072),
            mss: Some(1000),
            nodelay: true,
            congestion: Some("reno".into()),
            tos: Some(0x10),
            quickack: false,
            notsent_lowat: Some(16384),
            cork: true,
            busy_poll_us: Some(50),
            udp_gso: None,
            udp_gro: false,
            cpus: None,
            zerocopy: false,
            spin: false,
            sendfile: false,
            splice: false,
            linger: Some(7),
        }
    }

    #[test]
    fn udp_gso_and_gro_are_set_and_read_back() {
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(SockProto::UDP)).unwrap();
        let k = SocketKnobs {
            udp_gso: Some(1400),
            udp_gro: true,
            ..SocketKnobs::default()
        };
        apply(&sock, Protocol::Udp, Domain::IPV4, &k, Phase::BeforeConnect).unwrap();
        let eff = read_back(&sock, Protocol::Udp, Domain::IPV4);
        assert_eq!(eff.udp_gso, Some(1400));
        assert_eq!(eff.udp_gro, Some(true));
    }

    #[test]
    fn every_knob_is_set_and_read_back() {
        let sock = tcp_socket();
        let warnings = apply(
            &sock,
            Protocol::Tcp,
            Domain::IPV4,
            &knobs(),
            Phase::BeforeConnect,
        )
        .expect("apply");
        assert!(warnings.is_empty(), "{warnings:?}");
        let eff = read_back(&sock, Protocol::Tcp, Domain::IPV4);
        // Linux stores double the requested buffer size: half is reserved for its own
        // bookkeeping (socket(7)). These are literal kernel answers, not computed.
        assert_eq!(eff.sndbuf, Some(131072));
        assert_eq!(eff.rcvbuf, Some(262144));
        assert_eq!(eff.maxseg, Some(1000));
        assert_eq!(eff.nodelay, Some(true));
        assert_eq!(eff.congestion.as_deref(), Some("reno"));
        assert_eq!(eff.tos, Some(0x10));
        assert_eq!(eff.notsent_lowat, Some(16384));
        assert_eq!(eff.cork, Some(true));
        assert_eq!(eff.busy_poll_us, Some(50));
        assert_eq!(eff.linger, Some(7));
    }

    #[test]
    fn unset_knobs_leave_kernel_defaults() {
        let sock = tcp_socket();
        apply(
            &sock,
            Protocol::Tcp,
            Domain::IPV4,
            &SocketKnobs::default(),
            Phase::BeforeConnect,
        )
        .unwrap();
        let eff = read_back(&sock, Protocol::Tcp, Domain::IPV4);
        assert_eq!(eff.nodelay, Some(false));
        assert_eq!(eff.cork, Some(false));
        assert_eq!(eff.linger, None, "SO_LINGER is off by default");
        // The default congestion control is whatever the sysctl names.
        let default_cc = read_sysctl("net/ipv4/tcp_congestion_control").unwrap();
        assert_eq!(eff.congestion.as_deref(), Some(default_cc.trim()));
    }

    #[test]
    fn quickack_is_set_on_connected_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let sock = Socket::from(stream);
        let k = SocketKnobs {
            quickack: true,
            ..SocketKnobs::default()
        };
        apply(&sock, Protocol::Tcp, Domain::IPV4, &k, Phase::Connected).unwrap();
        assert_eq!(
            read_back(&sock, Protocol::Tcp, Domain::IPV4).quickack,
            Some(true)
        );
    }

    /// A congestion control refused for want of privilege names those this process may
    /// set (net.ipv4.tcp_allowed_congestion_control); any other refusal, those the kernel
    /// has.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_refusal_for_want_of_privilege_names_what_may_be_set() {
        let hint = Hint {
            available: "net.ipv4.tcp_available_congestion_control",
            permitted: Some("net.ipv4.tcp_allowed_congestion_control"),
        };
        let read = |s: &str| read_sysctl(&s.replace('.', "/")).unwrap();
        let allowed = read("net.ipv4.tcp_allowed_congestion_control");
        let denied = io::Error::from_raw_os_error(libc::EPERM);
        let msg = refusal_hint(hint, &denied);
        assert!(
            msg.contains("may set only") && msg.contains(allowed.trim()),
            "{msg}"
        );
        let unknown = io::Error::from_raw_os_error(libc::ENOENT);
        let msg = refusal_hint(hint, &unknown);
        let available = read("net.ipv4.tcp_available_congestion_control");
        assert_eq!(msg, format!(" (available here: {})", available.trim()));
    }

    #[test]
    fn refusals_name_the_option() {
        let sock = tcp_socket();
        let k = SocketKnobs {
            congestion: Some("no-such-cc".into()),
            ..SocketKnobs::default()
        };
        let err = apply(&sock, Protocol::Tcp, Domain::IPV4, &k, Phase::BeforeConnect).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("TCP_CONGESTION=no-such-cc"), "{msg}");
        assert!(msg.contains("available here"), "{msg}");
        let k = SocketKnobs {
            mss: Some(10),
            ..SocketKnobs::default()
        };
        let err = apply(&sock, Protocol::Tcp, Domain::IPV4, &k, Phase::BeforeConnect).unwrap_err();
        assert!(err.to_string().contains("TCP_MAXSEG=10"));
    }

    #[test]
    fn buffers_above_the_sysctl_are_clamped_and_warned_about() {
        let max: u64 = read_sysctl("net/core/rmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let sock = tcp_socket();
        let k = SocketKnobs {
            rcvbuf: Some(max * 4),
            ..SocketKnobs::default()
        };
        let warnings = apply(&sock, Protocol::Tcp, Domain::IPV4, &k, Phase::BeforeConnect).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("net.core.rmem_max"), "{warnings:?}");
        let eff = read_back(&sock, Protocol::Tcp, Domain::IPV4)
            .rcvbuf
            .unwrap();
        assert!(eff < max * 4, "the kernel should have clamped {eff}");
    }

    #[test]
    fn tcp_info_reports_the_mss_of_a_connected_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = tcp_socket();
        let k = SocketKnobs {
            mss: Some(1200),
            ..SocketKnobs::default()
        };
        apply(&sock, Protocol::Tcp, Domain::IPV4, &k, Phase::BeforeConnect).unwrap();
        sock.connect(&listener.local_addr().unwrap().into())
            .unwrap();
        let _peer = listener.accept().unwrap();
        let info = tcp_info(&sock).unwrap();
        assert_eq!(info.state, 1, "TCP_ESTABLISHED");
        // snd_mss is the MSS less the TCP options every segment carries: with timestamps
        // on (the Linux default), 12 bytes.
        let timestamps = info.options & 1 != 0;
        assert_eq!(info.snd_mss, if timestamps { 1200 - 12 } else { 1200 });
        assert!(info.rtt_us > 0);
    }
}
