//! Readiness: an epoll instance for the engine's epoll driver, and the descriptor modes
//! (non-blocking, receive/send timeouts) the drivers put a flow's socket in when the flow
//! hands them a new one by its raw descriptor.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Readable.
pub const IN: u32 = libc::EPOLLIN as u32;
/// Writable.
pub const OUT: u32 = libc::EPOLLOUT as u32;

/// One ready descriptor: its events and the token it was registered with.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub events: u32,
    pub token: u64,
}

/// An epoll instance, closed when dropped.
pub struct Epoll {
    fd: RawFd,
    events: Vec<libc::epoll_event>,
    ready: Vec<Ready>,
}

impl Epoll {
    /// A new instance that returns up to `batch` events per wait.
    pub fn new(batch: usize) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no preconditions.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let events = vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)];
        let ready = Vec::with_capacity(events.len());
        Ok(Epoll { fd, events, ready })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: a valid epoll descriptor and an event to copy; a bad `fd` is an error
        // the kernel reports, not undefined behaviour.
        let rc = unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Watches `fd` for `events` (IN, OUT, both, or 0: errors and hang-ups only).
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    /// Stops watching `fd` (an error, e.g. for a descriptor already closed, is ignored:
    /// closing a descriptor removes it from every epoll set).
    pub fn delete(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Waits up to `timeout` (rounded up to whole milliseconds) for ready descriptors.
    /// An interrupted wait returns none.
    pub fn wait(&mut self, timeout: Duration) -> &[Ready] {
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: a valid epoll descriptor and a buffer of `events.len()` events.
        let n = unsafe {
            libc::epoll_wait(
                self.fd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        let n = n.max(0) as usize;
        self.ready.clear();
        self.ready.extend(self.events[..n].iter().map(|e| Ready {
            events: e.events,
            token: e.u64,
        }));
        &self.ready
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this instance owns, once.
        unsafe { libc::close(self.fd) };
    }
}

/// Puts `fd` in non-blocking mode (or back in blocking mode).
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns; a bad one is an error, not UB.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let want = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if want == flags {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, want) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets SO_RCVTIMEO and SO_SNDTIMEO of socket `fd` to `timeout`: a blocking call that
/// waits that long returns EAGAIN.
pub fn set_timeouts(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: a timeval of the size passed; a bad descriptor is an error, not UB.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Waits until `fd` is readable (and, with `write`, writable) or `timeout` passes, with
/// nanosecond resolution (ppoll).
pub fn wait_raw(fd: RawFd, write: bool, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd,
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

/// Asks for timer wake-ups of the calling thread without the default 50 us slack, so that
/// a schedule of short periods is kept.
pub fn fine_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn epoll_reports_a_readable_socket_with_its_token() {
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut ep = Epoll::new(8).unwrap();
        ep.add(b.as_raw_fd(), IN, 7).unwrap();
        assert!(ep.wait(Duration::from_millis(1)).is_empty());
        a.write_all(b"x").unwrap();
        let r = ep.wait(Duration::from_millis(100)).to_vec();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].token, r[0].events & IN), (7, IN));
        ep.modify(b.as_raw_fd(), 0, 7).unwrap();
        assert!(ep.wait(Duration::from_millis(1)).is_empty());
        ep.delete(b.as_raw_fd());
    }
}
