//! Waiting for one socket with nanosecond resolution.

use std::time::Duration;

use socket2::Socket;

/// Waits until `sock` is readable (or writable, with `write`) or `timeout` passes, with
/// nanosecond resolution (ppoll).
pub fn wait_fd(sock: &Socket, write: bool, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN | if write { libc::POLLOUT } else { 0 },
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    unsafe {
        libc::ppoll(&mut pfd, 1, &ts, std::ptr::null());
    }
}
