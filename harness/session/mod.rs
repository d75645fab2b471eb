//! The processes' parts: the sender, the receiver daemon, the runner of a whole workload,
//! what it shows on the terminal, and the mesh of many hosts.

pub mod console;
pub mod mesh;
pub mod receiver;
pub mod roles;
pub mod runner;
pub mod sender;
