//! The table of knobs, [`KNOBS`]: one entry per knob.

use socket2::Domain;

use super::parse::*;
use super::*;
use crate::spec::base::MAX_UDP_PAYLOAD;
use crate::spec::units::format_duration;
use crate::sys::opts;

/// Before `listen`/`connect` only: SO_RCVBUF fixes the TCP window scale during the
/// handshake and TCP_MAXSEG the advertised MSS, and an accepted socket inherits both.
const HANDSHAKE: &[Phase] = &[Phase::BeforeConnect];
/// Before `listen`/`connect`, and again on the accepted socket.
const SOCKET: &[Phase] = &[Phase::BeforeConnect, Phase::Accepted];
/// On the connected socket.
const CONNECTED: &[Phase] = &[Phase::Connected];

/// The table. Its order is the order of `--help`, of the "known keys" list, and in which
/// the options are set on a socket.
pub static KNOBS: &[Knob] = &[
    Knob {
        key: "sndbuf",
        help: "SO_SNDBUF on the data sockets, or auto for the kernel's autotuning [default: auto]",
        takes: SIZE,
        example: "64K",
        applies: Applies::Every,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt SO_SNDBUF: double the request, capped by net.core.wmem_max",
            },
            OnOs {
                os: Os::Macos,
                read_back: "getsockopt SO_SNDBUF, capped by kern.ipc.maxsockbuf",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "getsockopt SO_SNDBUF, capped by kern.ipc.maxsockbuf",
            },
            OnOs {
                os: Os::Windows,
                read_back: "getsockopt SO_SNDBUF: as set",
            },
        ],
        parse: |k, v| { k.sndbuf = size_or_auto(v)?; Ok(()) },
        show: |k| k.sndbuf.map(|n| n.to_string()),
        check: |k| check_buffer("sndbuf", k.sndbuf),
        sockopt: Some(SockOpt {
            name: "SO_SNDBUF",
            phases: HANDSHAKE,
            set: |s, _, k| k.sndbuf.map(|v| s.set_send_buffer_size(v as usize)),
            read: |s, _, e| e.sndbuf = s.send_buffer_size().ok().map(|v| v as u64),
            clamp: Some(Clamp {
                send: true,
                requested: |k| k.sndbuf,
            }),
            hint: None,
        }),
        columns: &[
            Column {
                name: "sndbuf_req",
                cell: |e| Cell::size_req(e.sending, |k| k.sndbuf),
            },
            Column {
                name: "sndbuf_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.sndbuf)),
            },
            Column {
                name: "receiver_sndbuf_eff",
                cell: |e| Cell::of(e.receiving.and_then(|k| k.effective.sndbuf)),
            },
        ],
    },
    Knob {
        key: "rcvbuf",
        help: "SO_RCVBUF on the data sockets, or auto for the kernel's autotuning [default: auto]",
        takes: SIZE,
        example: "256K",
        applies: Applies::Every,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt SO_RCVBUF: double the request, capped by net.core.rmem_max",
            },
            OnOs {
                os: Os::Macos,
                read_back: "getsockopt SO_RCVBUF, capped by kern.ipc.maxsockbuf",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "getsockopt SO_RCVBUF, capped by kern.ipc.maxsockbuf",
            },
            OnOs {
                os: Os::Windows,
                read_back: "getsockopt SO_RCVBUF: as set",
            },
        ],
        parse: |k, v| { k.rcvbuf = size_or_auto(v)?; Ok(()) },
        show: |k| k.rcvbuf.map(|n| n.to_string()),
        check: |k| check_buffer("rcvbuf", k.rcvbuf),
        sockopt: Some(SockOpt {
            name: "SO_RCVBUF",
            phases: HANDSHAKE,
            set: |s, _, k| k.rcvbuf.map(|v| s.set_recv_buffer_size(v as usize)),
            read: |s, _, e| e.rcvbuf = s.recv_buffer_size().ok().map(|v| v as u64),
            clamp: Some(Clamp {
                send: false,
                requested: |k| k.rcvbuf,
            }),
            hint: None,
        }),
        columns: &[
            Column {
                name: "rcvbuf_req",
                cell: |e| Cell::size_req(e.receiving, |k| k.rcvbuf),
            },
            Column {
                name: "rcvbuf_eff",
                cell: |e| Cell::of(e.receiving.and_then(|k| k.effective.rcvbuf)),
            },
            Column {
                name: "sender_rcvbuf_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.rcvbuf)),
            },
        ],
    },
    Knob {
        key: "mss",
        help: "TCP_MAXSEG (88..32767), set before connect and listen [default: the kernel's, from the path MTU]",
        takes: Takes::Value {
            name: "BYTES",
            choices: &[],
        },
        example: "1200",
        applies: Applies::TcpLike,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "TCP_INFO snd_mss once connected",
            },
            OnOs {
                os: Os::Macos,
                read_back: "no read-back (TCP_MAXSEG set, no TCP_INFO)",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "no read-back (TCP_MAXSEG set, no TCP_INFO)",
            },
        ],
        parse: |k, v| { k.mss = Some(whole_u32(v)?); Ok(()) },
        show: |k| k.mss.map(|n| n.to_string()),
        check: |k| match k.mss {
            Some(mss) if !(88..=32767).contains(&mss) => Err(ConfigError::Range(format!(
                "--mss {mss} is out of range: Linux accepts TCP_MAXSEG from 88 to 32767"
            ))),
            _ => Ok(()),
        },
        sockopt: Some(SockOpt {
            name: "TCP_MAXSEG",
            phases: HANDSHAKE,
            set: |s, _, k| k.mss.map(|v| opts::set_tcp_mss(s, v)),
            read: |s, _, e| e.maxseg = opts::tcp_mss(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "mss_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.mss)),
            },
            // What the connection uses: TCP_INFO's snd_mss, not the option read back.
            Column {
                name: "mss_eff",
                cell: |e| Cell::of(e.snd_mss),
            },
        ],
    },
    Knob {
        key: "nodelay",
        help: "TCP_NODELAY [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::TcpLike,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt TCP_NODELAY",
            },
            OnOs {
                os: Os::Macos,
                read_back: "getsockopt TCP_NODELAY",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "getsockopt TCP_NODELAY",
            },
            OnOs {
                os: Os::Windows,
                read_back: "getsockopt TCP_NODELAY",
            },
        ],
        parse: |k, v| { k.nodelay = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.nodelay),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_NODELAY",
            phases: SOCKET,
            set: |s, _, k| k.nodelay.then(|| s.set_tcp_nodelay(true)),
            read: |s, _, e| e.nodelay = s.tcp_nodelay().ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "nodelay",
                cell: |e| Cell::of(e.sent(|k| k.effective.nodelay)),
            },
            Column {
                name: "nodelay_req",
                cell: |e| e.tcp_switch(|k| k.nodelay),
            },
        ],
    },
    Knob {
        key: "congestion",
        help: "TCP_CONGESTION: a congestion control this kernel has (net.ipv4.tcp_available_congestion_control) [default: the kernel's, net.ipv4.tcp_congestion_control]",
        takes: Takes::Value {
            name: "NAME",
            choices: CONGESTION_CONTROLS,
        },
        example: "reno",
        applies: Applies::TcpLike,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt TCP_CONGESTION",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "getsockopt TCP_CONGESTION",
            },
        ],
        parse: |k, v| { k.congestion = Some(congestion_name(v.trim())?); Ok(()) },
        show: |k| k.congestion.clone(),
        check: check_congestion,
        sockopt: Some(SockOpt {
            name: "TCP_CONGESTION",
            phases: SOCKET,
            set: |s, _, k| k.congestion.as_ref().map(|cc| opts::set_congestion(s, cc.as_bytes())),
            read: |s, _, e| {
                e.congestion = opts::congestion(s).ok().map(|name| {
                    String::from_utf8_lossy(&name)
                        .trim_end_matches('\0')
                        .to_string()
                })
            },
            clamp: None,
            hint: Some(Hint {
                available: "net.ipv4.tcp_available_congestion_control",
                permitted: Some("net.ipv4.tcp_allowed_congestion_control"),
            }),
        }),
        columns: &[
            Column {
                name: "congestion",
                cell: |e| Cell::of(e.sent(|k| k.effective.congestion.clone())),
            },
            Column {
                name: "congestion_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.congestion.clone())),
            },
        ],
    },
    Knob {
        key: "tos",
        help: "IP_TOS / IPV6_TCLASS byte, e.g. 0x10 [default: not set]",
        takes: Takes::Value {
            name: "TOS",
            choices: &[],
        },
        example: "0x10",
        applies: Applies::Ip,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt IP_TOS / IPV6_TCLASS",
            },
            OnOs {
                os: Os::Macos,
                read_back: "getsockopt IP_TOS / IPV6_TCLASS",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "getsockopt IP_TOS / IPV6_TCLASS",
            },
        ],
        parse: |k, v| { k.tos = Some(parse_tos(v)?); Ok(()) },
        show: |k| k.tos.map(|n| n.to_string()),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "IP_TOS",
            phases: SOCKET,
            set: |s, d, k| {
                k.tos.map(|v| {
                    if d == Domain::IPV6 {
                        opts::set_tclass_v6(s, v.into())
                    } else {
                        opts::set_tos_v4(s, v.into())
                    }
                })
            },
            read: |s, d, e| {
                e.tos = if d == Domain::IPV6 {
                    opts::tclass_v6(s).ok()
                } else {
                    opts::tos_v4(s).ok()
                }
            },
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "tos_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.tos)),
            },
            Column {
                name: "tos_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.tos)),
            },
        ],
    },
    Knob {
        key: "quickack",
        help: "TCP_QUICKACK, re-armed after every read [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::TcpLike,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt TCP_QUICKACK",
            },
        ],
        parse: |k, v| { k.quickack = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.quickack),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_QUICKACK",
            phases: CONNECTED,
            set: |s, _, k| k.quickack.then(|| opts::set_quickack(s, true)),
            read: |s, _, e| e.quickack = opts::quickack(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "quickack_req",
            cell: |e| e.tcp_switch(|k| k.quickack),
        }],
    },
    Knob {
        key: "notsent_lowat",
        help: "TCP_NOTSENT_LOWAT [default: not set]",
        takes: SIZE,
        example: "16K",
        applies: Applies::TcpLike,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt TCP_NOTSENT_LOWAT",
            },
        ],
        parse: |k, v| { k.notsent_lowat = Some(size_u32(v)?); Ok(()) },
        show: |k| k.notsent_lowat.map(|n| n.to_string()),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_NOTSENT_LOWAT",
            phases: SOCKET,
            set: |s, _, k| k.notsent_lowat.map(|v| opts::set_notsent_lowat(s, v)),
            read: |s, _, e| e.notsent_lowat = opts::notsent_lowat(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "notsent_lowat_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.notsent_lowat)),
            },
            Column {
                name: "notsent_lowat_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.notsent_lowat)),
            },
        ],
    },
    Knob {
        key: "cork",
        help: "TCP_CORK [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::TcpLike,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt TCP_CORK",
            },
        ],
        parse: |k, v| { k.cork = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.cork),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "TCP_CORK",
            phases: SOCKET,
            set: |s, _, k| k.cork.then(|| opts::set_cork(s, true)),
            read: |s, _, e| e.cork = opts::cork(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "cork_req",
            cell: |e| e.tcp_switch(|k| k.cork),
        }],
    },
    Knob {
        key: "busy_poll",
        help: "SO_BUSY_POLL, e.g. 50us [default: not set]",
        takes: Takes::Value {
            name: "DURATION",
            choices: &[],
        },
        example: "50us",
        applies: Applies::Ip,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt SO_BUSY_POLL",
            },
        ],
        parse: |k, v| { k.busy_poll_us = Some(parse_busy_poll(v)?); Ok(()) },
        show: |k| {
            k.busy_poll_us
                .map(|us| format_duration(std::time::Duration::from_micros(us.into())))
        },
        check: |k| match k.busy_poll_us {
            Some(us) if us > 1_000_000 => Err(ConfigError::Range(format!(
                "--busy-poll {us} is out of range: 0 to 1000000 microseconds"
            ))),
            _ => Ok(()),
        },
        sockopt: Some(SockOpt {
            name: "SO_BUSY_POLL",
            phases: SOCKET,
            set: |s, _, k| k.busy_poll_us.map(|v| opts::set_busy_poll(s, v)),
            read: |s, _, e| e.busy_poll_us = opts::busy_poll(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[
            Column {
                name: "busy_poll_req_us",
                cell: |e| Cell::of(e.sent(|k| k.requested.busy_poll_us)),
            },
            Column {
                name: "busy_poll_eff_us",
                cell: |e| Cell::of(e.sent(|k| k.effective.busy_poll_us)),
            },
        ],
    },
    Knob {
        key: "linger",
        help: "SO_LINGER seconds: a close waits that long for unsent data; 0 = an abortive close (RST, no TIME_WAIT), as neper's tcp_crr closes; off = not set [default: off, a graceful close]",
        takes: Takes::Value {
            name: "SECONDS",
            choices: &[],
        },
        example: "0",
        applies: Applies::TcpLike,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt SO_LINGER",
            },
            OnOs {
                os: Os::Macos,
                read_back: "getsockopt SO_LINGER",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "getsockopt SO_LINGER",
            },
            OnOs {
                os: Os::Windows,
                read_back: "getsockopt SO_LINGER",
            },
        ],
        // `off`: not set, so that a matrix may sweep the graceful close beside others.
        parse: |k, v| {
            k.linger = match v.trim() {
                o if o.eq_ignore_ascii_case("off") => None,
                n => Some(whole_u32(n)?),
            };
            Ok(())
        },
        show: |k| k.linger.map(|n| n.to_string()),
        // Windows' l_linger is 16 bits: the same range everywhere.
        check: |k| match k.linger {
            Some(s) if s > u32::from(u16::MAX) => Err(ConfigError::Range(format!(
                "--linger {s} is out of range: 0 to 65535 seconds"
            ))),
            _ => Ok(()),
        },
        // Set before connect and listen: an accepted socket inherits it, so that no system
        // call per connection is spent on it.
        sockopt: Some(SockOpt {
            name: "SO_LINGER",
            phases: HANDSHAKE,
            set: |s, _, k| {
                k.linger
                    .map(|v| s.set_linger(Some(std::time::Duration::from_secs(v.into()))))
            },
            read: |s, _, e| {
                e.linger = s
                    .linger()
                    .ok()
                    .flatten()
                    .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            },
            clamp: None,
            hint: None,
        }),
        // The requester's socket: in crr, the end whose close acts on the connection (it
        // closes after the receiver's FIN: a graceful close acknowledges it, an abortive
        // one resets).
        columns: &[
            Column {
                name: "linger_req",
                cell: |e| Cell::of(e.sent(|k| k.requested.linger)),
            },
            Column {
                name: "linger_eff",
                cell: |e| Cell::of(e.sent(|k| k.effective.linger)),
            },
        ],
    },
    Knob {
        key: "gso",
        help: "UDP GSO (UDP_SEGMENT): up to 64 datagrams per send, split by the kernel [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Udp,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt UDP_SEGMENT",
            },
        ],
        // The segment size is the message size, known once the whole test is: until
        // `SpecBuilder::build` fills it, 0 stands for "on".
        parse: |k, v| { k.udp_gso = parse_bool(v)?.then_some(0); Ok(()) },
        show: |k| show_bool(k.udp_gso.is_some()),
        check: |k| match k.udp_gso {
            Some(gso) if gso == 0 || gso > MAX_UDP_PAYLOAD => Err(ConfigError::Range(format!(
                "--gso {gso} is out of range: 1 to {MAX_UDP_PAYLOAD} bytes"
            ))),
            _ => Ok(()),
        },
        sockopt: Some(SockOpt {
            name: "UDP_SEGMENT",
            phases: SOCKET,
            set: |s, _, k| k.udp_gso.map(|seg| opts::set_udp_gso(s, seg)),
            read: |s, _, e| e.udp_gso = opts::udp_gso(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "udp_gso_eff",
            cell: |e| Cell::of(e.sent(|k| k.effective.udp_gso).filter(|s| *s > 0)),
        }],
    },
    Knob {
        key: "gro",
        help: "UDP GRO (UDP_GRO): coalesced datagrams per receive, split again by sockbench [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Udp,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt UDP_GRO",
            },
        ],
        parse: |k, v| { k.udp_gro = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.udp_gro),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "UDP_GRO",
            phases: SOCKET,
            set: |s, _, k| k.udp_gro.then(|| opts::set_udp_gro(s, true)),
            read: |s, _, e| e.udp_gro = opts::udp_gro(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "udp_gro_eff",
            cell: |e| Cell::of(e.receiving.and_then(|k| k.effective.udp_gro)),
        }],
    },
    Knob {
        key: "cpu_affinity",
        help: "Pin both sides' traffic threads to CPUs, e.g. 1 or 0,1 (per side: --set sender.cpu_affinity=0) [default: not pinned]",
        takes: Takes::Value {
            name: "CPUS",
            choices: &[],
        },
        example: "0,1",
        applies: Applies::Every,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "sched_getaffinity: the CPUs the traffic threads could run on",
            },
        ],
        parse: |k, v| { k.cpus = Some(parse_cpus(v)?); Ok(()) },
        show: |k| {
            k.cpus.as_ref().map(|c| {
                c.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            })
        },
        check: check_cpus,
        sockopt: None,
        columns: &[
            Column {
                name: "sender_cpus",
                cell: |e| Cell::Text(e.cpus[0].to_string()),
            },
            Column {
                name: "receiver_cpus",
                cell: |e| Cell::Text(e.cpus[1].to_string()),
            },
        ],
    },
    Knob {
        key: "zerocopy",
        help: "MSG_ZEROCOPY on tcp stream sends, completions counted (and copies reported) [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Tcp,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "getsockopt SO_ZEROCOPY, and completions counted",
            },
        ],
        parse: |k, v| { k.zerocopy = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.zerocopy),
        check: no_check,
        sockopt: Some(SockOpt {
            name: "SO_ZEROCOPY",
            phases: SOCKET,
            set: |s, _, k| k.zerocopy.then(|| opts::set_zerocopy(s, true)),
            read: |s, _, e| e.zerocopy = opts::zerocopy(s).ok(),
            clamp: None,
            hint: None,
        }),
        columns: &[Column {
            name: "zerocopy_eff",
            cell: |e| Cell::of(e.sent(|k| k.effective.zerocopy)),
        }],
    },
    Knob {
        key: "spin",
        help: "User-space busy polling: spin on non-blocking sockets instead of sleeping (both sides; per side: --set sender.spin=true) [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Every,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "no read-back (a user-space loop)",
            },
            OnOs {
                os: Os::Macos,
                read_back: "no read-back (a user-space loop)",
            },
            OnOs {
                os: Os::Freebsd,
                read_back: "no read-back (a user-space loop)",
            },
            OnOs {
                os: Os::Windows,
                read_back: "no read-back (a user-space loop)",
            },
        ],
        parse: |k, v| { k.spin = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.spin),
        check: no_check,
        sockopt: None,
        columns: &[
            Column {
                name: "sender_spin",
                cell: |e| Cell::Bool(e.sender.spin),
            },
            Column {
                name: "receiver_spin",
                cell: |e| Cell::Bool(e.receiver.spin),
            },
        ],
    },
    Knob {
        key: "sendfile",
        help: "Stream sends with sendfile(2) from an in-memory file [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Every,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "no read-back (an I/O path)",
            },
        ],
        parse: |k, v| { k.sendfile = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.sendfile),
        check: no_check,
        sockopt: None,
        columns: &[Column {
            name: "sendfile",
            cell: |e| Cell::Bool(e.sending.is_some_and(|k| k.requested.sendfile)),
        }],
    },
    Knob {
        key: "splice",
        help: "Byte streams through a pipe with splice(2): sends from an in-memory file, receives into /dev/null [default: off]",
        takes: Takes::Switch,
        example: "true",
        applies: Applies::Every,
        on: &[
            OnOs {
                os: Os::Linux,
                read_back: "bytes spliced counted",
            },
        ],
        parse: |k, v| { k.splice = parse_bool(v)?; Ok(()) },
        show: |k| show_bool(k.splice),
        check: no_check,
        sockopt: None,
        columns: &[
            Column {
                name: "spliced_bytes_sent",
                cell: |e| Cell::of(e.spliced[0]),
            },
            Column {
                name: "spliced_bytes_received",
                cell: |e| Cell::of(e.spliced[1]),
            },
        ],
    },
];
