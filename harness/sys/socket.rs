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
pub fn mptcp(domain: Domain, nonblocking: bool) -> io::Result<Socket> {
    #[cfg(target_os = "linux")]
    return open(
        domain,
        socket2::Type::STREAM,
        Some(socket2::Protocol::MPTCP),
        nonblocking,
    );
    #[cfg(not(target_os = "linux"))]
    return Err(no_protocol(domain, nonblocking));
}

/// An SCTP socket (one-to-one style).
pub fn sctp(domain: Domain, nonblocking: bool) -> io::Result<Socket> {
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    return open(
        domain,
        socket2::Type::STREAM,
        Some(socket2::Protocol::SCTP),
        nonblocking,
    );
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    return Err(no_protocol(domain, nonblocking));
}

/// A DCCP socket (Linux).
pub fn dccp(domain: Domain, nonblocking: bool) -> io::Result<Socket> {
    #[cfg(target_os = "linux")]
    return open(
        domain,
        socket2::Type::DCCP,
        Some(socket2::Protocol::DCCP),
        nonblocking,
    );
    #[cfg(not(target_os = "linux"))]
    return Err(no_protocol(domain, nonblocking));
}

/// A new socket, non-blocking from its birth when asked.
pub fn open(
    domain: Domain,
    ty: socket2::Type,
    proto: Option<socket2::Protocol>,
    nonblocking: bool,
) -> io::Result<Socket> {
    if nonblocking {
        new_nonblocking(domain, ty, proto)
    } else {
        Socket::new(domain, ty, proto)
    }
}

/// What socket(2) says of a protocol this system lacks.
#[cfg(not(target_os = "linux"))]
fn no_protocol(_: Domain, _: bool) -> io::Error {
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

/// A new socket in non-blocking mode from its birth (SOCK_NONBLOCK where the OS has it:
/// no fcntl per socket).
pub fn new_nonblocking(
    domain: socket2::Domain,
    ty: socket2::Type,
    proto: Option<socket2::Protocol>,
) -> io::Result<socket2::Socket> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        socket2::Socket::new(domain, ty.nonblocking(), proto)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let s = socket2::Socket::new(domain, ty, proto)?;
        s.set_nonblocking(true)?;
        Ok(s)
    }
}

/// Accepts a connection as a non-blocking socket (accept4 with SOCK_NONBLOCK where the OS
/// has it: no fcntl per connection).
pub fn accept_nonblocking(listener: &socket2::Socket) -> io::Result<socket2::Socket> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        listener
            .accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .map(|(s, _)| s)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let (s, _) = listener.accept()?;
        s.set_nonblocking(true)?;
        Ok(s)
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
    fn sockets_made_and_accepted_non_blocking_are_so() {
        use socket2::{Domain, Type};
        let listener = new_nonblocking(Domain::IPV4, Type::STREAM, None).unwrap();
        assert!(listener.nonblocking().unwrap());
        listener
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        listener.listen(4).unwrap();
        let e = accept_nonblocking(&listener).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let c = std::net::TcpStream::connect(listener.local_addr().unwrap().as_socket().unwrap())
            .unwrap();
        let mut got = None;
        for _ in 0..100 {
            match accept_nonblocking(&listener) {
                Ok(s) => {
                    got = Some(s);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        assert!(got.expect("accepted").nonblocking().unwrap());
        drop(c);
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
