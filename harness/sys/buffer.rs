//! Message buffers aligned to a page.
//!
//! A `Vec<u8>` of 128 KiB comes from glibc's mmap path and starts 16 bytes into a page.
//! The kernel's copy to user space (`rep movsb` in `_copy_to_iter`) is markedly slower
//! into a destination that is not cache-line aligned: with such a receive buffer the
//! receiving side of a loopback TCP stream spent three times as long copying as iperf3's
//! page-aligned buffer did (perf, same goodput). Every buffer a measured loop reads into
//! or writes from is therefore one of these.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The alignment of every message buffer.
pub const ALIGN: usize = 4096;

/// A fixed-size, page-aligned byte buffer, filled with one byte value.
pub struct MsgBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: MsgBuf owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for MsgBuf {}
// SAFETY: shared access is only through &[u8].
unsafe impl Sync for MsgBuf {}

impl MsgBuf {
    /// `len` bytes of `fill`, starting on a page boundary.
    pub fn new(len: usize, fill: u8) -> MsgBuf {
        if len == 0 {
            return MsgBuf {
                ptr: NonNull::dangling(),
                len: 0,
            };
        }
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        let mut b = MsgBuf { ptr, len };
        if fill != 0 {
            b.fill(fill);
        }
        b
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len, ALIGN).expect("a message buffer size fits a Layout")
    }
}

impl Drop for MsgBuf {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: allocated in `new` with this very layout.
            unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.len)) }
        }
    }
}

impl Deref for MsgBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes (zeroed at allocation) owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for MsgBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl std::fmt::Debug for MsgBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MsgBuf({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_filled_and_writable() {
        for len in [1usize, 64, 4095, 4096, 128 * 1024 + 3] {
            let mut b = MsgBuf::new(len, 0x5a);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0, "len {len}");
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&x| x == 0x5a));
            b[len - 1] = 7;
            assert_eq!(b[len - 1], 7);
        }
        let z = MsgBuf::new(0, 1);
        assert!(z.is_empty());
        let zeroed = MsgBuf::new(100, 0);
        assert!(zeroed.iter().all(|&x| x == 0));
    }
}
