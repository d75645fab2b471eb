//! The size header framing every message on a byte stream, and the one parser that takes
//! such a stream apart.

use super::*;

const HDR: usize = FRAME_HEADER as usize;

/// Takes a byte stream of messages apart: fixed-size ones (`max` bytes), or framed ones
/// of the size their length header says ([`FRAME_HEADER`] bytes, big-endian, header
/// included; `least` to `max`), with each one's 8-byte id at `id_off` if asked. Fed at
/// most [`Framer::want`] bytes at a time ([`Framer::take`]), or any amount
/// ([`Framer::feed`]), it says where each message ends.
#[derive(Debug, Clone)]
pub struct Framer {
    framed: bool,
    max: usize,
    least: usize,
    id_off: Option<usize>,
    /// Bytes of the current message so far.
    got: usize,
    /// The current message's size; 0 while a framed header is incomplete.
    size: usize,
    hdr: [u8; HDR],
    id: [u8; 8],
}

impl Framer {
    pub fn new(framed: bool, max: usize, least: usize, id_off: Option<usize>) -> Framer {
        Framer {
            framed,
            max,
            least,
            id_off,
            got: 0,
            size: if framed { 0 } else { max },
            hdr: [0; HDR],
            id: [0; 8],
        }
    }

    /// Framed messages of `FRAME_HEADER` to `max` bytes, no ids.
    pub fn framed(max: u32) -> Framer {
        Framer::new(true, max as usize, HDR, None)
    }

    /// Whether every message is fixed-size and carries no id: only the count matters.
    #[inline]
    pub fn plain(&self) -> bool {
        !self.framed && self.id_off.is_none()
    }

    /// Bytes until the current header, or else the current message, is complete.
    #[inline]
    pub fn want(&self) -> usize {
        if self.framed && self.got < HDR {
            HDR - self.got
        } else {
            self.size - self.got
        }
    }

    /// Bytes until the current message is complete, on a [`Framer::plain`] stream.
    #[inline]
    pub fn rest(&self) -> usize {
        self.size - self.got
    }

    /// Bytes of the current message so far.
    pub fn partial(&self) -> usize {
        self.got
    }

    /// The current message's size as far as it is known (the header's while it is
    /// incomplete).
    pub fn expected(&self) -> usize {
        if self.size == 0 {
            HDR
        } else {
            self.size
        }
    }

    /// Whether the stream stands between two messages.
    pub fn idle(&self) -> bool {
        self.got == 0
    }

    /// The id the last message carried.
    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    /// Takes the stream's next `data` (at most [`Framer::want`] bytes): the size of the
    /// message it completes, if it does. A header outside `least..=max` is an error (the
    /// stream is not what it should be).
    #[inline]
    pub fn take(&mut self, data: &[u8]) -> Result<Option<usize>, FrameError> {
        let (from, to) = (self.got, self.got + data.len());
        let in_hdr = self.framed && from < HDR;
        if in_hdr {
            self.hdr[from..to].copy_from_slice(data);
        }
        if let Some(off) = self.id_off {
            // The part of [off, off + 8) within [from, to).
            let (a, b) = (from.max(off), to.min(off + 8));
            if a < b {
                self.id[a - off..b - off].copy_from_slice(&data[a - from..b - from]);
            }
        }
        self.got = to;
        if in_hdr && to == HDR {
            let size = u32::from_be_bytes(self.hdr) as usize;
            if size < self.least || size > self.max {
                let (least, max) = (self.least as u32, self.max as u32);
                return Err(FrameError {
                    size: size as u32,
                    least,
                    max,
                });
            }
            self.size = size;
        }
        if self.got != self.size {
            return Ok(None);
        }
        self.got = 0;
        let size = std::mem::replace(&mut self.size, if self.framed { 0 } else { self.max });
        Ok(Some(size))
    }

    /// The fast path of a fixed-size stream without ids ([`Framer::plain`]): `n` more
    /// bytes of the current message (at most [`Framer::want`]); its size if they
    /// complete it.
    #[inline]
    pub fn count(&mut self, n: usize) -> Option<usize> {
        self.got += n;
        if self.got < self.size {
            return None;
        }
        self.got = 0;
        Some(self.size)
    }

    /// Takes `data`, calling `done(size, id)` for each message it completes (the id is
    /// 0 without `id_off`).
    #[inline]
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut done: impl FnMut(u64, u64),
    ) -> Result<(), FrameError> {
        while !data.is_empty() {
            let (piece, rest) = data.split_at(self.want().min(data.len()));
            if let Some(size) = self.take(piece)? {
                done(size as u64, u64::from_le_bytes(self.id));
            }
            data = rest;
        }
        Ok(())
    }
}

/// Writes a message's frame header into the first bytes of `buf`.
#[inline]
pub fn put_frame(buf: &mut [u8], size: u32) {
    buf[..4].copy_from_slice(&size.to_be_bytes());
}
