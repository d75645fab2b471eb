//! The system's random source on Windows: BCryptGenRandom with the preferred RNG.

use std::io;

use windows_sys::Win32::Security::Cryptography::{
    BCryptGenRandom, BCRYPT_USE_SYSTEM_PREFERRED_RNG,
};

/// Fills `buf` from the system's random source.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    for chunk in buf.chunks_mut(u32::MAX as usize) {
        // SAFETY: no algorithm handle with the system-preferred flag, and a valid,
        // exclusively borrowed buffer of the length passed.
        let status = unsafe {
            BCryptGenRandom(
                std::ptr::null_mut(),
                chunk.as_mut_ptr(),
                chunk.len() as u32,
                BCRYPT_USE_SYSTEM_PREFERRED_RNG,
            )
        };
        if status != 0 {
            return Err(io::Error::other(format!(
                "BCryptGenRandom failed: NTSTATUS {status:#x}"
            )));
        }
    }
    Ok(())
}
