//! Clocks std has no name for.

use rustix::time::{clock_gettime, ClockId};

/// CPU time consumed by the calling thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID: the
/// scheduler's exact runtime, finer than getrusage's accounting).
pub fn thread_cpu_ns() -> u64 {
    let ts = clock_gettime(ClockId::ThreadCPUTime);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
