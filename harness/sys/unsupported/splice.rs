//! splice off Linux: not available (`--splice` is Linux only). The types exist so that the
//! engine compiles; constructing one is an `Unsupported` error.

use std::fs::File;
use std::io;

use socket2::Socket;

/// The in-memory message file sendfile and splice send from.
pub fn message_file(_msg: &[u8]) -> io::Result<File> {
    Err(super::unsupported("memfd"))
}

pub struct SpliceSender(());

impl SpliceSender {
    pub fn new(_msg: &[u8]) -> io::Result<SpliceSender> {
        Err(super::unsupported("splice"))
    }

    pub fn step(&mut self, _sock: &Socket) -> io::Result<usize> {
        Err(super::unsupported("splice"))
    }

    pub fn message_done(&mut self) -> bool {
        true
    }
}

pub struct SpliceReceiver(());

impl SpliceReceiver {
    pub fn new(_chunk: usize) -> io::Result<SpliceReceiver> {
        Err(super::unsupported("splice"))
    }

    pub fn recv(&mut self, _sock: &Socket) -> io::Result<usize> {
        Err(super::unsupported("splice"))
    }
}
