//! Facts about a host that bound or explain a result: kernel, CPU, and the sysctls that
//! cap every knob. Each end gathers its own; the receiver sends its facts to the sender.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sys::rlimit;
use crate::sys::system::Uname;
use crate::sys::{Os, HOST};

/// The sysctls that bound socket knobs or change what a test measures.
pub const SYSCTLS: &[&str] = &[
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.core.rmem_default",
    "net.core.wmem_default",
    "net.core.busy_read",
    "net.core.busy_poll",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.udp_mem",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_available_congestion_control",
    "net.ipv4.tcp_mtu_probing",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_no_metrics_save",
    "net.ipv4.ip_local_port_range",
    "net.mptcp.enabled",
];

/// The sysctls of the BSD kernels (macOS, FreeBSD) that bound socket knobs or say what
/// a test measures; each system reports those it has. Numbers unless marked text.
pub const BSD_SYSCTLS: &[(&str, bool)] = &[
    ("kern.ipc.maxsockbuf", false),
    ("net.inet.tcp.sendspace", false),
    ("net.inet.tcp.recvspace", false),
    ("net.inet.tcp.sendbuf_max", false),
    ("net.inet.tcp.recvbuf_max", false),
    ("net.inet.tcp.autosndbufmax", false),
    ("net.inet.tcp.autorcvbufmax", false),
    ("net.inet.tcp.mssdflt", false),
    ("net.inet.tcp.cc.algorithm", true),
    ("net.inet.tcp.cc.available", true),
];

/// Reads a sysctl of this host (path with slashes, e.g. `net/core/rmem_max`): on Linux
/// from `/proc/sys`, on macOS and FreeBSD with sysctlbyname; Windows has none (and a
/// Windows build under wine must not read the Linux host's `/proc`).
pub fn read_sysctl(path: &str) -> Option<String> {
    match HOST {
        Os::Linux => std::fs::read_to_string(format!("/proc/sys/{path}"))
            .ok()
            .map(|s| s.trim().replace('\t', " ")),
        Os::Macos | Os::Freebsd => {
            let name = path.replace('/', ".");
            let text = BSD_SYSCTLS.iter().any(|(n, text)| *n == name && *text);
            if text {
                crate::sys::system::sysctl_text(&name)
            } else {
                crate::sys::system::sysctl_int(&name).map(|n| n.to_string())
            }
        }
        Os::Windows => None,
    }
}

/// Raises this process's open-file limit (RLIMIT_NOFILE) to its hard limit — and, where
/// the process may (root), the hard limit to the kernel's `fs.nr_open` up to 2^20: many
/// flows need many descriptors. Returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let lim = rlimit::open_files();
    let nr_open: u64 = read_sysctl("fs/nr_open")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let ceiling = nr_open.min(1 << 20);
    if ceiling > lim.hard {
        let raised = rlimit::Limit {
            soft: ceiling,
            hard: ceiling,
        };
        if rlimit::set_open_files(raised).is_ok() {
            return ceiling;
        }
    }
    if lim.soft < lim.hard {
        let raised = rlimit::Limit {
            soft: lim.hard,
            hard: lim.hard,
        };
        if rlimit::set_open_files(raised).is_ok() {
            return raised.soft;
        }
    }
    lim.soft
}

/// This process's open-file limit in force (RLIMIT_NOFILE, soft).
pub fn nofile_limit() -> u64 {
    rlimit::open_files().soft
}

/// The memory a daemon lets its running tests need by default: a quarter of the host's
/// RAM, and at most half of this process's address-space limit (RLIMIT_AS) when one is
/// set, so that a test is refused before an allocation could fail.
pub fn default_max_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut max = total_kib * 1024 / 4;
    if let Some(limit) = rlimit::address_space() {
        max = max.min(limit / 2);
    }
    Some(max)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    pub kernel: String,
    pub os: String,
    pub arch: String,
    pub cpu_model: String,
    pub cores: usize,
    pub sysctls: BTreeMap<String, String>,
    /// RLIMIT_NOFILE of the sockbench process (raised to its hard limit at start).
    #[serde(default)]
    pub open_files_limit: u64,
    /// The system sockbench was built for and runs on (`linux`, `macos`, `freebsd`,
    /// `windows`); empty from a sockbench that did not say.
    #[serde(default)]
    pub system: Option<Os>,
    /// The socket buffer sizes a fresh TCP socket starts with (SO_SNDBUF, SO_RCVBUF as
    /// read back): where Windows, which has no limit to report, says what it gives.
    #[serde(default)]
    pub default_sndbuf: Option<u64>,
    #[serde(default)]
    pub default_rcvbuf: Option<u64>,
}

impl HostFacts {
    pub fn gather() -> HostFacts {
        let Uname {
            hostname,
            os,
            kernel,
            arch,
        } = crate::sys::system::uname();
        let names: Vec<&str> = match HOST {
            Os::Linux => SYSCTLS.to_vec(),
            Os::Macos | Os::Freebsd => BSD_SYSCTLS.iter().map(|(n, _)| *n).collect(),
            Os::Windows => Vec::new(),
        };
        let sysctls = names
            .iter()
            .filter_map(|name| read_sysctl(&name.replace('.', "/")).map(|v| (name.to_string(), v)))
            .collect();
        let fresh = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok();
        let default_sndbuf = fresh.as_ref().and_then(|s| s.send_buffer_size().ok());
        let default_rcvbuf = fresh.as_ref().and_then(|s| s.recv_buffer_size().ok());
        HostFacts {
            hostname,
            kernel,
            os,
            arch,
            cpu_model: cpu_model(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            sysctls,
            open_files_limit: raise_nofile_limit(),
            system: Some(HOST),
            default_sndbuf: default_sndbuf.map(|n| n as u64),
            default_rcvbuf: default_rcvbuf.map(|n| n as u64),
        }
    }
}

/// The CPU's model as this system names it: /proc/cpuinfo on Linux,
/// `machdep.cpu.brand_string` on macOS, `hw.model` on FreeBSD, and Windows'
/// PROCESSOR_IDENTIFIER.
fn cpu_model() -> String {
    match HOST {
        Os::Linux => std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default(),
        Os::Macos => {
            crate::sys::system::sysctl_text("machdep.cpu.brand_string").unwrap_or_default()
        }
        Os::Freebsd => crate::sys::system::sysctl_text("hw.model").unwrap_or_default(),
        Os::Windows => std::env::var("PROCESSOR_IDENTIFIER").unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_include_the_buffer_limits() {
        let f = HostFacts::gather();
        assert!(!f.kernel.is_empty());
        assert!(f.cores >= 1);
        let rmem: u64 = f.sysctls["net.core.rmem_max"].parse().unwrap();
        assert!(rmem > 0);
        assert!(f.sysctls["net.ipv4.tcp_rmem"].split(' ').count() == 3);
    }
}
