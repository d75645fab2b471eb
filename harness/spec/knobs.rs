//! The socket knobs as the kernel took them: what was asked for and what was read back.

use serde::{Deserialize, Serialize};

use super::config::SocketKnobs;

/// What the kernel reports for each option once the socket is configured. `None` where
/// the option does not apply to the protocol or the kernel would not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveKnobs {
    pub sndbuf: Option<u64>,
    pub rcvbuf: Option<u64>,
    /// TCP_MAXSEG as read back (on a connected socket: the current MSS).
    pub maxseg: Option<u32>,
    pub nodelay: Option<bool>,
    pub congestion: Option<String>,
    pub tos: Option<u32>,
    pub quickack: Option<bool>,
    pub notsent_lowat: Option<u32>,
    pub cork: Option<bool>,
    pub busy_poll_us: Option<u32>,
    pub udp_gso: Option<u32>,
    pub udp_gro: Option<bool>,
    pub zerocopy: Option<bool>,
}

/// Requested and effective values of one data socket, and any warning about clamping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedKnobs {
    pub requested: SocketKnobs,
    pub effective: EffectiveKnobs,
    pub warnings: Vec<String>,
}
