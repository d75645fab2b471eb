//! sockbench: measure what a network application's socket parameters do to it.
//!
//! Two processes — the receiver (`sockbench serve`) and the sender (`sockbench run`) —
//! agree on a test over a control connection ([`net::control`]), open and configure their
//! data sockets ([`net::transport`], [`net::sockopt`]), play the roles of a traffic pattern
//! ([`engine`]), and the sender writes both sides' measurements ([`output`]).
//!
//! The modules are layers; a lower one never imports a higher one (`tests/layers.rs`):
//! [`sys`] (every raw system call) → [`spec`] (what a test is) → [`measure`] (what a
//! role counts) → [`net`] (sockets, knobs, the control protocol) → [`engine`] (patterns
//! and drivers) → [`results`] → [`output`] → [`session`] (sender, receiver, runner, mesh)
//! → [`tune`] → [`report`] → [`cli`].

pub mod sys;

pub mod spec;

pub mod measure;

pub mod net;

pub mod engine;

pub mod results;

pub mod output;

pub mod session;

pub mod tune;

pub mod report;

pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
