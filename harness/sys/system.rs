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
