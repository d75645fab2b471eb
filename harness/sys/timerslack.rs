//! The calling thread's timer slack.

/// Asks for timer wake-ups without the default 50 us slack, so that a schedule of short
/// periods (an open-loop requester's) is kept. Affects the calling thread only.
pub fn fine_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}
