//! Socket calls std and socket2 do not wrap: waiting on many sockets at once,
//! IP_BIND_ADDRESS_NO_PORT, and the uninitialised view of a buffer that socket2's receive
//! calls take.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

/// Views an initialised buffer as the uninitialised one socket2's recv wants.
pub fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8, and recv only writes initialised
    // bytes into the slice, so the buffer stays initialised for its owner.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Waits until one of `fds` is readable (or has an error or a hang-up), at most `wait`
/// (millisecond resolution). Returns how many are ready; an interrupted wait counts none.
pub fn wait_readable<'a>(fds: impl IntoIterator<Item = BorrowedFd<'a>>, wait: Duration) -> usize {
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

/// IP_BIND_ADDRESS_NO_PORT: a bind to port 0 fixes only the source address, and connect
/// picks the port, which connections to different destinations may then share. Without
/// it, each bind takes a port of the range for itself.
pub fn set_bind_address_no_port(sock: &impl AsFd, on: bool) -> io::Result<()> {
    let value = libc::c_int::from(on);
    // SAFETY: the descriptor is borrowed for the call; the option value is a c_int that
    // lives across it, and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
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
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn waits_for_the_one_readable_socket() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        let quiet = Duration::from_millis(20);
        assert_eq!(wait_readable([a.as_fd(), c.as_fd()], quiet), 0);
        b.write_all(b"x").unwrap();
        assert_eq!(wait_readable([a.as_fd(), c.as_fd()], quiet), 1);
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
