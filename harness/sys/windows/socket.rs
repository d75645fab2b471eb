//! Socket calls std and socket2 do not wrap, on Windows: waiting on many sockets at once,
//! calls that never wait (Winsock has no MSG_DONTWAIT: a zero-timeout WSAPoll first,
//! then the call, which then finds data or room), the protocols Windows lacks, and the
//! uninitialised view of a buffer that socket2's receive calls take.

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use socket2::{Domain, Socket};

/// Views an initialised buffer as the uninitialised one socket2's recv wants.
pub fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8, and recv only writes initialised
    // bytes into the slice, so the buffer stays initialised for its owner.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Waits until one of `socks` is readable, at most `wait`. Returns how many are ready.
pub fn wait_readable<'a>(socks: impl IntoIterator<Item = &'a Socket>, wait: Duration) -> usize {
    super::poll::poll_many(socks, super::poll::READ, wait)
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn ready(sock: &Socket, write: bool) -> bool {
    let events = if write {
        super::poll::WRITE
    } else {
        super::poll::READ
    };
    super::poll::poll_many([sock], events, Duration::ZERO) > 0
}

/// Whether the socket is in non-blocking mode: Winsock cannot say (FIONBIO only sets
/// it), so a socket counts as blocking; the callers then use timeouts, which a
/// non-blocking socket ignores.
pub fn is_nonblocking(_sock: &Socket) -> io::Result<bool> {
    Ok(false)
}

/// Sends without waiting: `WouldBlock` when the socket has no room now.
pub fn send_nowait(sock: &Socket, buf: &[u8]) -> io::Result<usize> {
    if !ready(sock, true) {
        return Err(would_block());
    }
    sock.send(buf)
}

/// Receives without waiting: `WouldBlock` when nothing is queued.
pub fn recv_nowait(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    if !ready(sock, false) {
        return Err(would_block());
    }
    sock.recv(as_uninit(buf))
}

/// Looks at what is queued without taking it or waiting.
pub fn peek_nowait(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    if !ready(sock, false) {
        return Err(would_block());
    }
    sock.peek(as_uninit(buf))
}

fn no_protocol() -> io::Error {
    io::Error::from_raw_os_error(super::errno::EPROTONOSUPPORT)
}

/// MPTCP: not on Windows.
pub fn mptcp(_domain: Domain, _nonblocking: bool) -> io::Result<Socket> {
    Err(no_protocol())
}

/// SCTP: not on Windows.
pub fn sctp(_domain: Domain, _nonblocking: bool) -> io::Result<Socket> {
    Err(no_protocol())
}

/// DCCP: not on Windows.
pub fn dccp(_domain: Domain, _nonblocking: bool) -> io::Result<Socket> {
    Err(no_protocol())
}

/// A new socket, non-blocking from the start when asked (Winsock has no flag at
/// creation: FIONBIO right after).
pub fn open(
    domain: Domain,
    ty: socket2::Type,
    proto: Option<socket2::Protocol>,
    nonblocking: bool,
) -> io::Result<Socket> {
    let sock = Socket::new(domain, ty, proto)?;
    if nonblocking {
        sock.set_nonblocking(true)?;
    }
    Ok(sock)
}

/// Accepts a connection as a non-blocking socket (FIONBIO after accept).
pub fn accept_nonblocking(listener: &Socket) -> io::Result<Socket> {
    let (s, _) = listener.accept()?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// IP_BIND_ADDRESS_NO_PORT is Linux's: each bind takes a port, as here.
pub fn set_bind_address_no_port(_sock: &Socket, _on: bool) -> io::Result<()> {
    Ok(())
}
