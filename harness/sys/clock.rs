//! Clocks std has no name for.
//!
//! Through libc, not rustix: rustix's own vDSO lookup reads the ELF auxiliary vector,
//! which valgrind rewrites, and crashes there under callgrind
//! (scripts/overhead-instructions.sh); libc's clock_gettime is what callgrind expects.

/// CPU time consumed by the calling thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID: the
/// scheduler's exact runtime, finer than getrusage's accounting).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
