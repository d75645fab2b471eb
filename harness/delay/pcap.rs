//! The frames the delay element dropped on purpose, in a pcap file (nanosecond
//! timestamps, Ethernet), so that a drop can be told apart by flow, kind and size, with
//! tcpdump or Wireshark or a test, rather than only counted.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// pcap's magic number for nanosecond timestamps, and LINKTYPE_ETHERNET.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65_535;

pub struct Pcap {
    out: BufWriter<File>,
}

impl Pcap {
    /// A new file at `path` (replacing one there) with its global header.
    pub fn create(path: &Path) -> io::Result<Pcap> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut head = Vec::with_capacity(24);
        head.extend_from_slice(&MAGIC_NS.to_le_bytes());
        head.extend_from_slice(&2u16.to_le_bytes());
        head.extend_from_slice(&4u16.to_le_bytes());
        head.extend_from_slice(&0i32.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        head.extend_from_slice(&SNAPLEN.to_le_bytes());
        head.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&head)?;
        out.flush()?;
        Ok(Pcap { out })
    }

    /// One frame, as received at `at`.
    pub fn write(&mut self, at: SystemTime, frame: &[u8]) -> io::Result<()> {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let keep = frame.len().min(SNAPLEN as usize);
        let mut rec = Vec::with_capacity(16 + keep);
        let secs = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        rec.extend_from_slice(&secs.to_le_bytes());
        rec.extend_from_slice(&since.subsec_nanos().to_le_bytes());
        rec.extend_from_slice(&(keep as u32).to_le_bytes());
        rec.extend_from_slice(&u32::try_from(frame.len()).unwrap_or(u32::MAX).to_le_bytes());
        rec.extend_from_slice(&frame[..keep]);
        self.out.write_all(&rec)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frames_are_written_with_their_time_and_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.pcap");
        let mut p = Pcap::create(&path).unwrap();
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        p.write(at, &[1, 2, 3]).unwrap();
        p.flush().unwrap();
        let b = std::fs::read(&path).unwrap();
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(b[0..4], MAGIC_NS.to_le_bytes());
        assert_eq!(b[20..24], 1u32.to_le_bytes());
        assert_eq!(b[24..28], 1_700_000_000u32.to_le_bytes());
        assert_eq!(b[28..32], 123_456_789u32.to_le_bytes());
        assert_eq!(b[32..36], 3u32.to_le_bytes());
        assert_eq!(b[36..40], 3u32.to_le_bytes());
        assert_eq!(b[40..], [1, 2, 3]);
    }
}
