//! Clocks std has no name for.

use rustix::time::{clock_gettime, ClockId};

/// CPU time consumed by the calling thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID: the
/// scheduler's exact runtime, finer than getrusage's accounting).
pub fn thread_cpu_ns() -> u64 {
    let ts = clock_gettime(ClockId::ThreadCPUTime);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Asks for timer wake-ups of the calling thread without the default 50 µs slack
/// (PR_SET_TIMERSLACK to 1 ns), so that a schedule of short periods is kept.
pub fn set_fine_timer_slack() {
    let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
}

#[cfg(test)]
mod tests {
    #[test]
    fn fine_timer_slack_is_taken() {
        std::thread::spawn(|| {
            super::set_fine_timer_slack();
            assert_eq!(rustix::thread::current_timer_slack().unwrap(), 1);
        })
        .join()
        .unwrap();
    }
}
