//! Integer socket options socket2 has no setter or getter for (UDP_SEGMENT, UDP_GRO,
//! SO_ZEROCOPY): setsockopt and getsockopt of one `c_int`.

use std::io;
use std::mem;
use std::os::fd::AsRawFd;

/// setsockopt(fd, level, name, &value, sizeof(int)).
pub fn set_int(
    sock: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to one c_int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// getsockopt(fd, level, name) of an option the kernel reports as one int.
pub fn get_int(
    sock: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid fd and a buffer of one c_int; the kernel updates len.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn an_int_option_is_set_and_read_back() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        set_int(&sock, libc::SOL_UDP, libc::UDP_SEGMENT, 1200).unwrap();
        assert_eq!(
            get_int(&sock, libc::SOL_UDP, libc::UDP_SEGMENT).unwrap(),
            1200
        );
        assert!(get_int(&sock, libc::SOL_UDP, -1).is_err());
    }
}
