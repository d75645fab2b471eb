//! Sockets: data connections, socket options, the control protocol and its
//! authentication.

pub mod auth;
pub mod control;
pub mod sockopt;
pub mod transport;
