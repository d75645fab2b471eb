//! Pre-shared-key authentication of the control channel: a mutual challenge–response with
//! HMAC-SHA256 over nonces from both ends. The key never crosses the wire; each end proves
//! it holds it, and a recorded exchange cannot be replayed because the other end's nonce
//! is fresh each time.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::spec::config::ConfigError;

type HmacSha256 = Hmac<Sha256>;

/// What the sender's proof covers, and what the receiver's covers: distinct labels so that
/// one end's answer can never be reflected back as the other's.
pub const SENDER_LABEL: &[u8] = b"sockbench-v2 sender proof";
pub const RECEIVER_LABEL: &[u8] = b"sockbench-v2 receiver proof";
/// Bytes of randomness in each nonce.
pub const NONCE_LEN: usize = 32;
/// A key shorter than this is refused: it could be guessed.
pub const MIN_KEY_LEN: usize = 16;
/// The most a key file may hold: a key is a line of text, not a stream.
pub const MAX_KEY_FILE: u64 = 4096;
/// A key whose [`estimated_bits`] are fewer than this is refused.
pub const MIN_KEY_BITS: f64 = 64.0;

/// An upper bound on how many bits of a key an attacker would have to guess: the length
/// of its shortest repeating unit × the Shannon entropy of that unit's byte frequencies.
/// `0000000000000000` has none, `abababababababab` two, 32 random hex digits about 120.
/// It cannot tell a random key from a well-known one (`0123456789abcdef...` passes); it
/// catches keys that are plainly not random.
pub fn estimated_bits(key: &[u8]) -> f64 {
    let period = (1..key.len())
        .find(|&p| key[p..].iter().zip(key).all(|(a, b)| a == b))
        .unwrap_or(key.len());
    let unit = &key[..period];
    let mut counts = [0u32; 256];
    for &b in unit {
        counts[usize::from(b)] += 1;
    }
    let n = unit.len() as f64;
    let per_byte: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    per_byte * n
}

#[derive(Clone)]
pub struct Psk(Vec<u8>);

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Psk(..)")
    }
}

