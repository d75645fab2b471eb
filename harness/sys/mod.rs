//! The system boundary: every `unsafe` block and raw `libc` call of sockbench lives under
//! this module, behind safe functions, one file per concern. Where `rustix` has the call,
//! it is used, so that no unsafe code of ours remains for it.

pub mod affinity;
pub mod batch;
pub mod buffer;
pub mod clock;
pub mod epoll;
pub mod packet;
pub mod poll;
pub mod process;
pub mod random;
pub mod rlimit;
pub mod sendfile;
pub mod signal;
pub mod socket;
pub mod sockopt;
pub mod splice;
pub mod system;
pub mod tcp_info;
pub mod zerocopy;
