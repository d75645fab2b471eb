//! Batched datagram I/O: `sendmmsg` and `recvmmsg` move up to N datagrams per system
//! call (socket2 has neither). The buffers and the `mmsghdr`/`iovec` tables are
//! allocated once; the measured loops only fill headers and read lengths.

use std::io;
use std::os::fd::AsRawFd;

use socket2::Socket;

/// N datagram buffers of `size` bytes with the tables `sendmmsg`/`recvmmsg` need.
pub struct DgramBatch {
    size: usize,
    bufs: Vec<u8>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iov` and `hdrs` point into this struct's own heap
// allocations, which move with it; nothing else refers to them.
unsafe impl Send for DgramBatch {}

impl DgramBatch {
    pub fn new(n: usize, size: usize, fill: u8) -> DgramBatch {
        let n = n.max(1);
        let mut b = DgramBatch {
            size,
            bufs: vec![fill; n * size],
            iov: Vec::with_capacity(n),
            // SAFETY: mmsghdr is plain old data; all-zero is a valid empty header.
            hdrs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
        };
        let base = b.bufs.as_mut_ptr();
        for i in 0..n {
            // SAFETY: i * size is within the n * size buffer.
            let ptr = unsafe { base.add(i * size) };
            b.iov.push(libc::iovec {
                iov_base: ptr.cast(),
                iov_len: size,
            });
        }
        let iov = b.iov.as_mut_ptr();
        for (i, h) in b.hdrs.iter_mut().enumerate() {
            // SAFETY: i < n, within the iovec table.
            h.msg_hdr.msg_iov = unsafe { iov.add(i) };
            h.msg_hdr.msg_iovlen = 1;
        }
        b
    }

    pub fn len(&self) -> usize {
        self.hdrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hdrs.is_empty()
    }

    /// Datagram `i`'s buffer, to fill before sending.
    #[inline]
    pub fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.bufs[i * self.size..(i + 1) * self.size]
    }

    /// Datagram `i` as received by the last `recv`.
    #[inline]
    pub fn received(&self, i: usize) -> &[u8] {
        let len = (self.hdrs[i].msg_len as usize).min(self.size);
        &self.bufs[i * self.size..i * self.size + len]
    }

    /// Sends the first `count` datagrams on a connected socket; returns how many went.
    pub fn send(&mut self, sock: &Socket, count: usize) -> io::Result<usize> {
        let count = count.min(self.hdrs.len());
        // SAFETY: the headers point at `count` valid iovecs over our buffers.
        let n =
            unsafe { libc::sendmmsg(sock.as_raw_fd(), self.hdrs.as_mut_ptr(), count as u32, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Receives up to N datagrams: waits (up to the socket's receive timeout) for the
    /// first, then takes what is queued without waiting. Returns how many arrived.
    pub fn recv(&mut self, sock: &Socket) -> io::Result<usize> {
        for h in &mut self.hdrs {
            h.msg_len = 0;
            h.msg_hdr.msg_flags = 0;
        }
        // SAFETY: the headers point at valid iovecs over our buffers; no timeout pointer.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// Receives with UDP_GRO on: one `recvmsg` may return many datagrams coalesced by the
/// kernel, all `segment` bytes long but the last; the segment size comes in a control
/// message.
pub struct GroBuf {
    buf: Vec<u8>,
    control: Vec<u8>,
    len: usize,
    segment: usize,
}

impl Default for GroBuf {
    fn default() -> Self {
        GroBuf {
            buf: vec![0; 65536 + 4096],
            control: vec![0; 128],
            len: 0,
            segment: 0,
        }
    }
}

impl GroBuf {
    /// Receives once (waiting up to the socket's timeout). Returns the bytes received.
    pub fn recv(&mut self, sock: &Socket) -> io::Result<usize> {
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        };
        // SAFETY: msghdr is plain old data; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = self.control.as_mut_ptr().cast();
        msg.msg_controllen = self.control.len() as _;
        // SAFETY: a valid fd and a msghdr pointing into our buffers.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.len = n as usize;
        self.segment = self.len;
        // SAFETY: walking the control messages the kernel wrote within msg_controllen.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == libc::UDP_GRO {
                    let seg = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int);
                    if seg > 0 {
                        self.segment = seg as usize;
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(self.len)
    }

    /// The datagrams of the last receive, one by one.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.buf[..self.len].chunks(self.segment.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Type};
    use std::time::Duration;

    #[test]
    fn a_batch_goes_out_and_comes_back_datagram_by_datagram() {
        let rx = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        rx.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        tx.connect(&rx.local_addr().unwrap()).unwrap();
        let mut out = DgramBatch::new(8, 100, 0);
        for i in 0..8 {
            out.buf_mut(i)[0] = i as u8;
        }
        assert_eq!(out.send(&tx, 5).unwrap(), 5);
        let mut inb = DgramBatch::new(16, 200, 0);
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = inb.recv(&rx).unwrap();
            for i in 0..n {
                assert_eq!(inb.received(i).len(), 100);
                got.push(inb.received(i)[0]);
            }
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }
}
