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

use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket};
use thiserror::Error;

use crate::config::{Protocol, SocketKnobs};
use crate::hostinfo::read_sysctl;

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

/// What the kernel reports for each option once the socket is configured. `None` where
/// the option does not apply to the protocol or the kernel would not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveKnobs {
    pub sndbuf: Option<u64>,
    pub rcvbuf: Option<u64>,
    /// TCP_MAXSEG as read back (on a connected socket: the current MSS).
    pub maxseg: Option<u32>,
    pub nodelay: Option<bool>,
    pub congestion: Option<String>,
    pub tos: Option<u32>,
    pub quickack: Option<bool>,
    pub notsent_lowat: Option<u32>,
    pub cork: Option<bool>,
    pub busy_poll_us: Option<u32>,
    pub udp_gso: Option<u32>,
    pub udp_gro: Option<bool>,
    pub zerocopy: Option<bool>,
}

/// Requested and effective values of one data socket, and any warning about clamping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedKnobs {
    pub requested: SocketKnobs,
    pub effective: EffectiveKnobs,
    pub warnings: Vec<String>,
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
            set_int(sock, libc::SOL_SOCKET, crate::zerocopy::SO_ZEROCOPY, 1)
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
        eff.zerocopy = get_int(sock, libc::SOL_SOCKET, crate::zerocopy::SO_ZEROCOPY)
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

/// The kernel's `struct tcp_info` (include/uapi/linux/tcp.h) up to `tcpi_rcv_wnd`. An
/// older kernel fills less; the rest stays zero.
#[repr(C)]
#[derive(Default)]
struct RawTcpInfo {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8, // snd_wscale:4 (low bits), rcv_wscale:4
    app_limited: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
    busy_time: u64,
    rwnd_limited: u64,
    sndbuf_limited: u64,
    delivered: u32,
    delivered_ce: u32,
    bytes_sent: u64,
    bytes_retrans: u64,
    dsack_dups: u32,
    reord_seen: u32,
    rcv_ooopack: u32,
    snd_wnd: u32,
    rcv_wnd: u32,
}

/// The TCP_INFO fields a socket study needs, as the kernel reported them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpInfo {
    pub state: u8,
    /// tcpi_options: TCPI_OPT_TIMESTAMPS (1), SACK (2), WSCALE (4), ECN (8), ...
    pub options: u8,
    /// tcpi_total_retrans: segments retransmitted over the connection's life.
    pub total_retrans: u32,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub min_rtt_us: u32,
    pub snd_cwnd: u32,
    pub snd_ssthresh: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub advmss: u32,
    pub pmtu: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// Bytes per second.
    pub delivery_rate: u64,
    pub pacing_rate: u64,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub bytes_retrans: u64,
    pub segs_out: u32,
    pub segs_in: u32,
    pub busy_time_us: u64,
    pub rwnd_limited_us: u64,
    pub sndbuf_limited_us: u64,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub rcv_space: u32,
}

/// Reads TCP_INFO with `getsockopt(IPPROTO_TCP, TCP_INFO)`.
pub fn tcp_info(sock: &Socket) -> io::Result<TcpInfo> {
    let mut raw = RawTcpInfo::default();
    let mut len = mem::size_of::<RawTcpInfo>() as libc::socklen_t;
    // SAFETY: `raw` is a plain-old-data repr(C) struct of `len` bytes; the kernel writes at
    // most `len` bytes into it and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut raw as *mut RawTcpInfo).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        state: raw.state,
        options: raw.options,
        total_retrans: raw.total_retrans,
        rtt_us: raw.rtt,
        rttvar_us: raw.rttvar,
        min_rtt_us: raw.min_rtt,
        snd_cwnd: raw.snd_cwnd,
        snd_ssthresh: raw.snd_ssthresh,
        snd_mss: raw.snd_mss,
        rcv_mss: raw.rcv_mss,
        advmss: raw.advmss,
        pmtu: raw.pmtu,
        snd_wscale: raw.wscale & 0x0f,
        rcv_wscale: raw.wscale >> 4,
        delivery_rate: raw.delivery_rate,
        pacing_rate: raw.pacing_rate,
        bytes_sent: raw.bytes_sent,
        bytes_acked: raw.bytes_acked,
        bytes_received: raw.bytes_received,
        bytes_retrans: raw.bytes_retrans,
        segs_out: raw.segs_out,
        segs_in: raw.segs_in,
        busy_time_us: raw.busy_time,
        rwnd_limited_us: raw.rwnd_limited,
        sndbuf_limited_us: raw.sndbuf_limited,
        snd_wnd: raw.snd_wnd,
        rcv_wnd: raw.rcv_wnd,
        rcv_space: raw.rcv_space,
    })
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
