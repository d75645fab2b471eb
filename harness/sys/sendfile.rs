//! sendfile(2): a message sent from an in-memory file instead of a user buffer.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use socket2::Socket;

/// Sends up to `count` bytes of `file` from `*offset` into `sock`; the kernel advances
/// `offset`. Returns the bytes sent (0 is an error: the file ended early).
pub fn sendfile(sock: &Socket, file: &File, offset: &mut i64, count: usize) -> io::Result<usize> {
    let mut off: libc::off_t = *offset as libc::off_t;
    // SAFETY: valid descriptors the caller owns; the kernel advances `off`.
    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    *offset = off as i64;
    match n {
        n if n > 0 => Ok(n as usize),
        0 => Err(io::Error::other("sendfile sent nothing")),
        _ => Err(io::Error::last_os_error()),
    }
}
