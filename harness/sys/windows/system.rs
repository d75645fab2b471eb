//! What Windows says it is: the version from RtlGetVersion (which, unlike GetVersionEx,
//! does not depend on the program's manifest), the computer name, the architecture.

use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::System::SystemInformation::OSVERSIONINFOW;

/// The fields of uname(2) a result records, as Windows gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uname {
    pub hostname: String,
    /// `Windows`.
    pub os: String,
    /// The version and build, e.g. `10.0.19045`.
    pub kernel: String,
    /// The machine, e.g. `x86_64`.
    pub arch: String,
}

pub fn uname() -> Uname {
    // SAFETY: OSVERSIONINFOW is plain old data; all-zero is valid before the size is set.
    let mut v: OSVERSIONINFOW = unsafe { std::mem::zeroed() };
    v.dwOSVersionInfoSize = std::mem::size_of::<OSVERSIONINFOW>() as u32;
    // SAFETY: a valid OSVERSIONINFOW with its size set, written by the call.
    let status = unsafe { RtlGetVersion(&mut v) };
    let kernel = if status == 0 {
        format!(
            "{}.{}.{}",
            v.dwMajorVersion, v.dwMinorVersion, v.dwBuildNumber
        )
    } else {
        String::new()
    };
    Uname {
        hostname: std::env::var("COMPUTERNAME").unwrap_or_default(),
        os: "Windows".into(),
        kernel,
        arch: std::env::consts::ARCH.into(),
    }
}

/// Windows has no sysctls.
pub fn sysctl_int(_name: &str) -> Option<u64> {
    None
}

pub fn sysctl_text(_name: &str) -> Option<String> {
    None
}
