//! The error numbers the engine and the transport tell apart, as `io::Error::raw_os_error`
//! reports them on this system: errno values on Unix, Winsock's WSAE* codes on Windows
//! (a non-blocking connect under way is WSAEWOULDBLOCK there, which is [`EAGAIN`]). A
//! number Windows has no counterpart for is one no call returns.

#[cfg(unix)]
pub use libc::{
    EADDRNOTAVAIL, EAFNOSUPPORT, EAGAIN, EALREADY, ECONNABORTED, ECONNREFUSED, EINPROGRESS,
    EISCONN, EMFILE, ENFILE, ENOBUFS, ENOPROTOOPT, ENOTCONN, EPROTONOSUPPORT, ESOCKTNOSUPPORT,
};

#[cfg(windows)]
mod wsa {
    use windows_sys::Win32::Networking::WinSock as ws;
    pub const EADDRNOTAVAIL: i32 = ws::WSAEADDRNOTAVAIL;
    pub const EAFNOSUPPORT: i32 = ws::WSAEAFNOSUPPORT;
    pub const EAGAIN: i32 = ws::WSAEWOULDBLOCK;
    pub const EALREADY: i32 = ws::WSAEALREADY;
    pub const ECONNABORTED: i32 = ws::WSAECONNABORTED;
    pub const ECONNREFUSED: i32 = ws::WSAECONNREFUSED;
    pub const EINPROGRESS: i32 = ws::WSAEINPROGRESS;
    pub const EISCONN: i32 = ws::WSAEISCONN;
    pub const EMFILE: i32 = ws::WSAEMFILE;
    /// No system-wide descriptor table on Windows.
    pub const ENFILE: i32 = i32::MIN;
    pub const ENOBUFS: i32 = ws::WSAENOBUFS;
    pub const ENOTCONN: i32 = ws::WSAENOTCONN;
    pub const ENOPROTOOPT: i32 = ws::WSAENOPROTOOPT;
    pub const EPROTONOSUPPORT: i32 = ws::WSAEPROTONOSUPPORT;
    pub const ESOCKTNOSUPPORT: i32 = ws::WSAESOCKTNOSUPPORT;
}

#[cfg(windows)]
pub use wsa::*;
