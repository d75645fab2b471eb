//! The system boundary: every `unsafe` block and raw `libc` or Windows call of sockbench
//! lives under this module, behind safe functions, one file per concern. Where `rustix`
//! has the call, it is used, so that no unsafe code of ours remains for it.
//!
//! One API, an implementation per operating system, as socket2 keeps its own:
//! - the files of this directory are Linux's, and the Unix family's where a call is the
//!   same on macOS and FreeBSD (clock, poll, rlimit, uname, the integer options);
//! - `poller.rs` is readiness off Linux (the `polling` crate: kqueue on macOS and FreeBSD,
//!   IOCP on Windows) behind the interface of Linux's `epoll.rs`;
//! - `windows/` is Windows' (Winsock, the thread and system calls);
//! - `unsupported/` holds the Linux-only facilities (sendmmsg batches, UDP GRO, splice,
//!   sendfile, MSG_ZEROCOPY, CPU affinity, the parent-death signal, Linux's TCP_INFO)
//!   for the other systems: the same types, every call an `Unsupported` error. The knob
//!   table refuses those knobs there before any traffic (`spec::knobs`, `Os`), so the
//!   errors are a second line only.
//!
//! Nothing above this module names an OS-specific type or constant: a socket's raw handle
//! is [`RawFd`] (a descriptor on Unix, a SOCKET on Windows), the error numbers are in
//! [`errno`], the options in [`opts`].

pub mod buffer;
pub mod errno;
pub mod opts;
mod os;

pub use os::{Os, HOST};

#[cfg(target_os = "linux")]
pub mod affinity;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported/affinity.rs"]
pub mod affinity;

#[cfg(target_os = "linux")]
pub mod batch;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported/batch.rs"]
pub mod batch;

#[cfg(unix)]
pub mod clock;
#[cfg(windows)]
#[path = "windows/clock.rs"]
pub mod clock;

#[cfg(target_os = "linux")]
pub mod epoll;
#[cfg(not(target_os = "linux"))]
#[path = "poller.rs"]
pub mod epoll;

#[cfg(unix)]
pub mod fs;
#[cfg(windows)]
#[path = "windows/fs.rs"]
pub mod fs;

/// Raw frames on an interface (AF_PACKET), for the lab's delay element: Linux only.
#[cfg(target_os = "linux")]
pub mod packet;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported/packet.rs"]
pub mod packet;

#[cfg(unix)]
pub mod poll;
#[cfg(windows)]
#[path = "windows/poll.rs"]
pub mod poll;

#[cfg(target_os = "linux")]
pub mod process;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported/process.rs"]
pub mod process;

#[cfg(unix)]
pub mod random;
#[cfg(windows)]
#[path = "windows/random.rs"]
pub mod random;

#[cfg(unix)]
pub mod rlimit;
#[cfg(windows)]
#[path = "windows/rlimit.rs"]
pub mod rlimit;

#[cfg(target_os = "linux")]
pub mod sendfile;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported/sendfile.rs"]
pub mod sendfile;

/// The stop flag of the lab's delay element (SIGTERM, SIGINT).
#[cfg(unix)]
pub mod signal;
#[cfg(windows)]
#[path = "unsupported/signal.rs"]
pub mod signal;

#[cfg(unix)]
pub mod socket;
#[cfg(windows)]
#[path = "windows/socket.rs"]
pub mod socket;

#[cfg(unix)]
pub mod sockopt;

#[cfg(target_os = "linux")]
pub mod splice;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported/splice.rs"]
pub mod splice;

#[cfg(unix)]
pub mod system;
#[cfg(windows)]
#[path = "windows/system.rs"]
pub mod system;

pub mod tcp_info;

#[cfg(target_os = "linux")]
pub mod zerocopy;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported/zerocopy.rs"]
pub mod zerocopy;

/// A socket's raw handle, as the drivers register it: a descriptor on Unix.
#[cfg(unix)]
pub use std::os::fd::{AsRawFd, RawFd};

/// A socket's raw handle, as the drivers register it: a SOCKET on Windows.
#[cfg(windows)]
pub type RawFd = std::os::windows::io::RawSocket;

/// The raw handle of a socket (`as_raw_fd` on Unix, `as_raw_socket` on Windows).
#[cfg(windows)]
pub trait AsRawFd {
    fn as_raw_fd(&self) -> RawFd;
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsRawSocket> AsRawFd for T {
    fn as_raw_fd(&self) -> RawFd {
        self.as_raw_socket()
    }
}

/// An error of kind `Unsupported` naming what this operating system lacks.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn unsupported(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("{what}: not available on {}", HOST),
    )
}
