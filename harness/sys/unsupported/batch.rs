//! Batched datagram I/O off Linux: not available (`--batch` and `--gro` are Linux only).
//! The types exist so that the engine compiles; every call is an `Unsupported` error.

use std::io;

use socket2::Socket;

pub struct DgramBatch {
    size: usize,
    bufs: Vec<u8>,
}

impl DgramBatch {
    pub fn new(n: usize, size: usize, fill: u8) -> DgramBatch {
        DgramBatch {
            size,
            bufs: vec![fill; n.max(1) * size],
        }
    }

    pub fn len(&self) -> usize {
        self.bufs.len() / self.size.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    pub fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.bufs[i * self.size..(i + 1) * self.size]
    }

    pub fn received(&self, _i: usize) -> &[u8] {
        &[]
    }

    pub fn send(&mut self, _sock: &Socket, _count: usize) -> io::Result<usize> {
        Err(super::unsupported("sendmmsg"))
    }

    pub fn recv(&mut self, _sock: &Socket) -> io::Result<usize> {
        Err(super::unsupported("recvmmsg"))
    }
}

#[derive(Default)]
pub struct GroBuf;

impl GroBuf {
    pub fn recv(&mut self, _sock: &Socket) -> io::Result<usize> {
        Err(super::unsupported("UDP_GRO"))
    }

    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::empty()
    }
}
