//! MSG_ZEROCOPY completions. A zero-copy send pins the buffer's pages; the kernel reports
//! on the socket's error queue when it is done with each range of sends, and whether it
//! had to copy after all (it always does on loopback, and when the device cannot gather).
//! Counting both makes "zero-copy" a measured fact rather than a flag.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::Socket;

pub const SO_ZEROCOPY: libc::c_int = libc::SO_ZEROCOPY;
/// From the kernel's uapi headers (linux/errqueue.h; not in the libc crate).
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// A send with MSG_ZEROCOPY: the kernel pins the pages of `buf` and reports on the
/// error queue when it is done with them.
pub fn send(sock: &Socket, buf: &[u8]) -> io::Result<usize> {
    sock.send_with_flags(buf, libc::MSG_ZEROCOPY)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ZeroCopyCount {
    /// send() calls made with MSG_ZEROCOPY.
    pub sends: u64,
    /// Of those, how many the kernel has reported done.
    pub completed: u64,
    /// Of the completed, how many it had to copy anyway.
    pub copied: u64,
}

impl ZeroCopyCount {
    /// Reads every completion waiting on the error queue, without blocking.
    pub fn reap(&mut self, sock: &Socket) -> io::Result<()> {
        let mut control = [0u8; 256];
        loop {
            // SAFETY: msghdr is plain old data; it points at `control`, which outlives the call.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control.len() as _;
            // SAFETY: a valid fd and msghdr; MSG_ERRQUEUE reads only control data here.
            let n = unsafe {
                libc::recvmsg(
                    sock.as_raw_fd(),
                    &mut msg,
                    libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return if e.kind() == io::ErrorKind::WouldBlock {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            // SAFETY: walking the control messages the kernel wrote within msg_controllen.
            unsafe {
                let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
                while !cmsg.is_null() {
                    let c = &*cmsg;
                    let is_err = (c.cmsg_level == libc::SOL_IP && c.cmsg_type == libc::IP_RECVERR)
                        || (c.cmsg_level == libc::SOL_IPV6 && c.cmsg_type == libc::IPV6_RECVERR);
                    if is_err {
                        let ee: libc::sock_extended_err =
                            std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                        if ee.ee_origin == SO_EE_ORIGIN_ZEROCOPY {
                            // [ee_info, ee_data]: the range of send calls now complete.
                            let n = u64::from(ee.ee_data.wrapping_sub(ee.ee_info)) + 1;
                            self.completed += n;
                            if ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0 {
                                self.copied += n;
                            }
                        }
                    }
                    cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
                }
            }
        }
    }

    /// Waits (up to `limit`) until every send is reported complete.
    pub fn drain(&mut self, sock: &Socket, limit: Duration) -> io::Result<()> {
        let until = Instant::now() + limit;
        while self.completed < self.sends && Instant::now() < until {
            self.reap(sock)?;
            if self.completed < self.sends {
                crate::sys::poll::wait_fd(sock, false, Duration::from_millis(5));
            }
        }
        Ok(())
    }
}
