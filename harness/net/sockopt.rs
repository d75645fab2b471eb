//! The one place that sets socket options. It applies [`SocketKnobs`] with socket2 at the
//! right moment of a socket's life, reads every option back from the kernel, and takes
//! TCP_INFO snapshots through libc (socket2 has no getter for it).
//!
//! Why the moments matter: SO_RCVBUF fixes the TCP window scale during the handshake and
//! TCP_MAXSEG the advertised MSS, so both go on the listening socket before `listen` (an
//! accepted socket inherits them) and on the connecting socket before `connect`.

use std::io;
use std::mem;
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket};
use thiserror::Error;

use crate::measure::hostinfo::read_sysctl;
use crate::spec::config::{Protocol, SocketKnobs};
pub use crate::spec::knobs::{AppliedKnobs, EffectiveKnobs};
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

/// When in a socket's life the knobs are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A socket about to `listen` or `connect`, or an unconnected datagram socket: everything
    /// but the per-read TCP_QUICKACK.
    BeforeConnect,
    /// A socket returned by `accept`: it inherited buffers and MSS from the listener; the
    /// TCP-level options are set again so that what is read back is what was asked for.
    Accepted,
    /// A connected stream socket: TCP_QUICKACK, which the kernel clears as it goes.
    Connected,
}

fn refused(option: &'static str, value: impl ToString, source: io::Error) -> KnobError {
    KnobError {
        option,
        value: value.to_string(),
        hint: String::new(),
        source,
    }
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
    if phase == Phase::BeforeConnect {
        if let Some(v) = knobs.sndbuf {
            sock.set_send_buffer_size(v as usize)
                .map_err(|e| refused("SO_SNDBUF", v, e))?;
            warnings.extend(clamp_warning("SO_SNDBUF", "net.core.wmem_max", v));
        }
        if let Some(v) = knobs.rcvbuf {
            sock.set_recv_buffer_size(v as usize)
                .map_err(|e| refused("SO_RCVBUF", v, e))?;
            warnings.extend(clamp_warning("SO_RCVBUF", "net.core.rmem_max", v));
        }
        if let Some(v) = knobs.mss {
            sock.set_tcp_mss(v)
                .map_err(|e| refused("TCP_MAXSEG", v, e))?;
        }
    }
    if matches!(phase, Phase::BeforeConnect | Phase::Accepted) {
        if proto.is_ip() {
            if let Some(v) = knobs.tos {
                let r = if domain == Domain::IPV6 {
                    sock.set_tclass_v6(v.into())
                } else {
                    sock.set_tos_v4(v.into())
                };
                r.map_err(|e| refused("IP_TOS", v, e))?;
            }
            if let Some(v) = knobs.busy_poll_us {
                sock.set_busy_poll(v)
                    .map_err(|e| refused("SO_BUSY_POLL", v, e))?;
            }
        }
        if proto == Protocol::Udp {
            if let Some(seg) = knobs.udp_gso {
                set_int(sock, libc::SOL_UDP, libc::UDP_SEGMENT, seg as libc::c_int)
                    .map_err(|e| refused("UDP_SEGMENT", seg, e))?;
            }
            if knobs.udp_gro {
                set_int(sock, libc::SOL_UDP, libc::UDP_GRO, 1)
                    .map_err(|e| refused("UDP_GRO", 1, e))?;
            }
        }
        if proto == Protocol::Tcp && knobs.zerocopy {
            set_int(sock, libc::SOL_SOCKET, crate::sys::zerocopy::SO_ZEROCOPY, 1)
                .map_err(|e| refused("SO_ZEROCOPY", 1, e))?;
        }
        if proto.is_tcp_like() {
            if let Some(cc) = &knobs.congestion {
                sock.set_tcp_congestion(cc.as_bytes()).map_err(|e| {
                    let mut err = refused("TCP_CONGESTION", cc, e);
                    if let Some(avail) = read_sysctl("net/ipv4/tcp_available_congestion_control") {
                        err.hint = format!(" (available here: {avail})");
                    }
                    err
                })?;
            }
            if knobs.nodelay {
                sock.set_tcp_nodelay(true)
                    .map_err(|e| refused("TCP_NODELAY", 1, e))?;
            }
            if let Some(v) = knobs.notsent_lowat {
                sock.set_tcp_notsent_lowat(v)
                    .map_err(|e| refused("TCP_NOTSENT_LOWAT", v, e))?;
            }
            if knobs.cork {
                sock.set_tcp_cork(true)
                    .map_err(|e| refused("TCP_CORK", 1, e))?;
            }
        }
    }
    if phase == Phase::Connected && knobs.quickack && proto.is_tcp_like() {
        sock.set_tcp_quickack(true)
            .map_err(|e| refused("TCP_QUICKACK", 1, e))?;
    }
    Ok(warnings)
}

/// Re-arms TCP_QUICKACK, which the kernel clears when it leaves quick-ack mode. Called by
/// the patterns after reads when the knob is on; errors are ignored as the socket may be
/// closing.
pub fn rearm_quickack(sock: &Socket) {
    let _ = sock.set_tcp_quickack(true);
}

fn clamp_warning(option: &str, sysctl: &str, requested: u64) -> Option<String> {
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
    let mut eff = EffectiveKnobs {
        sndbuf: sock.send_buffer_size().ok().map(|v| v as u64),
        rcvbuf: sock.recv_buffer_size().ok().map(|v| v as u64),
        ..EffectiveKnobs::default()
    };
    if proto.is_ip() {
        eff.tos = if domain == Domain::IPV6 {
            sock.tclass_v6().ok()
        } else {
            sock.tos_v4().ok()
        };
        eff.busy_poll_us = sock.busy_poll().ok();
    }
    if proto == Protocol::Tcp {
        eff.zerocopy = get_int(sock, libc::SOL_SOCKET, crate::sys::zerocopy::SO_ZEROCOPY)
            .ok()
            .map(|v| v != 0);
    }
    if proto == Protocol::Udp {
        eff.udp_gso = get_int(sock, libc::SOL_UDP, libc::UDP_SEGMENT)
            .ok()
            .map(|v| v as u32);
        eff.udp_gro = get_int(sock, libc::SOL_UDP, libc::UDP_GRO)
            .ok()
            .map(|v| v != 0);
    }
    if proto.is_tcp_like() {
        eff.maxseg = sock.tcp_mss().ok();
        eff.nodelay = sock.tcp_nodelay().ok();
        eff.congestion = sock.tcp_congestion().ok().map(|name| {
            String::from_utf8_lossy(&name)
                .trim_end_matches('\0')
                .to_string()
        });
        eff.quickack = sock.tcp_quickack().ok();
        eff.notsent_lowat = sock.tcp_notsent_lowat().ok();
        eff.cork = sock.tcp_cork().ok();
    }
    eff
}

/// setsockopt of an int option socket2 has no setter for.
fn set_int(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to one c_int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// getsockopt of an int option socket2 has no getter for.
fn get_int(sock: &Socket, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid fd and a buffer of one c_int; the kernel updates len.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
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
