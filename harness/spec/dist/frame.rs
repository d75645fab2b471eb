//! The size header framing every message on a byte stream.

use super::*;

/// Reassembles framed messages from a byte stream: every message starts with its size
/// ([`FRAME_HEADER`] bytes, big-endian, header included).
#[derive(Debug, Default, Clone, Copy)]
pub struct Deframer {
    /// Bytes of the current message still to come; 0 between messages.
    left: u64,
    /// Header bytes gathered so far, and how many.
    hdr: [u8; 4],
    hdr_len: u8,
}

impl Deframer {
    /// Takes `data`, calling `done(size)` for each message it completes. A size below the
    /// header's or above `max` is an error (the stream is not what it should be).
    #[inline]
    pub fn feed(
        &mut self,
        mut data: &[u8],
        max: u32,
        mut done: impl FnMut(u64),
    ) -> Result<(), FrameError> {
        while !data.is_empty() {
            if self.left == 0 {
                let take = (4 - self.hdr_len as usize).min(data.len());
                self.hdr[self.hdr_len as usize..self.hdr_len as usize + take]
                    .copy_from_slice(&data[..take]);
                self.hdr_len += take as u8;
                data = &data[take..];
                if self.hdr_len < 4 {
                    return Ok(());
                }
                self.hdr_len = 0;
                let size = u32::from_be_bytes(self.hdr);
                if size < FRAME_HEADER || size > max {
                    return Err(FrameError { size, max });
                }
                self.left = (size - FRAME_HEADER) as u64;
                if self.left == 0 {
                    done(size as u64);
                    continue;
                }
                // Remember the size for when the body completes.
                self.hdr = size.to_be_bytes();
            }
            let take = (self.left as usize).min(data.len());
            self.left -= take as u64;
            data = &data[take..];
            if self.left == 0 {
                done(u32::from_be_bytes(self.hdr) as u64);
            }
        }
        Ok(())
    }

    /// Whether the stream stands between two messages.
    pub fn idle(&self) -> bool {
        self.left == 0 && self.hdr_len == 0
    }
}

/// Writes a message's frame header into the first bytes of `buf`.
#[inline]
pub fn put_frame(buf: &mut [u8], size: u32) {
    buf[..4].copy_from_slice(&size.to_be_bytes());
}
