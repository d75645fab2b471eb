//! Resource limits on Windows: there is no descriptor limit to read or raise (a process
//! may hold as many sockets as memory allows), nor an address-space limit.

use std::io;

/// A resource limit: the soft limit in force and the hard limit it may be raised to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

pub const UNLIMITED: u64 = u64::MAX;

/// No limit.
pub fn open_files() -> Limit {
    Limit {
        soft: UNLIMITED,
        hard: UNLIMITED,
    }
}

/// Nothing to set.
pub fn set_open_files(_limit: Limit) -> io::Result<()> {
    Ok(())
}

/// None.
pub fn address_space() -> Option<u64> {
    None
}
