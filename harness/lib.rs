//! sockbench: measure what a network application's socket parameters do to it.
//!
//! Two processes — the receiver (`sockbench serve`) and the sender (`sockbench run`) —
//! agree on a test over a control connection ([`control`]), open and configure their data
//! sockets ([`transport`], [`sockopt`]), play the roles of a traffic pattern
//! ([`patterns`]), and the sender writes both sides' measurements ([`output`]).

pub mod auth;
pub mod batch;
pub mod buffer;
pub mod cli;
pub mod config;
pub mod control;
pub mod dist;
#[doc(hidden)]
pub mod fuzzing;
pub mod hostinfo;
pub mod measure;
pub mod mesh;
pub mod output;
pub mod patterns;
pub mod receiver;
pub mod report;
pub mod results;
pub mod runner;
pub mod sender;
pub mod sockopt;
pub mod splice;
pub mod stats;
pub mod transport;
pub mod tune;
pub mod units;
pub mod workload;
pub mod zerocopy;
