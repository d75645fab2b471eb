//! Waiting for one socket with nanosecond resolution.

use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use socket2::Socket;

/// Waits until `sock` is readable (or writable, with `write`) or `timeout` passes, with
/// nanosecond resolution (ppoll). An interrupted wait returns early, as a spurious
/// wake-up: callers look at the socket and the clock again.
pub fn wait_fd(sock: &Socket, write: bool, timeout: Duration) {
    let events = if write {
        PollFlags::IN | PollFlags::OUT
    } else {
        PollFlags::IN
    };
    let mut fds = [PollFd::new(sock, events)];
    let ts = Timespec {
        tv_sec: timeout.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: timeout.subsec_nanos().into(),
    };
    let _ = poll(&mut fds, Some(&ts));
}
