//! MSG_ZEROCOPY off Linux: not available (`--zerocopy` is Linux only).

use std::io;
use std::time::Duration;

use socket2::Socket;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ZeroCopyCount {
    pub sends: u64,
    pub completed: u64,
    pub copied: u64,
}

impl ZeroCopyCount {
    pub fn reap(&mut self, _sock: &Socket) -> io::Result<()> {
        Err(super::unsupported("MSG_ZEROCOPY"))
    }

    pub fn drain(&mut self, _sock: &Socket, _limit: Duration) -> io::Result<()> {
        Err(super::unsupported("MSG_ZEROCOPY"))
    }
}

/// A send with MSG_ZEROCOPY.
pub fn send(_sock: &Socket, _buf: &[u8]) -> io::Result<usize> {
    Err(super::unsupported("MSG_ZEROCOPY"))
}
