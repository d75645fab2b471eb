//! What the test description and the knob table share, below both: the error of a bad
//! description, the transports, and the limits of what a socket carries.

use thiserror::Error;

/// A user mistake in a test description. Reported as one line, exit code 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    pub fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::spec::base::ConfigError;
            fn from_str(s: &str) -> Result<Self, $crate::spec::base::ConfigError> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::spec::base::ConfigError(format!(
                        "unknown {} '{}' (expected one of: {})",
                        stringify!($name).to_ascii_lowercase(),
                        other,
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

pub(crate) use named_enum;

named_enum!(
    /// The transport. `sctp` and `dccp` are recognised so that asking for them gives a
    /// precise answer about this kernel rather than "unknown protocol".
    Protocol {
        Tcp => "tcp",
        Udp => "udp",
        Mptcp => "mptcp",
        UnixStream => "unix-stream",
        UnixDgram => "unix-dgram",
        Sctp => "sctp",
        Dccp => "dccp",
    }
);

impl Protocol {
    /// Datagram protocols carry a sequence number in every message and count loss
    /// ([`Protocol::delivery`]).
    pub fn is_datagram(self) -> bool {
        match self.delivery() {
            Delivery::Datagram => true,
            Delivery::ByteStream => false,
        }
    }
    pub fn is_unix(self) -> bool {
        matches!(self, Protocol::UnixStream | Protocol::UnixDgram)
    }
    /// TCP-level socket options (TCP_MAXSEG, TCP_NODELAY, ...) apply.
    pub fn is_tcp_like(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Mptcp)
    }
    pub fn is_ip(self) -> bool {
        !self.is_unix()
    }
}

/// How a protocol delivers what is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Messages with boundaries, which may be lost, reordered or duplicated: each carries
    /// a sequence header.
    Datagram,
    /// An ordered, reliable byte stream without boundaries.
    ByteStream,
}

impl Protocol {
    pub fn delivery(self) -> Delivery {
        match self {
            Protocol::Udp | Protocol::UnixDgram => Delivery::Datagram,
            Protocol::Tcp
            | Protocol::Mptcp
            | Protocol::UnixStream
            | Protocol::Sctp
            | Protocol::Dccp => Delivery::ByteStream,
        }
    }
}

/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: u32 = 65507;

/// CPUs a cpu_set_t can name (CPU_SETSIZE).
pub const MAX_CPUS: u32 = 1024;
