//! Byte streams through a pipe with splice(2), so that the data never passes through user
//! memory: a sender splices its message from an in-memory file into a pipe and from the
//! pipe into the socket; a receiver splices from the socket into a pipe and from the pipe
//! into /dev/null. The byte counts are what splice(2) returned.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{memfd_create, MemfdFlags};
use rustix::pipe::{fcntl_getpipe_size, fcntl_setpipe_size, pipe_with, PipeFlags, SpliceFlags};

/// An in-memory file (memfd) holding one message, for sendfile(2) and splice(2).
pub fn message_file(msg: &[u8]) -> io::Result<File> {
    let fd = memfd_create("sockbench-message", MemfdFlags::CLOEXEC)?;
    let mut f = File::from(fd);
    f.write_all(msg)?;
    Ok(f)
}

/// A pipe, sized to hold `want` bytes where the system allows (fs.pipe-max-size).
pub struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
    /// The capacity the kernel gave (F_GETPIPE_SZ).
    pub capacity: usize,
    /// Bytes spliced in and not yet out.
    held: usize,
}

impl Pipe {
    pub fn new(want: usize) -> io::Result<Pipe> {
        let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
        let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(1 << 20);
        // A failed resize leaves the default size, which F_GETPIPE_SZ then reports.
        let _ = fcntl_setpipe_size(&w, want.clamp(4096, max.max(4096)));
        let capacity = fcntl_getpipe_size(&w)?;
        Ok(Pipe {
            r,
            w,
            capacity,
            held: 0,
        })
    }
}

/// One splice(2) call; `off` is the offset in a file (None for pipes and sockets).
fn splice(from: impl AsFd, off: Option<&mut u64>, to: impl AsFd, len: usize) -> io::Result<usize> {
    Ok(rustix::pipe::splice(
        from,
        off,
        to,
        None,
        len,
        SpliceFlags::MOVE | SpliceFlags::MORE,
    )?)
}

/// The sending end: a message in a memfd, moved into the socket through a pipe.
pub struct SpliceSender {
    file: File,
    size: usize,
    pipe: Pipe,
    /// Where in the message the next splice from the file starts.
    offset: usize,
}

impl SpliceSender {
    pub fn new(msg: &[u8]) -> io::Result<SpliceSender> {
        Ok(SpliceSender {
            file: message_file(msg)?,
            size: msg.len(),
            pipe: Pipe::new(msg.len())?,
            offset: 0,
        })
    }

    /// Moves more of the current message into `sock`: tops the pipe up from the file,
    /// then splices what the pipe holds into the socket. Returns the bytes the socket
    /// took (0 only when it took none before its send timeout, as an error of kind
    /// WouldBlock). A message is whole when `message_done` says so.
    pub fn step(&mut self, sock: &impl AsFd) -> io::Result<usize> {
        if self.pipe.held == 0 && self.offset < self.size {
            let mut off = self.offset as u64;
            let want = (self.size - self.offset).min(self.pipe.capacity);
            let n = splice(&self.file, Some(&mut off), &self.pipe.w, want)?;
            if n == 0 {
                return Err(io::Error::other(
                    "splice from the message file moved nothing",
                ));
            }
            self.offset += n;
            self.pipe.held = n;
        }
        let n = splice(&self.pipe.r, None, sock, self.pipe.held)?;
        if n == 0 {
            return Err(io::Error::other("splice into the socket moved nothing"));
        }
        self.pipe.held -= n;
        Ok(n)
    }

    /// True when the whole message has gone into the socket; starts the next one.
    pub fn message_done(&mut self) -> bool {
        if self.offset == self.size && self.pipe.held == 0 {
            self.offset = 0;
            true
        } else {
            false
        }
    }
}

/// The receiving end: socket to pipe, pipe to /dev/null.
pub struct SpliceReceiver {
    pipe: Pipe,
    null: File,
}

impl SpliceReceiver {
    pub fn new(chunk: usize) -> io::Result<SpliceReceiver> {
        Ok(SpliceReceiver {
            pipe: Pipe::new(chunk)?,
            null: std::fs::OpenOptions::new().write(true).open("/dev/null")?,
        })
    }

    /// Like read(2): the bytes taken from the socket (and discarded), 0 at the peer's
    /// FIN, or the socket's error (WouldBlock at its receive timeout).
    pub fn recv(&mut self, sock: &impl AsFd) -> io::Result<usize> {
        let n = splice(sock, None, &self.pipe.w, self.pipe.capacity)?;
        self.pipe.held = n;
        while self.pipe.held > 0 {
            match splice(&self.pipe.r, None, &self.null, self.pipe.held) {
                Ok(0) => return Err(io::Error::other("splice to /dev/null moved nothing")),
                Ok(k) => self.pipe.held -= k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    #[test]
    fn sender_moves_whole_messages_and_receiver_counts_them() {
        let (a, b) = UnixStream::pair().unwrap();
        let msg: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut tx = SpliceSender::new(&msg).unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            (&b).read_to_end(&mut got).unwrap();
            got
        });
        for _ in 0..3 {
            let mut sent = 0;
            loop {
                sent += tx.step(&a).unwrap();
                if tx.message_done() {
                    break;
                }
            }
            assert_eq!(sent, msg.len());
        }
        drop(a);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 3 * msg.len());
        for chunk in got.chunks(msg.len()) {
            assert_eq!(chunk, &msg[..], "the bytes that arrive are the message's");
        }

        let (a, b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            let mut a = a;
            for _ in 0..10 {
                a.write_all(&[7u8; 50_000]).unwrap();
            }
        });
        let mut rx = SpliceReceiver::new(64 * 1024).unwrap();
        let mut total = 0;
        loop {
            match rx.recv(&b).unwrap() {
                0 => break,
                n => total += n,
            }
        }
        writer.join().unwrap();
        assert_eq!(total, 500_000);
    }
}
