//! sendfile off Linux: not available (`--sendfile` is Linux only).

use std::fs::File;
use std::io;

use socket2::Socket;

pub fn sendfile(
    _sock: &Socket,
    _file: &File,
    _offset: &mut i64,
    _count: usize,
) -> io::Result<usize> {
    Err(super::unsupported("sendfile"))
}
