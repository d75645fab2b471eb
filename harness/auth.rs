//! Pre-shared-key authentication of the control channel: a mutual challenge–response with
//! HMAC-SHA256 over nonces from both ends. The key never crosses the wire; each end proves
//! it holds it, and a recorded exchange cannot be replayed because the other end's nonce
//! is fresh each time.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::ConfigError;

type HmacSha256 = Hmac<Sha256>;

/// What the sender's proof covers, and what the receiver's covers: distinct labels so that
/// one end's answer can never be reflected back as the other's.
pub const SENDER_LABEL: &[u8] = b"sockbench-v2 sender proof";
pub const RECEIVER_LABEL: &[u8] = b"sockbench-v2 receiver proof";
/// Bytes of randomness in each nonce.
pub const NONCE_LEN: usize = 32;
/// A key shorter than this is refused: it could be guessed.
pub const MIN_KEY_LEN: usize = 16;

#[derive(Clone)]
pub struct Psk(Vec<u8>);

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Psk(..)")
    }
}

impl Psk {
    /// Reads a key file: its bytes, less surrounding white space (so `openssl rand -hex 32
    /// > key` works as is).
    pub fn from_file(path: &Path) -> Result<Psk, ConfigError> {
        let bytes = std::fs::read(path)
            .map_err(|e| ConfigError(format!("--psk-file {}: {e}", path.display())))?;
        let key = bytes.trim_ascii().to_vec();
        if key.len() < MIN_KEY_LEN {
            return Err(ConfigError(format!(
                "--psk-file {}: the key has {} bytes; use at least {MIN_KEY_LEN} (e.g. openssl rand -hex 32)",
                path.display(),
                key.len()
            )));
        }
        Ok(Psk(key))
    }

    pub fn from_bytes(key: &[u8]) -> Psk {
        Psk(key.to_vec())
    }

    fn mac(&self, label: &[u8], first: &[u8], second: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(label);
        mac.update(first);
        mac.update(second);
        mac
    }

    /// The proof for `label` over the two nonces, hex-encoded.
    pub fn prove(&self, label: &[u8], first: &[u8], second: &[u8]) -> String {
        hex(&self.mac(label, first, second).finalize().into_bytes())
    }

    /// Checks a hex proof in constant time.
    pub fn verify(&self, label: &[u8], first: &[u8], second: &[u8], proof_hex: &str) -> bool {
        match unhex(proof_hex) {
            Some(proof) => self.mac(label, first, second).verify_slice(&proof).is_ok(),
            None => false,
        }
    }
}

/// A fresh random nonce from the kernel.
pub fn nonce() -> [u8; NONCE_LEN] {
    let mut buf = [0u8; NONCE_LEN];
    let mut filled = 0;
    while filled < NONCE_LEN {
        // SAFETY: getrandom writes at most the given number of bytes into the buffer.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), NONCE_LEN - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            panic!(
                "the kernel's random source failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    buf
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 1024 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_only_with_the_same_key_nonces_and_label() {
        let k = Psk::from_bytes(b"0123456789abcdef0123");
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        let p = k.prove(SENDER_LABEL, &a, &b);
        assert!(k.verify(SENDER_LABEL, &a, &b, &p));
        assert!(
            !k.verify(RECEIVER_LABEL, &a, &b, &p),
            "a proof cannot be reflected"
        );
        assert!(!k.verify(SENDER_LABEL, &b, &a, &p));
        assert!(!Psk::from_bytes(b"another key, as long").verify(SENDER_LABEL, &a, &b, &p));
        assert!(!k.verify(SENDER_LABEL, &a, &b, "zz"));
        assert!(!k.verify(SENDER_LABEL, &a, &b, ""));
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let k = Psk::from_bytes(b"Jefe");
        let proof = k.prove(b"what do ya want ", b"for nothing?", b"");
        assert_eq!(
            proof,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn key_files_are_trimmed_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        std::fs::write(&p, "short\n").unwrap();
        assert!(Psk::from_file(&p).unwrap_err().0.contains("at least 16"));
        std::fs::write(&p, "  0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(
            Psk::from_file(&p).unwrap().0,
            b"0123456789abcdef0123456789abcdef"
        );
        assert!(Psk::from_file(&dir.path().join("missing")).is_err());
    }
}
