//! The socket options of the knob table that socket2 does not offer on every system (or
//! at all), one setter and one getter each, with the same signature everywhere. Where
//! the system lacks the option the call is an `Unsupported` error; the knob table says
//! on which systems each knob can be set (`spec::knobs`), so those are refused before
//! any traffic and these errors are a second line only.

use std::io;

use socket2::Socket;

/// Declares an option's setter and getter: the bodies on the systems listed, an
/// `Unsupported` error elsewhere.
macro_rules! option {
    ($(#[$doc:meta])* $name:literal, [$($os:meta),+],
     fn $set:ident($s:ident, $v:ident: $t:ty) $set_body:block
     fn $get:ident($g:ident) -> $r:ty $get_body:block) => {
        $(#[$doc])*
        #[cfg(any($($os),+))]
        pub fn $set($s: &Socket, $v: $t) -> io::Result<()> $set_body
        $(#[$doc])*
        #[cfg(not(any($($os),+)))]
        pub fn $set(_: &Socket, _: $t) -> io::Result<()> {
            Err(super::unsupported($name))
        }
        #[cfg(any($($os),+))]
        pub fn $get($g: &Socket) -> io::Result<$r> $get_body
        #[cfg(not(any($($os),+)))]
        pub fn $get(_: &Socket) -> io::Result<$r> {
            Err(super::unsupported($name))
        }
    };
}

option! {
    /// TCP_MAXSEG (Unix; Windows has no settable MSS).
    "TCP_MAXSEG", [unix],
    fn set_tcp_mss(s, v: u32) { s.set_tcp_mss(v) }
    fn tcp_mss(s) -> u32 { s.tcp_mss() }
}

option! {
    /// TCP_CONGESTION (Linux and FreeBSD).
    "TCP_CONGESTION", [target_os = "linux", target_os = "freebsd"],
    fn set_congestion(s, name: &[u8]) { s.set_tcp_congestion(name) }
    fn congestion(s) -> Vec<u8> { s.tcp_congestion() }
}

option! {
    /// IPV6_TCLASS (Unix).
    "IPV6_TCLASS", [unix],
    fn set_tclass_v6(s, v: u32) { s.set_tclass_v6(v) }
    fn tclass_v6(s) -> u32 { s.tclass_v6() }
}

option! {
    /// IP_TOS (Unix; Windows takes the option and ignores it, so it is not offered there).
    "IP_TOS", [unix],
    fn set_tos_v4(s, v: u32) { s.set_tos_v4(v) }
    fn tos_v4(s) -> u32 { s.tos_v4() }
}

option! {
    /// TCP_QUICKACK (Linux).
    "TCP_QUICKACK", [target_os = "linux"],
    fn set_quickack(s, on: bool) { s.set_tcp_quickack(on) }
    fn quickack(s) -> bool { s.tcp_quickack() }
}

option! {
    /// TCP_NOTSENT_LOWAT (Linux).
    "TCP_NOTSENT_LOWAT", [target_os = "linux"],
    fn set_notsent_lowat(s, v: u32) { s.set_tcp_notsent_lowat(v) }
    fn notsent_lowat(s) -> u32 { s.tcp_notsent_lowat() }
}

option! {
    /// TCP_CORK (Linux).
    "TCP_CORK", [target_os = "linux"],
    fn set_cork(s, on: bool) { s.set_tcp_cork(on) }
    fn cork(s) -> bool { s.tcp_cork() }
}

option! {
    /// SO_BUSY_POLL, microseconds (Linux).
    "SO_BUSY_POLL", [target_os = "linux"],
    fn set_busy_poll(s, us: u32) { s.set_busy_poll(us) }
    fn busy_poll(s) -> u32 { s.busy_poll() }
}

option! {
    /// UDP_SEGMENT: the GSO segment size (Linux).
    "UDP_SEGMENT", [target_os = "linux"],
    fn set_udp_gso(s, segment: u32) {
        super::sockopt::set_int(s, libc::SOL_UDP, libc::UDP_SEGMENT, segment as libc::c_int)
    }
    fn udp_gso(s) -> u32 {
        super::sockopt::get_int(s, libc::SOL_UDP, libc::UDP_SEGMENT).map(|v| v as u32)
    }
}

option! {
    /// UDP_GRO (Linux).
    "UDP_GRO", [target_os = "linux"],
    fn set_udp_gro(s, on: bool) {
        super::sockopt::set_int(s, libc::SOL_UDP, libc::UDP_GRO, on.into())
    }
    fn udp_gro(s) -> bool {
        super::sockopt::get_int(s, libc::SOL_UDP, libc::UDP_GRO).map(|v| v != 0)
    }
}

option! {
    /// SO_ZEROCOPY (Linux).
    "SO_ZEROCOPY", [target_os = "linux"],
    fn set_zerocopy(s, on: bool) {
        super::sockopt::set_int(s, libc::SOL_SOCKET, super::zerocopy::SO_ZEROCOPY, on.into())
    }
    fn zerocopy(s) -> bool {
        super::sockopt::get_int(s, libc::SOL_SOCKET, super::zerocopy::SO_ZEROCOPY).map(|v| v != 0)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_linux_options_are_set_and_read_back() {
        let udp = Socket::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        set_udp_gso(&udp, 1200).unwrap();
        assert_eq!(udp_gso(&udp).unwrap(), 1200);
        set_udp_gro(&udp, true).unwrap();
        assert!(udp_gro(&udp).unwrap());
        let tcp = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        set_cork(&tcp, true).unwrap();
        assert!(cork(&tcp).unwrap());
        set_notsent_lowat(&tcp, 16384).unwrap();
        assert_eq!(notsent_lowat(&tcp).unwrap(), 16384);
    }
}