impl Psk {
    /// Reads a key file: its bytes, less surrounding white space (so `openssl rand -hex 32
    /// > key` works as is). Only a regular file of at most [`MAX_KEY_FILE`] bytes is read
    /// (`/dev/zero` or a FIFO would never end), and a key that could be guessed — shorter
    /// than [`MIN_KEY_LEN`] or under [`MIN_KEY_BITS`] by [`estimated_bits`] — is refused.
    pub fn from_file(path: &Path) -> Result<Psk, ConfigError> {
        use std::io::Read;

        let refuse =
            |msg: String| ConfigError::File(format!("--psk-file {}: {msg}", path.display()));
        // Non-blocking, so that opening a FIFO does not wait for a writer; it is refused
        // below like every other file that is not a regular one.
        let file = crate::sys::fs::open_nonblocking(path).map_err(|e| refuse(e.to_string()))?;
        let meta = file.metadata().map_err(|e| refuse(e.to_string()))?;
        if !meta.file_type().is_file() {
            let what = crate::sys::fs::kind(&meta);
            return Err(refuse(format!(
                "{what}; the key must be in a regular file (e.g. openssl rand -hex 32 > key)"
            )));
        }
        let too_big = || {
            refuse(format!(
                "more than {MAX_KEY_FILE} bytes: not a key file (e.g. openssl rand -hex 32 > key)"
            ))
        };
        if meta.len() > MAX_KEY_FILE {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| refuse(e.to_string()))?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(too_big());
        }
        let key = bytes.trim_ascii().to_vec();
        if key.len() < MIN_KEY_LEN {
            return Err(refuse(format!(
                "the key has {} bytes; use at least {MIN_KEY_LEN} (e.g. openssl rand -hex 32)",
                key.len()
            )));
        }
        // Never "-0 bits" for a key of one repeated byte.
        let bits = estimated_bits(&key).max(0.0).abs();
        if bits < MIN_KEY_BITS {
            return Err(refuse(format!(
                "the key is too easy to guess: about {bits:.0} bits by the variety of its bytes, \
                 at least {MIN_KEY_BITS:.0} needed (one character repeated, or a short pattern); \
                 make a random one, e.g. openssl rand -hex 32 > key"
            )));
        }
        Ok(Psk(key))
    }

    /// A warning for a key file that others than its owner may read (OpenSSH refuses
    /// such a key); None when only the owner can.
    pub fn permission_warning(path: &Path) -> Option<String> {
        let mode = crate::sys::fs::mode(&std::fs::metadata(path).ok()?)?;
        (mode & 0o077 != 0).then(|| {
            format!(
                "warning: --psk-file {}: the key is readable by group or others (mode {:03o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )
        })
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
    if let Err(e) = crate::sys::random::fill(&mut buf) {
        panic!("the kernel's random source failed: {e}");
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
        assert!(Psk::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("at least 16"));
        std::fs::write(&p, "  0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(
            Psk::from_file(&p).unwrap().0,
            b"0123456789abcdef0123456789abcdef"
        );
        assert!(Psk::from_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |p: &Path, says: &str| {
            let e = Psk::from_file(p).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
            assert!(
                e.starts_with(&format!("--psk-file {}: ", p.display())),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        };
        refused(Path::new("/dev/zero"), "a device");
        refused(dir.path(), "a directory");
        let big = dir.path().join("big");
        std::fs::write(&big, "3f6c0a5e9b1d4e27".repeat(300)).unwrap();
        refused(&big, "more than 4096 bytes");
        // The largest file read: 4096 bytes of varied hex.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let text: String = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b"0123456789abcdef"[(state % 16) as usize])
            })
            .collect();
        std::fs::write(&big, &text).unwrap();
        assert_eq!(Psk::from_file(&big).unwrap().0, text.as_bytes());

        // A FIFO with no writer: refused at once rather than waited on.
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let (tx, rx) = std::sync::mpsc::channel();
        let f = fifo.clone();
        std::thread::spawn(move || tx.send(Psk::from_file(&f).map(|_| ())));
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a FIFO is refused without waiting for a writer");
        assert!(got.unwrap_err().to_string().contains("a FIFO"));
    }

    #[test]
    fn keys_that_could_be_guessed_are_refused() {
        assert_eq!(estimated_bits(b"0000000000000000"), 0.0);
        assert!((estimated_bits(b"abababababababababab") - 2.0).abs() < 1e-9);
        assert!((estimated_bits(b"0123456789abcdef") - 64.0).abs() < 1e-9);
        assert!(estimated_bits(b"3f6c0a5e9b1d4e27a8c5f0e1d2b3a4c5") > 100.0);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        for weak in [
            "0000000000000000",
            "00000000000000000000000000000000\n",
            "abababababababababababababababab",
            "0123012301230123012301230123",
            "aaaaaaaaaaaaaaab",
            "passwordpasswordpassword",
        ] {
            std::fs::write(&p, weak).unwrap();
            let e = Psk::from_file(&p).unwrap_err().to_string();
            assert!(e.contains("too easy to guess"), "{weak:?}: {e}");
            assert!(!e.contains("-0 bits"), "{weak:?}: {e}");
        }
        std::fs::write(&p, "0000000000000000").unwrap();
        let e = Psk::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("about 0 bits"), "{e}");
        // A key readable by others is warned about; one only its owner reads is not.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&p, "3f6c0a5e9b1d4e27a8c5f0e1d2b3a4c5").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let w = Psk::permission_warning(&p).unwrap();
            assert!(w.contains("mode 644") && w.contains("chmod 600"), "{w}");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(Psk::permission_warning(&p), None);
        }
        for strong in [
            "3f6c0a5e9b1d4e27a8c5f0e1d2b3a4c5\n",
            "correct horse battery staple",
            "q3JvZ8+Kx1mT0pWb7LcY2nRf5sUe9hAi4dGo6Vk=",
        ] {
            std::fs::write(&p, strong).unwrap();
            assert!(Psk::from_file(&p).is_ok(), "{strong:?}");
        }
    }
}
