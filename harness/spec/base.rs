//! What the test description and the knob table share, below both: the error of a bad
//! description, the transports, and the limits of what a socket carries.

use thiserror::Error;

/// A user mistake in a test description, by what went wrong. Reported as one line (the
/// message), exit code 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A value that does not parse, or a key or a name that is not known.
    #[error("{0}")]
    Value(String),
    /// A value outside the range its key takes.
    #[error("{0}")]
    Range(String),
    /// A setting that does not apply to the test's pattern, protocol or system.
    #[error("{0}")]
    NotApplicable(String),
    /// Settings that exclude each other.
    #[error("{0}")]
    Conflict(String),
    /// What this host's kernel lacks: a protocol it cannot open.
    #[error("{0}")]
    Unsupported(String),
    /// A file a setting names that cannot be read or does not hold what it should.
    #[error("{0}")]
    File(String),
}

impl ConfigError {
    pub fn value(msg: impl Into<String>) -> Self {
        ConfigError::Value(msg.into())
    }
    pub fn range(msg: impl Into<String>) -> Self {
        ConfigError::Range(msg.into())
    }
    pub fn not_applicable(msg: impl Into<String>) -> Self {
        ConfigError::NotApplicable(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        ConfigError::Conflict(msg.into())
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        match self {
            ConfigError::Value(m)
            | ConfigError::Range(m)
            | ConfigError::NotApplicable(m)
            | ConfigError::Conflict(m)
            | ConfigError::Unsupported(m)
            | ConfigError::File(m) => m,
        }
    }
}

/// A closed set of names: the enum, its text form both ways (`as_str`, `Display`,
/// `FromStr` with a one-line error listing the choices), serde under the same names, and
/// `Default` = the first variant (the spec's default; also what a results row read back
/// without the column takes).
macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident {
        $first:ident => $ftext:literal $(, $variant:ident => $text:literal)* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            #[default]
            $first,
            $($variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$name::$first, $($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $name::$first => $ftext, $($name::$variant => $text),* }
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
                    $ftext => Ok($name::$first),
                    $($text => Ok($name::$variant),)*
                    other => Err($crate::spec::base::ConfigError::Value(format!(
                        "unknown {} '{}' (expected one of: {})",
                        stringify!($name).to_ascii_lowercase(),
                        other,
                        [$ftext, $($text),*].join(", ")
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
