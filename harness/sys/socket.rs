//! Socket calls std and socket2 do not wrap (Unix): waiting on many sockets at once,
//! IP_BIND_ADDRESS_NO_PORT, calls that never wait (MSG_DONTWAIT), the protocols only
//! some systems have, and the uninitialised view of a buffer that socket2's receive
//! calls take. Windows' counterpart is `windows/socket.rs`.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Socket};

/// Views an initialised buffer as the uninitialised one socket2's recv wants.
pub fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8, and recv only writes initialised
    // bytes into the slice, so the buffer stays initialised for its owner.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Waits until one of `fds` is readable (or has an error or a hang-up), at most `wait`
/// (millisecond resolution). Returns how many are ready; an interrupted wait counts none.
pub fn wait_readable<'a>(fds: impl IntoIterator<Item = &'a Socket>, wait: Duration) -> usize {
    let mut pollfds: Vec<libc::pollfd> = fds
        .into_iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = wait.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `pollfds` is a valid, exclusively borrowed array of pollfd of the length
    // given, and every descriptor in it is borrowed for the call.
    let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, ms) };
    usize::try_from(n).unwrap_or(0)
}

/// Whether the socket is in non-blocking mode (O_NONBLOCK).
pub fn is_nonblocking(sock: &Socket) -> io::Result<bool> {
    sock.nonblocking()
}

/// Sends without waiting (MSG_DONTWAIT), whatever the socket's mode: `WouldBlock` when
/// the socket has no room now.
pub fn send_nowait(sock: &Socket, buf: &[u8]) -> io::Result<usize> {
    sock.send_with_flags(buf, libc::MSG_DONTWAIT)
}

/// Receives without waiting (MSG_DONTWAIT), whatever the socket's mode: `WouldBlock`
/// when nothing is queued.
pub fn recv_nowait(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    sock.recv_with_flags(as_uninit(buf), libc::MSG_DONTWAIT)
}

/// Looks at what is queued without taking it or waiting (MSG_PEEK | MSG_DONTWAIT).
pub fn peek_nowait(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    sock.recv_with_flags(as_uninit(buf), libc::MSG_PEEK | libc::MSG_DONTWAIT)
}

/// An MPTCP socket (Linux).
pub fn mptcp(domain: Domain) -> io::Result<Socket> {
    #[cfg(target_os = "linux")]
    return Socket::new(
        domain,
        socket2::Type::STREAM,
        Some(socket2::Protocol::MPTCP),
    );
    #[cfg(not(target_os = "linux"))]
    return Err(no_protocol(domain));
}

/// An SCTP socket (one-to-one style).
pub fn sctp(domain: Domain) -> io::Result<Socket> {
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    return Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::SCTP));
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    return Err(no_protocol(domain));
}

/// A DCCP socket (Linux).
pub fn dccp(domain: Domain) -> io::Result<Socket> {
    #[cfg(target_os = "linux")]
    return Socket::new(domain, socket2::Type::DCCP, Some(socket2::Protocol::DCCP));
    #[cfg(not(target_os = "linux"))]
    return Err(no_protocol(domain));
}

/// What socket(2) says of a protocol this system lacks.
#[cfg(not(target_os = "linux"))]
fn no_protocol(_: Domain) -> io::Error {
    io::Error::from_raw_os_error(libc::EPROTONOSUPPORT)
}

/// IP_BIND_ADDRESS_NO_PORT (Linux): a bind to port 0 fixes only the source address, and
/// connect picks the port, which connections to different destinations may then share.
/// Without it, each bind takes a port of the range for itself, as on the other systems,
/// where this does nothing.
#[cfg(not(target_os = "linux"))]
pub fn set_bind_address_no_port(_sock: &Socket, _on: bool) -> io::Result<()> {
    Ok(())
}

/// IP_BIND_ADDRESS_NO_PORT: a bind to port 0 fixes only the source address, and connect
/// picks the port, which connections to different destinations may then share. Without
/// it, each bind takes a port of the range for itself.
#[cfg(target_os = "linux")]
pub fn set_bind_address_no_port(sock: &Socket, on: bool) -> io::Result<()> {
    let value = libc::c_int::from(on);
    // SAFETY: the descriptor is borrowed for the call; the option value is a c_int that
    // lives across it, and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn waits_for_the_one_readable_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        let (a, mut b, c) = (Socket::from(a), Socket::from(b), Socket::from(c));
        let quiet = Duration::from_millis(20);
        assert_eq!(wait_readable([&a, &c], quiet), 0);
        b.write_all(b"x").unwrap();
        assert_eq!(wait_readable([&a, &c], quiet), 1);
        let mut buf = [7u8; 4];
        assert_eq!(as_uninit(&mut buf).len(), 4);
    }

    #[test]
    fn bind_address_no_port_leaves_the_port_to_connect() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        set_bind_address_no_port(&sock, true).unwrap();
        let source: std::net::SocketAddr = "127.1.0.9:0".parse().unwrap();
        sock.bind(&source.into()).unwrap();
        let bound = sock.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(bound.port(), 0, "no port until connect");
        sock.connect(&listener.local_addr().unwrap().into())
            .unwrap();
        let bound = sock.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(bound.ip(), source.ip());
        assert_ne!(bound.port(), 0);
    }
}
