//! AF_PACKET sockets bound to one interface: whole Ethernet frames in and out, for the
//! lab's delay element (`sockbench-delay`) and the tests that watch it. Not used by
//! `sockbench` itself.
//!
//! Two traps are handled here: a packet socket sees its own transmissions unless
//! PACKET_IGNORE_OUTGOING is set, and a socket opened for ETH_P_ALL before it is bound
//! captures every interface's frames in the meantime (so it is opened for no protocol
//! and bound with ETH_P_ALL to its interface).

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::sockopt::set_int;

/// PACKET_IGNORE_OUTGOING (linux/if_packet.h, Linux 4.20).
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

/// Whether the socket reads the frames its interface transmits too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// Only frames the interface received (PACKET_IGNORE_OUTGOING): what a forwarder wants.
    Ignore,
    /// Frames transmitted as well, as a capture sees them.
    Capture,
}

/// One frame read from a packet socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The frame was longer than the buffer (its tail was cut).
    pub truncated: bool,
    /// The interface transmitted it (PACKET_OUTGOING) rather than received it.
    pub outgoing: bool,
    /// The kernel's timestamp of the frame (SO_TIMESTAMPNS), when asked for.
    pub stamp: Option<SystemTime>,
}

/// A raw packet socket bound to one interface (all ethertypes), non-blocking.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

/// The index of interface `name` (if_nametoindex).
pub fn interface_index(name: &str) -> io::Result<i32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated string that lives across the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    i32::try_from(index).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

impl PacketSocket {
    /// A packet socket on interface `name`. Needs CAP_NET_RAW.
    pub fn open(name: &str, outgoing: Outgoing) -> io::Result<PacketSocket> {
        let ifindex = interface_index(name)?;
        // SAFETY: plain socket(2); the result is checked before it is owned.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor just returned to us and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = PacketSocket { fd, ifindex };
        if outgoing == Outgoing::Ignore {
            set_int(&sock.fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)?;
        }
        sock.bind()?;
        Ok(sock)
    }

    fn bind(&self) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = self.ifindex;
        // SAFETY: a valid descriptor and a sockaddr_ll of the size given.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The interface's index.
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// SO_RCVBUFFORCE and SO_SNDBUFFORCE (beyond rmem_max/wmem_max; needs CAP_NET_ADMIN).
    pub fn force_buffers(&self, bytes: usize) -> io::Result<()> {
        let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        set_int(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)?;
        set_int(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v)
    }

    /// SO_TIMESTAMPNS: every frame read carries the kernel's time of it.
    pub fn stamp_frames(&self) -> io::Result<()> {
        set_int(&self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
    }

    /// Reads one frame into `buf`; `None` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Frame>> {
        // SAFETY: plain old data; zeroes are valid values.
        let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
        // u64 elements keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: plain old data; zeroes are valid values.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control);
        // SAFETY: every pointer in `msg` points at a live buffer of the length stated,
        // exclusively borrowed for the call. MSG_TRUNC returns the frame's real length.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let real = n as usize;
        Ok(Some(Frame {
            len: real.min(buf.len()),
            truncated: real > buf.len(),
            outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
            stamp: timestamp_of(&msg),
        }))
    }

    /// Transmits one whole frame on the interface (through its qdisc). `Ok(false)`: the
    /// kernel had no room for it now (ENOBUFS or EAGAIN) and did not send it.
    pub fn send(&self, frame: &[u8]) -> io::Result<bool> {
        // SAFETY: a valid descriptor and a buffer of the length given, borrowed for the
        // call. A bound packet socket sends on its interface without an address.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match (e.raw_os_error(), e.kind()) {
            (Some(libc::ENOBUFS), _) | (_, io::ErrorKind::WouldBlock) => Ok(false),
            _ => Err(e),
        }
    }
}

/// The SCM_TIMESTAMPNS control message of a received message, if there is one.
fn timestamp_of(msg: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR and CMSG_NXTHDR walk its
    // control buffer within msg_controllen, and CMSG_DATA of a SCM_TIMESTAMPNS message
    // holds a timespec (read unaligned, as the macro does not promise alignment).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                let nanos = u64::try_from(ts.tv_sec).ok()? * 1_000_000_000
                    + u64::try_from(ts.tv_nsec).ok()?;
                return Some(UNIX_EPOCH + Duration::from_nanos(nanos));
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Waits until one of `socks` has a frame, at most `wait` (nanosecond resolution, unlike
/// poll(2)'s milliseconds). Returns whether one is readable.
pub fn wait_frames(socks: &[&PacketSocket], wait: Duration) -> bool {
    let mut fds: Vec<PollFd<'_>> = socks
        .iter()
        .map(|s| PollFd::new(&s.fd, PollFlags::IN))
        .collect();
    let timeout = Timespec {
        tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    poll(&mut fds, Some(&timeout)).is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_interface_is_an_error_not_a_panic() {
        assert!(interface_index("no-such-if0").is_err());
        assert!(interface_index("a\0b").is_err());
        assert!(PacketSocket::open("no-such-if0", Outgoing::Ignore).is_err());
    }
}
