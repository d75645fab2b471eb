//! Which operating system this build runs on.

use serde::{Deserialize, Serialize};

/// The operating systems sockbench builds for, by the names results use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Freebsd,
    Windows,
}

impl Os {
    pub const ALL: [Os; 4] = [Os::Linux, Os::Macos, Os::Freebsd, Os::Windows];

    /// `linux`, `macos`, `freebsd`, `windows`: the summary.csv value.
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Macos => "macos",
            Os::Freebsd => "freebsd",
            Os::Windows => "windows",
        }
    }

    /// `Linux`, `macOS`, `FreeBSD`, `Windows`: as messages and documents write it.
    pub fn title(self) -> &'static str {
        match self {
            Os::Linux => "Linux",
            Os::Macos => "macOS",
            Os::Freebsd => "FreeBSD",
            Os::Windows => "Windows",
        }
    }

    /// The kernel limit that caps SO_SNDBUF / SO_RCVBUF requests, where the system has
    /// one it reports: Linux's per-direction sysctls, the BSDs' one for both; Windows
    /// has none (it reports back what was set).
    pub fn buffer_limit(self, send: bool) -> Option<&'static str> {
        match (self, send) {
            (Os::Linux, true) => Some("net.core.wmem_max"),
            (Os::Linux, false) => Some("net.core.rmem_max"),
            (Os::Macos | Os::Freebsd, _) => Some("kern.ipc.maxsockbuf"),
            (Os::Windows, _) => None,
        }
    }
}

impl std::fmt::Display for Os {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Os {
    type Err = String;
    fn from_str(s: &str) -> Result<Os, String> {
        Os::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("'{s}' is not linux, macos, freebsd or windows"))
    }
}

/// The system this build runs on.
#[cfg(target_os = "linux")]
pub const HOST: Os = Os::Linux;
#[cfg(target_os = "macos")]
pub const HOST: Os = Os::Macos;
#[cfg(target_os = "freebsd")]
pub const HOST: Os = Os::Freebsd;
#[cfg(windows)]
pub const HOST: Os = Os::Windows;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in Os::ALL {
            assert_eq!(o.name().parse::<Os>().unwrap(), o);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{o}\""));
        }
        assert_eq!(HOST.name(), std::env::consts::OS);
    }
}
