//! Raw frames off Linux: not available (AF_PACKET is Linux's; the lab's delay element,
//! `sockbench-delay`, runs on Linux only). Every call is an `Unsupported` error.

use std::io;
use std::time::{Duration, SystemTime};

/// Whether the socket reads the frames its interface transmits too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// Only frames the interface received.
    Ignore,
    /// Frames transmitted as well.
    Capture,
}

/// One frame read from a packet socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The frame was longer than the buffer.
    pub truncated: bool,
    /// The interface transmitted it.
    pub outgoing: bool,
    /// The kernel's timestamp of the frame.
    pub stamp: Option<SystemTime>,
}

/// A raw packet socket: never opened here.
#[derive(Debug)]
pub struct PacketSocket {
    _never: (),
}

fn unsupported() -> io::Error {
    super::unsupported("raw packet sockets (AF_PACKET)")
}

pub fn interface_index(_name: &str) -> io::Result<i32> {
    Err(unsupported())
}

impl PacketSocket {
    pub fn open(_name: &str, _outgoing: Outgoing) -> io::Result<PacketSocket> {
        Err(unsupported())
    }

    pub fn ifindex(&self) -> i32 {
        0
    }

    pub fn force_buffers(&self, _bytes: usize) -> io::Result<()> {
        Err(unsupported())
    }

    pub fn stamp_frames(&self) -> io::Result<()> {
        Err(unsupported())
    }

    pub fn recv(&self, _buf: &mut [u8]) -> io::Result<Option<Frame>> {
        Err(unsupported())
    }

    pub fn send(&self, _frame: &[u8]) -> io::Result<bool> {
        Err(unsupported())
    }
}

pub fn wait_frames(_socks: &[&PacketSocket], _wait: Duration) -> bool {
    false
}
