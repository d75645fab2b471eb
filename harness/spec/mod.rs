//! What a test is: units, size and time distributions, the test specification and the
//! workload files that expand into tests.

pub mod base;
pub mod config;
pub mod dist;
pub mod knobs;
pub mod path;
pub mod units;
pub mod workload;
