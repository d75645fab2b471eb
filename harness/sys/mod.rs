//! The system boundary: every `unsafe` block and raw `libc` call of sockbench lives under
//! this module, behind safe functions.

pub mod batch;
pub mod buffer;
pub mod epoll;
pub mod poll;
pub mod sendfile;
pub mod socket;
pub mod splice;
pub mod tcp_info;
pub mod zerocopy;
