//! The processes' parts: the sender, the receiver daemon, the runner of a whole workload,
//! what it shows on the terminal, and the mesh of many hosts.

pub mod console;
pub mod mesh;
pub mod receiver;
pub mod roles;
pub mod runner;
pub mod sender;

use std::time::Duration;

use crate::spec::config::TestSpec;

/// What each data connection adds to the time every step of a test's set-up may take
/// (beyond the fixed one: 20 s on the sender, 15 s on the receiver), so that tens of
/// thousands of connections are made in time on a loaded host as on an idle one.
pub const SETUP_PER_CONN: Duration = Duration::from_millis(2);

/// The time `spec`'s data connections add to each step of its set-up, on both sides.
pub fn setup_extra(spec: &TestSpec) -> Duration {
    SETUP_PER_CONN.saturating_mul(spec.conn_plan().len().try_into().unwrap_or(u32::MAX))
}
