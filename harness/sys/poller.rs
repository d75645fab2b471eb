//! Readiness off Linux, behind the interface of Linux's `epoll.rs`: the `polling` crate
//! (kqueue on macOS and FreeBSD, IOCP through AFD on Windows) in level-triggered mode,
//! and the socket modes the drivers set, through socket2.

use std::io;
use std::num::NonZeroUsize;
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};
use socket2::SockRef;

use super::RawFd;

/// Readable.
pub const IN: u32 = 1;
/// Writable.
pub const OUT: u32 = 4;

/// One ready socket: its events and the token it was registered with.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub events: u32,
    pub token: u64,
}

/// A poller, released when dropped.
pub struct Epoll {
    poller: Poller,
    events: Events,
    ready: Vec<Ready>,
}

#[cfg(unix)]
type Borrowed<'a> = std::os::fd::BorrowedFd<'a>;
#[cfg(windows)]
type Borrowed<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// Borrows a raw handle the caller keeps open for the borrow's life.
fn borrow<'a>(fd: RawFd) -> Borrowed<'a> {
    // SAFETY: every handle passed here belongs to a socket a flow owns and keeps open
    // while the driver uses it (a flow's `fd` is its live socket), and the borrow does
    // not outlive the call that made it.
    #[cfg(unix)]
    unsafe {
        std::os::fd::BorrowedFd::borrow_raw(fd)
    }
    #[cfg(windows)]
    unsafe {
        std::os::windows::io::BorrowedSocket::borrow_raw(fd)
    }
}

fn interest(events: u32, token: u64) -> Event {
    let key = token as usize;
    match (events & IN != 0, events & OUT != 0) {
        (true, true) => Event::all(key),
        (true, false) => Event::readable(key),
        (false, true) => Event::writable(key),
        (false, false) => Event::none(key),
    }
}

impl Epoll {
    /// A new poller that returns up to `batch` events per wait.
    pub fn new(batch: usize) -> io::Result<Epoll> {
        let cap = NonZeroUsize::new(batch.max(1)).unwrap_or(NonZeroUsize::MIN);
        Ok(Epoll {
            poller: Poller::new()?,
            events: Events::with_capacity(cap),
            ready: Vec::with_capacity(batch),
        })
    }

    /// Watches `fd` for `events` (IN, OUT, both, or 0).
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        // SAFETY: the socket stays open until `delete` (the drivers delete a flow's
        // handle before the flow, and its socket, is dropped).
        unsafe {
            self.poller
                .add_with_mode(fd, interest(events, token), PollMode::Level)
        }
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.poller
            .modify_with_mode(borrow(fd), interest(events, token), PollMode::Level)
    }

    /// Stops watching `fd` (an error is ignored, as on Linux).
    pub fn delete(&self, fd: RawFd) {
        let _ = self.poller.delete(borrow(fd));
    }

    /// Waits up to `timeout` for ready sockets. An interrupted wait returns none.
    pub fn wait(&mut self, timeout: Duration) -> &[Ready] {
        self.events.clear();
        self.ready.clear();
        if self.poller.wait(&mut self.events, Some(timeout)).is_ok() {
            self.ready.extend(self.events.iter().map(|e| Ready {
                events: if e.readable { IN } else { 0 } | if e.writable { OUT } else { 0 },
                token: e.key as u64,
            }));
        }
        &self.ready
    }
}

/// Puts socket `fd` in non-blocking mode (or back in blocking mode).
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    let b = borrow(fd);
    SockRef::from(&b).set_nonblocking(on)
}

/// Sets the receive and send timeouts of socket `fd` to `timeout`: a blocking call that
/// waits that long returns `WouldBlock` (or `TimedOut` on Windows).
pub fn set_timeouts(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let b = borrow(fd);
    let s = SockRef::from(&b);
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))
}

/// Waits until `fd` is readable (and, with `write`, writable) or `timeout` passes.
pub fn wait_raw(fd: RawFd, write: bool, timeout: Duration) {
    let b = borrow(fd);
    super::poll::wait_fd(&SockRef::from(&b), write, timeout);
}

/// Timer slack is Linux's (PR_SET_TIMERSLACK); nothing to ask for here.
pub fn fine_timer_slack() {}
