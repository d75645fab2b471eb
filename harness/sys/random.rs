//! The kernel's random source: getrandom(2) on Linux, getentropy(2) on macOS and FreeBSD.
//! Windows' is `windows/random.rs`.

use std::io;

/// Fills `buf` from the kernel's random source (blocking only until it is seeded, at boot).
#[cfg(target_os = "linux")]
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    use rustix::rand::{getrandom, GetRandomFlags};
    let mut filled = 0;
    while filled < buf.len() {
        match getrandom(&mut buf[filled..], GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Fills `buf` from the kernel's random source, 256 bytes (getentropy's most) a call.
#[cfg(not(target_os = "linux"))]
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    for chunk in buf.chunks_mut(256) {
        // SAFETY: a valid, exclusively borrowed buffer of the length passed (<= 256).
        let rc = unsafe { libc::getentropy(chunk.as_mut_ptr().cast(), chunk.len()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        super::fill(&mut a).unwrap();
        super::fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
