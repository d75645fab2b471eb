//! Opening a file that may not be a regular one (Windows: no FIFOs to wait on).

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

/// Opens `path` for reading.
pub fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// What a file that is not a regular one is.
pub fn kind(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Permission bits: Windows has ACLs, not a mode, so there is none to report.
pub fn mode(_meta: &Metadata) -> Option<u32> {
    None
}
