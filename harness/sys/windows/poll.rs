//! Waiting for one socket (Windows: WSAPoll, millisecond resolution).

use std::os::windows::io::AsRawSocket;
use std::time::Duration;

use socket2::Socket;
use windows_sys::Win32::Networking::WinSock::{WSAPoll, POLLRDNORM, POLLWRNORM, WSAPOLLFD};

/// Readable.
pub(crate) const READ: i16 = POLLRDNORM;
/// Writable.
pub(crate) const WRITE: i16 = POLLWRNORM;

/// Polls `socks` for `events` (READ, WRITE or both) up to `timeout` (rounded up to a
/// millisecond); how many are ready. A failed poll counts none.
pub(crate) fn poll_many<'a>(
    socks: impl IntoIterator<Item = &'a Socket>,
    events: i16,
    timeout: Duration,
) -> usize {
    let mut fds: Vec<WSAPOLLFD> = socks
        .into_iter()
        .map(|s| WSAPOLLFD {
            fd: s.as_raw_socket() as usize,
            events,
            revents: 0,
        })
        .collect();
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return 0;
    }
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: a valid, exclusively borrowed array of WSAPOLLFD of the length given; every
    // socket in it is borrowed for the call.
    let n = unsafe { WSAPoll(fds.as_mut_ptr(), fds.len() as u32, ms) };
    usize::try_from(n).unwrap_or(0)
}

/// Waits until `sock` is readable (or writable, with `write`) or `timeout` passes.
pub fn wait_fd(sock: &Socket, write: bool, timeout: Duration) {
    poll_many([sock], READ | if write { WRITE } else { 0 }, timeout);
}
