//! What the kernel says it is (uname).

/// The fields of uname(2) a result records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uname {
    pub hostname: String,
    /// `Linux`.
    pub os: String,
    /// The kernel release, e.g. `6.8.0-45-generic`.
    pub kernel: String,
    /// The machine, e.g. `x86_64`.
    pub arch: String,
}

pub fn uname() -> Uname {
    let u = rustix::system::uname();
    let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    Uname {
        hostname: s(u.nodename()),
        os: s(u.sysname()),
        kernel: s(u.release()),
        arch: s(u.machine()),
    }
}

/// A numeric sysctl by name (sysctlbyname): `kern.ipc.maxsockbuf`. None where the system
/// has no such sysctl, or no sysctlbyname (Linux reads /proc/sys instead).
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
pub fn sysctl_int(name: &str) -> Option<u64> {
    let raw = sysctl_raw(name)?;
    match raw.len() {
        4 => Some(u64::from(u32::from_ne_bytes(raw.try_into().ok()?))),
        8 => Some(u64::from_ne_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

/// A text sysctl by name: `net.inet.tcp.cc.algorithm`.
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
pub fn sysctl_text(name: &str) -> Option<String> {
    let raw = sysctl_raw(name)?;
    let text = String::from_utf8_lossy(&raw);
    Some(text.trim_end_matches('\0').trim().to_string())
}

#[cfg(any(target_os = "macos", target_os = "freebsd"))]
fn sysctl_raw(name: &str) -> Option<Vec<u8>> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut len: libc::size_t = 0;
    // SAFETY: a null old-value pointer asks only for the size, written to `len`.
    let rc = unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            std::ptr::null_mut(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 || len == 0 || len > 1 << 16 {
        return None;
    }
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` holds `len` writable bytes; the kernel writes at most `len` and
    // updates it to what it wrote.
    let rc = unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    buf.truncate(len);
    Some(buf)
}

/// Linux has no sysctlbyname: its sysctls are read from /proc/sys.
#[cfg(not(any(target_os = "macos", target_os = "freebsd")))]
pub fn sysctl_int(_name: &str) -> Option<u64> {
    None
}

#[cfg(not(any(target_os = "macos", target_os = "freebsd")))]
pub fn sysctl_text(_name: &str) -> Option<String> {
    None
}
